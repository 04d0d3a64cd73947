"""The web map with access control on: sign in with a key, share a private collection by link.

A second `stacworks serve` on the session database with access control on (the main session
server runs with it off). The private collection is the web map tests' own ``webmap-s2`` (real
Sentinel-2 COGs in the store, so its tiles are real PNGs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import serve
from tests.web_map.conftest import WebTiles
from tests.web_map.test_web_map import ok_pngs, shot, wait_loaded, watch_tiles

pytestmark = pytest.mark.browser


@dataclass
class SecuredWeb:
    base: str
    admin_key: str
    collection: str
    bbox: list[float]


@pytest.fixture(scope="module")
def secured_web(
    stacworks_env: dict[str, str],
    dsn: str,
    web_tiles: WebTiles,
    web_dist: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecuredWeb]:
    """The platform with access control on, an admin key, and ``webmap-s2`` private."""
    from catalog.access import AccessRecords

    store = AccessRecords(dsn, pooled=False)
    admin = store.create_key("web map access test admin", "admin")
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true"}
    log = tmp_path_factory.mktemp("web-map-access") / "serve.log"
    with serve(env, log=log) as base:
        r = httpx.put(
            f"{base}/admin/collections/{web_tiles.collection}/visibility",
            json={"visibility": "private"},
            headers={"Authorization": f"Bearer {admin['token']}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        yield SecuredWeb(base, admin["token"], web_tiles.collection, web_tiles.bbox)


def collections_shown(page: Any) -> list[str]:
    page.wait_for_selector("ul.collections:not([aria-busy])")
    return page.eval_on_selector_all(
        '[data-testid="collection-item"]', "els => els.map(e => e.dataset.collectionId)"
    )


def wait_pngs(page: Any, seen: list[tuple[str, int, str]], part: str) -> list[str]:
    deadline = time.monotonic() + 30
    while not ok_pngs(seen, part) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    return ok_pngs(seen, part)


def test_sign_in_and_share_a_private_collection(
    page: Any, browser: Any, secured_web: SecuredWeb, artifacts: Path
) -> None:
    s = secured_web
    cid = s.collection
    w, so, e, n = s.bbox
    seen = watch_tiles(page)

    # Anonymous: the private collection is not there.
    page.goto(f"{s.base}/?c={(w + e) / 2:.4f},{(so + n) / 2:.4f}&z=7")
    wait_loaded(page)
    status = page.locator('[data-testid="signin-status"]')
    status.filter(has_text="Not signed in").wait_for()
    assert cid not in collections_shown(page)
    workflows = page.locator('[data-testid="workflow-select"]')
    page.get_by_text("Sign in with an API key to run workflows.").wait_for()

    # A wrong key is refused and not kept.
    page.fill('[data-testid="signin-key"]', "swk_not_a_key")
    page.click('[data-testid="signin-button"]')
    status.filter(has_text="not accepted").wait_for()
    assert page.evaluate("() => localStorage.getItem('stacworks.apiKey')") is None

    # Signed in as admin: it appears, its tiles load with the key, the key survives a reload.
    page.fill('[data-testid="signin-key"]', s.admin_key)
    page.click('[data-testid="signin-button"]')
    status.filter(has_text="(admin)").wait_for()
    page.wait_for_selector(f'[data-testid="collection-item"][data-collection-id="{cid}"]')
    # The workflow list is read again with the key, without reloading the page.
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"workflow-select\"]')"
        ".textContent.includes('not available')")
    assert page.get_by_text("Sign in with an API key to run workflows.").count() == 0
    assert workflows.locator("option").first.text_content() in (
        "Choose a workflow…", "no workflows on this server")
    assert page.evaluate("() => localStorage.getItem('stacworks.apiKey')") == s.admin_key
    page.reload()
    status.filter(has_text="(admin)").wait_for()
    entry = page.locator(f'[data-testid="collection-item"][data-collection-id="{cid}"]')
    entry.get_by_role("button", name="Show on map").click()
    layer = page.locator(f'[data-testid="layer-item"][data-layer-id="collection:{cid}"]')
    layer.wait_for()
    assert wait_pngs(page, seen, f"/collections/{cid}/tiles/"), seen[:5]
    assert all("key=" in u for u in ok_pngs(seen, f"/collections/{cid}/tiles/"))
    wmts = layer.locator('[data-testid="layer-wmts-url"]').input_value()
    assert "key=" in wmts and httpx.get(wmts, timeout=60).status_code == 200

    # Share it: a link with an expiry, with XYZ/WMTS URLs carrying the token.
    share = layer.locator('[data-testid="layer-share"]')
    share.locator("summary").click()
    share.locator('[data-testid="share-visibility"]').filter(has_text="private").wait_for()
    share.locator('[data-testid="share-days"]').fill("1")
    share.locator('[data-testid="share-create"]').click()
    link_box = layer.locator('[data-testid="share-link-url"]')
    link_box.wait_for()
    link = link_box.input_value()
    assert link.startswith(f"{s.base}/?") and "token=sws_" in link
    assert f"layers=collection:{cid}" in link and "key=" not in link
    xyz = layer.locator('[data-testid="share-xyz-url"]').input_value()
    assert "token=sws_" in xyz and "key=" not in xyz and "{z}" in xyz
    assert "token=sws_" in layer.locator('[data-testid="share-wmts-url"]').input_value()
    wait_loaded(page)
    shot(page, artifacts, "access-01-signed-in-share-link")

    # Someone else opens the link: the layer is shown and its tiles load with the token.
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        shared = other.new_page()
        shared_seen = watch_tiles(shared)
        errors: list[str] = []
        shared.on("pageerror", lambda exc: errors.append(str(exc)))
        shared.goto(link)
        wait_loaded(shared)
        shared.locator('[data-testid="signin-status"]').filter(has_text="share link").wait_for()
        shared.locator(f'[data-testid="layer-item"][data-layer-id="collection:{cid}"]').wait_for()
        tiles = wait_pngs(shared, shared_seen, f"/collections/{cid}/tiles/")
        assert tiles and all("token=sws_" in u for u in tiles), shared_seen[:5]
        assert shared.evaluate("() => localStorage.getItem('stacworks.apiKey')") is None
        # A share link may not change visibility: said in words, not thrown.
        shared_share = shared.locator('[data-testid="layer-share"]')
        shared_share.locator("summary").click()
        shared_share.locator('[data-testid="share-make-public"]').click()
        shared_share.locator('[role="alert"]').filter(has_text="Sign in with an API key").wait_for()
        wait_loaded(shared)
        shot(shared, artifacts, "access-02-opened-share-link")
        assert errors == []
    finally:
        other.close()

    # Revoke it: the link and its tile URLs stop working.
    layer.locator('[data-testid="share-revoke"]').click()
    layer.locator('[data-testid="layer-share"] .notice').filter(has_text="revoked").wait_for()
    assert layer.locator('[data-testid="share-link-url"]').count() == 0
    assert httpx.get(tiles[0], timeout=60).status_code == 401
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        revoked = other.new_page()
        revoked_seen = watch_tiles(revoked)
        revoked.goto(link)
        revoked.locator('[data-testid="signin-status"]').filter(
            has_text="no longer valid"
        ).wait_for()
        assert cid not in collections_shown(revoked)
        assert revoked.locator('[data-testid="layer-item"]').count() == 0
        assert ok_pngs(revoked_seen) == []
        shot(revoked, artifacts, "access-03-revoked-share-link")
    finally:
        other.close()

    # Sign out: the key is forgotten and the collection is gone again.
    page.click('[data-testid="signout-button"]')
    status.filter(has_text="Not signed in").wait_for()
    assert page.evaluate("() => localStorage.getItem('stacworks.apiKey')") is None
    page.wait_for_function(
        "(cid) => !document.querySelector(`[data-collection-id='${cid}']`)", arg=cid
    )
