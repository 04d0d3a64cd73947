"""The executor: state types, the context object, history events, limits and cancellation."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processing.asl import (
    AslError,
    EventRecorder,
    FakeClock,
    LogRecord,
    RunnerRegistry,
    StateMachine,
    TaskContext,
    execute,
)

from .asl_helpers import arn, machine, task


def test_pass_chain_and_succeed(recorder: EventRecorder) -> None:
    definition = machine(
        "A",
        A={"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
        B={"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, 41)"}, "Next": "C"},
        C={"Type": "Succeed", "OutputPath": "$.sum"},
    )
    result = execute(definition, {}, events=recorder)
    assert (result.status, result.output, result.error) == ("SUCCEEDED", 42, None)
    assert recorder.types() == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "PassStateEntered",
        "PassStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    ids = [e["id"] for e in recorder.events]
    assert ids == list(range(1, len(ids) + 1))
    assert [e["previous_event_id"] for e in recorder.events] == [0, *ids[:-1]]
    assert recorder.events[1]["state_name"] == "A"
    assert recorder.events[1]["details"] == {"input": {}}
    assert recorder.events[-1]["details"] == {"output": 42}
    assert all(e["execution_id"] == result.execution_id for e in recorder.events)
    datetime.fromisoformat(recorder.events[0]["timestamp"].replace("Z", "+00:00"))


def test_default_input_is_an_empty_object() -> None:
    assert execute(machine("A", A={"Type": "Pass", "End": True})).output == {}


def test_context_object() -> None:
    seen: dict[str, Any] = {}

    def capture(params: dict[str, Any], ctx: TaskContext) -> None:
        seen.update(params)
        seen["ctx"] = ctx

    definition = machine(
        "T",
        T=task(
            "t",
            Parameters={
                "id.$": "$$.Execution.Id",
                "name.$": "$$.Execution.Name",
                "input.$": "$$.Execution.Input",
                "start.$": "$$.Execution.StartTime",
                "state.$": "$$.State.Name",
                "entered.$": "$$.State.EnteredTime",
                "retries.$": "$$.State.RetryCount",
                "machine.$": "$$.StateMachine.Id",
            },
        ),
    )
    machine_ = StateMachine(definition, runners={arn("t"): capture}, state_machine_id="sm-1")
    result = machine_.execute({"k": 1}, name="run-7", execution_id="exec-7")
    assert result.status == "SUCCEEDED", result
    assert seen["id"] == "exec-7" and seen["name"] == "run-7" and seen["input"] == {"k": 1}
    assert seen["state"] == "T" and seen["retries"] == 0 and seen["machine"] == "sm-1"
    assert seen["start"].endswith("Z") and seen["entered"].endswith("Z")
    ctx: TaskContext = seen["ctx"]
    assert (ctx.execution_id, ctx.state_name, ctx.state_path, ctx.map_index) == (
        "exec-7",
        "T",
        "T",
        None,
    )


def test_wait_states_use_the_injected_clock(clock: FakeClock) -> None:
    later = (clock.now() + timedelta(seconds=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    definition = machine(
        "W1",
        W1={"Type": "Wait", "Seconds": 10, "Next": "W2"},
        W2={"Type": "Wait", "SecondsPath": "$.delay", "Next": "W3"},
        W3={"Type": "Wait", "TimestampPath": "$.until", "Next": "W4"},
        W4={"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "End": True},  # in the past
    )
    started = time.monotonic()
    result = execute(definition, {"delay": 5, "until": later}, clock=clock)
    assert result.status == "SUCCEEDED" and result.output == {"delay": 5, "until": later}
    assert time.monotonic() - started < 30  # waiting for real would take 99 s
    assert clock.sleeps[:2] == [10.0, 5.0]
    assert 84 < clock.sleeps[2] <= 85  # 100 s after start, minus the 15 s already waited
    assert len(clock.sleeps) == 3  # a timestamp in the past does not wait


def test_wait_with_a_bad_seconds_path_fails() -> None:
    definition = machine("W", W={"Type": "Wait", "SecondsPath": "$.d", "End": True})
    result = execute(definition, {"d": "soon"}, clock=FakeClock())
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_fail_state_with_error_and_cause(recorder: EventRecorder) -> None:
    definition = machine("F", F={"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"})
    result = execute(definition, events=recorder)
    assert (result.status, result.error, result.cause, result.output) == (
        "FAILED",
        "ErrorA",
        "Kaiju attack",
        None,
    )
    assert recorder.types()[-2:] == ["FailStateEntered", "ExecutionFailed"]
    assert recorder.events[-1]["details"] == {"error": "ErrorA", "cause": "Kaiju attack"}


def test_fail_state_with_error_path_and_intrinsic_cause_path() -> None:
    definition = machine(
        "F",
        F={
            "Type": "Fail",
            "ErrorPath": "$.code",
            "CausePath": "States.Format('bad {}', $.what)",
        },
    )
    result = execute(definition, {"code": "E42", "what": "tile"})
    assert (result.error, result.cause) == ("E42", "bad tile")


def test_data_limit_exceeded_on_state_output() -> None:
    big = "x" * (256 * 1024)
    definition = machine("A", A={"Type": "Pass", "Result": big, "End": True})
    result = execute(definition)
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "bytes" in (result.cause or "")


def test_data_limit_exceeded_on_execution_input_and_task_result() -> None:
    result = execute(machine("A", A={"Type": "Pass", "End": True}), {"x": "y" * 300_000})
    assert result.error == "States.DataLimitExceeded"
    definition = machine("T", T=task("big"))
    result = execute(definition, runners={arn("big"): lambda p: "z" * 300_000})
    assert result.error == "States.DataLimitExceeded"
    just_under = "a" * (256 * 1024 - 2)  # the two quotes make it exactly 256 KiB
    assert execute(machine("A", A={"Type": "Pass", "End": True}), just_under).status == "SUCCEEDED"


def test_state_machine_timeout_with_a_fake_clock(clock: FakeClock, recorder: EventRecorder) -> None:
    definition = {
        **machine("W", W={"Type": "Wait", "Seconds": 100, "End": True}),
        "TimeoutSeconds": 10,
    }
    result = execute(definition, clock=clock, events=recorder)
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert recorder.types()[-1] == "ExecutionTimedOut"
    assert sum(clock.sleeps) == pytest.approx(10, abs=0.5)


def test_state_machine_timeout_stops_a_running_task() -> None:
    stopped = threading.Event()

    def slow(params: Any, ctx: TaskContext) -> None:
        if ctx.cancel.wait(10):
            stopped.set()

    definition = {**machine("T", T=task("slow")), "TimeoutSeconds": 1}
    started = time.monotonic()
    result = execute(definition, runners={arn("slow"): slow})
    assert result.status == "TIMED_OUT"
    assert time.monotonic() - started >= 1  # never before the limit
    assert stopped.wait(5)  # the runner saw its cancellation (it would wait 10 s otherwise)


def test_task_timeout_cancels_the_runner(recorder: EventRecorder) -> None:
    observed = threading.Event()

    def slow(params: Any, ctx: TaskContext) -> None:
        assert ctx.timeout_seconds == 1
        if ctx.cancel.wait(10):
            observed.set()

    definition = machine("T", T=task("slow", TimeoutSeconds=1))
    result = execute(definition, runners={arn("slow"): slow}, events=recorder)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert observed.is_set()  # cancelled, not left to wait out its 10 s
    assert "TaskTimedOut" in recorder.types()


def test_timeout_seconds_path() -> None:
    definition = machine("T", T=task("slow", TimeoutSecondsPath="$.limit"))

    def slow(params: Any, ctx: TaskContext) -> None:
        ctx.cancel.wait(10)

    result = execute(definition, {"limit": 1}, runners={arn("slow"): slow})
    assert result.error == "States.Timeout"


def test_an_uncooperative_runner_is_abandoned_after_the_grace_period() -> None:
    release = threading.Event()
    returned = threading.Event()

    def stubborn(params: Any) -> None:
        release.wait(60)  # ignores its cancellation
        returned.set()

    definition = machine("T", T=task("stubborn", TimeoutSeconds=1))
    result = execute(definition, runners={arn("stubborn"): stubborn}, cancel_grace_seconds=0.2)
    assert not returned.is_set()  # the execution ended while the runner still ran
    release.set()
    assert result.error == "States.Timeout"


def test_heartbeat_timeout(clock: FakeClock) -> None:
    beats: list[float] = []

    def beats_then_stops(params: Any, ctx: TaskContext) -> str:
        for _ in range(3):
            clock.advance(0.5)  # half the heartbeat interval between beats: never late
            ctx.heartbeat()
            beats.append(clock.monotonic())
        clock.advance(5)  # then silence, five heartbeat intervals long
        ctx.cancel.wait(30)
        return "never"

    definition = machine("T", T=task("hb", HeartbeatSeconds=1, TimeoutSeconds=30))
    result = execute(definition, runners={arn("hb"): beats_then_stops}, clock=clock)
    assert (result.status, result.error) == ("FAILED", "States.HeartbeatTimeout")
    # 1.5 s of virtual time with beats kept it alive; only the silence after the third failed it.
    assert len(beats) == 3


def test_cancellation_aborts_running_tasks(recorder: EventRecorder) -> None:
    cancel = threading.Event()
    entered = threading.Event()
    saw_cancel = threading.Event()

    def slow(params: Any, ctx: TaskContext) -> None:
        entered.set()
        if ctx.cancel.wait(10):
            saw_cancel.set()
            raise AslError("Cancelled", "the runner noticed")

    definition = machine("T", T=task("slow"))
    threading.Thread(target=lambda: (entered.wait(5), cancel.set()), daemon=True).start()
    result = execute(definition, runners={arn("slow"): slow}, cancel=cancel, events=recorder)
    assert result.status == "ABORTED" and result.output is None
    assert saw_cancel.is_set()  # the runner saw the cancellation (it would wait 10 s otherwise)
    assert recorder.types()[-2:] == ["TaskStateAborted", "ExecutionAborted"]


def test_start_and_abort_a_background_execution(clock: FakeClock) -> None:
    gate = threading.Event()

    def waits(params: Any, ctx: TaskContext) -> None:
        gate.set()
        ctx.cancel.wait(10)

    sm = StateMachine(machine("T", T=task("w")), runners={arn("w"): waits})
    execution = sm.start({"a": 1}, name="bg")
    assert gate.wait(5)
    assert execution.wait(0.05) is None  # still running
    execution.abort("operator said so")
    result = execution.wait(5)
    assert result is not None and result.status == "ABORTED"
    assert result.cause == "operator said so" and result.name == "bg"


def test_runner_exceptions_become_errors_named_after_their_class() -> None:
    def broken(params: Any) -> None:
        raise ValueError("bad value")

    result = execute(machine("T", T=task("b")), runners={arn("b"): broken})
    assert (result.status, result.error, result.cause) == ("FAILED", "ValueError", "bad value")


def test_unknown_resource_is_a_runtime_error() -> None:
    result = execute(machine("T", T=task("nobody")))
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "nobody" in (result.cause or "")


def test_registry_globs_and_default_runner() -> None:
    registry = RunnerRegistry({"arn:aws:lambda:*": lambda p: "glob"}, default=lambda p: "dflt")
    registry.register(arn("exact"), lambda p: "exact")
    definition = machine(
        "A",
        A=task("exact", ResultPath="$.a", Next="B"),
        B=task("other", ResultPath="$.b", Next="C"),
        C={
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "ResultPath": "$.c",
            "End": True,
        },
    )
    assert execute(definition, runners=registry).output == {"a": "exact", "b": "glob", "c": "dflt"}


def test_runners_receive_a_copy_and_logs_are_forwarded() -> None:
    records: list[LogRecord] = []

    def mutating(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        params["changed"] = True
        ctx.log("hello from the runner")
        return {"ok": True}

    definition = machine("T", T=task("m", Parameters={"fixed": [1]}, ResultPath="$.r"))
    sm = StateMachine(definition, runners={arn("m"): mutating}, logs=records.append)
    assert sm.execute({}).output == {"r": {"ok": True}}
    assert sm.execute({}).output == {"r": {"ok": True}}  # the template was not mutated
    assert records[0].message == "hello from the runner" and records[0].state_name == "T"


def test_a_failing_event_sink_does_not_break_the_execution() -> None:
    def sink(event: Any) -> None:
        raise RuntimeError("database down")

    assert execute(machine("A", A={"Type": "Pass", "End": True}), events=sink).status == (
        "SUCCEEDED"
    )


def test_events_of_a_task(recorder: EventRecorder) -> None:
    execute(
        machine("T", T=task("t", Parameters={"p": 1})),
        runners={arn("t"): lambda p: 2},
        events=recorder,
    )
    assert recorder.types() == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    scheduled = recorder.of_type("TaskScheduled")[0]
    assert scheduled["details"]["parameters"] == {"p": 1}
    assert scheduled["details"]["resource"] == arn("t")
    assert recorder.of_type("TaskSucceeded")[0]["state_path"] == "T"


def test_now_is_timezone_aware() -> None:
    assert FakeClock().now().tzinfo is not None
    assert FakeClock(datetime(2020, 1, 1, tzinfo=UTC)).now().year == 2020
