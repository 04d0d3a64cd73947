"""The STAC API: stac-fastapi-pgstac with our fixes, built by one factory whose parts are seams.

What we change over stock stac-fastapi-pgstac, and why:
- Query extension: every spec operator (startsWith, endsWith, contains, in too), translated to
  CQL2 in our layer (:mod:`catalog.query`), and combinable with ``filter``.
- Fields extension: GET responses keep ``application/geo+json``; ``{"fields": null}`` is a 400.
- Free text: ``q`` becomes a CQL2 node that matches title, description or keywords even when
  one is missing (pgstac 0.10 drops items without a description), see :func:`free_text_filter`.
- Transactions: items posted without ``links`` are accepted (links are the server's to write).
- Bad input: request-level checks (:mod:`catalog.validation`) answer 400 naming the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, Literal
from urllib.parse import unquote_plus

import asyncpg
import cql2
import orjson
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
from stac_fastapi.extensions import QueryExtension as BaseQueryExtension
from stac_fastapi.extensions import SearchFilterExtension, TransactionExtension
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
from stac_fastapi.types.requests import get_base_url
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from catalog.access import NO_COLLECTION, Access, AccessMiddleware, StacPolicy, readable_of
from catalog.access.middleware import is_credential_param
from catalog.asset_links import AssetLinks, keep_share_token, share_token
from catalog.conformance import widen_conformance
from catalog.errors import InvalidInput
from catalog.limits import pool_wait_s
from catalog.outage import pooled_connection, with_statement_timeout
from catalog.query import and_filters, check_cql2, query_to_cql2
from catalog.queryables import ScopedFiltersClient, filter_terms, known_terms, recent_terms
from catalog.settings import CatalogSettings
from catalog.transactions import (
    CatalogBulkTransactionExtension,
    CatalogBulkTransactionsClient,
    CatalogTransactionsClient,
)
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
    context: Literal["off", "auto", "on"] = Field(
        default="auto",
        description="numberMatched on searches: pgstac counts when its estimate says the count "
        "is cheap (auto), always (on) or never (off).",
    )
    context_estimated_count: int = Field(
        default=1000, ge=0,
        description="With context=auto, numberMatched is pgstac's estimate (no count) when the "
        "planner expects at least this many matches and the count's plan costs at least "
        "context_estimated_cost; below either, the count is exact.",
    )
    context_estimated_cost: float = Field(
        default=1000.0, ge=0,
        description="Plan-cost threshold of context=auto (see context_estimated_count).",
    )
    db_parallel_workers: int = Field(
        default=0, ge=0, le=64,
        description="max_parallel_workers_per_gather of the read pool: a parallel worker's "
        "start-up costs more than a page of search results takes to read.",
    )
    queryables_ttl_s: float = Field(
        default=5.0, ge=0, le=3600,
        description="How long a search trusts the queryables it last read before checking the "
        "table again (a term not among them is always looked up before a 400).",
    )
    db_min_conn: int = 1
    db_max_conn: int = 10
    search_timeout_s: float = Field(
        default=20.0, gt=0, le=3600,
        description="Time budget of one read (search, item, collections) in the database: past "
        "it the statement is cancelled and the answer is a 503.",
    )


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


#: pgstac's messages about a search field other than ``filter``: (pattern, the field).
PGSTAC_FIELDS = (
    (re.compile(r"token", re.I), "token"),
    (re.compile(r"sortby", re.I), "sortby"),
    (re.compile(r"datetime", re.I), "datetime"),
    (re.compile(r"tsquery|free text", re.I), "q"),
)


def _pgstac_field(message: str) -> str:
    return next((field for pat, field in PGSTAC_FIELDS if pat.search(message)), "filter")


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
        field = _pgstac_field(msg)
        if field == "token":  # never echoed: whatever was sent there may be a secret
            raise InvalidInput("token", "is not a paging token of this API") from None
        if field != "filter":
            raise InvalidInput(field, msg[:300]) from None
        raise InvalidQueryParameter("filter: the expression cannot be evaluated") from None
    except (
        asyncpg.exceptions.InvalidParameterValueError,
        asyncpg.exceptions.DataError,
        asyncpg.exceptions.UndefinedFunctionError,
    ):
        raise InvalidQueryParameter("filter: the expression cannot be evaluated") from None


#: The CQL2 operator that migration 0005 registers in pgstac for free text (see below).
FREE_TEXT_OP = "free_text_stacworks"


async def free_text_filter(request: Request, q: str | list[str]) -> dict[str, Any]:
    """``q`` as a CQL2 node matching title, description or keywords, whichever are present.

    pgstac 0.10 concatenates ``to_tsvector(description)`` without ``coalesce``, so an item
    without a description never matches, even on its title. The tsquery is still pgstac's
    (``q_to_tsquery``: same syntax, stemming and stop words), made once here, so a malformed
    ``q`` is a 400 naming it; the node calls ``stacworks.free_text_match`` per row.
    """
    async with request.app.state.get_connection(request, "r") as conn:
        try:
            tsquery = await conn.fetchval(
                "SELECT pgstac.q_to_tsquery($1::text::jsonb)::text", json.dumps(q)
            )
        except (
            asyncpg.exceptions.RaiseError,
            asyncpg.exceptions.PostgresSyntaxError,
            asyncpg.exceptions.ProgramLimitExceededError,
            asyncpg.exceptions.DataError,
        ) as e:
            raise InvalidInput("q", f"is not a valid free-text query ({e})") from None
    return {"op": FREE_TEXT_OP, "args": [tsquery or ""]}


def json_param(name: str, value: str | None) -> Any:
    """A GET parameter carrying JSON (``query``, ``intersects``), parsed as stac-fastapi does
    (``unquote_plus`` then JSON), or a 400 naming it instead of its bare decode error."""
    if value is None:
        return None
    try:
        return json.loads(unquote_plus(value))
    except ValueError as e:
        raise InvalidInput(name, f"must be JSON ({e})") from None


def check_get_params(query: str | None = None, intersects: str | None = None) -> None:
    """The JSON GET parameters are what their POST forms would be, before stac-fastapi parses
    them (it raises a bare decode error, a 500, for anything but JSON)."""
    query_to_cql2(json_param("query", query))
    geom = json_param("intersects", intersects)
    if intersects is not None and not isinstance(geom, dict):
        raise InvalidInput("intersects", "must be a GeoJSON geometry object")


def _filter_param(filter_expr: str | None, filter_lang: str | None) -> dict[str, Any] | None:
    """A GET ``filter`` as CQL2 JSON (text unless ``filter-lang`` says JSON), or a 400."""
    if not filter_expr:
        return None
    try:
        if filter_lang in (None, "cql2-text"):
            expr: Any = cql2.Expr(filter_expr).to_json()
        else:
            expr = json.loads(filter_expr)
    except Exception as e:  # cql2 raises bare exceptions on parse errors
        raise InvalidInput("filter", f"invalid CQL2 ({e})") from None
    check_cql2(expr)
    return expr  # type: ignore[no-any-return]


def _check_collection_params(bbox: Any, sortby: Any) -> None:
    """What pgstac's collection search turns into a 500: a non-finite bbox, an empty sort key."""
    if bbox is not None and not all(math.isfinite(v) for v in bbox):
        raise InvalidInput("bbox", "must be finite numbers")
    for s in sortby or []:
        if not str(s).lstrip("+-").strip():
            raise InvalidInput("sortby", "names no field")


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
        """``query`` and ``q`` become CQL2 ANDed with ``filter``, as for items: pgstac refuses
        ``query`` beside the filter it adds itself, and its ``q`` needs a description."""
        _check_collection_params(kwargs.get("bbox"), kwargs.get("sortby"))
        query = query_to_cql2(json_param("query", kwargs.pop("query", None)))
        q = kwargs.pop("q", None)
        text = await free_text_filter(request, q) if q else None
        expr = _filter_param(kwargs.get("filter_expr"), kwargs.get("filter_lang"))
        combined = and_filters(expr, query, text)
        if combined is not None:
            kwargs["filter_expr"], kwargs["filter_lang"] = json.dumps(combined), "cql2-json"
        token = _COLLECTION_SCOPE.set(readable_of(request))
        try:
            with translate_search_errors():
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
        if query is not None:  # {} too: pgstac reads an empty query as a broken "and"
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
            searched = getattr(search_request, "collections", None)
            known = recent_terms(searched, getattr(request.app.state, "queryables_ttl_s", 0.0))
            if known is None or not (terms | set(sort_terms)) <= known:
                async with request.app.state.get_connection(request, "r") as conn:
                    known = await known_terms(conn, searched)
            for term in sorted(terms):
                if term not in known:
                    raise InvalidQueryParameter(f"filter: unknown queryable {term!r}")
            for term in sort_terms:
                if term not in known:
                    raise InvalidQueryParameter(f"sortby: unknown queryable {term!r}")
        q = getattr(search_request, "q", None)
        if q:
            text = await free_text_filter(request, q)
            search_request.filter_expr = and_filters(_filter_as_json(search_request), text)
            search_request.filter_lang = "cql2-json"
            search_request.q = None
        paging = getattr(search_request, "token", None)
        if isinstance(paging, str) and is_credential_param("token", paging):
            search_request.token = None  # a share link's token (the credential), not a page
        # numberMatched as configured. pgstac reads its settings from ``conf`` first, so a
        # client's own ``conf`` is dropped: it could ask for costly counts (or other settings).
        search_request.conf = dict(getattr(request.app.state, "search_conf", None)
                                   or {"context": "auto"})
        with translate_search_errors():
            found = await super()._search_base(search_request, request)
        share = share_token(request)
        if share is not None and request.query_params.get("token") is not None:
            keep_share_token(found.get("links"), share)
        links: AssetLinks | None = getattr(request.app.state, "asset_links", None)
        if links is not None:
            links.rewrite_items(found.get("features", []), get_base_url(request), share)
        return found

    @staticmethod
    def _geojson(resp: Any) -> Any:
        if isinstance(resp, dict):
            # Already JSON (pgstac's document): returned as a dict, FastAPI would walk it with
            # jsonable_encoder and json.dumps it, ~30% of the API's own time on a 10-item page.
            return Response(orjson.dumps(resp), media_type=GEOJSON)
        if isinstance(resp, Response) and resp.media_type != GEOJSON:
            resp.headers["content-type"] = GEOJSON
        return resp

    async def post_search(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        request, search = kwargs.get("request"), args[0] if args else kwargs.get("search_request")
        if request is not None and search is not None:
            # The next/prev links repeat the body: only the search's own members, never
            # whatever else a client sent (an echo as large as the request).
            known = {f.alias or n for n, f in type(search).model_fields.items()}
            body = await request.json()
            if isinstance(body, dict):
                request._json = {k: v for k, v in body.items() if k in known or k == "token"}
        return self._geojson(await super().post_search(*args, **kwargs))

    async def get_search(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        check_get_params(kwargs.get("query"), kwargs.get("intersects"))
        return self._geojson(await super().get_search(*args, **kwargs))

    async def item_collection(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        check_get_params(kwargs.get("query"))
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


def search_conf(api: StacApiSettings) -> dict[str, str]:
    """pgstac's ``conf`` of every item search: numberMatched and when it is only estimated.

    With ``auto``, pgstac counts exactly unless the planner expects many matches at some cost.
    The planner does not price reading property values out of the stored documents, so a
    property filter without a bbox (``eo:cloud_cover < 20`` over a year: 20,000 rows read,
    ~110 ms on 100,000 items) looks cheaper than a bbox search that counts in 3 ms; the count
    threshold (not the cost) is what tells them apart.
    """
    return {
        "context": api.context,
        "context_estimated_count": str(api.context_estimated_count),
        "context_estimated_cost": str(api.context_estimated_cost),
    }


def _read_pool(pg: PostgresSettings, api: StacApiSettings) -> PostgresSettings:
    """The read pool's settings: the statement budget, and no parallel workers past
    ``db_parallel_workers`` (starting one took 5-15 ms of a 10-50 ms search on 2 cores)."""
    pg = with_statement_timeout(pg, api.search_timeout_s)
    server = pg.server_settings.model_copy(
        update={"max_parallel_workers_per_gather": str(api.db_parallel_workers)})
    return pg.model_copy(update={"server_settings": server})


def _default_asset_links(catalog: CatalogSettings) -> AssetLinks:
    """Hrefs into the configured store (``STACWORKS_STORE``) become ``/assets`` URLs."""
    from objectstore import load_settings, store_from_settings

    return AssetLinks.from_settings(store_from_settings(load_settings(home=catalog.home)))


def create_stac_app(
    catalog: CatalogSettings | None = None,
    api: StacApiSettings | None = None,
    *,
    client: type[CoreCrudClient] = CatalogClient,
    lifespan: Callable[[FastAPI], Any] | None = None,
    access: Access | None = None,
    asset_links: AssetLinks | None = None,
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
            # /queryables merges only what the caller may read (catalog.queryables).
            "filter": SearchFilterExtension(client=ScopedFiltersClient()),
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
            CatalogBulkTransactionExtension(client=CatalogBulkTransactionsClient()),
        ]
    if collection_search is not None:
        app_extensions.append(collection_search)
    widen_conformance(app_extensions)  # sort/fields/query/filter as v1.0.0 and v1.1.0

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Reads cancel past the search budget; every wait for a connection is short (a 503).
        await connect_to_db(app, get_conn=pooled_connection(pool_wait_s()),
                            postgres_settings=_read_pool(pg, api),
                            add_write_connection_pool=api.transactions,
                            write_postgres_settings=pg)
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
        # StacApi inserts each of these at the front: the last listed is the outermost. CORS
        # wraps everything (refusals carry its headers, so browser clients can read them);
        # the request checks run before access (whose policy reads a new collection's id from
        # the body, and a malformed body is a 400 whoever sends it).
        middlewares=[
            Middleware(BrotliMiddleware),
            Middleware(ProxyHeaderMiddleware),
            Middleware(AccessMiddleware, access=access, policy=StacPolicy()),
            Middleware(RequestValidationMiddleware, max_limit=api.max_limit),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=settings.cors_methods,
                allow_credentials=False,
                allow_headers=settings.cors_headers,
                max_age=600,
            ),
        ],
        health_check=health_check,
    )
    stac.app.state.catalog_settings = catalog
    stac.app.state.max_limit = api.max_limit
    stac.app.state.context = api.context
    stac.app.state.search_conf = search_conf(api)
    stac.app.state.queryables_ttl_s = api.queryables_ttl_s
    stac.app.state.asset_links = asset_links or _default_asset_links(catalog)
    add_error_handlers(stac.app)
    return stac.app


__all__ = [
    "CatalogClient",
    "JSONResponse",
    "StacApiSettings",
    "create_stac_app",
    "postgres_settings",
]
