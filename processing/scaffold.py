"""``stacworks algorithm init``: a new algorithm repository from the templates shipped in
``processing/algorithm_templates`` (Dockerfile, contract helper, example, tests, CI)."""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from processing.errors import InvalidInput

__all__ = ["LANGUAGES", "Language", "init_algorithm"]

Language = Literal["python", "r", "shell"]
LANGUAGES: tuple[Language, ...] = ("python", "r", "shell")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Package data keeps no hidden files: these get their dot when written.
_DOTTED = {"github": ".github", "dockerignore": ".dockerignore", "gitignore": ".gitignore"}
_TEST_COMMANDS = {
    "python": "python -m pytest tests",
    "r": "Rscript tests/test_algorithm.R",
    "shell": "sh tests/test.sh",
}
_LANGUAGE_NAMES = {"python": "Python", "r": "R", "shell": "POSIX shell"}


def _files(folder: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name in ("__pycache__", "__init__.py") or entry.name.endswith(".pyc"):
            continue
        if entry.is_dir():
            found.extend(_files(entry, (*prefix, entry.name)))
        else:
            found.append(((*prefix, entry.name), entry.read_text(encoding="utf-8")))
    return found


def init_algorithm(name: str, language: str = "python", directory: Path | None = None) -> Path:
    """Write the repository of algorithm ``name`` into ``directory`` (default ``./name``).

    Refuses a folder that exists and is not empty, so nothing of the user's is overwritten.
    """
    if not _NAME.match(name):
        raise InvalidInput("name", "lower-case letters, digits, '-' and '_' (at most 63)")
    if language not in LANGUAGES:
        raise InvalidInput("language", f"expected one of {', '.join(LANGUAGES)}")
    target = (directory or Path(name)).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput("dir", f"{target} exists and is not empty")
    root = resources.files("processing.algorithm_templates")
    tokens = {
        "@@NAME@@": name,
        "@@TITLE@@": name.replace("-", " ").replace("_", " ").capitalize(),
        "@@LANGUAGE@@": _LANGUAGE_NAMES[language],
        "@@TEST_COMMAND@@": _TEST_COMMANDS[language],
    }
    for folder in ("common", language):
        for parts, text in _files(root / folder):
            path = target.joinpath(*(_DOTTED.get(p, p) for p in parts))
            for token, value in tokens.items():
                text = text.replace(token, value)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if path.suffix == ".sh" or path.name == "algorithm.py":
                path.chmod(0o755)
    return target
