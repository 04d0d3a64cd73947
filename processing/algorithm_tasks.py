"""The task runner for ``arn:aws:states:::ecs:runTask(.sync)``: run the algorithm a task
definition names as a local process, under the task contract, and publish what it wrote.

The ECS parameters stay exactly what Step Functions would send to ECS (task definition family,
container overrides with the ``STACWORKS_*`` environment), so one document runs here and there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from processing.algorithms import (
    AlgorithmSource,
    AlgorithmSpec,
    local_argv,
    validate_parameters,
)
from processing.asl import AslError, TaskContext, run_command
from processing.asl.runners import LogFn
from processing.contract import (
    ENV_INPUT_ITEMS,
    ENV_PARAMETERS,
    ENV_TASK_TOKEN,
    CatalogItems,
    InputItem,
    contract_environment,
    resolve_items,
)
from processing.costs import task_cost
from processing.errors import InvalidInput, ProcessingError
from processing.journal import LogLine
from processing.outputs import OutputPublisher, Provenance, collect_outputs
from processing.settings import ProcessingSettings
from processing.workflows import task_algorithm_ref, task_environment

__all__ = [
    "AlgorithmTaskRunner",
    "ExecutionContext",
    "PrintingRecorder",
    "TaskLaunch",
    "TaskRecorder",
    "kill_task_processes",
]

log = logging.getLogger(__name__)

_EXIT = re.compile(r"exited with code (-?\d+)")
_SIGNAL = re.compile(r"killed by signal (\d+)")
#: Contract variables the platform sets: a workflow's overrides cannot replace them.
_RESERVED = {ENV_INPUT_ITEMS, ENV_PARAMETERS, "STACWORKS_ALGORITHM_VERSION"}


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """What a task needs to know about its execution: ids for provenance, where to stage."""

    execution_id: str
    workflow_id: str
    workflow_version: int | None
    output_collection: str
    work_dir: Path
    run: int = 1
    renders: Mapping[str, Any] = field(default_factory=dict)
    stac_url: str | None = None


@dataclass(frozen=True, slots=True)
class TaskLaunch:
    """One prepared task run: its folders, resolved inputs, size, token and log."""

    task_dir: Path
    out_dir: Path
    items: list[InputItem]
    cpu: int
    memory: int
    token: str
    log: LogFn
    ctx: TaskContext


class TaskRecorder(Protocol):
    """Where task runs and their output lines are recorded (the database, or the terminal)."""

    def start_task_run(self, row: Mapping[str, Any]) -> int: ...

    def finish_task_run(self, task_run_id: int, *, status: str, exit_code: int | None,
                        duration: float, cost: float, error: str | None = None,
                        cause: str | None = None, outputs: Any = None) -> None: ...

    def log(self, line: LogLine) -> None: ...


class PrintingRecorder:
    """A recorder for ``stacworks workflow run``: task output goes to stderr, nothing is kept."""

    def __init__(self) -> None:
        self._next = 0

    def start_task_run(self, row: Mapping[str, Any]) -> int:
        self._next += 1
        return self._next

    def finish_task_run(self, task_run_id: int, **_: Any) -> None:
        return None

    def log(self, line: LogLine) -> None:
        print(f"[{line.state_path}] {line.message}", file=sys.stderr, flush=True)


def _json_value(value: Any, name: str, default: Any) -> Any:
    """ECS environment values are strings; locally a workflow may pass JSON values as is."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidInput(name, "is not valid JSON") from None
    return value


def _size(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _exit_code(cause: str | None) -> int | None:
    if not cause:
        return None
    if match := _EXIT.search(cause):
        return int(match.group(1))
    if match := _SIGNAL.search(cause):
        return -int(match.group(1))
    return None


def _slug(state_path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", state_path).strip("_") or "task"


def kill_task_processes(token: str) -> list[int]:
    """SIGKILL every process whose environment carries ``token`` (Linux ``/proc``); return pids.

    A task runs in its own session so it survives a crash of the server that started it; the
    restarted server uses this before running the task again, so it never runs twice at once.
    """
    needle = f"{ENV_TASK_TOKEN}={token}".encode()
    killed: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return killed
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except OSError:
                pass
    return killed


class AlgorithmTaskRunner:
    """Runs ECS tasks as local processes of registered algorithms (a ``TaskRunner``).

    Args:
        algorithms: where algorithms are looked up.
        context: the execution the tasks belong to.
        settings: sizes, passthrough environment, kill grace, prices.
        catalog: resolves catalog item references (None: only files and URLs).
        publisher: stores and registers outputs (None: outputs stay in the staging folder).
        recorder: persists task runs and log lines.
        base_env: extra variables every task gets (the object store's GDAL options).
    """

    def __init__(
        self,
        algorithms: AlgorithmSource,
        context: ExecutionContext,
        settings: ProcessingSettings,
        *,
        catalog: CatalogItems | None = None,
        publisher: OutputPublisher | None = None,
        recorder: TaskRecorder | None = None,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.algorithms = algorithms
        self.context = context
        self.settings = settings
        self.catalog = catalog
        self.publisher = publisher
        self.recorder: TaskRecorder = recorder or PrintingRecorder()
        self.base_env = dict(base_env or {})

    def run(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        """Resolve, stage, run and publish; raise ``AslError`` with a precise Error Name."""
        try:
            name, version = task_algorithm_ref(parameters)
            spec = self.algorithms.get(name, version)
            env_overrides = task_environment(parameters)
            refs = _json_value(env_overrides.get(ENV_INPUT_ITEMS), ENV_INPUT_ITEMS, [])
            if not isinstance(refs, list):
                raise InvalidInput(ENV_INPUT_ITEMS, "expected a JSON list of item URLs")
            params = _json_value(env_overrides.get(ENV_PARAMETERS), ENV_PARAMETERS, {})
            validate_parameters(spec, params)
        except ProcessingError as exc:
            raise AslError("Stacworks.InvalidTask", str(exc)) from None
        overrides = parameters.get("Overrides") or {}
        container = (overrides.get("ContainerOverrides") or [{}])[0]
        cpu = _size(overrides.get("Cpu") or container.get("Cpu"), spec.cpu)
        memory = _size(overrides.get("Memory") or container.get("Memory"), spec.memory)

        task_dir = (self.context.work_dir / self.context.execution_id
                    / f"run{self.context.run}-{_slug(ctx.state_path)}-try{ctx.retry_count}")
        shutil.rmtree(task_dir, ignore_errors=True)
        out_dir = task_dir / "out"
        out_dir.mkdir(parents=True)
        token = uuid.uuid4().hex
        task_run_id = self.recorder.start_task_run({
            "execution_id": self.context.execution_id, "run": self.context.run,
            "state_name": ctx.state_name, "state_path": ctx.state_path,
            "map_index": ctx.map_index, "retry_count": ctx.retry_count,
            "algorithm": spec.name, "algorithm_version": spec.version, "token": token,
            "cpu": cpu, "memory": memory,
        })
        started = time.monotonic()

        def finish(status: str, code: int | None, error: str | None = None,
                   cause: str | None = None, outputs: Any = None) -> None:
            duration = time.monotonic() - started
            cost = task_cost(cpu, memory, duration, self.settings).usd
            self.recorder.finish_task_run(task_run_id, status=status, exit_code=code,
                                          duration=duration, cost=cost, error=error,
                                          cause=cause, outputs=outputs)

        def line(message: str, stream: str = "log") -> None:
            self.recorder.log(LogLine(self.context.execution_id, task_run_id, ctx.state_path,
                                      ctx.map_index, stream, message, datetime.now(UTC)))

        try:
            items = resolve_items(refs, task_dir / "inputs", catalog=self.catalog)
            argv = self._command(spec)
        except ProcessingError as exc:
            line(str(exc), "log")
            finish("failed", None, "Stacworks.InvalidTask", str(exc))
            raise AslError("Stacworks.InvalidTask", str(exc)) from None
        env = self._environment(spec, env_overrides)
        env.update(contract_environment(
            items=items, output_dir=out_dir, parameters=params,
            execution_id=self.context.execution_id, state_name=ctx.state_name,
            map_index=ctx.map_index, algorithm=f"{spec.name}:{spec.version}", token=token,
        ))
        line(f"running {spec.name} {spec.version} on {len(items)} item(s)", "log")
        try:
            self._execute(spec, argv, env, TaskLaunch(task_dir, out_dir, items, cpu, memory,
                                                      token, line, ctx))
        except AslError as exc:
            status = "cancelled" if ctx.cancel.is_set() else "failed"
            finish(status, _exit_code(exc.cause), exc.error, exc.cause)
            raise
        prov = Provenance(
            algorithm=spec, parameters=params, workflow_id=self.context.workflow_id,
            workflow_version=self.context.workflow_version,
            execution_id=self.context.execution_id, collection=self.context.output_collection,
            state_name=ctx.state_name, renders=self.context.renders,
            stac_url=self.context.stac_url,
        )
        try:
            result = self._publish(out_dir, items, prov)
        except ProcessingError as exc:
            line(f"outputs rejected: {exc}", "log")
            finish("failed", 0, "Stacworks.InvalidOutput", str(exc))
            raise AslError("Stacworks.InvalidOutput", str(exc)) from None
        finish("succeeded", 0, outputs=result)
        return result

    def _command(self, spec: AlgorithmSpec) -> list[str]:
        """The argv of a task of ``spec`` (the Docker runner's differs)."""
        return local_argv(spec)

    def _execute(self, spec: AlgorithmSpec, argv: list[str], env: dict[str, str],
                 launch: TaskLaunch) -> None:
        """Run the task to its end; raise ``AslError`` (the Docker runner overrides this)."""
        ctx = launch.ctx
        run_command(argv, env=env, cwd=launch.task_dir, log=launch.log, heartbeat=ctx.heartbeat,
                    cancel=ctx.cancel, timeout_seconds=ctx.timeout_seconds,
                    kill_grace_seconds=self.settings.kill_grace_seconds)

    def _environment(self, spec: AlgorithmSpec, overrides: Mapping[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in self.settings.task_env_passthrough}
        env.update(self.base_env)
        for key, value in overrides.items():
            if key not in _RESERVED:
                env[key] = value if isinstance(value, str) else json.dumps(value)
        return env

    def _publish(self, out_dir: Path, items: list[Any], prov: Provenance) -> dict[str, Any]:
        if self.publisher is None:
            files = collect_outputs(out_dir, items, prov)
            return {"ExitCode": 0, "Items": [],
                    "Outputs": [{"item_id": f.item_id, "asset": f.asset, "path": str(f.path)}
                                for f in files]}
        published = self.publisher.publish(out_dir, items, prov)
        urls = [
            (f"{prov.stac_url.rstrip('/')}/collections/{it['collection']}/items/{it['id']}"
             if prov.stac_url else f"{it['collection']}/{it['id']}")
            for it in published
        ]
        shutil.rmtree(out_dir.parent, ignore_errors=True)  # outputs now live in the store
        return {"ExitCode": 0, "Items": urls,
                "Outputs": [{"collection": it["collection"], "id": it["id"],
                             "assets": sorted(it["assets"])} for it in published]}
