"""Sample paths and helpers for the conversion/validation tests (real files in shared/data)."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The real sample data beside the checkout (see shared/data/README.md).
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LAS_DIR = DATA / "lidar" / "las"
COPC_DIR = DATA / "lidar" / "copc"
RGB_TIF = DATA / "raster" / "landsat7-rgb" / "RGB.byte.tif"
S2_COG = DATA / "raster" / "sentinel2-l2a-cog" / "S2A_29RKH_20200219_0_L2A" / "B02.tif"
S2_JP2 = next((DATA / "raster" / "sentinel2-l1c-jp2").glob("*/*_B01.jp2"), Path("missing.jp2"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_is_empty(folder: Path) -> bool:
    """True when ``folder`` is missing or holds nothing, not even a hidden temporary file."""
    return not folder.exists() or not any(folder.iterdir())
