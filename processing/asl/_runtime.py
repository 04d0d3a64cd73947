"""Building blocks of the executor: results, cancellation scopes, frames, compiled states, and
the contract between the state handlers and the execution that runs them.

The state handlers (``_states``, ``_task``, ``_parallel``) see an execution only through
:class:`ExecutionRuntime`: they emit history events, read the context object, run sub-machines
(branches, iterations), sleep on the execution's clock and share its Retry/Catch and
ResultSelector/ResultPath/OutputPath tail. :class:`~processing.asl._execution.Execution` is the
one implementation; the protocol keeps that boundary visible and checked by mypy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from processing.asl._json import is_integer
from processing.asl.choice import ChoiceState
from processing.asl.errors import RuntimeFailure
from processing.asl.io import PayloadTemplate
from processing.asl.paths import PathNotFound, PathSyntaxError, parse_reference_path

if TYPE_CHECKING:
    from processing.asl.clock import Clock
    from processing.asl.executor import StateMachine

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How an execution ended: its status, its output, or its error and cause."""

    status: ExecutionStatus
    output: Any = None
    error: str | None = None
    cause: str | None = None
    execution_id: str = ""
    name: str = ""
    start_time: datetime | None = None
    stop_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One line of a task's output (or a runner's log message)."""

    execution_id: str
    state_name: str
    state_path: str
    map_index: int | None
    stream: str
    message: str
    timestamp: datetime


LogSink = Callable[[LogRecord], None]


def task_key(prefix: str, state_name: str, visit: int = 1) -> str:
    """The state path of a state visit: the resumability key of a Task.

    Segments are joined by ``/``: a state name, then, for a state inside a Parallel branch or
    a Map iteration, the branch or item index, e.g. ``"Validate-All/3/Validate"``. A state
    entered again in the same scope (a loop) gets ``#n`` for its n-th visit. ``%``, ``/`` and
    ``#`` in names are percent-encoded so a key always splits back unambiguously.
    """
    escaped = state_name.replace("%", "%25").replace("/", "%2F").replace("#", "%23")
    return f"{prefix}{escaped}" if visit == 1 else f"{prefix}{escaped}#{visit}"


class Stopped(Exception):
    """Unwinds a thread of control after a cancellation; never caught by Retry/Catch."""


class Scope:
    """A node of the cancellation tree: cancelling it cancels every scope and task below."""

    __slots__ = ("_callbacks", "_children", "_lock", "event", "parent")

    def __init__(self, parent: Scope | None = None) -> None:
        self.event = threading.Event()
        self.parent = parent
        self._children: set[Scope] = set()
        self._callbacks: list[Callable[[], None]] = []
        self._lock: threading.RLock = parent._lock if parent else threading.RLock()
        if parent is not None:
            with self._lock:
                if parent.event.is_set():
                    self.event.set()
                else:
                    parent._children.add(self)

    @property
    def cancelled(self) -> bool:
        """Whether this scope (or an ancestor) was cancelled."""
        return self.event.is_set()

    def child(self) -> Scope:
        """A new scope cancelled together with this one."""
        return Scope(self)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on cancellation (at once if already cancelled)."""
        with self._lock:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        """Cancel this scope and everything below it."""
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            children = list(self._children)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()
        for child in children:
            child.cancel()

    def close(self) -> None:
        """Detach from the parent once finished, so long runs do not accumulate scopes."""
        if self.parent is not None:
            with self._lock:
                self.parent._children.discard(self)


@dataclass(slots=True)
class Lane:
    """One thread of control in the history: its last event id links the next event."""

    last: int = 0


@dataclass(frozen=True, slots=True)
class Frame:
    """Where a (sub-)machine runs: its cancel scope, history lane, key prefix and map indices."""

    scope: Scope
    lane: Lane
    prefix: str
    map_indices: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Visit:
    """One entry into a state: everything its handler needs."""

    name: str
    state: dict[str, Any]
    value: Any  # the state's raw input
    frame: Frame
    key: str
    entered: str


StateResult = tuple[str | None, Any]
"""The next state's name (None at the end of the machine) and the state's output."""


class ExecutionRuntime(Protocol):
    """What a state handler may use of the execution running it (and nothing else).

    Attributes are read-only to handlers: ``machine`` (compiled states, runners, limits),
    ``clock`` (the injectable time), ``id`` and ``completed_tasks`` (results reused on resume).
    """

    id: str
    machine: StateMachine
    clock: Clock
    completed_tasks: Mapping[str, Any] | None

    @property
    def deadline(self) -> float | None:
        """The execution's TimeoutSeconds deadline on ``clock.monotonic()``, or None."""
        ...

    def emit(
        self,
        lane: Lane,
        type_: str,
        state_name: str | None,
        state_path: str | None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record a history event on ``lane``; return its id."""
        ...

    def log(self, visit: Visit, map_index: int | None, stream: str, message: str) -> None:
        """Pass one line of a task's output to the machine's log sink."""
        ...

    def check_size(self, value: Any, what: str) -> None:
        """Raise DataLimitExceeded when ``value`` is over the payload limit."""
        ...

    def context(self, visit: Visit, retry_count: int = 0) -> dict[str, Any]:
        """The context object (``$$``) of a state visit."""
        ...

    def sleep(self, seconds: float, scope: Scope) -> None:
        """Sleep on the clock; raise Stopped on cancellation or at the deadline."""
        ...

    def time_out(self) -> None:
        """End the execution as TIMED_OUT (cancels every scope)."""
        ...

    def run_machine(self, machine: dict[str, Any], value: Any, frame: Frame) -> Any:
        """Run a StartAt/States container (a branch, an iteration) to its end."""
        ...

    def finish(self, visit: Visit, result: Any, ctx: Any) -> Any:
        """ResultSelector, ResultPath and OutputPath applied to a state's raw result."""
        ...

    def with_retries(self, visit: Visit, attempt: Callable[[int], Any]) -> StateResult:
        """Run ``attempt(retry_count)`` under the state's Retry, routing a final error to
        Catch."""
        ...


def next_state(state: dict[str, Any]) -> str | None:
    """The state's ``Next``, or None when it ends its machine."""
    return None if state.get("End") else state.get("Next")


@dataclass(slots=True)
class Compiled:
    """A state's payload templates and choice rules, compiled once per state machine."""

    parameters: PayloadTemplate | None = None
    result_selector: PayloadTemplate | None = None
    item_selector: PayloadTemplate | None = None
    batch_input: PayloadTemplate | None = None
    choice: ChoiceState | None = None


def _template(node: dict[str, Any], field_name: str) -> PayloadTemplate | None:
    if field_name not in node:
        return None
    return PayloadTemplate(node[field_name], field=field_name)


def compile_state(state: dict[str, Any]) -> Compiled:
    """Compile a state's templates and rules.

    Raises:
        RuntimeFailure: a template or rule is malformed (validation reports this earlier).
    """
    kind = state.get("Type")
    try:
        compiled = Compiled(result_selector=_template(state, "ResultSelector"))
        if kind == "Map":
            # A Map's legacy "Parameters" is what "ItemSelector" is now: per-item input.
            compiled.item_selector = _template(state, "ItemSelector") or _template(
                state, "Parameters"
            )
            compiled.batch_input = _template(state.get("ItemBatcher") or {}, "BatchInput")
        else:
            compiled.parameters = _template(state, "Parameters")
        if kind == "Choice":
            compiled.choice = ChoiceState.compile(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeFailure(f"invalid state: {exc}") from None
    return compiled


def run_concurrently(fn: Callable[[int], None], indices: range, name: str) -> None:
    """Run ``fn(i)`` for every index, the last one on this thread, and wait for all."""
    threads = [
        threading.Thread(target=fn, args=(i,), name=f"{name}-{i}", daemon=True)
        for i in indices[:-1]
    ]
    for thread in threads:
        thread.start()
    if len(indices):
        fn(indices[-1])
    for thread in threads:
        thread.join()


def reference(path: str, data: Any, ctx: Any, field_name: str) -> Any:
    """Read a Reference Path field such as ``ItemsPath``; an absent node is a runtime error."""
    try:
        return parse_reference_path(path).get(data, ctx)
    except (PathSyntaxError, PathNotFound) as exc:
        raise RuntimeFailure(f"{field_name} {path!r}: {exc}") from None


def seconds_field(state: dict[str, Any], field_name: str, data: Any, ctx: Any) -> float | None:
    """``TimeoutSeconds``/``HeartbeatSeconds`` or their ``*Path`` variant, or None."""
    if field_name in state:
        return float(state[field_name])
    path = state.get(f"{field_name}Path")
    if path is None:
        return None
    value = reference(path, data, ctx, f"{field_name}Path")
    if not is_integer(value) or value <= 0:
        raise RuntimeFailure(f"{field_name}Path must select a positive integer, got {value!r}")
    return float(value)
