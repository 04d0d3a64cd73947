"""The platform serves the web map at / without shadowing any service."""

from __future__ import annotations

import re
from pathlib import Path

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
