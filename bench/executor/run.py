"""Benchmark of the ASL executor against baselines measured in the same run.

Three figures, each with its own target:

* Pass overhead: a 1,000-state chain of Pass states (each placing a result with ResultPath),
  against the 1 ms/state budget and against a plain Python loop doing the same dict copies;
* Task overhead: one Task running ``true`` through ``SubprocessTaskRunner``, against a bare
  ``subprocess.run(["true"])`` (budget: +20 ms per task);
* Map scaling: N tasks of ``sleep T`` in a Map, against the ideal ``N * T / cores`` (budget:
  1.15x).

Run as ``.venv/bin/python bench/executor/run.py [--items 200] [--sleep 0.05]``; the last line
printed is one JSON object (``name``, ``baseline_s``, ``ours_s``, ``ratio`` and the rest).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from processing.asl import EventRecorder, StateMachine, SubprocessTaskRunner  # noqa: E402

ECS = "arn:aws:states:::ecs:runTask.sync"
PASS_BUDGET_S = 0.001
TASK_BUDGET_S = 0.020
MAP_BUDGET_RATIO = 1.15


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``repeats`` timed calls (the least disturbed by the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pass_chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {
        f"S{i}": {"Type": "Pass", "Result": {"i": i}, "ResultPath": "$.last", "Next": f"S{i + 1}"}
        for i in range(n)
    }
    states[f"S{n - 1}"] = {
        "Type": "Pass",
        "Result": {"i": n - 1},
        "ResultPath": "$.last",
        "End": True,
    }
    return {"StartAt": "S0", "States": states}


def loop_baseline(n: int, payload: dict[str, Any]) -> dict[str, Any]:
    """What the chain does, minus the interpreter: copy the input, set a field, n times."""
    value = payload
    for i in range(n):
        value = dict(value)
        value["last"] = {"i": i}
    return value


def bench_pass(n: int, repeats: int) -> dict[str, Any]:
    payload = {"scene": "S2A_MSIL2A_20240101", "bands": list(range(13))}
    definition = pass_chain(n)
    machine = StateMachine(definition)
    assert machine.execute(payload).output == loop_baseline(n, payload)
    ours = best_of(repeats, lambda: machine.execute(payload))
    with_events = StateMachine(definition)
    # A fresh recorder per run: the events of earlier runs must not pile up in memory.
    ours_events = best_of(repeats, lambda: with_events.execute(payload, events=EventRecorder()))
    loop = best_of(repeats, lambda: loop_baseline(n, payload))
    construct = best_of(repeats, lambda: StateMachine(definition))
    return {
        "pass_states": n,
        "pass_loop_baseline_s": loop,
        "pass_ours_s": ours,
        "pass_ours_with_events_s": ours_events,
        "pass_ms_per_state": ours / n * 1000,
        "pass_ms_per_state_with_events": ours_events / n * 1000,
        "pass_vs_loop_ratio": ours / loop,
        "construct_and_validate_s": construct,
    }


def bench_task(repeats: int) -> dict[str, Any]:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": ECS,
                "Parameters": {"Command": ["true"]},
                "End": True,
            }
        },
    }
    machine = StateMachine(definition, runners={ECS: SubprocessTaskRunner()})
    assert machine.execute({}).status == "SUCCEEDED"
    subprocess.run(["true"], check=True)
    bare: list[float] = []
    ours: list[float] = []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        bare.append(best_of(1, lambda: subprocess.run(["true"], check=True)))
        ours.append(best_of(1, lambda: machine.execute({})))
    return {
        "task_bare_ms": statistics.median(bare) * 1000,
        "task_ours_ms": statistics.median(ours) * 1000,
        "task_overhead_ms": (statistics.median(ours) - statistics.median(bare)) * 1000,
    }


def bench_map(items: int, sleep_s: float, cores: int) -> dict[str, Any]:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 0,
                "End": True,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": ECS,
                            "End": True,
                            "Parameters": {"Command": ["sleep", str(sleep_s)]},
                        }
                    },
                },
            }
        },
    }
    machine = StateMachine(definition, runners={ECS: SubprocessTaskRunner()}, max_workers=cores)
    result: list[Any] = []
    elapsed = best_of(1, lambda: result.append(machine.execute(list(range(items)))))
    assert result[0].status == "SUCCEEDED", result[0]
    one = statistics.median(
        best_of(1, lambda: subprocess.run(["sleep", str(sleep_s)], check=True)) for _ in range(5)
    )
    ideal = items * sleep_s / cores
    return {
        "map_items": items,
        "map_task_sleep_s": sleep_s,
        "map_workers": cores,
        "map_ideal_s": ideal,
        "map_ideal_with_spawn_s": -(-items // cores) * one,
        "map_ours_s": elapsed,
        "map_ratio": elapsed / ideal,
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("jsonschema", "referencing"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--task-repeats", type=int, default=50)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1

    figures: dict[str, Any] = {}
    figures.update(bench_pass(args.states, args.repeats))
    print(
        f"pass: {figures['pass_ms_per_state']:.4f} ms/state "
        f"({figures['pass_ms_per_state_with_events']:.4f} with events), "
        f"{figures['pass_vs_loop_ratio']:.1f}x a bare loop",
        file=sys.stderr,
    )
    gc.collect()  # start each section from a clean heap: fork/exec cost grows with it
    figures.update(bench_task(args.task_repeats))
    print(
        f"task: {figures['task_ours_ms']:.2f} ms vs {figures['task_bare_ms']:.2f} ms bare "
        f"(+{figures['task_overhead_ms']:.2f} ms)",
        file=sys.stderr,
    )
    gc.collect()
    figures.update(bench_map(args.items, args.sleep, cores))
    print(
        f"map: {figures['map_ours_s']:.2f} s vs ideal {figures['map_ideal_s']:.2f} s "
        f"({figures['map_ratio']:.3f}x) on {cores} cores",
        file=sys.stderr,
    )

    baseline = PASS_BUDGET_S * args.states
    ours = figures["pass_ours_s"]
    line = {
        "name": "executor",
        "baseline": f"{PASS_BUDGET_S * 1000:g} ms per Pass state x {args.states} states",
        "baseline_s": baseline,
        "ours_s": ours,
        "ratio": ours / baseline,
        **figures,
        "targets": {
            "pass_ms_per_state<=1": figures["pass_ms_per_state"] <= PASS_BUDGET_S * 1000,
            "task_overhead_ms<=20": figures["task_overhead_ms"] <= TASK_BUDGET_S * 1000,
            "map_ratio<=1.15": figures["map_ratio"] <= MAP_BUDGET_RATIO,
        },
        "machine": {
            "cores": cores,
            "cpu": platform.processor() or platform.machine(),
            "system": platform.platform(),
        },
        "versions": versions(),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
