"""Handlers of the flow states: Pass, Succeed, Fail, Choice and Wait."""

from __future__ import annotations

from typing import Any

from processing.asl._json import is_number
from processing.asl._runtime import ExecutionRuntime, StateResult, Visit, next_state, reference
from processing.asl.errors import AslError, RuntimeFailure
from processing.asl.intrinsics import evaluate_intrinsic, is_intrinsic
from processing.asl.io import apply_result_path, select_path
from processing.asl.paths import PathNotFound, PathSyntaxError, parse_reference_path
from processing.asl.timestamps import parse_timestamp


def _input(visit: Visit, ctx: Any) -> Any:
    return select_path(visit.state.get("InputPath", "$"), visit.value, ctx, field="InputPath")


def _output(visit: Visit, value: Any, ctx: Any) -> Any:
    return select_path(visit.state.get("OutputPath", "$"), value, ctx, field="OutputPath")


def run_pass(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Pass: the Result (or the effective input) placed by ResultPath."""
    state = visit.state
    ctx = ex.context(visit)
    effective = _input(visit, ctx)
    parameters = ex.machine.compiled(state).parameters
    if parameters is not None:
        effective = parameters.evaluate(effective, ctx)
    result = state.get("Result", effective)
    output = apply_result_path(state.get("ResultPath", "$"), visit.value, result)
    return next_state(state), _output(visit, output, ctx)


def run_succeed(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Succeed: ends its machine with the (filtered) input."""
    ctx = ex.context(visit)
    return None, _output(visit, _input(visit, ctx), ctx)


def run_fail(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Fail: raises its Error/Cause (or ErrorPath/CausePath, which may use intrinsics)."""
    ctx = ex.context(visit)
    error = _fail_field(visit, "Error", ctx)
    cause = _fail_field(visit, "Cause", ctx)
    raise AslError(error or "", cause or "")


def _fail_field(visit: Visit, field_name: str, ctx: Any) -> str | None:
    state = visit.state
    if field_name in state:
        return str(state[field_name])
    path = state.get(f"{field_name}Path")
    if path is None:
        return None
    try:
        if is_intrinsic(path):
            resolved = evaluate_intrinsic(path, visit.value, ctx)
        else:
            resolved = parse_reference_path(path).get(visit.value, ctx)
    except (PathSyntaxError, PathNotFound) as exc:
        raise RuntimeFailure(f"{field_name}Path {path!r}: {exc}") from None
    if not isinstance(resolved, str):
        raise RuntimeFailure(f"{field_name}Path {path!r} must select a string")
    return resolved


def run_choice(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Choice: the first matching rule's Next, else Default, else States.NoChoiceMatched."""
    ctx = ex.context(visit)
    effective = _input(visit, ctx)
    choice = ex.machine.compiled(visit.state).choice
    assert choice is not None
    return choice.choose(effective, ctx), _output(visit, effective, ctx)


def run_wait(ex: ExecutionRuntime, visit: Visit) -> StateResult:
    """Wait: Seconds, SecondsPath, Timestamp or TimestampPath, on the injected clock."""
    state = visit.state
    ctx = ex.context(visit)
    effective = _input(visit, ctx)
    if "Seconds" in state:
        seconds = float(state["Seconds"])
    elif "SecondsPath" in state:
        found = reference(state["SecondsPath"], effective, ctx, "SecondsPath")
        if not is_number(found) or found < 0:
            raise RuntimeFailure(f"SecondsPath must select a non-negative number, got {found!r}")
        seconds = float(found)
    else:
        if "Timestamp" in state:
            text = state["Timestamp"]
        else:
            text = reference(state["TimestampPath"], effective, ctx, "TimestampPath")
        moment = parse_timestamp(text)
        if moment is None:
            raise RuntimeFailure(f"not an RFC 3339 timestamp: {text!r}")
        seconds = max(0.0, (moment - ex.clock.now()).total_seconds())
    ex.sleep(seconds, visit.frame.scope)
    return next_state(state), _output(visit, effective, ctx)
