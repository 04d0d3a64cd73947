"""Benchmark: what the catalog change log (a row trigger on ``pgstac.items`` writing
``stacworks.catalog_changes``, for catalog watches) costs a bulk item load.

Baseline: ``pgstac.create_items`` of N items with the change-log triggers disabled; ours: the
same with the statement-level triggers of migration 0009 (one set-based insert per statement);
also 0008's row trigger (one function call and insert per item) as ``row_trigger_ratio``.
Alternating runs, each into a fresh collection (its partition made before the timing), on a
private cluster started for the run; the minimum of each is reported (a shared machine), the
median ratio beside it. Also times one watch pass of the trigger loop over N changes.

Usage: ``python bench/triggers/change_log.py [--items N] [--repeat K]``. Progress goes to
stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402

from tests.harness import private_catalog  # noqa: E402


def _collection(cid: str) -> dict[str, Any]:
    return {"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": cid,
            "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}}}


def _items(cid: str, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        x, y = -10 + (i % 100) * 0.1, 40 + (i // 100) * 0.1
        out.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"it-{i}", "collection": cid,
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y],
                                                             [x + 0.1, y + 0.1], [x, y + 0.1],
                                                             [x, y]]]},
            "bbox": [x, y, x + 0.1, y + 0.1],
            "properties": {"datetime": f"2024-01-{1 + i % 28:02d}T10:00:00Z",
                           "eo:cloud_cover": i % 100},
            "assets": {"data": {"href": f"s3://b/{cid}/{i}.tif", "type": "image/tiff"}},
            "links": [],
        })
    return out


ROW_TRIGGER = """
DROP TRIGGER IF EXISTS stacworks_catalog_changes ON pgstac.items;
DROP TRIGGER IF EXISTS stacworks_catalog_updates ON pgstac.items;
CREATE OR REPLACE FUNCTION stacworks.record_catalog_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, stacworks AS $$
BEGIN
    INSERT INTO stacworks.catalog_changes (collection, item_id, op)
    VALUES (NEW.collection, NEW.id, lower(TG_OP));
    RETURN NULL;
END $$;
CREATE TRIGGER stacworks_catalog_changes AFTER INSERT OR UPDATE ON pgstac.items
FOR EACH ROW EXECUTE FUNCTION stacworks.record_catalog_change();
"""


def _triggers(conn: psycopg.Connection[Any], variant: str, installed: str) -> None:
    """Switch to ``variant``: none (both disabled), row (0008's), statement (installed)."""
    if variant == "row":
        conn.execute(ROW_TRIGGER)
        return
    conn.execute(installed)
    if variant == "none":
        for name in ("stacworks_catalog_changes", "stacworks_catalog_updates"):
            conn.execute(f"ALTER TABLE pgstac.items DISABLE TRIGGER {name}")


def _load(dsn: str, n: int, variant: str, installed: str) -> float:
    cid = f"bench-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps(_collection(cid)),))
        conn.execute("SELECT pgstac.create_items(%s::jsonb)", (json.dumps(_items(cid, 1)),))
        _triggers(conn, variant, installed)
        payload = json.dumps(_items(cid, n)[1:])
        started = time.perf_counter()
        conn.execute("SELECT pgstac.create_items(%s::jsonb)", (payload,))
        took = time.perf_counter() - started
        _triggers(conn, "statement", installed)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "STACWORKS_AUTH_ENABLED": "false"}
    with private_catalog("stacworks-bench-triggers-", env) as cat:
        from catalog.settings import CatalogSettings

        dsn = CatalogSettings(home=cat["STACWORKS_HOME"],
                              db_port=int(cat["STACWORKS_DB_PORT"])).dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            installed = _installed(conn)
        times: dict[str, list[float]] = {"none": [], "row": [], "statement": []}
        for variant in times:  # warm up: partitions, caches
            _load(dsn, 200, variant, installed)
        for k in range(args.repeat):
            for variant in times:
                times[variant].append(_load(dsn, args.items, variant, installed))
            print(f"run {k + 1}: " + ", ".join(f"{v} {t[-1]:.3f} s" for v, t in times.items()),
                  file=sys.stderr)

        from processing.db import Database
        from processing.triggers.engine import TriggerEngine
        from processing.triggers.settings import TriggerSettings
        from processing.triggers.webhooks import Webhooks

        db = Database(dsn, max_size=2)
        settings = TriggerSettings(max_changes_per_tick=args.items)
        cid = f"watched-{uuid.uuid4().hex[:6]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pgstac.create_collection(%s::jsonb)",
                         (json.dumps(_collection(cid)),))
            conn.execute("INSERT INTO stacworks.trigger_watches (id, collection, workflow_id) "
                         "VALUES ('wat_bench', %s, 'none')", (cid,))
            conn.execute("SELECT pgstac.create_items(%s::jsonb)",
                         (json.dumps(_items(cid, args.items)),))
        engine = TriggerEngine(db, settings, lambda w, i, o: {"id": uuid.uuid4().hex},
                               Webhooks(db, settings))
        started = time.perf_counter()
        started_jobs = engine.run_watches()
        watch_s = time.perf_counter() - started
        db.close()
    # min: the least disturbed run of each (the machine is shared); medians beside it
    b, o, r = (min(times[v]) for v in ("none", "statement", "row"))
    print(json.dumps({"name": "triggers.change_log", "baseline_s": round(b, 4),
                      "ours_s": round(o, 4), "ratio": round(o / b, 3),
                      "row_trigger_s": round(r, 4), "row_trigger_ratio": round(r / b, 3),
                      "median_ratio": round(statistics.median(times["statement"])
                                            / statistics.median(times["none"]), 3),
                      "items": args.items, "repeat": args.repeat,
                      "watch_pass_s": round(watch_s, 3), "watch_jobs": started_jobs,
                      "baseline": "pgstac.create_items with the change-log triggers disabled"}))


def _installed(conn: psycopg.Connection[Any]) -> str:
    """The migrations' triggers, as SQL that re-creates them (statement-level)."""
    return """
DROP TRIGGER IF EXISTS stacworks_catalog_changes ON pgstac.items;
DROP TRIGGER IF EXISTS stacworks_catalog_updates ON pgstac.items;
CREATE TRIGGER stacworks_catalog_changes AFTER INSERT ON pgstac.items
REFERENCING NEW TABLE AS changed_items FOR EACH STATEMENT
EXECUTE FUNCTION stacworks.record_catalog_changes();
CREATE TRIGGER stacworks_catalog_updates AFTER UPDATE ON pgstac.items
REFERENCING NEW TABLE AS changed_items FOR EACH STATEMENT
EXECUTE FUNCTION stacworks.record_catalog_changes();
"""


if __name__ == "__main__":
    main()
