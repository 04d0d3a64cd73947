"""Readers that open only objects of our store(s), and only as GeoTIFF: the tiler's choke point.

Every path the tiler opens comes from an asset href in the catalog. Each href is mapped to a
GDAL path through ``ObjectStore.key_for_href`` (the allow-list: no ``/vsi*``, no other hosts,
no ``..``, no other buckets) and opened with ``driver="GTiff"``, so a VRT renamed ``.tif``
(which could read ``/etc/passwd`` or call out over HTTP) is refused. Any failure to map or
open an asset raises :class:`~tiler.errors.AssetNotFound`, whose body is the same whatever
the cause.

The stores reach the readers through ``reader_dependency`` (titiler's seam for reader
options): the readers' default allow-list is empty, so a code path that forgets to pass it
reads nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import attr
from morecantile import Tile
from rasterio.crs import CRS
from rasterio.errors import RasterioError, RasterioIOError
from rio_tiler.constants import WGS84_CRS
from rio_tiler.expression import parse_expression
from rio_tiler.io import Reader
from rio_tiler.io.base import BaseReader
from rio_tiler.io.stac import DEFAULT_VALID_TYPE
from rio_tiler.models import ImageData
from rio_tiler.types import AssetInfo, AssetType
from rio_tiler.utils import cast_to_sequence, normalize_bounds
from starlette.requests import Request
from titiler.core.dependencies import DefaultDependency
from titiler.pgstac.reader import PgSTACReader, SimpleSTACReader

from catalog.access import readable_of
from objectstore import ObjectStore

from .budget import checkpoint
from .datasets import dataset_pool
from .errors import AssetNotFound, InvalidParameter, ReadTooLarge
from .nearest import nearest_tile
from .pointcloud import COPC_TYPE, CopcTileReader
from .transforms import transform_bounds, web_mercator_lonlat

__all__ = [
    "AllowList",
    "GTiffReader",
    "ItemReader",
    "MosaicItemReader",
    "StoreReaderParams",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AllowList:
    """The stores tiles may be read from; maps an href to a GDAL path or refuses it.

    ``readable``: the collections the caller may read (None: all). A store key's first segment
    is the collection its object belongs to (our layout); an item may not point into another
    collection's objects that its reader cannot read (an editor's own item naming a private
    collection's COG would otherwise render it), as for asset downloads.
    """

    stores: tuple[ObjectStore, ...] = ()
    readable: frozenset[str] | None = None

    def gdal_path(self, href: str | None) -> str:
        """The GDAL path of ``href`` if it lies inside one of the stores, in a collection the
        caller may read.

        Raises:
            AssetNotFound: for anything else (the reason is logged, not returned).
        """
        store, key = self.locate(href)
        return store.gdal_path(key)

    def locate(self, href: str | None) -> tuple[ObjectStore, str]:
        """The store and key of ``href`` under the same rules as :meth:`gdal_path` (readers
        that range-read through the store, such as COPC's, need these, not a GDAL path)."""
        if href:
            for store in self.stores:
                key = store.key_for_href(href)
                if key is None:
                    continue
                if self.readable is not None and key.split("/", 1)[0] not in self.readable:
                    raise AssetNotFound(f"href into a collection the caller cannot read: {key!r}")
                return store, key
        raise AssetNotFound(f"href outside the allowed stores: {href!r}")

    def for_caller(self, readable: set[str] | None) -> AllowList:
        return self if readable is None else replace(self, readable=frozenset(readable))


NO_STORES = AllowList()


#: Default for :attr:`GTiffReader.max_pixels`; the app sets it from its settings at start-up.
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024


def read_pixels(
    width: float, height: float, out_width: float, out_height: float, overviews: Sequence[int]
) -> int:
    """Source pixels GDAL reads for a ``width`` x ``height`` window resampled to ``out_width``
    x ``out_height``: it reads from the coarsest overview that is not coarser than the output
    (full resolution when there is none), so that is what is counted."""
    factor = min(width / max(out_width, 1.0), height / max(out_height, 1.0))
    level = max([1, *(o for o in overviews if o <= factor)])
    return math.ceil(width / level) * math.ceil(height / level)


@attr.s
class GTiffReader(Reader):
    """rio-tiler's Reader opening only GeoTIFFs, with band indexes checked before reading and
    every read bounded in source pixels (``max_pixels``) and time (:func:`checkpoint`).

    Missing objects, folders and non-GeoTIFF files all become :class:`AssetNotFound`.
    """

    #: Class-wide so titiler's factories (which create readers themselves) apply it.
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __attrs_post_init__(self) -> None:
        if self.dataset is None:
            # A pooled handle (tiler.datasets): GDAL keeps its blocks cached between tiles.
            try:
                key, self.dataset = dataset_pool.open(str(self.input))
            except (RasterioIOError, OSError) as exc:
                raise AssetNotFound(f"cannot open {self.input!r} as GeoTIFF: {exc}") from None
            self._ctx_stack.callback(dataset_pool.give_back, key, self.dataset)
            self._own = True
        super().__attrs_post_init__()

    def _check_indexes(self, kwargs: dict[str, Any]) -> None:
        indexes = cast_to_sequence(kwargs.get("indexes"))
        if indexes:
            count = self.dataset.count  # type: ignore[union-attr]  # set once opened
            for bidx in indexes:
                if not 1 <= int(bidx) <= count:
                    raise InvalidParameter("bidx", f"band {bidx} out of range 1..{count}")

    def _check_read(
        self, bounds: tuple[float, float, float, float] | None, bounds_crs: Any,
        width: int | None, height: int | None, max_size: int | None, buffer: float | None,
    ) -> None:
        """Refuse a read of more than ``max_pixels`` source pixels (see :func:`read_pixels`),
        and stop here if the request's time budget has passed."""
        checkpoint()
        ds = self.dataset
        assert ds is not None  # opened in __attrs_post_init__
        res_x, res_y = (abs(r) for r in ds.res)
        left, bottom, right, top = ds.bounds
        if bounds is not None:
            try:
                crs = CRS.from_user_input(bounds_crs) if bounds_crs is not None else ds.crs
                if crs != ds.crs:
                    bounds = transform_bounds(crs, ds.crs, *bounds, densify_pts=21)
            except (RasterioError, ValueError):
                return  # rio-tiler raises its own error for bounds it cannot transform
            x0, y0, x1, y1 = bounds
            left, right = max(left, min(x0, x1)), min(right, max(x0, x1))
            bottom, top = max(bottom, min(y0, y1)), min(top, max(y0, y1))
            if left >= right or bottom >= top:
                return  # outside the asset: rio-tiler answers that
        src_w, src_h = (right - left) / res_x, (top - bottom) / res_y
        if width and height:
            out_w, out_h = float(width), float(height)
        elif max_size:
            scale = max_size / max(src_w, src_h)
            out_w, out_h = src_w * min(scale, 1.0), src_h * min(scale, 1.0)
        else:
            out_w, out_h = src_w, src_h  # no output size: full resolution
        pad = 2 * (buffer or 0)
        pixels = read_pixels(src_w, src_h, out_w + pad, out_h + pad, ds.overviews(1))
        if pixels > self.max_pixels:
            raise ReadTooLarge(
                f"this request would read {pixels:,} source pixels from one asset (its "
                f"{ds.width}x{ds.height} pixels have {len(ds.overviews(1))} overview levels); "
                f"the limit is STACWORKS_TILES_MAX_PIXELS={self.max_pixels:,}: zoom in, ask "
                "for a smaller area, or add overviews to the file"
            )

    #: Whether this reader opened the dataset from ``input`` (so its overviews can be opened).
    _own: bool = False

    def tile(  # noqa: D102
        self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None = None,
        indexes: Any = None, expression: str | None = None, buffer: float | None = None,
        **kwargs: Any,
    ) -> Any:
        self._check_indexes({"indexes": indexes})
        options = {**self.options, **kwargs}
        if self._own and not buffer and _nearest_options(options):
            img = self._nearest_tile(tile_x, tile_y, tile_z, tilesize, indexes, expression,
                                     options.get("nodata"))
            if img is not None:
                return img
        return super().tile(tile_x, tile_y, tile_z, tilesize, indexes=indexes,
                            expression=expression, buffer=buffer, **kwargs)

    def _nearest_tile(self, tile_x: int, tile_y: int, tile_z: int, tilesize: int | None,
                      indexes: Any, expression: str | None, nodata: Any) -> ImageData | None:
        """The tile through :func:`tiler.nearest.nearest_tile` (None: not applicable there).

        rio-tiler's ``tile_exists`` and the pixel budget's estimate are not needed here: a
        tile outside the file, or a source window over the budget, goes back to rio-tiler,
        which raises for them (each cost two CRS transformations a read)."""
        checkpoint()
        matrix = self.tms.matrix(tile_z)
        width = height = tilesize
        if not tilesize:
            width, height = matrix.tileWidth, matrix.tileHeight
        bbox = tuple(self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z)))
        crs = self.tms.rasterio_crs
        bands = parse_expression(expression) if expression else cast_to_sequence(indexes)
        path = str(self.input)
        img = nearest_tile(
            self.dataset, bbox, crs, width, height, bands,  # type: ignore[arg-type]
            nodata, lambda level: dataset_pool.borrowed(path, level), self.max_pixels)
        if img is None:
            return None
        img.assets = [self.input]
        return img.apply_expression(expression) if expression else img

    def part(  # noqa: D102
        self, bbox: Any, *args: Any, **kwargs: Any
    ) -> Any:
        self._check_indexes(kwargs)
        bounds_crs = kwargs.get("bounds_crs", args[1] if len(args) > 1 else WGS84_CRS)
        self._check_read(
            tuple(bbox), bounds_crs, kwargs.get("width"), kwargs.get("height"),
            kwargs.get("max_size"), kwargs.get("buffer"),
        )
        return super().part(bbox, *args, **kwargs)

    def read(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        # preview and statistics read the whole asset through here
        self._check_read(
            None, None, kwargs.get("width"), kwargs.get("height"), kwargs.get("max_size"), None
        )
        return super().read(*args, **kwargs)

    def preview(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().preview(*args, **kwargs)

    def point(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        checkpoint()
        return super().point(*args, **kwargs)

    def feature(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().feature(*args, **kwargs)

    def statistics(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().statistics(*args, **kwargs)


def _nearest_options(options: dict[str, Any]) -> bool:
    """Whether a tile read with ``options`` can take :func:`tiler.nearest.nearest_tile`:
    nearest resampling, any nodata, and every other option unset (None, False or 0)."""
    for name, value in options.items():
        if name in ("resampling_method", "reproject_method"):
            if value != "nearest":
                return False
        elif name != "nodata" and value not in (None, False, 0):
            return False
    return True


def _guarded(info: AssetInfo, allow: AllowList) -> AssetInfo:
    if info.get("media_type") == COPC_TYPE:
        # Point clouds are read through the store by key (byte ranges), never by GDAL.
        store, key = allow.locate(info.get("url"))
        info["url"] = key
        info["reader_options"] = {**(info.get("reader_options") or {}), "store": store}
        info["env"] = {}
        return info
    info["url"] = allow.gdal_path(info.get("url"))
    # An href may carry GDAL options (file:header_size); never let it set anything else.
    env = info.get("env") or {}
    info["env"] = {k: v for k, v in env.items() if k == "GDAL_INGESTED_BYTES_AT_OPEN"}
    return info


def _reader_for(info: AssetInfo, default: type[BaseReader]) -> type[BaseReader]:
    """COPC assets are drawn by :class:`~tiler.pointcloud.CopcTileReader`, others as GeoTIFF."""
    return CopcTileReader if info.get("media_type") == COPC_TYPE else default


#: What the item reader lists as drawable assets: rio-tiler's raster types and COPC.
ITEM_ASSET_TYPES = frozenset({*DEFAULT_VALID_TYPE, COPC_TYPE})


class _LonLatTileCheck:
    """``tile_exists`` of an item (bounds in EPSG:4326) on Web Mercator by arithmetic.

    rio-tiler transforms the tile's box to the item's CRS through GDAL, 21 points a side and a
    new transformation each call (~0.2 ms, once per item of every tile and mosaic tile). On Web
    Mercator the meridians and parallels are the grid lines, so a tile's lon/lat box is exactly
    its corners' (the projection's closed-form inverse; morecantile would call PROJ for it); the
    comparison is rio-tiler's."""

    crs: CRS
    bounds: tuple[float, float, float, float]
    tms: Any

    def tile_exists(self, tile_x: int, tile_y: int, tile_z: int) -> bool:
        if self.tms.id != "WebMercatorQuad" or not (
                self.crs is WGS84_CRS or self.crs == WGS84_CRS):
            return super().tile_exists(tile_x, tile_y, tile_z)  # type: ignore[misc,no-any-return]
        xy = self.tms.xy_bounds(Tile(x=tile_x, y=tile_y, z=tile_z))
        w, s, e, n = web_mercator_lonlat((xy.left, xy.bottom, xy.right, xy.top))
        bw, bs, be, bn = normalize_bounds(self.bounds)
        return w < be and e > bw and n > bs and s < bn


@attr.s
class ItemReader(_LonLatTileCheck, PgSTACReader):
    """titiler.pgstac's item reader, restricted to the allow-list and to GeoTIFF or COPC."""

    include_asset_types: set[str] = attr.ib(factory=lambda: set(ITEM_ASSET_TYPES))

    reader: type[Reader] = attr.ib(default=GTiffReader)
    allowlist: AllowList = attr.ib(default=NO_STORES)

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        return _guarded(super()._get_asset_info(asset), self.allowlist)

    def _get_reader(self, asset_info: AssetInfo) -> type[BaseReader]:
        return _reader_for(asset_info, self.reader)


@attr.s
class MosaicItemReader(_LonLatTileCheck, SimpleSTACReader):
    """titiler.pgstac's mosaic item reader, restricted to the allow-list and to GeoTIFF or
    COPC."""

    reader: type[Reader] = attr.ib(default=GTiffReader)
    allowlist: AllowList = attr.ib(default=NO_STORES)

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        return _guarded(super()._get_asset_info(asset), self.allowlist)

    def _get_reader(self, asset_info: AssetInfo) -> type[BaseReader]:
        return _reader_for(asset_info, self.reader)


@dataclass(init=False)
class StoreReaderParams(DefaultDependency):
    """``reader_dependency``: hands the app's allow-list to the readers.

    A dataclass with a custom ``__init__`` (as titiler.pgstac's ``BackendParams``) so FastAPI
    injects the request while the OpenAPI document shows no parameter.
    """

    allowlist: AllowList = field(init=False)

    def __init__(self, request: Request) -> None:
        self.allowlist = request.app.state.allowlist.for_caller(readable_of(request))


def allowlist_for(stores: Sequence[ObjectStore]) -> AllowList:
    """An :class:`AllowList` of ``stores`` (the configured store by default)."""
    return AllowList(tuple(stores))
