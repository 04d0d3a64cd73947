"""Malformed requests answer a 4xx naming the field, never a 500, and write nothing.

Every case here was a 500 found by the schemathesis run (tests/access/test_schemathesis.py):
empty/non-JSON/null bodies, values PostgreSQL cannot store (NUL, lone surrogates, overflowing
numbers), malformed GET ``query``/``intersects``/``q``/``sortby``/``bbox``, ``query`` beside a
collection filter, PUT/PATCH/bulk writes that pgstac failed on or stored unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

ITEM_ID = "f2cca2a3-288b-4518-8a3e-a4492bb60b08"  # the first joplin item
BODY_ROUTES = [
    ("POST", "/search"),
    ("POST", "/collections"),
    ("PUT", "/collections/joplin"),
    ("PATCH", "/collections/joplin"),
    ("POST", "/collections/joplin/items"),
    ("PUT", f"/collections/joplin/items/{ITEM_ID}"),
    ("PATCH", f"/collections/joplin/items/{ITEM_ID}"),
    ("POST", "/collections/joplin/bulk_items"),
]
BAD_BODIES = [
    (b"", "body"),
    (b"{not json", "body"),
    (b"null", "body"),
    (b"[null,null]", "body"),
    (b"3", "body"),
    (b'"x"', "body"),
    (b'{"id": "a\\u0000b"}', "id"),  # jsonb cannot hold NUL
    (b'{"properties": {"title": "a\\u0000"}}', "properties.title"),
    (b'{"a\\u0000": 1}', "body"),  # in a member name
    (b'{"title": "\\ud800"}', "title"),  # a lone surrogate is not UTF-8
    (b'{"limit": NaN}', "body"),
    (b'{"bbox": [1e400, 0, 1, 1]}', "bbox.0"),  # overflows to infinity
]


@pytest.fixture()
def joplin_item(shared_data: Path) -> dict[str, Any]:
    doc = json.loads((shared_data / "stac/joplin/index.geojson").read_text())
    return dict(doc["features"][0])


def _state(stac_url: str) -> tuple[Any, ...]:
    """What a refused write must leave as it was: the collection, one item, the item count."""
    coll = httpx.get(f"{stac_url}/collections/joplin").json()
    item = httpx.get(f"{stac_url}/collections/joplin/items/{ITEM_ID}").json()
    n = httpx.get(f"{stac_url}/search", params={"collections": "joplin", "limit": 1000}).json()
    coll.pop("links", None)
    item.pop("links", None)
    return coll, item, len(n["features"])


def _refused(r: httpx.Response, field: str, status: int | set[int] = 400) -> None:
    assert r.status_code in ({status} if isinstance(status, int) else status), r.text[:300]
    body = r.json()
    assert set(body) == {"code", "description"}, body
    assert field.lower() in body["description"].lower(), body
    assert "Traceback" not in r.text


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_malformed_bodies_are_400_and_change_nothing(stac_url: str, method: str, path: str) -> None:
    before = _state(stac_url)
    for raw, field in BAD_BODIES:
        r = httpx.request(method, f"{stac_url}{path}", content=raw,
                          headers={"content-type": "application/json"})
        _refused(r, field)
    r = httpx.request(method, f"{stac_url}{path}", content=b'{"id": "x"}',
                      headers={"content-type": "text/plain"})
    _refused(r, "content-type", 415)
    assert _state(stac_url) == before


GET_CASES = [
    ("/search?query=notjson", "query"),
    ("/search?query=[1]", "query"),
    ("/collections/joplin/items?query=notjson", "query"),
    ("/collections?query=notjson", "query"),
    ("/collections?query=5", "query"),
    ('/collections?query={"license":{"nope":1}}', "query"),
    ("/search?intersects=notjson", "intersects"),
    ("/search?intersects=[1]", "intersects"),
    ("/search?q=%26%26%26", "q"),  # pgstac: syntax error in tsquery
    ("/search?q=!", "q"),
    ("/collections?q=!", "q"),
    ("/collections?sortby=-", "sortby"),
    ("/collections?bbox=1e400,0,1,1", "bbox"),
    ("/search?ids=a%00", "ids"),
    ("/search?token=next:nope", "token"),
]


@pytest.mark.parametrize(("path", "field"), GET_CASES, ids=[c[0] for c in GET_CASES])
def test_malformed_get_parameters_are_400(stac_url: str, path: str, field: str) -> None:
    _refused(httpx.get(f"{stac_url}{path}"), field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"q": ["&&&"]}, "q"),
        ({"q": ["!"]}, "q"),
        ({"token": "next:nope"}, "token"),
        ({"collections": ["a\u0000"]}, "collections.0"),
        ({"fields": {"include": ["\u0000"]}}, "fields.include.0"),
    ],
)
def test_malformed_searches_are_400(stac_url: str, body: dict, field: str) -> None:
    _refused(httpx.post(f"{stac_url}/search", json=body), field)


def test_collection_query_combines_with_filter(stac_url: str) -> None:
    """pgstac refuses ``query`` beside the type filter it adds (was a 500): we send CQL2."""
    params = {"query": json.dumps({"license": {"eq": "public-domain"}}), "filter": "id = 'joplin'"}
    r = httpx.get(f"{stac_url}/collections", params=params)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["collections"]] == ["joplin"]
    r = httpx.get(f"{stac_url}/collections", params={"query": '{"license": {"eq": "nope"}}'})
    assert r.status_code == 200 and r.json()["collections"] == []


def test_empty_query_is_no_query(stac_url: str) -> None:
    """``{"query": {}}`` reached pgstac as an "and" of nothing (was a 400 blaming ``filter``)."""
    one = {"op": "=", "args": [{"property": "id"}, ITEM_ID]}
    for body in ({"query": {}}, {"query": {}, "filter": one}):
        r = httpx.post(f"{stac_url}/search", json={**body, "collections": ["joplin"]})
        assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == [ITEM_ID]
    r = httpx.get(f"{stac_url}/collections", params={"query": "{}"})
    assert r.status_code == 200, r.text


def test_put_collection_replaces_the_one_its_path_names(stac_url: str) -> None:
    before = _state(stac_url)
    other = httpx.get(f"{stac_url}/collections/sentinel-2-l2a").json()
    r = httpx.put(f"{stac_url}/collections/joplin", json=other)  # upstream rewrote sentinel
    _refused(r, "id")
    r = httpx.put(f"{stac_url}/collections/nope", json={**other, "id": "nope"})
    _refused(r, "nope", 404)
    assert httpx.get(f"{stac_url}/collections/sentinel-2-l2a").json() == other
    assert _state(stac_url) == before


PATCH_JSON = "application/json-patch+json"
MERGE = "application/merge-patch+json"
GC = {"type": "GeometryCollection", "geometries": [
    {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}]}]}


@pytest.mark.parametrize(
    ("path", "patch", "ctype", "field", "status"),
    [
        (f"items/{ITEM_ID}", [{"op": "test", "path": "/id", "value": "x"}], PATCH_JSON,
         "patch.0", 409),
        (f"items/{ITEM_ID}", [{"op": "remove", "path": "/nope/x"}], PATCH_JSON, "patch.0", 409),
        (f"items/{ITEM_ID}", [{"op": "remove", "path": "/id"}], PATCH_JSON, "id", 400),
        (f"items/{ITEM_ID}", [{"op": "replace", "path": "", "value": 3}], PATCH_JSON, "body",
         400),
        (f"items/{ITEM_ID}", {"properties": {"datetime": "garbage"}}, MERGE,
         "properties.datetime", 400),
        (f"items/{ITEM_ID}", {"id": None}, MERGE, "id", 400),
        (f"items/{ITEM_ID}", {"geometry": {"type": "Foo"}}, MERGE, "geometry", 400),
        (f"items/{ITEM_ID}", {"geometry": GC}, MERGE, "geometry.geometries.0", 400),
        (f"items/{ITEM_ID}", {"id": "other"}, MERGE, "id", 400),
        ("", {"extent": None}, MERGE, "extent", 400),  # upstream stored a collection without one
        ("", {"id": "other"}, MERGE, "id", 400),
        ("", [{"op": "remove", "path": "/nope"}], PATCH_JSON, "patch.0", 409),
        ("items/nope", {"properties": {"title": "x"}}, MERGE, "nope", 404),
    ],
)
def test_bad_patches_are_refused_whole(
    stac_url: str, path: str, patch: Any, ctype: str, field: str, status: int
) -> None:
    before = _state(stac_url)
    r = httpx.patch(f"{stac_url}/collections/joplin/{path}".rstrip("/"),
                    content=json.dumps(patch), headers={"content-type": ctype})
    _refused(r, field, status)
    assert _state(stac_url) == before


def test_patches_apply_and_keep_the_item_valid(stac_url: str, joplin_item: dict) -> None:
    item = {**joplin_item, "id": "patch-probe", "links": []}
    url = f"{stac_url}/collections/joplin/items/patch-probe"
    assert httpx.post(f"{stac_url}/collections/joplin/items", json=item).status_code == 201
    try:
        ops = [{"op": "add", "path": "/properties/stacworks:patched", "value": "yes"}]
        r = httpx.patch(url, content=json.dumps(ops), headers={"content-type": PATCH_JSON})
        assert r.status_code == 204, r.text
        r = httpx.patch(url, json={"properties": {"gsd": 2.5}},
                        headers={"content-type": MERGE})
        assert r.status_code == 204, r.text
        got = httpx.get(url).json()["properties"]
        assert got["stacworks:patched"] == "yes" and got["gsd"] == 2.5
        # The patched property is a queryable at once, as for a PUT.
        r = httpx.get(f"{stac_url}/search", params={"filter": "stacworks:patched = 'yes'"})
        assert [f["id"] for f in r.json()["features"]] == ["patch-probe"]
    finally:
        httpx.delete(url)


def test_bulk_insert_is_all_or_nothing(stac_url: str, joplin_item: dict) -> None:
    before = _state(stac_url)
    good = {**joplin_item, "id": "bulk-good"}
    bulk = f"{stac_url}/collections/joplin/bulk_items"
    cases: list[tuple[str, dict[str, Any], str, int]] = [
        (bulk, {"items": {"bulk-good": good, "bulk-bad": {"id": "bulk-bad"}}},
         "items.bulk-bad", 400),
        (bulk, {"items": {"bulk-good": good, "bulk-gc": {**good, "id": "bulk-gc",
                                                          "geometry": GC}}},
         "items.bulk-gc.geometry", 400),
        (bulk, {"items": {"bulk-good": good, "bulk-null": None}}, "items.bulk-null", 400),
        (bulk, {"items": {"other-id": good}}, "items.other-id", 400),
        (bulk, {"items": {ITEM_ID: {**joplin_item, "links": []}}}, "items", 409),
        (f"{stac_url}/collections/nope/bulk_items", {"items": {"bulk-good": good}}, "nope", 404),
    ]
    for url, body, field, status in cases:
        _refused(httpx.post(url, json=body), field, status)
    assert _state(stac_url) == before
    assert httpx.get(f"{stac_url}/collections/joplin/items/bulk-good").status_code == 404
    r = httpx.post(bulk, json={"items": {"bulk-good": good}, "method": "upsert"})
    assert r.status_code == 200 and r.json()["success"] == 1, r.text
    assert httpx.delete(f"{stac_url}/collections/joplin/items/bulk-good").status_code == 204


def test_bulk_route_declares_its_path_parameter(stac_url: str) -> None:
    doc = httpx.get(f"{stac_url}/api").json()
    params = doc["paths"]["/collections/{collection_id}/bulk_items"]["post"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("collection_id", "path", True)
    ]
