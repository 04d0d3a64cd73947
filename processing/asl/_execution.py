"""One execution: the interpreter loop, history events, deadlines, Retry and Catch."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from processing.asl._json import json_size
from processing.asl._parallel import run_map, run_parallel
from processing.asl._runtime import (
    ExecutionResult,
    ExecutionRuntime,
    ExecutionStatus,
    Frame,
    Lane,
    LogRecord,
    Scope,
    StateResult,
    Stopped,
    Visit,
    next_state,
    task_key,
)
from processing.asl._states import run_choice, run_fail, run_pass, run_succeed, run_wait
from processing.asl._task import run_task
from processing.asl.errors import AslError, DataLimitExceeded, RuntimeFailure
from processing.asl.events import EventSink, HistoryEvent
from processing.asl.io import apply_result_path, select_path
from processing.asl.retry import DEFAULT_MAX_ATTEMPTS, find_handler, retry_delay
from processing.asl.timestamps import format_timestamp

if TYPE_CHECKING:
    from processing.asl.executor import StateMachine

logger = logging.getLogger("processing.asl.executor")

Handler = Callable[[ExecutionRuntime, Visit], StateResult]


class Execution:
    """One run of a :class:`~processing.asl.executor.StateMachine`; also its handle.

    ``run()`` interprets the machine in the calling thread; ``abort()`` may be called from any
    thread; ``wait()`` blocks until the end. It implements
    :class:`~processing.asl._runtime.ExecutionRuntime`, the only part of it the state handlers
    use; underscored methods are the interpreter loop's own.
    """

    def __init__(
        self,
        machine: StateMachine,
        input: Any,
        *,
        name: str | None = None,
        execution_id: str | None = None,
        completed_tasks: Mapping[str, Any] | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.machine = machine
        self.input = input
        self.name = name or uuid.uuid4().hex
        self.id = execution_id or (
            f"arn:aws:states:local:000000000000:execution:{machine.name}:{self.name}"
        )
        self.completed_tasks = completed_tasks
        self.clock = machine.clock
        self.start_time = self.clock.now()
        self.status: ExecutionStatus = "RUNNING"
        self.result: ExecutionResult | None = None
        self._sink = events if events is not None else machine.events
        # Reentrant: an event sink may call abort() from inside an emit.
        self._lock = threading.RLock()
        self._event_id = 0
        self._started = False
        self._root = Scope()
        self._stop_reason: ExecutionStatus | None = None
        self._stop_cause = ""
        self._done = threading.Event()
        timeout = machine.definition.get("TimeoutSeconds")
        self._deadline = self.clock.monotonic() + timeout if timeout is not None else None
        self._ctx_execution = {
            "Id": self.id,
            "Input": input,
            "Name": self.name,
            "StartTime": format_timestamp(self.start_time),
        }
        self._ctx_machine = {"Id": machine.state_machine_id, "Name": machine.name}

    # ---------------------------------------------------------------- the handle

    def abort(self, cause: str = "aborted") -> None:
        """Stop the execution: running tasks are cancelled and the status becomes ABORTED."""
        self._stop("ABORTED", cause)

    def wait(self, timeout: float | None = None) -> ExecutionResult | None:
        """Wait for the end of the execution; None if ``timeout`` passed first."""
        self._done.wait(timeout)
        return self.result

    def run(self) -> ExecutionResult:
        """Interpret the state machine from ``StartAt`` to its end (once per execution)."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"execution {self.name} was already run")
            self._started = True
        lane = Lane()
        started = {
            "input": self.input,
            "name": self.name,
            "state_machine_id": self.machine.state_machine_id,
        }
        self.emit(lane, "ExecutionStarted", None, None, started)
        output: Any = None
        error: str | None = None
        cause: str | None = None
        status: ExecutionStatus
        try:
            self.check_size(self.input, "the execution input")
            output = self.run_machine(
                self.machine.definition, self.input, Frame(self._root, lane, "")
            )
            self.check_size(output, "the execution output")
            status = "SUCCEEDED"
        except Stopped:
            status = self._stop_reason or "ABORTED"
        except AslError as exc:
            status, error, cause = "FAILED", exc.error or None, exc.cause
        except Exception as exc:  # a bug of ours: fail the execution rather than hang
            logger.exception("ASL execution %s crashed", self.id)
            status, error, cause = "FAILED", "States.Runtime", f"internal error: {exc!r}"
        if self._stop_reason is not None:
            status = self._stop_reason
        if status != "SUCCEEDED":
            output = None
        if status == "TIMED_OUT":
            error, cause = "States.Timeout", self._stop_cause
        elif status == "ABORTED":
            error, cause = None, self._stop_cause
        self._root.cancel()  # release anything still waiting (abandoned runners, sleepers)
        final_type, final_details = {
            "SUCCEEDED": ("ExecutionSucceeded", {"output": output}),
            "FAILED": ("ExecutionFailed", {"error": error, "cause": cause}),
            "ABORTED": ("ExecutionAborted", {"cause": cause}),
            "TIMED_OUT": ("ExecutionTimedOut", {"error": error, "cause": cause}),
        }[status]
        self.emit(lane, final_type, None, None, final_details)
        self.status = status
        self.result = ExecutionResult(
            status=status,
            output=output,
            error=error,
            cause=cause,
            execution_id=self.id,
            name=self.name,
            start_time=self.start_time,
            stop_time=self.clock.now(),
        )
        self._done.set()
        return self.result

    # ---------------------------------------------------------------- plumbing

    def _stop(self, reason: ExecutionStatus, cause: str) -> None:
        with self._lock:
            if self._stop_reason is None:
                self._stop_reason = reason
                self._stop_cause = cause
        self._root.cancel()

    @property
    def deadline(self) -> float | None:
        return self._deadline

    def time_out(self) -> None:
        timeout = self.machine.definition.get("TimeoutSeconds")
        self._stop("TIMED_OUT", f"The execution ran longer than TimeoutSeconds ({timeout} s)")

    def _check_deadline(self) -> None:
        if self._deadline is not None and self.clock.monotonic() >= self._deadline:
            self.time_out()
            raise Stopped

    def emit(
        self,
        lane: Lane,
        type_: str,
        state_name: str | None,
        state_path: str | None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record a history event on ``lane``; return its id."""
        with self._lock:
            self._event_id += 1
            event_id = self._event_id
            previous, lane.last = lane.last, event_id
            if self._sink is None:
                return event_id
            event: HistoryEvent = {
                "id": event_id,
                "previous_event_id": previous,
                "timestamp": format_timestamp(self.clock.now()),
                "type": type_,
                "execution_id": self.id,
                "state_name": state_name,
                "state_path": state_path,
                "details": details or {},
            }
            # Called under the lock so the sink sees ids in order. A failing sink is logged,
            # not allowed to kill the execution it observes.
            try:
                self._sink(event)
            except Exception:
                logger.exception("event sink failed on %s #%d", type_, event_id)
        return event_id

    def log(self, visit: Visit, map_index: int | None, stream: str, message: str) -> None:
        sink = self.machine.logs
        if sink is None:
            logger.debug("%s [%s] %s: %s", self.name, visit.key, stream, message)
            return
        record = LogRecord(
            self.id, visit.name, visit.key, map_index, stream, message, self.clock.now()
        )
        sink(record)

    def check_size(self, value: Any, what: str) -> None:
        limit = self.machine.payload_limit
        try:
            size = json_size(value)
        except (TypeError, ValueError) as exc:  # a runner returned a set, bytes, NaN...
            raise RuntimeFailure(f"{what} is not JSON data: {exc}") from None
        if size > limit:
            raise DataLimitExceeded(f"{what} is {size} bytes, over the {limit} byte limit")

    def context(self, visit: Visit, retry_count: int = 0) -> dict[str, Any]:
        """The context object (``$$``) of a state visit."""
        return {
            "Execution": self._ctx_execution,
            "StateMachine": self._ctx_machine,
            "State": {"Name": visit.name, "EnteredTime": visit.entered, "RetryCount": retry_count},
        }

    def sleep(self, seconds: float, scope: Scope) -> None:
        """Sleep on the injected clock; a cancel or the execution deadline cuts it short."""
        if self._deadline is not None:
            left = self._deadline - self.clock.monotonic()
            if seconds >= left:
                if self.clock.sleep(max(left, 0.0), scope.event):
                    self.time_out()
                raise Stopped
        if seconds <= 0:
            if scope.cancelled:
                raise Stopped
            return
        if not self.clock.sleep(seconds, scope.event):
            raise Stopped

    # ---------------------------------------------------------------- interpretation

    def run_machine(self, machine: dict[str, Any], value: Any, frame: Frame) -> Any:
        """Run a StartAt/States container (the machine, a branch, an iteration) to its end."""
        states: dict[str, Any] = machine["States"]
        name: str = machine["StartAt"]
        visits: dict[str, int] = {}
        # A state's input is the previous state's output, already checked against the payload
        # limit on the way out; only the first state of a container needs its input checked.
        self.check_size(value, f"the input of state {name!r}")
        while True:
            if frame.scope.cancelled:
                raise Stopped
            self._check_deadline()
            visit = visits[name] = visits.get(name, 0) + 1
            next_name, value = self._run_state(name, states[name], value, frame, visit)
            if next_name is None:
                return value
            name = next_name

    def _run_state(
        self, name: str, state: dict[str, Any], value: Any, frame: Frame, visit_number: int
    ) -> StateResult:
        kind = state["Type"]
        key = task_key(frame.prefix, name, visit_number)
        self.emit(frame.lane, f"{kind}StateEntered", name, key, {"input": value})
        visit = Visit(name, state, value, frame, key, format_timestamp(self.clock.now()))
        try:
            next_name, output = HANDLERS[kind](self, visit)
        except Stopped:
            if kind in ("Task", "Parallel", "Map"):
                self.emit(frame.lane, f"{kind}StateAborted", name, key)
            raise
        self.check_size(output, f"the output of state {name!r}")
        self.emit(frame.lane, f"{kind}StateExited", name, key, {"output": output})
        return next_name, output

    def finish(self, visit: Visit, result: Any, ctx: Any) -> Any:
        """ResultSelector, ResultPath and OutputPath: the tail shared by Task/Parallel/Map."""
        state = visit.state
        selector = self.machine.compiled(state).result_selector
        if selector is not None:
            result = selector.evaluate(result, ctx)
        output = apply_result_path(state.get("ResultPath", "$"), visit.value, result)
        return select_path(state.get("OutputPath", "$"), output, ctx, field="OutputPath")

    def with_retries(self, visit: Visit, attempt: Callable[[int], Any]) -> StateResult:
        """Run ``attempt`` under the state's Retry policy; route a final error through Catch.

        The first retrier whose ErrorEquals matches decides; once its MaxAttempts are spent
        the error goes to the catchers (not to a later retrier), as the spec says.
        """
        state = visit.state
        retriers: list[dict[str, Any]] = state.get("Retry") or []
        counts = [0] * len(retriers)
        retry_count = 0
        while True:
            try:
                return next_state(state), attempt(retry_count)
            except AslError as err:
                if visit.frame.scope.cancelled:
                    raise Stopped from None  # errors caused by the cancellation are noise
                index = find_handler(err.error, retriers)
                if index is not None:
                    retrier = retriers[index]
                    if counts[index] < retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS):
                        delay = retry_delay(retrier, counts[index], self.machine.rng)
                        counts[index] += 1
                        retry_count += 1
                        self.sleep(delay, visit.frame.scope)
                        continue
                catchers: list[dict[str, Any]] = state.get("Catch") or []
                index = find_handler(err.error, catchers)
                if index is None:
                    raise
                catcher = catchers[index]
                error_output = err.as_output()
                output = apply_result_path(
                    catcher.get("ResultPath", "$"), visit.value, error_output
                )
                return catcher["Next"], output


HANDLERS: dict[str, Handler] = {
    "Pass": run_pass,
    "Succeed": run_succeed,
    "Fail": run_fail,
    "Choice": run_choice,
    "Wait": run_wait,
    "Task": run_task,
    "Parallel": run_parallel,
    "Map": run_map,
}
