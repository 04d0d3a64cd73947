"""CRS arithmetic that every tile read repeats, computed once (pure functions, memoized).

A GeoTIFF tile read through rio-tiler transforms the tile's box to the file's CRS twice
(``tile_exists``, and our pixel-budget check in ``GTiffReader``) and computes the file's
default Web Mercator transform (``get_vrt_transform``): about 0.2 ms, 0.2 ms and 0.6-0.9 ms,
all holding the GIL. Their results depend only on the CRSs, the boxes and the file's size, so
the ten items of a mosaic in one UTM zone share the tile's box, and a file's transform is the
same for each of its tiles. Under the GIL those ~1.2 ms per read were a third of a 10-item
mosaic tile's Python time. rasterio and rio-tiler cache neither, hence these LRU caches (keyed
by value: a CRS hashes by its WKT), swapped into rio-tiler while the tile server runs, as
:mod:`tiler.threads` does for its task pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import rasterio.warp
import rio_tiler.io.base
import rio_tiler.reader
import rio_tiler.utils
from affine import Affine

__all__ = ["default_transform", "memoized_transforms", "transform_bounds", "web_mercator_lonlat"]

_original_transform_bounds = rasterio.warp.transform_bounds
_original_default_transform = rasterio.warp.calculate_default_transform


@lru_cache(maxsize=8192)
def _bounds(src_crs: Any, dst_crs: Any, box: tuple[float, float, float, float],
            densify_pts: int) -> tuple[float, float, float, float]:
    return tuple(_original_transform_bounds(  # type: ignore[return-value]
        src_crs, dst_crs, *box, densify_pts=densify_pts))


def transform_bounds(src_crs: Any, dst_crs: Any, left: float, bottom: float, right: float,
                     top: float, densify_pts: int = 21) -> tuple[float, float, float, float]:
    """``rasterio.warp.transform_bounds``, remembered (errors are not)."""
    try:
        return _bounds(src_crs, dst_crs, (left, bottom, right, top), densify_pts)
    except TypeError:  # an unhashable CRS argument (a dict, say): compute it each time
        return tuple(_original_transform_bounds(  # type: ignore[return-value]
            src_crs, dst_crs, left, bottom, right, top, densify_pts=densify_pts))


@lru_cache(maxsize=2048)
def _default(src_crs: Any, dst_crs: Any, width: int, height: int,
             box: tuple[float, float, float, float]) -> tuple[Affine, int, int]:
    return _original_default_transform(  # type: ignore[no-any-return]
        src_crs, dst_crs, width, height, *box)


def default_transform(src_crs: Any, dst_crs: Any, width: int, height: int,
                      left: float | None = None, bottom: float | None = None,
                      right: float | None = None, top: float | None = None,
                      **kwargs: Any) -> tuple[Affine, int, int]:
    """``rasterio.warp.calculate_default_transform``, remembered for the bounds form (GCPs,
    RPCs and resolution options are computed each time)."""
    box = (left, bottom, right, top)
    if kwargs or any(v is None for v in box):
        return _original_default_transform(  # type: ignore[no-any-return]
            src_crs, dst_crs, width, height, *box, **kwargs)
    try:
        return _default(src_crs, dst_crs, width, height, box)  # type: ignore[arg-type]
    except TypeError:
        return _original_default_transform(  # type: ignore[no-any-return]
            src_crs, dst_crs, width, height, *box)


_R = 6378137.0  # the Web Mercator sphere


def web_mercator_lonlat(
    xy_bounds: tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    """Lon/lat box of a Web Mercator box, by the projection's closed-form inverse (what PROJ
    computes, without a transformer call per tile)."""
    left, bottom, right, top = xy_bounds

    def lat(y: float) -> float:
        return math.degrees(2 * math.atan(math.exp(y / _R)) - math.pi / 2)

    return (math.degrees(left / _R), lat(bottom), math.degrees(right / _R), lat(top))


_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (rio_tiler.io.base, "transform_bounds", transform_bounds),
    (rio_tiler.io.base, "calculate_default_transform", default_transform),
    (rio_tiler.reader, "transform_bounds", transform_bounds),
    (rio_tiler.utils, "calculate_default_transform", default_transform),
)


@contextmanager
def memoized_transforms() -> Iterator[None]:
    """rio-tiler's readers use the memoized functions while the block runs."""
    original = [getattr(module, name) for module, name, _ in _PATCHES]
    for module, name, fn in _PATCHES:
        setattr(module, name, fn)
    try:
        yield
    finally:
        for (module, name, _), fn in zip(_PATCHES, original, strict=True):
            setattr(module, name, fn)
