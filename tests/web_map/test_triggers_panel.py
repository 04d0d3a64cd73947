"""The Triggers panel in a real browser: subscribe to the search on screen (its collection, the
map extent, the max-cloud field), see it listed, pause it, read its history, delete it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web_map.test_web_map import wait_loaded

pytestmark = pytest.mark.browser


def test_subscribe_to_the_search_on_screen(page: Any, web_url: str) -> None:
    page.goto(f"{web_url}/?c=-94.55,37.07&z=10")
    wait_loaded(page)
    page.wait_for_selector("#search-collection option[value='joplin']", state="attached")
    page.select_option("#search-collection", "joplin")
    page.click("#triggers-panel > summary")
    page.wait_for_selector("#triggers-panel .triggers li")
    page.select_option("#trigger-every", "60")
    page.get_by_role("button", name="Subscribe to this search").click()
    row = page.locator("#triggers-panel li.trigger", has_text="joplin from catalog").first
    row.wait_for()
    trigger = row.get_attribute("data-trigger-id")
    assert trigger and trigger.startswith("sub_")

    doc = httpx.get(f"{web_url}/triggers/{trigger}", timeout=10).json()
    assert doc["collection"] == "joplin" and doc["cron"] == "0 */1 * * *"
    assert doc["search"]["window"] == "P3D"
    ring = doc["search"]["intersects"]["coordinates"][0]
    (west, south), (east, north) = ring[0], ring[2]
    assert west < -94.55 < east and south < 37.07 < north  # the map extent

    row.get_by_role("button", name="Pause").click()
    page.wait_for_selector(f"li.trigger[data-trigger-id='{trigger}'][data-paused='true']")
    paused = page.locator(f"li.trigger[data-trigger-id='{trigger}']")
    paused.locator("summary", has_text="History").click()
    paused.get_by_text("Not fired yet.").wait_for()
    paused.get_by_role("button", name="Delete").click()
    page.wait_for_selector(f"li.trigger[data-trigger-id='{trigger}']", state="detached")
    assert httpx.get(f"{web_url}/triggers/{trigger}", timeout=10).status_code == 404

    # a signed webhook: the secret shown once, the webhook listed, then removed
    page.fill("#trigger-webhook-url", "http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Add webhook").click()
    page.wait_for_selector("#trigger-webhook-secret code")
    assert len(page.inner_text("#trigger-webhook-secret code")) >= 32
    hook = page.locator("li.webhook", has_text="http://127.0.0.1:9/hook").first
    hook.wait_for()
    hook.get_by_role("button", name="Remove").click()
    hook.wait_for(state="detached")
    assert page.console_log.unexpected() == []
