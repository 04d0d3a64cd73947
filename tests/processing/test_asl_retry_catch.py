"""Retry and Catch with the spec's semantics: order, counters, back-off, wildcards."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from processing.asl import (
    AslError,
    EventRecorder,
    FakeClock,
    TaskContext,
    error_matches,
    execute,
    retry_delay,
)

from .asl_helpers import arn, machine, task


def failing(*errors: str) -> Callable[[Any, TaskContext], Any]:
    """A runner that raises the given errors in turn, then returns its retry count."""
    it: Iterator[str] = iter(errors)

    def run(params: Any, ctx: TaskContext) -> Any:
        name = next(it, None)
        if name is not None:
            raise AslError(name, f"attempt {ctx.retry_count}")
        return {"retries": ctx.retry_count}

    return run


def run(definition: dict[str, Any], runner: Any, clock: FakeClock, **kw: Any) -> Any:
    return execute(definition, {"in": 1}, runners={arn("t"): runner}, clock=clock, **kw)


def test_spec_retry_example_backs_off(clock: FakeClock) -> None:
    retry = [
        {
            "ErrorEquals": ["States.Timeout"],
            "IntervalSeconds": 3,
            "MaxAttempts": 2,
            "BackoffRate": 1.5,
        }
    ]
    definition = machine("T", T=task("t", Retry=retry))
    result = run(definition, failing("States.Timeout", "States.Timeout"), clock)
    assert result.output == {"retries": 2}
    assert clock.sleeps == [3.0, 4.5]  # "the first after 3 seconds, the second after 4.5"
    result = run(definition, failing(*["States.Timeout"] * 3), clock)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")


def test_defaults_are_one_second_three_attempts_rate_two(clock: FakeClock) -> None:
    definition = machine("T", T=task("t", Retry=[{"ErrorEquals": ["E"]}]))
    result = run(definition, failing("E", "E", "E", "E"), clock)
    assert result.error == "E"
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_max_attempts_zero_never_retries(clock: FakeClock) -> None:
    retry = [
        {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1},
    ]
    definition = machine("T", T=task("t", Retry=retry))
    assert run(definition, failing("States.Timeout"), clock).error == "States.Timeout"
    assert clock.sleeps == []
    assert run(definition, failing("Other"), clock).output == {"retries": 1}


def test_first_matching_retrier_wins_and_counters_are_per_retrier(clock: FakeClock) -> None:
    retry = [
        {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 1},
        {"ErrorEquals": ["A", "B"], "IntervalSeconds": 10, "MaxAttempts": 5},
    ]
    definition = machine("T", T=task("t", Retry=retry))
    # A (retrier 0), B (retrier 1), B (retrier 1), then A again: retrier 0 is exhausted and
    # is still the first match, so the error is not retried by retrier 1.
    result = run(definition, failing("A", "B", "B", "A"), clock)
    assert result.error == "A"
    assert clock.sleeps == [1.0, 10.0, 20.0]


def test_max_delay_and_full_jitter(clock: FakeClock) -> None:
    retrier = {"ErrorEquals": ["E"], "IntervalSeconds": 10, "BackoffRate": 3, "MaxDelaySeconds": 50}
    assert [retry_delay(retrier, n) for n in range(3)] == [10, 30, 50]
    jitter = {**retrier, "JitterStrategy": "FULL"}
    rng = random.Random(7)
    draws = [retry_delay(jitter, 2, rng) for _ in range(200)]
    assert all(0 <= d <= 50 for d in draws) and max(draws) > 25 and min(draws) < 25


def test_catch_routes_the_error_output_with_result_path(clock: FakeClock) -> None:
    catch = [
        {
            "ErrorEquals": ["java.lang.Exception"],
            "ResultPath": "$.error-info",
            "Next": "RecoveryState",
        },
        {"ErrorEquals": ["States.ALL"], "Next": "EndMachine"},
    ]
    definition = machine(
        "T",
        T=task("t", Catch=catch, Next="Done"),
        RecoveryState={"Type": "Pass", "End": True},
        EndMachine={"Type": "Pass", "End": True},
        Done={"Type": "Succeed"},
    )
    result = run(definition, failing("java.lang.Exception"), clock)
    assert result.output == {
        "in": 1,
        "error-info": {"Error": "java.lang.Exception", "Cause": "attempt 0"},
    }
    result = run(definition, failing("Other"), clock)
    assert result.output == {"Error": "Other", "Cause": "attempt 0"}  # ResultPath "$" default


def test_retry_then_catch(clock: FakeClock, recorder: EventRecorder) -> None:
    definition = machine(
        "T",
        T=task(
            "t",
            Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 1}],
            Catch=[{"ErrorEquals": ["E"], "Next": "Caught", "ResultPath": None}],
        ),
        Caught={"Type": "Pass", "Result": "caught", "ResultPath": "$.how", "End": True},
    )
    result = run(definition, failing("E", "E"), clock, events=recorder)
    assert result.output == {"in": 1, "how": "caught"}
    assert recorder.types().count("TaskScheduled") == 2
    assert [e["details"]["retry_count"] for e in recorder.of_type("TaskScheduled")] == [0, 1]


def test_task_failed_is_a_wildcard_except_for_timeouts(clock: FakeClock) -> None:
    definition = machine(
        "T",
        T=task("t", Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "C"}]),
        C={"Type": "Pass", "Result": "caught", "End": True},
    )
    assert run(definition, failing("CustomError"), clock).output == "caught"
    assert run(definition, failing("States.Timeout"), clock).error == "States.Timeout"


def test_wildcard_semantics() -> None:
    assert error_matches("Anything", ["States.ALL"])
    assert error_matches("States.HeartbeatTimeout", ["States.Timeout"])
    assert not error_matches("States.Runtime", ["States.ALL"])
    assert not error_matches("States.Runtime", ["States.Runtime"])
    assert not error_matches("States.DataLimitExceeded", ["States.ALL"])
    assert error_matches("States.DataLimitExceeded", ["States.DataLimitExceeded"])
    assert not error_matches("States.Timeout", ["States.TaskFailed"])
    assert not error_matches("B", ["A"])


def test_runtime_errors_are_never_caught(clock: FakeClock) -> None:
    definition = machine(
        "T",
        T=task(
            "t",
            InputPath="$.missing",
            Retry=[{"ErrorEquals": ["States.ALL"]}],
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "C"}],
        ),
        C={"Type": "Succeed"},
    )
    result = run(definition, failing(), clock)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert clock.sleeps == []


def test_data_limit_is_caught_only_by_name(clock: FakeClock) -> None:
    big = "x" * 300_000

    def huge(params: Any) -> str:
        return big

    all_ = machine(
        "T",
        T=task("t", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "C"}]),
        C={"Type": "Succeed"},
    )
    assert run(all_, huge, clock).error == "States.DataLimitExceeded"
    named = machine(
        "T",
        T=task(
            "t",
            Catch=[{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "C", "ResultPath": "$.e"}],
        ),
        C={"Type": "Succeed"},
    )
    assert run(named, huge, clock).output["e"]["Error"] == "States.DataLimitExceeded"


def test_parameter_path_failures_can_be_caught(clock: FakeClock) -> None:
    definition = machine(
        "T",
        T=task(
            "t",
            Parameters={"x.$": "$.nope"},
            Catch=[{"ErrorEquals": ["States.ParameterPathFailure"], "Next": "C"}],
        ),
        C={"Type": "Pass", "End": True},
    )
    result = run(definition, failing(), clock)
    assert result.output["Error"] == "States.ParameterPathFailure"


def test_retry_count_is_visible_in_the_context(clock: FakeClock) -> None:
    definition = machine(
        "T", T=task("t", Parameters={"n.$": "$$.State.RetryCount"}, Retry=[{"ErrorEquals": ["E"]}])
    )
    calls: list[int] = []

    def runner(params: dict[str, int]) -> int:
        calls.append(params["n"])
        if len(calls) < 3:
            raise AslError("E")
        return params["n"]

    assert run(definition, runner, clock).output == 2
    assert calls == [0, 1, 2]


@pytest.mark.parametrize("state_type", ["Parallel", "Map"])
def test_parallel_and_map_states_retry_too(state_type: str, clock: FakeClock) -> None:
    inner = machine("I", I=task("t"))
    state: dict[str, Any] = {
        "Type": state_type,
        "End": True,
        "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2}],
    }
    if state_type == "Parallel":
        state["Branches"] = [inner]
    else:
        state.update(ItemsPath="$.items", ItemProcessor=inner)
    definition = machine("S", S=state)
    result = execute(definition, {"items": [1]}, runners={arn("t"): failing("E", "E")}, clock=clock)
    assert result.status == "SUCCEEDED" and clock.sleeps == [1.0, 2.0]
