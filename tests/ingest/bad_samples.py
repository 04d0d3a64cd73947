"""Broken inputs and a resumable product for the ingest tests, beside the real samples."""

from __future__ import annotations

import copy
import json
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from ingest.samples.publish import publish_all
from ingest.samples.static_stac import StaticStac


def _write_nogeo(path: Path) -> None:
    """A readable GeoTIFF with pixels but no CRS and no geotransform."""
    with rasterio.open(
        path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8"
    ) as dst:
        dst.write((np.arange(64 * 64) % 251).reshape(1, 64, 64).astype("uint8"))


def publish_resume_item(stac: StaticStac, s2_item: dict[str, Any]) -> str:
    """A copy of the Sentinel-2 item, in its own collection, as a STAC item URL (urls
    source): several band assets, so a worker can be killed between two of them."""
    item = copy.deepcopy(s2_item)
    item.update(id="resume-scene", collection="resume-test")
    item["assets"] = {k: item["assets"][k] for k in ("blue", "green", "red", "nir", "scl")}
    stac.files["items/resume-scene.json"] = json.dumps(item).encode()
    return f"{stac.base}/files/items/resume-scene.json"


def publish_bad_files(stac: StaticStac, data: Path, tmp: Path) -> dict[str, str]:
    """Broken inputs, by name -> URL."""
    tif = (data / "raster/landsat7-rgb/RGB.byte.tif").read_bytes()
    las = (data / "lidar/las/autzen_trim.las").read_bytes()
    bad_count = bytearray(las)
    (count,) = struct.unpack_from("<I", bad_count, 107)
    struct.pack_into("<I", bad_count, 107, count + 5000)
    nogeo = tmp / "nogeo.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        _write_nogeo(nogeo)
    files: dict[str, bytes] = {
        "truncated.tif": tif[: len(tif) // 3],
        "empty.tif": b"",
        "garbage.tif": b"not a raster\n" * 100,
        "nogeo.tif": nogeo.read_bytes(),
        "badcount.las": bytes(bad_count),
        "cut-short.laz": (data / "lidar/las/autzen_trim.laz").read_bytes()[:200_000],
    }
    urls = {}
    for name, body in files.items():
        stac.files[f"bad/{name}"] = body
        urls[name] = f"{stac.base}/files/bad/{name}"
    return urls




def publish_for_tests(stac: StaticStac, data: Path, tmp: Path) -> dict[str, Any]:
    out = publish_all(stac, data)
    out["bad"] = publish_bad_files(stac, data, tmp)
    out["resume"] = publish_resume_item(stac, out["s2"])
    return out
