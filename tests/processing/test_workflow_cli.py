"""`stacworks workflow ...` and `stacworks algorithm ...` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import stacworks
from tests.processing.jobs_fixtures import ALGORITHMS, COPC

CHOICE = {
    "Comment": "Doubles small numbers, fails on big ones",
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "TooBig"}],
            "Default": "Double"},
        "Double": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, $.n)"},
                   "End": True},
        "TooBig": {"Type": "Fail", "Error": "TooBig", "Cause": "n is larger than 10"},
    },
}


def test_validate_reports_state_and_field(tmp_path: Path, env_no_db: dict[str, str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CHOICE))
    assert "valid" in stacworks("workflow", "validate", str(good), env=env_no_db).stdout
    bad = json.loads(json.dumps(CHOICE))
    bad["States"]["Double"]["Next"] = "Nowhere"
    del bad["States"]["Double"]["End"]
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(bad))  # JSON is YAML
    res = stacworks("workflow", "validate", str(path), env=env_no_db, check=False)
    assert res.returncode == 1
    assert "Double.Next" in res.stderr and "Nowhere" in res.stderr


def test_run_prints_output_or_error(tmp_path: Path, env_no_db: dict[str, str]) -> None:
    path = tmp_path / "choice.json"
    path.write_text(json.dumps(CHOICE))
    ok = stacworks("workflow", "run", str(path), "--input", '{"n": 4}', env=env_no_db)
    assert json.loads(ok.stdout) == {"n": 8}
    failed = stacworks("workflow", "run", str(path), "--input", '{"n": 40}', env=env_no_db,
                       check=False)
    assert failed.returncode == 1
    assert "TooBig" in failed.stderr and "n is larger than 10" in failed.stderr
    bad_input = stacworks("workflow", "run", str(path), "--input", "{nope", env=env_no_db,
                          check=False)
    assert bad_input.returncode == 1 and "--input" in bad_input.stderr


def test_run_a_task_with_an_algorithm_file(tmp_path: Path, env_no_db: dict[str, str]) -> None:
    """The lidar-dtm algorithm on a file item, no database, no server."""
    item = tmp_path / "autzen.json"
    item.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "autzen", "bbox": [0, 0, 1, 1],
        "geometry": None, "properties": {"datetime": "2015-01-01T00:00:00Z"},
        "assets": {"data": {"href": str(COPC)}}, "links": []}))
    doc = {"StartAt": "DTM", "States": {"DTM": {
        "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {"TaskDefinition": "stacworks-lidar-dtm", "Overrides": {
            "ContainerOverrides": [{"Name": "lidar-dtm", "Environment": [
                {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": "States.JsonToString($.items)"},
                {"Name": "STACWORKS_PARAMETERS", "Value": '{"resolution": 10}'}]}]}},
        "End": True}}}
    path = tmp_path / "dtm.json"
    path.write_text(json.dumps(doc))
    res = stacworks("workflow", "run", str(path), "--input", json.dumps({"items": [str(item)]}),
                    "--algorithm", str(ALGORITHMS / "lidar-dtm.yaml"),
                    "--work-dir", str(tmp_path / "work"), env=env_no_db)
    outputs = json.loads(res.stdout)["Outputs"]
    assert sorted(o["asset"] for o in outputs) == ["dsm", "dtm"]
    assert all(Path(o["path"]).is_file() for o in outputs)


def test_workflow_registry_commands(stacworks_env: dict[str, str], tmp_path: Path) -> None:
    env = stacworks_env
    path = tmp_path / "choice.json"
    path.write_text(json.dumps(CHOICE))
    stacworks("workflow", "delete", "cli-choice", env=env, check=False)
    stacworks("workflow", "delete", "cli-choice-copy", env=env, check=False)
    stacworks("workflow", "import", str(path), "--id", "cli-choice", env=env)
    assert "version 2" in stacworks("workflow", "update", "cli-choice", str(path), env=env).stderr
    exported = json.loads(stacworks("workflow", "export", "cli-choice", env=env).stdout)
    assert exported == CHOICE
    first = json.loads(stacworks("workflow", "get", "cli-choice", "--version", "1",
                                 env=env).stdout)
    assert first["version"] == 1
    stacworks("workflow", "duplicate", "cli-choice", "cli-choice-copy", env=env)
    listed = stacworks("workflow", "list", env=env).stdout
    assert "cli-choice\t2" in listed and "cli-choice-copy\t1" in listed
    again = stacworks("workflow", "import", str(path), "--id", "cli-choice", env=env, check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    stacworks("workflow", "delete", "cli-choice-copy", env=env)
    assert "cli-choice-copy" not in stacworks("workflow", "list", env=env).stdout
    missing = stacworks("workflow", "get", "cli-choice-copy", env=env, check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_algorithm_register_validates_and_estimates(stacworks_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    env = stacworks_env
    stacworks("algorithm", "register", "--replace", str(ALGORITHMS / "ndvi.yaml"), env=env)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nversion: '1'\ncpu: 1 vCPU\nmemory: 512\n"
                   "local_command: [/bin/true]\n")
    res = stacworks("algorithm", "register", str(bad), env=env, check=False)
    assert res.returncode == 1 and "memory" in res.stderr and "1024" in res.stderr
    estimate = json.loads(stacworks("workflow", "estimate", "algorithm:ndvi", "--items", "10",
                                    env=env).stdout)
    assert estimate["task_runs"] == 10
    one = (1 * 0.04048 + 2 * 0.004445) * 60 / 3600  # 1 vCPU, 2 GB, the 1-minute minimum
    assert estimate["cost_usd"] == pytest.approx(10 * one, rel=1e-3)
