"""The tile service: titiler.pgstac's item, collection and search factories on our seams.

What we change over titiler.pgstac's own ``main`` app (which builds itself at import from
``TITILER_PGSTAC_*`` variables, so we compose the factories instead of importing it):

- readers open only objects of our store, only as GeoTIFF (:mod:`tiler.readers`); there is no
  ``/external`` or ``url=`` endpoint at all;
- request limits on every route (:mod:`tiler.guards`), and our versions of the parameter
  dependencies that let malformed input through as a 500 (:mod:`tiler.params`);
- a collection's default render draws requests that name no assets (:mod:`tiler.render`);
- Cache-Control by kind, ETag and 304 (:mod:`tiler.caching`);
- one error vocabulary with stable messages (:mod:`tiler.errors`);
- WMTS capabilities with one ``{TileMatrixSet}`` template per layer, per resource and for the
  whole catalog (:mod:`tiler.wmts`), and OGC WMS 1.3.0 at ``/wms`` (:mod:`tiler.wms`), both
  listing only layers that draw from the store (:mod:`tiler.layers`);
- ``/renders`` of items that never 500 on a preset's shape (:mod:`tiler.renders_api`).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import jinja2
import morecantile
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from morecantile.defaults import TileMatrixSets
from rio_tiler.colormap import cmap as default_cmap
from rio_tiler.errors import InvalidColorFormat
from starlette.middleware.cors import CORSMiddleware
from starlette.templating import Jinja2Templates
from starlette_cramjam.middleware import CompressionMiddleware
from titiler.core.dependencies import ColorMapParams
from titiler.core.factory import (
    AlgorithmFactory,
    ColorMapFactory,
    MultiBaseTilerFactory,
    TMSFactory,
)
from titiler.pgstac.db import close_db_connection, connect_to_db
from titiler.pgstac.dependencies import ItemIdParams
from titiler.pgstac.extensions import searchInfoExtension
from titiler.pgstac.factory import (
    MosaicTilerFactory,
    add_search_list_route,
    add_search_register_route,
)
from titiler.pgstac.settings import PostgresSettings

from catalog.access import Access, AccessMiddleware
from catalog.asset_links import AssetHrefsMiddleware, AssetLinks
from catalog.settings import CatalogSettings
from objectstore import LocalStore, ObjectStore, StoreSettings, apply_gdal_env, load_settings
from objectstore import store_from_settings as _store_from_settings

from .access import TilesPolicy, search_id_params
from .budget import TimeBudgetMiddleware, resume_work, stop_all_work
from .caching import HttpCacheMiddleware
from .datasets import configure_datasets, dataset_pool
from .errors import InvalidParameter, add_error_handlers
from .guards import registered_search_params, request_limits
from .layers import CatalogLayers
from .params import (
    PgSTACLimits,
    collection_id_params,
    feature_body_limits,
    post_process_params,
)
from .pixel_selection import pixel_selection_params
from .pointcloud import configure as configure_pointclouds
from .readers import AllowList, GTiffReader, ItemReader, MosaicItemReader, StoreReaderParams
from .render import RenderCatalog, RenderDefaultsMiddleware
from .renders_api import RendersExtension
from .settings import TilerSettings
from .threads import shared_read_pool
from .transforms import memoized_transforms
from .wms import wms_router
from .wmts import WmtsExtension, catalog_wmts_router

__all__ = ["colormap_params", "create_tiler_app"]

#: titiler's item lists: the items (with their assets) behind a bbox, point or tile.
ITEM_LISTS = re.compile(r"/(?:bbox/[^/]+|point/[^/]+|tiles/[^/]+/\d+/\d+/\d+)/assets$")
_IMAGE_MEDIA = {"image/jpeg", "image/jpg", "image/png", "image/jp2", "image/webp", "image/tiff"}

_templates = Jinja2Templates(
    env=jinja2.Environment(
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        loader=jinja2.ChoiceLoader([
            jinja2.PackageLoader("titiler.pgstac", "templates"),
            jinja2.PackageLoader("titiler.core", "templates"),
        ]),
    )
)


def colormap_params(
    colormap_name: Annotated[
        Literal[tuple(default_cmap.list())] | None,  # type: ignore[valid-type]
        Query(description="Colormap name"),
    ] = None,
    colormap: Annotated[
        str | None, Query(description="JSON encoded custom colormap {value: [r,g,b,a]}")
    ] = None,
) -> Any:
    """titiler's colormap dependency, with every parse failure a 400 naming ``colormap``.

    titiler's own raises a 500 for a non-integer key and a message without the parameter.
    """
    try:
        return ColorMapParams(colormap_name=colormap_name, colormap=colormap)
    except (HTTPException, InvalidColorFormat, ValueError, TypeError, KeyError) as exc:
        raise InvalidParameter("colormap", "expected JSON {value: color} or intervals") from exc


def _supported_tms(ids: Sequence[str]) -> TileMatrixSets:
    return TileMatrixSets({tms_id: morecantile.tms.get(tms_id) for tms_id in ids})


def create_tiler_app(
    catalog_settings: CatalogSettings,
    tiler_settings: TilerSettings | None = None,
    *,
    store_settings: StoreSettings | None = None,
    stores: Sequence[ObjectStore] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """Build the tile service (mount it under ``/tiles`` or serve it alone).

    Args:
        catalog_settings: where the catalog database is.
        tiler_settings: limits, caching, TileMatrixSets (``STACWORKS_TILES_*`` when None).
        store_settings: the object store and GDAL options (``STACWORKS_*`` when None, with the
            catalog's data folder).
        stores: the stores tiles may be read from (default: the configured store).
        access: the access model (default: ``STACWORKS_AUTH_*`` on the catalog database).
    """
    access = access or Access(catalog_settings.dsn)
    settings = tiler_settings or TilerSettings()
    store_cfg = store_settings or load_settings(home=catalog_settings.home)
    allowed = AllowList(tuple(stores) if stores is not None else (_store_from_settings(store_cfg),))
    supported = _supported_tms(settings.tile_matrix_sets)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # GDAL reads its options from the process environment on every open, in every thread.
        apply_gdal_env(store_cfg)
        _bound_reads(settings)
        with shared_read_pool(read_threads(settings, allowed.stores)), memoized_transforms():
            await connect_to_db(
                app,
                settings=PostgresSettings(
                    database_url=catalog_settings.dsn,  # type: ignore[arg-type]  # parsed
                    db_min_conn_size=settings.db_min_conn,
                    db_max_conn_size=settings.db_max_conn,
                ),
            )
            pruning = asyncio.create_task(_prune_datasets(settings.dataset_idle_s))
            try:
                yield
            finally:
                pruning.cancel()
                stop_all_work()  # reads still running for a request stop at their next one
                await close_db_connection(app)
                dataset_pool.clear()

    app = FastAPI(
        title=settings.title,
        description="Dynamic tiles of the stacworks catalog: items, collections, searches.",
        openapi_url="/api",
        docs_url="/api.html",
        lifespan=lifespan,
        # Limits apply to every route, whichever factory or extension created it.
        dependencies=[Depends(request_limits(settings, supported)), Depends(feature_body_limits)],
    )
    app.state.allowlist = allowed
    renders = RenderCatalog(app)
    add_error_handlers(app)

    common: dict[str, Any] = {
        "supported_tms": supported,
        "colormap_dependency": colormap_params,
        "process_dependency": post_process_params,
        "reader_dependency": StoreReaderParams,
        "templates": _templates,
    }
    mosaic_common: dict[str, Any] = {
        **common,
        "dataset_reader": MosaicItemReader,
        "get_renders": renders.for_mosaic,
        "assets_accessor_dependency": PgSTACLimits,  # pgstac's ranges: not a 500 past them
        "pixel_selection_dependency": pixel_selection_params,  # a faster mean
        "add_statistics": True,
        "add_viewer": True,
        "add_part": True,
        "extensions": [searchInfoExtension(), WmtsExtension(settings=settings, mosaic=True)],
    }

    searches = MosaicTilerFactory(
        path_dependency=search_id_params, router_prefix="/searches/{search_id}", **mosaic_common
    )
    app.include_router(searches.router, tags=["STAC Search"], prefix="/searches/{search_id}")
    add_search_list_route(app, prefix="/searches", tags=["STAC Search"])
    add_search_register_route(
        app,
        prefix="/searches",
        search_dependency=registered_search_params,  # a malformed query is a 400, not a 500
        tile_dependencies=[
            searches.layer_dependency, searches.dataset_dependency,
            searches.pixel_selection_dependency, searches.process_dependency,
            searches.render_dependency, searches.assets_accessor_dependency,
            searches.reader_dependency, searches.backend_dependency,
        ],
        tags=["STAC Search"],
    )

    collections = MosaicTilerFactory(
        path_dependency=collection_id_params,  # a malformed filter/query/sortby is a 400
        router_prefix="/collections/{collection_id}",
        **mosaic_common,
    )
    # Item routes first: /collections/{c}/items/{i}/... must not be taken for a collection's.
    items = MultiBaseTilerFactory(
        reader=ItemReader,
        path_dependency=ItemIdParams,
        router_prefix="/collections/{collection_id}/items/{item_id}",
        add_viewer=True,
        get_renders=renders.for_item,
        extensions=[WmtsExtension(settings=settings), RendersExtension(catalog=renders)],
        **common,
    )
    app.include_router(
        items.router, tags=["STAC Item"], prefix="/collections/{collection_id}/items/{item_id}"
    )
    app.include_router(
        collections.router, tags=["STAC Collection"], prefix="/collections/{collection_id}"
    )
    app.include_router(TMSFactory(supported_tms=supported, templates=_templates).router,
                       tags=["Tiling Schemes"])
    app.include_router(ColorMapFactory(templates=_templates).router, tags=["ColorMaps"])
    app.include_router(AlgorithmFactory(templates=_templates).router, tags=["Algorithms"])
    layers = CatalogLayers(allowed.stores, settings, ttl=settings.layer_check_ttl_s)
    app.include_router(catalog_wmts_router(settings, supported, layers))
    app.include_router(wms_router(settings, layers))
    _add_service_routes(app)

    # Outermost last: CORS, then caching (it sees the final body), render defaults, compression.
    # Innermost: a request past its time budget is a 503 and its reads stop (tiler.budget).
    app.add_middleware(TimeBudgetMiddleware, seconds=settings.time_budget_s)
    # Item lists (``.../assets``) name assets as the STAC API does: /assets URLs, no server path.
    store = allowed.stores[0] if allowed.stores else None
    app.add_middleware(AssetHrefsMiddleware, paths=ITEM_LISTS,
                       links=AssetLinks.from_settings(store))
    app.add_middleware(CompressionMiddleware, exclude_mediatype=_IMAGE_MEDIA)
    app.add_middleware(RenderDefaultsMiddleware, catalog=renders)
    app.add_middleware(
        HttpCacheMiddleware,
        images=settings.cache_control,
        documents=settings.cache_control_metadata,
    )
    # Outside the cache (a refusal is never cached), inside CORS (it still carries its headers).
    app.add_middleware(AccessMiddleware, access=access, policy=TilesPolicy())
    if settings.cors_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_list,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )
    return app


def read_threads(settings: TilerSettings, stores: Sequence[ObjectStore]) -> int:
    """``STACWORKS_TILES_READ_THREADS``, or its default for ``stores``: local files are read
    with the GIL held for most of each read (measured: ten mosaic reads took 15.7 ms one after
    another, 16.2 ms on 2 threads and 22.4 ms on 8, on 2 cores), S3 objects mostly wait on the
    network."""
    if settings.read_threads:
        return settings.read_threads
    if stores and all(isinstance(s, LocalStore) for s in stores):
        return max(1, min(os.cpu_count() or 1, 8))
    return 8


async def _prune_datasets(idle_s: float) -> None:
    """Close GeoTIFF handles idle past ``idle_s`` even when no tile comes to do it."""
    while True:
        await asyncio.sleep(max(idle_s / 2, 1.0))
        dataset_pool.prune()


def _bound_reads(settings: TilerSettings) -> None:
    """Apply the per-read pixel limit and GDAL's block cache size (read by GDAL at its first
    block read; an operator's own GDAL_CACHEMAX wins). GDAL's HTTP timeouts come with the
    store's settings (objectstore.gdal)."""
    GTiffReader.max_pixels = settings.max_pixels
    configure_datasets(settings.open_datasets, settings.dataset_idle_s)
    configure_pointclouds(max_points=settings.max_points,
                          node_cache_bytes=settings.pointcloud_cache_mb * 1024 * 1024,
                          fill_pixels=settings.dtm_fill_pixels,
                          hierarchy_bytes=settings.copc_max_hierarchy_mb * 1024 * 1024)
    os.environ.setdefault("GDAL_CACHEMAX", str(settings.gdal_cache_mb))
    _pin_data_paths()
    resume_work()


def _pin_data_paths() -> None:
    """GDAL_DATA and PROJ_DATA, as rasterio finds them, set once: unset, every ``rasterio.Env``
    entry and exit (several per tile) looks for them again with ``os.path.exists``, and under
    a busy GIL each of those syscalls waits for its turn again. pyproj keeps its own data
    (its bundled directory comes before PROJ_DATA); an operator's own values win."""
    from rasterio.env import GDALDataFinder, PROJDataFinder

    for name, finder in (("GDAL_DATA", GDALDataFinder), ("PROJ_DATA", PROJDataFinder)):
        if name not in os.environ:
            found = finder().search()
            if found:
                os.environ[name] = found


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/", tags=["Service"], operation_id="getLanding")
    def landing(request: Request) -> dict[str, Any]:
        """Links to what the tile service offers."""
        base = str(request.base_url)
        links: list[tuple[str, str, str]] = [
            ("self", "", "application/json"),
            ("service-desc", "api", "application/vnd.oai.openapi+json;version=3.0"),
            ("service-doc", "api.html", "text/html"),
            ("wmts", "WMTSCapabilities.xml", "application/xml"),
            ("wms", "wms?SERVICE=WMS&REQUEST=GetCapabilities", "text/xml"),
            ("data", "searches/", "application/json"),
            ("http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "tileMatrixSets",
             "application/json"),
        ]
        return {
            "title": app.title,
            "links": [{"rel": r, "href": base + h, "type": t} for r, h, t in links],
        }

    @app.get("/healthz", tags=["Service"], operation_id="getHealth")
    def healthz(request: Request) -> dict[str, Any]:
        """Whether the catalog database answers."""
        try:
            with request.app.state.dbpool.connection(1) as conn:
                conn.execute("SELECT 1")
            online = True
        except Exception:  # any failure means "not online"; details are for the log
            online = False
        return {"database_online": online}


def app_from_env() -> FastAPI:
    """uvicorn --factory entry point for the tile service alone."""
    return create_tiler_app(CatalogSettings(), TilerSettings())

