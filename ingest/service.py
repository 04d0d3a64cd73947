"""Start an ingest run: search the source, record the run and its products, queue the work.

Shared by the CLI and the HTTP API so both behave the same: products already ingested are
recorded as skipped and not queued (a repeated request changes nothing and says so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ingest.errors import IngestError
from ingest.pipeline import Services, already_ingested
from ingest.queue import defer_products, make_app
from ingest.runs import add_product, create_run, finish_search, mark_run_finished
from ingest.sources import SearchQuery, get_source


@dataclass(frozen=True)
class RunStart:
    run_id: int
    found: int
    queued: int
    skipped: int

    def summary(self) -> str:
        if self.found == 0:
            return f"run {self.run_id}: the search found no product"
        if self.queued == 0:
            return f"run {self.run_id}: {self.skipped} already ingested, nothing to do"
        extra = f", {self.skipped} already ingested" if self.skipped else ""
        return f"run {self.run_id}: {self.found} found, {self.queued} queued{extra}"


def start_run(svc: Services, source_name: str, query: SearchQuery) -> RunStart:
    """Search, then record and queue. A failed search is recorded on the run and re-raised."""
    source = get_source(source_name, svc.settings)
    run_id = create_run(svc.dsn, source.name, query.as_dict())
    t = time.monotonic()
    try:
        products = list(source.search(query))
    except IngestError as e:
        finish_search(svc.dsn, run_id, time.monotonic() - t, error=str(e))
        raise
    finish_search(svc.dsn, run_id, time.monotonic() - t)
    to_queue: list[tuple[int, str]] = []
    skipped = 0
    seen: set[tuple[str, str]] = set()
    for product in products:
        if (product.collection, product.item_id) in seen:
            continue
        seen.add((product.collection, product.item_id))
        if already_ingested(svc, product):
            add_product(svc.dsn, run_id, product, "skipped", error=None)
            skipped += 1
            continue
        pid = add_product(svc.dsn, run_id, product, "queued")
        to_queue.append((pid, f"ingest:{product.collection}/{product.item_id}"))
    if to_queue:
        app = make_app(svc)
        with app.open():
            defer_products(app, svc, to_queue)
    else:
        mark_run_finished(svc.dsn, run_id)  # nothing to wait for: it ends with its search
    return RunStart(run_id, len(seen), len(to_queue), skipped)
