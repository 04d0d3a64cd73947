"""Subscriptions to other sources go through ingest: its sources search, its queue ingests.

New products become one ingest run per poll (``ingest_runs.query`` names the subscription), one
product row each, queued on procrastinate like ``stacworks ingest`` does; ingest workers do the
rest. A product already in the catalog is recorded as skipped and counts as ingested.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from processing.errors import InvalidInput
from processing.triggers.engine import Found
from processing.triggers.store import SavedSearch

__all__ = ["IngestBridge", "matches"]


def matches(item: dict[str, Any], search: SavedSearch) -> bool:
    """What the source could not filter itself: the exact AOI and the CQL2 filter."""
    if search.intersects is not None:
        from shapely.geometry import shape

        geometry = item.get("geometry")
        if not geometry or not shape(geometry).intersects(shape(search.intersects)):
            return False
    if search.filter:
        import cql2

        if not cql2.parse_text(search.filter).matches(item):
            return False
    return True


def _max_cloud(text: str | None) -> float | None:
    """``eo:cloud_cover < N`` (or <=) pushed down to the source as its cloud limit."""
    if not text:
        return None
    import cql2

    expr = cql2.parse_text(text).to_json()
    args = expr.get("args") or []
    if expr.get("op") in ("<", "<=") and len(args) == 2 and args[0] == {
        "property": "eo:cloud_cover"
    } and isinstance(args[1], int | float) and 0 <= args[1] <= 100:
        return float(args[1])
    return None


class IngestBridge:
    """The :class:`processing.triggers.engine.IngestQueue` on the real ingest."""

    def __init__(self, services: Any) -> None:
        self.svc = services  # ingest.pipeline.Services

    def search(self, source: str, collection: str, search: SavedSearch, start: datetime,
               end: datetime, limit: int) -> list[Found]:
        from ingest.errors import IngestError
        from ingest.sources import SearchQuery, get_source

        bbox = search.bbox
        if search.intersects is not None:
            from shapely.geometry import shape

            bbox = list(shape(search.intersects).bounds)
        try:
            src = get_source(source, self.svc.settings)
            query = SearchQuery(
                collection=collection, bbox=tuple(bbox) if bbox else None,  # type: ignore[arg-type]
                datetime=f"{start.isoformat()}/{end.isoformat()}",
                max_cloud=_max_cloud(search.filter), limit=limit,
            )
            found = []
            for product in src.search(query):
                if matches(product.item, search):
                    found.append(Found(f"{product.collection}/{product.item_id}",
                                       product.collection, product.item_id, product.to_json()))
                if len(found) >= limit:
                    break
        except IngestError as exc:
            raise InvalidInput("source", str(exc)) from None
        return found

    def queue(self, source: str, subscription_id: str,
              products: list[dict[str, Any]]) -> list[int | None]:
        from ingest.pipeline import already_ingested
        from ingest.queue import defer_products, make_app
        from ingest.runs import add_product, create_run, finish_search, mark_run_finished
        from ingest.sources import Product

        dsn = self.svc.dsn
        run_id = create_run(dsn, source, {"subscription": subscription_id})
        started = time.monotonic()
        ids: list[int | None] = []
        to_queue: list[tuple[int, str]] = []
        for doc in products:
            product = Product.from_json(doc)
            if already_ingested(self.svc, product):
                add_product(dsn, run_id, product, "skipped")
                ids.append(None)
                continue
            pid = add_product(dsn, run_id, product, "queued")
            ids.append(pid)
            to_queue.append((pid, f"ingest:{product.collection}/{product.item_id}"))
        finish_search(dsn, run_id, time.monotonic() - started)
        if to_queue:
            app = make_app(self.svc)
            with app.open():
                defer_products(app, self.svc, to_queue)
        else:
            mark_run_finished(dsn, run_id)
        return ids

    def statuses(self, ingest_product_ids: list[int]) -> dict[int, str]:
        import psycopg

        with psycopg.connect(self.svc.dsn) as conn:
            rows = conn.execute("SELECT id, status FROM stacworks.ingest_products "
                                "WHERE id = ANY(%s)", (ingest_product_ids,)).fetchall()
        return {int(r[0]): str(r[1]) for r in rows}
