"""The stacworks task contract, from inside a task (standard library only).

A task reads its inputs from ``STACWORKS_*`` environment variables and answers with files in
``STACWORKS_OUTPUT_DIR`` plus an ``outputs.json`` describing them; the exit code says whether
it worked. Same contract on a laptop, in the local Docker runner and on AWS Fargate.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen


@dataclass(frozen=True)
class Input:
    """One input item: its STAC JSON and a path GDAL opens for each asset."""

    url: str
    item: dict[str, Any]
    assets: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.item["id"])


def _read_json(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return json.loads(Path(unquote(parts.path)).read_text(encoding="utf-8"))
    with urlopen(url, timeout=60) as response:  # noqa: S310 - item URLs (http/https)
        return json.loads(response.read())


def inputs() -> list[Input]:
    """The input items in order (``STACWORKS_INPUT_ITEMS`` + ``STACWORKS_INPUT_ASSETS``)."""
    urls = json.loads(os.environ.get("STACWORKS_INPUT_ITEMS") or "[]")
    assets = json.loads(os.environ.get("STACWORKS_INPUT_ASSETS") or "[]")
    found = []
    for index, url in enumerate(urls):
        item = _read_json(url)
        paths = assets[index] if index < len(assets) else {
            key: asset["href"] for key, asset in (item.get("assets") or {}).items()
        }
        found.append(Input(url, item, paths))
    return found


def parameters() -> dict[str, Any]:
    """The parameters, already validated against algorithm.yaml's JSON Schema."""
    return dict(json.loads(os.environ.get("STACWORKS_PARAMETERS") or "{}"))


def output_dir() -> Path:
    path = Path(os.environ.get("STACWORKS_OUTPUT_DIR") or "out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_outputs(outputs: list[dict[str, Any]]) -> Path:
    """Describe the files written: ``[{"path", "asset", "input" | "inputs", ...}]``."""
    path = output_dir() / "outputs.json"
    path.write_text(json.dumps({"outputs": outputs}, indent=2), encoding="utf-8")
    return path


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop with an error: the message ends up in the task's cause, the code in its error."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
