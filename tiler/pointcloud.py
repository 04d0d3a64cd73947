"""Raster tiles computed from COPC point clouds: a rio-tiler reader over the octree.

A COPC asset is read as a five-band raster (:data:`BANDS`: ``dsm``, ``dtm``, ``intensity``,
``classification``, ``density``) by :class:`CopcTileReader`, which the item and mosaic readers
of :mod:`tiler.readers` pick for the COPC media type. So every route the tiler has for rasters
(item, collection and search tiles, WMTS, WMS GetMap through ``part``, TileJSON) draws point
clouds with the same ``rescale``/``colormap``/``algorithm`` handling; ``assets=data|bidx=2``
selects the DTM, ``algorithm=hillshade`` shades it.

Per tile, only the octree nodes that overlap the tile and whose level's point spacing is not
finer than a pixel are read (laspy's own hierarchy walk, :func:`laspy.copc.load_octree_for_query`,
with the level range laspy's ``CopcReader.query(resolution=...)`` computes), each node by one
byte-range read from the store (:meth:`objectstore.ObjectStore.read_range`, local file or S3
``Range`` GET; contiguous nodes in one read). Nodes are decoded with lazrs directly rather than
through ``CopcReader.query``, because ``query`` decodes all nodes into one array and shares one
seekable stream: a per-node decode is what lets decoded nodes be cached (an LRU bounded in
bytes, :func:`configure`) and read from several threads at once.

The gridding follows the ``lidar-dtm`` algorithm (``algorithms/lidar_dtm.py``): DSM = highest
non-noise point per pixel, DTM = mean height of ground points (class 2); both with empty pixels
filled from data up to ``STACWORKS_TILES_DTM_FILL_PIXELS`` away (GDAL's FillNodata: the ground
under buildings, and the gaps between points at zooms finer than the point spacing; the
algorithm fills ring by ring with neighbour means, so the two agree within a tolerance, not
bit for bit); intensity = mean intensity; classification = class of the highest non-noise
point; density = points read per square metre over a ~2 m window (at the zoom's level of detail).

Work per request is bounded by ``STACWORKS_TILES_MAX_POINTS``: the points of every node a
request would decode (cached or not), summed over the assets of a mosaic, above which it is a
422 (:class:`~tiler.errors.ReadTooLarge`), like ``STACWORKS_TILES_MAX_PIXELS`` for rasters.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attr
import cachetools
import laspy
import lazrs
import numpy as np
import pyproj
import pyproj.exceptions
from laspy.copc import Bounds, CopcReader, OctreeNode, load_octree_for_query
from laspy.point.record import PackedPointRecord, ScaleAwarePointRecord
from morecantile import Tile
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.fill import fillnodata
from rio_tiler.constants import WEB_MERCATOR_TMS
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io.base import BaseReader
from rio_tiler.models import BandStatistics, ImageData, Info, PointData
from rio_tiler.utils import cast_to_sequence

from objectstore import ObjectStore
from objectstore.errors import StoreError

from .budget import checkpoint, current_budget
from .errors import AssetNotFound, InvalidParameter, ReadTooLarge, TilesError

__all__ = [
    "BANDS",
    "COPC_TYPE",
    "CopcTileReader",
    "NotForPointClouds",
    "configure",
    "grid_points",
]

log = logging.getLogger(__name__)

COPC_TYPE = "application/vnd.laszip+copc"
#: The bands a COPC asset offers, in index order (``indexes=2`` is the DTM).
BANDS = ("dsm", "dtm", "intensity", "classification", "density")
NOISE_CLASSES = (7, 18)
GROUND_CLASSES = (2,)
#: The fields a tile needs: LAS 1.4 point formats (what our ingest writes) are compressed in
#: layers, so lazrs skips decoding the others (GPS time, colour, scan angle ...).
_DECODED = (laspy.DecompressionSelection.XY_RETURNS_CHANNEL | laspy.DecompressionSelection.Z
            | laspy.DecompressionSelection.CLASSIFICATION
            | laspy.DecompressionSelection.INTENSITY)
#: Output size of a ``part`` (WMS GetMap, bbox) that gives none.
DEFAULT_PART_SIZE = 1024


class NotForPointClouds(TilesError):
    """An endpoint that reads a raster's own pixels (preview, statistics, point) on a COPC."""


@dataclass
class _Limits:
    max_points: int = 5_000_000
    fill_pixels: int = 16
    hierarchy_bytes: int = 64 * 1024 * 1024


_LIMITS = _Limits()
_NODE_LOCK = threading.Lock()
_NODES: cachetools.LRUCache[tuple[Any, ...], _Points] = cachetools.LRUCache(
    maxsize=256 * 1024 * 1024, getsizeof=lambda p: p.nbytes)
_CLOUD_LOCK = threading.Lock()
#: Opened clouds (header, hierarchy pages read so far): a few per layer on screen.
_CLOUDS: cachetools.TTLCache[str, _Cloud] = cachetools.TTLCache(maxsize=64, ttl=300)
_TRANSFORMERS = threading.local()


def configure(*, max_points: int, node_cache_bytes: int, fill_pixels: int,
              hierarchy_bytes: int = 64 * 1024 * 1024) -> None:
    """Apply the tiler's point-cloud settings (at start-up; the caches start empty)."""
    global _NODES
    _LIMITS.max_points = max_points
    _LIMITS.fill_pixels = fill_pixels
    _LIMITS.hierarchy_bytes = hierarchy_bytes
    with _NODE_LOCK:
        _NODES = cachetools.LRUCache(maxsize=node_cache_bytes, getsizeof=lambda p: p.nbytes)
    with _CLOUD_LOCK:
        _CLOUDS.clear()


@dataclass(frozen=True)
class _Points:
    """One decoded node, x/y already in the output CRS (the transform is cached too)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    intensity: np.ndarray
    classification: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x, self.y, self.z, self.intensity,
                                      self.classification)) + 200

    @staticmethod
    def concat(parts: Sequence[_Points]) -> _Points:
        if not parts:
            empty = np.zeros(0)
            return _Points(empty, empty, empty, np.zeros(0, np.uint16), np.zeros(0, np.uint8))
        return _Points(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                         ("x", "y", "z", "intensity", "classification")))


class _RangeSource:
    """A read-only file object over one store object, each ``read`` a ranged read: what
    laspy's header and hierarchy parsing needs (``read``/``seek``/``tell``).

    Sizes and offsets come from the file, so the reads are bounded: all of them together
    (header, VLRs, hierarchy pages; the pages are kept while the cloud is open) by
    ``STACWORKS_TILES_COPC_MAX_HIERARCHY_MB``; and during a hierarchy walk (``pages`` set) a
    page read twice is a cycle (laspy's walk would re-read it forever)."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self.store, self.key, self.pos = store, key, 0
        self.left = _LIMITS.hierarchy_bytes
        self.pages: set[int] | None = None

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("only absolute seeks")
        self.pos = pos
        return pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            raise OSError("a read of the whole object is not allowed here")
        if n > self.left:
            raise ReadTooLarge(
                "a point cloud's header and octree hierarchy are larger than "
                f"STACWORKS_TILES_COPC_MAX_HIERARCHY_MB={_LIMITS.hierarchy_bytes >> 20}")
        if self.pages is not None:
            if self.pos in self.pages:
                raise ValueError(f"hierarchy page at {self.pos} reached twice (a cycle)")
            self.pages.add(self.pos)
            checkpoint()
        data = self.store.read_range(self.key, self.pos, n)
        self.left -= len(data)
        self.pos += len(data)
        return data

    def close(self) -> None:
        pass


@dataclass
class _Cloud:
    """An opened COPC: header, hierarchy pages read so far, CRS (kept for ``ttl`` s)."""

    href: str
    store: ObjectStore
    key: str
    reader: CopcReader
    crs: CRS
    lock: threading.Lock

    @property
    def stamp(self) -> tuple[Any, ...]:
        """What tells this version of the object from a replaced one under the same href
        (node cache keys): no per-tile HEAD request needed."""
        h, info = self.reader.header, self.reader.copc_info
        return (self.href, int(h.point_count), int(info.hierarchy_root_offset),
                int(info.hierarchy_root_size), tuple(h.mins), tuple(h.maxs))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        h = self.reader.header
        return (float(h.mins[0]), float(h.mins[1]), float(h.maxs[0]), float(h.maxs[1]))

    def nodes(self, bounds: tuple[float, float, float, float], levels: range) -> list[OctreeNode]:
        """The nodes overlapping ``bounds`` (cloud CRS) at ``levels``; hierarchy pages are read
        (and remembered) on the way, one range read each."""
        query = Bounds(mins=np.array([bounds[0], bounds[1], -np.inf]),
                       maxs=np.array([bounds[2], bounds[3], np.inf]))
        source = self.reader.source
        with self.lock:  # the walk reads through the one source and extends the page
            source.pages = set()
            try:
                return [n for n in load_octree_for_query(
                    source, self.reader.copc_info, self.reader.root_page,
                    query_bounds=query, level_range=levels) if n.point_count > 0]
            finally:
                source.pages = None


def _evlr_wkt(source: _RangeSource, header: laspy.LasHeader) -> str | None:
    """The WKT of the cloud's EVLRs (where COPC writers put it). laspy's header reader skips
    EVLRs on a stream and would read every EVLR body (the hierarchy among them) to find it;
    this reads the 60-byte EVLR headers and only the WKT's body."""
    at = int(getattr(header, "start_of_first_evlr", 0) or 0)
    for _ in range(int(getattr(header, "number_of_evlrs", 0) or 0)):
        source.seek(at)
        head = source.read(60)
        if len(head) < 60:
            return None
        user_id = head[2:18].rstrip(b"\0").decode("ascii", "replace")
        record_id = int.from_bytes(head[18:20], "little")
        length = int.from_bytes(head[20:28], "little")
        if user_id == "LASF_Projection" and record_id == 2112:
            source.seek(at + 60)
            return source.read(min(length, 1 << 20)).rstrip(b"\0").decode("utf-8", "replace")
        at += 60 + length
    return None


def _horizontal(header: laspy.LasHeader, source: _RangeSource) -> CRS:
    crs = header.parse_crs()
    if crs is None:
        wkt = _evlr_wkt(source, header)
        crs = ProjCRS.from_wkt(wkt) if wkt else None
    if crs is None:
        raise AssetNotFound("point cloud without a CRS")
    if crs.is_compound:
        crs = crs.sub_crs_list[0]
    return CRS.from_wkt(crs.to_wkt())


def _open_cloud(store: ObjectStore, key: str) -> _Cloud:
    href = store.href(key)
    with _CLOUD_LOCK:
        cloud = _CLOUDS.get(href)
    if cloud is not None:
        return cloud
    try:
        source = _RangeSource(store, key)
        reader = CopcReader(source, close_fd=False,  # type: ignore[arg-type]
                            decompression_selection=_DECODED)
        crs = _horizontal(reader.header, source)
    except (StoreError, OSError, ValueError, laspy.LaspyException, lazrs.LazrsError,
            CRSError, pyproj.exceptions.CRSError) as exc:
        raise AssetNotFound(f"cannot open {key!r} as COPC: {exc}") from None
    cloud = _Cloud(href, store, key, reader, crs, threading.Lock())
    with _CLOUD_LOCK:
        _CLOUDS[href] = cloud
    return cloud


def _transformer(src: CRS, dst: CRS) -> Transformer:
    """One transformer per thread and CRS pair (pyproj's are not to be shared by threads)."""
    cache: dict[tuple[str, str], Transformer] = _TRANSFORMERS.__dict__.setdefault("cache", {})
    key = (src.to_wkt(), dst.to_wkt())
    if key not in cache:
        cache[key] = Transformer.from_crs(ProjCRS.from_wkt(key[0]), ProjCRS.from_wkt(key[1]),
                                          always_xy=True)
    return cache[key]


#: Below this many points a node is transformed point by point.
_EXACT_BELOW = 20_000
_GRID = 33


def _transform(tr: Transformer, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tr`` applied to many points: exactly on a 33 x 33 grid over their extent, bilinear
    between (as GDAL's approximate warp transformer does). A CRS given as WKT can make PROJ
    weigh several datum operations per point (~1 µs each here: most of a cold tile);
    projections are smooth at a node's scale. Checked against the exact transform on a
    sample: an error above 1e-7 of the extent (36 µm over a 360 m node) falls back to it."""
    if x.size < _EXACT_BELOW:
        return tr.transform(x, y)  # type: ignore[no-any-return]
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    if not (x1 > x0 and y1 > y0):
        return tr.transform(x, y)  # type: ignore[no-any-return]
    gx, gy = np.meshgrid(np.linspace(x0, x1, _GRID), np.linspace(y0, y1, _GRID))
    tx, ty = (np.asarray(a) for a in tr.transform(gx, gy))
    if not (np.isfinite(tx).all() and np.isfinite(ty).all()):
        return tr.transform(x, y)  # type: ignore[no-any-return]
    fx = (x - x0) * ((_GRID - 1) / (x1 - x0))
    fy = (y - y0) * ((_GRID - 1) / (y1 - y0))
    i = np.clip(fx.astype(np.int64), 0, _GRID - 2)
    j = np.clip(fy.astype(np.int64), 0, _GRID - 2)
    u, v = fx - i, fy - j

    def lerp(t: np.ndarray) -> np.ndarray:
        return ((1 - u) * (1 - v) * t[j, i] + u * (1 - v) * t[j, i + 1]
                + (1 - u) * v * t[j + 1, i] + u * v * t[j + 1, i + 1])

    ox, oy = lerp(tx), lerp(ty)
    sample = np.arange(0, x.size, max(1, x.size // 256))
    ex, ey = (np.asarray(a) for a in tr.transform(x[sample], y[sample]))
    extent = max(float(tx.max() - tx.min()), float(ty.max() - ty.min()), 1e-300)
    error = max(float(np.abs(ox[sample] - ex).max()), float(np.abs(oy[sample] - ey).max()))
    if error > 1e-7 * extent:
        return tr.transform(x, y)  # type: ignore[no-any-return]
    return ox, oy


def _reproject_bounds(
    src: CRS, dst: CRS, bounds: Sequence[float],
) -> tuple[float, float, float, float]:
    """``bounds`` (``src``) as bounds in ``dst``, edges densified; rasterio's
    ``transform_bounds`` builds a GDAL transformer per call (about 9 ms, most of a tile)."""
    if src == dst:
        return (float(bounds[0]), float(bounds[1]), float(bounds[2]), float(bounds[3]))
    w, s, e, n = (float(v) for v in bounds[:4])
    out = _transformer(src, dst).transform_bounds(w, s, e, n, densify_pts=21)
    return (float(out[0]), float(out[1]), float(out[2]), float(out[3]))


_GEOD = pyproj.Geod(ellps="WGS84")


def _ground_area(bounds: tuple[float, float, float, float], crs: CRS) -> float:
    """The area on the ground (m², WGS84 ellipsoid) of ``bounds`` in ``crs``: web-mercator
    "metres" grow with latitude, so a pixel's size in its CRS is no area."""
    try:
        w, s, e, n = _reproject_bounds(crs, CRS.from_epsg(4326), bounds)
        s, n = max(s, -90.0), min(n, 90.0)  # a whole-world box with the fill margin
        area, _ = _GEOD.polygon_area_perimeter([w, e, e, w], [s, s, n, n])
    except pyproj.exceptions.ProjError:
        return 1.0
    return max(abs(float(area)), 1e-12) if math.isfinite(area) else 1.0


def _most_bytes(points: int, record: int) -> int:
    """The most compressed bytes a node of ``points`` records of ``record`` bytes may take:
    LAZ of incompressible points is a little larger than the records (twice, plus a chunk's
    overhead, is far above any real file)."""
    return 2 * points * record + 4096


def _decode(cloud: _Cloud, group: list[OctreeNode], dst: CRS) -> list[_Points]:
    """One range read for contiguous nodes, decoded node by node (lazrs' chunk table)."""
    start = group[0].offset
    size = sum(n.byte_size for n in group)
    header = cloud.reader.header
    fmt = header.point_format
    for node in group:  # a corrupt hierarchy must not make us read (or lazrs index) past it
        if not 0 < node.byte_size <= _most_bytes(node.point_count, fmt.size):
            raise AssetNotFound(f"corrupt COPC hierarchy in {cloud.key!r}: node {node.key} "
                                f"claims {node.byte_size} bytes for {node.point_count} points")
    try:
        data = cloud.store.read_range(cloud.key, start, size)
    except (StoreError, ValueError, OverflowError, OSError) as exc:
        raise AssetNotFound(f"cannot read {cloud.key!r}: {exc}") from None
    if len(data) != size:  # lazrs panics (not raises) on chunks shorter than the table says
        raise AssetNotFound(f"{cloud.key!r} ends before its node at {start} ({len(data)} of "
                            f"{size} bytes)")
    count = sum(n.point_count for n in group)
    out = np.zeros(count * fmt.size, dtype=np.uint8)
    try:
        lazrs.decompress_points_with_chunk_table(
            data, cloud.reader.laszip_vlr.record_data, out,
            [(n.point_count, n.byte_size) for n in group], cloud.reader.decompression_selection)
    except (lazrs.LazrsError, ValueError) as exc:  # a truncated or corrupt chunk
        raise AssetNotFound(f"cannot decode {cloud.key!r} at {start}: {exc}") from None
    record = PackedPointRecord.from_buffer(out, fmt)
    points = ScaleAwarePointRecord(record.array, fmt, header.scales, header.offsets)
    x, y = np.asarray(points.x, dtype=np.float64), np.asarray(points.y, dtype=np.float64)
    if dst != cloud.crs:
        x, y = _transform(_transformer(cloud.crs, dst), x, y)
    z = np.asarray(points.z, dtype=np.float64)
    intensity = np.asarray(points.intensity, dtype=np.uint16)
    classes = np.asarray(points.classification, dtype=np.uint8)
    parts, at = [], 0
    for node in group:
        s = slice(at, at + node.point_count)
        # copies, not views: a cached node must not keep its whole group's arrays alive (the
        # cache counts each node's own bytes)
        parts.append(_Points(x[s].copy(), y[s].copy(), z[s].copy(), intensity[s].copy(),
                             classes[s].copy()))
        at += node.point_count
    return parts


def _spend_points(n: int) -> None:
    """Count ``n`` points against the request's budget (all its assets together)."""
    budget = current_budget()
    spent = budget.spend("points", n) if budget is not None else n
    if spent > _LIMITS.max_points:
        raise ReadTooLarge(
            f"this request would read {spent:,} points from point clouds; the limit is "
            f"STACWORKS_TILES_MAX_POINTS={_LIMITS.max_points:,}: zoom in or ask for a "
            "smaller area")


def read_points(
    cloud: _Cloud, bounds: tuple[float, float, float, float], crs: CRS, pixel: float,
) -> tuple[_Points, dict[str, int]]:
    """The points of ``cloud`` in ``bounds`` (``crs``) at the level of detail of ``pixel``
    (output pixel size, in ``crs`` units), x/y in ``crs``; and what it took."""
    try:
        native = _reproject_bounds(crs, cloud.crs, bounds)
    except pyproj.exceptions.ProjError:  # bounds no transform can take: nothing of the cloud
        return _Points.concat([]), {"points": 0, "nodes": 0, "nodes_read": 0, "bytes": 0}
    scale = math.sqrt(abs((native[2] - native[0]) * (native[3] - native[1]))
                      / max(abs((bounds[2] - bounds[0]) * (bounds[3] - bounds[1])), 1e-300))
    resolution = max(pixel * scale, 1e-9)  # the pixel in cloud units
    if not all(math.isfinite(v) for v in (*native, resolution)):  # no transform takes them
        return _Points.concat([]), {"points": 0, "nodes": 0, "nodes_read": 0, "bytes": 0}
    spacing = float(cloud.reader.copc_info.spacing)
    levels = range(0, max(1, math.ceil(math.log2(spacing / resolution)) + 1))
    checkpoint()
    try:
        nodes = cloud.nodes(native, levels)
    except (StoreError, OSError, ValueError, laspy.LaspyException) as exc:
        raise AssetNotFound(f"cannot read the hierarchy of {cloud.key!r}: {exc}") from None
    _spend_points(sum(n.point_count for n in nodes))
    crs_key = crs.to_wkt()
    found: dict[int, _Points] = {}
    missing: list[OctreeNode] = []
    with _NODE_LOCK:
        for i, node in enumerate(nodes):
            hit = _NODES.get((cloud.stamp, str(node.key), crs_key))
            if hit is None:
                missing.append(node)
            else:
                found[i] = hit
    missing.sort(key=lambda n: n.offset)
    groups: list[list[OctreeNode]] = []
    for node in missing:
        if groups and groups[-1][-1].offset + groups[-1][-1].byte_size == node.offset:
            groups[-1].append(node)
        else:
            groups.append([node])
    read_bytes = 0
    decoded: dict[str, _Points] = {}
    for group in groups:
        checkpoint()
        for node, pts in zip(group, _decode(cloud, group, crs), strict=True):
            decoded[str(node.key)] = pts
        read_bytes += sum(n.byte_size for n in group)
    with _NODE_LOCK:
        for key, pts in decoded.items():
            if pts.nbytes <= _NODES.maxsize:  # a bigger node would make cachetools raise
                _NODES[(cloud.stamp, key, crs_key)] = pts
    parts = [found[i] if i in found else decoded[str(n.key)] for i, n in enumerate(nodes)]
    points = _Points.concat(parts)
    return points, {"points": int(points.z.size), "nodes": len(nodes),
                    "nodes_read": len(missing), "bytes": read_bytes}


def fill_gaps(grid: np.ndarray, pixels: int) -> np.ndarray:
    """Fill NaN cells from valid cells up to ``pixels`` away (GDAL's FillNodata, inverse
    distance weighted, no smoothing): the ground under buildings and trees, and the gaps
    between points when pixels are finer than the point spacing. Farther cells stay NaN."""
    valid = ~np.isnan(grid)
    if not pixels or valid.all() or not valid.any():
        return grid
    out = fillnodata(grid.astype(np.float32), mask=valid.astype(np.uint8),
                     max_search_distance=float(pixels), smoothing_iterations=0)
    return np.asarray(out, dtype=np.float64)


#: Ground area over which the density band counts points (a pixel finer than the point
#: spacing holds 0 or 1 point: its own count is no density).
DENSITY_WINDOW_M2 = 4.0


def _window_density(counts: np.ndarray, pixel_m2: float) -> np.ndarray:
    """Points per m² over a window of about :data:`DENSITY_WINDOW_M2` (or one pixel, if
    larger) centred on each pixel (box sums from an integral image); NaN where it holds none."""
    k = max(1, min(33, round(math.sqrt(DENSITY_WINDOW_M2 / max(pixel_m2, 1e-12))))) | 1
    if k == 1:
        return np.where(counts > 0, counts / pixel_m2, np.nan)
    h, w = counts.shape
    lo, hi = k // 2, k - k // 2
    integral = np.pad(np.cumsum(np.cumsum(counts, axis=0), axis=1), ((1, 0), (1, 0)))
    r0, r1 = np.clip(np.arange(h) - lo, 0, h), np.clip(np.arange(h) + hi, 0, h)
    c0, c1 = np.clip(np.arange(w) - lo, 0, w), np.clip(np.arange(w) + hi, 0, w)
    sums = (integral[r1][:, c1] - integral[r0][:, c1] - integral[r1][:, c0]
            + integral[r0][:, c0])
    cells = np.outer(r1 - r0, c1 - c0)
    return np.where(sums > 0, sums / (cells * pixel_m2), np.nan)


def grid_points(
    points: _Points, bounds: tuple[float, float, float, float], width: int, height: int,
    indexes: Sequence[int], *, fill: int = 0, pixel_m2: float = 1.0,
) -> np.ma.MaskedArray:
    """The bands ``indexes`` (1-based, :data:`BANDS`) of ``points`` on a ``width`` x
    ``height`` grid over ``bounds`` (x/y in the grid's CRS), masked where there is no value.

    ``fill``: how far (pixels) DSM/DTM gaps are filled. ``pixel_m2``: a pixel's ground area,
    for the density in points per m².
    """
    left, bottom, right, top = bounds
    rx, ry = (right - left) / width, (top - bottom) / height
    col = np.floor((points.x - left) / rx).astype(np.int64)
    row = np.floor((top - points.y) / ry).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    cell = (row * width + col)[inside]
    z, cls = points.z[inside], points.classification[inside]
    n = width * height
    keep = ~np.isin(cls, NOISE_CLASSES)
    out = np.full((len(indexes), height, width), np.nan, dtype=np.float32)
    dsm: np.ndarray | None = None

    def surface() -> np.ndarray:
        top_z = np.full(n, -np.inf)
        np.maximum.at(top_z, cell[keep], z[keep])
        return top_z

    for i, band in enumerate(indexes):
        name = BANDS[band - 1]
        if name in ("dsm", "classification", "dtm") and dsm is None:
            dsm = surface()
        if name == "dsm":
            assert dsm is not None
            values = fill_gaps(np.where(np.isinf(dsm), np.nan, dsm).reshape(height, width),
                               fill).ravel()
        elif name == "dtm":
            assert dsm is not None
            ground = np.isin(cls, GROUND_CLASSES)
            sums = np.bincount(cell[ground], weights=z[ground], minlength=n)
            counts = np.bincount(cell[ground], minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            values = fill_gaps(values.reshape(height, width), fill).ravel()
        elif name == "intensity":
            sums = np.bincount(cell, weights=points.intensity[inside], minlength=n)
            counts = np.bincount(cell, minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        elif name == "classification":
            assert dsm is not None
            values = np.full(n, np.nan)
            highest = keep.copy()
            highest[keep] = z[keep] == dsm[cell[keep]]
            values[cell[highest]] = cls[highest]
        else:  # density
            per_pixel = np.bincount(cell, minlength=n).astype(np.float64)
            values = _window_density(per_pixel.reshape(height, width), pixel_m2).ravel()
        out[i] = values.reshape(height, width)
    return np.ma.MaskedArray(out, mask=np.isnan(out), fill_value=np.nan)


@attr.s
class CopcTileReader(BaseReader):
    """A COPC object of a store as a five-band raster (see the module docstring).

    ``input`` is the object's key in ``store``; :mod:`tiler.readers` maps the asset href to
    both (the allow-list) before this opens anything.
    """

    input: str = attr.ib()
    tms: Any = attr.ib(default=WEB_MERCATOR_TMS)
    store: ObjectStore | None = attr.ib(default=None, kw_only=True)

    minzoom: int = attr.ib(init=False)
    maxzoom: int = attr.ib(init=False)

    def __attrs_post_init__(self) -> None:
        if self.store is None:
            raise AssetNotFound("no store for the point cloud")
        self.cloud = _open_cloud(self.store, self.input)
        self.crs = self.cloud.crs
        self.bounds = self.cloud.bounds
        self.minzoom, self.maxzoom = self.tms.minzoom, self.tms.maxzoom
        #: What the last read took (nodes, points, bytes): for benchmarks and logs.
        self.last_read: dict[str, int] = {}

    def tile_exists(self, tile_x: int, tile_y: int, tile_z: int) -> bool:  # noqa: D102
        box = self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        try:
            w, s, e, n = _reproject_bounds(self.tms.rasterio_crs, self.crs, box)
        except pyproj.exceptions.ProjError:
            return True  # as rio-tiler: bounds it cannot transform may still hold data
        if not all(math.isfinite(v) for v in (w, s, e, n)):
            return True
        left, bottom, right, top = self.bounds
        return w < right and e > left and n > bottom and s < top

    def _indexes(self, kwargs: dict[str, Any]) -> list[int]:
        if kwargs.get("expression"):
            raise InvalidParameter("expression", "point clouds take indexes (1=dsm, 2=dtm, "
                                   "3=intensity, 4=classification, 5=density), not expressions")
        indexes = [int(i) for i in cast_to_sequence(kwargs.get("indexes")) or range(1, 6)]
        for bidx in indexes:
            if not 1 <= bidx <= len(BANDS):
                raise InvalidParameter("bidx", f"band {bidx} out of range 1..{len(BANDS)} "
                                       f"({', '.join(BANDS)})")
        return indexes

    def _render(
        self, bounds: tuple[float, float, float, float], crs: CRS, width: int, height: int,
        indexes: list[int],
    ) -> ImageData:
        """Grid the points under ``bounds`` (``crs``) into ``width`` x ``height`` pixels; the
        DTM fill reads a margin of ``fill_pixels`` around it so tiles join without seams."""
        pad = _LIMITS.fill_pixels if {1, 2} & set(indexes) else 0
        rx, ry = (bounds[2] - bounds[0]) / width, (bounds[3] - bounds[1]) / height
        padded = (bounds[0] - pad * rx, bounds[1] - pad * ry,
                  bounds[2] + pad * rx, bounds[3] + pad * ry)
        points, self.last_read = read_points(self.cloud, padded, crs, max(abs(rx), abs(ry)))
        checkpoint()
        grid = grid_points(points, padded, width + 2 * pad, height + 2 * pad, indexes,
                           fill=_LIMITS.fill_pixels,
                           pixel_m2=_ground_area(padded, crs) / ((width + 2 * pad)
                                                                 * (height + 2 * pad)))
        if pad:
            grid = grid[:, pad:pad + height, pad:pad + width]
        names = [BANDS[i - 1] for i in indexes]
        return ImageData(
            grid, bounds=bounds, crs=crs, band_names=[f"b{i}" for i in indexes],
            band_descriptions=names, metadata=dict(self.last_read),
        )

    def tile(  # noqa: D102
        self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None,
        buffer: float | None = None, **kwargs: Any,
    ) -> ImageData:
        tilesize = tilesize or 256
        if not self.tile_exists(tile_x, tile_y, tile_z):
            raise TileOutsideBounds(f"Tile {tile_z}/{tile_x}/{tile_y} is outside bounds")
        indexes = self._indexes(kwargs)
        left, bottom, right, top = self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        size = tilesize
        if buffer:
            b = int(buffer)
            rx, ry = (right - left) / tilesize, (top - bottom) / tilesize
            left, bottom, right, top = left - b * rx, bottom - b * ry, right + b * rx, top + b * ry
            size = tilesize + 2 * b
        return self._render((left, bottom, right, top), self.tms.rasterio_crs, size, size,
                            indexes)

    def part(  # noqa: D102
        self, bbox: Any, dst_crs: Any = None, bounds_crs: Any = None,
        width: int | None = None, height: int | None = None, max_size: int | None = None,
        **kwargs: Any,
    ) -> ImageData:
        indexes = self._indexes(kwargs)
        src = CRS.from_user_input(bounds_crs) if bounds_crs is not None else CRS.from_epsg(4326)
        dst = CRS.from_user_input(dst_crs) if dst_crs is not None else src
        box = tuple(float(v) for v in bbox)
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise InvalidParameter("bbox", "four finite numbers: minx, miny, maxx, maxy")
        box = _reproject_bounds(src, dst, box)
        w, h = abs(box[2] - box[0]), abs(box[3] - box[1])
        if not (width and height):
            longest = max_size or DEFAULT_PART_SIZE
            scale = longest / max(w, h, 1e-300)
            width = width or max(1, round(w * scale))
            height = height or max(1, round(h * scale))
        return self._render(box, dst, int(width), int(height), indexes)  # type: ignore[arg-type]

    def info(self) -> Info:  # noqa: D102
        return Info(
            bounds=self.bounds, crs=self.crs.to_string(), band_metadata=[(f"b{i + 1}", {})
                                                                       for i in range(5)],
            band_descriptions=[(f"b{i + 1}", n) for i, n in enumerate(BANDS)],
            dtype="float32", nodata_type="Mask", colorinterp=["gray"] * 5,
        )

    def _unsupported(self, what: str) -> NotForPointClouds:
        return NotForPointClouds(f"{what} is not available for point clouds; use tiles, bbox "
                                 "or WMS")

    def statistics(self, *args: Any, **kwargs: Any) -> dict[str, BandStatistics]:  # noqa: D102
        raise self._unsupported("statistics")

    def preview(self, *args: Any, **kwargs: Any) -> ImageData:  # noqa: D102
        raise self._unsupported("preview")

    def point(self, *args: Any, **kwargs: Any) -> PointData:  # noqa: D102
        raise self._unsupported("point")

    def feature(self, *args: Any, **kwargs: Any) -> ImageData:  # noqa: D102
        raise self._unsupported("feature")
