"""bench/peers/load: a bounded loopback load run, ours against the stock peers.

C concurrent clients (default 16) send requests for D seconds (default 45) drawn from one
seeded mix, first to one side, then to the other (the order alternates over ``--repeat``
rounds), never both at once:

- 40 % ``search``: POST a bbox+datetime search (bench/search's catalog, 10 per page);
- 35 % ``item_tile``: a PNG tile of the Sentinel-2 item (bench/tiles' grid);
- 15 % ``mosaic_tile``: a PNG tile of the 10-item registered search (``pixel_selection``
  default, pgstac's default skip/exit shortcuts);
- 10 % ``wmts``: the item's WMTSCapabilities.xml.

Ours is one `stacworks serve` process (access control on, public collections, anonymous). The
stock side is what an eoAPI deployment runs: stac-fastapi-pgstac and titiler-pgstac, each its
own uvicorn process (so two processes against our one, on the same cores), same database.

Printed per side and route: requests/s, p50/p95/p99 latency, errors (non-2xx or transport
errors). The last line is one JSON object; ``ratio`` is stock requests/s over ours (<= 1.0:
we serve at least as much), ``ratio_p95`` ours p95 over stock p95.

    .venv/bin/python bench/peers/load.py [--clients 16] [--seconds 45] [--items 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from common import (
    ROOT,
    machine,
    pct,
    private_catalog,
    serve_ours,
    serve_stock,
    stacworks,
)


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench_tiles = _load("bench_tiles", "bench/tiles/run.py")
bench_search = _load("bench_search", "bench/search/run.py")

SEARCH_COLL = "bench-load"
QS = f"assets=red&rescale={bench_tiles.RESCALE[0]},{bench_tiles.RESCALE[1]}"
MIX = (("search", 0.40), ("item_tile", 0.35), ("mosaic_tile", 0.15), ("wmts", 0.10))
MOSAIC = {"collections": ["bench-mosaic"]}

#: (route) -> (method, url, json body)
Request = tuple[str, str, Any]


def plan(n: int, seed: int = 5) -> list[tuple[str, int]]:
    """The request sequence: (route, index into that route's inputs)."""
    rnd = random.Random(seed)
    names, weights = zip(*MIX, strict=True)
    return [(rnd.choices(names, weights)[0], rnd.randrange(1 << 30)) for _ in range(n)]


def builders(search_base: str, tiles_base: str, sid: str) -> dict[str, Callable[[int], Request]]:
    queries = bench_search.queries(200, SEARCH_COLL)
    for q in queries:
        q.pop("filter", None)
        q.pop("filter-lang", None)
    grid = bench_tiles.tiles()
    item = f"{tiles_base}/collections/bench-item/items/bench-item-00"
    mosaic = f"{tiles_base}/searches/{sid}/tiles/WebMercatorQuad"

    def tile(base: str, i: int) -> str:
        z, x, y = grid[i % len(grid)]
        return f"{base}/{z}/{x}/{y}.png?{QS}"

    return {
        "search": lambda i: ("POST", f"{search_base}/search", queries[i % len(queries)]),
        "item_tile": lambda i: ("GET", tile(f"{item}/tiles/WebMercatorQuad", i), None),
        "mosaic_tile": lambda i: ("GET", tile(mosaic, i), None),
        "wmts": lambda i: ("GET", f"{item}/WMTSCapabilities.xml?{QS}", None),
    }


async def drive(build: dict[str, Callable[[int], Request]], clients: int, seconds: float,
                seq: list[tuple[str, int]]) -> dict[str, Any]:
    lat: dict[str, list[float]] = {name: [] for name, _ in MIX}
    errors: dict[str, int] = {name: 0 for name, _ in MIX}
    cursor = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        end = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal cursor
            while time.perf_counter() < end:
                route, i = seq[cursor % len(seq)]
                cursor += 1
                method, url, body = build[route](i)
                t = time.perf_counter()
                try:
                    r = await http.request(method, url, json=body)
                    await r.aread()
                    ok = r.status_code < 300
                except httpx.HTTPError:
                    ok = False
                if ok:
                    lat[route].append(time.perf_counter() - t)
                else:
                    errors[route] += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    every = [t for v in lat.values() for t in v]
    out: dict[str, Any] = {"requests_per_s": round(len(every) / elapsed, 1),
                           "errors": sum(errors.values()), **_lat(every)}
    out["routes"] = {r: {"n": len(v), "errors": errors[r], **_lat(v)} for r, v in lat.items()}
    return out


def _lat(v: list[float]) -> dict[str, float | None]:
    if not v:
        return {"p50_s": None, "p95_s": None, "p99_s": None}
    return {"p50_s": round(statistics.median(v), 4), "p95_s": round(pct(v, 95), 4),
            "p99_s": round(pct(v, 99), 4)}


def check(build: dict[str, Callable[[int], Request]]) -> None:
    """Every route answers 2xx on this side before the run (a broken route is no figure)."""
    with httpx.Client(timeout=60) as http:
        for route, fn in build.items():
            method, url, body = fn(0)
            r = http.request(method, url, json=body)
            if r.status_code >= 300:
                raise SystemExit(f"{route}: {r.status_code} {r.text[:300]} ({url})")


def register(base: str) -> str:
    r = httpx.post(f"{base}/searches/register", json=MOSAIC, timeout=60)
    r.raise_for_status()
    return str(r.json()["id"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of (ours, stock), alternating")
    args = ap.parse_args()
    seq = plan(100_000)
    with private_catalog("stacworks-bench-peers-load-") as cat:
        colls, items = bench_tiles.catalog(cat.home / "home" / "objects")
        coll = json.loads(bench_search.COLLECTION.read_text())
        cat.load([*colls, *items, {**coll, "id": SEARCH_COLL}])
        nd = cat.home / "items.ndjson"
        bench_search.write_ndjson(nd, bench_search.make_items(args.items, SEARCH_COLL))
        stacworks("load", str(nd), env=cat.env, timeout=3600)
        for cid in [c["id"] for c in colls] + [SEARCH_COLL]:
            stacworks("visibility", cid, "public", env=cat.env)
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "stock": []}
        with serve_ours(cat) as ours, \
                serve_stock(cat, "stac_fastapi.pgstac.app:create_app", "/_mgmt/ping",
                            factory=True) as stac, \
                serve_stock(cat, "titiler.pgstac.main:app", "/healthz") as tiles:
            sides = {
                "ours": builders(f"{ours}/stac", f"{ours}/tiles", register(f"{ours}/tiles")),
                "stock": builders(stac, tiles, register(tiles)),
            }
            for build in sides.values():
                check(build)
                asyncio.run(drive(build, args.clients, 3, seq))  # warm
            for r in range(args.repeat):
                for side in (["ours", "stock"] if r % 2 == 0 else ["stock", "ours"]):
                    res = asyncio.run(drive(sides[side], args.clients, args.seconds, seq))
                    runs[side].append(res)
                    print(f"{side}: {res['requests_per_s']} req/s, p50 {res['p50_s']}s, "
                          f"p95 {res['p95_s']}s, p99 {res['p99_s']}s, errors {res['errors']}",
                          file=sys.stderr)
    best = {s: max(v, key=lambda x: x["requests_per_s"]) for s, v in runs.items()}
    o, s = best["ours"], best["stock"]
    result = {
        "name": "peers_load",
        "baseline": "stock stac-fastapi-pgstac + titiler-pgstac (two uvicorn processes)",
        "baseline_s": s["p50_s"],
        "ours_s": o["p50_s"],
        "ratio": round(s["requests_per_s"] / o["requests_per_s"], 3),
        "ratio_p95": round(o["p95_s"] / s["p95_s"], 3),
        "ours": o,
        "stock": s,
        "all_runs_requests_per_s": {k: [x["requests_per_s"] for x in v] for k, v in runs.items()},
        "clients": args.clients,
        "seconds": args.seconds,
        "items": args.items,
        "mix": dict(MIX),
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
