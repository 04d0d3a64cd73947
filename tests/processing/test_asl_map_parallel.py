"""Map and Parallel: the spec's examples, real concurrency, limits and failure handling."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from processing.asl import AslError, EventRecorder, StateMachine, TaskContext, execute

from .asl_helpers import arn, machine, task

SHIPMENT = {
    "ship-date": "2016-03-14T01:59:00Z",
    "detail": {
        "delivery-partner": "UQS",
        "shipped": [
            {"prod": "R31", "dest-code": 9511, "quantity": 1344},
            {"prod": "S39", "dest-code": 9511, "quantity": 40},
            {"prod": "R31", "dest-code": 9833, "quantity": 12},
            {"prod": "R40", "dest-code": 9860, "quantity": 887},
            {"prod": "R40", "dest-code": 9511, "quantity": 1220},
        ],
    },
}


def validate_all(selector_field: str, processor_field: str) -> dict[str, Any]:
    return machine(
        "Validate-All",
        **{
            "Validate-All": {
                "Type": "Map",
                "InputPath": "$.detail",
                "ItemsPath": "$.shipped",
                "MaxConcurrency": 0,
                selector_field: {
                    "parcel.$": "$$.Map.Item.Value",
                    "courier.$": "$.delivery-partner",
                    "index.$": "$$.Map.Item.Index",
                },
                processor_field: machine("Validate", Validate=task("ship-val")),
                "ResultPath": "$.detail.shipped",
                "End": True,
            }
        },
    )


@pytest.mark.parametrize(
    ("selector", "processor"), [("ItemSelector", "ItemProcessor"), ("Parameters", "Iterator")]
)
def test_spec_map_example(selector: str, processor: str, recorder: EventRecorder) -> None:
    seen: list[tuple[int | None, Any]] = []
    lock = threading.Lock()

    def ship_val(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        with lock:
            seen.append((ctx.map_index, params))
        return {"valid": params["parcel"]["quantity"] < 1000, "prod": params["parcel"]["prod"]}

    result = execute(
        validate_all(selector, processor),
        SHIPMENT,
        runners={arn("ship-val"): ship_val},
        events=recorder,
    )
    assert result.status == "SUCCEEDED", result
    # The spec: the first iteration's input is the parcel plus the courier.
    first = dict(seen)[0]
    assert first == {
        "parcel": {"prod": "R31", "dest-code": 9511, "quantity": 1344},
        "courier": "UQS",
        "index": 0,
    }
    assert sorted(index for index, _ in seen) == [0, 1, 2, 3, 4]
    # Results keep item order and land at ResultPath inside the raw input.
    assert result.output["ship-date"] == SHIPMENT["ship-date"]
    assert result.output["detail"]["delivery-partner"] == "UQS"
    assert result.output["detail"]["shipped"] == [
        {"valid": False, "prod": "R31"},
        {"valid": True, "prod": "S39"},
        {"valid": True, "prod": "R31"},
        {"valid": True, "prod": "R40"},
        {"valid": False, "prod": "R40"},
    ]
    assert recorder.types().count("MapIterationStarted") == 5
    assert recorder.types().count("MapIterationSucceeded") == 5
    started = recorder.of_type("MapStateStarted")[0]
    assert started["details"] == {"length": 5}
    first_events = [e for e in recorder.events if e["previous_event_id"] == started["id"]]
    assert {e["type"] for e in first_events} == {"MapIterationStarted", "MapStateSucceeded"}
    paths = {e["state_path"] for e in recorder.of_type("TaskSucceeded")}
    assert paths == {f"Validate-All/{i}/Validate" for i in range(5)}


def concurrency_probe(delay: float = 0.05) -> tuple[Any, dict[str, int]]:
    stats = {"now": 0, "max": 0, "calls": 0}
    lock = threading.Lock()

    def work(params: Any) -> Any:
        with lock:
            stats["now"] += 1
            stats["calls"] += 1
            stats["max"] = max(stats["max"], stats["now"])
        time.sleep(delay)
        with lock:
            stats["now"] -= 1
        return params

    return work, stats


def map_of(n_items: int, **fields: Any) -> tuple[dict[str, Any], list[int]]:
    definition = machine(
        "M", M={"Type": "Map", "ItemProcessor": machine("W", W=task("w")), "End": True, **fields}
    )
    return definition, list(range(n_items))


def test_max_concurrency_two_is_never_exceeded() -> None:
    work, stats = concurrency_probe()
    definition, items = map_of(10, MaxConcurrency=2)
    result = execute(definition, items, runners={arn("w"): work}, max_workers=8)
    assert result.output == items
    assert stats["max"] == 2 and stats["calls"] == 10


def test_unlimited_concurrency_is_capped_by_the_worker_count() -> None:
    work, stats = concurrency_probe()
    definition, items = map_of(12, MaxConcurrency=0)
    assert execute(definition, items, runners={arn("w"): work}, max_workers=3).output == items
    assert stats["max"] == 3


def test_max_concurrency_path() -> None:
    work, stats = concurrency_probe()
    definition = machine(
        "M",
        M={
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrencyPath": "$.limit",
            "ItemProcessor": machine("W", W=task("w")),
            "End": True,
        },
    )
    execute(definition, {"items": list(range(6)), "limit": 1}, runners={arn("w"): work})
    assert stats["max"] == 1


def test_empty_map_and_non_array_items() -> None:
    definition, _ = map_of(0)
    assert execute(definition, [], runners={arn("w"): lambda p: p}).output == []
    result = execute(definition, {"not": "a list"}, runners={arn("w"): lambda p: p})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_inline_map_fails_on_the_first_failed_iteration(recorder: EventRecorder) -> None:
    def work(params: int, ctx: TaskContext) -> int:
        if params == 3:
            raise AslError("BadItem", "item 3")
        ctx.cancel.wait(0.05)
        return params

    definition, items = map_of(20, MaxConcurrency=2)
    result = execute(definition, items, runners={arn("w"): work}, events=recorder)
    assert (result.status, result.error, result.cause) == ("FAILED", "BadItem", "item 3")
    assert recorder.types().count("MapIterationStarted") < 20  # the rest never started
    assert "MapStateFailed" in recorder.types()


def distributed(items: int, **tolerance: Any) -> dict[str, Any]:
    return machine(
        "M",
        M={
            "Type": "Map",
            "MaxConcurrency": 4,
            "End": True,
            **tolerance,
            "ItemProcessor": {
                **machine("W", W=task("w")),
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            },
        },
    )


def fail_multiples_of_four(params: int) -> int:
    if params % 4 == 0:
        raise AslError("Bad", f"item {params}")
    return params * 10


def test_tolerated_failure_count() -> None:
    items = list(range(10))  # 0, 4 and 8 fail
    ok = execute(
        distributed(10, ToleratedFailureCount=3), items, runners={arn("w"): fail_multiples_of_four}
    )
    assert ok.status == "SUCCEEDED"
    assert ok.output[1] == 10 and ok.output[0] == {"Error": "Bad", "Cause": "item 0"}
    too_many = execute(
        distributed(10, ToleratedFailureCount=2), items, runners={arn("w"): fail_multiples_of_four}
    )
    assert (too_many.status, too_many.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_tolerated_failure_percentage() -> None:
    items = list(range(10))  # 30 % fail
    runners = {arn("w"): fail_multiples_of_four}
    assert (
        execute(distributed(10, ToleratedFailurePercentage=30), items, runners=runners).status
        == "SUCCEEDED"
    )
    assert (
        execute(distributed(10, ToleratedFailurePercentage=29), items, runners=runners).error
        == "States.ExceedToleratedFailureThreshold"
    )
    assert (
        execute(
            distributed(10, ToleratedFailurePercentagePath="$$.Execution.Input[0]"),
            items,
            runners=runners,
        ).error
        == "States.ExceedToleratedFailureThreshold"
    )
    assert (
        execute(distributed(10), items, runners=runners).error
        == "States.ExceedToleratedFailureThreshold"
    )


def test_item_batcher() -> None:
    definition = machine(
        "M",
        M={
            "Type": "Map",
            "End": True,
            "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"tag.$": "$.tag"}},
            "ItemsPath": "$.items",
            "ItemProcessor": machine("W", W=task("w")),
        },
    )
    result = execute(definition, {"items": [1, 2, 3], "tag": "t"}, runners={arn("w"): lambda p: p})
    assert result.output == [
        {"Items": [1, 2], "BatchInput": {"tag": "t"}},
        {"Items": [3], "BatchInput": {"tag": "t"}},
    ]


def test_nested_maps_carry_all_indices() -> None:
    seen: list[tuple[tuple[int, ...], str]] = []
    lock = threading.Lock()

    def leaf(params: Any, ctx: TaskContext) -> Any:
        with lock:
            seen.append((ctx.map_indices, ctx.state_path))
        return params

    inner = machine(
        "Inner",
        Inner={"Type": "Map", "ItemProcessor": machine("Leaf", Leaf=task("leaf")), "End": True},
    )
    definition = machine("Outer", Outer={"Type": "Map", "ItemProcessor": inner, "End": True})
    result = execute(definition, [[1, 2], [3]], runners={arn("leaf"): leaf})
    assert result.output == [[1, 2], [3]]
    assert sorted(seen) == [
        ((0, 0), "Outer/0/Inner/0/Leaf"),
        ((0, 1), "Outer/0/Inner/1/Leaf"),
        ((1, 0), "Outer/1/Inner/0/Leaf"),
    ]


MATH = machine(
    "FunWithMath",
    FunWithMath={
        "Type": "Parallel",
        "Branches": [
            machine(
                "Add",
                Add={
                    "Type": "Task",
                    "End": True,
                    "Resource": "arn:aws:states:us-east-1:123456789012:activity:Add",
                },
            ),
            machine(
                "Subtract",
                Subtract={
                    "Type": "Task",
                    "End": True,
                    "Resource": "arn:aws:states:us-east-1:123456789012:activity:Subtract",
                },
            ),
        ],
        "End": True,
    },
)


def test_spec_parallel_example() -> None:
    runners = {
        "arn:aws:states:us-east-1:123456789012:activity:Add": lambda p: p[0] + p[1],
        "arn:aws:states:us-east-1:123456789012:activity:Subtract": lambda p: p[0] - p[1],
    }
    assert execute(MATH, [3, 2], runners=runners, validation="full").output == [5, 1]


def test_parallel_branches_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)  # passes only if all three run at once

    def meet(params: Any) -> str:
        barrier.wait()
        return "met"

    branches = [machine(f"B{i}", **{f"B{i}": task("meet")}) for i in range(3)]
    definition = machine("P", P={"Type": "Parallel", "Branches": branches, "End": True})
    assert execute(definition, runners={arn("meet"): meet}).output == ["met"] * 3


def test_parallel_failure_cancels_siblings_and_can_be_caught(recorder: EventRecorder) -> None:
    sibling_cancelled = threading.Event()
    slow_started = threading.Event()

    def slow(params: Any, ctx: TaskContext) -> None:
        slow_started.set()
        if ctx.cancel.wait(10):
            sibling_cancelled.set()

    def boom(params: Any) -> None:
        assert slow_started.wait(10)  # fail only once the sibling is running
        raise AslError("Boom", "branch 1 failed")

    definition = machine(
        "P",
        P={
            "Type": "Parallel",
            "Next": "Done",
            "ResultPath": "$.result",
            "Branches": [machine("Slow", Slow=task("slow")), machine("Boom", Boom=task("boom"))],
            "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Done"}],
        },
        Done={"Type": "Succeed"},
    )
    result = execute(
        definition, {"x": 1}, runners={arn("slow"): slow, arn("boom"): boom}, events=recorder
    )
    assert result.output == {"x": 1, "error": {"Error": "Boom", "Cause": "branch 1 failed"}}
    assert sibling_cancelled.is_set()  # cancelled, not left to wait out its 10 s
    assert "ParallelStateFailed" in recorder.types()


def test_parallel_with_parameters_result_selector_and_nesting() -> None:
    definition = machine(
        "P",
        P={
            "Type": "Parallel",
            "End": True,
            "Parameters": {"n.$": "$.n"},
            "ResultSelector": {"first.$": "$[0]", "second.$": "$[1][0]"},
            "Branches": [
                machine("A", A={"Type": "Pass", "InputPath": "$.n", "End": True}),
                machine(
                    "Q",
                    Q={
                        "Type": "Parallel",
                        "End": True,
                        "Branches": [
                            machine("B", B={"Type": "Pass", "Result": "deep", "End": True})
                        ],
                    },
                ),
            ],
        },
    )
    assert execute(definition, {"n": 7, "ignored": True}).output == {"first": 7, "second": "deep"}


def test_map_cancellation_reaches_every_iteration() -> None:
    cancel = threading.Event()
    running = threading.Semaphore(0)

    def wait_forever(params: Any, ctx: TaskContext) -> None:
        running.release()
        ctx.cancel.wait(10)

    def trigger() -> None:
        for _ in range(3):
            running.acquire(timeout=5)
        cancel.set()

    threading.Thread(target=trigger, daemon=True).start()
    definition, items = map_of(9, MaxConcurrency=3)
    sm = StateMachine(definition, runners={arn("w"): wait_forever}, max_workers=3)
    result = sm.execute(items, cancel=cancel)
    assert result.status == "ABORTED"
