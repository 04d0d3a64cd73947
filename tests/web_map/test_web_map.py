"""The web map in a real browser (Chromium via Playwright) against the whole platform.

The journey of a client: find scenes over an area and dates, select some (the selection
survives a reload), preview one (tiles from the tiler), launch the NDVI workflow on two and see
its output as a layer; the link reproduces the view; no console errors on the way.
Screenshots of the key steps go to test-artifacts/web_map/.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, stacworks
from tests.web_map.conftest import WebTiles

pytestmark = pytest.mark.browser

JOPLIN_VIEW = "c=-94.55,37.07&z=10"
JOPLIN_ITEMS = json.loads((ROOT.parent / "shared/data/stac/joplin/index.geojson").read_text())[
    "features"
]
TILE_PNG = re.compile(r"/tiles/.*/tiles/WebMercatorQuad/\d+/\d+/\d+\.png")


def wait_loaded(page: Any, timeout: float = 30_000) -> None:
    page.wait_for_selector('[data-testid="map"][data-loaded="true"]', timeout=timeout)


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"))


def search(page: Any, date_from: str, date_to: str, collection: str | None = None) -> None:
    if collection:
        page.select_option("#search-collection", collection)
    page.fill('[data-testid="search-date-from"]', date_from)
    page.fill('[data-testid="search-date-to"]', date_to)
    page.click('[data-testid="search-button"]')
    page.wait_for_function(
        "() => !document.querySelector('.results').hasAttribute('aria-busy')"
        " && document.querySelector('.summary').textContent !== 'Searching…'"
    )


def result_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        '[data-testid="result-item"]', "els => els.map(e => e.dataset.itemId)"
    )


def all_result_ids(page: Any) -> list[str]:
    """Every page of results, following the Next button."""
    ids = result_ids(page)
    next_button = page.get_by_role("button", name="Next ›")
    while next_button.is_enabled():
        first = result_ids(page)[0]
        next_button.click()
        page.wait_for_function(
            "(id) => { const e = document.querySelector('[data-testid=result-item]');"
            " return e && e.dataset.itemId !== id; }",
            arg=first,
        )
        ids += result_ids(page)
    return ids


def map_view(page: Any) -> dict[str, float]:
    return page.evaluate(
        "() => { const m = window.stacworksMap; const c = m.getCenter();"
        " return {lng: c.lng, lat: c.lat, zoom: m.getZoom()}; }"
    )


def test_page_loads_without_console_errors(page: Any, web_url: str, artifacts: Path) -> None:
    page.goto(f"{web_url}/")
    wait_loaded(page)
    page.wait_for_selector('[data-testid="collection-item"][data-collection-id="joplin"]')
    assert page.locator('[data-testid="collection-item"]').count() >= 2
    joplin = page.locator('[data-testid="collection-item"][data-collection-id="joplin"]')
    joplin.locator(".count").filter(has_text="30 items").wait_for()
    # Every required control is on the page, labelled.
    for testid in (
        "search-button",
        "search-date-from",
        "search-date-to",
        "search-max-cloud",
        "selection-count",
        "workflow-select",
        "launch-button",
    ):
        assert page.locator(f'[data-testid="{testid}"]').count() == 1, testid
    page.wait_for_timeout(500)
    shot(page, artifacts, "01-loaded")
    assert page.console_log.unexpected() == []


def test_search_by_extent_and_dates(page: Any, web_url: str, artifacts: Path) -> None:
    page.goto(f"{web_url}/?{JOPLIN_VIEW}")
    wait_loaded(page)
    search(page, "2000-02-01", "2000-02-28")
    assert page.locator('[data-testid="result-item"]').count() == 20  # first page
    wait_loaded(page)
    shot(page, artifacts, "02-search-results")
    # Footprints are on the map, and hovering a result highlights it.
    footprints = page.evaluate(
        "() => window.stacworksMap.querySourceFeatures('sw-footprints').length"
    )
    assert footprints > 0
    first = page.locator('[data-testid="result-item"]').first
    first.hover()
    assert "hover" in (first.get_attribute("class") or "")

    ids = all_result_ids(page)
    expected = {f["id"] for f in JOPLIN_ITEMS if f["properties"]["datetime"].startswith("2000-02")}
    assert sorted(ids) == sorted(expected)  # all 30 joplin items, each once, over two pages
    assert set(
        page.eval_on_selector_all(
            '[data-testid="result-item"]', "els => els.map(e => e.dataset.collection)"
        )
    ) == {"joplin"}

    # Other dates over the same area: nothing.
    search(page, "2001-01-01", "2001-12-31")
    assert page.locator('[data-testid="result-item"]').count() == 0
    assert "No items match" in page.text_content(".summary")
    assert page.console_log.unexpected() == []


def test_selection_survives_reload(page: Any, web_url: str, artifacts: Path) -> None:
    page.goto(f"{web_url}/?{JOPLIN_VIEW}")
    wait_loaded(page)
    search(page, "2000-02-01", "2000-02-28")
    results = page.locator('[data-testid="result-item"]')
    picked = [results.nth(i).get_attribute("data-item-id") for i in (0, 1)]
    for i in (0, 1):
        results.nth(i).locator('[data-testid="result-select"]').check()
    assert page.text_content('[data-testid="selection-count"]') == "2"
    shot(page, artifacts, "03-selection")

    page.reload()
    wait_loaded(page)
    assert page.text_content('[data-testid="selection-count"]') == "2"
    assert all(page.locator(".selection li").filter(has_text=i[:8]).count() == 1 for i in picked)
    # The restored search shows the same items checked.
    page.wait_for_selector('[data-testid="result-item"]')
    for item_id in picked:
        entry = page.locator(f'[data-testid="result-item"][data-item-id="{item_id}"]')
        assert entry.locator('[data-testid="result-select"]').is_checked()

    page.get_by_role("button", name="Clear selection").click()
    assert page.text_content('[data-testid="selection-count"]') == "0"
    page.reload()
    wait_loaded(page)
    assert page.text_content('[data-testid="selection-count"]') == "0"


def test_url_restores_the_view(page: Any, browser: Any, web_url: str, artifacts: Path) -> None:
    page.goto(f"{web_url}/?{JOPLIN_VIEW}&from=2000-02-01&to=2000-02-28")
    wait_loaded(page)
    # The link's dates are in the form, and its search has run.
    assert page.input_value('[data-testid="search-date-from"]') == "2000-02-01"
    page.wait_for_selector('[data-testid="result-item"]')
    view = map_view(page)
    assert view["lng"] == pytest.approx(-94.55, abs=1e-3) and view["zoom"] == pytest.approx(10)

    # Move the map: the URL follows; a second browser opening that URL sees the same view.
    page.evaluate("() => window.stacworksMap.jumpTo({center: [-94.5, 37.1], zoom: 11.5})")
    page.wait_for_function("() => location.search.includes('z=11.5')")
    url = page.url
    assert "from=2000-02-01" in url and "to=2000-02-28" in url
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        other.goto(url)
        wait_loaded(other)
        restored = map_view(other)
        assert restored["lng"] == pytest.approx(-94.5, abs=1e-3)
        assert restored["lat"] == pytest.approx(37.1, abs=1e-3)
        assert restored["zoom"] == pytest.approx(11.5)
        assert other.input_value('[data-testid="search-date-to"]') == "2000-02-28"
        other.wait_for_selector('[data-testid="result-item"]')
        shot(other, artifacts, "04-restored-from-url")
    finally:
        other.context.close()


def watch_tiles(page: Any) -> list[tuple[str, int, str]]:
    seen: list[tuple[str, int, str]] = []
    page.on(
        "response",
        lambda r: (
            seen.append((r.url, r.status, r.headers.get("content-type", "")))
            if TILE_PNG.search(r.url)
            else None
        ),
    )
    return seen


def ok_pngs(seen: list[tuple[str, int, str]], part: str = "") -> list[str]:
    return [u for u, s, t in seen if s == 200 and t.startswith("image/png") and part in u]


def test_preview_fetches_tiles_and_layer_urls(
    page: Any, web_url: str, web_tiles: WebTiles, artifacts: Path
) -> None:
    seen = watch_tiles(page)
    w, s, e, n = web_tiles.bbox
    page.goto(f"{web_url}/?c={(w + e) / 2:.4f},{(s + n) / 2:.4f}&z=7")
    wait_loaded(page)
    search(page, "2020-01-01", "2020-12-31", collection=web_tiles.collection)
    assert sorted(result_ids(page)) == sorted(web_tiles.items)

    # Keyboard: focus the first result and press Enter to preview it.
    first = page.locator('[data-testid="result-item"]').first
    item_id = first.get_attribute("data-item-id")  # newest first
    first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#preview-panel .item-id")
    wait_loaded(page)
    deadline = time.monotonic() + 30
    while not ok_pngs(seen, f"/items/{item_id}/") and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert ok_pngs(seen, f"/items/{item_id}/"), seen[:5]
    assert page.locator("#preview-panel table.metadata tr").count() > 5
    assert page.locator("#preview-panel .assets li").count() == 5
    shot(page, artifacts, "05-preview-tiles")

    # Keep it as a layer: the layers list offers its XYZ template and WMTS capabilities URL.
    page.get_by_role("button", name="Keep as layer").click()
    layer_id = f"item:{web_tiles.collection}/{item_id}"
    layer = page.locator(f'[data-testid="layer-item"][data-layer-id="{layer_id}"]')
    layer.wait_for()
    wmts = layer.locator('[data-testid="layer-wmts-url"]').input_value()
    capabilities = httpx.get(wmts, timeout=60)
    assert capabilities.status_code == 200 and "Capabilities" in capabilities.text
    opacity = layer.get_by_label(re.compile("Opacity of"))
    opacity.fill("0.5")
    assert "layers=item:" in page.url

    # The collection as a mosaic layer, drawn with its render preset.
    cid = web_tiles.collection
    entry = page.locator(f'[data-testid="collection-item"][data-collection-id="{cid}"]')
    entry.get_by_role("button", name="Show on map").click()
    page.locator(f'[data-testid="layer-item"][data-layer-id="collection:{cid}"]').wait_for()
    deadline = time.monotonic() + 30
    while not ok_pngs(seen, f"/collections/{cid}/tiles/") and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert ok_pngs(seen, f"/collections/{cid}/tiles/")
    wait_loaded(page)
    shot(page, artifacts, "06-layers")
    assert page.console_log.unexpected() == []


def ndvi_process(base: str, env: dict[str, str]) -> str:
    """The shipped NDVI algorithm's process id; registers the shipped algorithms when unlisted."""

    def ids() -> list[str]:
        listing = httpx.get(f"{base}/processes", timeout=30)
        assert listing.status_code == 200, listing.text
        return [p["id"] for p in listing.json()["processes"]]

    # The shipped algorithm itself: other tests register workflows that chain NDVI.
    if "algorithm:ndvi" not in ids():
        shipped = sorted((ROOT / "algorithms").glob("*.yaml"))
        stacworks("algorithm", "register", "--replace", *map(str, shipped), env=env)
    assert "algorithm:ndvi" in ids(), ids()
    return "algorithm:ndvi"


def test_ndvi_workflow_on_two_items(
    page: Any, web_url: str, web_tiles: WebTiles, stacworks_env: dict[str, str], artifacts: Path
) -> None:
    process_id = ndvi_process(web_url, stacworks_env)
    seen = watch_tiles(page)
    w, s, e, n = web_tiles.bbox
    page.goto(f"{web_url}/?c={(w + e) / 2:.4f},{(s + n) / 2:.4f}&z=7")
    wait_loaded(page)
    search(page, "2020-01-01", "2020-12-31", collection=web_tiles.collection)
    for box in page.locator('[data-testid="result-select"]').all():
        box.check()
    assert page.text_content('[data-testid="selection-count"]') == "2"

    page.select_option('[data-testid="workflow-select"]', process_id)
    launch = page.locator('[data-testid="launch-button"]')
    page.wait_for_function("() => !document.querySelector('[data-testid=launch-button]').disabled")
    page.locator(".cost").filter(has_text="Cost estimate").wait_for()
    shot(page, artifacts, "07-workflow-form")
    launch.click()

    job = page.locator('[data-testid="job-status"]').first
    job.wait_for()
    job_id = job.get_attribute("data-job-id")
    assert job_id
    page.wait_for_selector(
        f'[data-testid="job-status"][data-job-id="{job_id}"]'
        ':is([data-status="successful"], [data-status="failed"], [data-status="dismissed"])',
        timeout=90_000,
    )
    shot(page, artifacts, "08-job-done")
    assert job.get_attribute("data-status") == "successful", job.inner_text()
    assert job.locator(".logs").inner_text().strip(), "the job's logs are shown"

    layer = page.locator(f'[data-testid="layer-item"][data-layer-id="job:{job_id}"]')
    layer.wait_for(timeout=30_000)
    wait_loaded(page)
    results = httpx.get(f"{web_url}/jobs/{job_id}/results", timeout=30).json()
    outputs = {f["id"] for f in results["items"]["features"]}
    assert len(outputs) == 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = [u for u in ok_pngs(seen) if any(o in u for o in outputs) or "/searches/" in u]
        if got:
            break
        page.wait_for_timeout(250)
    assert got, [x for x in seen if x[1] != 200][:5]
    shot(page, artifacts, "09-result-layer")


def test_narrow_screen(browser: Any, web_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{web_url}/?{JOPLIN_VIEW}")
        wait_loaded(page)
        box = page.locator('[data-testid="map"]').bounding_box()
        assert box and box["width"] >= 380 and box["height"] >= 300
        search(page, "2000-02-01", "2000-02-28")
        assert page.locator('[data-testid="result-item"]').count() == 20
        page.evaluate("() => window.scrollTo(0, 0)")
        shot(page, artifacts, "10-narrow")
        page.locator('[data-testid="result-item"]').first.scroll_into_view_if_needed()
        shot(page, artifacts, "11-narrow-results")
    finally:
        context.close()
