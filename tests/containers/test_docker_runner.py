"""The Docker runner (``STACWORKS_PROCESSING_RUNNER=docker``) as a user runs it: ``stacworks
workflow run`` with algorithm files, against a real dockerd and images built here.

NDVI in its image gives the very bytes the command runner gives; a task over its memory is
``States.TaskFailed`` that a workflow catches; a task has no network; a scaffolded repository's
image builds and runs through the runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import stacworks

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
S2_DIR = ROOT.parent / "shared/data/raster/sentinel2-l2a-cog/S2A_29RKH_20200219_0_L2A"


def _task(name: str, parameters: str = "{}") -> dict[str, Any]:
    return {
        "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {"TaskDefinition": f"stacworks-{name}", "Overrides": {
            "ContainerOverrides": [{"Name": name, "Environment": [
                {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": "States.JsonToString($.items)"},
                {"Name": "STACWORKS_PARAMETERS", "Value": parameters}]}]}},
    }


@pytest.fixture
def env(env_no_db: dict[str, str]) -> dict[str, str]:
    return env_no_db


@pytest.fixture
def s2_item(tmp_path: Path) -> Path:
    """The sample Sentinel-2 L2A item with its red, nir and scl assets on local disk."""
    item = json.loads((S2_DIR / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item["assets"] = {k: {**item["assets"][k], "href": str(S2_DIR / Path(
        item["assets"][k]["href"]).name)} for k in ("red", "nir", "scl")}
    item["links"] = []
    path = tmp_path / "s2.json"
    path.write_text(json.dumps(item))
    return path


def _algorithm(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(tmp_path: Path, env: dict[str, str], runner: str, workflow: dict[str, Any],
         algorithm: Path, items: list[str], work: str, check: bool = True) -> Any:
    doc = tmp_path / "workflow.json"
    doc.write_text(json.dumps(workflow))
    return stacworks("workflow", "run", str(doc), "--input", json.dumps({"items": items}),
                     "--algorithm", str(algorithm), "--work-dir", str(tmp_path / work),
                     env={**env, "STACWORKS_PROCESSING_RUNNER": runner}, check=check)


def test_ndvi_image_gives_the_command_runners_bytes(tmp_path: Path, env: dict[str, str],
                                                    s2_item: Path, algorithms_image: str) -> None:
    spec = yaml.safe_load((ROOT / "algorithms" / "ndvi.yaml").read_text())
    spec["image"] = algorithms_image
    spec["local_command"] = ["{python}", str(ROOT / "algorithms" / "ndvi.py")]
    algorithm = _algorithm(tmp_path, spec)
    workflow = {"StartAt": "NDVI", "States": {"NDVI": {**_task("ndvi"), "End": True}}}
    results = {}
    for runner in ("command", "docker"):
        res = _run(tmp_path, env, runner, workflow, algorithm, [str(s2_item)], runner)
        assert "sentinel-2, bands red/nir" in res.stderr  # the task's log, streamed
        [output] = json.loads(res.stdout)["Outputs"]
        results[runner] = Path(output["path"]).read_bytes()
    assert len(results["docker"]) > 10_000
    assert results["docker"] == results["command"]


def test_a_task_over_its_memory_is_an_error_the_workflow_catches(
        tmp_path: Path, env: dict[str, str], s2_item: Path, algorithms_image: str) -> None:
    algorithm = _algorithm(tmp_path, {
        "name": "hog", "version": "1", "image": algorithms_image, "cpu": 256, "memory": 512,
        "command": ["python", "-c", "x = b'x' * (900 * 1024 * 1024); print(len(x))"]})
    workflow = {"StartAt": "Hog", "States": {
        "Hog": {**_task("hog"), "End": True, "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}}
    res = _run(tmp_path, env, "docker", workflow, algorithm, [str(s2_item)], "work")
    error = json.loads(res.stdout)["error"]
    assert error["Error"] == "States.TaskFailed"
    assert "OutOfMemoryError" in error["Cause"] and "512 MiB" in error["Cause"]


def test_a_task_has_no_network_unless_it_asks(tmp_path: Path, env: dict[str, str],
                                              s2_item: Path, algorithms_image: str) -> None:
    script = ("import os, socket; open(os.environ['STACWORKS_OUTPUT_DIR'] + '/net.txt', 'w')"
              ".write(' '.join(sorted(n for _, n in socket.if_nameindex())))")
    algorithm = _algorithm(tmp_path, {"name": "net", "version": "1", "image": algorithms_image,
                                      "command": ["python", "-c", script]})
    workflow = {"StartAt": "Net", "States": {"Net": {**_task("net"), "End": True}}}
    res = _run(tmp_path, env, "docker", workflow, algorithm, [str(s2_item)], "work")
    [output] = json.loads(res.stdout)["Outputs"]
    assert Path(output["path"]).read_text() == "lo"  # loopback only: no way out


def test_a_scaffolded_repository_builds_and_runs(tmp_path: Path, env: dict[str, str],
                                                 s2_item: Path, base_image: str) -> None:
    repo = tmp_path / "footprints"
    stacworks("algorithm", "init", "footprints", "--language", "shell", "--dir", str(repo),
              env=env)
    built = stacworks("algorithm", "build", str(repo), "--build-arg",
                      f"BASE_IMAGE={base_image}", env=env, timeout=600)
    assert "built footprints:0.1.0 sha256:" in built.stdout
    record = json.loads((repo / ".stacworks-image.json").read_text())
    assert record["image"] == "footprints:0.1.0" and record["image_id"].startswith("sha256:")
    workflow = {"StartAt": "Footprint", "States": {
        "Footprint": {**_task("footprints", '{"label": "from docker"}'), "End": True}}}
    res = _run(tmp_path, env, "docker", workflow, repo / "algorithm.yaml", [str(s2_item)],
               "work")
    [output] = json.loads(res.stdout)["Outputs"]
    feature = json.loads(Path(output["path"]).read_text())
    assert feature["properties"] == {"id": "S2A_29RKH_20200219_0_L2A", "label": "from docker"}
    assert "footprint written" in res.stderr


def test_a_timeout_stops_the_container(tmp_path: Path, env: dict[str, str], s2_item: Path,
                                       algorithms_image: str) -> None:
    import subprocess

    algorithm = _algorithm(tmp_path, {
        "name": "sleeper", "version": "1", "image": algorithms_image,
        "command": ["python", "-c", "import time; print('sleeping', flush=True); time.sleep(120)"]})
    workflow = {"StartAt": "Sleep", "States": {
        "Sleep": {**_task("sleeper"), "TimeoutSeconds": 3, "End": True, "Catch": [
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Caught"}]},
        "Caught": {"Type": "Pass", "End": True}}}
    res = _run(tmp_path, {**env, "STACWORKS_PROCESSING_KILL_GRACE_SECONDS": "1"}, "docker",
               workflow, algorithm, [str(s2_item)], "work")
    assert json.loads(res.stdout)["error"]["Error"] == "States.Timeout"
    left = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", "name=stacworks-"],
                          capture_output=True, text=True, check=True).stdout
    assert left.strip() == ""  # stopped and removed
