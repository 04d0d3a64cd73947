"""Item, expression, collection-mosaic and search-mosaic tiles, checked against the sources."""

from __future__ import annotations

import json

import httpx
import morecantile
import numpy as np
import rasterio
from rasterio.warp import transform

from .conftest import S2_DIR, TileData, png

WM = morecantile.tms.get("WebMercatorQuad")
#: A z10 tile well inside the Sentinel-2 scene (lon -11.43, lat 24.80).
Z, X, Y = 10, 479, 439
RGB = "assets=red&assets=green&assets=blue"


def _item(base: str, d: TileData) -> str:
    return f"{base}/collections/{d.s2}/items/{d.s2_item}"


def _tile(base: str, query: str = "") -> str:
    return f"{base}/tiles/WebMercatorQuad/{Z}/{X}/{Y}.png" + (f"?{query}" if query else "")


def _get_png(http: httpx.Client, url: str) -> np.ndarray:
    r = http.get(url)
    assert r.status_code == 200, (url, r.text)
    assert r.headers["content-type"] == "image/png"
    return png(r.content)


def test_item_tile_single_asset(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    arr = _get_png(http, _tile(_item(tiles_url, tile_data), "assets=red&rescale=0,8000"))
    assert arr.shape == (256, 256, 2)  # grey + alpha
    assert (arr[:, :, 1] == 255).all(), "a tile inside the scene has no transparent pixel"
    assert arr[:, :, 0].std() > 5, "the tile shows the scene, not a flat colour"


def test_tile_values_follow_the_source(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    """The rescaled tile's mean matches a rasterio read of the same area of B04.tif."""
    arr = _get_png(http, _tile(_item(tiles_url, tile_data), "assets=red&rescale=0,8000"))
    w, s, e, n = WM.xy_bounds(morecantile.Tile(X, Y, Z))
    with rasterio.open(S2_DIR / "B04.tif") as src:
        xs, ys = transform("EPSG:3857", src.crs, [w, e], [s, n])
        window = src.window(min(xs), min(ys), max(xs), max(ys))
        data = src.read(1, window=window).astype(float)
    expected = np.clip(data / 8000 * 255, 0, 255).mean()
    assert abs(arr[:, :, 0].mean() - expected) < 4


def test_true_colour_expression_tile(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = _item(tiles_url, tile_data)
    rescale = "&".join(["rescale=0,3000"] * 3)
    by_expr = _get_png(http, _tile(base, f"{RGB}&expression=b1;b2;b3&{rescale}"))
    by_assets = _get_png(http, _tile(base, f"{RGB}&{rescale}"))
    assert by_expr.shape == (256, 256, 4)
    assert (by_expr[:, :, 3] == 255).all()
    assert (by_expr == by_assets).all()
    assert not (by_expr[:, :, 0] == by_expr[:, :, 2]).all(), "red and blue differ"


def test_ndvi_expression_with_colormap(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    q = "assets=nir&assets=red&expression=(b1-b2)/(b1%2Bb2)&rescale=-1,1&colormap_name=rdylgn"
    arr = _get_png(http, _tile(_item(tiles_url, tile_data), q))
    assert arr.shape == (256, 256, 4) and (arr[:, :, 3] == 255).all()


def test_default_render_when_no_parameters(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    base = _item(tiles_url, tile_data)
    plain = http.get(_tile(base))
    explicit = http.get(_tile(base, f"{RGB}&{'&'.join(['rescale=0.0,3000.0'] * 3)}"
                                    "&color_formula=gamma rgb 1.3"))
    assert plain.status_code == explicit.status_code == 200
    assert plain.content == explicit.content
    # A client parameter wins over the render's; another render is chosen by name.
    ndvi = http.get(_tile(base, "render=ndvi"))
    assert ndvi.status_code == 200 and ndvi.content != plain.content
    assert http.get(_tile(base, "render=nope")).status_code == 400


def test_landsat_default_render_uses_scale_offset(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    lon, lat = -65.2, -2.9
    t = WM.tile(lon, lat, 9)
    url = (f"{tiles_url}/collections/{tile_data.landsat}/items/{tile_data.landsat_item}"
           f"/tiles/WebMercatorQuad/9/{t.x}/{t.y}.png")
    arr = _get_png(http, url)
    assert arr.shape[2] == 4
    valid = arr[:, :, 3] == 255
    assert valid.mean() > 0.5
    assert 10 < arr[:, :, :3][valid].mean() < 245, "stretched, neither black nor saturated"


def test_collection_mosaic_tile(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    q = "assets=red&rescale=0,3000"
    mosaic = _get_png(http, _tile(f"{tiles_url}/collections/{tile_data.s2}", q))
    item = _get_png(http, _tile(_item(tiles_url, tile_data), q))
    assert mosaic.shape == item.shape == (256, 256, 2)
    assert (mosaic == item).all()


def register(http: httpx.Client, tiles_url: str, collection: str) -> str:
    body = {
        "collections": [collection],
        "bbox": [-11.979, 24.296, -10.874, 25.305],  # the scene: also the mosaic's bounds
        "filter-lang": "cql2-json",
        "filter": {"op": "=", "args": [{"property": "id"}, "S2A_29RKH_20200219_0_L2A"]},
    }
    r = http.post(f"{tiles_url}/searches/register", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_search_mosaic_tile(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    sid = register(http, tiles_url, tile_data.s2)
    q = "assets=red&rescale=0,3000"
    mosaic = _get_png(http, _tile(f"{tiles_url}/searches/{sid}", q))
    item = _get_png(http, _tile(_item(tiles_url, tile_data), q))
    assert (mosaic == item).all()
    # The search has no renders of its own: its single collection's default applies.
    assert http.get(_tile(f"{tiles_url}/searches/{sid}")).status_code == 200
    # A filter that matches nothing: no data for the tile.
    body = {"collections": [tile_data.s2], "filter-lang": "cql2-json",
            "filter": {"op": "=", "args": [{"property": "id"}, "nothing"]}}
    empty = http.post(f"{tiles_url}/searches/register", json=body).json()["id"]
    assert http.get(_tile(f"{tiles_url}/searches/{empty}", q)).status_code == 204


def test_point_value_matches_rasterio(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    with rasterio.open(S2_DIR / "B04.tif") as src:
        px, py = src.xy(500, 600)  # a pixel centre
        expected = next(src.sample([(px, py)]))[0]
        lon, lat = transform(src.crs, "EPSG:4326", [px], [py])
    r = http.get(f"{_item(tiles_url, tile_data)}/point/{lon[0]},{lat[0]}?assets=red")
    assert r.status_code == 200, r.text
    assert r.json()["values"][0] == expected


def test_statistics_match_rasterio(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    r = http.get(f"{_item(tiles_url, tile_data)}/statistics?assets=red&max_size=1098")
    assert r.status_code == 200, r.text
    stats = next(iter(r.json().values()))
    with rasterio.open(S2_DIR / "B04.tif") as src:
        data = src.read(1)
    assert stats["min"] == data.min() and stats["max"] == data.max()


def test_preview_and_tilejson(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    base = _item(tiles_url, tile_data)
    arr = _get_png(http, f"{base}/preview.png?assets=red&rescale=0,3000&max_size=200")
    assert max(arr.shape[:2]) == 200
    tj = http.get(f"{base}/WebMercatorQuad/tilejson.json").json()
    template = tj["tiles"][0]
    assert template.startswith(f"{tiles_url}/collections/{tile_data.s2}/items/")
    assert "assets=red" in template, "the default render is part of the TileJSON URLs"
    tile = http.get(template.format(z=Z, x=X, y=Y))
    assert tile.status_code == 200 and tile.headers["content-type"].startswith("image/")
    assert json.dumps(tj["bounds"])  # bounds present


def test_tiles_service_runs_alone(s3_tiles: str, http: httpx.Client) -> None:
    """`stacworks serve tiles` (the S3 fixture) serves the tiler without the STAC API."""
    assert http.get(f"{s3_tiles}/tiles/healthz").json() == {"database_online": True}
    assert http.get(f"{s3_tiles}/stac/").status_code == 404
