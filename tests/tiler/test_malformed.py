"""Malformed input the fuzzer (tests/access/test_schemathesis.py) found answered with a 500: each
is now a 4xx whose message names the parameter, with no traceback in the body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import TileData
from .test_tiles import X, Y, Z, register

#: A polygon inside the Sentinel-2 scene (lon -11.98..-10.87, lat 24.30..25.30).
POLYGON = {"type": "Polygon", "coordinates": [
    [[-11.5, 24.7], [-11.3, 24.7], [-11.3, 24.9], [-11.5, 24.9], [-11.5, 24.7]]]}


def _refused(r: httpx.Response, name: str, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert f"'{name}'" in r.json()["detail"], r.text
    assert "Traceback" not in r.text and 'File "' not in r.text


def _tile(base: str) -> str:
    return f"{base}/tiles/WebMercatorQuad/{Z}/{X}/{Y}.png"


# -- collection mosaics: filter, query, sortby ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"filter": "null"}, "filter"),  # valid CQL2 text, but no filter
        ({"filter": "null", "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "1", "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "a="}, "filter"),  # not CQL2 text
        ({"filter": "Èj_6"}, "filter"),
        ({"filter": ""}, "filter"),
        ({"filter": "foo(a)=1"}, "filter"),  # unknown function
        ({"filter": json.dumps({"op": "t_intersects", "args": [{"property": "datetime"}, "x"]}),
          "filter-lang": "cql2-json"}, "filter"),  # refused by pgstac only
        ({"query": "[]"}, "query"),
        ({"query": '{"a": {"foo": 1}}'}, "query"),  # unknown operator
        ({"query": '{"a": "%22"}'}, "query"),  # JSON, until titiler.pgstac unquotes it again
        ({"query": '{"a": {"eq": 1}}', "filter": "id='x'"}, "query"),  # pgstac: one or other
        ({"sortby": "+"}, "sortby"),
        ({"sortby": "a,,b"}, "sortby"),
    ],
)
def test_collection_mosaic_search_parameters(
    params: dict[str, str], name: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}"
    _refused(http.get(f"{base}/info", params=params), name)
    _refused(http.get(_tile(base), params={**params, "assets": "red"}), name)
    r = http.post(f"{base}/statistics", params={**params, "assets": "red"},
                  json={"type": "Feature", "properties": {}, "geometry": POLYGON})
    _refused(r, name)


def test_collection_mosaic_search_parameters_still_filter(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}"
    q = {"assets": "red", "rescale": "0,3000"}
    match = {"filter": f"id='{tile_data.s2_item}'", "sortby": "-datetime"}
    assert http.get(_tile(base), params={**q, **match}).status_code == 200
    assert http.get(_tile(base), params={**q, "filter": "id='nothing'"}).status_code == 204
    r = http.get(_tile(base), params={**q, "query": json.dumps({"id": {"eq": "nothing"}})})
    assert r.status_code == 204


# -- search mosaics: pgstac's limits ------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [("time_limit", "137037632459532"), ("items_limit", "2147483648"), ("scan_limit", "-5")],
)
def test_search_mosaic_limits_in_pgstac_range(
    param: str, value: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    sid = register(http, tiles_url, tile_data.s2)
    r = http.get(_tile(f"{tiles_url}/searches/{sid}"), params={"assets": "red", param: value})
    _refused(r, param)


# -- the search list ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"offset": "287900339683288531599360"}, "offset"),  # past a bigint
        ({"sortby": "a\nb"}, "sortby"),
        ({"sortby": "name%"}, "sortby"),  # '%' inside SQL run with %-placeholders
        ({"name": "50%"}, "name"),
        ({"x%": "1"}, "x%"),
    ],
)
def test_search_list_parameters(
    params: dict[str, str], name: str, tiles_url: str, http: httpx.Client
) -> None:
    for path in ("/searches/", "/searches/list"):
        _refused(http.get(f"{tiles_url}{path}", params=params), name)
    assert http.get(f"{tiles_url}/searches/", params={"name": "x"}).status_code == 200


# -- GeoJSON bodies -----------------------------------------------------------------------------


def _feature(geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {}, "geometry": geometry}


BAD_GEOMETRIES: list[tuple[Any, str]] = [
    (None, "geometry"),
    ({"type": "MultiPoint", "coordinates": []}, "geometry"),
    ({"type": "GeometryCollection", "geometries": []}, "geometry"),
    ({**POLYGON, "bbox": [-11.5, 24.7, 0, -11.3, 24.9, 1]}, "bbox"),  # 3D: unpacked into 4
    ({**POLYGON, "bbox": [-11.3, 24.7, -11.5, 24.9]}, "bbox"),  # min > max
    ({"type": "Polygon", "coordinates": [
        [[-1e300, 24.7], [1e300, 24.7], [-11.3, 1e300], [-1e300, 24.7]]]}, "geometry"),
]


def _feature_urls(tiles_url: str, d: TileData, sid: str) -> list[str]:
    item = f"{tiles_url}/collections/{d.s2}/items/{d.s2_item}"
    mosaics = (f"{tiles_url}/collections/{d.s2}", f"{tiles_url}/searches/{sid}")
    return [f"{base}/{path}" for base in (item, *mosaics)
            for path in ("feature", "feature.png", "feature/64x64.png", "statistics")]


@pytest.mark.parametrize(("geometry", "name"), BAD_GEOMETRIES)
def test_feature_bodies_rio_tiler_cannot_cut(
    geometry: Any, name: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    sid = register(http, tiles_url, tile_data.s2)
    for url in _feature_urls(tiles_url, tile_data, sid):
        _refused(http.post(url, params={"assets": "red"}, json=_feature(geometry)), name)
    collection = {"type": "FeatureCollection", "features": [_feature(POLYGON), _feature(geometry)]}
    _refused(http.post(_feature_urls(tiles_url, tile_data, sid)[3], params={"assets": "red"},
                       json=collection), name)


def test_a_point_has_statistics_but_no_image(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    point = {"type": "Point", "coordinates": [-11.4, 24.8]}
    item = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    r = http.post(f"{item}/statistics", params={"assets": "red"}, json=_feature(point))
    assert r.status_code == 200, r.text
    for base in (item, f"{tiles_url}/collections/{tile_data.s2}"):
        _refused(http.post(f"{base}/feature", params={"assets": "red"}, json=_feature(point)),
                 "geometry")
    r = http.post(f"{item}/feature.png", params={"assets": "red"}, json=_feature(POLYGON))
    assert r.status_code == 200, r.text


# -- sizes and algorithm parameters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/colorMaps/viridis?width=-5108957092120", "width"),
        ("/colorMaps/viridis?height=-3", "height"),
        ("/colorMaps/viridis?width=1e400", "width"),  # infinity as an int
        ("/collections/{s2}/items/{item}/preview.png?assets=red&max_size=-3", "max_size"),
        ("/collections/{s2}/items/{item}/preview.png?assets=red&max_size=0", "max_size"),
        ("/collections/{s2}/items/{item}/tiles/WebMercatorQuad/10/479/439.png?assets=red"
         "&algorithm=hillshade&algorithm_params=null", "algorithm_params"),
        ("/collections/{s2}/tiles/WebMercatorQuad/10/479/439.png?assets=red"
         "&algorithm=normalizedIndex&algorithm_params=[1]", "algorithm_params"),
        ("/collections/{s2}/tiles/WorldCRS84Quad?maxzoom=26022355819&f=html", "maxzoom"),
        ("/collections/{s2}/tiles/WorldCRS84Quad?minzoom=-20109", "minzoom"),
    ],
)
def test_sizes_and_algorithm_parameters(
    path: str, name: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    url = tiles_url + path.format(s2=tile_data.s2, item=tile_data.s2_item)
    _refused(http.get(url), name)


def test_colormap_of_a_valid_size_is_drawn(tiles_url: str, http: httpx.Client) -> None:
    r = http.get(f"{tiles_url}/colorMaps/viridis", params={"width": 64, "height": 8})
    assert r.status_code == 200, r.text
