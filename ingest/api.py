"""The ingest HTTP API: start a run, list runs, read one run's status (mounted at /ingest).

Runs are processed by `stacworks worker` processes (or one embedded in the app when
``STACWORKS_INGEST_SERVE_WORKER`` is on); the API only searches, records and queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from catalog.access import Access, AccessMiddleware, RoleGate, principal_of
from catalog.settings import CatalogSettings
from catalog.validation import storable_input
from ingest.errors import IngestError
from ingest.pipeline import Services
from ingest.runs import list_runs, run_status
from ingest.service import start_run
from ingest.settings import IngestSettings
from ingest.sources import SOURCE_NAMES, SearchQuery
from objectstore import DEFAULT_STATUS_CODES, ObjectStore, StoreError, store_from_settings

if TYPE_CHECKING:
    from ingest.aws import AwsIngest

log = logging.getLogger(__name__)


class RunRequest(BaseModel):
    """What to ingest: the same options as `stacworks ingest`."""

    source: str = Field(description=f"One of {', '.join(SOURCE_NAMES)}.")
    collection: str | None = Field(default=None, description="Collection to search / fill.")
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="west, south, east, north (EPSG:4326)."
    )
    datetime: str | None = Field(default=None, description="RFC 3339 instant or interval.")
    max_cloud: float | None = Field(default=None, ge=0, le=100, description="eo:cloud_cover max.")
    limit: int | None = Field(default=None, ge=1, le=10_000, description="At most this many.")
    urls: list[str] = Field(default_factory=list, description="For source 'urls'.")
    assets: list[str] = Field(default_factory=list, description="Only these asset keys.")
    ids: list[str] = Field(default_factory=list, description="Only these source item ids.")
    backend: Literal["local", "aws"] = Field(
        default="local",
        description="local: the ingest workers; aws: one Step Functions execution with a "
        "Fargate task per product (STACWORKS_PROCESSING_BACKEND=aws settings; docs/aws.md).",
    )

    def query(self) -> SearchQuery:
        return SearchQuery(
            collection=self.collection,
            bbox=self.bbox,
            datetime=self.datetime,
            max_cloud=self.max_cloud,
            limit=self.limit,
            urls=tuple(self.urls),
            assets=tuple(self.assets),
            ids=tuple(self.ids),
        )


def _error(code: str, description: str, status: int) -> JSONResponse:
    return JSONResponse({"code": code, "description": description}, status_code=status)


def create_ingest_app(
    catalog: CatalogSettings | None = None,
    settings: IngestSettings | None = None,
    store: ObjectStore | None = None,
    on_new_collection: Callable[[str, str], object] | None = None,
    access: Access | None = None,
) -> FastAPI:
    """The ingest service; each part can be passed in (tests, other deployments).

    Access: starting a run (it downloads and writes into any collection) needs an admin key;
    reading runs an editor key.
    """
    catalog = catalog or CatalogSettings()
    settings = settings or IngestSettings()
    svc = Services(catalog, settings, store or store_from_settings(), on_new_collection)
    on_aws = _AwsRuns(svc)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.serve_worker:
            from ingest.worker import run_worker

            task = asyncio.create_task(run_worker(svc, install_signal_handlers=False))
        try:
            yield
        finally:
            on_aws.shutdown()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    app = FastAPI(title="stacworks ingest", lifespan=lifespan,
                  dependencies=[Depends(storable_input)])
    app.state.services = svc
    app.add_middleware(
        AccessMiddleware,
        access=access or Access(catalog.dsn),
        # Runs name every source and target collection, and start downloads: admins' work.
        policy=RoleGate(rules=[("GET", r"^/$", None)], default="admin"),
    )

    @app.exception_handler(IngestError)
    async def on_ingest_error(request: Request, exc: IngestError) -> JSONResponse:
        return _error(type(exc).__name__, str(exc), exc.status_code)

    @app.exception_handler(StoreError)
    async def on_store_error(request: Request, exc: StoreError) -> JSONResponse:
        status = next(c for t, c in DEFAULT_STATUS_CODES.items() if isinstance(exc, t))
        log.warning("store error: %s", exc)
        return _error("StoreError", "the object store is not available", status)

    @app.post("/runs", status_code=201, summary="Start an ingest run")
    async def post_run(body: RunRequest, request: Request) -> JSONResponse:
        if body.backend == "aws":  # the run's Fargate job is followed by this server
            from processing.errors import ProcessingError

            principal = principal_of(request)
            try:
                runner = await run_in_threadpool(on_aws.runner)
                started_aws = await run_in_threadpool(
                    runner.start, body.source, body.query(),
                    None if principal.unrestricted else principal.id)
            except ProcessingError as exc:  # misconfigured, refused by AWS, too many products
                log.warning("ingest run on aws: %s", exc)
                code = exc.status_code if exc.status_code < 500 else 503
                return _error(type(exc).__name__, str(exc), code)
            status = await run_in_threadpool(run_status, svc.dsn, started_aws.run_id)
            status["message"] = started_aws.summary()
            status["job"] = started_aws.job_id
            return JSONResponse(status, status_code=201,
                                headers={"Location": f"runs/{started_aws.run_id}"})
        started = await run_in_threadpool(start_run, svc, body.source, body.query())
        status = await run_in_threadpool(run_status, svc.dsn, started.run_id)
        status["message"] = started.summary()
        return JSONResponse(status, status_code=201, headers={"Location": f"runs/{started.run_id}"})

    @app.get("/runs", summary="Recent ingest runs")
    async def get_runs(
        limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first.")] = 50,
    ) -> dict[str, Any]:
        return {"runs": await run_in_threadpool(list_runs, svc.dsn, limit)}

    @app.get("/runs/{run_id}", summary="One run: counts, timings, per-product status")
    async def get_run(run_id: int) -> dict[str, Any]:
        return await run_in_threadpool(run_status, svc.dsn, run_id)

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, Any]:
        return {
            "service": "ingest",
            "sources": list(SOURCE_NAMES),
            "links": [{"rel": "runs", "href": "runs"}],
        }

    return app


class _AwsRuns:
    """The aws back end of ingest runs, made on the first ``"backend": "aws"`` request: an
    execution manager of its own that starts and follows the runs' executions (and, when
    started, any the last server left unfinished)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._runner: AwsIngest | None = None
        self._lock = threading.Lock()

    def runner(self) -> AwsIngest:
        from ingest.aws import AwsIngest
        from processing.aws.backend import aws_manager
        from processing.settings import ProcessingSettings

        with self._lock:
            if self._runner is None:
                settings = ProcessingSettings()
                if settings.backend != "aws":
                    raise IngestErrorForApi("backend: aws needs STACWORKS_PROCESSING_BACKEND=aws "
                                            "and its settings (docs/aws.md)")
                manager = aws_manager(self.svc.catalog, settings, object_store=self.svc.store)
                self._runner = AwsIngest.install(manager, self.svc)
            return self._runner

    def shutdown(self) -> None:
        with self._lock:
            if self._runner is not None:
                self._runner.manager.shutdown()
                self._runner = None


class IngestErrorForApi(IngestError):
    status_code = 400
