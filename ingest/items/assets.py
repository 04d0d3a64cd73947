"""One asset: decide what to do with it (COG, COPC, copy, skip), do it, describe the output."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import rasterio

from ingest.convert import CogProfile, to_cog, to_copc
from ingest.errors import ProductError
from ingest.limits import InputLimits, check_pointcloud, check_raster
from ingest.validate import validate_cog, validate_copc

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
COPC_TYPE = "application/vnd.laszip+copc"
Action = Literal["cog", "copc", "copy"]

_RASTER_TYPES = ("image/tiff", "image/jp2", "image/vnd.stac.geotiff", "application/x-geotiff")
_RASTER_EXT = (".tif", ".tiff", ".jp2")
_COPY_EXT = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".xml": "application/xml",
    ".json": "application/json",
    ".txt": "text/plain",
    ".safe": "application/xml",
}
#: Fields of a source asset that describe the file we replace, not the data: dropped.
_FILE_FIELDS = (
    "href",
    "type",
    "alternate",
    "file:size",
    "file:checksum",
    "file:header_size",
    "file:local_path",
    "storage:platform",
    "storage:region",
    "storage:requester_pays",
    "storage:tier",
    "storage:refs",
    "auth:refs",
)
_KEY_BAD = re.compile(r"[^A-Za-z0-9_~+=,@:-]+")


def asset_key_for(key: str) -> str:
    """Asset keys become store key segments without dots (``mtl.xml`` -> ``mtl_xml``)."""
    return _KEY_BAD.sub("_", key).strip("_") or "asset"


def href_ext(href: str) -> str:
    name = PurePosixPath(urlsplit(href).path).name.lower()
    if name.endswith(".copc.laz"):
        return ".copc.laz"
    return PurePosixPath(name).suffix


def action_for(asset: dict[str, Any]) -> Action | None:
    """What to do with a source asset; None when it is not worth storing (web pages, ...)."""
    href = str(asset.get("href", ""))
    mtype = str(asset.get("type", "")).lower()
    roles = asset.get("roles") or []
    ext = href_ext(href)
    if "thumbnail" in roles and ext in (".jpg", ".jpeg", ".png"):
        return "copy"
    if any(t in mtype for t in _RASTER_TYPES) or ext in _RASTER_EXT:
        return "cog"
    if "laszip" in mtype or "vnd.las" in mtype or ext in (".las", ".laz", ".copc.laz"):
        return "copc"
    if ext in _COPY_EXT and (
        "metadata" in roles
        or "thumbnail" in roles
        or "overview" in roles
        or ext in (".xml", ".json", ".jpg", ".jpeg", ".png")
    ):
        return "copy"
    return None


@dataclass
class Output:
    """A validated local file that becomes asset ``key`` of the item."""

    key: str
    path: Path
    ext: str
    media_type: str
    fields: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def convert(
    action: Action,
    src: Path,
    out_dir: Path,
    key: str,
    *,
    profile: CogProfile,
    source_fields: dict[str, Any],
    stac_version: str = "1.0.0",
    limits: InputLimits | None = None,
) -> Output:
    """Produce the stored form of one asset; every output is validated here or by the
    converter (which validates before its atomic rename). Inputs over ``limits`` (header
    sizes only) are refused before any conversion starts."""
    limits = limits or InputLimits()
    fields = {k: v for k, v in source_fields.items() if k not in _FILE_FIELDS}
    key = asset_key_for(key)
    if action == "cog":
        check_raster(src, limits)
        dst = out_dir / f"{key}.tif"
        res = to_cog(src, dst, profile=profile)
        check = validate_cog(dst)
        if not check.is_valid:  # to_cog validated already; a second look costs milliseconds
            raise ProductError(f"{key}: output is not a valid COG: {'; '.join(check.errors)}")
        fields.update(_raster_fields(dst, fields, stac_version))
        return Output(key, dst, "tif", COG_TYPE, fields, res.warnings)
    if action == "copc":
        check_pointcloud(src, limits)
        dst = out_dir / f"{key}.copc.laz"
        cres = to_copc(src, dst)
        check = validate_copc(dst, expected_count=cres.point_count, deep=False)
        if not check.is_valid:
            raise ProductError(f"{key}: output is not a valid COPC: {'; '.join(check.errors)}")
        return Output(key, dst, "copc.laz", COPC_TYPE, fields, cres.warnings)
    ext = href_ext(str(source_fields.get("href", ""))) or src.suffix.lower()
    if ext not in _COPY_EXT:
        raise ProductError(f"{key}: will not store a {ext or 'extension-less'} file as-is")
    dst = out_dir / f"{key}{ext}"
    shutil.copyfile(src, dst)
    mtype = str(source_fields.get("type") or _COPY_EXT[ext])
    return Output(key, dst, ext.lstrip("."), mtype, fields)


def _raster_fields(path: Path, fields: dict[str, Any], stac_version: str) -> dict[str, Any]:
    """Projection of the stored file (the source's shape may describe another resolution),
    and band facts from rio-stac when the source gave none: ``raster:bands`` (raster v1.1)
    for STAC 1.0 items, ``data_type``/``nodata`` common metadata for STAC 1.1 items (where
    raster v2 moved band fields; mixing the two would break the raster schema)."""
    from rio_stac.stac import get_projection_info, get_raster_info

    out: dict[str, Any] = {}
    with rasterio.open(path) as src:
        proj = get_projection_info(src)
        out["proj:shape"] = proj.get("shape")
        out["proj:transform"] = proj.get("transform")
        if proj.get("epsg"):
            out["proj:code"] = f"EPSG:{proj['epsg']}"
        elif proj.get("wkt2"):
            out["proj:wkt2"] = proj["wkt2"]
        described = any(k.startswith("raster:") or k in ("bands", "data_type") for k in fields)
        if not described and stac_version.startswith("1.0"):
            out["raster:bands"] = get_raster_info(src, max_size=256)
        elif not described:
            out["data_type"] = src.dtypes[0]
            if src.nodata is not None:
                out["nodata"] = src.nodata
    for old in ("proj:epsg",):
        fields.pop(old, None)
    return out
