"""The Task state: one runner call per attempt, in a helper thread the executor can walk away
from when the timeout, the heartbeat or a cancellation says so."""

from __future__ import annotations

import logging
import threading
from typing import Any

from processing.asl._json import json_copy
from processing.asl._runtime import ExecutionRuntime, StateResult, Stopped, Visit, seconds_field
from processing.asl.errors import AslError, RuntimeFailure, TaskTimeout
from processing.asl.io import select_path
from processing.asl.runners import TaskContext, exception_to_error

logger = logging.getLogger("processing.asl.executor")

#: Upper bound between two checks of the deadlines while a task runs (wake-ups are exact).
_MAX_WAIT_SECONDS = 1.0


def run_task(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Task: InputPath, Parameters, the runner, ResultSelector, ResultPath, OutputPath."""
    state = visit.state
    parameters_template = ex.machine.compiled(state).parameters

    def attempt(retry_count: int) -> Any:
        ctx = ex.context(visit, retry_count)
        effective = select_path(state.get("InputPath", "$"), visit.value, ctx, field="InputPath")
        timeout = seconds_field(state, "TimeoutSeconds", effective, ctx)
        if timeout is None:
            timeout = ex.machine.default_task_timeout
        heartbeat = seconds_field(state, "HeartbeatSeconds", effective, ctx)
        parameters = (
            parameters_template.evaluate(effective, ctx)
            if parameters_template is not None
            else effective
        )
        result = invoke(ex, visit, state["Resource"], parameters, timeout, heartbeat, retry_count)
        ex.check_size(result, f"the result of task {visit.name!r}")
        return ex.finish(visit, result, ctx)

    return ex.with_retries(visit, attempt)


def invoke(
    ex: ExecutionRuntime,
    visit: Visit,
    resource: str,
    parameters: Any,
    timeout: float | None,
    heartbeat: float | None,
    retry_count: int,
) -> Any:
    """Run one attempt of a Task (or reuse its recorded result) and return the raw result.

    Raises:
        TaskTimeout: TimeoutSeconds or HeartbeatSeconds elapsed; the runner was cancelled.
        AslError: what the runner raised (other exceptions are named after their class).
        Stopped: the execution, a sibling branch or the Map was cancelled meanwhile.
    """
    name, key, lane = visit.name, visit.key, visit.frame.lane
    if ex.completed_tasks is not None and key in ex.completed_tasks:
        result = ex.completed_tasks[key]
        details = {"resource": resource, "output": result, "reused": True}
        ex.emit(lane, "TaskSucceeded", name, key, details)
        return result
    runner = ex.machine.runners.resolve(resource)
    if runner is None:
        raise RuntimeFailure(f"no task runner is registered for resource {resource!r}")
    ex.emit(
        lane,
        "TaskScheduled",
        name,
        key,
        {
            "resource": resource,
            "parameters": parameters,
            "timeout_seconds": timeout,
            "heartbeat_seconds": heartbeat,
            "retry_count": retry_count,
        },
    )
    scope = visit.frame.scope.child()
    wake = threading.Event()
    scope.on_cancel(wake.set)
    clock = ex.clock
    last_beat = [clock.monotonic()]
    map_indices = visit.frame.map_indices
    map_index = map_indices[-1] if map_indices else None

    def beat() -> None:
        last_beat[0] = clock.monotonic()

    def log(message: str, stream: str = "log") -> None:
        ex.log(visit, map_index, stream, message)

    ctx = TaskContext(
        execution_id=ex.id,
        state_name=name,
        state_path=key,
        map_index=map_index,
        timeout_seconds=timeout,
        heartbeat_seconds=heartbeat,
        cancel=scope.event,
        log=log,
        heartbeat=beat,
        retry_count=retry_count,
        map_indices=map_indices,
    )
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            # A copy: runners may mutate what they get, our values must stay immutable.
            outcome["result"] = runner.run(resource, json_copy(parameters), ctx)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            wake.set()

    thread = threading.Thread(target=target, name=f"asl-task-{name}", daemon=True)
    ex.emit(lane, "TaskStarted", name, key, {"resource": resource})
    started = clock.monotonic()
    thread.start()
    try:
        reason = _supervise(ex, scope, wake, outcome, started, timeout, heartbeat, last_beat)
        if reason and not outcome:
            scope.cancel()
            thread.join(ex.machine.cancel_grace_seconds)
            if thread.is_alive():
                logger.warning("task %s ignored its cancellation; abandoning it", key)
            if reason == "cancelled":
                raise Stopped
            error: AslError = TaskTimeout(
                f"Task {name!r} sent no heartbeat for {heartbeat} s"
                if reason == "heartbeat"
                else f"Task {name!r} ran longer than {timeout} s",
                heartbeat=reason == "heartbeat",
            )
            ex.emit(lane, "TaskTimedOut", name, key, error.as_output())
            raise error
        thread.join()
    finally:
        scope.close()
    if "error" in outcome:
        if visit.frame.scope.cancelled:
            raise Stopped
        failure = exception_to_error(outcome["error"])
        ex.emit(lane, "TaskFailed", name, key, failure.as_output())
        raise failure
    result = outcome.get("result")
    ex.emit(lane, "TaskSucceeded", name, key, {"resource": resource, "output": result})
    return result


def _supervise(
    ex: ExecutionRuntime,
    scope: Any,
    wake: threading.Event,
    outcome: dict[str, Any],
    started: float,
    timeout: float | None,
    heartbeat: float | None,
    last_beat: list[float],
) -> str:
    """Wait for the runner; return why we stopped waiting early ('' when it finished)."""
    clock = ex.clock
    while not outcome:
        now = clock.monotonic()
        wait = _MAX_WAIT_SECONDS
        if timeout is not None:
            left = started + timeout - now
            if left <= 0:
                return "timeout"
            wait = min(wait, left)
        if heartbeat is not None:
            left = last_beat[0] + heartbeat - now
            if left <= 0:
                return "heartbeat"
            wait = min(wait, left)
        deadline = ex.deadline
        if deadline is not None:
            left = deadline - now
            if left <= 0:
                ex.time_out()  # cancels every scope, this task's included
            wait = min(wait, max(left, 0.0))
        if scope.cancelled:
            return "cancelled"
        wake.wait(wait)
        wake.clear()
    return ""
