"""Request limits checked before any data is read: output sizes, expressions, z/x/y ranges,
and the search queries registered for mosaics.

One dependency attached to every route (after titiler has created them, the way auth is
attached), reading the raw query and path parameters, so a new titiler endpoint or parameter
alias cannot bypass it by having its own dependency class.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg
from fastapi import HTTPException
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets
from pydantic import ValidationInfo, field_validator
from stac_fastapi.types.rfc3339 import str_to_interval
from starlette.requests import Request
from titiler.pgstac.dependencies import SearchParams
from titiler.pgstac.model import Metadata, PgSTACSearch, RegisterMosaic

from catalog.errors import InvalidInput
from catalog.query import check_cql2

from .errors import InvalidParameter, TileNotInMatrix
from .settings import TilerSettings

__all__ = [
    "RegisterSearch",
    "check_expression",
    "check_search",
    "check_search_in_db",
    "registered_search_params",
    "request_limits",
]

log = logging.getLogger(__name__)

#: Names an expression may use besides band references (b1, b2, ...): numexpr's functions.
EXPRESSION_FUNCTIONS = frozenset({
    "where", "abs", "sqrt", "exp", "expm1", "log", "log10", "log1p", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "real", "imag", "conj", "floor", "ceil", "fmod", "contains", "minimum",
    "maximum", "isnan", "isinf", "isfinite", "inf", "nan",
})  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<op>\*\*|<=|>=|==|!=|<<|>>|[-+*/%<>&|~^(),;]))"
)
_BAND = re.compile(r"[bB]\d{1,3}")
_SIZE_PARAMS = ("max_size", "width", "height")
#: The largest PostgreSQL ``bigint``.
PG_BIGINT_MAX = 2**63 - 1


def check_expression(
    expr: str, *, max_length: int, max_terms: int, max_depth: int, max_bands: int,
    name: str = "expression",
) -> None:
    """Refuse expressions that are too long, too complex or use unknown names.

    Raises:
        InvalidParameter: naming ``name`` and the limit broken.
    """
    if len(expr) > max_length:
        raise InvalidParameter(name, f"longer than {max_length} characters")
    pos, terms, depth, bands = 0, 0, 0, 1
    stripped = expr.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m:
            raise InvalidParameter(name, f"unexpected character at position {pos}")
        pos = m.end()
        terms += 1
        word, op = m.group("name"), m.group("op")
        if (
            word is not None
            and not _BAND.fullmatch(word)
            and word.lower() not in EXPRESSION_FUNCTIONS
        ):
            raise InvalidParameter(name, f"unknown name {word[:32]!r} (use b1, b2, ... )")
        if op == "(":
            depth += 1
            if depth > max_depth:
                raise InvalidParameter(name, f"nested deeper than {max_depth} parentheses")
        elif op == ")":
            depth -= 1
        elif op == ";":
            bands += 1
    if terms > max_terms:
        raise InvalidParameter(name, f"more than {max_terms} terms")
    if bands > max_bands:
        raise InvalidParameter(name, f"more than {max_bands} output bands")
    if depth != 0:
        raise InvalidParameter(name, "unbalanced parentheses")


def _int(name: str, value: str) -> int | None:
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # "abc", "nan", "1e400"
        return None  # left to the endpoint's own validation (400 naming it)


def _check_range(name: str, values: Iterable[str], low: int, high: int) -> None:
    """Refuse values outside ``low..high``; a size of 0 or less would mean "no limit" to titiler
    (or a numpy error), so sizes are checked from below too."""
    for value in values:
        n = _int(name, value)
        if n is not None and n > high:
            raise InvalidParameter(name, f"must be at most {high}")
        if n is not None and n < low:
            raise InvalidParameter(name, f"must be at least {low}")


def _check_tile(request: Request, supported: Mapping[str, TileMatrixSet]) -> None:
    params = request.path_params
    tms_id = params.get("tileMatrixSetId")
    if tms_id is None or not {"z", "x", "y"} <= params.keys():
        return
    if tms_id not in supported:
        return  # the route answers 422 for an unknown TileMatrixSet
    z, x, y = (_int(k, str(params[k])) for k in ("z", "x", "y"))
    if z is None or x is None or y is None:
        return  # not integers: 422 from the route
    tms = supported[tms_id]
    if not tms.minzoom <= z <= tms.maxzoom:
        raise TileNotInMatrix(f"zoom {z} outside {tms.minzoom}..{tms.maxzoom} of {tms_id}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise TileNotInMatrix(f"tile {z}/{x}/{y} outside the {tms_id} matrix")


def request_limits(settings: TilerSettings, supported: TileMatrixSets) -> Callable[..., None]:
    """The dependency enforcing ``settings``' limits on one request."""
    # TileMatrixSets.get deep-copies the whole matrix set on every call (~0.4 ms a tile).
    matrices = {tms_id: supported.get(tms_id) for tms_id in supported.list()}

    def limits(request: Request) -> None:
        q = request.query_params
        p = request.path_params
        _check_range("tilesize", q.getlist("tilesize"), 1, settings.max_tile_size)
        for name in _SIZE_PARAMS:
            values = q.getlist(name) + ([str(p[name])] if name in p else [])
            _check_range(name, values, 1, settings.max_image_size)
        for name in ("buffer", "padding"):
            _check_range(name, q.getlist(name), 0, settings.max_tile_buffer)
        for name in ("minzoom", "maxzoom"):  # tileset documents: morecantile's zoom range
            _check_range(name, q.getlist(name), 0, 30)
        # /searches/list: PostgreSQL's OFFSET is a bigint; beyond it the query fails (a 500).
        _check_range("offset", q.getlist("offset"), 0, PG_BIGINT_MAX)
        for sortby in q.getlist("sortby"):  # property names: titiler's parser fails on a newline
            if any(c < " " for c in sortby):
                raise InvalidParameter("sortby", "control characters are not allowed")
        assets = q.getlist("assets")
        if len(assets) > settings.max_assets:
            raise InvalidParameter("assets", f"more than {settings.max_assets} assets")
        expressions = [("expression", e) for e in q.getlist("expression")]
        for asset in assets:
            for option in asset.split("|")[1:]:
                if option.startswith("expression="):
                    expressions.append(("assets", option.removeprefix("expression=")))
        for name, expr in expressions:
            check_expression(
                expr, name=name,
                max_length=settings.max_expression_length,
                max_terms=settings.max_expression_terms,
                max_depth=settings.max_expression_depth,
                max_bands=settings.max_expression_bands,
            )
        for cmap in q.getlist("colormap"):
            if len(cmap) > settings.max_colormap_length:
                raise InvalidParameter("colormap", "too long")
        for formula in q.getlist("color_formula"):
            if len(formula) > settings.max_color_formula_length:
                raise InvalidParameter("color_formula", "too long")
        if len(q.getlist("rescale")) > settings.max_expression_bands:
            raise InvalidParameter("rescale", f"more than {settings.max_expression_bands} ranges")
        _check_tile(request, matrices)
        if getattr(request.scope.get("route"), "name", None) == "list_searches":
            _check_search_list(q.multi_items())

    return limits


def _check_search_list(params: Iterable[tuple[str, str]]) -> None:
    """``GET /searches``: titiler.pgstac writes every parameter (a metadata filter, ``sortby``)
    into its SQL as a literal, then runs it with ``%``-placeholders: a ``%`` in one is a 500."""
    for key, value in params:
        if "%" in key or "%" in value:
            raise InvalidParameter(key[:64], "'%' is not allowed in a search list filter")


class RegisterSearch(RegisterMosaic):
    """titiler.pgstac's ``RegisterMosaic`` body, minus its 500 on a bad ``bbox``.

    Its ``intersects`` validator reads ``info.data["bbox"]``, absent when ``bbox`` itself
    failed validation: a ``KeyError`` (500) instead of the 422 naming ``bbox``.
    """

    @field_validator("intersects")
    @classmethod
    def validate_spatial(cls, v: Any, info: ValidationInfo) -> Any:
        if v and info.data.get("bbox"):
            raise ValueError("intersects and bbox parameters are mutually exclusive")
        return v


def registered_search_params(
    request: Request, body: RegisterSearch
) -> tuple[PgSTACSearch, Metadata]:
    """titiler.pgstac's ``SearchParams`` for ``POST /searches/register``, checked first.

    pgstac refuses a malformed query only inside ``search_query()``, which titiler.pgstac turns
    into a 500 (echoing the body). The query is checked here like a STAC ``/search`` (CQL2 with
    :func:`catalog.query.check_cql2`, RFC 3339 ``datetime``), then by pgstac's own translation
    (:func:`check_search_in_db`) without registering it, so a client error is a 400 naming the
    field and nothing malformed is stored.

    Raises:
        InvalidParameter: naming ``filter``, ``datetime``, ``query`` or ``body``.
    """
    search, metadata = SearchParams(body)
    check_search(search, metadata)
    with request.app.state.dbpool.connection() as conn:
        check_search_in_db(conn, search)
    return search, metadata


def check_search(search: PgSTACSearch, metadata: Metadata | None = None) -> None:
    """Refuse a search query pgstac would fail on (see :func:`registered_search_params`)."""
    raw = search.model_dump_json(by_alias=True, exclude_none=True)
    if metadata is not None:
        raw += metadata.model_dump_json(exclude_none=True)
    if "\\u0000" in raw:  # PostgreSQL text and jsonb cannot hold NUL
        raise InvalidParameter("body", "NUL characters are not allowed")
    if search.filter_expr is not None:
        try:
            check_cql2(search.filter_expr)
        except InvalidInput as exc:
            raise InvalidParameter("filter", str(exc).removeprefix("filter: ")) from None
    if search.datetime is not None:
        try:
            str_to_interval(search.datetime)
        except HTTPException as exc:
            raise InvalidParameter("datetime", str(exc.detail)) from None
        except ValueError:
            raise InvalidParameter("datetime", "expected an RFC 3339 datetime or interval") \
                from None


def check_search_in_db(conn: Any, search: PgSTACSearch, name: str = "body") -> None:
    """Translate ``search`` with pgstac (WHERE and ORDER BY) without registering it.

    pgstac's own checks (``query`` operators, property names, CQL2 arity) raise here; they
    become a 400 naming ``name`` with pgstac's message (its validation text, never SQL), other
    data errors a 400 with a fixed message. Connection failures are not the client's: they
    propagate.
    """
    doc = search.model_dump_json(by_alias=True, exclude_none=True)
    try:
        with conn.transaction():
            conn.execute("SELECT pgstac.stac_search_to_where(%s::jsonb), "
                         "pgstac.sort_sqlorderby(%s::jsonb)", (doc, doc))
    except psycopg.errors.RaiseException as exc:
        reason = (exc.diag.message_primary or "not a valid search")[:200]
        raise InvalidParameter(name, reason) from None
    except (psycopg.DataError, psycopg.errors.UndefinedColumn,
            psycopg.errors.UndefinedFunction) as exc:
        log.info("search registration refused by pgstac: %s", exc)
        raise InvalidParameter(name, "not a valid search") from None
