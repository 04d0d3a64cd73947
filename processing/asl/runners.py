"""The Task seam: the ``TaskRunner`` protocol, its per-call context and the resource registry."""

from __future__ import annotations

import fnmatch
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

from processing.asl.errors import AslError, TaskFailed

__all__ = [
    "CallableTaskRunner",
    "LogFn",
    "RunnerRegistry",
    "TaskContext",
    "TaskRunner",
    "as_registry",
    "exception_to_error",
]


class LogFn(Protocol):
    """Log one line of a task's output; ``stream`` is ``stdout``, ``stderr`` or ``log``."""

    def __call__(self, message: str, stream: str = "log") -> None: ...


def _no_log(message: str, stream: str = "log") -> None:
    return None


def _no_heartbeat() -> None:
    return None


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a runner knows about the Task it runs, and how it talks back to the executor.

    A runner MUST return promptly once ``cancel`` is set (a timeout, a missed heartbeat, a
    failed sibling branch or an aborted execution); the executor waits a grace period and then
    abandons it. Calling ``heartbeat()`` resets the HeartbeatSeconds clock.
    """

    execution_id: str
    state_name: str
    state_path: str
    map_index: int | None = None
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    log: LogFn = _no_log
    heartbeat: Callable[[], None] = _no_heartbeat
    retry_count: int = 0
    map_indices: tuple[int, ...] = ()


@runtime_checkable
class TaskRunner(Protocol):
    """Runs a Task's resource with its effective parameters and returns the task's result.

    Raise :class:`~processing.asl.errors.AslError` to fail with a chosen Error Name; any other
    exception fails the task with the exception's class name as the Error (like Lambda does).
    """

    def run(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        """Run the task to completion (or until ``ctx.cancel`` is set)."""
        ...


TaskFunction: TypeAlias = Callable[..., Any]
"""A plain function used as a runner: ``fn(parameters)`` or ``fn(parameters, ctx)``."""


class CallableTaskRunner:
    """Adapts a Python function to :class:`TaskRunner`: ``fn(parameters[, ctx]) -> result``."""

    def __init__(self, fn: TaskFunction) -> None:
        self.fn = fn
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature: call with parameters only
            params = []  # type: ignore[assignment]
        positional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        self._wants_ctx = len(positional) >= 2 or any(
            p.kind is p.VAR_POSITIONAL for p in positional
        )

    def run(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        """Call the function."""
        if self._wants_ctx:
            return self.fn(parameters, ctx)
        return self.fn(parameters)

    def __repr__(self) -> str:
        return f"CallableTaskRunner({getattr(self.fn, '__qualname__', self.fn)!r})"


def _as_runner(runner: TaskRunner | TaskFunction) -> TaskRunner:
    if isinstance(runner, TaskRunner):
        return runner
    if callable(runner):
        return CallableTaskRunner(runner)
    raise TypeError(f"not a task runner: {runner!r}")


class RunnerRegistry:
    """Maps Task ``Resource`` ARNs to runners; itself a :class:`TaskRunner` that dispatches.

    Patterns are exact resource strings or shell-style globs (``arn:aws:states:::ecs:*``);
    an exact match wins, then the longest matching glob, then ``default``.
    """

    def __init__(
        self,
        runners: Mapping[str, TaskRunner | TaskFunction] | None = None,
        *,
        default: TaskRunner | TaskFunction | None = None,
    ) -> None:
        self._exact: dict[str, TaskRunner] = {}
        self._globs: list[tuple[str, TaskRunner]] = []
        self.default = _as_runner(default) if default is not None else None
        for pattern, runner in (runners or {}).items():
            self.register(pattern, runner)

    def register(self, pattern: str, runner: TaskRunner | TaskFunction) -> None:
        """Route resources matching ``pattern`` to ``runner`` (a runner or a plain function)."""
        resolved = _as_runner(runner)
        if any(ch in pattern for ch in "*?["):
            self._globs = [(p, r) for p, r in self._globs if p != pattern]
            self._globs.append((pattern, resolved))
            self._globs.sort(key=lambda item: len(item[0]), reverse=True)
        else:
            self._exact[pattern] = resolved

    def resolve(self, resource: str) -> TaskRunner | None:
        """The runner for ``resource``, or None when nothing is registered for it."""
        runner = self._exact.get(resource)
        if runner is not None:
            return runner
        for pattern, candidate in self._globs:
            if fnmatch.fnmatchcase(resource, pattern):
                return candidate
        return self.default

    def run(self, resource: str, parameters: Any, ctx: TaskContext) -> Any:
        """Dispatch to the registered runner."""
        runner = self.resolve(resource)
        if runner is None:
            raise TaskFailed(f"no task runner is registered for resource {resource!r}")
        return runner.run(resource, parameters, ctx)

    def __contains__(self, resource: object) -> bool:
        return isinstance(resource, str) and self.resolve(resource) is not None

    def __iter__(self) -> Iterator[str]:
        yield from self._exact
        yield from (pattern for pattern, _ in self._globs)


def as_registry(
    runners: RunnerRegistry | TaskRunner | Mapping[str, TaskRunner | TaskFunction] | None,
) -> RunnerRegistry:
    """Accept what callers naturally have (a registry, a mapping, one runner) as a registry."""
    if runners is None:
        return RunnerRegistry()
    if isinstance(runners, RunnerRegistry):
        return runners
    if isinstance(runners, Mapping):
        return RunnerRegistry(runners)
    return RunnerRegistry(default=runners)


def exception_to_error(exc: BaseException) -> AslError:
    """Translate what a runner raised into an ASL error (its Error Name is the class name)."""
    if isinstance(exc, AslError):
        return exc
    return AslError(type(exc).__name__, str(exc))
