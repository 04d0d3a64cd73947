"""Nearest-neighbour tiles of a reprojected GeoTIFF without a per-read GDAL warper.

rio-tiler reprojects every tile through a new ``WarpedVRT``: GDAL builds a coordinate
transformation, warp options and (for tiles coarser than the file) the VRT's implicit overview,
rasterio reads back the VRT's CRS and metadata, and the warper walks the VRT's blocks. For a
256 px tile of a Sentinel-2 COG with its blocks cached that is 4.5-15 ms, most of it holding
the GIL (measured here, z9-z11), so a 10-item mosaic tile cost ten of them one after another on
two cores. A nearest-neighbour warp needs much less: the source pixel under each output pixel
centre. This module transforms a 17x17 grid of the tile's points exactly (pyproj; a finer
grid where bilinear interpolation between those points would be off by more than 0.05 source
pixels at the cells' centres), interpolates the source pixel coordinates between them (small
matrix products), reads the one window of the file (or of the overview GDAL would pick) that
they fall in, and gathers: ~1 ms a tile, ten mosaic reads 9-10 ms against 16 ms before (in one
thread). The pixels are GDAL's warper's with an exact transformer: tests compare with a
``WarpedVRT`` at a 1e-4 px error threshold, and every pixel that differs is a centre within
0.05 px of a source pixel's edge (GDAL's default threshold, 0.125 px, moves more of them).

Only the common case takes this path (see :func:`nearest_tile`): nearest resampling, a plain
north-up GeoTIFF in another CRS, masks from nodata, a per-dataset mask band or none, no
buffer, padding, rescaling of values or VRT options. Anything else returns ``None`` and the
caller reads through rio-tiler as before.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rio_tiler.models import ImageData

__all__ = ["GRID_STEPS", "MAX_ERROR_PX", "nearest_tile", "overview_level"]

#: Output pixels between two exactly transformed points, coarsest first (a 256 px tile:
#: 17x17 points); a finer grid is used where the coarser one is off by more than
#: ``MAX_ERROR_PX``.
GRID_STEPS = (16, 8, 4)
#: Largest error of the interpolated source position, in pixels of the level read, measured
#: at the grid cells' centres (GDAL's warper allows 0.125 by default).
MAX_ERROR_PX = 0.05
#: A source window larger than this many times the output, or than ``MAX_WINDOW_BYTES``, is
#: left to rio-tiler (and its budget), which warps block by block instead of holding the
#: window: with an overview at every factor of 2 a window is at most ~4x the output; larger
#: ones come from files without overviews seen from far away, or where the projection folds
#: the tile (poles, antimeridian).
MAX_WINDOW_FACTOR = 8
MAX_WINDOW_BYTES = 64 * 1024 * 1024

_local = threading.local()

#: Opens a handle of the same file at an overview level (0 = the first overview); the
#: context manager gives it back.
OverviewOpener = Callable[[int], AbstractContextManager[DatasetReader]]


def _transformer(src: CRS, dst: CRS) -> Transformer:
    """A pyproj transformer from ``src`` to ``dst``, one per thread and pair (a transformer
    is cheap to use and ~1 ms to build)."""
    cache: dict[tuple[CRS, CRS], Transformer] | None = getattr(_local, "transformers", None)
    if cache is None:
        cache = _local.transformers = {}
    key = (src, dst)
    tr = cache.get(key)
    if tr is None:
        if len(cache) > 64:
            cache.clear()
        tr = cache[key] = Transformer.from_crs(src.to_wkt(), dst.to_wkt(), always_xy=True)
    return tr


@lru_cache(maxsize=16)
def _weights(size: int, step: int) -> tuple[NDArray[np.float64], int]:
    """The (size, k) matrix interpolating values at ``k`` evenly spaced points (the first at
    the tile's edge, the last at its far edge) to the ``size`` pixel centres."""
    k = math.ceil(size / step) + 1
    nodes = np.linspace(0.0, size, k)
    centres = np.arange(size) + 0.5
    i0 = np.minimum(np.searchsorted(nodes, centres, side="right") - 1, k - 2)
    f = (centres - nodes[i0]) / (nodes[i0 + 1] - nodes[i0])
    w = np.zeros((size, k))
    w[np.arange(size), i0] = 1.0 - f
    w[np.arange(size), i0 + 1] = f
    w.setflags(write=False)
    return w, k


#: Output rows per matrix product in :func:`_interpolate`.
_ROWS_PER_PRODUCT = 32


def _interpolate(h: NDArray[np.float64], grid: NDArray[np.float64],
                 w: NDArray[np.float64]) -> NDArray[np.float64]:
    """``h @ grid @ w.T``: the grid's values at every pixel centre.

    The second product is done 32 output rows at a time: OpenBLAS starts its threads for a
    product over ~260 000 multiply-adds (the whole 256x17x256 product is 1.1 M), and a tile
    server already reads on every core: whole, it took 250 us alone and several times that
    with eight reads at once; in blocks, 60 us."""
    hg = h @ grid
    wt = w.T
    out = np.empty((h.shape[0], w.shape[0]))
    for r in range(0, h.shape[0], _ROWS_PER_PRODUCT):
        np.matmul(hg[r:r + _ROWS_PER_PRODUCT], wt, out=out[r:r + _ROWS_PER_PRODUCT])
    return out


@lru_cache(maxsize=1024)
def _projected(
    dst_crs: CRS, src_crs: CRS, bounds: tuple[float, float, float, float], width: int,
    height: int, step: int,
) -> tuple[NDArray[np.float64], ...] | None:
    """The tile's points every ``step`` output pixels and the cells' centres, in ``src_crs``
    (x, y of each); None where the projection fails. Remembered (~9 KB each): a mosaic's items
    in one UTM zone, and the tiles a map asks for again, share them."""
    left, bottom, right, top = bounds
    xs = np.linspace(left, right, math.ceil(width / step) + 1)
    ys = np.linspace(top, bottom, math.ceil(height / step) + 1)
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    tr = _transformer(dst_crs, src_crs)
    try:
        sx, sy = tr.transform(*np.meshgrid(xs, ys), errcheck=True)
        ex, ey = tr.transform(*np.meshgrid(cx, cy), errcheck=True)
    except Exception:  # noqa: BLE001  # pyproj raises ProjError and others: rio-tiler decides
        return None
    out = tuple(np.asarray(a, dtype=np.float64) for a in (sx, sy, ex, ey))
    if not all(np.isfinite(a).all() for a in out):
        return None
    for a in out:
        a.setflags(write=False)
    return out


def _source_grid(
    dst_crs: CRS, src_crs: CRS, bounds: tuple[float, float, float, float], width: int,
    height: int, step: int, t: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
    """Full-resolution source pixel coordinates (columns, rows) of the tile's points every
    ``step`` output pixels, and how far bilinear interpolation between them is from the exact
    position at the cells' centres (in source pixels); None where the projection fails."""
    points = _projected(dst_crs, src_crs, bounds, width, height, step)
    if points is None:
        return None
    sx, sy, ex, ey = points
    gcol = (sx - t.c) / t.a
    grow = (sy - t.f) / t.e

    def centres(g: NDArray[np.float64]) -> NDArray[np.float64]:
        return (g[:-1, :-1] + g[1:, :-1] + g[:-1, 1:] + g[1:, 1:]) / 4  # type: ignore[no-any-return]

    error = max(float(np.abs(centres(gcol) - (ex - t.c) / t.a).max()),
                float(np.abs(centres(grow) - (ey - t.f) / t.e).max()))
    return gcol, grow, error


def overview_level(factor: float, overviews: Sequence[int]) -> int:
    """The overview to read for an output ``factor`` times coarser than the file: the
    coarsest not coarser than the output (-1: full resolution), as GDAL's RasterIO and
    :func:`tiler.readers.read_pixels` choose."""
    level = -1
    for i, o in enumerate(overviews):
        if o <= factor:
            level = i
    return level


def _plain(ds: DatasetReader, indexes: Sequence[int]) -> bool:
    """A north-up file whose bands' masks are nodata, a per-dataset mask or none."""
    t = ds.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0 or ds.crs is None:
        return False
    if ColorInterp.alpha in ds.colorinterp:
        return False
    flags = ds.mask_flag_enums
    for i in indexes:
        f = flags[i - 1]
        if MaskFlags.alpha in f:
            return False
    return True


def nearest_tile(
    ds: DatasetReader,
    bounds: tuple[float, float, float, float],
    dst_crs: CRS,
    width: int,
    height: int,
    indexes: Sequence[int] | None,
    nodata: float | None,
    open_overview: OverviewOpener,
    max_pixels: int,
) -> ImageData | None:
    """The ``width`` x ``height`` tile over ``bounds`` (in ``dst_crs``) of ``ds``, nearest
    neighbour, or ``None`` where this module does not apply (the caller then uses rio-tiler).

    Masked pixels are those outside the file, equal to ``nodata`` (the file's unless given),
    or masked by the file's per-dataset mask band; their values are ``nodata`` (or 0). A
    source window over ``max_pixels`` is left to rio-tiler (whose budget check refuses it).
    """
    idx = list(indexes) if indexes else [
        i for i, ci in enumerate(ds.colorinterp, 1) if ci != ColorInterp.alpha]
    if not idx or not 1 <= min(idx) <= max(idx) <= ds.count:
        return None  # rio-tiler raises its own error for bands the file lacks
    if not _plain(ds, idx) or ds.crs == dst_crs:
        return None
    nodata = ds.nodata if nodata is None else nodata
    t = ds.transform
    level = -2
    for step in GRID_STEPS:
        grid = _source_grid(dst_crs, ds.crs, bounds, width, height, step, t)
        if grid is None:
            return None
        gcol, grow, error = grid
        if level == -2:  # chosen once, on the coarsest grid (finer ones only move edges)
            c_lo, c_hi, r_lo, r_hi = gcol.min(), gcol.max(), grow.min(), grow.max()
            if c_hi <= 0 or r_hi <= 0 or c_lo >= ds.width or r_lo >= ds.height:
                return None  # outside the file: rio-tiler answers that
            factor = min((c_hi - c_lo) / width, (r_hi - r_lo) / height)
            level = overview_level(factor, ds.overviews(idx[0]))
            decimation = ds.overviews(idx[0])[level] if level >= 0 else 1
        if error / decimation <= MAX_ERROR_PX:
            break
    else:
        return None  # a projection too curved here for a grid: GDAL's warper does it
    w, _ = _weights(width, step)
    h, _ = _weights(height, step)
    with open_overview(level) if level >= 0 else nullcontext(ds) as src:
        sxf, syf = src.width / ds.width, src.height / ds.height
        if level >= 0:
            gcol = gcol * sxf
            grow = grow * syf
        c0 = max(int(math.floor(gcol.min())) - 1, 0)
        c1 = min(int(math.floor(gcol.max())) + 2, src.width)
        r0 = max(int(math.floor(grow.min())) - 1, 0)
        r1 = min(int(math.floor(grow.max())) + 2, src.height)
        pixels = (c1 - c0) * (r1 - r0)
        if (pixels > min(MAX_WINDOW_FACTOR * width * height, max_pixels)
                or pixels * len(idx) * np.dtype(src.dtypes[0]).itemsize > MAX_WINDOW_BYTES):
            return None
        window = Window(c0, r0, c1 - c0, r1 - r0)
        values = src.read(idx, window=window)
        per_dataset = any(
            MaskFlags.per_dataset in src.mask_flag_enums[i - 1] for i in idx) and nodata is None
        valid = src.read_masks(idx[0], window=window) if per_dataset else None
    nb, wh, ww = values.shape
    gcol -= c0
    grow -= r0
    # Pixel coordinates interpolate the grid's, so they lie within its range: where that is
    # inside the window (the file's edge is not in the tile), no pixel needs checking.
    inside_all = (gcol.min() >= 0 and grow.min() >= 0
                  and math.floor(gcol.max()) < ww and math.floor(grow.max()) < wh)
    cols = np.floor(_interpolate(h, gcol, w)).astype(np.intp)
    rows = np.floor(_interpolate(h, grow, w)).astype(np.intp)
    outside = None
    if not inside_all:
        # negative indexes become huge as unsigned: one comparison per axis
        outside = ~((cols.view(np.uintp) < ww) & (rows.view(np.uintp) < wh))
        np.clip(cols, 0, ww - 1, out=cols)
        np.clip(rows, 0, wh - 1, out=rows)
    # One flat index (a 1-D take is several times faster than indexing by rows and columns).
    flat = rows
    flat *= ww
    flat += cols
    data = np.take(values.reshape(nb, wh * ww), flat, axis=1).reshape(nb, height, width)
    if nodata is not None:
        mask = np.isnan(data) if math.isnan(nodata) else data == nodata
    elif valid is not None:
        mask = np.broadcast_to(np.take(valid.reshape(-1), flat) == 0, data.shape).copy()
    else:
        mask = np.zeros(data.shape, dtype=bool)
    if outside is not None:
        mask |= outside
        data[:, outside] = np.asarray(0 if nodata is None else nodata).astype(data.dtype)
    return _image(ds, np.ma.MaskedArray(data, mask=mask), bounds, dst_crs, idx, nodata)


def _image(ds: DatasetReader, data: np.ma.MaskedArray, bounds: tuple[float, float, float, float],
           crs: CRS, idx: list[int], nodata: float | None) -> ImageData:
    """The tile as rio-tiler's ``reader.read`` describes it (names, descriptions, statistics
    from the file's band tags, scales and offsets)."""
    stats = []
    for i in idx:
        tags = ds.tags(i)
        if "STATISTICS_MINIMUM" in tags and "STATISTICS_MAXIMUM" in tags:
            stats.append((float(tags["STATISTICS_MINIMUM"]), float(tags["STATISTICS_MAXIMUM"])))
    descriptions = ds.descriptions
    return ImageData(
        data,
        bounds=bounds,
        crs=crs,
        band_names=[f"b{i}" for i in idx],
        band_descriptions=[descriptions[i - 1] or f"b{i}" for i in idx],
        dataset_statistics=stats if len(stats) == len(idx) else None,
        metadata=ds.tags(),
        nodata=nodata,
        scales=[ds.scales[i - 1] for i in idx],
        offsets=[ds.offsets[i - 1] for i in idx],
    )
