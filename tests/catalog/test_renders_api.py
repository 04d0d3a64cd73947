"""Render presets written through the STAC API are stored in the render extension's shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

CID = "renders-api-test"


def _collection(renders: Any) -> dict[str, Any]:
    return {
        "type": "Collection", "stac_version": "1.0.0", "id": CID, "description": "presets",
        "license": "proprietary", "links": [],
        "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]},
                   "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}},
        "renders": renders,
    }


@pytest.fixture
def clean(stac_url: str) -> Any:
    httpx.delete(f"{stac_url}/collections/{CID}", timeout=30)
    yield
    httpx.delete(f"{stac_url}/collections/{CID}", timeout=30)


def test_presets_are_normalised_when_stored(stac_url: str, clean: None) -> None:
    legacy = {"tc": {"title": "True colour", "assets": "visual", "rescale": "0,3000",
                     "colormap": '{"1": [0, 0, 0, 255]}', "nodata": "NaN"}}
    r = httpx.post(f"{stac_url}/collections", json=_collection(legacy), timeout=30)
    assert r.status_code in (200, 201), r.text
    stored = httpx.get(f"{stac_url}/collections/{CID}", timeout=30).json()["renders"]
    assert stored == {"tc": {"title": "True colour", "assets": ["visual"],
                             "rescale": [[0.0, 3000.0]], "colormap": {"1": [0, 0, 0, 255]},
                             "nodata": "nan"}}
    r = httpx.put(f"{stac_url}/collections/{CID}", timeout=30,
                  json=_collection({"b": {"assets": ["x"], "rescale": [0, 1]}}))
    assert r.status_code == 200, r.text
    stored = httpx.get(f"{stac_url}/collections/{CID}", timeout=30).json()["renders"]
    assert stored == {"b": {"assets": ["x"], "rescale": [[0.0, 1.0]]}}


@pytest.mark.parametrize("renders", [{"bad": {"title": "no assets"}}, {"bad": "not a preset"},
                                     ["not", "an", "object"]])
def test_a_preset_that_cannot_draw_is_a_400(
    stac_url: str, clean: None, renders: Any
) -> None:
    r = httpx.post(f"{stac_url}/collections", json=_collection(renders), timeout=30)
    assert r.status_code == 400, r.text
    assert "renders" in r.text
    assert httpx.get(f"{stac_url}/collections/{CID}", timeout=30).status_code == 404
