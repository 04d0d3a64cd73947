"""bench/peers/tiles: our ``/tiles`` against stock titiler-pgstac, same database, same tiles.

- ours: `stacworks serve` with access control on, the collections public, read anonymously;
- stock: ``titiler.pgstac.main:app`` (titiler-pgstac's own factory set-up, no access control)
  under uvicorn on loopback, on the same pgstac database, with the same GDAL options.

The data are bench/tiles' (a real Sentinel-2 B04 COG as one item, and ten copies as a 10-item
search mosaic). Figures: item tiles (``/collections/{c}/items/{i}/tiles/...``) and mosaic
tiles of a registered search (each side registers the same query through its own route;
``pixel_selection=mean``, pgstac's skip/exit shortcuts off so every item is read), requested
over keep-alive HTTP in alternation (stock, ours, stock, ours ...) after a warm-up of both.
Ratios are ours / stock: p50 and p95 of each figure, target <= 1.0. The last line is one JSON
object.

    .venv/bin/python bench/peers/tiles.py [--rounds 5] [--profile ours.txt]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import httpx
from common import ROOT, machine, pct, private_catalog, serve_ours, serve_stock, stacworks

_spec = importlib.util.spec_from_file_location("bench_tiles", ROOT / "bench/tiles/run.py")
assert _spec and _spec.loader
bench_tiles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_tiles)

RESCALE = bench_tiles.RESCALE
QS = f"assets=red&rescale={RESCALE[0]},{RESCALE[1]}"
MOSAIC_QS = f"{QS}&pixel_selection=mean&skipcovered=false&exitwhenfull=false"
SEARCH = {"collections": ["bench-mosaic"], "filter-lang": "cql2-json",
          "filter": {"op": "=", "args": [{"property": "collection"}, "bench-mosaic"]}}


def get(http: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = http.get(url)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    assert r.headers["content-type"] == "image/png", r.text[:200]
    return elapsed


def urls(http: httpx.Client, base: str) -> tuple[str, str]:
    sid = http.post(f"{base}/searches/register", json=SEARCH)
    sid.raise_for_status()
    item = f"{base}/collections/bench-item/items/bench-item-00/tiles/WebMercatorQuad"
    return item, f"{base}/searches/{sid.json()['id']}/tiles/WebMercatorQuad"


def ratios(ours: list[float], stock: list[float]) -> dict[str, float]:
    import statistics

    return {"ratio_p50": round(statistics.median(ours) / statistics.median(stock), 3),
            "ratio_p95": round(pct(ours, 95) / pct(stock, 95), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", type=Path, default=None,
                    help="py-spy collapsed stacks of our server (profiling runs only)")
    args = ap.parse_args()
    import statistics

    import titiler.pgstac

    with private_catalog("stacworks-bench-peers-tiles-") as cat:
        colls, items = bench_tiles.catalog(cat.home / "home" / "objects")
        cat.load(colls + items)
        for coll in colls:
            stacworks("visibility", coll["id"], "public", env=cat.env)
        grid = bench_tiles.tiles()
        with serve_ours(cat, args.profile) as ours_base, \
                serve_stock(cat, "titiler.pgstac.main:app", "/healthz") as stock_base, \
                httpx.Client(timeout=60) as http:
            o_item, o_mosaic = urls(http, f"{ours_base}/tiles")
            s_item, s_mosaic = urls(http, stock_base)
            for z, x, y in grid:  # warm: imports, GDAL caches, connection pools, item caches
                for u in (s_item, o_item):
                    get(http, f"{u}/{z}/{x}/{y}.png?{QS}")
                for u in (s_mosaic, o_mosaic):
                    get(http, f"{u}/{z}/{x}/{y}.png?{MOSAIC_QS}")
            t: dict[str, list[float]] = {k: [] for k in ("s_item", "o_item", "s_mos", "o_mos")}
            for r in range(args.rounds):
                for z, x, y in grid:
                    tile = f"{z}/{x}/{y}.png"
                    # alternate which side goes first, so neither always follows the other
                    order = [("s", s_item, s_mosaic), ("o", o_item, o_mosaic)]
                    for side, item_url, mosaic_url in order if r % 2 == 0 else order[::-1]:
                        t[f"{side}_item"].append(get(http, f"{item_url}/{tile}?{QS}"))
                        t[f"{side}_mos"].append(get(http, f"{mosaic_url}/{tile}?{MOSAIC_QS}"))
    item_r, mos_r = ratios(t["o_item"], t["s_item"]), ratios(t["o_mos"], t["s_mos"])
    med = {k: statistics.median(v) for k, v in t.items()}
    result = {
        "name": "peers_tiles",
        "baseline": "stock titiler-pgstac (titiler.pgstac.main:app, uvicorn, same pgstac)",
        "baseline_s": round(med["s_item"], 5),
        "ours_s": round(med["o_item"], 5),
        "ratio": item_r["ratio_p50"],
        "item_ratio_p95": item_r["ratio_p95"],
        "stock_item_p95_s": round(pct(t["s_item"], 95), 5),
        "ours_item_p95_s": round(pct(t["o_item"], 95), 5),
        "stock_mosaic10_p50_s": round(med["s_mos"], 5),
        "ours_mosaic10_p50_s": round(med["o_mos"], 5),
        "stock_mosaic10_p95_s": round(pct(t["s_mos"], 95), 5),
        "ours_mosaic10_p95_s": round(pct(t["o_mos"], 95), 5),
        "mosaic10_ratio_p50": mos_r["ratio_p50"],
        "mosaic10_ratio_p95": mos_r["ratio_p95"],
        "ours_mosaic10_vs_item_p50": round(med["o_mos"] / med["o_item"], 3),
        "ours_mosaic10_vs_item_p95": round(pct(t["o_mos"], 95) / pct(t["o_item"], 95), 3),
        "stock_mosaic10_vs_item_p50": round(med["s_mos"] / med["s_item"], 3),
        "tiles": len(grid),
        "requests_per_figure": len(t["o_item"]),
        "machine": machine(),
        "versions": {"titiler-pgstac": titiler.pgstac.__version__},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
