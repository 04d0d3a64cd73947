"""The 3D point cloud view in a real browser: the Autzen COPC streamed through ``/assets``.

The platform runs with access control on and the LiDAR collection private: the browser signs in
with a key, opens the item's preview, clicks "Open 3D", and the view reads the COPC by HTTP
Range requests (206) with the key, level by level, until every point is in. Screenshots (by
elevation, by classification) go to test-artifacts/web_map/ and must show points, not just the
background. Anonymous readers get nothing from ``/assets``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from objectstore import LocalStore, asset_key
from tests.harness import ROOT, serve, stacworks
from tests.samples import bbox_item
from tests.web_map.test_web_map import search, wait_loaded

pytestmark = pytest.mark.browser

AUTZEN_LAS = ROOT.parent / "shared" / "data" / "lidar" / "las" / "autzen_trim.las"
COLLECTION = "webmap-lidar"
ITEM = "autzen-trim"
COPC_TYPE = "application/vnd.laszip+copc"
#: The view's clear colour (pointcloud/view.ts).
BACKGROUND = np.array([0x11, 0x16, 0x1F])


@dataclass
class LidarWeb:
    base: str
    admin_key: str
    bbox: list[float]
    copc: Path
    points: int


def _wgs84_bbox(path: Path) -> list[float]:
    import laspy
    from pyproj import CRS, Transformer

    header = laspy.read(path).header
    crs = header.parse_crs()
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    to_wgs84 = Transformer.from_crs(horizontal, CRS.from_epsg(4326), always_xy=True)
    w, s = to_wgs84.transform(header.mins[0], header.mins[1])
    e, n = to_wgs84.transform(header.maxs[0], header.maxs[1])
    return [w, s, e, n]


@pytest.fixture(scope="module")
def lidar_web(
    stacworks_env: dict[str, str],
    dsn: str,
    web_dist: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LidarWeb]:
    """Autzen as COPC (small leaves: several levels) in a private collection, access control on."""
    from catalog.access import AccessRecords
    from ingest.convert import to_copc

    tmp = tmp_path_factory.mktemp("web-map-lidar")
    copc = to_copc(AUTZEN_LAS, tmp / "autzen.copc.laz", max_leaf_points=4096)
    assert copc.max_depth >= 2, copc  # the view has levels to stream
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    key = asset_key(COLLECTION, ITEM, "data", "copc.laz")
    store.put_file(key, copc.path)
    bbox = _wgs84_bbox(copc.path)
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION,
        "title": "Autzen LiDAR (web map tests)", "description": "A COPC point cloud.",
        "license": "proprietary", "links": [],
        "extent": {"spatial": {"bbox": [bbox]},
                   "temporal": {"interval": [["2015-01-01T00:00:00Z", None]]}},
    }  # fmt: skip
    item = bbox_item(COLLECTION, ITEM, bbox, "2015-06-01T00:00:00Z", {
        "data": {"href": store.href(key), "type": COPC_TYPE, "roles": ["data"]},
    })  # fmt: skip
    path = tmp / "lidar.json"
    path.write_text(json.dumps([collection, item]))
    stacworks("load", "--mode", "upsert", str(path), env=stacworks_env)

    admin = AccessRecords(dsn, pooled=False).create_key("point cloud view test", "admin")
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true"}
    with serve(env, log=tmp / "serve.log") as base:
        r = httpx.put(f"{base}/admin/collections/{COLLECTION}/visibility",
                      json={"visibility": "private"},
                      headers={"Authorization": f"Bearer {admin['token']}"}, timeout=30)
        assert r.status_code == 200, r.text
        yield LidarWeb(base, admin["token"], bbox, copc.path, copc.point_count)


def test_private_copc_is_served_by_range_to_its_readers_only(lidar_web: LidarWeb) -> None:
    url = f"{lidar_web.base}/assets/{COLLECTION}/{ITEM}/data"
    data = lidar_web.copc.read_bytes()
    anonymous = httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert anonymous.status_code in (401, 404), anonymous.status_code
    assert b"LASF" not in anonymous.content
    auth = {"Authorization": f"Bearer {lidar_web.admin_key}"}
    part = httpx.get(url, headers={**auth, "Range": "bytes=375-1374"}, timeout=30)
    assert part.status_code == 206, part.status_code
    assert part.headers["content-range"] == f"bytes 375-1374/{len(data)}"
    assert part.content == data[375:1375]
    assert httpx.get(url, headers={**auth, "Range": "bytes=0-3"}, timeout=30).content == b"LASF"


def _shot(page: Any, path: Path) -> np.ndarray:
    png = page.locator('[data-testid="pointcloud-canvas"]').screenshot(path=str(path))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _point_pixels(img: np.ndarray) -> np.ndarray:
    return np.abs(img - BACKGROUND).sum(axis=2) > 30


def test_open_3d_streams_the_copc_by_range_requests(
    browser: Any, lidar_web: LidarWeb, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # Signed in before the page loads (the key the sign-in form would keep).
    context.add_init_script(f"localStorage.setItem('stacworks.apiKey', '{lidar_web.admin_key}')")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    asset_calls: list[dict[str, Any]] = []

    def on_response(response: Any) -> None:
        if "/assets/" in response.url:
            headers = response.request.headers
            asset_calls.append({"status": response.status, "range": headers.get("range"),
                                "auth": headers.get("authorization", "")})

    page.on("response", on_response)
    try:
        w, s, e, n = lidar_web.bbox
        page.goto(f"{lidar_web.base}/?c={(w + e) / 2:.5f},{(s + n) / 2:.5f}&z=13")
        wait_loaded(page)
        page.wait_for_selector(f'#search-collection option[value="{COLLECTION}"]', state="attached")
        search(page, "2015-01-01", "2015-12-31", collection=COLLECTION)
        page.locator(f'[data-testid="result-item"][data-item-id="{ITEM}"]').click()
        page.locator('[data-testid="open-3d"]').click()
        view = page.locator('[data-testid="pointcloud-view"]')
        view.wait_for()
        page.wait_for_selector('[data-testid="pointcloud-view"][data-state="ready"]',
                               timeout=30_000)
        state = view.evaluate("el => ({...el.dataset})")
        assert int(state["points"]) == lidar_web.points, state  # the budget holds all of Autzen
        assert int(state["nodes"]) > 3 and int(state["depth"]) >= 2, state
        assert not errors, errors

        # Range requests only, each answered 206, each with the key; no byte read twice over.
        assert asset_calls and len(asset_calls) == int(state["requests"]), asset_calls
        assert all(c["status"] == 206 and (c["range"] or "").startswith("bytes=")
                   for c in asset_calls), asset_calls
        assert all(c["auth"] == f"Bearer {lidar_web.admin_key}" for c in asset_calls)
        assert int(state["partialRequests"]) == len(asset_calls)
        assert int(state["bytes"]) <= lidar_web.copc.stat().st_size + 65536

        page.wait_for_timeout(300)  # the frame after the last node
        by_height = _shot(page, artifacts / "pointcloud-elevation.png")
        covered = _point_pixels(by_height)
        assert covered.mean() > 0.05, covered.mean()  # points, not an empty canvas
        colours = {tuple(c) for c in by_height[covered][::50]}
        assert len(colours) > 20  # an elevation ramp, not one flat colour

        page.select_option('[data-testid="pointcloud-color"]', "classification")
        page.wait_for_selector('[data-testid="pointcloud-view"][data-color="classification"]')
        page.wait_for_timeout(300)
        by_class = _shot(page, artifacts / "pointcloud-classification.png")
        assert _point_pixels(by_class).mean() > 0.05
        assert np.abs(by_class - by_height).sum(axis=2).astype(bool).mean() > 0.02

        page.locator('[data-testid="pointcloud-close"]').click()
        view.wait_for(state="detached")
    finally:
        context.close()
