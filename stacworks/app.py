"""The single-process app: every service mounted under its path, one lifespan driving them all.

Starlette does not run a mounted app's lifespan, so the root lifespan enters each mounted app's
own lifespan context (the STAC API's connection pools, the tiler's, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.access import Access, AccessSettings
from catalog.api import StacApiSettings, create_stac_app
from catalog.limits import LimitSettings, pool_wait_s
from catalog.settings import CatalogSettings
from stacworks.guard import (
    FailedAuthLimit,
    OutageShield,
    RequestLimits,
    install_outage_handlers,
    probe,
    readiness,
)

#: (catalog settings, the deployment's one access model) -> the service's app.
ServiceFactory = Callable[[CatalogSettings, Access], FastAPI]


class MountedAtRoot:
    """Make a mounted service see its mount path as its application root.

    Starlette keeps the outermost root path in ``app_root_path`` for ``request.base_url``;
    services that build absolute links (stac-fastapi, titiler) then drop the mount path.
    Setting it to the mount's ``root_path`` makes every link correct under /stac, /tiles, ...
    and behind a proxy that adds its own prefix. ``url_for`` likewise needs the service's router.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "app_root_path": scope.get("root_path", "")}
            # url_for must resolve names in the service's own router, not the root's.
            scope.pop("router", None)
        await self.app(scope, receive, send)


def _stac(settings: CatalogSettings, access: Access) -> FastAPI:
    return create_stac_app(settings, StacApiSettings(), access=access)


def _tiles(settings: CatalogSettings, access: Access) -> FastAPI:
    from tiler import TilerSettings, create_tiler_app

    return create_tiler_app(settings, TilerSettings(), access=access)


def _ingest(settings: CatalogSettings, access: Access) -> FastAPI:
    from ingest.api import create_ingest_app
    from tiler.render import add_default_renders

    return create_ingest_app(  # collections it creates get the tiler's render presets
        settings, on_new_collection=lambda dsn, cid: add_default_renders(dsn, only=[cid]),
        access=access,
    )


def _processes(settings: CatalogSettings, access: Access) -> FastAPI:
    from processing.jobs_api import create_processes_app

    return create_processes_app(settings, access=access)


def _assets(settings: CatalogSettings, access: Access) -> FastAPI:
    from catalog.access.assets import create_assets_app

    return create_assets_app(settings.dsn, access, home=settings.home)


def _admin(settings: CatalogSettings, access: Access) -> FastAPI:
    from catalog.access.admin import create_admin_app

    return create_admin_app(settings.dsn, access=access)


_WEB_DIST = Path(__file__).resolve().parents[1] / "web_map" / "dist"
_WEB_MISSING = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>stacworks</title>"
    "<h1>The web map is not built</h1><p>run make setup to build the web map "
    "(it writes <code>web_map/dist</code>), then reload this page.</p>"
    '<p>The STAC API is at <a href="stac/">stac/</a>.</p></html>'
)


def _web(settings: CatalogSettings, access: Access | None = None) -> FastAPI:
    """The web map's static build, or a page that says how to build it (checked per request)."""
    from starlette.responses import HTMLResponse
    from starlette.staticfiles import StaticFiles

    static = StaticFiles(directory=_WEB_DIST, html=True, check_dir=False)

    async def web(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not (_WEB_DIST / "index.html").is_file():
            await HTMLResponse(_WEB_MISSING, status_code=503)(scope, receive, send)
            return
        await static(scope, receive, send)

    app = FastAPI(title="stacworks web map", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/", web)
    return app


# Each service: (mount path, factory). Later parts add theirs here (tiles, processes, web map).
SERVICES: dict[str, tuple[str, ServiceFactory]] = {
    "stac": ("/stac", _stac),
    "ingest": ("/ingest", _ingest),
    "tiles": ("/tiles", _tiles),
    "processes": ("/processes", _processes),
    "admin": ("/admin", _admin),
    "assets": ("/assets", _assets),
    "web": ("/", _web),  # mounted last by create_app: "/" matches every path
}
# Services answering on several root paths with one instance (OGC API - Processes: /processes,
# /jobs, plus /workflows and /algorithms), routed on the full path.
ROOT_ROUTED: dict[str, tuple[str, ...]] = {
    "processes": ("/processes", "/jobs", "/workflows", "/algorithms", "/triggers"),
}


def create_app(
    settings: CatalogSettings | None = None,
    services: list[str] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """Mount the chosen services (all by default) in one ASGI app, sharing one access model
    (``STACWORKS_AUTH_*``: enabled unless set otherwise)."""
    settings = settings or CatalogSettings()
    access = access or Access(settings.dsn, AccessSettings())
    chosen = services or list(SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s) {sorted(unknown)}; choose from {sorted(SERVICES)}")
    apps = {name: SERVICES[name][1](settings, access) for name in chosen}
    for sub in apps.values():
        install_outage_handlers(sub)  # a database outage is a 503 from every service

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for sub in apps.values():
                await stack.enter_async_context(sub.router.lifespan_context(sub))
                _short_pool_wait(sub)
            yield

    root = FastAPI(title="stacworks", lifespan=lifespan, docs_url=None, redoc_url=None)
    for name, sub in apps.items():
        if SERVICES[name][0] == "/":
            continue  # below, after every other service and route
        if name in ROOT_ROUTED:
            from processing.jobs_api import RootPaths

            root.router.routes.append(
                RootPaths(ROOT_ROUTED[name], MountedAtRoot(OutageShield(sub))))
            continue
        root.mount(SERVICES[name][0], MountedAtRoot(OutageShield(sub)))

    @root.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (the database may be away: see /readyz)."""
        return {"status": "ok"}

    root.add_api_route("/readyz", readiness(probe(settings.dsn, lambda: _store(settings))),
                       include_in_schema=False)

    # "/stac" (no slash) is what people type and what some clients keep from a pasted URL: the
    # mounts only match "/stac/...", and the web map behind "/" would answer 404.
    for name in apps:
        prefix = SERVICES[name][0]
        if prefix != "/" and name not in ROOT_ROUTED:
            root.add_route(prefix, _to_slash, methods=["GET", "HEAD"], include_in_schema=False)

    if "web" not in apps:

        @root.get("/", include_in_schema=False)
        async def index() -> RedirectResponse:
            return RedirectResponse(url="/stac/")

    # Mounted at "/" last, so the web map shadows neither a service nor /healthz.
    for name, sub in apps.items():
        if SERVICES[name][0] == "/":
            root.mount("/", MountedAtRoot(sub))

    # Outermost: failed credentials per address, then what any one request may carry.
    root.add_middleware(RequestLimits, limits=LimitSettings())
    root.add_middleware(FailedAuthLimit, settings=access.settings)
    return root


async def _to_slash(request: Request) -> RedirectResponse:
    """A service's root without its trailing slash: a permanent redirect, query kept."""
    # Relative ("stac/"), so it holds behind a proxy that serves us under a prefix.
    query = request.url.query
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return RedirectResponse(url=f"{last}/" + (f"?{query}" if query else ""), status_code=308)


def _store(settings: CatalogSettings) -> Any:
    from objectstore import load_settings, store_from_settings

    return store_from_settings(load_settings(home=settings.home))


def _short_pool_wait(sub: FastAPI) -> None:
    """titiler.pgstac's pool waits 30 s for a connection by default: through an outage every
    tile request would hang that long before failing. Ours answer 503 after the pool wait."""
    from psycopg_pool import ConnectionPool

    pool = getattr(sub.state, "dbpool", None)
    if isinstance(pool, ConnectionPool):
        pool.timeout = pool_wait_s()


def create_app_from_env() -> FastAPI:
    """uvicorn --factory entry point (settings from STACWORKS_* variables)."""
    services = None
    import os

    if os.environ.get("STACWORKS_SERVICES"):
        services = [s for s in os.environ["STACWORKS_SERVICES"].split(",") if s]
    return create_app(CatalogSettings(), services)
