"""Asset downloads (``/assets``) under the same access rules as the STAC API and the tiles.

``GET /assets/{collection}/{item_id}/{asset_key}``:

1. the access middleware (:class:`AssetsPolicy`) lets the request through only when the caller
   may read ``collection`` (a key, an OIDC token, a share link for that collection, or a public
   collection);
2. the item is read from pgstac (hydrated) and the asset's href is mapped to a key of the
   configured object store with ``ObjectStore.key_for_href`` — the allow-list: an href outside
   the store (another bucket, ``/etc/passwd``, ``/vsicurl/``, ``http://...``) is never served;
   the key's own collection segment must be readable by the caller too, so an item in a
   readable collection cannot point into a hidden collection's objects;
3. S3: a 307 redirect to a presigned GET URL valid ``STACWORKS_ASSETS_URL_EXPIRES_S`` seconds;
   the local store: the file itself (Content-Type, Content-Length, ETag, Last-Modified,
   ``Range`` / ``If-Range`` through Starlette's ``FileResponse``, ``If-None-Match`` -> 304).

Everything that cannot be served — a hidden or missing collection, a missing item or asset, an
href outside the store or into a hidden collection, a missing object — is one 404 with one
body (:data:`ASSET_NOT_FOUND`): no existence oracle.

The tiler does not import this module (it reads from the store itself).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from psycopg_pool import ConnectionPool
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from catalog.limits import pool_wait_s
from objectstore import (
    LocalStore,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StoreError,
    StoreUnavailable,
    load_settings,
    store_from_settings,
)

from .middleware import (
    Access,
    AccessMiddleware,
    Denied,
    RequestInfo,
    readable_of,
)
from .policies import require_collection

__all__ = [
    "ASSET_NOT_FOUND", "AssetsFactory", "AssetsPolicy", "AssetsSettings", "create_assets_app",
]

log = logging.getLogger(__name__)

#: The one body of every asset that cannot be served (whatever the reason; see module doc).
ASSET_NOT_FOUND = "Asset not found."
_NOT_FOUND_BODY = {"code": "NotFoundError", "description": ASSET_NOT_FOUND}

_ANY_COLLECTION = re.compile(r"^/([^/]+)(?:/.*)?$")
#: The service's own documents (not collections).
_SERVICE_PATHS = frozenset({"/", "/api", "/api.html"})
#: Media types a browser would render or run from our origin: served as octet-stream instead.
_ACTIVE_TYPE = re.compile(r"html|xml|svg|javascript|ecmascript|css|pdf|multipart", re.I)
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*"
                         r"(?:\s*;\s*[A-Za-z0-9_.+-]+=[A-Za-z0-9_.+\-\"]+)*$")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._~+=,@:-]")


class AssetsSettings(BaseSettings):
    """Asset downloads (env prefix ``STACWORKS_ASSETS_``)."""

    model_config = SettingsConfigDict(env_prefix="STACWORKS_ASSETS_", extra="ignore")

    url_expires_s: int = Field(
        default=600, ge=1, le=7 * 24 * 3600,
        description="Lifetime of the presigned S3 URLs downloads redirect to (seconds).",
    )
    db_max_conn: int = Field(default=4, ge=1, description="Catalog connections for item reads.")


class NotServable(Exception):
    """The asset cannot be served; ``reason`` goes to the log only, never to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def not_found() -> JSONResponse:
    return JSONResponse(_NOT_FOUND_BODY, status_code=404)


@dataclass
class AssetsPolicy:
    """Every path names a collection first: the caller must read it, else the stable 404."""

    def rate_bucket(self, method: str, path: str) -> str | None:
        return None

    def wants_body(self, method: str, path: str) -> bool:
        return False

    def search_scope(self, path: str) -> str | None:
        return None

    def check(self, info: RequestInfo) -> None:
        if info.path in _SERVICE_PATHS:
            return
        m = _ANY_COLLECTION.match(info.path)
        if m:  # any method: a 405 on a hidden collection's path would be an oracle too
            require_collection(info, m.group(1), write=False)

    def error(self, denied: Denied) -> Response:
        if denied.status == 404:
            return not_found()  # same body as a missing asset, whatever the middleware says
        codes = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}
        return JSONResponse({"code": codes.get(denied.status, "Error"),
                             "description": denied.message}, status_code=denied.status)


class _Items:
    """Hydrated item reads from pgstac on a small pool, opened on first use."""

    def __init__(self, dsn: str, max_size: int) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.dsn, min_size=0, max_size=self.max_size, open=True,
                    timeout=pool_wait_s(), kwargs={"autocommit": True},
                )
            return self._pool

    def get(self, collection: str, item_id: str) -> dict[str, Any] | None:
        with self._get_pool().connection() as conn:
            row = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection)).fetchone()
        item = row[0] if row else None
        return item if isinstance(item, dict) else None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _media_type(asset: dict[str, Any], key: str) -> str:
    declared = asset.get("type")
    if (isinstance(declared, str) and len(declared) <= 200 and _MEDIA_TYPE.match(declared)
            and not _ACTIVE_TYPE.search(declared)):
        return declared
    import mimetypes

    guessed, _ = mimetypes.guess_type(key)
    if guessed and not _ACTIVE_TYPE.search(guessed):
        return guessed
    return "application/octet-stream"


def _download_headers(key: str, info: ObjectInfo) -> dict[str, str]:
    name = _UNSAFE_FILENAME.sub("_", key.rsplit("/", 1)[-1]) or "asset"
    return {
        "etag": f'"{info.etag}"',
        "content-disposition": f'attachment; filename="{name}"',
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        # Revalidate every time: the check (and the access rules) run again on each request.
        "cache-control": "no-cache",
    }


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


@dataclass
class AssetsFactory:
    """The download service as one object: creating it registers the routes on ``router``;
    :meth:`create_app` serves them with the access middleware and the store's error mapping.

    Seams:
        items: where items are read (pgstac through a small pool; any object with ``get``).
        store: the object store assets are served from (the allow-list of hrefs).
        settings: ``STACWORKS_ASSETS_*``.
        router: where the routes go; include it in another app to compose a service.
    """

    items: _Items
    store: ObjectStore
    settings: AssetsSettings
    router: APIRouter = field(default_factory=APIRouter)

    def __post_init__(self) -> None:
        self.local = isinstance(self.store, LocalStore)
        route = "/{collection}/{item_id}/{asset_key}"
        responses: dict[int | str, dict[str, Any]] = {
            200: {"description": "The asset's bytes (local store)."},
            206: {"description": "A byte range of the asset (local store)."},
            304: {"description": "Not modified (If-None-Match)."},
            307: {"description": "Redirect to a presigned URL (S3)."},
            404: {"description": "Not found, hidden, or not servable."},
        }
        summary = "Download an asset (a presigned redirect on S3, the file otherwise)"
        # Two routes, not one api_route: each method needs its own OpenAPI operation id.
        self.router.get(route, summary=summary, responses=responses,
                        operation_id="downloadAsset")(self.download)
        self.router.head(route, summary=summary, responses=responses,
                         operation_id="headAsset")(self.download)

    def resolve(self, request: Request, collection: str, item_id: str, asset_key: str
                ) -> tuple[str, dict[str, Any], ObjectInfo]:
        """(store key, asset, object info) or :class:`NotServable`."""
        if any("\x00" in v for v in (collection, item_id, asset_key)):
            raise NotServable("NUL in the path")
        item = self.items.get(collection, item_id)
        if item is None:
            raise NotServable("no such item")
        assets = item.get("assets")
        asset = assets.get(asset_key) if isinstance(assets, dict) else None
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str):
            raise NotServable("no such asset")
        key = self.store.key_for_href(href)
        if key is None:
            raise NotServable(f"href outside the store: {href!r}")
        owner = key.split("/", 1)[0]
        readable = readable_of(request)
        if owner != collection and readable is not None and owner not in readable:
            raise NotServable(f"href into a collection the caller cannot read: {owner!r}")
        try:
            info = self.store.stat(key)
        except ObjectNotFound:
            raise NotServable(f"no object at {key!r}") from None
        return key, asset, info  # type: ignore[return-value]

    def download(self, request: Request, collection: str, item_id: str, asset_key: str
                 ) -> Response:
        try:
            key, asset, info = self.resolve(request, collection, item_id, asset_key)
        except NotServable as exc:
            log.info("asset %s/%s/%s not served: %s", collection, item_id, asset_key, exc.reason)
            return not_found()
        except StoreUnavailable:
            raise
        except StoreError as exc:  # misconfiguration, refused credentials: logged, stable body
            log.warning("asset %s/%s/%s: store error: %s", collection, item_id, asset_key, exc)
            return JSONResponse({"code": "Error", "description": "Internal server error."},
                                status_code=500)
        url = None if self.local else self.store.download_url(key, self.settings.url_expires_s)
        if url is not None:
            # Per-request signature: never cached, never stored by a shared cache.
            return Response(status_code=307, headers={"location": url,
                                                      "cache-control": "no-store"})
        headers = _download_headers(key, info)
        if _etag_matches(request.headers.get("if-none-match"), headers["etag"]):
            return Response(status_code=304, headers={k: headers[k]
                                                      for k in ("etag", "cache-control")})
        media_type = _media_type(asset, key)
        if self.local:
            return FileResponse(self.store.gdal_path(key), media_type=media_type,
                                headers=headers)
        return _stream(self.store, key, info, media_type, headers)

    def create_app(self, access: Access) -> FastAPI:
        """The service alone (``stacworks serve`` mounts it under ``/assets``)."""
        items = self.items

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            try:
                yield
            finally:
                items.close()

        app = FastAPI(title="stacworks assets", description="Downloads of catalog assets.",
                      openapi_url="/api", docs_url="/api.html", redoc_url=None,
                      lifespan=lifespan)
        app.add_exception_handler(StoreUnavailable, _unavailable)  # type: ignore[arg-type]
        app.include_router(self.router)
        # The one access middleware of this service, like every other service's.
        app.add_middleware(AccessMiddleware, access=access, policy=AssetsPolicy())
        return app


async def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    log.warning("asset download: store unavailable: %s", exc)
    return JSONResponse({"code": "StoreUnavailable",
                         "description": "The object store is unavailable; retry later."},
                        status_code=503, headers={"Retry-After": "5"})


def create_assets_app(
    dsn: str,
    access: Access,
    *,
    store: ObjectStore | None = None,
    settings: AssetsSettings | None = None,
    home: Any = None,
) -> FastAPI:
    """Build the download service (see :class:`AssetsFactory`).

    Args:
        dsn: the catalog database.
        access: the deployment's access model (its middleware is attached here).
        store: the object store to serve from (default: the configured one, ``STACWORKS_STORE``).
        settings: ``STACWORKS_ASSETS_*`` when None.
        home: the data folder a default local store lives in (``STACWORKS_HOME``).
    """
    cfg = settings or AssetsSettings()
    if store is None:
        store = store_from_settings(load_settings(home=home) if home is not None else None)
    factory = AssetsFactory(items=_Items(dsn, cfg.db_max_conn), store=store, settings=cfg)
    return factory.create_app(access)


def _stream(store: ObjectStore, key: str, info: ObjectInfo, media_type: str,
            headers: dict[str, str]) -> Response:
    """A store without URLs of its own and without a file path: stream ``store.open``."""
    def chunks() -> Iterator[bytes]:
        with store.open(key) as f:
            while chunk := f.read(1024 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type,
                             headers={**headers, "content-length": str(info.size)})
