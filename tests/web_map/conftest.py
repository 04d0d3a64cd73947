"""Browser fixtures: the built web map, Chromium driven by Playwright, and tileable items.

The platform is the session ``server`` (every service, sample data loaded). Items whose files
are in the server's own store are added here, so previews and workflows have real tiles.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from objectstore import LocalStore
from tests.harness import ROOT, stacworks
from tests.samples import stored_s2_item

WEB_MAP = ROOT / "web_map"
ARTIFACTS = ROOT / "test-artifacts" / "web_map"
CHROMIUM = os.environ.get("STACWORKS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
]
#: The S2 bands copied into the store: true colour for previews, nir + scl for NDVI.
S2_BANDS = ("red", "green", "blue", "nir", "scl")


@dataclass(frozen=True)
class WebTiles:
    """A collection of two real Sentinel-2 items whose COGs are in the server's store."""

    collection: str = "webmap-s2"
    items: tuple[str, ...] = ("webmap-S2A_29RKH_20200219", "webmap-S2A_29RKH_20200304")
    bbox: list[float] = field(default_factory=list)


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """web_map/dist, built once (npm ci + npm run build) when it is missing."""
    dist = WEB_MAP / "dist"
    if (dist / "index.html").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: make setup installs Node and builds the web map")
    if not (WEB_MAP / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB_MAP, check=True, timeout=600)
    subprocess.run([npm, "run", "build"], cwd=WEB_MAP, check=True, timeout=600)
    return dist


@pytest.fixture(scope="session")
def web_url(server: str, web_dist: Path) -> str:
    """The web map's address (served by the platform at /)."""
    page = httpx.get(f"{server}/", timeout=30)
    assert page.status_code == 200 and 'data-testid="map"' in page.text, page.text[:300]
    return server


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (make setup does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class ConsoleLog:
    """Console errors and uncaught exceptions of a page, with the URL they came from."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def on_console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append((msg.text, (msg.location or {}).get("url", "")))

    def on_pageerror(self, exc: Any) -> None:
        self.errors.append((f"uncaught: {exc}", ""))

    def unexpected(self) -> list[tuple[str, str]]:
        """Every error: each service is part of the server, so even a 404 is one."""
        return list(self.errors)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) on a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    log = ConsoleLog()
    p.on("console", log.on_console)
    p.on("pageerror", log.on_pageerror)
    p.console_log = log
    try:
        yield p
    finally:
        context.close()


@pytest.fixture(scope="session")
def web_tiles(
    stacworks_env: dict[str, str], server: str, tmp_path_factory: pytest.TempPathFactory
) -> WebTiles:
    """Two real S2 items with COGs in the session store, in a collection with render presets."""
    data = WebTiles()
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    items = [
        stored_s2_item(
            store, data.collection, data.items[0], when="2020-02-19T11:34:25Z", keys=S2_BANDS
        ),
        stored_s2_item(
            store, data.collection, data.items[1], when="2020-03-04T11:34:25Z", keys=S2_BANDS
        ),
    ]
    bbox = items[0]["bbox"]
    coll: dict[str, Any] = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": data.collection,
        "title": "Sentinel-2 L2A (web map tests)",
        "description": "Real S2 COGs in our store.",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [["2020-02-19T00:00:00Z", "2020-03-05T00:00:00Z"]]},
        },
        "summaries": {"eo:cloud_cover": {"minimum": 0, "maximum": 100}},
        "item_assets": {
            k: {kk: vv for kk, vv in a.items() if kk != "href"}
            for k, a in items[0]["assets"].items()
        },
    }
    try:  # the tiler's presets (true colour, NDVI) when the tiler is there
        from tiler.render import default_renders

        coll["renders"] = default_renders(coll)
    except ImportError:
        pass
    path = tmp_path_factory.mktemp("web-map-load") / "webmap.json"
    path.write_text(json.dumps([coll, *copy.deepcopy(items)]))
    stacworks("load", "--mode", "upsert", str(path), env=stacworks_env)
    return WebTiles(bbox=bbox)
