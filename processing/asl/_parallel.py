"""Parallel and Map: branches and iterations on threads, under one cancellation scope."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from processing.asl._json import is_integer, is_number
from processing.asl._runtime import (
    Compiled,
    ExecutionRuntime,
    Frame,
    Lane,
    Scope,
    StateResult,
    Stopped,
    Visit,
    reference,
    run_concurrently,
)
from processing.asl.errors import AslError, ExceedToleratedFailureThreshold, RuntimeFailure
from processing.asl.io import select_path

logger = logging.getLogger("processing.asl.executor")


def _as_error(exc: Exception) -> AslError:
    if isinstance(exc, AslError):
        return exc
    logger.error("internal error in an ASL thread", exc_info=exc)
    return RuntimeFailure(f"internal error: {exc!r}")


def run_parallel(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Parallel: every branch on its own thread; the first failure cancels the others."""
    state, name, key, frame = visit.state, visit.name, visit.key, visit.frame
    branches: list[dict[str, Any]] = state["Branches"]
    parameters = ex.machine.compiled(state).parameters

    def attempt(retry_count: int) -> Any:
        ctx = ex.context(visit, retry_count)
        effective = select_path(state.get("InputPath", "$"), visit.value, ctx, field="InputPath")
        if parameters is not None:
            effective = parameters.evaluate(effective, ctx)
        started = ex.emit(
            frame.lane, "ParallelStateStarted", name, key, {"branches": len(branches)}
        )
        scope = frame.scope.child()
        results: list[Any] = [None] * len(branches)
        failures: list[AslError] = []
        lock = threading.Lock()

        def run_branch(index: int) -> None:
            sub = Frame(scope, Lane(started), f"{key}/{index}/", frame.map_indices)
            try:
                results[index] = ex.run_machine(branches[index], effective, sub)
            except Stopped:
                pass
            except Exception as exc:
                with lock:
                    failures.append(_as_error(exc))
                scope.cancel()  # the first failure stops the sibling branches

        run_concurrently(run_branch, range(len(branches)), f"asl-branch-{name}")
        scope.close()
        if frame.scope.cancelled:
            raise Stopped
        if failures:
            ex.emit(frame.lane, "ParallelStateFailed", name, key, failures[0].as_output())
            raise failures[0]
        ex.emit(frame.lane, "ParallelStateSucceeded", name, key)
        return ex.finish(visit, results, ctx)

    return ex.with_retries(visit, attempt)


def run_map(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Map: ItemsPath, ItemSelector (or legacy Parameters), ItemBatcher, then iterations."""
    state = visit.state
    processor: dict[str, Any] = state.get("ItemProcessor") or state["Iterator"]
    distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    if "ItemReader" in state:
        raise RuntimeFailure("ItemReader is not supported by the local executor")
    compiled = ex.machine.compiled(state)

    def attempt(retry_count: int) -> Any:
        ctx = ex.context(visit, retry_count)
        effective = select_path(state.get("InputPath", "$"), visit.value, ctx, field="InputPath")
        items = reference(state.get("ItemsPath", "$"), effective, ctx, "ItemsPath")
        if not isinstance(items, list):
            raise RuntimeFailure(f"ItemsPath must select an array, got {type(items).__name__}")
        run = _MapRun(
            ex,
            visit,
            processor,
            _iteration_inputs(state, compiled, items, effective, ctx),
            _tolerance(state, effective, ctx) if distributed else None,
        )
        results = run.run(_max_concurrency(state, effective, ctx))
        return ex.finish(visit, results, ctx)

    return ex.with_retries(visit, attempt)


@dataclass(slots=True)
class _Tolerance:
    """The failure budget of a distributed Map (a count and/or a percentage)."""

    count: int | None = None
    percentage: float | None = None
    failed: int = 0

    def exceeded(self, total: int) -> bool:
        if self.count is None and self.percentage is None:
            return self.failed > 0
        if self.count is not None and self.failed > self.count:
            return True
        pct = self.percentage
        return pct is not None and total > 0 and self.failed * 100 / total > pct

    def describe(self) -> str:
        parts = [f"count {self.count}"] if self.count is not None else []
        if self.percentage is not None:
            parts.append(f"{self.percentage}%")
        return ", ".join(parts) or "none"


@dataclass
class _MapRun:
    """One attempt of a Map state: a pool of workers pulling item indices in order."""

    ex: ExecutionRuntime
    visit: Visit
    processor: dict[str, Any]
    inputs: list[Any]
    tolerance: _Tolerance | None
    results: list[Any] = field(default_factory=list)
    failures: list[AslError] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0
    scope: Scope | None = None

    def run(self, concurrency: int) -> list[Any]:
        ex, visit = self.ex, self.visit
        frame, name, key = visit.frame, visit.name, visit.key
        total = len(self.inputs)
        # MaxConcurrency 0 means "no limit": the worker count still bounds it.
        workers = min(total or 1, ex.machine.max_workers, concurrency or total or 1)
        self.results = [None] * total
        self.started = ex.emit(frame.lane, "MapStateStarted", name, key, {"length": total})
        self.scope = scope = frame.scope.child()
        indices = iter(range(total))

        def work(_: int) -> None:
            while not scope.cancelled:
                with self.lock:
                    index = next(indices, None)
                if index is None:
                    return
                self.iteration(index)

        run_concurrently(work, range(workers), f"asl-map-{name}")
        scope.close()
        if frame.scope.cancelled:
            raise Stopped
        if self.failures:
            ex.emit(frame.lane, "MapStateFailed", name, key, self.failures[0].as_output())
            raise self.failures[0]
        ex.emit(frame.lane, "MapStateSucceeded", name, key)
        return self.results

    def iteration(self, index: int) -> None:
        ex, visit, scope = self.ex, self.visit, self.scope
        assert scope is not None
        name, key = visit.name, visit.key
        lane = Lane(self.started)
        ex.emit(lane, "MapIterationStarted", name, key, {"index": index})
        indices = (*visit.frame.map_indices, index)
        sub = Frame(scope, lane, f"{key}/{index}/", indices)
        try:
            self.results[index] = ex.run_machine(self.processor, self.inputs[index], sub)
        except Stopped:
            ex.emit(lane, "MapIterationAborted", name, key, {"index": index})
            return
        except Exception as exc:
            error = _as_error(exc)
            ex.emit(lane, "MapIterationFailed", name, key, {"index": index, **error.as_output()})
            self.failed(index, error)
            return
        ex.emit(lane, "MapIterationSucceeded", name, key, {"index": index})

    def failed(self, index: int, error: AslError) -> None:
        assert self.scope is not None
        tolerance = self.tolerance
        if tolerance is None:  # INLINE: one failure fails the Map
            with self.lock:
                self.failures.append(error)
            self.scope.cancel()
            return
        # DISTRIBUTED: a failed item leaves its error in the results, within the budget.
        self.results[index] = error.as_output()
        total = len(self.inputs)
        with self.lock:
            tolerance.failed += 1
            exceeded = tolerance.exceeded(total)
            if exceeded and not self.failures:
                self.failures.append(
                    ExceedToleratedFailureThreshold(
                        f"{tolerance.failed} of {total} iterations failed, more than tolerated "
                        f"({tolerance.describe()}); last error: {error.error}: {error.cause}"
                    )
                )
        if exceeded:
            self.scope.cancel()


def _iteration_inputs(
    state: dict[str, Any], compiled: Compiled, items: list[Any], effective: Any, ctx: Any
) -> list[Any]:
    """Apply ItemSelector per item (with ``$$.Map.Item``), then ItemBatcher if any."""
    selected = items
    if compiled.item_selector is not None:
        selector = compiled.item_selector
        selected = []
        for index, item in enumerate(items):
            item_ctx = dict(ctx)
            item_ctx["Map"] = {"Item": {"Index": index, "Value": item}}
            selected.append(selector.evaluate(effective, item_ctx))
    batcher = state.get("ItemBatcher")
    if not batcher:
        return selected
    size = batcher.get("MaxItemsPerBatch")
    if size is None and "MaxItemsPerBatchPath" in batcher:
        size = reference(batcher["MaxItemsPerBatchPath"], effective, ctx, "MaxItemsPerBatchPath")
    if not is_integer(size) or size <= 0:
        size = len(selected) or 1
    size = int(size)
    batch_input = compiled.batch_input.evaluate(effective, ctx) if compiled.batch_input else None
    batches = []
    for start in range(0, len(selected), size):
        batch: dict[str, Any] = {"Items": selected[start : start + size]}
        if batch_input is not None:
            batch["BatchInput"] = batch_input
        batches.append(batch)
    return batches


def _max_concurrency(state: dict[str, Any], data: Any, ctx: Any) -> int:
    if "MaxConcurrencyPath" in state:
        value = reference(state["MaxConcurrencyPath"], data, ctx, "MaxConcurrencyPath")
    else:
        value = state.get("MaxConcurrency", 0)
    if not is_integer(value) or value < 0:
        raise RuntimeFailure(f"MaxConcurrency must be a non-negative integer, got {value!r}")
    return int(value)


def _tolerance(state: dict[str, Any], data: Any, ctx: Any) -> _Tolerance:
    tolerance = _Tolerance()
    count = state.get("ToleratedFailureCount")
    if count is None and "ToleratedFailureCountPath" in state:
        path = state["ToleratedFailureCountPath"]
        count = reference(path, data, ctx, "ToleratedFailureCountPath")
    if count is not None:
        if not is_integer(count) or count < 0:
            raise RuntimeFailure(f"ToleratedFailureCount must be a non-negative integer: {count!r}")
        tolerance.count = int(count)
    pct = state.get("ToleratedFailurePercentage")
    if pct is None and "ToleratedFailurePercentagePath" in state:
        path = state["ToleratedFailurePercentagePath"]
        pct = reference(path, data, ctx, "ToleratedFailurePercentagePath")
    if pct is not None:
        if not is_number(pct) or not 0 <= pct <= 100:
            raise RuntimeFailure(f"ToleratedFailurePercentage must be within 0..100: {pct!r}")
        tolerance.percentage = float(pct)
    return tolerance
