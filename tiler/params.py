"""Our versions of titiler(.pgstac) parameter dependencies whose own let malformed input through
to the data layer, where it fails as a 500: each checks the input first and refuses it with a 400
naming the parameter (:class:`tiler.errors.InvalidParameter`).

- :func:`collection_id_params`: the ``filter``/``query``/``sortby`` of collection mosaics;
- :func:`post_process_params`: ``algorithm_params`` of every image route;
- :class:`PgSTACLimits`: ``scan_limit``/``items_limit``/``time_limit`` of mosaics;
- :func:`feature_body_limits`: the GeoJSON body of ``POST .../feature`` and ``.../statistics``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote_plus

import cql2
from fastapi import Query
from pydantic import ValidationError
from rasterio.features import is_valid_geom
from starlette.requests import Request
from titiler.core.algorithm import BaseAlgorithm, algorithms
from titiler.pgstac.dependencies import CollectionIdParams, PgSTACParams
from titiler.pgstac.model import PgSTACSearch

from catalog.errors import InvalidInput
from catalog.query import check_cql2

from .errors import InvalidParameter
from .guards import check_search_in_db

__all__ = ["PgSTACLimits", "collection_id_params", "feature_body_limits", "post_process_params"]

#: The largest PostgreSQL ``integer``: pgstac's ``geojsonsearch()`` takes its limits as int4.
PG_INT_MAX = 2**31 - 1
#: Coordinates beyond it overflow the pixel arithmetic; no CRS of the Earth comes near (in
#: metres it is 25 times around the equator).
MAX_COORDINATE = 1e9
#: Routes whose body is a GeoJSON Feature (or FeatureCollection) cut out of the data.
_FEATURE_ROUTES = {"feature_image": "feature", "geojson_statistics": "statistics"}
_SORT = re.compile(r"^([+-]?)(.*)$")
#: Search parts pgstac has translated (JSON text), see :func:`_check_in_db`.
_TRANSLATED: set[str] = set()


# -- collection mosaics ------------------------------------------------------------------------


@functools.wraps(CollectionIdParams)  # FastAPI reads the wrapped signature: the same parameters
def collection_id_params(**params: Any) -> str:
    """titiler.pgstac's ``CollectionIdParams``, its client errors a 400 naming the parameter.

    It builds a search from ``filter``, ``query`` and ``sortby`` and registers it in pgstac,
    letting every parse, model or pgstac failure of them out as a 500 (pydantic's
    ``ValidationError``, ``JSONDecodeError``, pgstac's ``RaiseException`` logged with its
    traceback). Each is parsed here first, then translated by pgstac alone, once per distinct
    value (:func:`_check_in_db`), the way the register route checks a body.
    """
    parts = _search_parts(params.get("filter_expr"), params.get("filter_lang", "cql2-text"),
                          params.get("query"), params.get("sortby"))
    _check_in_db(params["request"], parts)
    try:
        return str(CollectionIdParams(**params))
    except ValidationError as exc:  # a check of theirs stricter than ours (JSON Schema)
        raise _named(exc, default="filter") from None


def _search_parts(
    filter_expr: str | None, filter_lang: str, query: str | None, sortby: str | None
) -> dict[str, dict[str, Any]]:
    """The parts of the search ``get_collection_id`` builds, parsed and validated one by one."""
    parts: dict[str, dict[str, Any]] = {}
    if filter_expr is not None:
        parts["filter"] = {"filter": _cql2_json(filter_expr, filter_lang),
                           "filter-lang": "cql2-json"}
    if query and "filter" in parts:  # pgstac: "Can only use either query or filter at one time"
        raise InvalidParameter("query", "cannot be combined with 'filter'")
    if query:
        try:  # titiler.pgstac unquotes it once more before parsing it
            parts["query"] = {"query": json.loads(unquote_plus(query))}
        except ValueError:
            raise InvalidParameter("query", "expected a JSON object") from None
    if sortby:
        fields = [(m.group(1), m.group(2).strip()) for s in sortby.split(",")
                  if (m := _SORT.match(s))]
        if not fields or not all(name for _, name in fields):
            raise InvalidParameter("sortby", "expected [+|-]property[,...]")
        parts["sortby"] = {"sortby": [{"field": name, "direction": "desc" if sign == "-" else "asc"}
                                      for sign, name in fields]}
    for name, part in parts.items():
        try:
            PgSTACSearch.model_validate(part)
        except ValidationError as exc:
            raise _named(exc, default=name) from None
    return parts


def _cql2_json(text: str, lang: str) -> Any:
    """``filter`` as CQL2 JSON, checked like a STAC search's (:func:`catalog.query.check_cql2`)."""
    try:
        expr = json.loads(text) if lang == "cql2-json" else cql2.Expr(text).to_json()
    except Exception:  # cql2 raises bare exceptions; json a ValueError
        raise InvalidParameter("filter", f"not valid {lang}") from None
    try:
        check_cql2(expr)
    except InvalidInput as exc:
        raise InvalidParameter("filter", str(exc).removeprefix("filter: ")) from None
    return expr


def _named(exc: ValidationError, default: str) -> InvalidParameter:
    """A pydantic error as a 400 naming the search field it is about (``filter``, ``query``...)."""
    errors = exc.errors()
    if not errors:  # titiler.pgstac's validate_filter builds one without errors
        return InvalidParameter(default, "not valid")
    loc = errors[0].get("loc") or (default,)
    return InvalidParameter(str(loc[0]), str(errors[0].get("msg", "not valid")))


def _check_in_db(request: Request, parts: dict[str, dict[str, Any]]) -> None:
    """Have pgstac translate each part alone (:func:`tiler.guards.check_search_in_db`), so its
    refusal names the parameter; a part it took is remembered, so tiles cost no round trip."""
    todo = {name: part for name, part in parts.items()
            if json.dumps(part, sort_keys=True) not in _TRANSLATED}
    if not todo:
        return
    with request.app.state.dbpool.connection() as conn:
        for name, part in todo.items():
            check_search_in_db(conn, PgSTACSearch.model_validate(part), name=name)
            if len(_TRANSLATED) > 10_000:
                _TRANSLATED.clear()
            _TRANSLATED.add(json.dumps(part, sort_keys=True))


# -- post-processing ---------------------------------------------------------------------------

_post_process = algorithms.dependency


@functools.wraps(_post_process)  # the same parameters: algorithm, algorithm_params
def post_process_params(**params: Any) -> BaseAlgorithm | None:
    """titiler's algorithm dependency, minus its 500 on ``algorithm_params`` that is JSON but not
    an object (``null``, ``[1]``): it unpacks the value as keyword arguments."""
    raw = params.get("algorithm_params")
    if raw and not isinstance(json.loads(raw), dict):  # its own validator checked it is JSON
        raise InvalidParameter("algorithm_params", "expected a JSON object")
    result: BaseAlgorithm | None = _post_process(**params)
    return result


# -- mosaic backend options --------------------------------------------------------------------


@dataclass
class PgSTACLimits(PgSTACParams):
    """titiler.pgstac's ``PgSTACParams`` within what pgstac's ``geojsonsearch()`` takes.

    It passes them on as they come: past an int4 the function call does not resolve, a negative
    ``scan_limit`` is a negative LIMIT, and an interval of 10^14 seconds overflows (500s).
    """

    scan_limit: Annotated[
        int | None,
        Query(ge=0, le=PG_INT_MAX, description="Return as soon as we scan N items "
              "(defaults to 10000 in PgSTAC)."),
    ] = None
    items_limit: Annotated[
        int | None,
        Query(ge=0, le=PG_INT_MAX, description="Return as soon as we have N items per geometry "
              "(defaults to 100 in PgSTAC)."),
    ] = None
    time_limit: Annotated[
        int | None,
        Query(ge=0, le=PG_INT_MAX, description="Return after N seconds to avoid long requests "
              "(defaults to 5 in PgSTAC)."),
    ] = None


# -- GeoJSON bodies ----------------------------------------------------------------------------


async def feature_body_limits(request: Request) -> None:
    """Refuse the GeoJSON bodies rio-tiler cannot cut out, before any data is read.

    The body model (geojson-pydantic) allows what GeoJSON allows: a null or empty geometry, a 3D
    ``bbox``, any coordinates. rio-tiler then fails with a 500 (``Invalid geometry``, a 6-value
    bbox unpacked into 4, an overflow, a point it cannot cut out). Only the routes taking such a
    body are checked; a body that is not even GeoJSON is left to the route's own validation.
    """
    route = _FEATURE_ROUTES.get(getattr(request.scope.get("route"), "name", ""))
    if route is None or request.method != "POST":
        return
    try:
        body = await request.json()
    except ValueError:
        return
    wgs84 = request.query_params.get("coord_crs") is None
    for feature in _features(body):
        _check_geometry(feature.get("geometry"), wgs84=wgs84, area=route == "feature")


def _features(body: Any) -> Iterator[dict[str, Any]]:
    if isinstance(body, dict) and body.get("type") == "Feature":
        yield body
    elif isinstance(body, dict) and body.get("type") == "FeatureCollection":
        yield from (f for f in body.get("features") or () if isinstance(f, dict))


def _check_geometry(geometry: Any, *, wgs84: bool, area: bool) -> None:
    """A non-empty geometry, finite coordinates (lon/lat in range when in WGS84), a 2D ``bbox``
    that is one, and an extent with an area when an image is cut out of it."""
    try:  # rio-tiler's own test (the first position only), which raises on some shapes
        valid = isinstance(geometry, dict) and is_valid_geom(geometry)
    except (TypeError, KeyError, IndexError):
        valid = False
    points = list(_positions(geometry)) if valid else []
    if not points:
        raise InvalidParameter("geometry", "expected a non-empty GeoJSON geometry")
    if not all(len(p) >= 2 and all(map(_finite, p)) for p in points):
        raise InvalidParameter("geometry", "expected positions of finite numbers [x, y(, z)]")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if wgs84 and not (-180 <= min(xs) <= max(xs) <= 180 and -90 <= min(ys) <= max(ys) <= 90):
        raise InvalidParameter("geometry", "longitudes must be in -180..180, latitudes in -90..90")
    if max(map(abs, xs + ys)) > MAX_COORDINATE:
        raise InvalidParameter("geometry", f"coordinates beyond {MAX_COORDINATE:g}")
    bbox = geometry.get("bbox")
    if bbox is not None:  # rasterio reads the extent from it rather than from the coordinates
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, int | float) and _finite(v) for v in bbox)
                and bbox[0] <= bbox[2] and bbox[1] <= bbox[3]):
            raise InvalidParameter("bbox", "a geometry's bbox must be [minx, miny, maxx, maxy]")
        xs, ys = [bbox[0], bbox[2]], [bbox[1], bbox[3]]
    if area and (min(xs) == max(xs) or min(ys) == max(ys)):
        raise InvalidParameter("geometry", "its extent has no area: nothing to cut out")


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer too large for a float
        return False


def _positions(geometry: dict[str, Any]) -> Iterator[list[float]]:
    """Every position of a geometry (of a GeometryCollection's members too)."""
    if geometry.get("type") == "GeometryCollection":
        for member in geometry.get("geometries") or ():
            if isinstance(member, dict):
                yield from _positions(member)
        return

    def walk(node: Any) -> Iterator[list[float]]:
        if isinstance(node, list) and node and all(isinstance(v, int | float) for v in node):
            yield node
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)

    yield from walk(geometry.get("coordinates"))
