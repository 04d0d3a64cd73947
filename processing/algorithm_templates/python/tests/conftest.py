import sys
from pathlib import Path

# The sources: src/ in the repository, /app in the image.
here = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(here / "src"), str(here)]
