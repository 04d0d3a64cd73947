"""Every guard, attacked: store allow-list, hostile files, limits, parameters, error bodies."""

from __future__ import annotations

import httpx
import pytest

from tiler.errors import ASSET_NOT_FOUND

from .conftest import TileData
from .test_tiles import RGB, X, Y, Z

FORBIDDEN = ["vrt", "missing", "directory", "traversal", "outside", "fileurl", "vsicurl",
             "metadata", "vsizip", "s3other", "no-such-asset"]


def _hostile(base: str, d: TileData) -> str:
    return f"{base}/collections/{d.hostile}/items/{d.hostile_item}"


def _tile_url(base: str) -> str:
    return f"{base}/tiles/WebMercatorQuad/{Z}/{X}/{Y}.png"


def test_good_asset_of_the_hostile_item_is_served(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    r = http.get(_tile_url(_hostile(tiles_url, tile_data)), params={"assets": "good"})
    assert r.status_code == 200


@pytest.mark.parametrize("endpoint", ["tile", "point", "preview", "statistics", "info"])
def test_forbidden_missing_and_directory_answer_the_same(
    endpoint: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = _hostile(tiles_url, tile_data)
    url = {"tile": _tile_url(base), "point": f"{base}/point/-11.4,24.8",
           "preview": f"{base}/preview.png", "statistics": f"{base}/statistics",
           "info": f"{base}/info"}[endpoint]
    answers = set()
    for asset in FORBIDDEN:
        r = http.get(url, params={"assets": asset})
        answers.add((r.status_code, r.content))
    assert answers == {(404, b'{"detail":"%s"}' % ASSET_NOT_FOUND.encode())}


def test_mosaic_refuses_assets_outside_the_store(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.hostile}"
    for asset in ("vrt", "fileurl", "vsicurl", "traversal", "outside"):
        r = http.get(_tile_url(base), params={"assets": asset})
        assert (r.status_code, r.json()) == (404, {"detail": ASSET_NOT_FOUND})


def test_no_url_endpoint_exists(tiles_url: str, http: httpx.Client) -> None:
    for path in ("/tiles/WebMercatorQuad/1/0/0.png", "/cog/tiles/WebMercatorQuad/1/0/0.png",
                 "/external/tiles/WebMercatorQuad/1/0/0.png", "/mosaicjson/info"):
        for url in ("file:///etc/passwd", "/vsicurl/http://169.254.169.254/x.tif",
                    "http://169.254.169.254/latest/meta-data/"):
            assert http.get(tiles_url + path, params={"url": url}).status_code == 404
    spec = http.get(f"{tiles_url}/api").json()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op.get("parameters", [])}
            assert "url" not in names, path


@pytest.mark.parametrize(
    ("suffix", "name"),
    [
        ("/tiles/WebMercatorQuad/10/479/439.png?assets=red&tilesize=100000", "tilesize"),
        ("/preview.png?assets=red&max_size=100000", "max_size"),
        ("/preview.png?assets=red&width=50000&height=10", "width"),
        ("/preview/40000x40000.png?assets=red", "width"),
        ("/bbox/-11.5,24.5,-11.0,25.0/30000x30000.png?assets=red", "width"),
        ("/bbox/-11.5,24.5,-11.0,25.0.png?assets=red&height=30000", "height"),
        ("/statistics?assets=red&max_size=1000000", "max_size"),
        ("/tiles/WebMercatorQuad/10/479/439.png?assets=red&buffer=5000", "buffer"),
        ("/tiles/WebMercatorQuad/10/479/439.png?" + "&".join(["assets=red"] * 40), "assets"),
    ],
)
def test_output_size_limits(
    suffix: str, name: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    r = http.get(base + suffix)
    assert r.status_code == 400, r.text
    assert f"'{name}'" in r.json()["detail"]


@pytest.mark.parametrize(
    "expression",
    [
        "b1+" * 300 + "b1",  # too long
        "+".join(["b1"] * 100),  # too many terms (short enough)
        "(" * 12 + "b1" + ")" * 12,  # too deep
        ";".join(["b1"] * 12),  # too many output bands
        "__import__('os').system('id')",  # names that are not bands or functions
        "b1.__class__",
        "b1 @ b2",
    ],
)
def test_expression_limits(
    expression: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    for url in (_tile_url(base), _tile_url(f"{tiles_url}/collections/{tile_data.s2}")):
        r = http.get(url, params={"assets": ["red", "green"], "expression": expression})
        assert r.status_code == 400, r.text
        assert "'expression'" in r.json()["detail"]
    r = http.get(_tile_url(base), params={"assets": f"red|expression={expression}"})
    assert r.status_code == 400 and "'assets'" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("WebMercatorQuad/25/0/0", 404),  # deeper than the matrix set
        ("WebMercatorQuad/10/1024/0", 404),  # x beyond the matrix
        ("WebMercatorQuad/10/0/1024", 404),
        ("WebMercatorQuad/10/-1/5", 404),
        ("WebMercatorQuad/3/0/0", 404),  # valid, but outside the item
        ("WebMercatorQuad/a/b/c", 422),
        ("NoSuchTMS/10/479/439", 422),
        ("EuropeanETRS89_LAEAQuad/10/479/439", 422),  # a TMS we do not serve
    ],
)
def test_bad_tile_addresses(
    path: str, status: int, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    for base in (f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}",
                 f"{tiles_url}/collections/{tile_data.s2}"):
        r = http.get(f"{base}/tiles/{path}.png", params={"assets": "red"})
        if "/3/0/0" in path and "items" not in base:
            assert r.status_code == 204  # a mosaic with no item there: no content
            continue
        assert r.status_code == status, (base, path, r.text)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"assets": "red|bidx=abc"}, "assets"),
        ({"assets": "red|bidx=7"}, "bidx"),
        ({"assets": "red", "rescale": "abc"}, "rescale"),
        ({"assets": "red", "rescale": "1,2,3"}, "rescale"),
        ({"assets": "red", "colormap": "not json"}, "colormap"),
        ({"assets": "red", "colormap": '{"a": [1, 2, 3]}'}, "colormap"),
        ({"assets": "red", "colormap": '{"1": "not-a-colour"}'}, "colormap"),
        ({"assets": "red", "colormap_name": "nope"}, "colormap_name"),
        ({"assets": "red", "color_formula": "bogus 1 2"}, "color_formula"),
        ({"assets": "red", "render": "x"}, "render"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    query: dict[str, str], name: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    if name == "render":
        query = {"render": "x"}
    r = http.get(_tile_url(base), params=query)
    assert r.status_code == 400, r.text
    assert f"'{name}'" in r.json()["detail"]


def test_error_bodies_hold_no_paths(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = _hostile(tiles_url, tile_data)
    home = tiles_url  # the server's base URL is the only location a body may name
    for asset in FORBIDDEN:
        text = http.get(_tile_url(base), params={"assets": asset}).text
        assert "/" not in text.replace(home, ""), text


def test_true_colour_render_of_the_hostile_item_is_refused(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    r = http.get(_tile_url(_hostile(tiles_url, tile_data)), params=RGB.replace("assets=", "a="))
    assert r.status_code == 400  # no render for that collection and no assets: named error
    assert "'assets'" in r.json()["detail"]
