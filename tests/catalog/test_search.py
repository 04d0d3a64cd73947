"""Search the real sample catalog over HTTP, as a GIS user would with pystac-client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pystac_client import Client

from tests.conftest import SHARED_DATA

JOPLIN_BBOX = [-94.69, 37.03, -94.65, 37.06]


@pytest.fixture(scope="module")
def client(stac_url: str) -> Client:
    return Client.open(f"{stac_url}/")


def test_landing_page_links_point_under_stac(stac_url: str) -> None:
    body = httpx.get(f"{stac_url}/").json()
    hrefs = [link["href"] for link in body["links"]]
    assert all(h.startswith(f"{stac_url}/") for h in hrefs), hrefs
    assert "https://api.stacspec.org/v1.0.0/item-search#query" in body["conformsTo"]


def test_links_follow_forwarded_headers(stac_url: str) -> None:
    body = httpx.get(
        f"{stac_url}/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "eo.example.org"}
    ).json()
    assert {link["href"].split("/stac/")[0] for link in body["links"]} == {"https://eo.example.org"}


def test_bbox_and_datetime(client: Client) -> None:
    items = list(
        client.search(bbox=JOPLIN_BBOX, datetime="2000-02-01/2000-02-28", max_items=500).items()
    )
    assert items, "the joplin items should match"
    # Only collections whose items lie over Joplin in February 2000 can match.
    assert {i.collection_id for i in items} <= {"joplin", "pgstac-test-collection"}
    source = json.loads((SHARED_DATA / "stac/joplin/index.geojson").read_text())["features"]
    expected = {
        f["id"]
        for f in source
        if f["bbox"][0] <= JOPLIN_BBOX[2]
        and f["bbox"][2] >= JOPLIN_BBOX[0]
        and f["bbox"][1] <= JOPLIN_BBOX[3]
        and f["bbox"][3] >= JOPLIN_BBOX[1]
    }
    assert expected and {i.id for i in items if i.collection_id == "joplin"} == expected
    for item in items:
        minx, miny, maxx, maxy = item.bbox
        assert minx <= JOPLIN_BBOX[2] and maxx >= JOPLIN_BBOX[0]
        assert miny <= JOPLIN_BBOX[3] and maxy >= JOPLIN_BBOX[1]
        assert item.datetime and item.datetime.year == 2000 and item.datetime.month == 2


def test_cql2_on_cloud_cover_text_and_json(client: Client, stac_url: str) -> None:
    text = list(
        client.search(
            filter="eo:cloud_cover < 1",
            filter_lang="cql2-text",
            collections=["sentinel-2-l2a", "landsat-c2-l2"],
        ).items()
    )
    ids = {i.id for i in text}
    assert ids == {"S2A_13TDE_20231008_0_L2A", "LC08_L2SP_033032_20231008_02_T1"}
    assert all(i.properties["eo:cloud_cover"] < 1 for i in text)
    body = httpx.post(
        f"{stac_url}/search",
        json={
            "filter-lang": "cql2-json",
            "filter": {"op": ">", "args": [{"property": "eo:cloud_cover"}, 10]},
            "collections": ["sentinel-2-l2a"],
        },
    ).json()
    assert [f["id"] for f in body["features"]] == ["S2B_20EPT_20250731_0_L2A"]


def test_query_extension_operators(stac_url: str) -> None:
    def ids(query: dict) -> set[str]:
        r = httpx.post(
            f"{stac_url}/search",
            json={"query": query, "limit": 200, "collections": ["sentinel-2-l2a", "landsat-c2-l2"]},
        )
        assert r.status_code == 200, r.text
        return {f["id"] for f in r.json()["features"]}

    assert ids({"platform": {"startsWith": "sentinel"}}) == {
        "S2A_13TDE_20231008_0_L2A",
        "S2B_20EPT_20250731_0_L2A",
    }
    assert ids({"platform": {"endsWith": "2b"}}) == {"S2B_20EPT_20250731_0_L2A"}
    assert ids({"platform": {"contains": "tinel-2"}}) == {
        "S2A_13TDE_20231008_0_L2A",
        "S2B_20EPT_20250731_0_L2A",
    }
    assert ids({"platform": {"in": ["landsat-8", "sentinel-2a"]}}) == {
        "S2A_13TDE_20231008_0_L2A",
        "LC08_L2SP_033032_20231008_02_T1",
    }
    assert ids({"eo:cloud_cover": {"gte": 0.06, "lt": 30}}) == {
        "S2B_20EPT_20250731_0_L2A",
        "LC08_L2SP_033032_20231008_02_T1",
    }


def test_query_and_filter_combine(stac_url: str) -> None:
    r = httpx.post(
        f"{stac_url}/search",
        json={
            "query": {"platform": {"startsWith": "sentinel"}},
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 1]},
        },
    )
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == ["S2A_13TDE_20231008_0_L2A"]


def test_sort_ascending_and_descending(stac_url: str) -> None:
    for direction, reverse in (("asc", False), ("desc", True)):
        r = httpx.post(
            f"{stac_url}/search",
            json={
                "collections": ["sentinel-2-l2a", "landsat-c2-l2"],
                "sortby": [{"field": "properties.eo:cloud_cover", "direction": direction}],
            },
        )
        values = [f["properties"]["eo:cloud_cover"] for f in r.json()["features"]]
        assert len(values) == 3 and values == sorted(values, reverse=reverse)
    r = httpx.get(
        f"{stac_url}/search", params={"collections": "joplin", "sortby": "-id", "limit": 5}
    )
    got = [f["id"] for f in r.json()["features"]]
    assert got == sorted(got, reverse=True)


def test_fields_get_and_post(stac_url: str) -> None:
    r = httpx.get(
        f"{stac_url}/search",
        params={"fields": "id,-geometry,-assets", "limit": 2, "collections": "joplin"},
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    for f in r.json()["features"]:
        assert "id" in f and "geometry" not in f and "assets" not in f
    r = httpx.post(
        f"{stac_url}/search",
        json={"fields": {"include": ["properties.datetime"], "exclude": ["links"]}, "limit": 2},
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    f = r.json()["features"][0]
    assert set(f["properties"]) == {"datetime"} and "links" not in f


def test_paging_through_every_page(client: Client) -> None:
    pages = list(client.search(collections=["pgstac-test-collection"], limit=7).pages())
    ids = [i.id for page in pages for i in page.items]
    assert len(pages) == 15  # 100 items, 7 a page
    assert len(ids) == 100 == len(set(ids))


def test_collection_search_and_free_text(stac_url: str) -> None:
    r = httpx.get(f"{stac_url}/collections", params={"q": "landsat"})
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["collections"]] == ["landsat-c2-l2"]
    r = httpx.get(f"{stac_url}/collections", params={"bbox": "-95,37,-94,38"})
    assert {"joplin"} <= {c["id"] for c in r.json()["collections"]}
    # Item free text matches titles/descriptions/keywords: give one item a distinctive title.
    item = json.loads((SHARED_DATA / "stac/joplin/index.geojson").read_text())["features"][1]
    item = {**item, "id": "free-text-probe", "links": []}
    item["properties"] = {
        **item["properties"],
        "title": "Tornado aftermath mosaic",
        "description": "NOAA imagery after the Joplin tornado",
    }
    assert httpx.post(f"{stac_url}/collections/joplin/items", json=item).status_code == 201
    try:
        r = httpx.get(f"{stac_url}/search", params={"q": "aftermath", "limit": 50})
        assert r.status_code == 200, r.text
        assert [f["id"] for f in r.json()["features"]] == ["free-text-probe"]
    finally:
        httpx.delete(f"{stac_url}/collections/joplin/items/free-text-probe")
    r = httpx.get(f"{stac_url}/collections", params={"filter": "title LIKE '%Landsat%'"})
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["collections"]] == ["landsat-c2-l2"]


@pytest.mark.parametrize(
    ("properties", "q"),
    [
        ({"title": "Tornado aftermath mosaic"}, "aftermath"),
        ({"description": "NOAA imagery of the aftermath"}, "aftermath"),
        ({"keywords": ["aftermath", "noaa"]}, "aftermath"),
        ({"title": "Tornado aftermath mosaic"}, "aftermaths,unrelatedword"),  # stemmed, OR
        ({"title": "Tornado aftermath mosaic"}, '"aftermath mosaic"'),  # phrase
    ],
    ids=["title-only", "description-only", "keywords-only", "stemmed-or", "phrase"],
)
def test_free_text_matches_items_missing_a_field(
    stac_url: str, properties: dict, q: str
) -> None:
    """pgstac 0.10 concatenates ``to_tsvector(description)`` without ``coalesce``: an item
    without a description never matched ``q``, even on its title. Each of title, description
    and keywords must match on its own."""
    item = json.loads((SHARED_DATA / "stac/joplin/index.geojson").read_text())["features"][2]
    kept = {k: v for k, v in item["properties"].items()
            if k not in ("title", "description", "keywords")}
    item = {**item, "id": "free-text-partial", "links": [], "properties": {**kept, **properties}}
    assert httpx.post(f"{stac_url}/collections/joplin/items", json=item).status_code == 201
    try:
        for r in (
            httpx.get(f"{stac_url}/search", params={"q": q, "limit": 50}),
            httpx.post(f"{stac_url}/search", json={"q": [q], "collections": ["joplin"]}),
        ):
            assert r.status_code == 200, r.text
            assert [f["id"] for f in r.json()["features"]] == ["free-text-partial"]
        # Free text combines with a filter (AND); a negated absent word matches the item too.
        r = httpx.post(f"{stac_url}/search", json={
            "q": [q], "filter": {"op": "=", "args": [{"property": "id"}, "nope"]}})
        assert r.status_code == 200 and r.json()["features"] == []
        r = httpx.get(f"{stac_url}/search", params={"q": "-zyzzyva", "ids": "free-text-partial"})
        assert [f["id"] for f in r.json()["features"]] == ["free-text-partial"]
    finally:
        httpx.delete(f"{stac_url}/collections/joplin/items/free-text-partial")


def test_number_matched_is_exact_whatever_conf_a_client_sends(stac_url: str) -> None:
    """pgstac reads its settings from the search's ``conf`` first: a client's thresholds (here
    "estimate everything") must not change what the server answers, nor its cost."""
    like = {"op": "like", "args": [{"property": "id"}, "%3"]}
    body = {"collections": ["pgstac-test-collection"], "limit": 1,
            "filter-lang": "cql2-json", "filter": like}
    # First (pgstac keeps a count it made for the same filter, so it must not see one yet).
    sent = {**body, "conf": {"context": "auto", "context_estimated_count": "0",
                             "context_estimated_cost": "0"}}
    estimated = httpx.post(f"{stac_url}/search", json=sent).json()["numberMatched"]
    off = httpx.post(f"{stac_url}/search", json={**body, "conf": {"context": "off"}}).json()
    everything = httpx.post(f"{stac_url}/search", json={**body, "limit": 100}).json()
    want = len(everything["features"])
    assert 0 < want < 100 and everything["numberMatched"] == want
    assert estimated == want and off["numberMatched"] == want


def test_a_term_never_queryable_is_refused_while_the_queryables_are_cached(
    stac_url: str,
) -> None:
    """Searches trust the queryables they read for a few seconds: only to accept terms."""
    base = {"collections": ["joplin"], "limit": 1, "filter-lang": "cql2-json"}
    known = {**base, "filter": {"op": "=", "args": [{"property": "id"}, "x"]}}
    assert httpx.post(f"{stac_url}/search", json=known).status_code == 200  # cache now warm
    never = "stacworks:never_a_queryable"
    r = httpx.post(f"{stac_url}/search",
                   json={**base, "filter": {"op": "=", "args": [{"property": never}, 1]}})
    assert r.status_code == 400 and never in r.text, r.text
    r = httpx.post(f"{stac_url}/search", json={**known, "sortby": [{"field": never,
                                                                     "direction": "asc"}]})
    assert r.status_code == 400 and never in r.text, r.text


def test_read_pool_starts_no_parallel_workers() -> None:
    from catalog.api import StacApiSettings, _read_pool, postgres_settings, search_conf
    from catalog.settings import CatalogSettings

    api = StacApiSettings()
    pool = _read_pool(postgres_settings(CatalogSettings(), api), api)
    assert pool.server_settings.model_dump()["max_parallel_workers_per_gather"] == "0"
    assert "statement_timeout" in pool.server_settings.model_dump()
    assert search_conf(api) == {"context": "auto", "context_estimated_count": "1000",
                                "context_estimated_cost": "1000.0"}


def test_load_leaves_planner_statistics(sample_loaded: list[Path], dsn: str) -> None:
    """Searches right after a load are planned from statistics (not one row a partition)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT m.collection, s.last_analyze IS NOT NULL, c.reltuples "
            "FROM pgstac.partition_sys_meta m "
            "JOIN pg_stat_user_tables s ON s.schemaname = 'pgstac' AND s.relname = m.partition "
            "JOIN pg_class c ON c.oid = s.relid "
            "WHERE m.collection IN ('joplin', 'pgstac-test-collection')"
        ).fetchall()
    assert {r[0] for r in rows} == {"joplin", "pgstac-test-collection"}
    assert all(analysed and tuples > 0 for _, analysed, tuples in rows), rows


def test_queryables_list_loaded_properties(stac_url: str) -> None:
    q = httpx.get(f"{stac_url}/collections/sentinel-2-l2a/queryables").json()
    assert "eo:cloud_cover" in q["properties"]


def test_pre_1_0_objects_are_migrated_on_load(stac_url: str) -> None:
    """pgstac-test's collection and items are STAC 1.0.0-beta.2; the loader migrates them."""
    r = httpx.get(f"{stac_url}/collections/pgstac-test-collection")
    assert r.status_code == 200
    assert r.json()["type"] == "Collection" and r.json()["stac_version"] == "1.1.0"
    item = httpx.get(
        f"{stac_url}/collections/pgstac-test-collection/items", params={"limit": 1}
    ).json()
    assert item["features"][0]["stac_version"] == "1.1.0"
    ids = [
        c["id"]
        for c in httpx.get(f"{stac_url}/collections", params={"limit": 100}).json()["collections"]
    ]
    assert "pgstac-test-collection" in ids
