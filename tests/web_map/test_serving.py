"""The platform serves the web map at / without shadowing any service."""

from __future__ import annotations

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


def test_missing_build_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(composed, "_WEB_DIST", Path("/nonexistent/web_map/dist"))
    page = TestClient(composed._web(CatalogSettings())).get("/")
    assert page.status_code == 503
    assert "run make setup to build the web map" in page.text
