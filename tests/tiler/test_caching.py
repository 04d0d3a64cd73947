"""Cache-Control, ETag and 304 on tiles and documents."""

from __future__ import annotations

import httpx

from .conftest import TileData
from .test_tiles import X, Y, Z


def test_tile_cache_headers_and_304(
    tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    url = (f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
           f"/tiles/WebMercatorQuad/{Z}/{X}/{Y}.png?assets=red")
    first = http.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=3600"
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = http.get(url)
    assert again.headers["etag"] == etag, "same data and parameters, same ETag"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = http.get(url, headers={"If-None-Match": header})
        assert r.status_code == 304 and r.content == b""
        assert r.headers["etag"] == etag and r.headers["cache-control"]
    assert http.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    other = http.get(url + "&rescale=0,1000")
    assert other.headers["etag"] != etag


def test_documents_and_errors(tiles_url: str, tile_data: TileData, http: httpx.Client) -> None:
    base = f"{tiles_url}/collections/{tile_data.s2}"
    for url in (f"{base}/WebMercatorQuad/tilejson.json", f"{base}/WMTSCapabilities.xml",
                f"{tiles_url}/WMTSCapabilities.xml"):
        r = http.get(url)
        assert r.headers["cache-control"] == "public, max-age=60" and r.headers["etag"]
        assert http.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    missing = http.get(f"{base}/tiles/WebMercatorQuad/30/0/0.png")
    assert missing.status_code == 404 and "etag" not in missing.headers
    assert http.get(f"{tiles_url}/searches/").headers["cache-control"] == "no-store"
