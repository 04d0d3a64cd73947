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

    .venv/bin/python bench/peers/search.py [--items 100000] [--queries 20]
"""

from __future__ import annotations

import argparse
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
        out.append(("paging", {**base, "bbox": [lon, lat, lon + 60, lat + 30], "datetime": dt}))
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
        r.raise_for_status()
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
        times: dict[str, dict[str, list[float]]] = {"ours": {}, "stock": {}}
        pages = 0
        with serve_ours(cat, args.profile) as ours, \
                serve_stock(cat, "stac_fastapi.pgstac.app:create_app", "/_mgmt/ping",
                            factory=True) as stock, \
                httpx.Client(timeout=60) as http:
            sides = {"ours": f"{ours}/stac", "stock": stock}
            for kind, q in mix[:10]:  # warm both
                for base in sides.values():
                    run(http, base, kind, q)
            for i, (kind, q) in enumerate(mix):
                order = ["stock", "ours"] if i % 2 == 0 else ["ours", "stock"]
                got = {side: run(http, sides[side], kind, q) for side in order}
                o, s = got["ours"], got["stock"]
                assert [x[2] for x in o] == [x[2] for x in s], f"ours and stock differ: {kind}"
                pages += len(o)
                for side, rows in got.items():
                    for k, secs, _ in rows:
                        times[side].setdefault(k, []).append(secs)
    kinds = sorted(times["ours"])
    per_kind = {}
    for k in kinds:
        ot, st = times["ours"][k], times["stock"][k]
        per_kind[k] = {
            "ours_p50_s": round(statistics.median(ot), 5),
            "stock_p50_s": round(statistics.median(st), 5),
            "ratio_p50": round(statistics.median(ot) / statistics.median(st), 3),
            "ratio_p95": round(pct(ot, 95) / pct(st, 95), 3) if len(ot) > 1 else None,
            "n": len(ot),
        }
    all_o = [t for k in kinds for t in times["ours"][k]]
    all_s = [t for k in kinds for t in times["stock"][k]]
    result = {
        "name": "peers_search",
        "baseline": "stock stac-fastapi-pgstac (stac_fastapi.pgstac.app, uvicorn, same pgstac)",
        "baseline_s": round(statistics.median(all_s), 5),
        "ours_s": round(statistics.median(all_o), 5),
        "ratio": round(statistics.median(all_o) / statistics.median(all_s), 3),
        "ratio_p95": round(pct(all_o, 95) / pct(all_s, 95), 3),
        "worst_kind_ratio_p50": max(v["ratio_p50"] for v in per_kind.values()),
        "kinds": per_kind,
        "items": args.items,
        "requests_per_side": pages,
        "machine": machine(),
        "versions": {"stac-fastapi-pgstac": version("stac-fastapi-pgstac")},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
