"""Ingest workers: procrastinate's worker plus recovery of jobs whose worker died.

procrastinate notices a dead worker (no heartbeat) but leaves its jobs in ``doing``; here a
worker puts them back in the queue at start and periodically, so killing a worker halfway and
starting another finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta
from typing import Any

from procrastinate import App

from ingest.pipeline import Services
from ingest.queue import make_app
from ingest.runs import run_status
from objectstore import LocalStore

log = logging.getLogger(__name__)


async def retry_stalled(app: App, svc: Services) -> int:
    """Put back in the queue the running jobs of workers that stopped sending heartbeats."""
    await app.job_manager.prune_stalled_workers(svc.settings.stalled_after_s)
    stalled = await app.job_manager.get_stalled_jobs(
        queue=svc.settings.queue, seconds_since_heartbeat=svc.settings.stalled_after_s
    )
    n = 0
    for job in stalled:
        log.warning("retrying job %s of a dead worker", job.id)
        await app.job_manager.retry_job(job)
        n += 1
    return n


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
