"""Executions of processes: accepted from the API, run by the local executor in this server, kept
in the database so that a restart resumes (or fails, with a clear cause) what a crash left.

A process is a workflow (by id) or an algorithm (``algorithm:NAME``, a generated workflow that
runs the algorithm on each input item or once on all).

Why threads and a heartbeat here, and a procrastinate queue for ingest (:mod:`ingest.queue`):
an ingest product is a small, independent, idempotent job, the textbook case for a work queue
that any number of worker processes or hosts drain, with retries and per-key locks. An ASL
execution is not: it is one long-lived interpreter whose live state (Parallel branches, Map
iterations, cancellation scopes, the process groups of its running tasks, which a cancel or
timeout must kill) exists only in the process running it, and whose durable state is its
history. So an execution is owned by one server, which runs it on a thread and beats a
heartbeat on its row; cancel requests travel through that row; when the owner dies, another
server sees the stale heartbeat (or dead pid) and takes the execution over, resuming from the
history without re-running finished tasks. A queue would only replace the take-over, not the
rest. At scale the interpreter itself is replaced: AWS Step Functions runs the same ASL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from objectstore import ObjectStore, gdal_env
from objectstore.settings import StoreSettings
from processing.algorithm_tasks import ExecutionContext, kill_task_processes
from processing.algorithms import AlgorithmRegistry, AlgorithmSpec, validate_parameters
from processing.asl import ExecutionResult, InvalidDefinition, StateMachine
from processing.containers import kill_task_container, task_runner_class
from processing.contract import CatalogItems, _catalog_key, item_ref
from processing.costs import task_cost
from processing.db import Database
from processing.errors import InvalidInput, NoSuchProcess, ProcessingError
from processing.journal import (
    FINISHED,
    BufferedSink,
    ExecutionJournal,
    JobStatus,
    LogLine,
    job_status,
)
from processing.outputs import OutputPublisher
from processing.settings import ProcessingSettings
from processing.workflows import (
    ECS_RESOURCES,
    WorkflowSpec,
    WorkflowStore,
    algorithm_workflow,
    task_algorithm_ref,
    task_states,
)

__all__ = ["ALGORITHM_PREFIX", "ExecutionManager", "Process"]

log = logging.getLogger(__name__)

ALGORITHM_PREFIX = "algorithm:"
_INPUT_KEYS = {"items", "collection", "ids", "search", "parameters"}


@dataclass(frozen=True, slots=True)
class Process:
    """A runnable process: its id, the workflow it runs, and the algorithm when it is one."""

    id: str
    workflow: WorkflowSpec
    algorithm: AlgorithmSpec | None = None


@dataclass
class _Handle:
    cancel: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class _Recorder:
    """Task runs straight to the database; log lines through the execution's buffered sink."""

    def __init__(self, store: ExecutionJournal, sink: BufferedSink) -> None:
        self.store = store
        self.sink = sink

    def start_task_run(self, row: Mapping[str, Any]) -> int:
        return self.store.start_task_run(row)

    def finish_task_run(self, task_run_id: int, **fields: Any) -> None:
        self.store.finish_task_run(task_run_id, **fields)

    def log(self, line: LogLine) -> None:
        self.sink.log(line)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ExecutionManager:
    """Accepts, runs, cancels and recovers executions (one per server process)."""

    def __init__(
        self,
        *,
        db: Database,
        settings: ProcessingSettings,
        dsn: str,
        home: Path,
        object_store: ObjectStore,
        store_settings: StoreSettings | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.dsn = dsn
        self.executions = ExecutionJournal(db, flush_seconds=settings.event_flush_seconds)
        self.algorithms = AlgorithmRegistry(db)
        self.workflows = WorkflowStore(db)
        self.object_store = object_store
        self.work_dir = settings.resolved_work_dir(home)
        self.base_env = gdal_env(store_settings) if store_settings is not None else {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(settings.max_executions, thread_name_prefix="execution")
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        #: Called with (process, item count) before a job is recorded: a context manager that
        #: raises to refuse it, or yields (connection or None, context entries) to record it
        #: inside (the triggers' budgets hold a lock there, processing/triggers/service.py).
        self.admission: Callable[
            [Process, int], contextlib.AbstractContextManager[tuple[Any, dict[str, Any]]]
        ] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a previous server left, then start the heartbeat."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.recover()
        self._heartbeat = threading.Thread(target=self._beat, name="processing-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop running executions so that the next server resumes them."""
        self._stop.set()
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            handle.interrupted = True
            handle.cancel.set()
        for handle in handles:
            handle.done.wait(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.executions.close()

    def _beat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            with self._lock:
                ids = list(self._handles)
            try:
                self.executions.heartbeat(ids, self.owner)
                for execution_id in ids:  # a cancel asked of another server reaches us here
                    if self.executions.get(execution_id)["cancel_requested"]:
                        self._handles[execution_id].cancel.set()
            except (ProcessingError, KeyError):
                log.warning("heartbeat failed", exc_info=True)

    def _orphaned(self, row: Mapping[str, Any]) -> bool:
        owner = row["owner"]
        if owner is None:
            return True
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and pid.isdigit():
            return int(pid) != os.getpid() and not _pid_alive(int(pid))
        beat = row["heartbeat_at"]
        return beat is None or (self.executions.now() - beat).total_seconds() > (
            self.settings.stale_after_seconds
        )

    def recover(self) -> list[str]:
        """Resume (or fail) every unfinished execution whose server is gone; return their ids."""
        recovered: list[str] = []
        for row in self.executions.unfinished():
            if not self._orphaned(row) or not self.executions.take_over(
                row["id"], row["owner"], self.owner
            ):
                continue
            recovered.append(row["id"])
            self._recover(row, f"the server running it ({row['owner'] or 'none yet'}) stopped")
        return recovered

    def _recover(self, row: Mapping[str, Any], cause: str) -> None:
        """Take up one execution a dead server left: its task runs are lost with their
        processes, so they are abandoned, and the execution resumes from its history (or
        fails, after too many crashes or with ``on_restart=fail``)."""
        for task in self.executions.abandon_task_runs(row["id"], cause):
            killed = kill_task_processes(task["token"])
            if self.settings.runner == "docker" and kill_task_container(task["token"]):
                log.warning("removed the leftover task container of %s", row["id"])
            if killed:
                log.warning("killed leftover task processes %s of %s", killed, row["id"])
        crashed = self.executions.crashed_runs(row["id"])
        if row["cancel_requested"]:
            self._finish(row["id"], "dismissed", cause="cancelled")
        elif crashed >= self.settings.max_crashed_runs:
            log.error("execution %s: its server died during a task in %s runs; failing it",
                      row["id"], crashed)
            self._finish(
                row["id"], "failed", error="Stacworks.WorkerCrashed",
                cause=f"the server running it stopped while a task ran, in {crashed} runs "
                "(a task that exhausts memory or kills its worker?); not resumed again "
                f"(STACWORKS_PROCESSING_MAX_CRASHED_RUNS={self.settings.max_crashed_runs})",
            )
        elif self.settings.on_restart == "resume":
            log.info("resuming execution %s (%s)", row["id"], cause)
            self._schedule(row["id"])
        else:
            self._finish(
                row["id"], "failed", error="Stacworks.ServerRestarted",
                cause=f"{cause}; resuming after a restart is disabled "
                "(STACWORKS_PROCESSING_ON_RESTART=fail)",
            )

    # -- processes -----------------------------------------------------------------------------

    def process(self, process_id: str) -> Process:
        if process_id.startswith(ALGORITHM_PREFIX):
            try:
                spec = self.algorithms.get(process_id.removeprefix(ALGORITHM_PREFIX))
            except ProcessingError:
                raise NoSuchProcess(f"process {process_id!r} does not exist") from None
            workflow = algorithm_workflow(spec)
            return Process(process_id, workflow, spec)
        try:
            return Process(process_id, self.workflows.get(process_id))
        except ProcessingError:
            raise NoSuchProcess(f"process {process_id!r} does not exist") from None

    def processes(self) -> list[Process]:
        found = [Process(w.id, w) for w in self.workflows.latest()]
        found += [Process(f"{ALGORITHM_PREFIX}{a.name}", algorithm_workflow(a), a)
                  for a in self.algorithms.latest()]
        return found

    def resolve_items(self, inputs: Mapping[str, Any], stac_url: str | None,
                      readable: set[str] | None = None) -> list[str]:
        """The item references of an execution request: listed, by ids, or by a search.

        ``readable``: the collections the caller may read (None: all, and any file or URL);
        otherwise every reference must be a catalog item of one of them.
        """
        refs = self._resolve_items(inputs, stac_url, readable)
        if readable is not None:
            keys = []
            for ref in refs:
                key = _catalog_key(ref)
                if key is None or key[0] not in readable:
                    raise InvalidInput("inputs.items", f"no such catalog item: {ref}")
                keys.append(key)
            self._check_asset_hrefs(keys, readable)
        return refs

    def _check_asset_hrefs(self, keys: list[tuple[str, str]], readable: set[str]) -> None:
        """An item may not lend its reader another collection's objects: an asset href into
        the store must lie under a collection the caller may read (a store key's first segment
        is its collection), or a job over an editor's own item could read a private COG."""
        with self.db.connection() as conn:
            for collection, item_id in keys:
                row = conn.execute("SELECT pgstac.get_item(%s, %s) AS item",
                                   (item_id, collection)).fetchone()
                assets = ((row or {}).get("item") or {}).get("assets") or {}
                for name, asset in assets.items():
                    href = asset.get("href") if isinstance(asset, dict) else None
                    key = self.object_store.key_for_href(href) if isinstance(href, str) else None
                    if key is not None and key.split("/", 1)[0] not in readable:
                        raise InvalidInput("inputs.items", f"{collection}/{item_id}: asset "
                                           f"{name!r} is in a collection you cannot read")

    def _resolve_items(self, inputs: Mapping[str, Any], stac_url: str | None,
                       readable: set[str] | None) -> list[str]:
        refs: list[str] = []
        if "items" in inputs:
            items = inputs["items"]
            if not isinstance(items, list):
                raise InvalidInput("inputs.items", "expected a list of item references")
            refs += [item_ref(v, field=f"inputs.items[{i}]", stac_url=stac_url)
                     for i, v in enumerate(items)]
        if "ids" in inputs:
            collection, ids = inputs.get("collection"), inputs["ids"]
            if not isinstance(collection, str):
                raise InvalidInput("inputs.collection", "required with inputs.ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise InvalidInput("inputs.ids", "expected a list of item ids")
            refs += [item_ref({"collection": collection, "id": i}, field="inputs.ids",
                              stac_url=stac_url) for i in ids]
        if "search" in inputs:
            refs += self._search(inputs["search"], stac_url, readable)
        if not refs:
            raise InvalidInput("inputs.items", "no input items (give items, ids or a search)")
        if len(refs) > self.settings.max_items:
            raise InvalidInput("inputs.items", f"more than {self.settings.max_items} items")
        return refs

    def _search(self, search: Any, stac_url: str | None,
                readable: set[str] | None = None) -> list[str]:
        if not isinstance(search, Mapping):
            raise InvalidInput("inputs.search", "expected a STAC item search object")
        allowed = {"collections", "ids", "bbox", "intersects", "datetime", "filter",
                   "filter-lang", "query", "limit", "sortby"}
        unknown = set(search) - allowed
        if unknown:
            raise InvalidInput(f"inputs.search.{sorted(unknown)[0]}", "not a search field")
        body = {**search, "limit": min(int(search.get("limit") or self.settings.max_items),
                                       self.settings.max_items),
                "fields": {"include": ["id", "collection"], "exclude": []}}
        if readable is not None:
            from catalog.api import restrict_collections

            body["collections"] = restrict_collections(search.get("collections"), readable)
        try:
            with self.db.connection() as conn:
                row = conn.execute("SELECT pgstac.search(%s::jsonb) AS fc",
                                   (json.dumps(body),)).fetchone()
        except ProcessingError:
            raise InvalidInput("inputs.search", "the catalog refused this search") from None
        features = (row or {}).get("fc", {}).get("features") or []
        return [item_ref({"collection": f["collection"], "id": f["id"]}, field="inputs.search",
                         stac_url=stac_url) for f in features]

    # -- executions ----------------------------------------------------------------------------

    def submit(self, process_id: str, inputs: Any, *, stac_url: str | None,
               principal: str | None = None, readable: set[str] | None = None) -> dict[str, Any]:
        """Check the request, record the job (accepted, owned by ``principal``) and queue it."""
        process = self.process(process_id)
        if not isinstance(inputs, Mapping):
            raise InvalidInput("inputs", "expected an object")
        unknown = set(inputs) - _INPUT_KEYS
        if unknown:
            raise InvalidInput(f"inputs.{sorted(unknown)[0]}",
                               f"unknown input (expected {sorted(_INPUT_KEYS)})")
        parameters = inputs.get("parameters", {})
        if not isinstance(parameters, Mapping):
            raise InvalidInput("inputs.parameters", "expected an object")
        if process.algorithm is not None:
            validate_parameters(process.algorithm, parameters, field="inputs.parameters")
        else:
            self._check_workflow_parameters(process.workflow, parameters)
        refs = self.resolve_items(inputs, stac_url, readable)
        admission = (self.admission(process, len(refs)) if self.admission is not None
                     else contextlib.nullcontext((None, {})))
        execution_id = uuid.uuid4().hex
        workflow = process.workflow
        with admission as (conn, admitted):
            self.executions.create({
                "id": execution_id,
                "process_id": process.id,
                "workflow_id": workflow.id,
                "workflow_version": workflow.version or None,
                "output_collection": workflow.collection,
                "definition": workflow.definition,
                "context": {"renders": workflow.renders, "stac_url": stac_url, **admitted},
                "input": {"items": refs, "parameters": dict(parameters)},
                "principal": principal,
            }, conn)
        self._schedule(execution_id)
        return self.executions.get(execution_id)

    def _check_workflow_parameters(self, workflow: WorkflowSpec, parameters: Any) -> None:
        from jsonschema import Draft202012Validator

        errors = list(Draft202012Validator(workflow.parameters).iter_errors(parameters))
        if errors:
            where = ".".join(["inputs.parameters", *(str(p) for p in errors[0].absolute_path)])
            raise InvalidInput(where, errors[0].message)

    def _schedule(self, execution_id: str) -> None:
        handle = _Handle()
        with self._lock:
            self._handles[execution_id] = handle
        self._pool.submit(self._run_safely, execution_id, handle)

    def _run_safely(self, execution_id: str, handle: _Handle) -> None:
        try:
            self._run(execution_id, handle)
        except Exception as exc:  # noqa: BLE001 - a job must end with a status, never vanish
            log.exception("execution %s crashed", execution_id)
            with contextlib.suppress(Exception):
                self._finish(execution_id, "failed", error="Stacworks.InternalError",
                                       cause=f"the executor failed: {type(exc).__name__}")
        finally:
            handle.done.set()
            with self._lock:
                self._handles.pop(execution_id, None)

    def _run(self, execution_id: str, handle: _Handle) -> None:
        row = self.executions.get(execution_id)
        if row["cancel_requested"] or handle.cancel.is_set():
            if not handle.interrupted:
                self._finish(execution_id, "dismissed", cause="cancelled")
            return
        run = self.executions.claim(execution_id, self.owner)
        if run > 1:
            self._remove_staging(execution_id, before_run=run)
        completed = self.executions.completed_tasks(execution_id) if run > 1 else None
        sink = self.executions.sink(execution_id, run)
        context = ExecutionContext(
            execution_id=execution_id, workflow_id=row["workflow_id"],
            workflow_version=row["workflow_version"], output_collection=row["output_collection"],
            work_dir=self.work_dir, run=run, renders=row["context"].get("renders") or {},
            stac_url=row["context"].get("stac_url"),
        )
        runner = task_runner_class(self.settings)(
            self.algorithms, context, self.settings, catalog=CatalogItems(self.dsn),
            publisher=OutputPublisher(self.object_store, self.dsn),
            recorder=_Recorder(self.executions, sink), base_env=self.base_env,
        )
        try:
            machine = StateMachine(
                row["definition"],
                runners={resource: runner for resource in ECS_RESOURCES},
                events=sink,
                logs=lambda record: None,  # our runner logs with its task-run id itself
                max_workers=self.settings.max_map_workers,
                cancel_grace_seconds=self.settings.kill_grace_seconds + 5,
                default_task_timeout=self.settings.default_task_timeout,
                name=row["workflow_id"],
            )
            result: ExecutionResult = machine.execute(
                row["input"], name=execution_id, execution_id=execution_id,
                completed_tasks=completed, cancel=handle.cancel,
            )
        except InvalidDefinition as exc:
            self.executions.release(sink)
            self._finish(execution_id, "failed", error="States.Runtime", cause=str(exc))
            return
        self.executions.release(sink)
        if handle.interrupted:
            log.info("execution %s interrupted by shutdown; the next server resumes it",
                     execution_id)
            self.executions.take_over(execution_id, self.owner, None)  # type: ignore[arg-type]
            return
        status = job_status(result.status)
        cause = result.cause
        if status == "dismissed":
            cause = cause or "cancelled"
        self._finish(execution_id, status, output=result.output,
                               error=result.error, cause=cause)

    def _finish(self, execution_id: str, status: JobStatus, **fields: Any) -> None:
        """Record the job's end, then remove its staging folder (task runs that were
        abandoned or failed leave theirs; successful ones removed theirs on publishing)."""
        self.executions.finish(execution_id, status, **fields)
        self._remove_staging(execution_id)

    def _remove_staging(self, execution_id: str, before_run: int | None = None) -> None:
        """Remove the execution's staging folder, or only its runs before ``before_run``
        (a resumed run: what the dead server's task runs left)."""
        root = self.work_dir / execution_id
        if before_run is None:
            shutil.rmtree(root, ignore_errors=True)
            return
        for old in root.glob("run*-*"):
            run = old.name.removeprefix("run").partition("-")[0]
            if run.isdigit() and int(run) < before_run:
                shutil.rmtree(old, ignore_errors=True)

    def cancel(self, execution_id: str, wait: float = 15.0) -> dict[str, Any]:
        """Dismiss a job: its running task processes are stopped before this returns."""
        row = self.executions.request_cancel(execution_id)
        if row["status"] in FINISHED:
            return row
        with self._lock:
            handle = self._handles.get(execution_id)
        if row["status"] == "accepted" and row["owner"] is None:  # queued: it never starts
            self._dismiss(execution_id)
            if handle is not None:
                handle.cancel.set()
            return self.executions.get(execution_id)
        self._stop_running(execution_id, row)
        if handle is not None:
            handle.cancel.set()
            handle.done.wait(wait)
        return self.executions.get(execution_id)

    def _dismiss(self, execution_id: str) -> None:
        """Record a queued job as dismissed (it never started)."""
        self._finish(execution_id, "dismissed", cause="cancelled")

    def _stop_running(self, execution_id: str, row: Mapping[str, Any]) -> None:
        """Stop what runs the job outside this process; here the task processes are children
        that the handle's cancel event stops, so there is nothing more to do."""

    # -- reading -------------------------------------------------------------------------------

    def estimate(self, process_id: str, item_count: int) -> dict[str, Any]:
        """What a run on ``item_count`` items would take: per task and in total (Fargate)."""
        process = self.process(process_id)
        tasks: list[dict[str, Any]] = []
        for name, state, in_map in task_states(process.workflow.definition):
            if state.get("Resource") not in ECS_RESOURCES:
                continue
            algorithm_name, version = task_algorithm_ref(state.get("Parameters") or {})
            spec = process.algorithm or self.algorithms.get(algorithm_name, version)
            runs = item_count if in_map else 1
            one = task_cost(spec.cpu, spec.memory, spec.typical_duration_seconds, self.settings)
            tasks.append({
                "state": name, "algorithm": spec.name, "version": spec.version,
                "runs": runs, "cpu": spec.cpu, "memory": spec.memory,
                "seconds_each": spec.typical_duration_seconds,
                "cost_usd_each": one.usd, "cost_usd": round(one.usd * runs, 6),
            })
        return {
            "process": process_id,
            "items": item_count,
            "tasks": tasks,
            "task_runs": sum(t["runs"] for t in tasks),
            "cost_usd": round(sum(t["cost_usd"] for t in tasks), 6),
            "prices": {"vcpu_hour_usd": self.settings.fargate_vcpu_hour_usd,
                       "gb_hour_usd": self.settings.fargate_gb_hour_usd,
                       "minimum_seconds": self.settings.fargate_minimum_seconds},
        }
