"""Every WMTS capabilities document parses in OWSLib, and its tile templates give tiles."""

from __future__ import annotations

import httpx
import morecantile
import pytest
from owslib.wmts import WebMapTileService

from .conftest import TileData, png
from .test_tiles import register

WM = morecantile.tms.get("WebMercatorQuad")


def _fetch_through_template(http: httpx.Client, wmts: WebMapTileService, layer_id: str) -> None:
    layer = wmts.contents[layer_id]
    (link,) = layer.resourceURLs  # one template, the set a variable
    assert "{TileMatrixSet}" in link["template"]
    z = 10
    limits = layer.tilematrixsetlinks["WebMercatorQuad"].tilematrixlimits[str(z)]
    col = (limits.mintilecol + limits.maxtilecol) // 2
    row = (limits.mintilerow + limits.maxtilerow) // 2
    url = (link["template"].replace("{TileMatrixSet}", "WebMercatorQuad")
           .replace("{TileMatrix}", str(z)).replace("{TileCol}", str(col))
           .replace("{TileRow}", str(row)).replace("{Style}", next(iter(layer.styles))))
    r = http.get(url)
    assert r.status_code == 200, (url, r.text)
    arr = png(r.content)
    assert arr.shape[:2] == (256, 256) and arr[:, :, -1].max() == 255


def _wmts(http: httpx.Client, url: str) -> WebMapTileService:
    r = http.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return WebMapTileService(url, xml=r.content)


@pytest.mark.parametrize("kind", ["item", "collection", "search"])
def test_wmts_documents(kind: str, tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    if kind == "item":
        base = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    elif kind == "collection":
        base = f"{tiles_url}/collections/{tile_data.s2}"
    else:
        base = f"{tiles_url}/searches/{register(http, tiles_url, tile_data.s2)}"
    wmts = _wmts(http, f"{base}/WMTSCapabilities.xml")
    assert list(wmts.contents) == ["true-color", "ndvi"], list(wmts.contents)
    for layer in wmts.contents.values():
        assert set(layer.tilematrixsetlinks) == {"WebMercatorQuad", "WorldCRS84Quad"}
    _fetch_through_template(http, wmts, "true-color")


def test_catalog_wide_wmts(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    wmts = _wmts(http, f"{tiles_url}/WMTSCapabilities.xml")
    for cid in (tile_data.s2, tile_data.landsat, tile_data.visual):
        assert cid in wmts.contents
        assert set(wmts.contents[cid].tilematrixsetlinks) == {"WebMercatorQuad", "WorldCRS84Quad"}
    assert tile_data.hostile not in wmts.contents, "no render, no layer"
    assert list(wmts.contents[tile_data.s2].styles) == ["true-color", "ndvi"]
    assert wmts.contents[tile_data.s2].title == "Sentinel-2 L2A (test)"
    assert set(wmts.tilematrixsets) == {"WebMercatorQuad", "WorldCRS84Quad"}
    _fetch_through_template(http, wmts, tile_data.s2)
    _fetch_through_template(http, wmts, tile_data.visual)
