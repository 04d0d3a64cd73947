"""The ASL executor: runs a state machine in-process, with threads for Parallel and Map.

Seams (all constructor arguments of :class:`StateMachine`): task runners resolved by
``Resource``, an event sink for the history, a log sink for task output, a clock for Wait states
and back-offs, and a ``completed_tasks`` lookup that lets a resumed execution reuse results.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping
from typing import Any, Literal

from processing.asl._execution import Execution
from processing.asl._json import json_copy
from processing.asl._runtime import (
    Compiled,
    ExecutionResult,
    ExecutionStatus,
    LogRecord,
    LogSink,
    compile_state,
    task_key,
)
from processing.asl.clock import Clock, SystemClock
from processing.asl.errors import PAYLOAD_LIMIT_BYTES
from processing.asl.events import EventSink
from processing.asl.runners import RunnerRegistry, TaskFunction, TaskRunner, as_registry
from processing.asl.validate import ValidationResult, validate

__all__ = [
    "Execution",
    "ExecutionResult",
    "ExecutionStatus",
    "InvalidDefinition",
    "LogRecord",
    "LogSink",
    "Runners",
    "StateMachine",
    "execute",
    "task_key",
]

Runners = RunnerRegistry | TaskRunner | Mapping[str, TaskRunner | TaskFunction] | None
Validation = Literal["full", "structure", "none"]


class InvalidDefinition(ValueError):
    """The definition did not validate; ``result`` lists every problem."""

    def __init__(self, result: ValidationResult) -> None:
        lines = "\n".join(str(error) for error in result.errors)
        super().__init__(f"invalid state machine definition:\n{lines}")
        self.result = result


class StateMachine:
    """A validated state machine plus the parts it runs with; start as many executions as needed.

    Args:
        definition: the ASL document (JSONPath query language).
        runners: a :class:`RunnerRegistry`, a mapping ``{resource pattern: runner or function}``
            or a single runner used for every resource.
        events: receives every :class:`~processing.asl.events.HistoryEvent`.
        logs: receives task output lines; by default they go to this module's logger.
        clock: the time source of Wait states, retry back-offs and deadlines.
        max_workers: upper bound of concurrent iterations of one Map (default: CPU count).
        validation: ``"full"`` checks structure and the official JSON schemas, ``"structure"``
            only our own checks (fast), ``"none"`` trusts the caller.
        cancel_grace_seconds: how long a cancelled task may take to stop before it is abandoned.
        default_task_timeout: TimeoutSeconds of Tasks that set none (AWS: none; the spec: 60).
        payload_limit: the size limit of state inputs and outputs, in bytes.
        name: ``$$.StateMachine.Name``.
        state_machine_id: ``$$.StateMachine.Id``.
        rng: randomness for retry jitter (seed it for reproducible tests).

    Raises:
        InvalidDefinition: the definition does not validate.
    """

    def __init__(
        self,
        definition: dict[str, Any],
        *,
        runners: Runners = None,
        events: EventSink | None = None,
        logs: LogSink | None = None,
        clock: Clock | None = None,
        max_workers: int | None = None,
        validation: Validation = "structure",
        cancel_grace_seconds: float = 10.0,
        default_task_timeout: float | None = None,
        payload_limit: int = PAYLOAD_LIMIT_BYTES,
        name: str = "StateMachine",
        state_machine_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if validation != "none":
            result = validate(definition, schema=validation == "full")
            if not result.valid:
                raise InvalidDefinition(result)
        # Our own copy: compiled templates are cached by the identity of each state object.
        self.definition: dict[str, Any] = json_copy(definition)
        self.runners = as_registry(runners)
        self.events = events
        self.logs = logs
        self.clock: Clock = clock or SystemClock()
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self.cancel_grace_seconds = cancel_grace_seconds
        self.default_task_timeout = default_task_timeout
        self.payload_limit = payload_limit
        self.name = name
        self.state_machine_id = (
            state_machine_id or f"arn:aws:states:local:000000000000:stateMachine:{name}"
        )
        self.rng = rng or random.Random()
        self._compiled: dict[int, Compiled] = {}

    def compiled(self, state: dict[str, Any]) -> Compiled:
        """The templates and choice rules of one of this machine's states, compiled once."""
        found = self._compiled.get(id(state))
        if found is None:
            found = self._compiled.setdefault(id(state), compile_state(state))
        return found

    def start(
        self,
        input: Any = None,
        *,
        name: str | None = None,
        execution_id: str | None = None,
        completed_tasks: Mapping[str, Any] | None = None,
        events: EventSink | None = None,
    ) -> Execution:
        """Start an execution in a background thread and return its handle."""
        execution = self._execution(input, name, execution_id, completed_tasks, events)
        thread = threading.Thread(target=execution.run, name=f"asl-{execution.name}", daemon=True)
        thread.start()
        return execution

    def execute(
        self,
        input: Any = None,
        *,
        name: str | None = None,
        execution_id: str | None = None,
        completed_tasks: Mapping[str, Any] | None = None,
        cancel: threading.Event | None = None,
        events: EventSink | None = None,
    ) -> ExecutionResult:
        """Run an execution in this thread and return how it ended.

        Args:
            input: the execution input (default ``{}``).
            name: the execution name (default: a random hex id).
            execution_id: ``$$.Execution.Id`` (default: an ARN built from the names).
            completed_tasks: state path -> recorded raw result of Tasks that already finished
                in an earlier, interrupted run; those Tasks are not run again.
            cancel: setting it aborts the execution (status ``ABORTED``); running tasks see
                their ``ctx.cancel`` set.
            events: an event sink for this execution only.
        """
        execution = self._execution(input, name, execution_id, completed_tasks, events)
        if cancel is None:
            return execution.run()
        finished = threading.Event()

        def watch() -> None:
            # A plain Event cannot call us back, so a light poll bridges it to the scope tree.
            while not finished.is_set():
                if cancel.wait(0.02):
                    execution.abort("cancelled by the caller")
                    return

        threading.Thread(target=watch, name="asl-cancel-watch", daemon=True).start()
        try:
            return execution.run()
        finally:
            finished.set()

    def _execution(
        self,
        input: Any,
        name: str | None,
        execution_id: str | None,
        completed_tasks: Mapping[str, Any] | None,
        events: EventSink | None,
    ) -> Execution:
        return Execution(
            self,
            {} if input is None else input,
            name=name,
            execution_id=execution_id,
            completed_tasks=completed_tasks,
            events=events,
        )


def execute(
    definition: dict[str, Any],
    input: Any = None,
    *,
    runners: Runners = None,
    events: EventSink | None = None,
    logs: LogSink | None = None,
    clock: Clock | None = None,
    max_workers: int | None = None,
    completed_tasks: Mapping[str, Any] | None = None,
    cancel: threading.Event | None = None,
    name: str | None = None,
    execution_id: str | None = None,
    validation: Validation = "structure",
    cancel_grace_seconds: float = 10.0,
    default_task_timeout: float | None = None,
    payload_limit: int = PAYLOAD_LIMIT_BYTES,
) -> ExecutionResult:
    """Validate and run ``definition`` on ``input`` in this thread.

    A shortcut for ``StateMachine(definition, ...).execute(input, ...)``; see
    :class:`StateMachine` and :meth:`StateMachine.execute` for the arguments.

    Raises:
        InvalidDefinition: the definition does not validate.
    """
    machine = StateMachine(
        definition,
        runners=runners,
        events=events,
        logs=logs,
        clock=clock,
        max_workers=max_workers,
        validation=validation,
        cancel_grace_seconds=cancel_grace_seconds,
        default_task_timeout=default_task_timeout,
        payload_limit=payload_limit,
    )
    return machine.execute(
        input,
        name=name,
        execution_id=execution_id,
        completed_tasks=completed_tasks,
        cancel=cancel,
    )
