"""bench/peers/search: our ``/stac/search`` against stock stac-fastapi-pgstac, same database.

- ours: `stacworks serve` with access control on, the collection public, searched anonymously
  (the access middleware and the readable-collections filter are timed);
- stock: ``stac_fastapi.pgstac.app:create_app`` (stac-fastapi-pgstac's own app, every extension
  it enables by default, no access control) under uvicorn on loopback, on the same pgstac.

The catalog is bench/search's: N items derived from a real Sentinel-2 item (default 100,000).
The query mix, each query sent to both sides in alternation (which side goes first alternates):

- ``bbox_datetime``: a 20 x 15 degree bbox and a one-year interval;
- ``cql2_filter``: a CQL2-JSON filter (cloud cover below 20 and a datetime range);
- ``sortby``: a bbox sorted by ``eo:cloud_cover`` ascending;
- ``fields``: a bbox with ``fields`` (id, datetime, cloud cover only);
- ``page1``..``page5``: a bbox+datetime search followed page by page through its ``next``
  links (each side follows its own links), each page request timed on its own.

Both sides must return the same item ids for every request (checked). Ratios are ours / stock,
p50 and p95 per kind and overall, target <= 1.0. The last line is one JSON object.

Our search answers ``numberMatched`` by default (``STACWORKS_STAC_CONTEXT=auto``: pgstac
counts when it expects fewer than ``STACWORKS_STAC_CONTEXT_ESTIMATED_COUNT`` matches, else
gives its estimate); stock stac-fastapi-pgstac does not (pgstac's ``context`` setting, off).
Counting is work the stock peer skips (with pgstac's own thresholds, ``cql2_filter`` counted
~4,000 matches reading 20,000 documents: 3.3x stock), so a third side runs in the same
alternation: ours with
``STACWORKS_STAC_CONTEXT=off``, the like-for-like figure (``like_for_like``), answering what
stock answers. ``--no-like-for-like`` leaves it out.

    .venv/bin/python bench/peers/search.py [--items 100000] [--queries 20]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import random
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, machine, pct, private_catalog, serve_ours, serve_stock, stacworks

_spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench/search/run.py")
assert _spec and _spec.loader
bench_search = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_search)

COLL = "bench-peers"
PAGES = 5


def query_mix(n: int, seed: int = 23) -> list[tuple[str, dict[str, Any]]]:
    rnd = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(n):
        lon, lat = rnd.uniform(-160, 140), rnd.uniform(-50, 40)
        bbox = [lon, lat, lon + 20, lat + 15]
        start = datetime(2019, 1, 1) + timedelta(days=rnd.uniform(0, 4 * 365))
        dt = (f"{start:%Y-%m-%d}T00:00:00Z/"
              f"{start + timedelta(days=365):%Y-%m-%d}T00:00:00Z")
        base = {"collections": [COLL], "limit": 10}
        out.append(("bbox_datetime", {**base, "bbox": bbox, "datetime": dt}))
        out.append(("cql2_filter", {**base, "filter-lang": "cql2-json", "filter": {
            "op": "and", "args": [
                {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
                {"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": [
                    dt.split("/")[0], dt.split("/")[1]]}]},
            ]}}))
        out.append(("sortby", {**base, "bbox": bbox,
                               "sortby": [{"field": "properties.eo:cloud_cover",
                                           "direction": "asc"}]}))
        out.append(("fields", {**base, "bbox": bbox, "fields": {
            "include": ["id", "properties.datetime", "properties.eo:cloud_cover"],
            "exclude": ["assets", "links"]}}))
        wide = [lon, lat, min(lon + 60, 180), lat + 30]  # longitudes stay within +-180
        out.append(("paging", {**base, "bbox": wide, "datetime": dt}))
    return out


def next_request(page: dict[str, Any]) -> tuple[str, str, Any] | None:
    for link in page.get("links", []):
        if link.get("rel") == "next":
            method = link.get("method", "GET").upper()
            return method, link["href"], link.get("body")
    return None


def run(http: httpx.Client, base: str, kind: str, q: dict[str, Any]
        ) -> list[tuple[str, float, list[str]]]:
    """One query (or a query and its next pages): (kind, seconds, ids) per request."""
    out = []
    req: tuple[str, str, Any] | None = ("POST", f"{base}/search", q)
    for n in range(1, (PAGES if kind == "paging" else 1) + 1):
        if req is None:
            break
        method, url, body = req
        t = time.perf_counter()
        r = http.request(method, url, json=body if method == "POST" else None)
        elapsed = time.perf_counter() - t
        if r.status_code != 200:
            raise SystemExit(f"{method} {url} {json.dumps(body)[:500]} -> {r.status_code} "
                             f"{r.text[:500]}")
        page = r.json()
        out.append((f"page{n}" if kind == "paging" else kind, elapsed,
                    [f["id"] for f in page["features"]]))
        req = next_request(page)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=20, help="queries of each kind")
    ap.add_argument("--profile", type=Path, default=None,
                    help="py-spy collapsed stacks of our server (profiling runs only)")
    ap.add_argument("--no-like-for-like", action="store_true",
                    help="skip our server with numberMatched off")
    args = ap.parse_args()
    from importlib.metadata import version

    with private_catalog("stacworks-bench-peers-search-") as cat:
        coll = json.loads(bench_search.COLLECTION.read_text())
        cat.load([{**coll, "id": COLL}], "collection.json")
        nd = cat.home / "items.ndjson"
        bench_search.write_ndjson(nd, bench_search.make_items(args.items, COLL))
        stacworks("load", str(nd), env=cat.env, timeout=3600)
        stacworks("visibility", COLL, "public", env=cat.env)
        mix = query_mix(args.queries)
        times: dict[str, dict[str, list[float]]] = {"ours": {}, "stock": {}, "ours_off": {}}
        pages = 0
        with contextlib.ExitStack() as stack:
            sides = {
                "ours": stack.enter_context(serve_ours(cat, args.profile)) + "/stac",
                "stock": stack.enter_context(serve_stock(
                    cat, "stac_fastapi.pgstac.app:create_app", "/_mgmt/ping", factory=True)),
            }
            if not args.no_like_for_like:
                sides["ours_off"] = stack.enter_context(serve_ours(
                    cat, env={"STACWORKS_STAC_CONTEXT": "off"})) + "/stac"
            http = stack.enter_context(httpx.Client(timeout=60))
            for kind, q in mix[:10]:  # warm every side
                for base in sides.values():
                    run(http, base, kind, q)
            for i, (kind, q) in enumerate(mix):
                order = list(sides)[i % len(sides):] + list(sides)[:i % len(sides)]
                got = {side: run(http, sides[side], kind, q) for side in order}
                s = got["stock"]
                for side, rows in got.items():
                    assert [x[2] for x in rows] == [x[2] for x in s], f"{side} differs: {kind}"
                pages += len(got["ours"])
                for side, rows in got.items():
                    for k, secs, _ in rows:
                        times[side].setdefault(k, []).append(secs)
    kinds = sorted(times["ours"])

    def figures(side: str) -> dict[str, dict[str, Any]]:
        per_kind = {}
        for k in kinds:
            ot, st = times[side][k], times["stock"][k]
            per_kind[k] = {
                "ours_p50_s": round(statistics.median(ot), 5),
                "stock_p50_s": round(statistics.median(st), 5),
                "ratio_p50": round(statistics.median(ot) / statistics.median(st), 3),
                "ratio_p95": round(pct(ot, 95) / pct(st, 95), 3) if len(ot) > 1 else None,
                "n": len(ot),
            }
        return per_kind

    per_kind = figures("ours")
    all_o = [t for k in kinds for t in times["ours"][k]]
    all_s = [t for k in kinds for t in times["stock"][k]]
    like: dict[str, Any] = {}
    if times["ours_off"]:
        all_f = [t for k in kinds for t in times["ours_off"][k]]
        off_kinds = figures("ours_off")
        like = {"like_for_like": {
            "ours_s": round(statistics.median(all_f), 5),
            "ratio": round(statistics.median(all_f) / statistics.median(all_s), 3),
            "ratio_p95": round(pct(all_f, 95) / pct(all_s, 95), 3),
            "worst_kind_ratio_p50": max(v["ratio_p50"] for v in off_kinds.values()),
            "kinds": off_kinds,
        }}
    result = {
        "name": "peers_search",
        "baseline": "stock stac-fastapi-pgstac (stac_fastapi.pgstac.app, uvicorn, same pgstac)",
        "baseline_s": round(statistics.median(all_s), 5),
        "ours_s": round(statistics.median(all_o), 5),
        "ratio": round(statistics.median(all_o) / statistics.median(all_s), 3),
        "ratio_p95": round(pct(all_o, 95) / pct(all_s, 95), 3),
        "worst_kind_ratio_p50": max(v["ratio_p50"] for v in per_kind.values()),
        "kinds": per_kind,
        **like,
        "items": args.items,
        "requests_per_side": pages,
        "machine": machine(),
        "versions": {"stac-fastapi-pgstac": version("stac-fastapi-pgstac")},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
