"""bench/search: /stac/search vs pgstac's search() SQL function, and `stacworks load` vs
`pypgstac load`, on a catalog of 100,000 items derived from a real Sentinel-2 item.

Both sides run in the same process on the same database in the same run (machines are noisy),
and the last line is one JSON object with the figures.

The API answers ``numberMatched`` by default (``STACWORKS_STAC_CONTEXT=auto``: pgstac counts
the matches when its estimate says counting is cheap), which the bare ``search()`` call does
not do. So a second server with ``STACWORKS_STAC_CONTEXT=off`` is timed in the same
alternation: ``ratio_no_count`` is the API's own overhead over the SQL it runs. The API's read pool
starts no parallel workers (``STACWORKS_STAC_DB_PARALLEL_WORKERS=0``), which alone makes most
of these searches faster than ``search()`` on a default connection, so the same SQL is also
timed on a connection with ``max_parallel_workers_per_gather = 0`` (``ratio_vs_no_parallel``).

    .venv/bin/python bench/search/run.py [--items 100000] [--queries 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.harness import free_port, serve, stacworks, world_traversable_tmpdir  # noqa: E402

TEMPLATE = (
    ROOT.parent
    / "shared/data/stac/earth-search-v1/items/sentinel-2-l2a/S2A_13TDE_20231008_0_L2A.json"
)
COLLECTION = ROOT.parent / "shared/data/stac/earth-search-v1/collections/sentinel-2-l2a.json"
BIN = Path(sys.executable).parent


def make_items(n: int, collection: str, seed: int = 7) -> list[dict]:
    """Shift the real item over land-ish latitudes and five years, with random cloud cover."""
    rnd = random.Random(seed)
    base = json.loads(TEMPLATE.read_text())
    keep = {k: base["assets"][k] for k in ("red", "green", "blue", "nir", "thumbnail")}
    t0 = datetime(2019, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        lon, lat = rnd.uniform(-170, 169), rnd.uniform(-60, 69)
        dt = t0 + timedelta(seconds=rnd.uniform(0, 5 * 365 * 86400))
        w, h = 1.0, 0.9
        ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
        item = {
            **base,
            "id": f"bench-{collection}-{i:06d}",
            "collection": collection,
            "bbox": [lon, lat, lon + w, lat + h],
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                **base["properties"],
                "datetime": dt.isoformat().replace("+00:00", "Z"),
                "eo:cloud_cover": round(rnd.uniform(0, 100), 3),
            },
            "assets": keep,
            "links": [],
        }
        out.append(item)
    return out


def write_ndjson(path: Path, items: list[dict]) -> None:
    with path.open("w") as f:
        for it in items:
            f.write(json.dumps(it, separators=(",", ":")) + "\n")


def queries(n: int, collection: str, seed: int = 11) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        lon, lat = rnd.uniform(-160, 140), rnd.uniform(-50, 40)
        start = datetime(2019, 1, 1) + timedelta(days=rnd.uniform(0, 4 * 365))
        out.append(
            {
                "collections": [collection],
                "bbox": [lon, lat, lon + 20, lat + 15],
                "datetime": f"{start:%Y-%m-%d}T00:00:00Z/"
                f"{start + timedelta(days=365):%Y-%m-%d}T00:00:00Z",
                "filter-lang": "cql2-json",
                "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
                "limit": 10,
            }
        )
    return out


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=40)
    args = ap.parse_args()

    home = world_traversable_tmpdir("stacworks-bench-")
    env = {
        **os.environ,
        "STACWORKS_HOME": str(home / "home"),
        "STACWORKS_DB_PORT": str(free_port()),
    }
    env.pop("STACWORKS_DATABASE_URL", None)
    try:
        stacworks("db", "start", env=env)
        stacworks("db", "migrate", env=env)
        from catalog.settings import CatalogSettings

        dsn = CatalogSettings(home=env["STACWORKS_HOME"], db_port=int(env["STACWORKS_DB_PORT"])).dsn
        coll = json.loads(COLLECTION.read_text())
        for cid in ("bench-pypgstac", "bench-ours"):
            c = {**coll, "id": cid}
            (home / f"{cid}.json").write_text(json.dumps(c))
            stacworks("load", str(home / f"{cid}.json"), env=env)

        files = {}
        for cid in ("bench-pypgstac", "bench-ours"):
            files[cid] = home / f"{cid}.ndjson"
            write_ndjson(files[cid], make_items(args.items, cid))

        t = time.perf_counter()
        subprocess.run(
            [
                str(BIN / "pypgstac"),
                "load",
                "items",
                str(files["bench-pypgstac"]),
                "--dsn",
                dsn,
                "--method",
                "insert",
            ],
            check=True,
            capture_output=True,
        )
        pypgstac_load_s = time.perf_counter() - t
        t = time.perf_counter()
        stacworks("load", str(files["bench-ours"]), env=env, timeout=3600)
        ours_load_s = time.perf_counter() - t

        # Served as in production: access control on, the collection public, searched
        # anonymously (the access middleware and the readable-collections filter are timed).
        stacworks("visibility", "bench-ours", "public", env=env)
        qs = queries(args.queries, "bench-ours")
        off_env = {**env, "STACWORKS_STAC_CONTEXT": "off"}
        with psycopg.connect(dsn) as conn, psycopg.connect(dsn, autocommit=True) as serial, \
                serve(env) as base, serve(off_env) as off, httpx.Client(timeout=60) as http:
            conn.execute("SET search_path TO pgstac, public")
            # The API's read pool starts no parallel workers (STACWORKS_STAC_DB_PARALLEL_WORKERS):
            # the same SQL on a connection set alike, so the API's own overhead is seen apart.
            serial.execute("SET search_path TO pgstac, public")
            serial.execute("SET max_parallel_workers_per_gather = 0")
            for q in qs[:5]:  # warm every path
                conn.execute("SELECT search(%s::jsonb)", (json.dumps(q),)).fetchone()
                http.post(f"{base}/stac/search", json=q).raise_for_status()
                http.post(f"{off}/stac/search", json=q).raise_for_status()
            sql_t, api_t, off_t, serial_t, hits = [], [], [], [], 0
            for q in qs:
                t = time.perf_counter()
                row = conn.execute("SELECT search(%s::jsonb)", (json.dumps(q),)).fetchone()
                sql_t.append(time.perf_counter() - t)
                want = [f["id"] for f in (row[0] if row else {}).get("features", [])]
                t = time.perf_counter()
                # conf: the same search under another hash (conn's uncommitted row would block)
                serial.execute("SELECT search(%s::jsonb)",
                               (json.dumps({**q, "conf": {"context": "off"}}),)).fetchone()
                serial_t.append(time.perf_counter() - t)
                for url, times in ((base, api_t), (off, off_t)):
                    t = time.perf_counter()
                    r = http.post(f"{url}/stac/search", json=q)
                    times.append(time.perf_counter() - t)
                    r.raise_for_status()
                    got = [f["id"] for f in r.json()["features"]]
                    assert got == want, "API and SQL disagree"
                hits += len(want)
        result = {
            "name": "search",
            "baseline_s": round(statistics.median(sql_t), 5),
            "ours_s": round(statistics.median(api_t), 5),
            "ratio": round(statistics.median(api_t) / statistics.median(sql_t), 3),
            "baseline_p95_s": round(pct(sql_t, 95), 5),
            "ours_p95_s": round(pct(api_t, 95), 5),
            "ours_no_count_s": round(statistics.median(off_t), 5),
            "ratio_no_count": round(statistics.median(off_t) / statistics.median(sql_t), 3),
            "ours_no_count_p95_s": round(pct(off_t, 95), 5),
            "baseline_no_parallel_s": round(statistics.median(serial_t), 5),
            "ratio_vs_no_parallel": round(
                statistics.median(api_t) / statistics.median(serial_t), 3),
            "ratio_no_count_vs_no_parallel": round(
                statistics.median(off_t) / statistics.median(serial_t), 3),
            "items": args.items,
            "queries": len(qs),
            "mean_hits": round(hits / len(qs), 1),
            "load_pypgstac_items_per_s": round(args.items / pypgstac_load_s),
            "load_ours_items_per_s": round(args.items / ours_load_s),
            "load_rate_vs_pypgstac": round(pypgstac_load_s / ours_load_s, 3),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
            f"python {platform.python_version()}",
        }
        print(json.dumps(result))
    finally:
        stacworks("db", "stop", env=env, check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)


if __name__ == "__main__":
    main()
