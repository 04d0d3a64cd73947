"""Render presets (the STAC render extension): sensible defaults per collection, and their use.

A collection's ``renders`` say how to draw it (assets, rescale, colormap, expression).
titiler.pgstac already turns them into WMTS layers and TileJSON ``raster_layers``; what it
does not do is draw a tile with them when the request names no ``assets``/``expression``,
which is what a map client adding ``.../tiles/WebMercatorQuad/{z}/{x}/{y}.png`` expects.
:class:`RenderDefaultsMiddleware` does that by filling the query string before titiler's
dependencies parse it: rewriting the query once covers every dependency (layer, rescale,
colormap, color_formula ...) of every endpoint, where swapping each dependency would not.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode

import cachetools
import psycopg
from fastapi import FastAPI
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.access.middleware import SECRET_PARAMS
from catalog.asgi import app_path
from catalog.renders import normalize_render, normalize_renders

__all__ = [
    "RENDER_EXTENSION",
    "RenderCatalog",
    "RenderDefaultsMiddleware",
    "add_default_renders",
    "default_render_name",
    "default_renders",
    "derived_renders",
    "normalize_render",
    "normalize_renders",
    "render_params",
]

log = logging.getLogger(__name__)

RENDER_EXTENSION = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
#: Reflectance drawn from black to white by the true-colour presets (0-30 %, the usual stretch).
REFLECTANCE_RANGE = (0.0, 0.3)
#: Names tried, in order, for the render used when a request gives none (jsonb does not keep
#: the order of keys, so "the first render" is not a rule pgstac can honour).
PREFERRED_RENDERS = ("default", "true-color", "truecolor", "natural-color", "visual", "dtm")
_RGB_FALLBACK_KEYS = {"red": ("B04", "SR_B4"), "green": ("B03", "SR_B3"), "blue": ("B02", "SR_B2")}
_DEM_WORDS = re.compile(r"\b(dem|dtm|dsm|elevation|height|terrain)\b", re.IGNORECASE)


# -- presets -----------------------------------------------------------------------------------


def _bands(asset: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(asset.get("raster:bands") or asset.get("bands") or [])


def _is_geotiff(asset: Mapping[str, Any]) -> bool:
    media = str(asset.get("type", "")).lower()
    return "tiff" in media or media == ""


def _common_names(asset: Mapping[str, Any]) -> list[str]:
    return [str(b.get("common_name") or b.get("eo:common_name") or "") for b in
            asset.get("eo:bands") or asset.get("bands") or []]


def _band_asset(assets: Mapping[str, Mapping[str, Any]], colour: str) -> str | None:
    """The single-band GeoTIFF asset of a colour: by key, by eo common name, by S2/L8 name."""
    candidates = [colour, *_RGB_FALLBACK_KEYS.get(colour, ())]
    for key in candidates:
        if key in assets and _is_geotiff(assets[key]):
            return key
    for key, asset in sorted(assets.items()):
        if _is_geotiff(asset) and _common_names(asset) == [colour]:
            return key
    return None


def _scale_offset(asset: Mapping[str, Any]) -> tuple[float, float]:
    bands = _bands(asset)
    first = bands[0] if bands else {}
    return float(first.get("scale") or 1e-4), float(first.get("offset") or 0.0)


def _raw(value: float, scale: float, offset: float) -> float:
    """The stored number that means ``value`` once scaled: the inverse of ``raw*scale+offset``."""
    return round((value - offset) / scale, 1)


def _single_band_render(collection: Mapping[str, Any], key: str, asset: Mapping[str, Any]) -> dict:
    text = " ".join(
        [str(collection.get("id", "")), str(collection.get("title", "")),
         " ".join(map(str, collection.get("keywords") or [])), str(asset.get("title", ""))]
    )
    band = (_bands(asset) or [{}])[0]
    stats = band.get("statistics") or {}
    if _DEM_WORDS.search(text):
        lo, hi = stats.get("minimum", 0), stats.get("maximum", 4000)
        return {"title": "Elevation", "assets": [key], "rescale": [[lo, hi]],
                "colormap_name": "terrain"}
    dtype = str(band.get("data_type", ""))
    default_hi = {"uint8": 255, "int8": 127}.get(dtype, 10000)
    lo, hi = stats.get("minimum", 0), stats.get("maximum", default_hi)
    return {"title": str(asset.get("title") or key), "assets": [key], "rescale": [[lo, hi]],
            "colormap_name": "viridis"}


COPC_TYPE = "application/vnd.laszip+copc"
#: ASPRS LAS classes as colours (classification band of point-cloud presets).
ASPRS_COLOURS: dict[str, list[int]] = {
    "1": [170, 170, 170, 255], "2": [166, 116, 64, 255], "3": [190, 230, 140, 255],
    "4": [110, 190, 80, 255], "5": [40, 120, 40, 255], "6": [220, 60, 50, 255],
    "7": [255, 0, 255, 255], "9": [60, 120, 230, 255], "10": [120, 120, 120, 255],
    "11": [70, 70, 70, 255], "13": [250, 210, 60, 255], "14": [250, 160, 60, 255],
    "15": [200, 100, 220, 255], "16": [120, 80, 200, 255], "17": [230, 200, 150, 255],
    "18": [255, 0, 255, 255],
}  # fmt: skip


def _pc_range(stats: Any, names: Sequence[str], default: tuple[float, float]) -> list[float]:
    """A dimension's minimum/maximum from pointcloud-extension statistics, else ``default``."""
    for entry in stats if isinstance(stats, list) else []:
        if isinstance(entry, Mapping) and str(entry.get("name", "")).lower() in names:
            try:
                lo, hi = float(entry["minimum"]), float(entry["maximum"])
            except (KeyError, TypeError, ValueError):
                continue
            if lo < hi:
                return [lo, hi]
    return list(default)


def pointcloud_renders(collection: Mapping[str, Any], key: str,
                       asset: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Presets of a COPC asset, drawn by the tiler's point-cloud reader (bands: 1 dsm, 2 dtm,
    3 intensity, 4 classification, 5 density; :mod:`tiler.pointcloud`). Heights are stretched
    over the cloud's z range (``pc:statistics`` of the asset or the collection's summaries)."""
    stats = asset.get("pc:statistics") or (collection.get("summaries") or {}).get(
        "pc:statistics")
    z = _pc_range(stats, ("z",), (0.0, 1000.0))
    intensity = _pc_range(stats, ("intensity",), (0.0, 255.0))
    band = {name: f"{key}|bidx={i}" for i, name in enumerate(
        ("dsm", "dtm", "intensity", "classification", "density"), 1)}
    return {
        "dtm": {"title": "Terrain (DTM, ground points)", "assets": [band["dtm"]],
                "rescale": [z], "colormap_name": "terrain"},
        "dtm-hillshade": {"title": "Terrain hillshade", "assets": [band["dtm"]],
                          "algorithm": "hillshade"},
        "dsm": {"title": "Surface (DSM, highest return)", "assets": [band["dsm"]],
                "rescale": [z], "colormap_name": "terrain"},
        "dsm-hillshade": {"title": "Surface hillshade", "assets": [band["dsm"]],
                          "algorithm": "hillshade"},
        "intensity": {"title": "Intensity", "assets": [band["intensity"]],
                      "rescale": [intensity], "colormap_name": "greys_r"},
        "classification": {"title": "Classification (ASPRS)",
                           "assets": [band["classification"]], "colormap": ASPRS_COLOURS},
        "density": {"title": "Point density (points/m² over ~2 m, at the zoom's detail)",
                    "assets": [band["density"]], "rescale": [[0.0, 20.0]],
                    "colormap_name": "viridis"},
    }


def default_renders(collection: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Render presets for a collection, from its ``item_assets`` (empty when none fits).

    - red/green/blue single-band assets (Sentinel-2 red/green/blue or B04/B03/B02, Landsat):
      ``true-color``, stretched over 0-30 % reflectance through the bands' own
      ``raster:bands`` scale/offset (Landsat C2 L2: 2.75e-05 and -0.2), and ``ndvi`` when a
      nir asset exists (the expression corrects for the offset).
    - else one RGB asset (eo:bands red, green, blue, such as a TCI): ``true-color`` as is.
    - one raster data asset (DEMs, single-band products): that band with a colormap
      (``terrain`` for elevation, ``viridis`` otherwise).
    - a COPC asset (point clouds): DTM, DSM (each also as hillshade), intensity,
      classification and density (:func:`pointcloud_renders`), DTM the default.

    The result is the collection's ``renders`` object (render extension v2).
    """
    assets: Mapping[str, Mapping[str, Any]] = collection.get("item_assets") or {}
    renders: dict[str, dict[str, Any]] = {}
    copc = sorted(k for k, a in assets.items() if str(a.get("type", "")).lower() == COPC_TYPE)
    if copc:  # a point-cloud collection: its COPC drawn as DTM/DSM/intensity/... rasters
        return pointcloud_renders(collection, copc[0], assets[copc[0]])
    rgb = [_band_asset(assets, c) for c in ("red", "green", "blue")]
    if all(rgb):
        red = str(rgb[0])
        scale, offset = _scale_offset(assets[red])
        lo, hi = (_raw(v, scale, offset) for v in REFLECTANCE_RANGE)
        renders["true-color"] = {
            "title": "True colour", "assets": rgb, "rescale": [[lo, hi]] * 3,
            "color_formula": "gamma rgb 1.3",
        }
        nir = _band_asset(assets, "nir") or _band_asset(assets, "nir08")
        if nir:
            # (n-r)/(n+r) on reflectances: with raw DNs the offsets add 2*offset/scale below.
            shift = round(2 * offset / scale, 3)
            denom = f"b1+b2{shift:+g}" if shift else "b1+b2"
            renders["ndvi"] = {
                "title": "NDVI", "assets": [nir, red], "expression": f"(b1-b2)/({denom})",
                "rescale": [[-1, 1]], "colormap_name": "rdylgn",
            }
        return renders
    visual = [k for k, a in sorted(assets.items())
              if _is_geotiff(a) and _common_names(a) == ["red", "green", "blue"]]
    if visual:  # one 8-bit RGB asset (a TCI): drawn as it is
        renders["true-color"] = {"title": "True colour", "assets": [visual[0]]}
        return renders
    data = [
        k for k, a in assets.items()
        if _is_geotiff(a) and len(_bands(a)) == 1 and "data" in (a.get("roles") or ["data"])
    ]
    if len(data) == 1:
        renders[data[0]] = _single_band_render(collection, data[0], assets[data[0]])
    return renders


def derived_renders(
    conn: psycopg.Connection[Any], collection: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """:func:`default_renders` of a catalog collection; one without ``item_assets`` (as
    loaded collections often are) is described by its latest item's assets instead (keys,
    eo:bands, raster:bands: the same information, hrefs aside)."""
    renders = default_renders(collection)
    if renders or collection.get("item_assets"):
        return renders
    row = conn.execute(
        "SELECT content->'assets', content->'properties'->'pc:statistics' FROM pgstac.items "
        "WHERE collection = %s ORDER BY datetime DESC LIMIT 1", (collection["id"],)).fetchone()
    if not row or not isinstance(row[0], dict):
        return {}
    described = {k: {kk: vv for kk, vv in a.items() if kk != "href"}
                 for k, a in row[0].items() if isinstance(a, dict)}
    for asset in described.values():  # a point cloud's z range is in the item's properties
        if str(asset.get("type", "")).lower() == COPC_TYPE and row[1]:
            asset.setdefault("pc:statistics", row[1])
    return default_renders({**collection, "item_assets": described})


def add_default_renders(
    dsn: str, *, overwrite: bool = False, only: Sequence[str] | None = None
) -> list[str]:
    """Give every catalog collection without ``renders`` (or those in ``only``) its
    :func:`default_renders`.

    Returns the ids of the collections changed (the demo calls this after loading).
    """
    changed: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT content FROM pgstac.collections WHERE %s::text[] IS NULL OR id = ANY(%s) "
            "ORDER BY id", (list(only) if only is not None else None,) * 2
        ).fetchall()
        for (content,) in rows:
            if content.get("renders") and not overwrite:
                continue
            renders = derived_renders(conn, content)
            if not renders:
                continue
            extensions = list(content.get("stac_extensions") or [])
            if RENDER_EXTENSION not in extensions:
                extensions.append(RENDER_EXTENSION)
            updated = {**content, "renders": renders, "stac_extensions": extensions}
            conn.execute("SELECT pgstac.upsert_collection(%s::jsonb)", (json.dumps(updated),))
            changed.append(str(content["id"]))
    return changed


# -- from renders to query parameters ----------------------------------------------------------


def render_params(renders: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Renders as titiler query parameters (titiler.pgstac's own conversion), per name."""
    renders = normalize_renders(renders)
    if not renders:
        return {}
    # Here, not at the top: the CLI's preset commands import this module without titiler.
    from titiler.extensions.render import _adapt_render_for_v2
    from titiler.pgstac.model import Metadata

    try:
        params = Metadata(defaults=json.loads(json.dumps(renders))).defaults_params
    except Exception:  # a malformed render in the catalog must not break the endpoint
        log.warning("ignoring malformed renders %r", renders)
        return {}
    for values in params.values():
        for key in ("title", "minmax_zoom", "tilematrixsets", "spatial_extent"):
            values.pop(key, None)
        _adapt_render_for_v2(values)
        _algorithm_buffer(values)
    return params


def _algorithm_buffer(values: dict[str, Any]) -> None:
    """Read the margin a neighbourhood algorithm (hillshade, slope...) crops away: titiler
    leaves ``buffer`` to the client, and without it a preset's tile comes out smaller than the
    tile (250 px for hillshade's 3 px on each side)."""
    name = values.get("algorithm")
    if not isinstance(name, str) or "buffer" in values:
        return
    from titiler.core.algorithm import algorithms

    try:
        algorithm = algorithms.get(name)
    except KeyError:
        return  # titiler reports an unknown algorithm itself
    params = values.get("algorithm_params")
    try:
        given = json.loads(params) if isinstance(params, str) else {}
    except ValueError:
        given = {}
    field = algorithm.model_fields.get("buffer")
    buffer = given.get("buffer") if isinstance(given, dict) else None
    if buffer is None and field is not None:
        buffer = field.default
    if isinstance(buffer, int) and buffer > 0:
        values["buffer"] = buffer


def default_render_name(params: Mapping[str, Any]) -> str | None:
    """Which render draws a request that names none (see :data:`PREFERRED_RENDERS`)."""
    for name in PREFERRED_RENDERS:
        if name in params:
            return name
    return min(params) if params else None


class RenderCatalog:
    """Looks up (and caches for ``ttl`` seconds) the renders of collections and searches."""

    def __init__(self, app: FastAPI, ttl: float = 60.0) -> None:
        self._app = app
        self._cache: cachetools.TTLCache[tuple[str, str], dict[str, dict[str, Any]]] = (
            cachetools.TTLCache(maxsize=4096, ttl=ttl)
        )
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], load: Callable[[], dict[str, dict[str, Any]]]) -> (
        dict[str, dict[str, Any]]
    ):
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = load()
        with self._lock:
            self._cache[key] = value
        return value

    def _query(self, sql: str, arg: str) -> dict[str, Any] | None:
        with self._app.state.dbpool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, (arg,))
            return cur.fetchone()

    def collection_renders(self, collection_id: str) -> dict[str, dict[str, Any]]:
        """The collection's renders, normalised (render extension shape; {} when none)."""

        def load() -> dict[str, dict[str, Any]]:
            row = self._query("SELECT content->'renders' AS r FROM pgstac.collections "
                              "WHERE id = %s", collection_id)
            return normalize_renders(row["r"] if row else None)

        return copy.deepcopy(self._cached(("renders", collection_id), load))

    def collection(self, collection_id: str) -> dict[str, dict[str, Any]]:
        """The collection's renders as query parameters ({} when none or unknown)."""
        return self._cached(("collection", collection_id),
                            lambda: render_params(self.collection_renders(collection_id)))

    def search(self, search_id: str) -> dict[str, dict[str, Any]]:
        """A registered search's renders: its own ``metadata.defaults``, else those of its
        single collection ({} otherwise)."""

        def load() -> dict[str, dict[str, Any]]:
            row = self._query("SELECT search, metadata FROM pgstac.searches WHERE hash = %s",
                              search_id)
            if not row:
                return {}
            own = render_params((row["metadata"] or {}).get("defaults"))
            if own:
                return own
            collections = (row["search"] or {}).get("collections") or []
            return self.collection(collections[0]) if len(collections) == 1 else {}

        return self._cached(("search", search_id), load)

    def for_mosaic(self, backend: Any) -> dict[str, dict[str, Any]]:
        """``get_renders`` of the search/collection factories."""
        return _with_credential(self.search(str(backend.input)))

    def for_item(self, reader: Any) -> dict[str, dict[str, Any]]:
        """``get_renders`` of the item factory: the item's own renders, else its collection's."""
        own = render_params(reader.item.properties.get("renders"))
        return _with_credential(own or self.collection(str(reader.item.collection_id)))

    def item_renders(self, item: Any) -> dict[str, dict[str, Any]]:
        """A pystac item's own renders, else its collection's (normalised, not parameters)."""
        own = normalize_renders(item.properties.get("renders"))
        return own or self.collection_renders(str(item.collection_id))


#: The ``key``/``token`` query parameter of the request being served. titiler builds the WMTS
#: layers and render links of a document from the renders alone; clients that cannot send
#: headers (QGIS, map libraries) need the credential they fetched the document with in them.
REQUEST_CREDENTIAL: ContextVar[tuple[tuple[str, str], ...]] = ContextVar(
    "REQUEST_CREDENTIAL", default=()
)


def _with_credential(renders: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    credential = dict(REQUEST_CREDENTIAL.get())
    if not credential:
        return renders
    return {name: {**params, **credential} for name, params in renders.items()}


# -- applying the default render to requests --------------------------------------------------

_RENDERED = re.compile(
    r"^/(?:collections/(?P<collection>[^/]+)(?:/items/(?P<item>[^/]+))?|searches/(?P<search>[^/]+))"
    r"/(?:tiles/[^/]+/\d+/\d+/\d+(?:\.\w+)?|[^/]+/tilejson\.json|[^/]+/map\.html"
    r"|preview(?:/\d+x\d+)?(?:\.\w+)?|bbox/.+|point/.+|statistics)$"
)
_LAYER_KEYS = {"assets", "expression"}


class RenderDefaultsMiddleware:
    """Fill in the default render of a request that names no ``assets``/``expression``.

    ``render=<name>`` picks another of the collection's renders. Parameters the client gives
    win over the render's (``?colormap_name=magma`` recolours the default layer).
    """

    def __init__(self, app: ASGIApp, catalog: RenderCatalog) -> None:
        self.app = app
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            REQUEST_CREDENTIAL.set(tuple(
                (k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                if k in SECRET_PARAMS)[:1])
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            m = _RENDERED.match(app_path(scope))
            if m:
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                  keep_blank_values=True)
                if not _LAYER_KEYS & {k for k, _ in query}:
                    filled, error = await run_in_threadpool(self._fill, m, query)
                    if error is not None:
                        await JSONResponse({"detail": error}, 400)(scope, receive, send)
                        return
                    if filled is not None:
                        scope = {**scope, "query_string": filled.encode("latin-1")}
        await self.app(scope, receive, send)

    def _fill(
        self, m: re.Match[str], query: list[tuple[str, str]]
    ) -> tuple[str | None, str | None]:
        """(the new query string or None to leave it alone, an error message or None)."""
        try:
            if m["search"]:
                renders = self.catalog.search(m["search"])
            else:
                renders = self.catalog.collection(m["collection"])
        except Exception:  # the endpoint itself will report a database problem
            log.warning("render lookup failed for %s", m.group(0), exc_info=True)
            return None, None
        asked = [v for k, v in query if k == "render"]
        name = asked[-1] if asked else default_render_name(renders)
        if name is None:
            return None, None
        if name not in renders:
            return None, f"invalid parameter 'render': no render {name[:64]!r} for this layer"
        given = {k for k, _ in query}
        merged = [(k, v) for k, v in query if k != "render"]
        for key, value in renders[name].items():
            if key in given:
                continue
            for v in value if isinstance(value, list | tuple) else [value]:
                merged.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
        return urlencode(merged), None
