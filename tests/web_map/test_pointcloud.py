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
#: 518,862 points in 15 nodes: levels 0 + 1 hold 163,993, level 2 the rest.
LONE_STAR = ROOT.parent / "shared" / "data" / "lidar" / "copc" / "lone-star.copc.laz"
COLLECTION = "webmap-lidar"
ITEM = "autzen-trim"
BIG_ITEM = "lone-star"
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
    big_bbox: list[float]


def _wgs84_bbox(path: Path, crs: Any = None) -> list[float]:
    import laspy
    from pyproj import CRS, Transformer

    header = laspy.read(path).header
    crs = crs or header.parse_crs()
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
    big_key = asset_key(COLLECTION, BIG_ITEM, "data", "copc.laz")
    store.put_file(big_key, LONE_STAR)
    from pyproj import CRS

    big_bbox = _wgs84_bbox(LONE_STAR, CRS.from_epsg(32612))  # its WKT wrongly says EPSG:4978
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
    big = bbox_item(COLLECTION, BIG_ITEM, big_bbox, "2015-06-02T00:00:00Z", {
        "data": {"href": store.href(big_key), "type": COPC_TYPE, "roles": ["data"]},
    })  # fmt: skip
    path = tmp / "lidar.json"
    path.write_text(json.dumps([collection, item, big]))
    stacworks("load", "--mode", "upsert", str(path), env=stacworks_env)

    admin = AccessRecords(dsn, pooled=False).create_key("point cloud view test", "admin")
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true"}
    with serve(env, log=tmp / "serve.log") as base:
        r = httpx.put(f"{base}/admin/collections/{COLLECTION}/visibility",
                      json={"visibility": "private"},
                      headers={"Authorization": f"Bearer {admin['token']}"}, timeout=30)
        assert r.status_code == 200, r.text
        yield LidarWeb(base, admin["token"], bbox, copc.path, copc.point_count, big_bbox)


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


def _drawn(page: Any, points: int | str, color: str) -> None:
    """Wait for the frame that shows ``points`` points coloured by ``color``."""
    page.wait_for_selector(f'[data-testid="pointcloud-view"][data-drawn-points="{points}"]'
                           f'[data-drawn-color="{color}"]')


def _shot(page: Any, path: Path) -> np.ndarray:
    png = page.locator('[data-testid="pointcloud-canvas"]').screenshot(path=str(path))
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _point_pixels(img: np.ndarray) -> np.ndarray:
    return np.abs(img - BACKGROUND).sum(axis=2) > 30


def _signed_in_page(browser: Any, key: str, budget: int | None = None) -> tuple[Any, Any]:
    """A page whose localStorage holds the key (as the sign-in form keeps it) and a budget."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    script = f"localStorage.setItem('stacworks.apiKey', '{key}');"
    if budget:
        script += f"localStorage.setItem('stacworks.pointBudget', '{budget}');"
    context.add_init_script(script)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def _open_3d(page: Any, base: str, bbox: list[float], item: str, year: str) -> Any:
    """Search the item where it is, preview it, open its 3D view; the view once it is ready."""
    w, s, e, n = bbox
    page.goto(f"{base}/?c={(w + e) / 2:.5f},{(s + n) / 2:.5f}&z=13")
    wait_loaded(page)
    page.wait_for_selector(f'#search-collection option[value="{COLLECTION}"]', state="attached")
    search(page, f"{year}-01-01", f"{year}-12-31", collection=COLLECTION)
    page.locator(f'[data-testid="result-item"][data-item-id="{item}"]').click()
    page.locator('[data-testid="open-3d"]').click()
    view = page.locator('[data-testid="pointcloud-view"]')
    view.wait_for()
    page.wait_for_selector('[data-testid="pointcloud-view"][data-state="ready"]', timeout=30_000)
    return view


def test_open_3d_streams_the_copc_by_range_requests(
    browser: Any, lidar_web: LidarWeb, artifacts: Path
) -> None:
    context, page = _signed_in_page(browser, lidar_web.admin_key)
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
        view = _open_3d(page, lidar_web.base, lidar_web.bbox, ITEM, "2015")
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

        _drawn(page, state["points"], "elevation")
        by_height = _shot(page, artifacts / "pointcloud-elevation.png")
        covered = _point_pixels(by_height)
        assert covered.mean() > 0.05, covered.mean()  # points, not an empty canvas
        colours = {tuple(c) for c in by_height[covered][::50]}
        assert len(colours) > 20  # an elevation ramp, not one flat colour

        page.screenshot(path=str(artifacts / "pointcloud-page.png"))  # the view in the page
        page.select_option('[data-testid="pointcloud-color"]', "classification")
        _drawn(page, state["points"], "classification")
        by_class = _shot(page, artifacts / "pointcloud-classification.png")
        assert _point_pixels(by_class).mean() > 0.05
        assert np.abs(by_class - by_height).sum(axis=2).astype(bool).mean() > 0.02

        page.locator('[data-testid="pointcloud-close"]').click()
        view.wait_for(state="detached")
    finally:
        context.close()


def test_the_point_budget_bounds_what_is_read(
    browser: Any, lidar_web: LidarWeb, artifacts: Path
) -> None:
    """Lone Star (518,862 points) under a 250 k budget: the two coarse levels and the densest
    nodes of the third, a fraction of the file read; a bigger budget adds only the rest."""
    context, page = _signed_in_page(browser, lidar_web.admin_key, budget=250_000)
    try:
        view = _open_3d(page, lidar_web.base, lidar_web.big_bbox, BIG_ITEM, "2015")
        small = view.evaluate("el => ({...el.dataset})")
        assert small["budget"] == "250000" and small["truncated"] == "true", small
        assert 163_993 < int(small["points"]) <= 250_000, small
        assert small["depth"] == "2" and int(small["nodes"]) < 15, small
        size = LONE_STAR.stat().st_size
        assert int(small["bytes"]) < 0.7 * size, (small, size)
        assert page.locator('[data-testid="pointcloud-color"] option[value="rgb"]').is_disabled()
        _drawn(page, small["points"], "elevation")
        img = _shot(page, artifacts / "pointcloud-lone-star-250k.png")
        assert _point_pixels(img).mean() > 0.05

        page.select_option('[data-testid="pointcloud-budget"]', "1000000")
        page.wait_for_selector('[data-testid="pointcloud-view"][data-budget="1000000"]'
                               '[data-state="ready"]')
        full = view.evaluate("el => ({...el.dataset})")
        assert full["points"] == "518862" and full["nodes"] == "15", full
        assert full["truncated"] == "false"
        # Only the nodes left out before were fetched: no byte read twice over.
        assert int(full["bytes"]) <= size + 65536, (full, size)
        assert page.evaluate("() => localStorage.getItem('stacworks.pointBudget')") == "1000000"
    finally:
        context.close()
