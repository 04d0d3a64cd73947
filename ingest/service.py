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
from ingest.sources import Product, SearchQuery, get_source


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


@dataclass(frozen=True)
class RecordedSearch:
    """A run's search, recorded: its products queued (with their row ids) or skipped."""

    run_id: int
    found: int
    skipped: int
    queued: list[tuple[int, Product]]


def record_search(svc: Services, source_name: str, query: SearchQuery) -> RecordedSearch:
    """Search, record the run and its products (each (collection, item) once; already
    ingested ones as skipped). A failed search is recorded on the run and re-raised. Shared by
    the queue (:func:`start_run`) and the AWS back end (``ingest.aws``)."""
    source = get_source(source_name, svc.settings)
    run_id = create_run(svc.dsn, source.name, query.as_dict())
    t = time.monotonic()
    try:
        products = list(source.search(query))
    except IngestError as e:
        finish_search(svc.dsn, run_id, time.monotonic() - t, error=str(e))
        raise
    finish_search(svc.dsn, run_id, time.monotonic() - t)
    queued: list[tuple[int, Product]] = []
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
        queued.append((add_product(svc.dsn, run_id, product, "queued"), product))
    return RecordedSearch(run_id, len(seen), skipped, queued)


def start_run(svc: Services, source_name: str, query: SearchQuery) -> RunStart:
    """Search, then record and queue. A failed search is recorded on the run and re-raised."""
    found = record_search(svc, source_name, query)
    run_id = found.run_id
    to_queue = [(pid, f"ingest:{p.collection}/{p.item_id}") for pid, p in found.queued]
    if to_queue:
        app = make_app(svc)
        with app.open():
            defer_products(app, svc, to_queue)
    else:
        mark_run_finished(svc.dsn, run_id)  # nothing to wait for: it ends with its search
    return RunStart(run_id, found.found, len(to_queue), found.skipped)
