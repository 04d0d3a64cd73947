"""The jobs API: OGC API - Processes Part 1 conventions (``/processes``, ``/jobs``), plus the
registry of algorithms (``/algorithms``) and workflows (``/workflows``).

One FastAPI app owns all four root paths and routes on the full path; the composed server
sends it every request under them (see :class:`RootPaths`), so links and ids mean the same
whether the service runs alone or inside ``stacworks serve``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Annotated, Any, Protocol

import psycopg
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette._utils import get_route_path
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.access import Access, AccessMiddleware, Denied, RoleGate, principal_of, readable_of
from catalog.asset_links import AssetLinks, share_token
from catalog.settings import CatalogSettings
from catalog.validation import storable_input
from objectstore import ObjectStore, store_from_settings
from objectstore.settings import StoreSettings, load_settings
from processing.algorithms import AlgorithmRegistry, AlgorithmSpec, algorithm_from_document
from processing.asl import ValidationIssue, validate
from processing.db import Database
from processing.errors import (
    STATUS_CODES,
    InvalidInput,
    JobFailed,
    ProcessingError,
    ResultNotReady,
)
from processing.executions import ExecutionManager, Process
from processing.journal import FINISHED, ExecutionJournal
from processing.settings import ProcessingSettings
from processing.workflows import WorkflowSpec, WorkflowStore, workflow_from_document

__all__ = [
    "ROOT_PATHS",
    "AlgorithmsRouter",
    "DuplicateRequest",
    "EstimateRequest",
    "ExecuteRequest",
    "ExecutionBackend",
    "JobsRouter",
    "ProcessesFactory",
    "ProcessesRouter",
    "ResourceRouter",
    "RootPaths",
    "WorkflowsRouter",
    "create_processes_app",
    "jobs_policy",
]

#: The root paths this service answers on.
ROOT_PATHS = ("/processes", "/jobs", "/workflows", "/algorithms", "/triggers")
_FOLLOW_POLL_SECONDS = 0.3
#: Row ids are PostgreSQL bigints: a larger ``task``/``after`` is a 400 naming it, not a 500.
_MAX_ID = 2**63 - 1


class RootPaths(BaseRoute):
    """A root-router route sending every request under ``prefixes`` to one app, path unchanged.

    A ``Mount`` strips its path (the app would see ``/{id}`` under both ``/processes`` and
    ``/jobs``) and does not match the bare prefix (``/jobs`` without a slash, which a catch-all
    mount at ``/`` would then answer). This route matches ``/jobs`` and ``/jobs/...`` alike and
    leaves the full path for the app's own routes.
    """

    def __init__(self, prefixes: Sequence[str], app: ASGIApp) -> None:
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] in ("http", "websocket"):
            path = get_route_path(scope)
            for prefix in self.prefixes:
                if path == prefix or path.startswith(prefix + "/"):
                    return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _problem(status: int, type_uri: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": type_uri, "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def add_exception_handlers(app: FastAPI) -> None:
    """Our errors and request-validation errors as OGC exception documents, in one place."""

    @app.exception_handler(ProcessingError)
    async def _ours(request: Request, exc: ProcessingError) -> JSONResponse:
        status = STATUS_CODES.get(type(exc), exc.status_code)
        return _problem(status, exc.type_uri, exc.title, str(exc))

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> JSONResponse:
        return _problem(exc.status, "about:blank", "Forbidden", exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        return _problem(400, InvalidInput.type_uri, InvalidInput.title, f"{loc}: {err['msg']}")


class ExecutionBackend(Protocol):
    """What the jobs API needs from whatever runs its jobs.

    :class:`processing.executions.ExecutionManager` is the local back end (ASL interpreted in
    this process's threads, tasks as local processes). Another back end (AWS Step Functions +
    ECS, ``processing/aws/``) provides the same attributes and methods and is passed to
    :class:`ProcessesFactory` as ``manager``; the routes never build or reach behind it.
    """

    dsn: str
    executions: ExecutionJournal
    workflows: WorkflowStore
    algorithms: AlgorithmRegistry

    def start(self) -> None: ...
    def shutdown(self, timeout: float = 10.0) -> None: ...
    def process(self, process_id: str) -> Process: ...
    def processes(self) -> list[Process]: ...
    def resolve_items(self, inputs: Mapping[str, Any], stac_url: str | None,
                      readable: set[str] | None = None) -> list[Any]: ...
    def submit(self, process_id: str, inputs: Any, *, stac_url: str | None,
               principal: str | None = None,
               readable: set[str] | None = None) -> dict[str, Any]: ...
    def cancel(self, execution_id: str, wait: float = 15.0) -> dict[str, Any]: ...
    def estimate(self, process_id: str, item_count: int) -> dict[str, Any]: ...


#: Workflow versions are PostgreSQL integers: a larger one is a 422 naming it, not a 500.
WorkflowVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


def jobs_policy(manager: ExecutionBackend) -> RoleGate:
    """Who may do what in the jobs API; a job is visible to its owner and admins only."""

    def error(denied: Denied) -> JSONResponse:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  429: "Too Many Requests"}
        return _problem(denied.status, "about:blank", titles.get(denied.status, "Error"),
                        denied.message)

    return RoleGate(
        rules=[
            ("POST", r"^/processes/[^/]+/execution$", "editor"),
            ("POST,PUT,PATCH,DELETE", r"^/algorithms", "admin"),  # an algorithm runs commands
            ("POST", r"^/workflows/validate$", "viewer"),  # checks a document, stores nothing
            ("POST,PUT,PATCH,DELETE", r"^/workflows", "editor"),
            ("POST,PUT,PATCH,DELETE", r"^/triggers", "editor"),  # owners: processing/triggers
        ],
        default="viewer",
        buckets=[("POST", r"^/processes/[^/]+/execution$", "jobs")],
        owned=(r"^/jobs/([^/]+)", manager.executions.principal_of),
        errors=error,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _process_summary(process: Process, base: str) -> dict[str, Any]:
    workflow, algorithm = process.workflow, process.algorithm
    return {
        "id": process.id,
        "title": workflow.title or process.id,
        "description": workflow.description,
        "version": algorithm.version if algorithm else str(workflow.version),
        "keywords": ["algorithm"] if algorithm else ["workflow"],
        "jobControlOptions": ["async-execute", "dismiss"],
        "outputTransmission": ["reference"],
        "links": [
            {"href": f"{base}/processes/{process.id}", "rel": "self",
             "type": "application/json", "title": "process description"},
            {"href": f"{base}/processes/{process.id}/execution",
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute", "title": "execute"},
        ],
    }


def _process_description(process: Process, base: str) -> dict[str, Any]:
    ref = {"oneOf": [
        {"type": "string", "description": "collection/id or a STAC item URL"},
        {"type": "object", "required": ["collection", "id"],
         "properties": {"collection": {"type": "string"}, "id": {"type": "string"}}},
    ]}
    description = _process_summary(process, base)
    description["inputs"] = {
        "items": {"title": "Input items", "description": "The STAC items to process.",
                  "minOccurs": 0, "schema": {"type": "array", "items": ref}},
        "collection": {"title": "Collection of ids", "minOccurs": 0,
                       "schema": {"type": "string"}},
        "ids": {"title": "Item ids in that collection", "minOccurs": 0,
                "schema": {"type": "array", "items": {"type": "string"}}},
        "search": {"title": "STAC item search", "description": "Items found by this search "
                   "(collections, bbox, datetime, filter, ids, limit).", "minOccurs": 0,
                   "schema": {"type": "object"}},
        "parameters": {"title": "Parameters", "minOccurs": 0,
                       "schema": process.workflow.parameters},
    }
    description["outputs"] = {
        "items": {"title": "Output items", "description": "STAC items registered in the "
                  f"collection {process.workflow.collection!r}",
                  "schema": {"type": "object", "contentMediaType": "application/geo+json"}},
    }
    if process.algorithm is None:
        description["workflow"] = {"id": process.workflow.id,
                                   "version": process.workflow.version,
                                   "asl": f"{base}/workflows/{process.workflow.id}/asl"}
    return description


class JobsService:
    """The endpoints' logic, on an :class:`ExecutionManager` (the seam tests swap)."""

    def __init__(self, manager: ExecutionBackend) -> None:
        self.manager = manager

    def progress(self, row: Mapping[str, Any]) -> tuple[int, dict[str, dict[str, int]]]:
        states = self.manager.executions.state_progress(row["id"])
        if row["status"] == "successful":
            return 100, states
        top = len(row["definition"].get("States") or {})
        entered = sum(s["entered"] for s in states.values())
        done = sum(s["succeeded"] for s in states.values())
        pending_top = max(0, top - len([n for n in states if n in row["definition"]["States"]]))
        total = max(1, entered + pending_top)
        return min(99, int(100 * done / total)), states

    def status_info(self, row: Mapping[str, Any], base: str, *, detail: bool) -> dict[str, Any]:
        job = f"{base}/jobs/{row['id']}"
        info: dict[str, Any] = {
            "jobID": row["id"],
            "processID": row["process_id"],
            "type": "process",
            "status": row["status"],
            "message": row["cause"] or row["status"],
            "created": _iso(row["created_at"]),
            "started": _iso(row["started_at"]),
            "finished": _iso(row["finished_at"]),
            "updated": _iso(row["updated_at"]),
            "workflow": {"id": row["workflow_id"], "version": row["workflow_version"]},
            "links": [
                {"href": job, "rel": "self", "type": "application/json"},
                {"href": f"{job}/logs", "rel": "logs", "type": "application/json"},
                {"href": f"{job}/history", "rel": "history", "type": "application/json"},
            ],
        }
        if row["status"] == "successful":
            info["links"].append({"href": f"{job}/results",
                                  "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                                  "type": "application/json"})
        if row["error"]:
            info["error"] = row["error"]
            info["cause"] = row["cause"]
        if detail:
            info["progress"], info["states"] = self.progress(row)
            runs = self.manager.executions.task_runs(row["id"])
            info["cost"] = {
                "usd": round(sum(r["cost_usd"] or 0 for r in runs), 6),
                "task_runs": len(runs),
                "seconds": round(sum(r["duration_seconds"] or 0 for r in runs), 3),
                "estimate": "Fargate on-demand prices, 1-minute minimum per task",
            }
            info["run"] = row["run"]
        else:
            info["progress"] = 100 if row["status"] == "successful" else None
        return info

    def results(self, execution_id: str) -> dict[str, Any]:
        row = self.manager.executions.get(execution_id)
        if row["status"] in ("accepted", "running"):
            raise ResultNotReady(f"job {execution_id} is {row['status']}")
        if row["status"] != "successful":
            raise JobFailed(f"job {execution_id} {row['status']}: "
                            f"{row['error'] or ''} {row['cause'] or ''}".strip())
        keys: list[tuple[str, str]] = []
        for run in self.manager.executions.task_runs(execution_id):
            if run["status"] == "succeeded":
                for out in run["outputs"].get("Outputs") or []:
                    if "collection" in out and (out["collection"], out["id"]) not in keys:
                        keys.append((out["collection"], out["id"]))
        features = []
        with psycopg.connect(self.manager.dsn) as conn:
            for collection, item_id in keys:
                found = conn.execute("SELECT pgstac.get_item(%s, %s)",
                                     (item_id, collection)).fetchone()
                if found and found[0]:
                    features.append(found[0])
        return {"items": {"type": "FeatureCollection", "features": features},
                "output": row["output"]}

    def logs(self, execution_id: str, task: int | None, after: int = 0,
             limit: int | None = None) -> dict[str, Any]:
        """The task runs and their log lines after ``after``, at most ``limit`` (bounded by
        ``STACWORKS_PROCESSING_LOG_PAGE_LINES``); ``next_after`` pages on while a job runs
        or its log is long."""
        settings = getattr(self.manager, "settings", None) or ProcessingSettings()
        page = min(limit or settings.log_page_lines, settings.log_page_lines)
        self.manager.executions.get(execution_id)
        lines = self.manager.executions.logs(execution_id, after=after, task_run_id=task,
                                             limit=page + 1)
        more = len(lines) > page
        lines = lines[:page]
        by_task: dict[int | None, list[dict[str, Any]]] = {}
        for line in lines:
            by_task.setdefault(line["task_run_id"], []).append(
                {"id": line["id"], "time": _iso(line["timestamp"]), "stream": line["stream"],
                 "message": line["message"]})
        tasks = []
        for run in self.manager.executions.task_runs(execution_id):
            if task is not None and run["id"] != task:
                continue
            tasks.append({
                "id": run["id"], "state": run["state_name"], "state_path": run["state_path"],
                "map_index": run["map_index"], "retry": run["retry_count"], "run": run["run"],
                "algorithm": run["algorithm"], "version": run["algorithm_version"],
                "status": run["status"], "exit_code": run["exit_code"],
                "started": _iso(run["started_at"]), "finished": _iso(run["finished_at"]),
                "duration_seconds": run["duration_seconds"], "cpu": run["cpu"],
                "memory": run["memory"], "cost_usd": run["cost_usd"],
                "error": run["error"], "cause": run["cause"],
                "lines": by_task.get(run["id"], []),
            })
        return {"jobID": execution_id, "tasks": tasks,
                "next_after": lines[-1]["id"] if more and lines else None}

    def follow(self, execution_id: str, task: int | None, after: int) -> Iterator[bytes]:
        """NDJSON: every log line as it is written, then the job's final status."""
        store = self.manager.executions
        last = after
        while True:
            status = store.get(execution_id)["status"]
            lines = store.logs(execution_id, after=last, task_run_id=task)
            for line in lines:
                last = line["id"]
                yield (json.dumps({"id": line["id"], "task": line["task_run_id"],
                                   "state_path": line["state_path"],
                                   "map_index": line["map_index"], "stream": line["stream"],
                                   "time": _iso(line["timestamp"]),
                                   "message": line["message"]}) + "\n").encode()
            if status in FINISHED and not lines:
                yield (json.dumps({"status": status}) + "\n").encode()
                return
            if not lines:
                time.sleep(_FOLLOW_POLL_SECONDS)


# -- request bodies (typed, so the OpenAPI document describes them) -------------------------


class ExecuteRequest(BaseModel):
    """``POST /processes/{id}/execution``: the inputs (OGC style) and the response mode.

    The inputs may also be given at the top level (``{"items": [...]}``), as earlier clients do.
    """

    model_config = ConfigDict(extra="allow")

    inputs: dict[str, Any] | None = Field(
        default=None, description="items, collection + ids, search, parameters (see the process)."
    )
    response: str | None = Field(default=None, description="OGC response mode (ignored).")

    def job_inputs(self) -> dict[str, Any]:
        return self.inputs if self.inputs is not None else dict(self.model_extra or {})


class EstimateRequest(BaseModel):
    """``POST /processes/{id}/estimate``: an item count, or the inputs to count items from."""

    item_count: Annotated[int | None, Field(strict=True, ge=0, le=2**31 - 1)] = None
    inputs: dict[str, Any] | None = None


class DuplicateRequest(BaseModel):
    """``POST /workflows/{id}/duplicate``: the copy's id and, optionally, the version to copy."""

    id: str = Field(min_length=1, description="The new workflow's id.")
    version: Annotated[int | None, Field(strict=True, ge=1, le=2**31 - 1)] = None


#: Workflow and algorithm documents are checked by our own models (WorkflowSpec, AlgorithmSpec)
#: so that errors name the document's fields; the OpenAPI document still says they are objects.
WorkflowDocument = Annotated[dict[str, Any], Body(
    description="A workflow: an ASL document, or {definition: ASL, title, collection, ...}.")]
AlgorithmDocument = Annotated[dict[str, Any], Body(
    description="An algorithm registration: name, version, image or command, cpu, memory.")]


# -- routers: one small object per resource, its parts as attributes ------------------------


@dataclass
class ResourceRouter:
    """A router over one back end; creating it registers its routes (titiler's manner).

    Subclasses implement :meth:`register_routes`; extra dataclass fields named ``access`` or
    ``service`` receive :class:`ProcessesFactory`'s.
    """

    manager: ExecutionBackend
    router: APIRouter = field(default_factory=APIRouter)

    def __post_init__(self) -> None:
        self.register_routes()

    def register_routes(self) -> None:
        raise NotImplementedError


@dataclass
class ProcessesRouter(ResourceRouter):
    """``/processes``: OGC API - Processes Part 1 listing, description, execution, estimate.

    ``access`` checks that a job's output collection is writable by its caller; None means
    access control is off (every caller is then an admin anyway).
    """

    access: Access | None = None
    service: JobsService | None = None

    def register_routes(self) -> None:
        manager, access = self.manager, self.access
        service = self.service or JobsService(manager)

        @self.router.get("/processes")
        def list_processes(request: Request) -> dict[str, Any]:
            base = _base(request)
            return {"processes": [_process_summary(p, base) for p in manager.processes()],
                    "links": [{"href": f"{base}/processes", "rel": "self"}]}

        @self.router.get("/processes/{process_id}")
        def get_process(process_id: str, request: Request) -> dict[str, Any]:
            return _process_description(manager.process(process_id), _base(request))

        @self.router.post("/processes/{process_id}/execution", status_code=201)
        def execute(process_id: str, request: Request, body: ExecuteRequest) -> JSONResponse:
            base = _base(request)
            principal = principal_of(request)
            if access is not None and not principal.admin:
                # outputs may only land where the caller may write
                output = manager.process(process_id).workflow.collection
                if access.store.collection_exists(output) and not access.store.can_write(
                    principal, output
                ):
                    raise Denied(403, f"no write access to the output collection {output!r}")
            row = manager.submit(process_id, body.job_inputs(), stac_url=f"{base}/stac",
                                 principal=principal.id if not principal.unrestricted else None,
                                 readable=readable_of(request))
            info = service.status_info(row, base, detail=False)
            return JSONResponse(info, status_code=201,
                                headers={"Location": f"{base}/jobs/{row['id']}"})

        @self.router.post("/processes/{process_id}/estimate")
        def estimate(process_id: str, request: Request, body: EstimateRequest) -> dict[str, Any]:
            count = body.item_count
            if count is None:
                count = len(manager.resolve_items(body.inputs or {}, None, readable_of(request)))
            return manager.estimate(process_id, count)


@dataclass
class JobsRouter(ResourceRouter):
    """``/jobs``: status, dismissal, results, history and logs (followed as NDJSON)."""

    service: JobsService | None = None

    def register_routes(self) -> None:
        manager = self.manager
        service = self.service or JobsService(manager)

        @self.router.get("/jobs")
        def list_jobs(
            request: Request,
            status: Annotated[list[str] | None, Query(description="Filter by status.")] = None,
            processID: Annotated[list[str] | None, Query(description="Filter by process.")] = None,  # noqa: N803
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL's bigint
        ) -> dict[str, Any]:
            base = _base(request)
            principal = principal_of(request)
            rows = manager.executions.find(
                status=status, process_id=processID, limit=limit, offset=offset,
                principal=True if principal.admin else principal.id or "",
            )
            return {"jobs": [service.status_info(r, base, detail=False) for r in rows],
                    "links": [{"href": f"{base}/jobs", "rel": "self"}]}

        @self.router.get("/jobs/{job_id}")
        def get_job(job_id: str, request: Request) -> dict[str, Any]:
            return service.status_info(manager.executions.get(job_id), _base(request),
                                       detail=True)

        @self.router.delete("/jobs/{job_id}")
        def dismiss_job(job_id: str, request: Request) -> dict[str, Any]:
            return service.status_info(manager.cancel(job_id), _base(request), detail=True)

        @self.router.get("/jobs/{job_id}/results")
        def job_results(job_id: str, request: Request) -> dict[str, Any]:
            found = service.results(job_id)
            # Output items as the STAC API serves them: /assets URLs, never server paths.
            links = AssetLinks.from_settings(getattr(manager, "object_store", None))
            links.rewrite_items(found["items"]["features"], f"{_base(request)}/stac/",
                                share_token(request))
            return found

        @self.router.get("/jobs/{job_id}/history")
        def job_history(job_id: str) -> dict[str, Any]:
            manager.executions.get(job_id)
            return {"jobID": job_id, "events": manager.executions.events(job_id)}

        @self.router.get("/jobs/{job_id}/logs", response_model=None)
        def job_logs(
            job_id: str,
            task: Annotated[int | None, Query(ge=1, le=_MAX_ID,
                                              description="Only this task run.")] = None,
            follow: Annotated[bool, Query(description="Stream NDJSON until the job ends.")] = False,
            after: Annotated[int, Query(ge=0, le=_MAX_ID,
                                        description="Lines after this id.")] = 0,
            limit: Annotated[int | None, Query(
                ge=1, description="Most lines (capped by STACWORKS_PROCESSING_LOG_PAGE_LINES); "
                "next_after in the answer gives the next page.")] = None,
        ) -> dict[str, Any] | StreamingResponse:
            if follow:
                manager.executions.get(job_id)
                return StreamingResponse(service.follow(job_id, task, after),
                                         media_type="application/x-ndjson")
            return service.logs(job_id, task, after, limit)


def _owner_id(request: Request) -> str | None:
    principal = principal_of(request)
    return None if principal.unrestricted else principal.id


def _issue(issue: ValidationIssue) -> dict[str, Any]:
    return {"code": issue.code, "message": issue.message, "state": issue.state,
            "field": issue.field, "pointer": issue.pointer}


@dataclass
class WorkflowsRouter(ResourceRouter):
    """``/workflows``: versioned ASL workflows; shared for reading, changed by owner or admin."""

    def may_change(self, request: Request, workflow_id: str) -> None:
        """Workflows are shared for reading and running; changing one is for its owner (the
        key that created it) and admins, so nobody rewrites what another runs."""
        principal = principal_of(request)
        if principal.admin:  # admins, and every request with access control off
            return
        if self.manager.workflows.owner(workflow_id) != principal.id:
            raise Denied(403, f"only the owner of workflow {workflow_id!r} or an admin may "
                              "change it")

    def register_routes(self) -> None:
        workflows, may_change = self.manager.workflows, self.may_change

        def doc(spec: WorkflowSpec) -> dict[str, Any]:
            return spec.model_dump(mode="json")

        @self.router.get("/workflows")
        def list_workflows() -> dict[str, Any]:
            return {"workflows": [doc(w) for w in workflows.latest()]}

        @self.router.post("/workflows", status_code=201)
        def create_workflow(request: Request, body: WorkflowDocument,
                            id: str | None = None) -> dict[str, Any]:  # noqa: A002
            spec = workflow_from_document(body, workflow_id=id)
            return doc(workflows.create(spec, _owner_id(request)))

        @self.router.post("/workflows/import", status_code=201)
        def import_workflow(request: Request, body: WorkflowDocument,
                            id: str) -> dict[str, Any]:  # noqa: A002
            spec = workflow_from_document(body, workflow_id=id)
            return doc(workflows.create(spec, _owner_id(request)))

        @self.router.post("/workflows/validate")
        def validate_workflow(body: WorkflowDocument) -> dict[str, Any]:
            """Every problem of an ASL document (or of a workflow's ``definition``), each naming
            its state, field and JSON pointer: what the workflow builder shows on its nodes.
            Nothing is stored; an invalid document is a 200 with ``valid: false``."""
            definition = body.get("definition", body) if "StartAt" not in body else body
            if not isinstance(definition, dict):
                raise InvalidInput("definition", "an ASL document is a JSON object")
            result = validate(definition)
            return {"valid": result.valid,
                    "errors": [_issue(i) for i in result.errors],
                    "warnings": [_issue(i) for i in result.warnings]}

        @self.router.get("/workflows/{workflow_id}")
        def get_workflow(workflow_id: str, version: WorkflowVersion = None) -> dict[str, Any]:
            return doc(workflows.get(workflow_id, version))

        @self.router.get("/workflows/{workflow_id}/versions")
        def workflow_versions(workflow_id: str) -> dict[str, Any]:
            return {"versions": [doc(w) for w in workflows.versions(workflow_id)]}

        @self.router.put("/workflows/{workflow_id}")
        def update_workflow(request: Request, workflow_id: str,
                            body: WorkflowDocument) -> dict[str, Any]:
            may_change(request, workflow_id)
            spec = workflow_from_document(body, workflow_id=workflow_id)
            return doc(workflows.update(workflow_id, spec))

        @self.router.post("/workflows/{workflow_id}/duplicate", status_code=201)
        def duplicate_workflow(request: Request, workflow_id: str,
                               body: DuplicateRequest) -> dict[str, Any]:
            return doc(workflows.duplicate(workflow_id, body.id, body.version,
                                           _owner_id(request)))

        @self.router.delete("/workflows/{workflow_id}", status_code=204)
        def delete_workflow(request: Request, workflow_id: str) -> None:
            may_change(request, workflow_id)
            workflows.delete(workflow_id)

        @self.router.get("/workflows/{workflow_id}/asl")
        def export_workflow(workflow_id: str, version: WorkflowVersion = None) -> dict[str, Any]:
            return workflows.get(workflow_id, version).definition


@dataclass
class AlgorithmsRouter(ResourceRouter):
    """``/algorithms``: registered algorithm versions (admins change them: they run commands)."""

    def register_routes(self) -> None:
        algorithms = self.manager.algorithms

        def doc(spec: AlgorithmSpec) -> dict[str, Any]:
            return spec.model_dump(mode="json")

        @self.router.get("/algorithms")
        def list_algorithms() -> dict[str, Any]:
            return {"algorithms": [doc(a) for a in algorithms.latest()]}

        @self.router.post("/algorithms", status_code=201)
        def register_algorithm(body: AlgorithmDocument, replace: bool = False) -> dict[str, Any]:
            spec = algorithm_from_document(body)
            return doc(algorithms.register(spec, replace=replace))

        @self.router.get("/algorithms/{name}")
        def get_algorithm(name: str, version: str | None = None) -> dict[str, Any]:
            return doc(algorithms.get(name, version))

        @self.router.get("/algorithms/{name}/versions")
        def algorithm_versions(name: str) -> dict[str, Any]:
            return {"versions": [doc(a) for a in algorithms.versions(name)]}

        @self.router.delete("/algorithms/{name}", status_code=204)
        def delete_algorithm(name: str, version: str | None = None) -> None:
            algorithms.delete(name, version)


# -- the service ------------------------------------------------------------------------------


@dataclass
class ProcessesFactory:
    """The jobs service as one object whose attributes are its seams; :meth:`create_app`
    builds the FastAPI app (route ``ROOT_PATHS`` to it with :class:`RootPaths`).

    Seams:
        manager: whatever runs the jobs (:class:`ExecutionBackend`). :meth:`local` builds the
            local :class:`ExecutionManager`; another back end (AWS Step Functions + ECS in
            ``processing/aws/``) constructs its own manager and passes it here, and every route,
            the access policy and the job ownership rule work on it unchanged. The app's
            lifespan calls its ``start()`` and ``shutdown()``.
        access: the access model (principals, roles, rate buckets), attached from outside as
            middleware with :func:`jobs_policy`.
        database: a pool opened and closed with the app (the local back end's), or None.
        routers: the resources served; pass a subset (or an extra router) to compose another
            service.
    """

    manager: ExecutionBackend
    access: Access
    database: Database | None = None
    routers: Sequence[type[ResourceRouter]] = (
        ProcessesRouter, JobsRouter, WorkflowsRouter, AlgorithmsRouter
    )
    title: str = "stacworks processes"
    #: Schedules, subscriptions, watches, webhooks, budgets (``/triggers``); built on the
    #: manager's database unless given, None where the manager has none (a test double).
    triggers: Any = None

    @classmethod
    def local(
        cls,
        catalog_settings: CatalogSettings,
        settings: ProcessingSettings | None = None,
        *,
        store_settings: StoreSettings | None = None,
        object_store: ObjectStore | None = None,
        access: Access | None = None,
    ) -> ProcessesFactory:
        """The single-machine service: the local executor on the catalog database."""
        store_cfg = store_settings or load_settings(home=catalog_settings.home)
        db = Database(catalog_settings.dsn)
        manager = ExecutionManager(
            db=db, settings=settings or ProcessingSettings(), dsn=catalog_settings.dsn,
            home=catalog_settings.home, store_settings=store_cfg,
            object_store=object_store or store_from_settings(store_cfg),
        )
        return cls(manager=manager, access=access or Access(catalog_settings.dsn), database=db)

    def create_app(self) -> FastAPI:
        manager, db = self.manager, self.database
        triggers = self.triggers
        if triggers is None and getattr(manager, "db", None) is not None:
            from processing.triggers.service import Triggers

            triggers = Triggers.for_manager(manager)

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            if db is not None:
                db.open()
            manager.start()
            if triggers is not None:
                triggers.start()
            try:
                yield
            finally:
                if triggers is not None:
                    triggers.stop()
                manager.shutdown()
                if db is not None:
                    db.close()

        app = FastAPI(title=self.title, lifespan=lifespan, docs_url="/processes/docs",
                      dependencies=[Depends(storable_input)],
                      openapi_url="/processes/openapi.json", redoc_url=None)
        app.state.manager = manager
        add_exception_handlers(app)
        # The parts each router declares a field for (its seams), shared by every router.
        parts: dict[str, Any] = {"access": self.access, "service": JobsService(manager),
                                 "triggers": triggers}
        routers = list(self.routers)
        if triggers is not None:
            from processing.triggers.api import TriggersRouter

            routers.append(TriggersRouter)
        for router_type in routers:
            names = {f.name for f in fields(router_type)}
            given = {k: v for k, v in parts.items() if k in names}
            app.include_router(router_type(manager=manager, **given).router)
        app.add_middleware(AccessMiddleware, access=self.access, policy=jobs_policy(manager))
        return app


def create_processes_app(
    catalog_settings: CatalogSettings,
    settings: ProcessingSettings | None = None,
    *,
    store_settings: StoreSettings | None = None,
    object_store: ObjectStore | None = None,
    access: Access | None = None,
    manager: ExecutionBackend | None = None,
) -> FastAPI:
    """The jobs service app: the local back end unless ``manager`` is given or
    ``STACWORKS_PROCESSING_BACKEND=aws`` (see :class:`ProcessesFactory` for the seams)."""
    if manager is not None:
        return ProcessesFactory(
            manager=manager, access=access or Access(catalog_settings.dsn)
        ).create_app()
    settings = settings or ProcessingSettings()
    if settings.backend == "aws":  # Step Functions + ECS Fargate (processing/aws)
        from processing.aws.backend import aws_factory

        return aws_factory(catalog_settings, settings, store_settings=store_settings,
                           object_store=object_store, access=access).create_app()
    return ProcessesFactory.local(
        catalog_settings, settings, store_settings=store_settings,
        object_store=object_store, access=access,
    ).create_app()
