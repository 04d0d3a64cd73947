"""Jobs on AWS: each job is a Step Functions execution (named by the job id, so a retried start
never runs twice), followed through DescribeExecution + GetExecutionHistory with back-off, and
shown through the same tables as local jobs: history events, task runs, logs (from CloudWatch
Logs), costs (from each task's real duration) and outputs (read from S3, registered with
provenance)."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from objectstore import ObjectStore
from objectstore.settings import StoreSettings
from processing.algorithms import AlgorithmSpec
from processing.aws.asl import ENV_OUTPUT_PREFIX, to_aws
from processing.aws.clients import AwsClients
from processing.aws.history import EcsTask, HistoryReader
from processing.aws.outputs import AwsOutputPublisher, aws_provenance
from processing.aws.settings import AwsProcessingSettings
from processing.aws.taskdefs import AwsAlgorithmRegistry, TaskDefinitionRef, TaskDefinitions
from processing.aws.workflows import AwsWorkflowStore
from processing.contract import ENV_INPUT_ITEMS, ENV_PARAMETERS, CatalogItems, resolve_items
from processing.costs import task_cost
from processing.db import Database
from processing.errors import NoSuchJob, ProcessingError
from processing.executions import ALGORITHM_PREFIX, ExecutionManager, _Handle
from processing.journal import LogLine, job_status
from processing.outputs import Provenance
from processing.settings import ProcessingSettings

__all__ = ["AwsBackendError", "AwsExecutionManager", "PlatformJobs", "s3_output_root"]

log = logging.getLogger(__name__)

#: Consecutive failed polls before a job is given up (the execution may still run on AWS).
_MAX_POLL_ERRORS = 10


class PlatformJobs(Protocol):
    """Jobs of the platform's own tasks (``stacworks ingest --backend aws``): their process id
    (``platform:...``, which no workflow or algorithm can have), the task they run, and what
    is done with each task's outputs. Only executions recorded under that process id get
    these tasks and this publishing, so no user workflow can run or publish through them."""

    process_id: str

    @property
    def spec(self) -> AlgorithmSpec: ...
    def task_role_arn(self) -> str | None: ...
    def execution_role_arn(self) -> str | None: ...
    def publish(self, row: Mapping[str, Any], task: EcsTask, key_prefix: str,
                provenance: Mapping[str, Any]) -> dict[str, Any]: ...
    def task_failed(self, row: Mapping[str, Any], task: EcsTask, cause: str) -> None: ...
    def job_finished(self, row: Mapping[str, Any], status: str) -> None: ...


class AwsBackendError(ProcessingError):
    """The aws back end is misconfigured or AWS refused a call (details in the server log)."""


def s3_output_root(store_settings: StoreSettings | None, work_prefix: str) -> str:
    """``s3://bucket/prefix/{work_prefix}``; the aws back end needs an S3 object store."""
    location = store_settings.location if store_settings is not None else None
    if location is None or location.kind != "s3" or not location.bucket:
        raise AwsBackendError(
            "STACWORKS_PROCESSING_BACKEND=aws needs an S3 object store "
            "(STACWORKS_STORE=s3://bucket/prefix): Fargate tasks read and write S3, not this "
            "machine's folders")
    prefix = f"{location.prefix.strip('/')}/" if location.prefix.strip("/") else ""
    return f"s3://{location.bucket}/{prefix}{work_prefix.strip('/')}"


def _json(value: Any, default: Any) -> Any:
    if not isinstance(value, str) or not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


@dataclass
class _LogCursor:
    """How far a task's CloudWatch Logs stream has been copied into the job's logs."""

    token: str | None = None
    lines: int = 0
    size: int = 0
    closed: bool = False  # the per-task bound was reached
    skip: int = 0  # lines a previous server copied (a followed-again execution reads anew)


class AwsExecutionManager(ExecutionManager):
    """The execution manager of ``STACWORKS_PROCESSING_BACKEND=aws`` (same API as local)."""

    def __init__(self, *, db: Database, settings: ProcessingSettings, dsn: str, home: Path,
                 object_store: ObjectStore, store_settings: StoreSettings | None = None,
                 aws_settings: AwsProcessingSettings | None = None,
                 clients: AwsClients | None = None) -> None:
        super().__init__(db=db, settings=settings, dsn=dsn, home=home,
                         object_store=object_store, store_settings=store_settings)
        self.aws = aws_settings or AwsProcessingSettings()
        self.output_root = s3_output_root(store_settings, self.aws.work_prefix)
        self.clients = clients or AwsClients(self.aws)
        self.task_definitions = TaskDefinitions(self.clients)
        self.aws_algorithms = AwsAlgorithmRegistry(db, self.task_definitions)
        self.algorithms = self.aws_algorithms  # registering also registers the task definition
        self.workflows = AwsWorkflowStore(db, self)  # storing a version deploys it
        self.platform_jobs: dict[str, PlatformJobs] = {}
        #: Made on first use (ingest's imports are heavy; most commands never need them).
        self.platform_factories: dict[str, Callable[[AwsExecutionManager], PlatformJobs]] = {}
        self._deploy_lock = threading.Lock()

    # -- state machines ------------------------------------------------------------------------

    def state_machine_name(self, process_id: str) -> str:
        """Workflows by id; algorithms run as processes get ``algorithm-NAME``."""
        if process_id.startswith(ALGORITHM_PREFIX):
            process_id = "algorithm-" + process_id.removeprefix(ALGORITHM_PREFIX)
        # "platform.x": a dot no workflow id has, so no workflow shares the machine.
        return self.aws.state_machine_name(process_id.replace(":", "."))

    def export(self, definition: Mapping[str, Any], *,
               platform: PlatformJobs | None = None) -> dict[str, Any]:
        """The document deployed for ``definition`` (see :func:`processing.aws.asl.to_aws`);
        ``platform``'s task resolves only in its own jobs' documents."""
        registry: Any = self.aws_algorithms
        if platform is not None:
            registry = _PlatformResolver(self, platform)
        return to_aws(definition, registry, self.aws, output_root=self.output_root)

    def platform(self, process_id: str) -> PlatformJobs | None:
        """The platform jobs of ``process_id`` (None: a workflow or an algorithm)."""
        if process_id not in self.platform_jobs and process_id in self.platform_factories:
            self.platform_jobs[process_id] = self.platform_factories.pop(process_id)(self)
        return self.platform_jobs.get(process_id)

    def platform_task(self, platform: PlatformJobs) -> TaskDefinitionRef:
        """The platform task's registered revision (registered on first use)."""
        try:
            return self.task_definitions.find(platform.spec)
        except ProcessingError:
            return self.task_definitions.register(
                platform.spec, task_role_arn=platform.task_role_arn(),
                execution_role_arn=platform.execution_role_arn())
        except (BotoCoreError, ClientError) as exc:
            log.warning("finding the task definition of %s failed: %s", platform.spec.name, exc)
            raise AwsBackendError(f"ECS did not answer ({type(exc).__name__})") from None

    def submit_platform(self, platform: PlatformJobs, record: Mapping[str, Any]) -> None:
        """Record and queue a job of the platform's own task (the caller checked the rights:
        these write into any collection)."""
        self.executions.create({**record, "process_id": platform.process_id,
                                "workflow_id": platform.process_id, "workflow_version": None})
        self._schedule(str(record["id"]))

    def deploy(self, process_id: str, definition: Mapping[str, Any]) -> str:
        """Create or update the STANDARD state machine of a process; return its ARN."""
        if not self.aws.state_machine_role_arn:
            raise AwsBackendError("STACWORKS_PROCESSING_AWS_STATE_MACHINE_ROLE_ARN is not set")
        name = self.state_machine_name(process_id)
        document = json.dumps(self.export(definition,
                                          platform=self.platform(process_id)),
                              indent=1, sort_keys=True)
        sfn = self.clients.sfn
        with self._deploy_lock:
            arn = self._find_state_machine(name)
            if arn is not None:
                current = sfn.describe_state_machine(stateMachineArn=arn)
                if current["definition"] != document:
                    sfn.update_state_machine(stateMachineArn=arn, definition=document,
                                             roleArn=self.aws.state_machine_role_arn)
                return arn
            created = sfn.create_state_machine(name=name, definition=document,
                                               roleArn=self.aws.state_machine_role_arn,
                                               type="STANDARD")
        return str(created["stateMachineArn"])

    def state_machine_of(self, process_id: str) -> str | None:
        """The ARN of the workflow's state machine, if it is deployed."""
        return self._find_state_machine(self.state_machine_name(process_id))

    def _find_state_machine(self, name: str) -> str | None:
        for page in self.clients.sfn.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                if machine["name"] == name:
                    return str(machine["stateMachineArn"])
        return None

    def delete_state_machine(self, process_id: str) -> str | None:
        """Delete the state machine of a process, if there is one; return its ARN."""
        with self._deploy_lock:
            arn = self._find_state_machine(self.state_machine_name(process_id))
            if arn is not None:
                self.clients.sfn.delete_state_machine(stateMachineArn=arn)
        return arn

    @staticmethod
    def execution_arn(state_machine_arn: str, execution_id: str) -> str:
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{execution_id}"

    def _snapshot_key(self, execution_id: str, index: int) -> str:
        return f"{self.aws.work_prefix.strip('/')}/{execution_id}/inputs/{index:03d}.json"

    def _snapshot_inputs(self, row: Mapping[str, Any]) -> list[str]:
        """Each input item as read now (under the caller's rights, checked at submit), as JSON
        in S3: tasks read these instead of the catalog, as local tasks read their snapshots,
        so neither a private collection nor the API's reachability stops a Fargate task."""
        refs = list((row["input"] or {}).get("items") or [])
        if self.platform(row["process_id"]) is not None:  # snapshots the platform job wrote
            return [str(ref) for ref in refs]
        urls: list[str] = []
        with tempfile.TemporaryDirectory(prefix="stacworks-aws-") as tmp:
            items = resolve_items(refs, Path(tmp), catalog=CatalogItems(self.dsn))
            for index, found in enumerate(items):
                key = self._snapshot_key(row["id"], index)
                self.object_store.put_bytes(key, json.dumps(found.item).encode())
                urls.append(f"{self.output_root}/{row['id']}/inputs/{index:03d}.json")
        return urls

    def _original_refs(self, row: Mapping[str, Any], urls: list[Any]) -> list[str]:
        """The catalog references behind snapshot URLs (for provenance and outputs)."""
        refs = list((row["input"] or {}).get("items") or [])
        prefix = f"{self.output_root}/{row['id']}/inputs/"
        found: list[str] = []
        for url in urls:
            name = str(url).removeprefix(prefix)
            index = name.removesuffix(".json")
            found.append(refs[int(index)] if str(url).startswith(prefix) and index.isdigit()
                         and int(index) < len(refs) else str(url))
        return found

    def adopt(self, process_id: str, arn: str, execution_input: Mapping[str, Any], *,
              principal: str | None, context: Mapping[str, Any]) -> dict[str, Any]:
        """A job for an execution Step Functions started without us (an EventBridge schedule),
        under the execution's name: admitted by the budgets like a submitted run (over a hard
        limit it is stopped on AWS and recorded as failed), then followed like our own runs, so
        its task runs, logs, costs and outputs are the platform's."""
        name = arn.rsplit(":", 1)[-1]
        with contextlib.suppress(NoSuchJob):
            return self.executions.get(name)  # adopted already (another server, a retry)
        process = self.process(process_id)
        workflow = process.workflow
        items = [str(i) for i in execution_input.get("items") or []]
        parameters = execution_input.get("parameters")
        record: dict[str, Any] = {
            "id": name, "process_id": process.id, "workflow_id": workflow.id,
            "workflow_version": workflow.version or None,
            "output_collection": workflow.collection, "definition": workflow.definition,
            "context": {"renders": workflow.renders, "stac_url": None, "execution_arn": arn,
                        **context},
            "input": {"items": items,
                      "parameters": dict(parameters) if isinstance(parameters, Mapping) else {}},
            "principal": principal,
        }
        admission = (self.admission(process, len(items)) if self.admission is not None
                     else contextlib.nullcontext((None, {})))
        try:
            with admission as (conn, admitted):
                self.executions.create(
                    {**record, "context": {**record["context"], **admitted}}, conn)
        except ProcessingError as exc:  # over a hard budget: it must not go on running
            self._stop_execution(arn, "Stacworks.BudgetExceeded", str(exc))
            self.executions.create(record)
            self.executions.finish(name, "failed", error="Stacworks.BudgetExceeded",
                                   cause=str(exc))
            return self.executions.get(name)
        self._schedule(name)
        return self.executions.get(name)

    def _start(self, row: Mapping[str, Any]) -> str:
        adopted = (row.get("context") or {}).get("execution_arn")
        if adopted:  # started by EventBridge: follow it, start nothing
            return str(adopted)
        machine = self.deploy(row["process_id"], row["definition"])
        execution_input = {**(row["input"] or {}), "items": self._snapshot_inputs(row)}
        try:
            started = self.clients.sfn.start_execution(
                stateMachineArn=machine, name=row["id"], input=json.dumps(execution_input))
            return str(started["executionArn"])
        except ClientError as exc:  # a retried start: follow the one already running
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return self.execution_arn(machine, row["id"])

    # -- running -------------------------------------------------------------------------------

    def _recover(self, row: Mapping[str, Any], cause: str) -> None:
        """Take up a job a stopped server was following. Its Step Functions execution and
        Fargate tasks went on without that server, so nothing is abandoned, killed or counted
        as a crash, and ``on_restart`` (which is about lost local work) does not apply: the
        execution is followed again under the same run, its recorded task runs kept."""
        log.info("following execution %s again (%s)", row["id"], cause)
        self._schedule(row["id"])

    def _execution_arn_of(self, row: Mapping[str, Any]) -> str | None:
        """The ARN a started job's execution has (found without deploying anything: the
        job's definition may be an older version than the state machine's)."""
        adopted = (row.get("context") or {}).get("execution_arn")
        if adopted:
            return str(adopted)
        machine = self.state_machine_of(row["process_id"])
        return self.execution_arn(machine, row["id"]) if machine else None

    def _started(self, row: Mapping[str, Any]) -> str | None:
        """The execution of a job a previous server claimed, if it exists on Step Functions
        (a server can stop between claiming a job and starting its execution)."""
        if row["status"] != "running" or not row["run"]:
            return None
        arn = self._execution_arn_of(row)
        if arn is None:
            return None
        try:
            self.clients.sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise
        return arn

    def _run(self, execution_id: str, handle: _Handle) -> None:
        row = self.executions.get(execution_id)
        arn: str | None = self._started(row)
        if arn is not None:  # followed again after a restart: same run, same task runs
            if row["cancel_requested"]:
                handle.cancel.set()  # stopped on AWS by the follower, the abort recorded
            self._follow(row, int(row["run"]), arn, handle, resumed=True)
            return
        if row["cancel_requested"] or handle.cancel.is_set():
            if not handle.interrupted:
                self.executions.finish(execution_id, "dismissed", cause="cancelled")
            return
        run = self.executions.claim(execution_id, self.owner)
        try:
            arn = self._start(row)
        except (BotoCoreError, ClientError, ProcessingError) as exc:
            log.warning("cannot start execution %s on Step Functions: %s", execution_id, exc)
            self.executions.finish(execution_id, "failed", error="Stacworks.StartFailed",
                                   cause=str(exc) if isinstance(exc, ProcessingError)
                                   else f"Step Functions refused the execution "
                                        f"({type(exc).__name__})")
            return
        self._follow(row, run, arn, handle)

    def _history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self.clients.sfn.get_paginator("get_execution_history").paginate(
                executionArn=arn, includeExecutionData=True):
            events += page["events"]
        return events

    def _follow(self, row: Mapping[str, Any], run: int, arn: str, handle: _Handle, *,
                resumed: bool = False) -> None:
        """Poll until the execution ends (back-off while nothing happens). ``resumed``: a
        previous server followed this run; its task runs are matched to the history's tasks
        by their output prefix (unique per task), and what it recorded is not recorded again
        (no second cost, publication or copy of a log line)."""
        execution_id = row["id"]
        reader = HistoryReader(execution_id)
        task_runs: dict[int, int] = {}
        cursors: dict[int, _LogCursor] = {}
        recorded = ({r["token"]: r for r in self.executions.task_runs(execution_id)
                     if r["run"] == run and r["token"]} if resumed else {})
        closed: set[int] = set()  # task runs a previous server finished
        rejected: list[str] = []
        delay = self.aws.poll_min_seconds
        stopped = False
        errors = 0
        while True:
            try:
                described = self.clients.sfn.describe_execution(executionArn=arn)
                history = self._history(arn)
                errors = 0
            except (BotoCoreError, ClientError) as exc:  # throttling, a network blip
                errors += 1
                if errors >= _MAX_POLL_ERRORS:
                    raise
                log.warning("polling %s failed (%s); retrying", execution_id, exc)
                handle.cancel.wait(min(self.aws.poll_max_seconds,
                                       self.aws.poll_min_seconds * 2 ** errors))
                if handle.interrupted:
                    return
                continue
            events, ended = reader.read(history)
            for task in reader.tasks.values():
                if task.scheduled_id in task_runs:
                    continue
                prior = recorded.pop(task.environment.get(ENV_OUTPUT_PREFIX, ""), None)
                if prior is None:
                    task_runs[task.scheduled_id] = self._start_task_run(row, run, task)
                    continue
                task_runs[task.scheduled_id] = int(prior["id"])
                cursors[task.scheduled_id] = self._copied(int(prior["id"]))
                if prior["status"] != "running":
                    closed.add(task.scheduled_id)
                    if (prior["error"] == "Stacworks.InvalidOutput"
                            and self.platform(row["process_id"]) is None):
                        rejected.append(f"{task.state_name}: {prior['cause']}")
            self.executions.write_batch(execution_id, run, events, [])
            copied = 0
            for task in reader.tasks.values():  # live logs of the tasks still running
                if task.status == "running":
                    copied += self._copy_logs(execution_id, task, task_runs[task.scheduled_id],
                                              cursors.setdefault(task.scheduled_id,
                                                                 _LogCursor()),
                                              pages=self.aws.log_pages_per_poll)
            for task in ended:
                if task.scheduled_id in closed:
                    continue
                problem = self._finish_task_run(row, task, task_runs[task.scheduled_id],
                                                cursors.setdefault(task.scheduled_id,
                                                                   _LogCursor()))
                if problem:
                    rejected.append(problem)
            if described["status"] != "RUNNING":
                for task in reader.tasks.values():  # lines CloudWatch ingested late
                    self._copy_logs(execution_id, task, task_runs[task.scheduled_id],
                                    cursors.setdefault(task.scheduled_id, _LogCursor()))
                self._finish_job(row, described, task_runs, reader, rejected, closed)
                return
            if handle.interrupted:
                log.info("stopped following %s (shutdown); the next server follows it",
                         execution_id)
                self.executions.take_over(execution_id, self.owner, None)  # type: ignore[arg-type]
                return
            if handle.cancel.is_set() and not stopped:
                self._stop_execution(arn)
                stopped = True
            delay = self.aws.poll_min_seconds if events or copied else min(
                delay * 2, self.aws.poll_max_seconds)
            handle.cancel.wait(delay if not handle.cancel.is_set() else
                               self.aws.poll_min_seconds)

    def _stop_execution(self, arn: str, error: str = "Stacworks.Dismissed",
                        cause: str = "dismissed through the jobs API") -> None:
        try:
            self.clients.sfn.stop_execution(executionArn=arn, error=error, cause=cause[:32768])
        except ClientError as exc:
            log.warning("StopExecution %s: %s", arn, exc)

    def _finish_job(self, row: Mapping[str, Any], described: Mapping[str, Any],
                    task_runs: Mapping[int, int], reader: HistoryReader,
                    rejected: list[str], closed: set[int] | None = None) -> None:
        for task in reader.tasks.values():  # tasks an abort left without an end event
            if task.status == "running" and task.scheduled_id not in (closed or set()):
                self.executions.finish_task_run(task_runs[task.scheduled_id],
                                                status="cancelled", exit_code=None,
                                                duration=0.0, cost=0.0,
                                                error="States.Aborted", cause="stopped")
        status = job_status(str(described["status"]))
        error, cause = described.get("error"), described.get("cause")
        output = _json(described.get("output"), None)
        if status == "dismissed":
            cause = cause or "cancelled"
        elif status == "successful" and rejected:
            status, error, cause = "failed", "Stacworks.InvalidOutput", "; ".join(rejected)
        self.executions.finish(row["id"], status, output=output, error=error, cause=cause)
        platform = self.platform(row["process_id"])
        if platform is not None:
            platform.job_finished(row, status)

    # -- task runs -----------------------------------------------------------------------------

    def _start_task_run(self, row: Mapping[str, Any], run: int, task: EcsTask) -> int:
        name, version = task.algorithm
        cpu, memory = task.size
        if cpu is None or memory is None:
            found = self._spec(row, name, version)
            if found is not None:
                cpu, memory = cpu or found.cpu, memory or found.memory
        return self.executions.start_task_run({
            "execution_id": row["id"], "run": run, "state_name": task.state_name,
            "state_path": (f"{task.state_name}[{task.map_index}]" if task.map_index is not None
                           else task.state_name),
            "map_index": task.map_index, "retry_count": 0, "algorithm": name,
            "algorithm_version": version, "token": task.environment.get(ENV_OUTPUT_PREFIX, ""),
            "cpu": cpu, "memory": memory,
        })

    def _finish_task_run(self, row: Mapping[str, Any], task: EcsTask, task_run_id: int,
                         cursor: _LogCursor | None = None) -> str | None:
        """Close the task run: logs, cost, outputs; return why outputs were rejected, if so."""
        self._copy_logs(row["id"], task, task_run_id, cursor or _LogCursor())
        name, version = task.algorithm
        cpu, memory = task.size
        spec = self._spec(row, name, version)
        platform = self.platform(row["process_id"])
        cpu, memory = cpu or (spec.cpu if spec else 0), memory or (spec.memory if spec else 0)
        seconds = task.duration_seconds or 0.0
        cost = task_cost(cpu, memory, seconds, self.settings).usd if seconds else 0.0
        if task.status != "succeeded" or spec is None:
            self.executions.finish_task_run(task_run_id, status="failed",
                                            exit_code=task.exit_code, duration=seconds,
                                            cost=cost, error=task.error or "States.TaskFailed",
                                            cause=task.cause or "the task failed")
            if platform is not None:
                platform.task_failed(row, task, task.cause or task.error or "the task failed")
            return None
        try:
            if platform is not None:
                outputs = platform.publish(row, task, self._task_prefix(task),
                                           aws_provenance(task, cpu, memory))
            else:
                outputs = self._publish(row, task, spec, cpu, memory)
        except ProcessingError as exc:
            self.executions.finish_task_run(task_run_id, status="failed", exit_code=0,
                                            duration=seconds, cost=cost,
                                            error="Stacworks.InvalidOutput", cause=str(exc))
            if platform is not None:  # recorded on its own records (an ingest product),
                platform.task_failed(row, task, str(exc))  # as a caught task failure is
                return None
            return f"{task.state_name}: {exc}"
        self.executions.finish_task_run(task_run_id, status="succeeded",
                                        exit_code=task.exit_code or 0, duration=seconds,
                                        cost=cost, outputs=outputs)
        return None

    def _spec(self, row: Mapping[str, Any], name: str, version: str) -> AlgorithmSpec | None:
        """The algorithm (or, in a platform job, the platform task) a task ran."""
        platform = self.platform(row["process_id"])
        if platform is not None and platform.spec.name == name:
            return platform.spec
        try:
            return self.algorithms.get(name, version or None)
        except ProcessingError:
            log.warning("task of unknown algorithm %s:%s in %s", name, version, row["id"])
            return None

    def _task_prefix(self, task: EcsTask) -> str:
        """The store key prefix (``…/``) of a task's outputs, checked to be ours."""
        prefix = task.environment.get(ENV_OUTPUT_PREFIX, "")
        root = self.output_root.rstrip("/") + "/"
        if not prefix.startswith(root) or ".." in prefix:
            raise ProcessingError(f"{ENV_OUTPUT_PREFIX} {prefix!r} is outside {root}")
        return self.aws.work_prefix.strip("/") + "/" + prefix[len(root):].strip("/") + "/"

    def _publish(self, row: Mapping[str, Any], task: EcsTask, spec: Any, cpu: int,
                 memory: int) -> dict[str, Any]:
        """Read the task's outputs from S3 and register them (none written: nothing to do)."""
        key_prefix = self._task_prefix(task)
        keys = [info.key for info in self.object_store.list(key_prefix)]
        if not keys:
            return {"ExitCode": 0, "Items": [], "Outputs": []}
        urls = _json(task.environment.get(ENV_INPUT_ITEMS), [])
        refs = self._original_refs(row, urls if isinstance(urls, list) else [])
        params = _json(task.environment.get(ENV_PARAMETERS), {})
        stac_url = (row["context"] or {}).get("stac_url")
        with tempfile.TemporaryDirectory(prefix="stacworks-aws-") as tmp:
            out_dir = Path(tmp) / "out"
            for key in keys:
                target = out_dir / key[len(key_prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.object_store.download(key, target)
            items = resolve_items(refs, Path(tmp) / "inputs", catalog=CatalogItems(self.dsn))
            prov = Provenance(
                algorithm=spec, parameters=params, workflow_id=row["workflow_id"],
                workflow_version=row["workflow_version"], execution_id=row["id"],
                collection=row["output_collection"], state_name=task.state_name,
                renders=(row["context"] or {}).get("renders") or {}, stac_url=stac_url)
            publisher = AwsOutputPublisher(self.object_store, self.dsn,
                                           aws_provenance(task, cpu, memory))
            published = publisher.publish(out_dir, items, prov)
        urls = [(f"{stac_url.rstrip('/')}/collections/{it['collection']}/items/{it['id']}"
                 if stac_url else f"{it['collection']}/{it['id']}") for it in published]
        return {"ExitCode": 0, "Items": urls, "TaskArn": task.task_arn,
                "Outputs": [{"collection": it["collection"], "id": it["id"],
                             "assets": sorted(it["assets"])} for it in published]}

    def _copied(self, task_run_id: int) -> _LogCursor:
        """A log cursor past the lines a previous server copied for this task run."""
        lines, size, truncated = self.executions.log_totals(task_run_id)
        kept = lines - (1 if truncated else 0)  # the truncation notice is ours, not a line
        return _LogCursor(lines=kept, size=size, closed=truncated, skip=kept)

    def log_stream(self, task: EcsTask) -> str | None:
        """The task's awslogs stream: ``{prefix}/{container}/{task id}``, prefix = container =
        the algorithm (:func:`processing.aws.taskdefs.task_definition_input`)."""
        name = task.algorithm[0]
        return f"{name}/{name}/{task.task_id}" if task.task_id and name else None

    def _copy_logs(self, execution_id: str, task: EcsTask, task_run_id: int,
                   cursor: _LogCursor, *, pages: int | None = None) -> int:
        """Copy what the task's stream has gained since ``cursor`` into the job's logs, at most
        ``pages`` GetLogEvents pages (all when None) and within the per-task bounds; return
        the number of lines copied. Called on each poll while the task runs (live logs), at
        its end, and once more when the execution ends (CloudWatch ingests with a delay)."""
        stream = self.log_stream(task)
        if stream is None or cursor.closed:
            return 0
        path = (f"{task.state_name}[{task.map_index}]" if task.map_index is not None
                else task.state_name)
        lines: list[LogLine] = []

        def line(message: str, when: datetime) -> None:
            lines.append(LogLine(execution_id, task_run_id, path, task.map_index, "log",
                                 message, when))

        read = 0
        try:
            while pages is None or read < pages:
                kwargs: dict[str, Any] = {"logGroupName": self.aws.log_group,
                                          "logStreamName": stream, "startFromHead": True,
                                          "limit": self.aws.log_page_lines}
                if cursor.token:
                    kwargs["nextToken"] = cursor.token
                page = self.clients.logs.get_log_events(**kwargs)
                read += 1
                events = page.get("events") or []
                for event in events:
                    if cursor.skip:
                        cursor.skip -= 1
                        continue
                    message = str(event.get("message", "")).rstrip("\n")
                    size = len(message.encode())
                    if (cursor.lines >= self.aws.log_max_lines_per_task
                            or cursor.size + size > self.aws.log_max_bytes_per_task):
                        line(f"[stacworks: log truncated after {cursor.lines} lines "
                             f"({cursor.size} bytes; STACWORKS_PROCESSING_AWS_LOG_MAX_*); the "
                             f"whole log is in CloudWatch Logs {self.aws.log_group} {stream}]",
                             datetime.now(UTC))
                        cursor.closed = True
                        break
                    cursor.lines += 1
                    cursor.size += size
                    line(message, datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000,
                                                         UTC))
                following = page.get("nextForwardToken")
                if cursor.closed or not events or following in (None, cursor.token):
                    cursor.token = following or cursor.token
                    break
                cursor.token = following
        except ClientError as exc:  # no stream yet: the task is still starting
            code = exc.response.get("Error", {}).get("Code")
            if code != "ResourceNotFoundException":
                log.warning("cannot read logs of %s: %s", stream, code)
        if lines:
            self.executions.write_batch(execution_id, 0, [], lines)
        return len(lines)

    # -- control -------------------------------------------------------------------------------

    # ``cancel`` (inherited) dismisses a queued job, or stops a running one through these
    # hooks and then waits for the follower to record the abort.

    def _dismiss(self, execution_id: str) -> None:
        """Record a queued job as dismissed; there is no local staging to remove."""
        self.executions.finish(execution_id, "dismissed", cause="cancelled")

    def _stop_running(self, execution_id: str, row: Mapping[str, Any]) -> None:
        """StopExecution on Step Functions; a failure is logged and the follower goes on."""
        try:
            arn = self._execution_arn_of(row)
            if arn is not None:
                self._stop_execution(arn)
        except (BotoCoreError, ClientError, ProcessingError) as exc:
            log.warning("cannot stop %s: %s", execution_id, exc)


class _PlatformResolver:
    """Resolves the platform task of one platform job, and every algorithm as usual."""

    def __init__(self, manager: AwsExecutionManager, platform: PlatformJobs) -> None:
        self.manager, self.platform = manager, platform

    def resolve(self, name: str, version: str | None = None) -> TaskDefinitionRef:
        if name == self.platform.spec.name:
            return self.manager.platform_task(self.platform)
        return self.manager.aws_algorithms.resolve(name, version)
