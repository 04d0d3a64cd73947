"""Run and product records (``stacworks.ingest_runs`` / ``ingest_products``): bound SQL only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ingest.errors import RunNotFound
from ingest.sources.base import Product

Status = Literal["queued", "running", "retrying", "done", "failed", "skipped"]
PENDING: tuple[Status, ...] = ("queued", "running", "retrying")
FINAL: tuple[Status, ...] = ("done", "failed", "skipped")


def create_run(dsn: str, source: str, query: dict[str, Any]) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO stacworks.ingest_runs (source, query) VALUES (%s, %s) RETURNING id",
            (source, Jsonb(query)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def finish_search(dsn: str, run_id: int, seconds: float, error: str | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE stacworks.ingest_runs SET search_seconds = %s, error = %s, finished_at = "
            "CASE WHEN %s::text IS NOT NULL THEN now() END WHERE id = %s",
            (seconds, error, error, run_id),
        )


def add_product(
    dsn: str, run_id: int, product: Product, status: Status, error: str | None = None
) -> int:
    """Record one product of the run; a product listed twice by a source is recorded once."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO stacworks.ingest_products (run_id, collection, item_id, kind, product, "
            "status, error, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "CASE WHEN %s IN ('skipped', 'failed') THEN now() END) "
            "ON CONFLICT (run_id, collection, item_id) DO UPDATE SET kind = EXCLUDED.kind "
            "RETURNING id",
            (
                run_id,
                product.collection,
                product.item_id,
                product.kind,
                Jsonb(product.to_json()),
                status,
                error,
                status,
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def previously_done(dsn: str, collection: str, item_id: str) -> bool:
    """Whether some run finished this product (the catalog and store are checked separately)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT 1 FROM stacworks.ingest_products WHERE collection = %s AND item_id = %s "
            "AND status = 'done' LIMIT 1",
            (collection, item_id),
        ).fetchone()
    return row is not None


def load_product(dsn: str, product_id: int) -> tuple[Product, dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT * FROM stacworks.ingest_products WHERE id = %s", (product_id,)
        ).fetchone()
    if row is None:
        raise RunNotFound(f"ingest product {product_id} does not exist")
    return Product.from_json(row["product"]), row


def update_product(dsn: str, product_id: int, **fields: Any) -> None:
    """Set columns of a product row; names come from code only (never from a request)."""
    allowed = {
        "status",
        "stage",
        "attempts",
        "assets_total",
        "assets_done",
        "error",
        "warnings",
        "timings",
        "started_at",
        "finished_at",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not product columns: {sorted(unknown)}")
    sets = []
    values: list[Any] = []
    for name, value in fields.items():
        if value == "now()":
            sets.append(f"{name} = now()")
            continue
        sets.append(f"{name} = %s")
        values.append(Jsonb(value) if name in ("warnings", "timings") else value)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"UPDATE stacworks.ingest_products SET {', '.join(sets)} WHERE id = %s",
            (*values, product_id),
        )
        # The run ends when its last product does.
        conn.execute(
            "UPDATE stacworks.ingest_runs r SET finished_at = now() WHERE r.id = "
            "(SELECT run_id FROM stacworks.ingest_products WHERE id = %s) AND NOT EXISTS "
            "(SELECT 1 FROM stacworks.ingest_products p WHERE p.run_id = r.id "
            "AND p.status IN ('queued', 'running', 'retrying'))",
            (product_id,),
        )


def run_status(dsn: str, run_id: int) -> dict[str, Any]:
    """The run as the API and CLI show it: query, counts, timings, and every product."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        run = conn.execute(
            "SELECT * FROM stacworks.ingest_runs WHERE id = %s", (run_id,)
        ).fetchone()
        if run is None:
            raise RunNotFound(f"ingest run {run_id} does not exist")
        products = conn.execute(
            "SELECT id, collection, item_id, kind, status, stage, attempts, assets_total, "
            "assets_done, error, warnings, timings, queued_at, started_at, finished_at "
            "FROM stacworks.ingest_products WHERE run_id = %s ORDER BY id",
            (run_id,),
        ).fetchall()
    return _describe(run, products)


def list_runs(dsn: str, limit: int = 50) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        runs = conn.execute(
            "SELECT * FROM stacworks.ingest_runs ORDER BY id DESC LIMIT %s", (limit,)
        ).fetchall()
        out = []
        for run in runs:
            rows = conn.execute(
                "SELECT status FROM stacworks.ingest_products WHERE run_id = %s", (run["id"],)
            ).fetchall()
            out.append({k: v for k, v in _describe(run, rows).items() if k != "products"})
    return out


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def _describe(run: dict[str, Any], products: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: 0 for s in ("queued", "running", "retrying", "done", "failed", "skipped")}
    for p in products:
        counts[p["status"]] += 1
    pending = counts["queued"] + counts["running"] + counts["retrying"]
    if run["error"]:
        state = "failed"
    elif pending:
        state = "running" if counts["running"] or counts["done"] or counts["failed"] else "queued"
    elif counts["failed"]:
        state = "failed" if not counts["done"] and not counts["skipped"] else "partial"
    else:
        state = "done"
    finished = run["finished_at"]
    return {
        "id": run["id"],
        "source": run["source"],
        "query": run["query"],
        "status": state,
        "error": run["error"],
        "created_at": _iso(run["created_at"]),
        "finished_at": _iso(finished) if not pending else None,
        "search_seconds": run["search_seconds"],
        "seconds": (finished - run["created_at"]).total_seconds()
        if finished and not pending
        else None,
        "counts": {"found": len(products), **counts},
        "products": [
            {
                "id": p["id"],
                "collection": p["collection"],
                "item_id": p["item_id"],
                "kind": p["kind"],
                "status": p["status"],
                "stage": p["stage"],
                "attempts": p["attempts"],
                "assets_total": p["assets_total"],
                "assets_done": p["assets_done"],
                "error": p["error"],
                "warnings": p["warnings"],
                "timings": p["timings"],
                "queued_at": _iso(p["queued_at"]),
                "started_at": _iso(p["started_at"]),
                "finished_at": _iso(p["finished_at"]),
            }
            for p in products
            if "id" in p
        ],
    }


def mark_run_finished(dsn: str, run_id: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE stacworks.ingest_runs SET finished_at = now() WHERE id = %s", (run_id,)
        )
