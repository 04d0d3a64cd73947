"""What one anonymous request may carry, tried against a real `stacworks serve` under a memory
cap, as an attacker would: oversized bodies (declared and chunked), long query strings, deeply
nested or long CQL2 filters in every place a filter goes, and a search body whose unknown
members the ``next`` link used to echo back.

Before the limits, a few thousand parentheses in ``filter`` crashed the server process (a
segfault in the ``cql2`` parser), a ``NOT NOT ...`` chain was a 500, and a 100-200 MB search
body pushed the server past 20 GB. Each is now a clear 4xx naming the field and the setting,
and the server keeps answering with its memory bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hardening.capped import Capped, GiB, capped_serve

MiB = 1024 * 1024
BODY_LIMIT = 1 * MiB
BULK_LIMIT = 4 * MiB
#: Peak resident memory the server may add over its idle size through every case here.
RSS_BOUND = GiB // 2


@pytest.fixture(scope="module")
def limited(stacworks_env: dict[str, str], sample_loaded: Any, dsn: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Capped, str]]:
    """The session catalog served with access control on, small body limits, under a cap;
    and an admin key."""
    from catalog.access import AccessRecords

    env = {
        **stacworks_env,
        "STACWORKS_AUTH_ENABLED": "true",
        "STACWORKS_LIMIT_BODY_BYTES": str(BODY_LIMIT),
        "STACWORKS_LIMIT_BULK_BODY_BYTES": str(BULK_LIMIT),
    }
    key = AccessRecords(dsn, pooled=False).create_key("hardening limits", "admin")["token"]
    log = tmp_path_factory.mktemp("hardening-limits") / "serve.log"
    with capped_serve(env, log) as server:
        # Warm every service once, so the memory bound measures the cases, not imports.
        for path in ("/stac/search", "/tiles/", "/processes", "/admin/whoami", "/readyz"):
            httpx.get(server.base + path, timeout=60)
        yield server, key


@pytest.fixture(scope="module")
def baseline(limited: tuple[Capped, str]) -> int:
    return limited[0].rss()


def refused(r: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    doc = r.json()
    assert set(doc) == {"code", "description"}, doc
    for w in words:
        assert w in doc["description"], (w, doc)
    return doc  # type: ignore[no-any-return]


# -- bodies ---------------------------------------------------------------------------------------

#: One body-taking route per service: STAC, tiles, jobs, ingest, access API.
BODY_ROUTES = ["/stac/search", "/tiles/searches/register", "/processes/ndvi/execution",
               "/ingest/runs", "/admin/keys", "/workflows"]


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_declared_body_over_the_limit_is_413(limited: tuple[Capped, str], baseline: int,
                                             path: str) -> None:
    server, _ = limited
    body = b'{"pad": "' + b"x" * (BODY_LIMIT + 10) + b'"}'
    r = httpx.post(server.base + path, content=body, timeout=30,
                   headers={"content-type": "application/json"})
    refused(r, 413, "body", "STACWORKS_LIMIT_BODY_BYTES")
    assert server.alive()


@pytest.mark.parametrize("path", ["/stac/search", "/ingest/runs", "/admin/keys"])
def test_chunked_body_is_cut_at_the_limit(limited: tuple[Capped, str], baseline: int,
                                          path: str) -> None:
    """No Content-Length to trust: the stream itself is counted, and reading stops."""
    server, _ = limited

    def stream() -> Iterator[bytes]:
        yield b'{"collections": ["joplin"], "pad": "'
        for _ in range(64):  # 64 MiB offered, the server reads one
            yield b"x" * MiB

    start = time.monotonic()
    r = httpx.post(server.base + path, content=stream(), timeout=60,
                   headers={"content-type": "application/json"})
    refused(r, 413, "STACWORKS_LIMIT_BODY_BYTES")
    assert time.monotonic() - start < 20
    assert server.alive()


def test_bulk_items_keep_their_higher_limit(limited: tuple[Capped, str], baseline: int) -> None:
    server, key = limited
    auth = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    url = f"{server.base}/stac/collections/joplin/bulk_items"
    under = json.dumps({"items": {}, "method": "upsert", "pad": "x" * (2 * MiB)}).encode()
    r = httpx.post(url, content=under, headers=auth, timeout=60)
    assert r.status_code != 413 and r.status_code < 500, (r.status_code, r.text[:300])
    over = json.dumps({"items": {}, "pad": "x" * (BULK_LIMIT + 10)}).encode()
    r = httpx.post(url, content=over, headers=auth, timeout=60)
    refused(r, 413, "STACWORKS_LIMIT_BULK_BODY_BYTES")


def test_next_link_does_not_echo_unknown_members(limited: tuple[Capped, str]) -> None:
    """The POST ``next`` link repeats the search, not whatever else the body carried."""
    server, key = limited
    body = {"collections": ["joplin"], "limit": 1, "pad": "x" * 500_000, "other": {"a": [1]}}
    r = httpx.post(f"{server.base}/stac/search", json=body, timeout=30,
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) < 100_000
    nxt = [link for link in r.json()["links"] if link["rel"] == "next"]
    assert nxt, "joplin has more than one item"
    assert set(nxt[0]["body"]) == {"collections", "limit", "token"}


# -- query strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stac/search", "/tiles/collections/joplin/tilejson.json",
                                  "/jobs", "/admin/whoami"])
def test_long_query_string_is_414(limited: tuple[Capped, str], path: str) -> None:
    server, _ = limited
    r = httpx.get(f"{server.base}{path}?pad={'a' * 20_000}", timeout=30)
    refused(r, 414, "query string", "STACWORKS_LIMIT_QUERY_BYTES")


def test_refusals_are_readable_from_another_origin(limited: tuple[Capped, str]) -> None:
    """The guard answers before any service's CORS middleware: its refusals carry their own
    CORS headers when the request comes from a page of another origin (else the browser shows
    that page a bare network error), and none otherwise."""
    server, _ = limited
    page = {"Origin": "https://maps.example.org"}
    long = f"{server.base}/stac/search?pad={'a' * 20_000}"
    r = httpx.get(long, headers=page, timeout=30)
    refused(r, 414, "STACWORKS_LIMIT_QUERY_BYTES")
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Origin" in r.headers["vary"]
    body = b'{"pad": "' + b"x" * (BODY_LIMIT + 10) + b'"}'
    r = httpx.post(f"{server.base}/stac/search", content=body, timeout=30,
                   headers={**page, "content-type": "application/json"})
    refused(r, 413, "STACWORKS_LIMIT_BODY_BYTES")
    assert r.headers["access-control-allow-origin"] == "*"
    r = httpx.get(f"{server.base}/stac/search?filter={'(' * 100}a=1{')' * 100}", headers=page,
                  timeout=30)
    refused(r, 400, "filter")
    assert r.headers["access-control-allow-origin"] == "*"
    r = httpx.get(long, timeout=30)  # no Origin: no CORS headers, but caches keyed by Origin
    refused(r, 414)
    assert "access-control-allow-origin" not in r.headers
    assert "Origin" in r.headers["vary"]


def test_deep_json_parameter_is_400(limited: tuple[Capped, str]) -> None:
    server, _ = limited
    r = httpx.get(f"{server.base}/stac/search?intersects={'[' * 3000}{']' * 3000}", timeout=30)
    refused(r, 400, "intersects", "STACWORKS_LIMIT_JSON_DEPTH")


# -- CQL2 ---------------------------------------------------------------------------------------

DEEP_PARENS = "(" * 2400 + "id='x'" + ")" * 2400  # the cql2 parser segfaulted from ~2000
NOT_CHAIN = "NOT " * 5000 + "id='x'"  # RecursionError (a 500) / segfault
ARITHMETIC = "eo:cloud_cover = " + "+".join(["1"] * 12_000)  # segfault from ~10000


def deep_json(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"op": "=", "args": [{"property": "id"}, "x"]}
    for _ in range(levels):
        node = {"op": "not", "args": [node]}
    return node


@pytest.mark.parametrize(("filter_", "setting"), [
    (DEEP_PARENS, "CQL2_DEPTH"),
    ("NOT " * 40 + "id='x'", "CQL2_NOT_CHAIN"),
    ("eo:cloud_cover = " + "+".join(["1"] * 40), "CQL2_DEPTH"),
])
@pytest.mark.parametrize("path", ["/stac/search", "/stac/collections/joplin/items",
                                  "/stac/collections",
                                  "/tiles/collections/joplin/tiles/WebMercatorQuad/9/120/200.png",
                                  "/tiles/collections/joplin/tilejson.json"])
def test_get_filter_limits(limited: tuple[Capped, str], path: str, filter_: str,
                           setting: str) -> None:
    server, _ = limited
    r = httpx.get(server.base + path, params={"filter": filter_}, timeout=30)
    refused(r, 400, "filter", f"STACWORKS_LIMIT_{setting}")
    assert server.alive()


def test_get_filter_json_limits(limited: tuple[Capped, str]) -> None:
    server, _ = limited
    r = httpx.get(f"{server.base}/stac/search", timeout=30,
                  params={"filter-lang": "cql2-json", "filter": json.dumps(deep_json(40))})
    refused(r, 400, "filter", "STACWORKS_LIMIT_CQL2_DEPTH")


@pytest.mark.parametrize(("body", "words"), [
    ({"filter": DEEP_PARENS}, ("filter", "STACWORKS_LIMIT_CQL2_DEPTH")),
    ({"filter": NOT_CHAIN}, ("filter", "STACWORKS_LIMIT_CQL2_NOT_CHAIN")),
    ({"filter": ARITHMETIC}, ("filter", "STACWORKS_LIMIT_CQL2_")),
    ({"filter": "id = 'x' AND " * 1200 + "id = 'x'"}, ("filter", "STACWORKS_LIMIT_CQL2_OPERATORS")),
    ({"filter": "'" + "x" * 200_000 + "'"}, ("filter", "STACWORKS_LIMIT_CQL2_LENGTH")),
    ({"filter": deep_json(40), "filter-lang": "cql2-json"}, ("filter", "CQL2_DEPTH")),
])
@pytest.mark.parametrize("path", ["/stac/search", "/tiles/searches/register"])
def test_post_filter_limits(limited: tuple[Capped, str], baseline: int, path: str,
                            body: dict[str, Any], words: tuple[str, ...]) -> None:
    server, _ = limited
    r = httpx.post(server.base + path, json=body, timeout=30)
    refused(r, 400, *words)
    assert server.alive()


@pytest.mark.parametrize("path", ["/stac/search", "/tiles/searches/register"])
def test_body_deeper_than_any_parser_is_400(limited: tuple[Capped, str], path: str) -> None:
    """5000 nested NOTs as CQL2 JSON: more than json.loads itself can nest."""
    server, _ = limited
    levels = 5000
    body = ('{"filter-lang": "cql2-json", "filter": ' + '{"op": "not", "args": [' * levels
            + '{"op": "=", "args": [{"property": "id"}, "x"]}' + "]}" * levels + "}")
    r = httpx.post(server.base + path, content=body, timeout=30,
                   headers={"content-type": "application/json"})
    refused(r, 400, "nested")
    assert server.alive()


def _nested_parallels(depth: int) -> str:
    """As text: json.dumps itself cannot nest 300 levels of Parallel."""
    doc = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'
    for n in range(depth):
        doc = (f'{{"StartAt": "P{n}", "States": {{"P{n}": {{"Type": "Parallel", "End": true, '
               f'"Branches": [{doc}]}}}}}}')
    return doc


@pytest.mark.parametrize("path", ["/workflows/validate", "/workflows"])
def test_a_deeply_nested_workflow_is_400(limited: tuple[Capped, str], path: str) -> None:
    """Parallel in Parallel: 50 levels were a 500 (RecursionError in the ASL checks), 300 reset
    the connection. Every JSON body's nesting is bounded now, not only a search filter's;
    a workflow nested as deep as a real one still validates."""
    server, key = limited
    auth = {"Authorization": f"Bearer {key}"}
    for depth in (50, 300):
        r = httpx.post(server.base + path, content=_nested_parallels(depth), timeout=30,
                       headers={**auth, "content-type": "application/json"})
        refused(r, 400, "body", "STACWORKS_LIMIT_JSON_DEPTH")
    assert server.alive()
    r = httpx.post(server.base + "/workflows/validate", content=_nested_parallels(10),
                   headers={**auth, "content-type": "application/json"}, timeout=30)
    assert r.status_code == 200 and r.json()["valid"], r.text[:300]


def test_filters_within_the_limits_still_work(limited: tuple[Capped, str]) -> None:
    server, key = limited
    auth = {"Authorization": f"Bearer {key}"}
    at_limit = "(" * 31 + "id <> 'x'" + ")" * 31
    r = httpx.get(f"{server.base}/stac/search", params={"filter": at_limit, "limit": 1},
                  headers=auth, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["features"]
    r = httpx.post(f"{server.base}/stac/search", headers=auth, timeout=30,
                   json={"filter": deep_json(20), "filter-lang": "cql2-json", "limit": 1})
    assert r.status_code == 200, r.text[:300]


# -- generated: deep nesting and large bodies, anything else must still be a clear answer -----

_atoms = st.sampled_from(
    ["id = 'x'", "eo:cloud_cover < 10", "datetime > TIMESTAMP('2020-01-01T00:00:00Z')"])
_texts = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        inner.map(lambda s: f"({s})"),
        inner.map(lambda s: f"NOT {s}"),
        st.tuples(inner, inner, st.sampled_from(["AND", "OR"]))
        .map(lambda t: f"{t[0]} {t[2]} {t[1]}"),
        st.tuples(inner, st.integers(1, 60)).map(lambda t: "(" * t[1] + t[0] + ")" * t[1]),
        st.tuples(inner, st.integers(1, 60)).map(lambda t: "NOT " * t[1] + t[0]),
    ),
    max_leaves=30,
)
_jsons = st.recursive(
    st.just({"op": "=", "args": [{"property": "id"}, "x"]}),
    lambda inner: st.one_of(
        inner.map(lambda n: {"op": "not", "args": [n]}),
        st.lists(inner, min_size=2, max_size=4).map(lambda a: {"op": "and", "args": a}),
        st.tuples(inner, st.integers(1, 80)).map(lambda t: _wrap_not(t[0], t[1])),
    ),
    max_leaves=20,
)


def _wrap_not(node: dict[str, Any], n: int) -> dict[str, Any]:
    for _ in range(n):
        node = {"op": "not", "args": [node]}
    return node


#: A clear answer: results, or a 4xx naming what was wrong (titiler's own checks say 422).
CLEAR = {200, 400, 413, 414, 422}


@settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=_texts, doc=_jsons, pad=st.integers(0, 3 * MiB))
def test_generated_filters_and_bodies(limited: tuple[Capped, str], text: str,
                                      doc: dict[str, Any], pad: int) -> None:
    server, key = limited
    auth = {"Authorization": f"Bearer {key}"}
    answers = [
        httpx.get(f"{server.base}/stac/search", params={"filter": text}, headers=auth,
                  timeout=30),
        httpx.post(f"{server.base}/stac/search", headers=auth, timeout=30,
                   json={"filter": doc, "filter-lang": "cql2-json", "pad": "x" * pad}),
        httpx.post(f"{server.base}/tiles/searches/register", headers=auth, timeout=30,
                   json={"filter": text, "filter-lang": "cql2-text"}),
    ]
    for r in answers:
        assert r.status_code in CLEAR, (r.status_code, r.text[:300])
        if r.status_code != 200:
            assert set(r.json()) >= {"code", "description"} or "detail" in r.json()


def test_server_memory_stayed_bounded(limited: tuple[Capped, str], baseline: int) -> None:
    """Last: every case above together cost the server less than RSS_BOUND of memory."""
    server, _ = limited
    assert server.alive()
    grown = server.peak_rss() - baseline
    print(f"server peak RSS {server.peak_rss() / MiB:.0f} MiB, {grown / MiB:.0f} MiB over idle")
    assert grown < RSS_BOUND, f"peak RSS grew by {grown / MiB:.0f} MiB"
    assert "Segmentation fault" not in server.log_text()
