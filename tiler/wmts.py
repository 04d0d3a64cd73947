"""WMTS capabilities (RESTful, OGC 07-057r7) that GIS clients read to the letter.

Each layer has one ``ResourceURL`` template with a ``{TileMatrixSet}`` variable and one
``TileMatrixSetLink`` per set we serve, so OWSLib, QGIS and OpenLayers fill in the set they
pick and ask tile indices of that set (two templates with the set written in, as titiler
writes, make OWSLib pick one at random and ask Web Mercator indices of the CRS84 URL).

- ``/WMTSCapabilities.xml``: the whole catalog, one layer per collection that draws from the
  store (:mod:`tiler.layers`), its render presets as WMTS styles (``render={Style}``);
- ``{item|collection|search}/WMTSCapabilities.xml`` (:class:`WmtsExtension`): one layer per
  render preset of that resource (``?assets=...`` adds a ``custom`` layer), parameters baked in.

A document fetched with ``?key=``/``?token=`` carries the credential into its templates (QGIS
sends no headers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
import rasterio
from attrs import define
from fastapi import APIRouter, Depends, Query, Request
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets
from rio_tiler.constants import WGS84_CRS
from starlette.responses import Response
from titiler.core.factory import FactoryExtension

from catalog.access.middleware import SECRET_PARAMS

from .errors import InvalidParameter
from .layers import CatalogLayers
from .render import REQUEST_CREDENTIAL, default_render_name
from .settings import TilerSettings

__all__ = ["WmtsExtension", "capabilities_xml", "catalog_wmts_router", "tile_limits"]

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
      {%- for style in layer.styles %}
      <Style{% if loop.first %} isDefault="true"{% endif %}><ows:Title>{{ style.title }}</ows:Title>
        <ows:Identifier>{{ style.id }}</ows:Identifier></Style>
      {%- endfor %}
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
      <ResourceURL format="image/png" resourceType="tile" template="{{ layer.template }}"/>
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

#: Query parameters of a capabilities request that are not tile parameters.
_WMTS_KEYS = {"service", "request", "version", "acceptversions", "sections", "updatesequence",
              "acceptformats", "tile_format", "use_epsg", "tilesize", "zooms", "render"}
#: Tile parameters that make a request-defined (``custom``) layer.
_LAYER_KEYS = {"assets", "expression"}


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


def _pairs(params: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, values in params.items()
            for v in (values if isinstance(values, list | tuple) else [values])]


def _links(
    supported: TileMatrixSets, bbox: tuple[float, float, float, float],
    zooms: dict[str, tuple[int, int]],
) -> list[dict[str, Any]]:
    links = []
    for tms_id in supported.list():
        limits = tile_limits(supported.get(tms_id), bbox, zooms[tms_id])
        if limits:
            links.append({"tms": tms_id, "limits": limits})
    return links


def capabilities_xml(
    request: Request, title: str, layers: Sequence[dict[str, Any]], supported: TileMatrixSets
) -> Response:
    """The capabilities document of ``layers`` (identifier, title, abstract, bbox, styles,
    links, template), every set in ``supported`` described."""
    matrices = [
        {"id": tms_id, "crs": supported.get(tms_id).crs.srs,
         "matrices": supported.get(tms_id).tileMatrices}
        for tms_id in supported.list()
    ]
    xml = _TEMPLATE.render(title=title, self_url=str(request.url), layers=layers,
                           tile_matrix_sets=matrices)
    return Response(xml, media_type="application/xml")


def _credential_query() -> str:
    credential = list(REQUEST_CREDENTIAL.get())
    return urlencode(credential) if credential else ""


def catalog_wmts_router(
    settings: TilerSettings, supported: TileMatrixSets, catalog: CatalogLayers
) -> APIRouter:
    """The ``/WMTSCapabilities.xml`` route listing every collection that draws from the store."""
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
        base = str(request.base_url)
        # A document fetched with a key or share token in its URL (how QGIS and map clients
        # authenticate) gets the same credential in its tile templates, or no tile would load.
        credential = _credential_query()
        docs = []
        for layer in catalog.layers(request):
            cid = quote(layer.id, safe="")
            query = "render={Style}" + (f"&{credential}" if credential else "")
            template = (f"{base}collections/{cid}/tiles/{{TileMatrixSet}}/"
                        f"{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png?{query}")
            links = _links(supported, layer.bbox, dict.fromkeys(supported.list(), layer.zooms))
            if not links:
                continue
            docs.append({
                "identifier": layer.id, "title": layer.title, "abstract": layer.abstract,
                "bbox": layer.bbox, "links": links, "template": template,
                "styles": [{"id": name, "title": r.get("title") or name}
                           for name, r in layer.renders.items()],
            })
        return capabilities_xml(request, settings.title, docs, supported)

    return router


@define
class WmtsExtension(FactoryExtension):
    """``/WMTSCapabilities.xml`` of one item, collection or registered search.

    ``mosaic``: the factory is titiler's MosaicTilerFactory (collections and searches), else
    a MultiBaseTilerFactory of STAC items.
    """

    settings: TilerSettings
    mosaic: bool = False

    def register(self, factory: Any) -> None:  # noqa: C901 - one route, two kinds of source
        settings = self.settings
        mosaic = self.mosaic
        backend_dependency = factory.backend_dependency if mosaic else (lambda: None)

        @factory.router.get(
            "/WMTSCapabilities.xml",
            response_class=Response,
            responses={200: {"content": {"application/xml": {}},
                             "description": "RESTful WMTS capabilities: one layer per render."}},
            operation_id=f"{factory.operation_prefix}getWMTS",
        )
        def wmts(
            request: Request,
            src_path: Any = Depends(factory.path_dependency),  # noqa: B008
            reader_params: Any = Depends(factory.reader_dependency),  # noqa: B008
            backend_params: Any = Depends(backend_dependency),  # noqa: B008
            env: Any = Depends(factory.environment_dependency),  # noqa: B008
            render: Annotated[
                str | None, Query(description="Only this render preset as a layer.")
            ] = None,
        ) -> Response:
            supported: TileMatrixSets = factory.supported_tms
            zooms: dict[str, tuple[int, int]] = {}
            with rasterio.Env(**env):
                if mosaic:
                    with factory.backend(src_path, reader=factory.dataset_reader,
                                         reader_options=reader_params.as_dict(),
                                         **backend_params.as_dict()) as src:
                        bbox = tuple(src.get_geographic_bounds(WGS84_CRS))
                        renders = factory.get_renders(src)
                    zooms = dict.fromkeys(supported.list(), settings.catalog_wmts_zooms)
                    name = "search" if "search_id" in request.path_params else str(
                        request.path_params.get("collection_id", "collection"))
                else:
                    with factory.reader(src_path, **reader_params.as_dict()) as src:
                        bbox = tuple(src.get_geographic_bounds(WGS84_CRS))
                        renders = factory.get_renders(src)
                    for tms_id in supported.list():
                        with factory.reader(src_path, tms=supported.get(tms_id),
                                            **reader_params.as_dict()) as src:
                            zooms[tms_id] = (src.minzoom, src.maxzoom)
                    name = str(request.path_params.get("item_id", "item"))
            credential = _credential_query()
            layers: dict[str, dict[str, Any]] = {}
            ordered = sorted(renders, key=lambda n: (n != default_render_name(renders), n))
            for rname in ordered:
                params = {k: v for k, v in renders[rname].items()
                          if k not in SECRET_PARAMS and k.lower() not in _WMTS_KEYS}
                layers[rname] = params
            custom = [(k, v) for k, v in request.query_params.multi_items()
                      if k.lower() not in _WMTS_KEYS and k not in SECRET_PARAMS]
            if _LAYER_KEYS & {k for k, _ in custom}:
                layers["custom"] = {}
            if render is not None:
                if render not in layers:
                    raise InvalidParameter("render", f"no render {render[:64]!r} here")
                layers = {render: layers[render]}
            tile_url = factory.url_for(
                request, "tile", tileMatrixSetId="{TileMatrixSet}", z="{TileMatrix}",
                x="{TileCol}", y="{TileRow}", format="png")
            links = _links(supported, bbox, zooms)  # type: ignore[arg-type]
            docs = []
            for rname, params in layers.items():
                pairs = custom if rname == "custom" else _pairs(params)
                query = "&".join(q for q in (urlencode(pairs, doseq=True), credential) if q)
                docs.append({
                    "identifier": rname, "title": f"{name} {rname}", "abstract": "",
                    "bbox": bbox, "links": links, "styles": [{"id": "default", "title": rname}],
                    "template": f"{tile_url}?{query}" if query else tile_url,
                })
            if not docs or not links:
                raise InvalidParameter("render", "nothing to draw here: no render preset; "
                                                 "give assets= or expression=")
            return capabilities_xml(request, settings.title, docs, supported)
