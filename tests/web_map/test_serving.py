"""The platform serves the web map at / without shadowing any service."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import stacworks.app as composed
from catalog.settings import CatalogSettings


def test_web_map_at_root_and_services_beside_it(web_url: str) -> None:
    index = httpx.get(f"{web_url}/", timeout=30)
    assert index.status_code == 200 and 'data-testid="map"' in index.text
    assert httpx.get(f"{web_url}/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(f"{web_url}/stac/", timeout=30).json()["type"] == "Catalog"
    for path in ("/tiles/", "/ingest/", "/processes"):
        # whatever each answers, it is not the web map's page
        assert 'data-testid="map"' not in httpx.get(f"{web_url}{path}", timeout=30).text, path
    assert httpx.get(f"{web_url}/no-such-file.js", timeout=30).status_code == 404


def test_web_map_files_are_not_shadowed_by_a_service(web_url: str) -> None:
    """Every script and stylesheet the page names is served (no service mounted over them)."""
    index = httpx.get(f"{web_url}/", timeout=30).text
    files = re.findall(r'(?:src|href)="\./([^"]+\.(?:js|css))"', index)
    assert files, index[:500]
    for name in files:
        r = httpx.get(f"{web_url}/{name}", timeout=30)
        assert r.status_code == 200, (name, r.status_code)


def test_missing_build_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(composed, "_WEB_DIST", Path("/nonexistent/web_map/dist"))
    page = TestClient(composed._web(CatalogSettings())).get("/")
    assert page.status_code == 503
    assert "run make setup to build the web map" in page.text


def test_a_page_of_another_origin_sees_the_refusal(browser: Any, web_url: str) -> None:
    """A cross-origin page (``localhost`` against ``127.0.0.1``) that sends a request over a
    limit reads the 414/413 and its message through fetch(), not a bare network error."""
    port = web_url.rsplit(":", 1)[1]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{port}/healthz")
        seen = page.evaluate(
            """async (base) => {
                const out = [];
                const calls = [
                  [base + "/stac/search?pad=" + "a".repeat(20000), {}],
                  [base + "/stac/search", {
                    method: "POST", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({pad: "x".repeat(17 * 1024 * 1024)})}],
                ];
                for (const [url, init] of calls) {
                  try {
                    const r = await fetch(url, init);
                    out.push([r.status, (await r.json()).description]);
                  } catch (e) {
                    out.push([0, String(e)]);
                  }
                }
                return out;
            }""",
            web_url,
        )
    finally:
        context.close()
    (status_q, text_q), (status_b, text_b) = seen
    assert status_q == 414 and "STACWORKS_LIMIT_QUERY_BYTES" in text_q, seen
    assert status_b == 413 and "STACWORKS_LIMIT_BODY_BYTES" in text_b, seen
