"""The README's first command, end to end: `stacworks demo` on a fresh data folder, offline."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.harness import free_port, remove_tree, serve, stacworks, world_traversable_tmpdir


@pytest.fixture(scope="module")
def demo_env(shared_data: Path) -> Iterator[dict[str, str]]:
    home = world_traversable_tmpdir("stacworks-demo-")
    env = {**os.environ, "STACWORKS_HOME": str(home / "h"), "STACWORKS_DB_PORT": str(free_port())}
    env.pop("STACWORKS_DATABASE_URL", None)
    try:
        # The demo starts and migrates the database itself: no `db start` beforehand.
        res = stacworks("demo", "--no-serve", "--from", str(shared_data), env=env, timeout=600)
        assert "loaded" in res.stdout
        key = re.search(r"admin API key \(shown once\): (swk_\S+)", res.stdout)
        assert key, res.stdout  # access control is on by default
        yield {**env, "DEMO_ADMIN_KEY": key.group(1)}
    finally:
        stacworks("db", "stop", env=env, check=False)
        remove_tree(home)


def test_demo_catalog_searchable_and_sample_scene_shows_as_tiles(demo_env: dict[str, str]) -> None:
    with serve(demo_env) as base:
        body = httpx.get(f"{base}/stac/search", params={"limit": 100}).json()
        assert len(body["features"]) >= 30
        s2 = httpx.get(f"{base}/stac/collections/sentinel-2-l2a/items").json()["features"]
        assert [f["id"] for f in s2] == ["S2A_29RKH_20200219_0_L2A"]
        # Served as a download URL; no server path and no link to the demo's loopback source.
        red = s2[0]["assets"]["red"]["href"]
        assert red == f"{base}/assets/sentinel-2-l2a/S2A_29RKH_20200219_0_L2A/red", red
        assert demo_env["STACWORKS_HOME"] not in json.dumps(s2)
        dead = [lk for lk in s2[0]["links"]
                if "//127.0.0.1" in lk["href"] and not lk["href"].startswith(base)]
        assert not dead, dead
        assert httpx.get(red, headers={"Range": "bytes=0-3"}).content[:2] in (b"II", b"MM")
        # The collection mosaic draws with its render preset (true colour), no parameters.
        r = httpx.get(
            f"{base}/tiles/collections/sentinel-2-l2a/tiles/WebMercatorQuad/8/119/109.png"
        )
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        px = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
        assert (px[..., 3] > 0).mean() > 0.2 and px[..., :3][px[..., 3] > 0].std() > 1
        ids = {c["id"] for c in httpx.get(f"{base}/stac/collections").json()["collections"]}
        assert {"joplin", "landsat-c2l2-sr", "3dep-lidar-copc"} <= ids
        admin = {"Authorization": f"Bearer {demo_env['DEMO_ADMIN_KEY']}"}
        processes = httpx.get(f"{base}/processes", headers=admin).json()["processes"]
        assert {"algorithm:ndvi", "algorithm:lidar-dtm"} <= {p["id"] for p in processes}
        page = httpx.get(f"{base}/")  # the web map, built by setup
        assert page.status_code == 200 and 'data-testid="map"' in page.text
    # Running the demo again changes nothing and says so.
    again = stacworks("demo", "--no-serve", env=demo_env, timeout=600)
    assert "already ingested" in again.stdout + again.stderr


def test_demo_every_public_layer_in_wmts_and_wms(demo_env: dict[str, str]) -> None:
    """What a QGIS user sees anonymously: every advertised layer draws, through OWSLib's WMTS
    (each layer, set and style) and WMS 1.3.0; collections of remote items are no layers."""
    from owslib.wms import WebMapService
    from owslib.wmts import WebMapTileService

    from tests.tiler.test_ogc_clients import _centre_box, _every_tile, _wms_layers, real_pixels

    # The demo's LiDAR sample (Autzen, 110 000 points) covers about 360 x 170 m: at the
    # zooms a QGIS user opens first (<= 10) it is a few pixels of a tile, never a full one.
    sparse = {"3dep-lidar-copc"}
    with serve(demo_env) as base:
        (cloud,) = httpx.get(f"{base}/stac/collections/3dep-lidar-copc/items",
                             timeout=30).json()["features"]
        box = cloud["bbox"]
        w, s, e, n = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
        assert w < -123.07 < e and s < 44.05 < n, cloud["bbox"]  # in Eugene, Oregon
        assert cloud["properties"]["pc:count"] == 110_000
        wmts = WebMapTileService(f"{base}/tiles/WMTSCapabilities.xml")
        layers = _every_tile(wmts, own=None, sparse=sparse)
        assert "3dep-lidar-copc" in layers, layers  # point clouds are layers like any other
        assert "sentinel-2-l2a" in layers, layers
        earth_search = httpx.get(f"{base}/stac/collections/sentinel-2-c1-l2a")
        if earth_search.status_code == 200:  # loaded, remote hrefs only: not drawable here
            assert "sentinel-2-c1-l2a" not in layers
        wms = WebMapService(f"{base}/tiles/wms", version="1.3.0")
        named = _wms_layers(wms)
        assert set(named) == set(layers)
        for name, layer in named.items():
            img = wms.getmap(layers=[name], styles=[""], srs="EPSG:4326",
                             bbox=_centre_box(layer.boundingBoxWGS84), size=(128, 128),
                             format="image/png", transparent=True)
            real_pixels(img.read(), sparse=name in sparse)
