"""Input limits of one product: raster size, point count, archive expansion.

Each check reads only headers (a raster's dimensions, a LAS header, a zip's central
directory), so a file claiming 100000x100000 pixels or a zip bomb is refused in milliseconds,
before any conversion or extraction allocates for it. Every refusal is a
:class:`~ingest.errors.ProductError` naming the setting that refused it.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ProductError

if TYPE_CHECKING:
    from ingest.settings import IngestSettings

__all__ = ["InputLimits", "check_pointcloud", "check_raster", "extract_zip"]

_ENV = "STACWORKS_INGEST_"
_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class InputLimits:
    """The limits of :class:`~ingest.settings.IngestSettings` that apply to input files."""

    max_raster_pixels: int = 2**30
    max_raster_bytes: int = 32 * 1024**3
    max_points: int = 2_000_000_000
    archive_max_bytes: int = 50 * 1024**3
    archive_max_ratio: float = 200

    @classmethod
    def from_settings(cls, s: IngestSettings) -> InputLimits:
        return cls(
            max_raster_pixels=s.max_raster_pixels,
            max_raster_bytes=s.max_raster_bytes,
            max_points=s.max_points,
            archive_max_bytes=s.archive_max_bytes,
            archive_max_ratio=s.archive_max_ratio,
        )


def check_raster(src: Path, limits: InputLimits) -> None:
    """Refuse a raster whose header promises more pixels or bytes than the limits.

    A file GDAL cannot open is left to the converter (which explains that better).
    """
    import numpy as np
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(src) as ds:
            width, height, count = ds.width, ds.height, ds.count
            sample = max(np.dtype(dt).itemsize for dt in ds.dtypes) if ds.dtypes else 1
    except (RasterioError, TypeError, ValueError):
        return
    pixels = width * height
    if pixels > limits.max_raster_pixels:
        raise ProductError(
            f"input raster is {width}x{height} pixels ({pixels:,}), more than "
            f"{_ENV}MAX_RASTER_PIXELS={limits.max_raster_pixels:,}"
        )
    size = pixels * count * sample
    if size > limits.max_raster_bytes:
        raise ProductError(
            f"input raster would be {size:,} bytes uncompressed ({width}x{height}, {count} "
            f"bands), more than {_ENV}MAX_RASTER_BYTES={limits.max_raster_bytes:,}"
        )


def check_pointcloud(src: Path, limits: InputLimits) -> None:
    """Refuse a LAS/LAZ whose header declares more points than the limit (header only)."""
    import laspy

    try:
        with laspy.open(src) as f:
            count = int(f.header.point_count)
    except Exception:  # noqa: BLE001 - unreadable headers are the converter's to explain
        return
    if count > limits.max_points:
        raise ProductError(
            f"input point cloud declares {count:,} points, more than "
            f"{_ENV}MAX_POINTS={limits.max_points:,}"
        )


def extract_zip(archive: Path, dest: Path, limits: InputLimits, *, what: str = "archive") -> None:
    """Extract ``archive`` into ``dest``, refusing zip-slip members and zip bombs.

    The declared sizes are checked before anything is written (total and expansion ratio);
    the bytes are counted again while writing, so a member lying about its size stops at the
    same limit.

    Raises:
        ProductError: naming the member or the limit.
    """
    packed = max(archive.stat().st_size, 1)
    cap = min(limits.archive_max_bytes, int(packed * limits.archive_max_ratio))
    root = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for m in members:
            target = (dest / m.filename).resolve()
            if root not in target.parents and target != root:
                raise ProductError(f"{what}: archive member {m.filename!r} escapes")
        declared = sum(m.file_size for m in members)
        _check_expansion(declared, packed, limits, what)
        written = 0
        for m in members:
            target = dest / m.filename
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as inp, open(target, "wb") as out:
                while chunk := inp.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > cap:
                        out.close()
                        shutil.rmtree(dest, ignore_errors=True)
                        _check_expansion(written, packed, limits, what)
                        raise ProductError(f"{what}: expands beyond {cap:,} bytes")
                    out.write(chunk)


def _check_expansion(total: int, packed: int, limits: InputLimits, what: str) -> None:
    if total > limits.archive_max_bytes:
        raise ProductError(
            f"{what}: expands to {total:,} bytes, more than "
            f"{_ENV}ARCHIVE_MAX_BYTES={limits.archive_max_bytes:,}"
        )
    if total / packed > limits.archive_max_ratio:
        raise ProductError(
            f"{what}: expands to {total:,} bytes, {total / packed:,.0f} times its {packed:,} "
            "bytes, more than "
            f"{_ENV}ARCHIVE_MAX_RATIO={limits.archive_max_ratio:g}"
        )
