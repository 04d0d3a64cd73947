"""Job control through the jobs API: a failing task retried then caught, a cancel that stops the
processes, a server killed mid-execution and restarted, and a Map over several items."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio

from tests.processing.jobs_fixtures import (
    ProcessingData,
    alive,
    own_server,
    register_algorithm,
    shell_algorithm,
    start_job,
    wait_job,
)
from tests.processing.test_jobs_ndvi import ecs_task

FLAKY = 'echo "attempt" >> "$MARKER"; echo "failing on purpose" >&2; exit 3'
SLEEPER = ('echo $$ > "$PIDS"; sleep 60 & echo $! >> "$PIDS"; echo started; wait')
STEP = ('echo "$STACWORKS_STATE_NAME" >> "$MARKER"; echo $$ >> "$MARKER.pids"; '
        'if [ "$STACWORKS_STATE_NAME" = "Slow" ]; then sleep 6; fi; echo done')


def _task(algorithm: str, env: dict[str, str], **fields: Any) -> dict[str, Any]:
    state = ecs_task(algorithm, **fields)
    state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"] += [
        {"Name": k, "Value": v} for k, v in env.items()]
    return state


def _workflow(api: httpx.Client, workflow_id: str, definition: dict[str, Any]) -> None:
    doc = {"id": workflow_id, "definition": definition}
    response = api.post("/workflows", json=doc)
    if response.status_code == 409:
        response = api.put(f"/workflows/{workflow_id}", json=doc)
    assert response.status_code in (200, 201), response.text


@pytest.fixture(scope="module")
def algorithms(stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
               processing_data: ProcessingData) -> None:
    folder = tmp_path_factory.mktemp("algorithms")
    register_algorithm(stacworks_env, folder, shell_algorithm("flaky", FLAKY))
    register_algorithm(stacworks_env, folder, shell_algorithm("sleeper", SLEEPER))
    register_algorithm(stacworks_env, folder, shell_algorithm("step", STEP))


def test_failing_task_is_retried_then_caught(api: httpx.Client, algorithms: None,
                                             processing_data: ProcessingData,
                                             tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    _workflow(api, "flaky-caught", {
        "StartAt": "Flaky",
        "States": {
            "Flaky": _task("flaky", {"MARKER": str(marker)},
                           Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1,
                                   "MaxAttempts": 2, "BackoffRate": 1.0}],
                           Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                                   "Next": "Recovered"}], Next="Unreached"),
            "Unreached": {"Type": "Fail", "Error": "Unreached"},
            "Recovered": {"Type": "Pass", "Parameters": {"caught.$": "$.failure.Error"},
                          "End": True},
        },
    })
    d = processing_data
    job = start_job(api, "flaky-caught", {"items": [f"{d.s2}/{d.s2_item}"]})
    info = wait_job(api, job, timeout=60)
    assert info["status"] == "successful", info
    assert api.get(f"/jobs/{job}/results").json()["output"] == {"caught": "States.TaskFailed"}
    assert marker.read_text().count("attempt") == 3
    tasks = api.get(f"/jobs/{job}/logs").json()["tasks"]
    assert [t["retry"] for t in tasks] == [0, 1, 2]
    assert all(t["exit_code"] == 3 and t["status"] == "failed" for t in tasks)
    assert all(any("failing on purpose" in line["message"] for line in t["lines"]) for t in tasks)
    events = [e["type"] for e in api.get(f"/jobs/{job}/history").json()["events"]]
    assert events.count("TaskFailed") == 3 and events[-1] == "ExecutionSucceeded"


def test_cancel_stops_the_processes(api: httpx.Client, algorithms: None,
                                    processing_data: ProcessingData, tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    _workflow(api, "sleepy", {"StartAt": "Sleep",
                              "States": {"Sleep": _task("sleeper", {"PIDS": str(pids_file)})}})
    d = processing_data
    job = start_job(api, "sleepy", {"items": [f"{d.s2}/{d.s2_item}"]})
    deadline = time.monotonic() + 30
    while len(pids_file.read_text().split() if pids_file.exists() else []) < 2:
        assert time.monotonic() < deadline, "the task did not start"
        time.sleep(0.1)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    assert api.get(f"/jobs/{job}").json()["status"] == "running"
    dismissed = api.delete(f"/jobs/{job}")
    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"
    assert not any(alive(p) for p in pids), "the task and its child must be gone"
    assert api.get(f"/jobs/{job}/logs").json()["tasks"][0]["status"] == "cancelled"
    assert api.get(f"/jobs/{job}/results").status_code == 409


def _slow_started(marker: Path) -> bool:
    return "Slow" in (marker.read_text() if marker.exists() else "")


def _succeeded(client: httpx.Client, job: str, state: str) -> bool:
    events = client.get(f"/jobs/{job}/history").json()["events"]
    return any(e["type"] == "TaskSucceeded" and e["state_name"] == state for e in events)


def test_server_restart_resumes_without_rerunning_finished_tasks(
    stacworks_env: dict[str, str], algorithms: None, processing_data: ProcessingData,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "steps"
    definition = {"StartAt": "Fast", "States": {
        "Fast": _task("step", {"MARKER": str(marker)}, ResultPath="$.fast", Next="Slow"),
        "Slow": _task("step", {"MARKER": str(marker)}, ResultPath="$.slow"),
    }}
    d = processing_data
    with own_server(stacworks_env, tmp_path / "first.log") as (base, proc), \
            httpx.Client(base_url=base, timeout=30) as client:
        _workflow(client, "two-steps", definition)
        job = start_job(client, "two-steps", {"items": [f"{d.s2}/{d.s2_item}"]})
        # Kill once Slow runs and Fast's success is in the stored history (what a resume reads).
        deadline = time.monotonic() + 30
        while not (_slow_started(marker) and _succeeded(client, job, "Fast")):
            assert time.monotonic() < deadline, "the slow step did not start after Fast succeeded"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    orphan = int(Path(f"{marker}.pids").read_text().split()[-1])
    with own_server(stacworks_env, tmp_path / "second.log") as (base, _), \
            httpx.Client(base_url=base, timeout=30) as client:
        assert not alive(orphan), "the crashed server's task process must be stopped"
        info = wait_job(client, job, timeout=60)
        assert info["status"] == "successful", info
        assert info["run"] == 2
        steps = marker.read_text().split()
        assert steps.count("Fast") == 1, "a finished task is not run again"
        assert steps.count("Slow") == 2
        events = client.get(f"/jobs/{job}/history").json()["events"]
        reused = [e for e in events if e["type"] == "TaskSucceeded" and e["details"].get("reused")]
        assert [e["state_name"] for e in reused] == ["Fast"]
        runs = client.get(f"/jobs/{job}/logs").json()["tasks"]
        assert [(t["state"], t["status"]) for t in runs] == [
            ("Fast", "succeeded"), ("Slow", "abandoned"), ("Slow", "succeeded")]


def test_map_over_items_then_composite(api: httpx.Client, processing_data: ProcessingData) -> None:
    """NDVI of three items in a Map (clouds kept), then their median composite."""
    _workflow(api, "ndvi-composite", {
        "StartAt": "NDVI",
        "States": {
            "NDVI": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3,
                "ItemSelector": {"items.$": "States.Array($$.Map.Item.Value)",
                                 "parameters.$": "$.parameters"},
                "ItemProcessor": {"StartAt": "Each", "States": {"Each": ecs_task(
                    "ndvi", ResultSelector={"item.$": "$.Items[0]"})}},
                "ResultPath": "$.ndvi", "Next": "Gather",
            },
            # The composite reads the NDVI outputs: the URLs the Map's tasks returned.
            "Gather": {"Type": "Pass", "Next": "Composite",
                       "Parameters": {"items.$": "$.ndvi[*].item",
                                      "parameters": {"asset": "ndvi"}}},
            "Composite": ecs_task("median-composite"),
        },
    })
    d = processing_data
    job = start_job(api, "ndvi-composite", {
        "items": [f"{d.s2}/{d.s2_item}", {"collection": d.s2, "id": d.s2_later},
                  f"{d.landsat}/{d.landsat_item}"],
        "parameters": {"mask_clouds": False},
    })
    info = wait_job(api, job, timeout=120)
    assert info["status"] == "successful", (info.get("error"), info.get("cause"))
    assert info["states"]["Each"]["succeeded"] == 3
    features = api.get(f"/jobs/{job}/results").json()["items"]["features"]
    ndvi = {f["links"][0]["href"].rsplit("/", 1)[1]: f for f in features if "ndvi" in f["assets"]}
    composite = next(f for f in features if "median" in f["assets"])
    assert set(ndvi) == {d.s2_item, d.s2_later, d.landsat_item}
    derived = {link["href"].rsplit("/", 1)[1] for link in composite["links"]
               if link["rel"] == "derived_from"}
    assert derived == {f["id"] for f in ndvi.values()}
    assert composite["properties"]["start_datetime"].startswith("2020-02-19")
    # Landsat without cloud masking: NDVI from SR_B4/SR_B5 with the C2 L2 scale and offset.
    from tests.processing.jobs_fixtures import LANDSAT_DIR
    from tests.processing.test_jobs_ndvi import expected_ndvi

    base = LANDSAT_DIR / LANDSAT_DIR.name
    expected = expected_ndvi(f"{base}_SR_B4.TIF", f"{base}_SR_B5.TIF", 2.75e-05, -0.2)
    with rasterio.open(ndvi[d.landsat_item]["assets"]["ndvi"]["href"]) as src:
        landsat = src.read(1)
    valid = np.isfinite(landsat)
    assert valid.sum() > 1000
    assert np.allclose(landsat[valid], expected[valid], atol=1e-5)
    # On the first (Sentinel-2) grid the two dates share their pixels and Landsat lies far away:
    # the median equals either date and two observations count.
    with rasterio.open(composite["assets"]["median"]["href"]) as src:
        median = src.read(1)
    with rasterio.open(ndvi[d.s2_item]["assets"]["ndvi"]["href"]) as src:
        s2 = src.read(1)
    both = np.isfinite(s2)
    assert np.allclose(median[both], s2[both], atol=1e-6)
    with rasterio.open(composite["assets"]["count"]["href"]) as src:
        assert src.read(1)[both].max() == 2
    assert json.loads(json.dumps(info["cost"]))["task_runs"] == 4
