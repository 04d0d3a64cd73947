"""OGC WMS 1.3.0 (GetCapabilities, GetMap, GetFeatureInfo) over the catalog's layers, for
clients that speak only WMS (CREODIAS-style portals, older GIS tools; QGIS's Identify asks
GetFeatureInfo; those speaking only 1.1.1 get 1.1.1).

titiler.extensions' ``wmsExtension`` serves one factory's datasets by path (``LAYERS`` are file
URLs, every parse error a 500, no size limit); ours lists the same layers as the catalog-wide
WMTS (:mod:`tiler.layers`: readable collections that draw from the store, render presets as
styles) and draws a GetMap through the tile service's own ``/collections/{id}/bbox/...`` route,
called in-process with the caller's credential: the same readers, guards, render presets and
access rules as every tile, with no second rendering path to keep in step.

Axis order: in WMS 1.3.0 ``CRS=EPSG:4326`` has latitude first (``BBOX=S,W,N,E``);
``CRS=CRS:84`` is the longitude-first alternative. ``EPSG:3857`` is Web Mercator metres.
Errors are ``ServiceExceptionReport`` documents with the status 400.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

import httpx
import jinja2
from fastapi import APIRouter, Request
from PIL import Image
from pyproj import Transformer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from catalog.access.middleware import SECRET_PARAMS

from .errors import WmsError
from .layers import CatalogLayers, Layer
from .settings import TilerSettings

__all__ = ["wms_router"]

log = logging.getLogger(__name__)

VERSION = "1.3.0"
#: WMS 1.1.1 as well, for older clients: ``SRS`` instead of ``CRS``, EPSG:4326 longitude first,
#: exceptions as ``application/vnd.ogc.se_xml``.
LEGACY = "1.1.1"
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
#: GetFeatureInfo answers: the first is the default (WMS leaves it to the server).
INFO_FORMATS = ("text/plain", "application/json", "text/html")
#: The most items a GetFeatureInfo lists per layer, whatever FEATURE_COUNT asks.
MAX_FEATURES = 50
#: CRS -> (the CRS the tile route reads/writes, whether BBOX is latitude first)
CRSES = {"EPSG:4326": ("EPSG:4326", True), "CRS:84": ("EPSG:4326", False),
         "EPSG:3857": ("EPSG:3857", False)}
_WORLD_M = 20037508.342789244
#: The largest |x|, |y| a BBOX may hold, per CRS the tile route uses (a map may be a little
#: wider than the world; not 1e300 wide).
_EXTENT = {"EPSG:4326": (360.0, 90.0), "EPSG:3857": (2 * _WORLD_M, 2 * _WORLD_M)}
_MERCATOR_LAT = 85.0511287798066
_TO_MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
_TO_LONLAT = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)

#: The one way in of every operation (an HTTP GET on the service's URL), as both versions say it.
_GET = """{% macro get(url) %}
        <DCPType><HTTP><Get><OnlineResource xlink:type="simple" xlink:href="{{ url }}"/></Get>
        </HTTP></DCPType>
{%- endmacro %}"""

_CAPABILITIES = jinja2.Environment(autoescape=True).from_string(
    _GET + """<?xml version="1.0" encoding="UTF-8"?>
<WMS_Capabilities version="1.3.0" xmlns="http://www.opengis.net/wms"
 xmlns:xlink="http://www.w3.org/1999/xlink">
  <Service>
    <Name>WMS</Name>
    <Title>{{ title }}</Title>
    <Abstract>Render presets of the catalog's collections, drawn from its object store.</Abstract>
    <OnlineResource xlink:type="simple" xlink:href="{{ url }}"/>
    <LayerLimit>{{ max_layers }}</LayerLimit>
    <MaxWidth>{{ max_size }}</MaxWidth>
    <MaxHeight>{{ max_size }}</MaxHeight>
  </Service>
  <Capability>
    <Request>
      <GetCapabilities>
        <Format>text/xml</Format>
        {{- get(url) }}
      </GetCapabilities>
      <GetMap>
        {%- for f in formats %}
        <Format>{{ f }}</Format>
        {%- endfor %}
        {{- get(url) }}
      </GetMap>
      <GetFeatureInfo>
        {%- for f in info_formats %}
        <Format>{{ f }}</Format>
        {%- endfor %}
        {{- get(url) }}
      </GetFeatureInfo>
    </Request>
    <Exception><Format>XML</Format></Exception>
    <Layer>
      <Title>{{ title }}</Title>
      {%- for crs in crses %}
      <CRS>{{ crs }}</CRS>
      {%- endfor %}
      <EX_GeographicBoundingBox>
        <westBoundLongitude>-180</westBoundLongitude><eastBoundLongitude>180</eastBoundLongitude>
        <southBoundLatitude>-90</southBoundLatitude><northBoundLatitude>90</northBoundLatitude>
      </EX_GeographicBoundingBox>
      {%- for layer in layers %}
      <Layer queryable="1" opaque="0">
        <Name>{{ layer.id }}</Name>
        <Title>{{ layer.title }}</Title>
        <Abstract>{{ layer.abstract }}</Abstract>
        <EX_GeographicBoundingBox>
          <westBoundLongitude>{{ layer.bbox[0] }}</westBoundLongitude>
          <eastBoundLongitude>{{ layer.bbox[2] }}</eastBoundLongitude>
          <southBoundLatitude>{{ layer.bbox[1] }}</southBoundLatitude>
          <northBoundLatitude>{{ layer.bbox[3] }}</northBoundLatitude>
        </EX_GeographicBoundingBox>
        <BoundingBox CRS="CRS:84" minx="{{ layer.bbox[0] }}" miny="{{ layer.bbox[1] }}"
         maxx="{{ layer.bbox[2] }}" maxy="{{ layer.bbox[3] }}"/>
        <BoundingBox CRS="EPSG:4326" minx="{{ layer.bbox[1] }}" miny="{{ layer.bbox[0] }}"
         maxx="{{ layer.bbox[3] }}" maxy="{{ layer.bbox[2] }}"/>
        <BoundingBox CRS="EPSG:3857" minx="{{ layer.mercator[0] }}" miny="{{ layer.mercator[1] }}"
         maxx="{{ layer.mercator[2] }}" maxy="{{ layer.mercator[3] }}"/>
        {%- for name, render in layer.renders.items() %}
        <Style><Name>{{ name }}</Name><Title>{{ render.title or name }}</Title></Style>
        {%- endfor %}
      </Layer>
      {%- endfor %}
    </Layer>
  </Capability>
</WMS_Capabilities>
"""
)

_CAPABILITIES_111 = jinja2.Environment(autoescape=True).from_string(
    _GET + """<?xml version="1.0" encoding="UTF-8"?>
<WMT_MS_Capabilities version="1.1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <Service>
    <Name>OGC:WMS</Name>
    <Title>{{ title }}</Title>
    <OnlineResource xlink:type="simple" xlink:href="{{ url }}"/>
  </Service>
  <Capability>
    <Request>
      <GetCapabilities>
        <Format>application/vnd.ogc.wms_xml</Format>
        {{- get(url) }}
      </GetCapabilities>
      <GetMap>
        {%- for f in formats %}
        <Format>{{ f }}</Format>
        {%- endfor %}
        {{- get(url) }}
      </GetMap>
      <GetFeatureInfo>
        {%- for f in info_formats %}
        <Format>{{ f }}</Format>
        {%- endfor %}
        {{- get(url) }}
      </GetFeatureInfo>
    </Request>
    <Exception><Format>application/vnd.ogc.se_xml</Format></Exception>
    <Layer>
      <Title>{{ title }}</Title>
      {%- for crs in crses %}
      <SRS>{{ crs }}</SRS>
      {%- endfor %}
      <LatLonBoundingBox minx="-180" miny="-90" maxx="180" maxy="90"/>
      {%- for layer in layers %}
      <Layer queryable="1" opaque="0">
        <Name>{{ layer.id }}</Name>
        <Title>{{ layer.title }}</Title>
        <Abstract>{{ layer.abstract }}</Abstract>
        <LatLonBoundingBox minx="{{ layer.bbox[0] }}" miny="{{ layer.bbox[1] }}"
         maxx="{{ layer.bbox[2] }}" maxy="{{ layer.bbox[3] }}"/>
        <BoundingBox SRS="EPSG:4326" minx="{{ layer.bbox[0] }}" miny="{{ layer.bbox[1] }}"
         maxx="{{ layer.bbox[2] }}" maxy="{{ layer.bbox[3] }}"/>
        <BoundingBox SRS="EPSG:3857" minx="{{ layer.mercator[0] }}" miny="{{ layer.mercator[1] }}"
         maxx="{{ layer.mercator[2] }}" maxy="{{ layer.mercator[3] }}"/>
        {%- for name, render in layer.renders.items() %}
        <Style><Name>{{ name }}</Name><Title>{{ render.title or name }}</Title></Style>
        {%- endfor %}
      </Layer>
      {%- endfor %}
    </Layer>
  </Capability>
</WMT_MS_Capabilities>
"""
)

_OPENAPI_PARAMETERS = [
    {"name": name, "in": "query", "required": name == "REQUEST",
     "schema": {"type": "string", **({"enum": enum} if enum else {})}, "description": text}
    for name, enum, text in (
        ("SERVICE", ["WMS"], "The service type."),
        ("REQUEST", ["GetCapabilities", "GetMap", "GetFeatureInfo"], "The operation."),
        ("VERSION", [VERSION, LEGACY], "WMS version (1.3.0, or 1.1.1)."),
        ("LAYERS", None, "Comma-separated layer names (collection ids), bottom first."),
        ("STYLES", None, "Comma-separated render presets, one per layer (empty: default)."),
        ("CRS", list(CRSES), "CRS of BBOX; EPSG:4326 is latitude first (1.3.0)."),
        ("SRS", list(CRSES), "CRS of BBOX in WMS 1.1.1 (EPSG:4326 longitude first)."),
        ("BBOX", None, "minx,miny,maxx,maxy in the CRS's axis order."),
        ("WIDTH", None, "Image width in pixels."),
        ("HEIGHT", None, "Image height in pixels."),
        ("FORMAT", list(FORMATS), "Image format."),
        ("TRANSPARENT", ["TRUE", "FALSE"], "Transparent background (PNG)."),
        ("BGCOLOR", None, "Background colour 0xRRGGBB."),
        ("EXCEPTIONS", ["XML"], "Exception format."),
        ("QUERY_LAYERS", None, "GetFeatureInfo: the layers to query (among LAYERS)."),
        ("I", None, "GetFeatureInfo: pixel column in the map, from 0 (X in 1.1.1)."),
        ("J", None, "GetFeatureInfo: pixel row in the map, from 0 (Y in 1.1.1)."),
        ("INFO_FORMAT", list(INFO_FORMATS), "GetFeatureInfo: the answer's format."),
        ("FEATURE_COUNT", None, "GetFeatureInfo: most values per layer (items under the point)."),
    )
]


def _mercator(bbox: tuple[float, float, float, float]) -> tuple[float, ...]:
    w, s, e, n = bbox
    s, n = max(s, -_MERCATOR_LAT), min(n, _MERCATOR_LAT)
    x0, y0 = _TO_MERCATOR.transform(w, s)
    x1, y1 = _TO_MERCATOR.transform(e, n)
    return (round(x0, 3), round(y0, 3), round(x1, 3), round(y1, 3))


def _required(q: Mapping[str, str], name: str) -> str:
    value = q.get(name.lower())
    if value is None or value == "":
        raise WmsError("MissingParameterValue", f"missing parameter '{name}'")
    return value


def _size(q: Mapping[str, str], name: str, most: int) -> int:
    raw = _required(q, name)
    try:
        value = int(raw)
    except ValueError:
        raise WmsError("InvalidParameterValue", f"invalid parameter '{name}': "
                                                "expected an integer") from None
    if not 1 <= value <= most:
        raise WmsError("InvalidParameterValue",
                       f"invalid parameter '{name}': must be 1..{most} pixels")
    return value


def _bbox(
    q: Mapping[str, str], lat_first: bool, limits: tuple[float, float]
) -> tuple[float, float, float, float]:
    parts = _required(q, "BBOX").split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise WmsError("InvalidParameterValue",
                       "invalid parameter 'BBOX': expected four numbers minx,miny,maxx,maxy")
    if values[0] >= values[2] or values[1] >= values[3]:
        raise WmsError("InvalidParameterValue",
                       "invalid parameter 'BBOX': minimum not below maximum")
    if lat_first:
        s, w, n, e = values
        if s < -90 or n > 90:
            raise WmsError("InvalidParameterValue", "invalid parameter 'BBOX': latitude out of "
                                                    "-90..90 (EPSG:4326 is latitude first)")
        values = [w, s, e, n]
    w, s, e, n = values
    x_most, y_most = limits
    if w < -x_most or e > x_most or s < -y_most or n > y_most:
        raise WmsError("InvalidParameterValue",
                       f"invalid parameter 'BBOX': outside the CRS's extent (+-{x_most:g}, "
                       f"+-{y_most:g})")
    return (w, s, e, n)


def _colour(q: Mapping[str, str]) -> tuple[int, int, int]:
    raw = q.get("bgcolor") or "0xFFFFFF"
    hexa = raw[2:] if raw.lower().startswith("0x") else raw.lstrip("#")
    try:
        if len(hexa) != 6:
            raise ValueError
        value = int(hexa, 16)
    except ValueError:
        raise WmsError("InvalidParameterValue",
                       "invalid parameter 'BGCOLOR': expected 0xRRGGBB") from None
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def _flag(q: Mapping[str, str], name: str) -> bool:
    raw = (q.get(name.lower()) or "FALSE").upper()
    if raw not in ("TRUE", "FALSE"):
        raise WmsError("InvalidParameterValue", f"invalid parameter '{name}': TRUE or FALSE")
    return raw == "TRUE"


def wms_router(settings: TilerSettings, catalog: CatalogLayers) -> APIRouter:
    """The ``/wms`` route (see the module docstring)."""
    router = APIRouter()

    @router.get(
        "/wms",
        response_class=Response,
        responses={200: {"content": {"text/xml": {}, "image/png": {}, "image/jpeg": {}},
                         "description": "Capabilities, a map image or a ServiceException."}},
        summary="OGC WMS 1.3.0: GetCapabilities and GetMap of the catalog's layers.",
        operation_id="getWMS",
        tags=["OGC WMS"],
        openapi_extra={"parameters": _OPENAPI_PARAMETERS},
    )
    async def wms(request: Request) -> Response:
        # Parameter names are case-insensitive in OGC services (values are not).
        q = {k.lower(): v for k, v in request.query_params.multi_items()
             if k not in SECRET_PARAMS}
        asked = q.get("version") or q.get("wmtver") or VERSION
        legacy = asked.startswith("1.1")  # negotiation: 1.1.x gets 1.1.1, anything else 1.3.0
        try:
            operation = _required(q, "REQUEST").lower()
            if operation == "getcapabilities":
                service = _required(q, "SERVICE") if not q.get("wmtver") else "WMS"
                if service.upper() != "WMS":
                    raise WmsError("InvalidParameterValue",
                                   "invalid parameter 'SERVICE': not WMS")
                layers = await run_in_threadpool(catalog.layers, request)
                return _capabilities(request, settings, layers, legacy=legacy)
            if operation in ("getmap", "map"):
                return await _get_map(request, q, settings, catalog)
            if operation in ("getfeatureinfo", "feature_info"):
                return await _get_feature_info(request, q, settings, catalog)
            raise WmsError("OperationNotSupported", "invalid parameter 'REQUEST': "
                           "GetCapabilities, GetMap or GetFeatureInfo")
        except WmsError as exc:
            if not legacy:
                raise  # the 1.3.0 ServiceExceptionReport (tiler.errors)
            return _legacy_exception(exc)

    return router


def _credential(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k in SECRET_PARAMS][:1]


def _legacy_exception(exc: WmsError) -> Response:
    """A WMS 1.1.1 ``ServiceExceptionReport`` (no namespace, its own media type)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ServiceExceptionReport version="1.1.1">\n'
        f'  <ServiceException code="{escape(exc.code)}">{escape(str(exc))}</ServiceException>\n'
        "</ServiceExceptionReport>\n"
    )
    return Response(body, status_code=exc.status_code, media_type="application/vnd.ogc.se_xml")


def _capabilities(
    request: Request, settings: TilerSettings, layers: list[Layer], *, legacy: bool = False
) -> Response:
    credential = _credential(request)
    # An OnlineResource ends in '?' or '&' (WMS 1.3.0, 6.3.3); clients append their parameters.
    url = f"{request.base_url}wms?" + (f"{urlencode(credential)}&" if credential else "")
    template = _CAPABILITIES_111 if legacy else _CAPABILITIES
    xml = template.render(
        title=settings.title, url=url, formats=list(FORMATS), info_formats=list(INFO_FORMATS),
        crses=[c for c in CRSES if not (legacy and c == "CRS:84")],
        max_size=settings.wms_max_size, max_layers=settings.wms_max_layers,
        layers=[{"id": la.id, "title": la.title, "abstract": la.abstract, "bbox": la.bbox,
                 "mercator": _mercator(la.bbox), "renders": la.renders} for la in layers],
    )
    return Response(xml, media_type="application/vnd.ogc.wms_xml" if legacy else "text/xml")


@dataclass(frozen=True)
class _MapPart:
    """What GetMap and GetFeatureInfo share: the map's layers, styles and extent."""

    legacy: bool
    picked: list[tuple[str, str]]  # (layer, style), the first at the bottom
    bbox: tuple[float, float, float, float]
    crs: str
    width: int
    height: int


async def _get_map(
    request: Request, q: Mapping[str, str], settings: TilerSettings, catalog: CatalogLayers
) -> Response:
    part = await _map_part(request, q, settings, catalog)
    fmt = _required(q, "FORMAT").split(";")[0].strip().lower()
    if fmt not in FORMATS:
        raise WmsError("InvalidFormat", f"invalid parameter 'FORMAT': one of {', '.join(FORMATS)}")
    transparent = _flag(q, "TRANSPARENT")
    background = _colour(q)
    pngs = await asyncio.gather(*(
        _draw(request, name, style, part.bbox, part.crs, part.width, part.height)
        for name, style in part.picked))
    body = await run_in_threadpool(  # pixels off the event loop
        _compose, pngs, (part.width, part.height), fmt, None if transparent else background)
    return Response(body, media_type=fmt)


async def _map_part(
    request: Request, q: Mapping[str, str], settings: TilerSettings, catalog: CatalogLayers
) -> _MapPart:
    version = q.get("version") or q.get("wmtver") or ""
    if not version:
        raise WmsError("MissingParameterValue", "missing parameter 'VERSION'")
    legacy = version in ("1.1.0", LEGACY)
    if version != VERSION and not legacy:
        raise WmsError("InvalidParameterValue",
                       f"invalid parameter 'VERSION': {VERSION} or {LEGACY}")
    names = _required(q, "LAYERS").split(",")
    if len(names) > settings.wms_max_layers:
        raise WmsError("InvalidParameterValue",
                       f"invalid parameter 'LAYERS': at most {settings.wms_max_layers}")
    styles = (q.get("styles") or "").split(",") if q.get("styles") else [""] * len(names)
    if len(styles) != len(names):
        raise WmsError("InvalidParameterValue",
                       "invalid parameter 'STYLES': one per layer (or none at all)")
    crs_key = "SRS" if legacy and "srs" in q else "CRS"
    crs_name = _required(q, crs_key).upper()
    if crs_name not in CRSES:
        raise WmsError("InvalidSRS" if legacy else "InvalidCRS",
                       f"invalid parameter '{crs_key}': one of {', '.join(CRSES)}")
    crs, lat_first = CRSES[crs_name]
    lat_first = lat_first and not legacy  # WMS 1.1.1: EPSG:4326 is longitude first
    bbox = _bbox(q, lat_first, _EXTENT[crs])
    width = _size(q, "WIDTH", settings.wms_max_size)
    height = _size(q, "HEIGHT", settings.wms_max_size)
    known = {la.id: la for la in await run_in_threadpool(catalog.layers, request, names)}
    picked: list[tuple[str, str]] = []
    for name, style in zip(names, styles, strict=True):
        layer = known.get(name)
        if layer is None:  # unknown and hidden alike: no oracle
            raise WmsError("LayerNotDefined", f"no layer {name[:128]!r}")
        style = style or layer.default
        if style not in layer.renders:
            raise WmsError("StyleNotDefined", f"no style {style[:64]!r} for layer {name[:128]!r}")
        picked.append((name, style))
    return _MapPart(legacy, picked, bbox, crs, width, height)


async def _get_feature_info(
    request: Request, q: Mapping[str, str], settings: TilerSettings, catalog: CatalogLayers
) -> Response:
    """The values under one pixel of a map (QGIS's Identify): each queried layer's bands, as
    its render preset reads them (assets or expression), per item under the point, through
    the tile service's own ``point`` route as the caller."""
    part = await _map_part(request, q, settings, catalog)
    styles = dict(part.picked)
    queried = _required(q, "QUERY_LAYERS").split(",")
    for name in queried:
        if name not in styles:
            raise WmsError("LayerNotQueryable",
                           f"invalid parameter 'QUERY_LAYERS': {name[:128]!r} is not in LAYERS")
    i_name, j_name = ("X", "Y") if part.legacy and "x" in q else ("I", "J")
    i, j = _pixel(q, i_name, part.width), _pixel(q, j_name, part.height)
    info_format = (q.get("info_format") or INFO_FORMATS[0]).split(";")[0].strip().lower()
    if info_format not in INFO_FORMATS:
        raise WmsError("InvalidFormat",
                       f"invalid parameter 'INFO_FORMAT': one of {', '.join(INFO_FORMATS)}")
    try:
        count = min(max(int(q.get("feature_count") or 1), 1), MAX_FEATURES)
    except ValueError:
        raise WmsError("InvalidParameterValue",
                       "invalid parameter 'FEATURE_COUNT': a positive integer") from None
    w, s, e, n = part.bbox
    x = w + (i + 0.5) * (e - w) / part.width  # the pixel's centre
    y = n - (j + 0.5) * (n - s) / part.height
    lon, lat = (x, y) if part.crs == "EPSG:4326" else _TO_LONLAT.transform(x, y)
    found = await asyncio.gather(*(
        _values(request, name, styles[name], lon, lat) for name in queried))
    rows = [(name, str(point["item"]), point["values"])
            for name, points in zip(queried, found, strict=True) for point in points[:count]]
    if info_format == "application/json":
        features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                     "properties": {"layer": name, "style": styles[name], "item": item,
                                    "values": values}} for name, item, values in rows]
        return Response(json.dumps({"type": "FeatureCollection", "features": features}),
                        media_type="application/json")
    if info_format == "text/html":
        cells = "".join(f"<tr><td>{escape(name)}</td><td>{escape(item)}</td>"
                        f"<td>{escape(_band_text(values))}</td></tr>"
                        for name, item, values in rows)
        return Response(
            "<!DOCTYPE html><html><body><table><tr><th>layer</th><th>item</th><th>values</th>"
            f"</tr>{cells}</table></body></html>", media_type="text/html")
    lines = [f"{lon:.6f}, {lat:.6f}"] + [f"{name} {item}: {_band_text(values)}"
                                         for name, item, values in rows]
    if not rows:
        lines.append("no values here")
    return Response("\n".join(lines) + "\n", media_type="text/plain")


def _band_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{band}={value}" for band, value in values.items())


def _pixel(q: Mapping[str, str], name: str, size: int) -> int:
    raw = _required(q, name)
    try:
        value = int(raw)
    except ValueError:
        raise WmsError("InvalidPoint", f"invalid parameter '{name}': an integer") from None
    if not 0 <= value < size:
        raise WmsError("InvalidPoint", f"invalid parameter '{name}': from 0 to {size - 1}")
    return value


async def _values(request: Request, collection: str, style: str, lon: float,
                  lat: float) -> list[dict[str, Any]]:
    """Band values of each item of ``collection`` under (lon, lat), as its render reads them
    (none: no item there, or a layer whose data has no pixels, such as a point cloud)."""
    path = f"/collections/{quote(collection, safe='')}/point/{lon!r},{lat!r}"
    r = await _internal_get(request, path, [("render", style)])
    if r.status_code != 200:
        if r.status_code >= 500:
            raise WmsError("NoApplicableCode", "the layer could not be read", r.status_code)
        return []  # nothing there (404), or no pixels to read (a 4xx for point clouds)
    points = []
    for asset in r.json().get("assets") or []:
        names = asset.get("band_names") or []
        values = asset.get("values") or []
        labels = names if len(names) == len(values) else [f"b{k + 1}" for k in range(len(values))]
        points.append({"item": str(asset.get("name", "")),
                       "values": {str(b): v for b, v in zip(labels, values, strict=True)}})
    return points


async def _internal_get(request: Request, path: str,
                        query: list[tuple[str, str]]) -> httpx.Response:
    """GET a route of this tile service in-process, with the caller's credential."""
    headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
    client = request.client
    transport = httpx.ASGITransport(
        app=request.app, client=(client.host, client.port) if client else ("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url="http://tiles.internal") as http:
        return await http.get(f"{path}?{urlencode([*query, *_credential(request)])}",
                              headers=headers)


def _compose(
    pngs: Sequence[bytes | None], size: tuple[int, int], fmt: str,
    background: tuple[int, int, int] | None,
) -> bytes:
    """The layers' images over each other, the first at the bottom (WMS 1.3.0, 7.3.3.3), on
    ``background`` (None: transparent, PNG only)."""
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    for content in pngs:
        if content is None:
            continue
        with Image.open(io.BytesIO(content)) as decoded:
            image = decoded.convert("RGBA")
        if image.size != size:
            image = image.resize(size)
        canvas = Image.alpha_composite(canvas, image)
    if background is not None or fmt != "image/png":
        flat = Image.new("RGBA", size, (*(background or (255, 255, 255)), 255))
        canvas = Image.alpha_composite(flat, canvas).convert("RGB")
    out = io.BytesIO()
    canvas.save(out, FORMATS[fmt])
    return out.getvalue()


async def _draw(
    request: Request, collection: str, style: str, bbox: tuple[float, float, float, float],
    crs: str, width: int, height: int,
) -> bytes | None:
    """One layer's PNG through the tile service's bbox route, as the caller (None: no data
    there)."""
    path = (f"/collections/{quote(collection, safe='')}/bbox/"
            f"{','.join(repr(float(v)) for v in bbox)}/{width}x{height}.png")
    r = await _internal_get(request, path,
                            [("coord_crs", crs), ("dst_crs", crs), ("render", style)])
    if r.status_code == 204:
        return None
    if r.status_code != 200:
        try:
            body = r.json()
            detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        except ValueError:
            detail = ""
        log.info("WMS layer %s/%s: %s %s", collection, style, r.status_code, detail[:200])
        if r.status_code >= 500:  # 503: over the time budget; 500: a fault (logged there)
            raise WmsError("NoApplicableCode", "the layer could not be drawn", r.status_code)
        raise WmsError("InvalidParameterValue",
                       f"layer {collection[:128]!r} could not be drawn here: {detail[:200]}")
    return r.content
