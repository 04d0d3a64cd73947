"""Ingest workers: procrastinate's worker plus recovery of jobs whose worker died.

procrastinate notices a dead worker (no heartbeat) but leaves its jobs in ``doing``; here a
worker puts them back in the queue at start and periodically, so killing a worker halfway and
starting another finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
from datetime import timedelta
from typing import Any

import psycopg
from procrastinate import App
from procrastinate.jobs import Status

from ingest.pipeline import Services, discard_product, work_folder
from ingest.queue import make_app
from ingest.runs import FINAL, load_product, run_status, update_product
from objectstore import LocalStore

log = logging.getLogger(__name__)


async def retry_stalled(app: App, svc: Services) -> int:
    """Put back in the queue the running jobs of workers that stopped sending heartbeats,
    unless the product has used up ``STACWORKS_INGEST_MAX_ATTEMPTS`` (a product that kills its
    worker every time, e.g. out of memory, would otherwise be retried forever): then it is
    marked failed with the reason. procrastinate persists the count (``attempts``)."""
    await app.job_manager.prune_stalled_workers(svc.settings.stalled_after_s)
    stalled = await app.job_manager.get_stalled_jobs(
        queue=svc.settings.queue, seconds_since_heartbeat=svc.settings.stalled_after_s
    )
    n = 0
    limit = svc.settings.max_attempts
    for job in stalled:
        runs = job.attempts + 1  # the run that died included
        if runs >= limit:
            log.error("job %s: its worker died in each of %s runs; failing it", job.id, runs)
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            product_id = job.task_kwargs.get("product_id")
            if isinstance(product_id, int):
                await asyncio.to_thread(_fail_crashed, svc, product_id, runs)
            continue
        log.warning("retrying job %s of a dead worker (run %s of %s)", job.id, runs + 1, limit)
        await app.job_manager.retry_job(job)
        n += 1
    return n


def _fail_crashed(svc: Services, product_id: int, runs: int) -> None:
    product, row = load_product(svc.dsn, product_id)
    if row["status"] in FINAL:
        return
    discard_product(svc, product)
    shutil.rmtree(work_folder(svc, product), ignore_errors=True)
    update_product(
        svc.dsn, product_id, status="failed", stage=None, attempts=runs, finished_at="now()",
        error=f"the worker died while ingesting this product in each of {runs} runs (killed, "
        "out of memory or crashed); not retried again (STACWORKS_INGEST_MAX_ATTEMPTS="
        f"{svc.settings.max_attempts})",
    )


def purge_abandoned_work(svc: Services) -> int:
    """Remove the scratch folders of products no worker is on (a killed worker's leftovers,
    or products failed since); folders of products still queued or running are kept."""
    root = svc.settings.work_root(svc.catalog.home)
    if not root.is_dir():
        return 0
    with psycopg.connect(svc.dsn) as conn:
        live = {
            (c, i) for c, i in conn.execute(
                "SELECT collection, item_id FROM stacworks.ingest_products "
                "WHERE status IN ('queued', 'running', 'retrying')"
            )
        }
    removed = 0
    for coll in [p for p in root.iterdir() if p.is_dir()]:
        for item in [p for p in coll.iterdir() if p.is_dir()]:
            if (coll.name, item.name) not in live:
                shutil.rmtree(item, ignore_errors=True)
                removed += 1
        with contextlib.suppress(OSError):
            coll.rmdir()  # only when empty
    return removed


def purge_store_temp(svc: Services) -> None:
    """A killed upload can leave a temp file in the local store's .tmp; remove old ones."""
    if isinstance(svc.store, LocalStore):
        with contextlib.suppress(OSError):
            svc.store.purge_temp(timedelta(seconds=svc.settings.store_tmp_grace_s))


async def run_worker(
    svc: Services,
    *,
    concurrency: int = 1,
    until_run: int | None = None,
    install_signal_handlers: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Process ingest jobs until stopped (signal, ``stop`` set, or ``until_run`` ended).

    Stopping is graceful: products in progress finish first.
    """
    purge_store_temp(svc)
    with contextlib.suppress(OSError, psycopg.Error):
        purge_abandoned_work(svc)
    app = make_app(svc)
    s = svc.settings
    async with app.open_async():
        await retry_stalled(app, svc)
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[s.queue],
                concurrency=concurrency,
                wait=True,
                install_signal_handlers=install_signal_handlers,
                update_heartbeat_interval=s.heartbeat_s,
                stalled_worker_timeout=s.stalled_after_s,
                fetch_job_polling_interval=1.0,
                listen_notify=True,
            )
        )
        next_stalled_check = asyncio.get_running_loop().time() + s.stalled_after_s
        try:
            while not worker.done():
                await asyncio.wait({worker}, timeout=0.5)
                now = asyncio.get_running_loop().time()
                if now >= next_stalled_check:
                    await retry_stalled(app, svc)
                    next_stalled_check = now + s.stalled_after_s
                over = stop is not None and stop.is_set()
                if not over and until_run is not None:
                    over = await asyncio.to_thread(_run_over, svc, until_run)
                if over:
                    worker.cancel()  # graceful: procrastinate finishes the running jobs
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
        finally:
            if not worker.done():
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        exc: Any = worker.exception() if not worker.cancelled() else None
        if exc is not None:
            raise exc


def _run_over(svc: Services, run_id: int) -> bool:
    status = run_status(svc.dsn, run_id)
    c = status["counts"]
    return c["queued"] + c["running"] + c["retrying"] == 0
