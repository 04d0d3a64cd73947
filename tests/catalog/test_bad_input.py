"""Bad input gets a 400 naming the field (404/409 where they apply), never a 500."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

POINT = json.dumps({"type": "Point", "coordinates": [0, 0]})

GET_CASES = [
    ("bbox=1,2,3", "bbox"),
    ("bbox=10,10,0,0", "bbox"),
    ("bbox=a,b,c,d", "bbox"),
    (f"bbox=-180,-90,180,90&intersects={POINT}", "intersects"),
    ("limit=0", "limit"),
    ("limit=-1", "limit"),
    ("limit=abc", "limit"),
    ("datetime=notadate", "datetime"),
    ("datetime=2020-01-01T00:00:00Z/2019-01-01T00:00:00Z", "datetime"),
    ("datetime=2020-13-01T00:00:00Z", "month"),
    ("datetime=../..", "interval"),
    ("filter=eo:cloud_cover <", "filter"),
    ("filter-lang=cql2-json&filter={bad", "filter"),
    ("filter=nosuchprop = 1", "nosuchprop"),
    ("sortby=nosuchprop", "nosuchprop"),
    ('query={"eo:cloud_cover": {"between": 1}}', "query"),
]

POST_CASES = [
    ({"bbox": [1, 2, 3]}, "bbox"),
    ({"bbox": [10, 10, 0, 0]}, "bbox"),
    ({"bbox": [0, 0, 1, 1], "intersects": {"type": "Point", "coordinates": [0, 0]}}, "intersects"),
    ({"limit": 0}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"datetime": "bad"}, "datetime"),
    ({"filter": {"op": "=", "args": [{"property": "x"}]}}, "filter"),
    ({"filter": {"op": "=", "args": [{"property": "nosuch"}, 1]}}, "nosuch"),
    ({"filter": "eo:cloud_cover <", "filter-lang": "cql2-text"}, "filter"),
    ({"fields": None}, "fields"),
    ({"query": {"eo:cloud_cover": {"foo": 1}}}, "query"),
    ({"query": {"platform": {"in": "not-a-list"}}}, "query"),
    ({"sortby": [{"field": "nosuch", "direction": "asc"}]}, "sortby"),
    ({"collections": 5}, "collections"),
]


@pytest.mark.parametrize(("qs", "field"), GET_CASES, ids=[c[0][:40] for c in GET_CASES])
def test_get_search_rejects(stac_url: str, qs: str, field: str) -> None:
    r = httpx.get(f"{stac_url}/search?{qs}")
    assert r.status_code == 400, r.text[:300]
    assert field.lower() in r.text.lower()
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("body", "field"), POST_CASES, ids=[json.dumps(c[0])[:40] for c in POST_CASES]
)
def test_post_search_rejects(stac_url: str, body: dict, field: str) -> None:
    r = httpx.post(f"{stac_url}/search", json=body)
    assert r.status_code == 400, r.text[:300]
    assert field.lower() in r.text.lower()


def test_limit_above_maximum_is_capped_not_an_error(stac_url: str) -> None:
    # OGC API Features /req/core/fc-limit-response-1: a larger limit SHALL NOT be an error.
    r = httpx.get(f"{stac_url}/search", params={"limit": 100_000_000, "collections": "joplin"})
    assert r.status_code == 200
    assert len(r.json()["features"]) == 30


def test_unknown_things_are_404(stac_url: str) -> None:
    for path in ("/collections/nope", "/collections/nope/items", "/collections/joplin/items/nope"):
        r = httpx.get(f"{stac_url}{path}")
        assert r.status_code == 404, path
        assert "nope" in r.json()["description"]


def _count(stac_url: str, collection: str) -> int:
    r = httpx.get(f"{stac_url}/search", params={"collections": collection, "limit": 1000})
    return len(r.json()["features"])


@pytest.fixture()
def joplin_item(shared_data: Path) -> dict:
    doc = json.loads((shared_data / "stac/joplin/index.geojson").read_text())
    return json.loads(json.dumps(doc["features"][0]))


def test_transactions_reject_without_changing_the_catalog(stac_url: str, joplin_item: dict) -> None:
    before = _count(stac_url, "joplin")
    original = httpx.get(f"{stac_url}/collections/joplin/items/{joplin_item['id']}").json()

    dup = httpx.post(f"{stac_url}/collections/joplin/items", json=joplin_item)
    assert dup.status_code == 409
    other = {**joplin_item, "id": "moved-item", "collection": "other"}
    r = httpx.post(f"{stac_url}/collections/joplin/items", json=other)
    assert r.status_code == 400 and "collection" in r.text.lower()
    r = httpx.post(f"{stac_url}/collections/joplin/items", json={**joplin_item, "id": "bad/id"})
    assert r.status_code == 400 and "id" in r.text.lower()
    r = httpx.post(
        f"{stac_url}/collections/nope/items", json={**joplin_item, "id": "x1", "collection": "nope"}
    )
    assert r.status_code == 404
    r = httpx.post(
        f"{stac_url}/collections/joplin/items",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    r = httpx.put(
        f"{stac_url}/collections/joplin/items/{joplin_item['id']}",
        json={**joplin_item, "id": "another"},
    )
    assert r.status_code == 400
    no_geometry = {k: v for k, v in joplin_item.items() if k != "geometry"}
    r = httpx.post(f"{stac_url}/collections/joplin/items", json={**no_geometry, "id": "nogeom"})
    assert r.status_code == 400

    assert _count(stac_url, "joplin") == before
    after = httpx.get(f"{stac_url}/collections/joplin/items/{joplin_item['id']}").json()
    assert after["properties"] == original["properties"]
    assert after["geometry"] == original["geometry"]


def test_item_without_links_is_accepted_and_searchable(stac_url: str, joplin_item: dict) -> None:
    item = {k: v for k, v in joplin_item.items() if k != "links"}
    item["id"] = "posted-without-links"
    item["properties"] = {**item["properties"], "stacworks:test_flag": "yes"}
    r = httpx.post(f"{stac_url}/collections/joplin/items", json=item)
    assert r.status_code == 201, r.text[:300]
    try:
        got = httpx.get(f"{stac_url}/collections/joplin/items/{item['id']}").json()
        assert any(link["rel"] == "self" for link in got["links"])
        # The new property became a queryable, so filtering on it works at once.
        r = httpx.get(f"{stac_url}/search", params={"filter": "stacworks:test_flag = 'yes'"})
        assert r.status_code == 200, r.text[:300]
        assert [f["id"] for f in r.json()["features"]] == [item["id"]]
    finally:
        assert httpx.delete(f"{stac_url}/collections/joplin/items/{item['id']}").status_code == 204
