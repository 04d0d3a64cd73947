"""One WMTS capabilities document for the whole catalog: every collection is a layer.

titiler (and titiler.pgstac) write capabilities per item, collection or search; a QGIS user
wants the catalog in one step. Each collection with a render becomes one layer drawn with its
default render, linked to every TileMatrixSet we serve, whose tiles are the collection mosaic
(``/collections/{id}/tiles/...``). Collections without a render (point clouds, vectors) are
left out: there is nothing sensible to draw for them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Request
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets
from psycopg.rows import dict_row
from starlette.responses import Response

from catalog.access import readable_of

from .render import REQUEST_CREDENTIAL, default_render_name, render_params
from .settings import TilerSettings

__all__ = ["catalog_wmts_router", "tile_limits"]

_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"
 xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
  <ows:ServiceIdentification>
    <ows:Title>{{ title }}</ows:Title>
    <ows:ServiceType>OGC WMTS</ows:ServiceType>
    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>
  </ows:ServiceIdentification>
  <ows:OperationsMetadata>
    {%- for op in ("GetCapabilities", "GetTile") %}
    <ows:Operation name="{{ op }}"><ows:DCP><ows:HTTP><ows:Get xlink:href="{{ self_url }}">
      <ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>RESTful</ows:Value>
      </ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP></ows:Operation>
    {%- endfor %}
  </ows:OperationsMetadata>
  <Contents>
    {%- for layer in layers %}
    <Layer>
      <ows:Title>{{ layer.title }}</ows:Title>
      <ows:Abstract>{{ layer.abstract }}</ows:Abstract>
      <ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84">
        <ows:LowerCorner>{{ layer.bbox[0] }} {{ layer.bbox[1] }}</ows:LowerCorner>
        <ows:UpperCorner>{{ layer.bbox[2] }} {{ layer.bbox[3] }}</ows:UpperCorner>
      </ows:WGS84BoundingBox>
      <ows:Identifier>{{ layer.identifier }}</ows:Identifier>
      <Style isDefault="true"><ows:Title>{{ layer.render_title }}</ows:Title>
        <ows:Identifier>{{ layer.render }}</ows:Identifier></Style>
      <Format>image/png</Format>
      {%- for link in layer.links %}
      <TileMatrixSetLink>
        <TileMatrixSet>{{ link.tms }}</TileMatrixSet>
        <TileMatrixSetLimits>
          {%- for lim in link.limits %}
          <TileMatrixLimits><TileMatrix>{{ lim.tileMatrix }}</TileMatrix>
            <MinTileRow>{{ lim.minTileRow }}</MinTileRow>
            <MaxTileRow>{{ lim.maxTileRow }}</MaxTileRow>
            <MinTileCol>{{ lim.minTileCol }}</MinTileCol>
            <MaxTileCol>{{ lim.maxTileCol }}</MaxTileCol>
          </TileMatrixLimits>
          {%- endfor %}
        </TileMatrixSetLimits>
      </TileMatrixSetLink>
      {%- endfor %}
      {%- for link in layer.links %}
      <ResourceURL format="image/png" resourceType="tile" template="{{ link.template }}"/>
      {%- endfor %}
    </Layer>
    {%- endfor %}
    {%- for tms in tile_matrix_sets %}
    <TileMatrixSet>
      <ows:Identifier>{{ tms.id }}</ows:Identifier>
      <ows:SupportedCRS>{{ tms.crs }}</ows:SupportedCRS>
      {%- for m in tms.matrices %}
      <TileMatrix>
        <ows:Identifier>{{ m.id }}</ows:Identifier>
        <ScaleDenominator>{{ m.scaleDenominator }}</ScaleDenominator>
        <TopLeftCorner>{{ m.pointOfOrigin[0] }} {{ m.pointOfOrigin[1] }}</TopLeftCorner>
        <TileWidth>{{ m.tileWidth }}</TileWidth><TileHeight>{{ m.tileHeight }}</TileHeight>
        <MatrixWidth>{{ m.matrixWidth }}</MatrixWidth>
        <MatrixHeight>{{ m.matrixHeight }}</MatrixHeight>
      </TileMatrix>
      {%- endfor %}
    </TileMatrixSet>
    {%- endfor %}
  </Contents>
  <ServiceMetadataURL xlink:href="{{ self_url }}"/>
</Capabilities>
"""
)


def tile_limits(
    tms: TileMatrixSet, bbox: tuple[float, float, float, float], zooms: tuple[int, int]
) -> list[dict[str, Any]]:
    """TileMatrixLimits of a lon/lat bbox, clamped to the TMS extent and matrix size.

    (titiler's ``tms_limits`` can give a row/column one past the matrix and fails on global
    extents in Web Mercator, where latitudes beyond 85.05 degrees have no tile.)
    """
    w, s, e, n = tms.bbox
    minx, miny = max(bbox[0], w), max(bbox[1], s)
    maxx, maxy = min(bbox[2], e), min(bbox[3], n)
    if minx >= maxx or miny >= maxy:
        return []
    eps = 1e-9
    limits = []
    for z in range(max(zooms[0], tms.minzoom), min(zooms[1], tms.maxzoom) + 1):
        matrix = tms.matrix(z)
        ul = tms.tile(minx + eps, maxy - eps, z)
        lr = tms.tile(maxx - eps, miny + eps, z)
        limits.append({
            "tileMatrix": matrix.id,
            "minTileRow": max(min(ul.y, lr.y), 0),
            "maxTileRow": min(max(ul.y, lr.y), matrix.matrixHeight - 1),
            "minTileCol": max(min(ul.x, lr.x), 0),
            "maxTileCol": min(max(ul.x, lr.x), matrix.matrixWidth - 1),
        })
    return limits


def _bbox(collection: dict[str, Any]) -> tuple[float, float, float, float]:
    try:
        box = collection["extent"]["spatial"]["bbox"][0]
        return (float(box[0]), float(box[1]), float(box[-2]), float(box[-1]))
    except (KeyError, IndexError, TypeError, ValueError):
        return (-180.0, -90.0, 180.0, 90.0)


def _pairs(params: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, values in params.items()
            for v in (values if isinstance(values, list | tuple) else [values])]


def catalog_wmts_router(settings: TilerSettings, supported: TileMatrixSets) -> APIRouter:
    """The ``/WMTSCapabilities.xml`` route listing every renderable collection."""
    router = APIRouter()

    @router.get(
        "/WMTSCapabilities.xml",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}},
        summary="WMTS capabilities of the whole catalog (one layer per collection).",
        operation_id="getCatalogWMTS",
        tags=["Catalog"],
    )
    def catalog_wmts(request: Request) -> Response:
        with request.app.state.dbpool.connection() as conn, conn.cursor(
            row_factory=dict_row
        ) as cur:
            cur.execute("SELECT content FROM pgstac.collections ORDER BY id")
            collections = [row["content"] for row in cur.fetchall()]
        readable = readable_of(request)  # only the collections this caller may read
        if readable is not None:
            collections = [c for c in collections if c["id"] in readable]
        base = str(request.base_url)
        # A document fetched with a key or share token in its URL (how QGIS and map clients
        # authenticate) gets the same credential in its tile templates, or no tile would load.
        credential = list(REQUEST_CREDENTIAL.get())
        layers = []
        for coll in collections:
            renders = coll.get("renders") or {}
            params = render_params(renders)
            name = default_render_name(params)
            if name is None:
                continue
            raw = renders.get(name) or {}
            zooms = tuple(raw.get("minmax_zoom") or settings.catalog_wmts_zooms)
            bbox = _bbox(coll)
            query = urlencode([*_pairs(params[name]), *credential], doseq=True)
            cid = quote(str(coll["id"]), safe="")
            links = []
            for tms_id in settings.tile_matrix_sets:
                tms = supported.get(tms_id)
                limits = tile_limits(tms, bbox, (int(zooms[0]), int(zooms[1])))
                if not limits:
                    continue
                template = (f"{base}collections/{cid}/tiles/{tms_id}/"
                            f"{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png?{query}")
                links.append({"tms": tms_id, "limits": limits, "template": template})
            if links:
                layers.append({
                    "identifier": coll["id"], "title": coll.get("title") or coll["id"],
                    "abstract": str(coll.get("description") or "")[:2000], "bbox": bbox,
                    "render": name, "render_title": raw.get("title") or name, "links": links,
                })
        matrices = [
            {"id": tms_id, "crs": supported.get(tms_id).crs.srs,
             "matrices": supported.get(tms_id).tileMatrices}
            for tms_id in settings.tile_matrix_sets
        ]
        xml = _TEMPLATE.render(
            title=settings.title, self_url=str(request.url), layers=layers,
            tile_matrix_sets=matrices,
        )
        return Response(xml, media_type="application/xml")

    return router
