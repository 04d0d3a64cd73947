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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import attr
import rasterio
from rasterio.errors import RasterioIOError
from rio_tiler.io import Reader
from rio_tiler.types import AssetInfo, AssetType
from rio_tiler.utils import cast_to_sequence
from starlette.requests import Request
from titiler.core.dependencies import DefaultDependency
from titiler.pgstac.reader import PgSTACReader, SimpleSTACReader

from catalog.access import readable_of
from objectstore import SAFE_RASTER_DRIVER, ObjectStore

from .errors import AssetNotFound, InvalidParameter

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
        if href:
            for store in self.stores:
                key = store.key_for_href(href)
                if key is None:
                    continue
                if self.readable is not None and key.split("/", 1)[0] not in self.readable:
                    raise AssetNotFound(f"href into a collection the caller cannot read: {key!r}")
                return store.gdal_path(key)
        raise AssetNotFound(f"href outside the allowed stores: {href!r}")

    def for_caller(self, readable: set[str] | None) -> AllowList:
        return self if readable is None else replace(self, readable=frozenset(readable))


NO_STORES = AllowList()


@attr.s
class GTiffReader(Reader):
    """rio-tiler's Reader opening only GeoTIFFs, with band indexes checked before reading.

    Missing objects, folders and non-GeoTIFF files all become :class:`AssetNotFound`.
    """

    def __attrs_post_init__(self) -> None:
        if self.dataset is None:
            try:
                self.dataset = self._ctx_stack.enter_context(
                    rasterio.open(self.input, driver=SAFE_RASTER_DRIVER)
                )
            except RasterioIOError as exc:
                raise AssetNotFound(f"cannot open {self.input!r} as GeoTIFF: {exc}") from None
        super().__attrs_post_init__()

    def _check_indexes(self, kwargs: dict[str, Any]) -> None:
        indexes = cast_to_sequence(kwargs.get("indexes"))
        if indexes:
            count = self.dataset.count  # type: ignore[union-attr]  # set once opened
            for bidx in indexes:
                if not 1 <= int(bidx) <= count:
                    raise InvalidParameter("bidx", f"band {bidx} out of range 1..{count}")

    def tile(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().tile(*args, **kwargs)

    def part(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().part(*args, **kwargs)

    def preview(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().preview(*args, **kwargs)

    def point(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().point(*args, **kwargs)

    def feature(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().feature(*args, **kwargs)

    def statistics(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        self._check_indexes(kwargs)
        return super().statistics(*args, **kwargs)


def _guarded(info: AssetInfo, allow: AllowList) -> AssetInfo:
    info["url"] = allow.gdal_path(info.get("url"))
    # An href may carry GDAL options (file:header_size); never let it set anything else.
    env = info.get("env") or {}
    info["env"] = {k: v for k, v in env.items() if k == "GDAL_INGESTED_BYTES_AT_OPEN"}
    return info


@attr.s
class ItemReader(PgSTACReader):
    """titiler.pgstac's item reader, restricted to the allow-list and to GeoTIFF."""

    reader: type[Reader] = attr.ib(default=GTiffReader)
    allowlist: AllowList = attr.ib(default=NO_STORES)

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        return _guarded(super()._get_asset_info(asset), self.allowlist)


@attr.s
class MosaicItemReader(SimpleSTACReader):
    """titiler.pgstac's mosaic item reader, restricted to the allow-list and to GeoTIFF."""

    reader: type[Reader] = attr.ib(default=GTiffReader)
    allowlist: AllowList = attr.ib(default=NO_STORES)

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        return _guarded(super()._get_asset_info(asset), self.allowlist)


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
