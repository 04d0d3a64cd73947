"""Tiles from an S3 store (moto_server on loopback), and each server refusing the other store."""

from __future__ import annotations

import httpx

from tiler.errors import ASSET_NOT_FOUND

from .conftest import TileData, png
from .test_tiles import RGB, X, Y, Z

TILE = f"tiles/WebMercatorQuad/{Z}/{X}/{Y}.png"


def test_item_and_mosaic_tiles_from_s3(
    s3_tiles: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    q = f"{RGB}&rescale=0,8000&rescale=0,8000&rescale=0,8000"
    s3_item = f"{s3_tiles}/tiles/collections/{tile_data.s3}/items/{tile_data.s3_item}"
    local_item = f"{tiles_url}/collections/{tile_data.s2}/items/{tile_data.s2_item}"
    from_s3 = http.get(f"{s3_item}/{TILE}?{q}")
    from_disk = http.get(f"{local_item}/{TILE}?{q}")
    assert from_s3.status_code == from_disk.status_code == 200, from_s3.text
    assert (png(from_s3.content) == png(from_disk.content)).all()
    mosaic = http.get(f"{s3_tiles}/tiles/collections/{tile_data.s3}/{TILE}?{q}")
    assert mosaic.status_code == 200
    assert (png(mosaic.content) == png(from_disk.content)).all()
    assert http.get(f"{s3_item}/{TILE}").status_code == 200  # default render


def test_each_server_reads_only_its_store(
    s3_tiles: str, tiles_url: str, tile_data: TileData, http: httpx.Client
) -> None:
    s3_item = f"{s3_tiles}/tiles/collections/{tile_data.s3}/items/{tile_data.s3_item}"
    r = http.get(f"{s3_item}/{TILE}", params={"assets": "local"})
    assert (r.status_code, r.json()) == (404, {"detail": ASSET_NOT_FOUND})
    local_server = f"{tiles_url}/collections/{tile_data.s3}/items/{tile_data.s3_item}"
    r = http.get(f"{local_server}/{TILE}", params={"assets": "red"})
    assert (r.status_code, r.json()) == (404, {"detail": ASSET_NOT_FOUND})
