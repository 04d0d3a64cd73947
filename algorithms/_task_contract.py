"""The task contract, from inside a task: read the ``STACWORKS_*`` inputs, write COGs and
``outputs.json``. Shared by the example algorithms of this folder (copy it into yours, or read
``docs/task-contract.md`` and do the same in any language)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

import numpy as np


@dataclass(frozen=True)
class Input:
    """One input item: its STAC JSON and the paths of its assets (local or /vsis3/)."""

    url: str
    item: dict[str, Any]
    assets: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.item["id"])

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.item.get("properties") or {})


def _read_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return json.loads(Path(unquote(parts.path)).read_text(encoding="utf-8"))
    with urlopen(url, timeout=60) as response:  # noqa: S310 - http(s) item URLs only
        return json.loads(response.read())


def inputs() -> list[Input]:
    """The input items, in order, with their asset paths."""
    urls = json.loads(os.environ.get("STACWORKS_INPUT_ITEMS") or "[]")
    assets = json.loads(os.environ.get("STACWORKS_INPUT_ASSETS") or "[]")
    found = []
    for index, url in enumerate(urls):
        item = _read_url(url)
        paths = assets[index] if index < len(assets) else {
            k: a["href"] for k, a in (item.get("assets") or {}).items()
        }
        found.append(Input(url, item, paths))
    return found


def parameters() -> dict[str, Any]:
    return dict(json.loads(os.environ.get("STACWORKS_PARAMETERS") or "{}"))


def output_dir() -> Path:
    path = Path(os.environ.get("STACWORKS_OUTPUT_DIR") or "out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_outputs(outputs: list[dict[str, Any]]) -> None:
    """Describe the files written: ``[{"path", "asset", "input" | "inputs", ...}]``."""
    (output_dir() / "outputs.json").write_text(json.dumps({"outputs": outputs}, indent=2))


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    crs: Any,
    transform: Any,
    nodata: float | None,
    overview_resampling: str = "average",
    descriptions: list[str] | None = None,
) -> Path:
    """Write ``data`` ((bands,) rows, cols) as a deflate-compressed COG with overviews."""
    import rasterio
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    array = data if data.ndim == 3 else data[None, ...]
    profile = {
        "driver": "GTiff", "count": array.shape[0], "height": array.shape[1],
        "width": array.shape[2], "dtype": str(array.dtype), "crs": crs,
        "transform": transform, "nodata": nodata,
    }
    out = cog_profiles.get("deflate")
    out.update(predictor=3 if array.dtype.kind == "f" else 2, blockxsize=256, blockysize=256)
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(array)
            for index, text in enumerate(descriptions or [], start=1):
                dst.set_band_description(index, text)
        with memory.open() as src, rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            cog_translate(src, str(path), out, in_memory=True, quiet=True,
                          overview_resampling=overview_resampling)
    return path


class InputUnavailable(Exception):
    """An input file could not be read (missing object, refused credentials, no disk room)."""


def _s3_location(path: str) -> tuple[str, str] | None:
    """(bucket, key) of ``/vsis3/bucket/key`` or ``s3://bucket/key``; None for anything else."""
    for prefix in ("/vsis3/", "s3://"):
        if path.startswith(prefix):
            bucket, _, key = path[len(prefix):].partition("/")
            if bucket and key:
                return bucket, key
    return None


def _s3_client() -> Any:
    """boto3 S3 client on the endpoint GDAL is configured for (the store's settings, passed to
    the task as ``AWS_S3_ENDPOINT``, ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``, ``AWS_REGION``);
    credentials from the usual AWS chain (the task's ``AWS_*`` variables or its role)."""
    import boto3
    from botocore.config import Config

    off = ("NO", "FALSE", "OFF")
    host = os.environ.get("AWS_S3_ENDPOINT")
    scheme = "http" if os.environ.get("AWS_HTTPS", "YES").upper() in off else "https"
    virtual = os.environ.get("AWS_VIRTUAL_HOSTING", "TRUE").upper() not in off
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(
        "s3",
        endpoint_url=f"{scheme}://{host}" if host else None,
        region_name=region,
        config=Config(s3={"addressing_style": "virtual" if virtual else "path"},
                      retries={"max_attempts": 5, "mode": "standard"}),
    )


@contextmanager
def local_file(path: str) -> Iterator[Path]:
    """An input as a local file, for readers that do not go through GDAL (laspy, say).

    A local path is used in place. ``/vsis3/bucket/key`` (what the platform hands over for an
    object in an S3 store) and ``s3://bucket/key`` are downloaded, streamed to a temporary
    folder that is removed afterwards; the download is refused up front when the disk has no
    room for it. Anything else GDAL-only (``/vsicurl/``, ...) raises :class:`InputUnavailable`.
    """
    location = _s3_location(path)
    if location is None:
        if path.startswith("/vsi"):
            raise InputUnavailable(f"{path}: only local files and S3 objects can be read here")
        yield Path(path)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location
    client = _s3_client()
    with tempfile.TemporaryDirectory(prefix="stacworks-input-") as tmp:
        dest = Path(tmp) / Path(key).name
        try:
            size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
            free = shutil.disk_usage(tmp).free
            if size > free:
                raise InputUnavailable(f"{path}: {size} bytes do not fit in {free} free bytes")
            client.download_file(bucket, key, str(dest))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise InputUnavailable(f"{path}: S3 answered {code}") from None
        except BotoCoreError as exc:
            raise InputUnavailable(f"{path}: {exc}") from None
        yield dest
