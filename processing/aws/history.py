"""Step Functions history, read the way the local executor writes it: each AWS event becomes
one of our history events (same type names), and each ECS task becomes a task run whose size,
times, exit code and cost come from the task description Step Functions returns.

Pure functions over event dicts, so a recorded history (a failure moto cannot produce) drives
the same code as a live one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from processing.asl import HistoryEvent

__all__ = [
    "EcsTask",
    "HistoryReader",
    "parse_time",
]


def parse_time(value: Any) -> datetime | None:
    """ECS/Step Functions times: datetimes, epoch seconds (or ms), or ISO 8601 strings."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            return parse_time(float(value))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return dict(value)
    return {}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _environment(parameters: Mapping[str, Any]) -> dict[str, str]:
    overrides = parameters.get("Overrides") or {}
    containers = overrides.get("ContainerOverrides") or [{}]
    env = containers[0].get("Environment") or []
    return {str(e.get("Name")): str(e.get("Value", "")) for e in env if isinstance(e, Mapping)}


@dataclass
class EcsTask:
    """One ECS task of an execution, from its TaskScheduled event to its end."""

    scheduled_id: int
    state_name: str
    map_index: int | None
    parameters: dict[str, Any]
    environment: dict[str, str]
    scheduled_at: datetime | None
    task_arn: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    status: str = "running"
    exit_code: int | None = None
    error: str | None = None
    cause: str | None = None
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def algorithm(self) -> tuple[str, str]:
        name, _, version = self.environment.get("STACWORKS_ALGORITHM", "").partition(":")
        return name, version

    @property
    def task_definition(self) -> str:
        return str(self.description.get("TaskDefinitionArn")
                   or self.parameters.get("TaskDefinition") or "")

    @property
    def image_digest(self) -> str | None:
        for container in self.description.get("Containers") or []:
            if container.get("ImageDigest"):
                return str(container["ImageDigest"])
        return None

    @property
    def size(self) -> tuple[int | None, int | None]:
        def number(value: Any) -> int | None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
        overrides = self.parameters.get("Overrides") or {}
        return (number(self.description.get("Cpu") or overrides.get("Cpu")),
                number(self.description.get("Memory") or overrides.get("Memory")))

    @property
    def duration_seconds(self) -> float | None:
        """Billed time: the container's start to stop (ECS times), else the history's."""
        if self.started_at and self.stopped_at:
            return max(0.0, (self.stopped_at - self.started_at).total_seconds())
        return None

    @property
    def task_id(self) -> str | None:
        return self.task_arn.rsplit("/", 1)[-1] if self.task_arn else None


def _describe(task: EcsTask, described: Mapping[str, Any], when: datetime | None,
              no_code: int | None) -> None:
    """Take what an ECS task description (a .sync Task's output or failure cause) tells:
    ARN, times and the first container's exit code (``no_code`` when none reported one)."""
    task.description = dict(described)
    task.task_arn = described.get("TaskArn") or task.task_arn
    task.started_at = parse_time(described.get("StartedAt")) or task.started_at
    task.stopped_at = parse_time(described.get("StoppedAt")) or when
    codes = [c.get("ExitCode") for c in described.get("Containers") or []
             if c.get("ExitCode") is not None]
    task.exit_code = int(codes[0]) if codes else no_code


@dataclass
class _Thread:
    state_name: str | None
    map_index: int | None
    scheduled: int | None


class HistoryReader:
    """Reads events in order (across polls) into our events and the ECS tasks they ran."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.last_id = 0
        self.tasks: dict[int, EcsTask] = {}
        self._threads: dict[int, _Thread] = {}

    def read(self, events: Iterable[Mapping[str, Any]]) -> tuple[list[HistoryEvent],
                                                                 list[EcsTask]]:
        """Our events for the new AWS events, and the tasks that ended among them."""
        ours: list[HistoryEvent] = []
        ended: list[EcsTask] = []
        for event in sorted(events, key=lambda e: int(e["id"])):
            event_id = int(event["id"])
            if event_id <= self.last_id:
                continue
            self.last_id = event_id
            ours.append(self._event(event, ended))
        return ours, ended

    def _event(self, event: Mapping[str, Any], ended: list[EcsTask]) -> HistoryEvent:
        kind = str(event["type"])
        event_id = int(event["id"])
        previous = int(event.get("previousEventId") or 0)
        details = _details(event)
        parent = self._threads.get(previous, _Thread(None, None, None))
        thread = _Thread(parent.state_name, parent.map_index, parent.scheduled)
        if kind.startswith("MapIteration"):
            thread.state_name, thread.map_index = details.get("name"), details.get("index")
        elif kind.endswith(("StateEntered", "StateExited")):
            thread.state_name = details.get("name") or thread.state_name
        if kind.startswith("MapState"):
            thread.map_index = None
        when = parse_time(event.get("timestamp"))
        if kind == "TaskScheduled" and details.get("resourceType") == "ecs":
            parameters = _json(details.get("parameters")) or {}
            env = _environment(parameters) if isinstance(parameters, Mapping) else {}
            index = env.get("STACWORKS_MAP_INDEX")
            self.tasks[event_id] = EcsTask(
                scheduled_id=event_id, state_name=thread.state_name or "",
                map_index=int(index) if index and index.isdigit() else thread.map_index,
                parameters=dict(parameters) if isinstance(parameters, Mapping) else {},
                environment=env, scheduled_at=when)
            thread.scheduled = event_id
        task = self.tasks.get(thread.scheduled) if thread.scheduled is not None else None
        if task is not None and kind.startswith("Task") and kind != "TaskScheduled":
            self._task_event(task, kind, details, when, ended)
        self._threads[event_id] = thread
        state_path = thread.state_name
        if thread.map_index is not None and state_path:
            state_path = f"{state_path}[{thread.map_index}]"
        return HistoryEvent(
            id=event_id, previous_event_id=previous,
            timestamp=(when or datetime.now(UTC)).isoformat(), type=kind,
            execution_id=self.execution_id, state_name=thread.state_name,
            state_path=state_path, details=details,
        )

    def _task_event(self, task: EcsTask, kind: str, details: Mapping[str, Any],
                    when: datetime | None, ended: list[EcsTask]) -> None:
        if kind == "TaskSubmitted":
            output = _json(details.get("output")) or {}
            tasks = output.get("Tasks") if isinstance(output, Mapping) else None
            if tasks:
                task.task_arn = tasks[0].get("TaskArn")
        elif kind == "TaskStarted":
            task.started_at = task.started_at or when
        elif kind == "TaskSucceeded":
            output = _json(details.get("output")) or {}
            _describe(task, output if isinstance(output, Mapping) else {}, when, no_code=0)
            task.status = "succeeded" if not task.exit_code else "failed"
            ended.append(task)
        elif kind in ("TaskFailed", "TaskTimedOut", "TaskSubmitFailed", "TaskStartFailed"):
            cause = _json(details.get("cause"))
            if isinstance(cause, Mapping):  # .sync failures carry the task description
                _describe(task, cause, when, no_code=None)
            else:
                task.stopped_at = when
            task.status = "failed"
            task.error = str(details.get("error") or "States.TaskFailed")
            task.cause = (cause.get("StoppedReason") if isinstance(cause, Mapping)
                          else details.get("cause"))
            ended.append(task)
