"""Resumability: a finished task's recorded result is reused instead of running it again."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from processing.asl import (
    AslError,
    EventRecorder,
    TaskContext,
    completed_tasks_from_events,
    execute,
    task_key,
)

from .asl_helpers import arn, machine, task

PIPELINE = machine(
    "Prepare",
    Prepare=task("prepare", ResultPath="$.prepared", Next="Process"),
    Process={
        "Type": "Map",
        "ItemsPath": "$.items",
        "ResultPath": "$.processed",
        "Next": "Publish",
        "ItemProcessor": machine("Tile", Tile=task("tile")),
    },
    Publish=task("publish", ResultPath="$.published"),
)


class Runners:
    """Counts calls per state path; can be told to crash at one of them."""

    def __init__(self, crash_at: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.crash_at = crash_at
        self.lock = threading.Lock()

    def __call__(self, params: Any, ctx: TaskContext) -> Any:
        with self.lock:
            self.calls[ctx.state_path] += 1
        if ctx.state_path == self.crash_at:
            raise AslError("Crash", "the worker died")
        if ctx.state_name == "Tile":
            return params * 10
        return f"{ctx.state_name} done"

    def mapping(self) -> dict[str, Any]:
        return {arn(name): self for name in ("prepare", "tile", "publish")}


def test_resume_after_a_crash_reuses_finished_tasks() -> None:
    data = {"items": [1, 2, 3]}
    clean = execute(PIPELINE, data, runners=Runners().mapping())
    assert clean.status == "SUCCEEDED"

    first_events = EventRecorder()
    crashing = Runners(crash_at="Process/2/Tile")
    crashed = execute(
        PIPELINE, data, runners=crashing.mapping(), events=first_events, max_workers=1
    )
    assert crashed.status == "FAILED"
    completed = completed_tasks_from_events(first_events.events)
    assert completed == {"Prepare": "Prepare done", "Process/0/Tile": 10, "Process/1/Tile": 20}

    second_events = EventRecorder()
    resumed_runners = Runners()
    resumed = execute(
        PIPELINE,
        data,
        runners=resumed_runners.mapping(),
        events=second_events,
        completed_tasks=completed,
    )
    assert resumed.status == "SUCCEEDED" and resumed.output == clean.output
    assert set(resumed_runners.calls) == {"Process/2/Tile", "Publish"}  # nothing ran twice
    reused = [e for e in second_events.of_type("TaskSucceeded") if e["details"].get("reused")]
    assert {e["state_path"] for e in reused} == set(completed)
    # The resumed history alone is enough for the next resume.
    assert set(completed_tasks_from_events(second_events.events)) == {
        "Prepare",
        "Process/0/Tile",
        "Process/1/Tile",
        "Process/2/Tile",
        "Publish",
    }


def test_loop_visits_have_their_own_keys() -> None:
    definition = machine(
        "Inc",
        Inc=task("inc", Next="Check"),
        Check={
            "Type": "Choice",
            "Default": "Done",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Inc"}],
        },
        Done={"Type": "Succeed"},
    )
    seen: list[str] = []

    def inc(params: dict[str, int], ctx: TaskContext) -> dict[str, int]:
        seen.append(ctx.state_path)
        return {"n": params["n"] + 1}

    events = EventRecorder()
    assert execute(definition, {"n": 0}, runners={arn("inc"): inc}, events=events).output == {
        "n": 3
    }
    assert seen == ["Inc", "Inc#2", "Inc#3"]
    completed = completed_tasks_from_events(events.events)
    del completed["Inc#3"]
    seen.clear()
    resumed = execute(definition, {"n": 0}, runners={arn("inc"): inc}, completed_tasks=completed)
    assert resumed.output == {"n": 3} and seen == ["Inc#3"]


def test_parallel_branch_keys_and_escaping() -> None:
    definition = machine(
        "P",
        P={
            "Type": "Parallel",
            "End": True,
            "Branches": [
                machine("A", A=task("a")),
                {"StartAt": "odd/name#1", "States": {"odd/name#1": task("b")}},
            ],
        },
    )
    paths: list[str] = []
    lock = threading.Lock()

    def record(params: Any, ctx: TaskContext) -> str:
        with lock:
            paths.append(ctx.state_path)
        return ctx.state_name

    runners = {arn("a"): record, arn("b"): record}
    assert execute(definition, runners=runners).output == ["A", "odd/name#1"]
    assert sorted(paths) == ["P/0/A", "P/1/odd%2Fname%231"]
    assert task_key("P/1/", "odd/name#1") == "P/1/odd%2Fname%231"
    assert task_key("", "Inc", 2) == "Inc#2"
    paths.clear()
    resumed = execute(definition, runners=runners, completed_tasks={"P/1/odd%2Fname%231": "kept"})
    assert resumed.output == ["A", "kept"] and paths == ["P/0/A"]
