"""The STAC API: stac-fastapi-pgstac with our fixes, built by one factory whose parts are seams.

What we change over stock stac-fastapi-pgstac, and why:
- Query extension: every spec operator (startsWith, endsWith, contains, in too), translated to
  CQL2 in our layer (:mod:`catalog.query`), and combinable with ``filter``.
- Fields extension: GET responses keep ``application/geo+json``; ``{"fields": null}`` is a 400.
- Transactions: items posted without ``links`` are accepted (links are the server's to write).
- Bad input: request-level checks (:mod:`catalog.validation`) answer 400 naming the field.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
import cql2
from brotli_asgi import BrotliMiddleware
from fastapi import APIRouter, FastAPI, Request
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.middleware import ProxyHeaderMiddleware
from stac_fastapi.api.models import (
    EmptyRequest,
    ItemCollectionUri,
    JSONResponse,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import BulkTransactionExtension, TransactionExtension
from stac_fastapi.extensions import QueryExtension as BaseQueryExtension
from stac_fastapi.extensions.free_text import FreeTextConformanceClasses
from stac_fastapi.extensions.query import QueryConformanceClasses
from stac_fastapi.pgstac.config import PostgresSettings
from stac_fastapi.pgstac.config import Settings as PgstacApiSettings
from stac_fastapi.pgstac.core import CoreCrudClient, health_check
from stac_fastapi.pgstac.db import close_db_connection, connect_to_db
from stac_fastapi.pgstac.extensions import FreeTextExtension
from stac_fastapi.pgstac.models.extensions import Extensions
from stac_fastapi.pgstac.types.search import PgstacSearch
from stac_fastapi.types.errors import InvalidQueryParameter
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from catalog.access import NO_COLLECTION, Access, AccessMiddleware, StacPolicy, readable_of
from catalog.errors import InvalidInput
from catalog.query import and_filters, check_cql2, query_to_cql2
from catalog.queryables import filter_terms, known_terms
from catalog.settings import CatalogSettings
from catalog.transactions import CatalogBulkTransactionsClient, CatalogTransactionsClient
from catalog.validation import RequestValidationMiddleware, add_error_handlers

GEOJSON = "application/geo+json"
__version__ = "0.1.0"


class StacApiSettings(BaseSettings):
    """STAC API options (env prefix STACWORKS_STAC_)."""

    model_config = SettingsConfigDict(env_prefix="STACWORKS_STAC_", extra="ignore")

    title: str = "stacworks"
    description: str = "The stacworks catalog: every scene, LiDAR tile and processing output."
    transactions: bool = Field(default=True, description="Enable (bulk) transactions.")
    max_limit: int = Field(default=10_000, ge=1, description="Largest accepted page size.")
    cors_origins: str = "*"
    db_min_conn: int = 1
    db_max_conn: int = 10


DEFAULT_FIELDS = (
    "type",
    "stac_version",
    "id",
    "geometry",
    "bbox",
    "links",
    "assets",
    "properties.datetime",
)


def _fields_rules(fields: dict[str, Any]) -> dict[str, Any]:
    """The Fields extension's rules that pgstac leaves to the API.

    - ``include`` given as null/[] with an ``exclude``: exclude from the *default* set;
    - ``exclude`` alone: every other field stays (pgstac's behaviour, unchanged);
    - a non-empty ``include`` keeps ``type`` so the result is still GeoJSON.
    """
    include, exclude = fields.get("include"), fields.get("exclude") or []
    if "include" in fields and not include and exclude:
        return {"include": [f for f in DEFAULT_FIELDS if f not in exclude], "exclude": exclude}
    if include and "type" not in include and "type" not in exclude:
        return {**fields, "include": [*include, "type"]}
    return fields


class StacworksSearch(PgstacSearch):
    """POST /search body: `query` beside `filter`, CQL2 text filters, no explicit null `fields`."""

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "fields" in data and data["fields"] is None:
            raise ValueError("fields: must be an object with include/exclude, not null")
        if isinstance(data.get("fields"), dict):
            data = {**data, "fields": _fields_rules(data["fields"])}
        if isinstance(data.get("collections"), str):
            # Lenient: a single id sent as a string (the conformance validator does this).
            data = {**data, "collections": [data["collections"]]}
        # pystac-client and QGIS POST cql2-text too; the filter conformance allows it.
        if (
            isinstance(data.get("filter"), str)
            and data.get("filter-lang", "cql2-text") == "cql2-text"
        ):
            try:
                expr = cql2.Expr(data["filter"])  # syntax; the JSON is checked in the search
            except Exception as e:  # cql2 raises bare exceptions on parse errors
                raise ValueError(f"filter: invalid CQL2 text ({e})") from None
            data = {**data, "filter": expr.to_json(), "filter-lang": "cql2-json"}
        return data

    # Same name as PgstacSearch's validator that refuses query with filter-lang: we combine them.
    @classmethod
    def validate_query_uses_cql(cls, v: str, info: Any) -> str:  # type: ignore[override]
        return v


def _filter_as_json(search: Any) -> dict[str, Any] | None:
    expr = getattr(search, "filter_expr", None)
    if expr is None:
        return None
    if isinstance(expr, str):
        try:
            return cql2.Expr(expr).to_json()
        except Exception as e:  # cql2 raises bare exceptions on parse errors
            raise InvalidInput("filter", f"invalid CQL2 text: {e}") from None
    return expr


def _sort_terms(search: Any) -> list[str]:
    terms = []
    for s in getattr(search, "sortby", None) or []:
        field = s.field if hasattr(s, "field") else s.get("field", "")
        terms.append(field.removeprefix("properties."))
    return terms


@contextmanager
def translate_search_errors() -> Iterator[None]:
    """pgstac raises on bad terms/expressions: those are the client's fault, so 400."""
    try:
        yield
    except asyncpg.exceptions.RaiseError as e:
        msg = str(e)
        m = re.search(r"Term (\S+) is not found in queryables", msg)
        if m:
            raise InvalidQueryParameter(f"filter: unknown queryable {m.group(1)!r}") from None
        raise InvalidQueryParameter("filter: the expression cannot be evaluated") from None
    except (
        asyncpg.exceptions.InvalidParameterValueError,
        asyncpg.exceptions.DataError,
        asyncpg.exceptions.UndefinedFunctionError,
    ):
        raise InvalidQueryParameter("filter: the expression cannot be evaluated") from None


#: The collections the current collection search may return (None: all), see all_collections.
_COLLECTION_SCOPE: ContextVar[set[str] | None] = ContextVar("collection_scope", default=None)


def restrict_collections(asked: list[str] | None, readable: set[str] | None) -> list[str] | None:
    """``asked`` narrowed to ``readable`` (None: no restriction); never an empty list, which
    pgstac reads as "every collection"."""
    if readable is None:
        return asked
    allowed = sorted(readable) if not asked else [c for c in asked if c in readable]
    return allowed or [NO_COLLECTION]


class CatalogClient(CoreCrudClient):
    """stac-fastapi-pgstac's client with the Query translation, input checks and content types.

    Lists and searches read only the collections the access middleware found readable
    (``request.state.readable``): hidden collections and their items are simply absent.
    """

    async def all_collections(self, request: Request, **kwargs: Any) -> Any:  # type: ignore[override]
        token = _COLLECTION_SCOPE.set(readable_of(request))
        try:
            return await super().all_collections(request, **kwargs)
        finally:
            _COLLECTION_SCOPE.reset(token)

    def _clean_search_args(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        clean = super()._clean_search_args(*args, **kwargs)
        readable = _COLLECTION_SCOPE.get()
        if readable is not None:  # only set while listing collections
            clean["ids"] = restrict_collections(clean.get("ids"), readable)
        return clean

    async def _search_base(self, search_request: Any, request: Request) -> Any:  # type: ignore[override]
        readable = readable_of(request)
        if readable is not None:
            search_request.collections = restrict_collections(
                getattr(search_request, "collections", None), readable
            )
        max_limit = getattr(request.app.state, "max_limit", 10_000)
        limit = getattr(search_request, "limit", None)
        if limit is not None and limit > max_limit:
            # OGC API Features: a limit above the maximum is not an error, the maximum applies.
            search_request.limit = max_limit
        query = getattr(search_request, "query", None)
        if query:
            try:
                cql = query_to_cql2(query)
            except InvalidInput as e:
                raise InvalidQueryParameter(str(e)) from None
            combined = and_filters(_filter_as_json(search_request), cql)
            search_request.query = None
            search_request.filter_expr = combined
            search_request.filter_lang = "cql2-json"
        expr = getattr(search_request, "filter_expr", None)
        if isinstance(expr, dict):
            try:
                check_cql2(expr)
            except InvalidInput as e:
                raise InvalidQueryParameter(str(e)) from None
        sort_terms = _sort_terms(search_request)
        terms = filter_terms(expr) if isinstance(expr, dict) else set()
        if sort_terms or terms:
            async with request.app.state.get_connection(request, "r") as conn:
                known = await known_terms(conn, getattr(search_request, "collections", None))
            for term in sorted(terms):
                if term not in known:
                    raise InvalidQueryParameter(f"filter: unknown queryable {term!r}")
            for term in sort_terms:
                if term not in known:
                    raise InvalidQueryParameter(f"sortby: unknown queryable {term!r}")
        with translate_search_errors():
            return await super()._search_base(search_request, request)

    @staticmethod
    def _geojson(resp: Any) -> Any:
        if isinstance(resp, Response) and resp.media_type != GEOJSON:
            resp.headers["content-type"] = GEOJSON
        return resp

    async def post_search(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._geojson(await super().post_search(*args, **kwargs))

    async def get_search(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._geojson(await super().get_search(*args, **kwargs))

    async def item_collection(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._geojson(await super().item_collection(*args, **kwargs))


def _pgstac_settings(api: StacApiSettings) -> PgstacApiSettings:
    return PgstacApiSettings(
        stac_fastapi_title=api.title,
        stac_fastapi_description=api.description,
        stac_fastapi_landing_id="stacworks",
        stac_fastapi_version=__version__,
        enable_transactions_extensions=api.transactions,
        cors_origins=api.cors_origins,
        cors_methods="GET,POST,PUT,PATCH,DELETE,OPTIONS",
        cors_headers="Content-Type,Authorization",
        cors_credentials=False,
        openapi_url="/api",
        docs_url="/api.html",
    )


def postgres_settings(catalog: CatalogSettings, api: StacApiSettings) -> PostgresSettings:
    env = catalog.pg_env()
    return PostgresSettings(
        pguser=env["PGUSER"],
        pgpassword=env["PGPASSWORD"],
        pghost=env["PGHOST"],
        pgport=int(env["PGPORT"]),
        pgdatabase=env["PGDATABASE"],
        db_min_conn_size=api.db_min_conn,
        db_max_conn_size=api.db_max_conn,
    )


def create_stac_app(
    catalog: CatalogSettings | None = None,
    api: StacApiSettings | None = None,
    *,
    client: type[CoreCrudClient] = CatalogClient,
    lifespan: Callable[[FastAPI], Any] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """Build the STAC API application (mount it with :func:`stacworks.app` or run it alone).

    This mirrors ``stac_fastapi.pgstac.app.instantiate_api`` but with our search base model,
    our query extension and our request checks: that function offers no seam for those.
    """
    catalog = catalog or CatalogSettings()
    api = api or StacApiSettings()
    access = access or Access(catalog.dsn)
    settings = _pgstac_settings(api)
    pg = postgres_settings(catalog, api)
    extensions = Extensions(
        search_map={
            "query": BaseQueryExtension(conformance_classes=[QueryConformanceClasses.SEARCH]),
            # pgstac's search() understands `q` for items too; stock enables it for collections.
            "free_text": FreeTextExtension(conformance_classes=[FreeTextConformanceClasses.SEARCH]),
        },
        item_collection_map={
            "query": BaseQueryExtension(conformance_classes=[QueryConformanceClasses.ITEMS])
        },
        settings=settings,
    )
    post_model = create_post_request_model(extensions.search, base_model=StacworksSearch)
    get_model = create_get_request_model(extensions.search)
    items_get_model = create_request_model(
        model_name="ItemCollectionUri",
        base_model=ItemCollectionUri,
        extensions=extensions.item_collection,
        request_type="GET",
    )
    collection_search = extensions.collection_search
    app_extensions = [
        *extensions.search,
        *extensions.item_collection,
    ]
    if api.transactions:
        app_extensions += [
            TransactionExtension(
                client=CatalogTransactionsClient(), settings=settings, response_class=JSONResponse
            ),
            BulkTransactionExtension(client=CatalogBulkTransactionsClient()),
        ]
    if collection_search is not None:
        app_extensions.append(collection_search)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        await connect_to_db(app, postgres_settings=pg, add_write_connection_pool=api.transactions)
        yield
        await close_db_connection(app)

    stac = StacApi(
        app=FastAPI(
            openapi_url=settings.openapi_url,
            docs_url=settings.docs_url,
            redoc_url=None,
            title=settings.stac_fastapi_title,
            version=settings.stac_fastapi_version,
            description=settings.stac_fastapi_description,
            lifespan=lifespan or _lifespan,
        ),
        router=APIRouter(),
        settings=settings,
        extensions=app_extensions,
        client=client(pgstac_search_model=post_model),
        response_class=JSONResponse,
        items_get_request_model=items_get_model,  # type: ignore[arg-type]
        search_get_request_model=get_model,
        search_post_request_model=post_model,
        collections_get_request_model=(
            collection_search.GET if collection_search is not None else EmptyRequest
        ),
        middlewares=[
            Middleware(BrotliMiddleware),
            Middleware(ProxyHeaderMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=settings.cors_methods,
                allow_credentials=False,
                allow_headers=settings.cors_headers,
                max_age=600,
            ),
            # Inside CORS (a refusal still carries CORS headers), before request checks.
            Middleware(AccessMiddleware, access=access, policy=StacPolicy()),
            Middleware(RequestValidationMiddleware, max_limit=api.max_limit),
        ],
        health_check=health_check,
    )
    stac.app.state.catalog_settings = catalog
    stac.app.state.max_limit = api.max_limit
    add_error_handlers(stac.app)
    return stac.app


__all__ = [
    "CatalogClient",
    "JSONResponse",
    "StacApiSettings",
    "create_stac_app",
    "postgres_settings",
]
