"""The job queue: procrastinate on the catalog's PostgreSQL, one job per product.

procrastinate brings what a hand-rolled queue would get wrong: row locking, LISTEN/NOTIFY
wake-ups, retries with backoff, per-key locks (one product never runs twice at once) and
worker heartbeats. Running workers is :mod:`ingest.worker`'s business. (Workflow executions
are not queued this way; :mod:`processing.executions` says why.)
"""

from __future__ import annotations

import logging

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy

from ingest.errors import TransientError
from ingest.pipeline import Services, process_product
from objectstore import StoreUnavailable

log = logging.getLogger(__name__)
TASK_NAME = "stacworks.ingest.product"


def make_app(svc: Services) -> App:
    """A procrastinate app on the catalog database with the product task registered."""
    s = svc.settings
    app = App(connector=PsycopgConnector(conninfo=svc.dsn))

    @app.task(
        name=TASK_NAME,
        queue=s.queue,
        pass_context=True,
        # procrastinate counts retries: max_attempts - 1 retries = max_attempts runs.
        retry=RetryStrategy(
            max_attempts=s.max_attempts - 1,
            exponential_wait=max(1, int(s.retry_wait_s)),
            retry_exceptions={TransientError, StoreUnavailable},
        ),
    )
    def ingest_product(context: JobContext, product_id: int) -> str:
        attempts = context.job.attempts if context.job else 0
        return process_product(
            svc, product_id, attempt=attempts + 1, final_attempt=attempts + 1 >= s.max_attempts
        )

    return app


def defer_products(app: App, svc: Services, products: list[tuple[int, str]]) -> None:
    """Queue one job per (product id, lock key); the lock keeps a product to one worker."""
    task = app.tasks[TASK_NAME]
    for product_id, lock in products:
        task.configure(lock=lock, queue=svc.settings.queue).defer(product_id=product_id)
