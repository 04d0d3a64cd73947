"""``to_aws``: the same ASL completed for Fargate, checked by our validator, the npm
asl-validator and statelint; everything but the ECS tasks passes through untouched."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from processing.algorithms import AlgorithmSpec, load_algorithm_file
from processing.asl import validate
from processing.aws.asl import MAP_INDEX_KEY, to_aws
from processing.aws.settings import AwsProcessingSettings
from processing.aws.taskdefs import TaskDefinitionRef, check_fargate_size, task_definition_input
from processing.errors import InvalidInput
from processing.workflows import algorithm_workflow
from tests.node_tools import node_module
from tests.processing.test_jobs_ndvi import NDVI_WORKFLOW, ecs_task

ROOT = Path(__file__).resolve().parents[3]
NDVI = load_algorithm_file(ROOT / "algorithms/ndvi.yaml")
COMPOSITE = load_algorithm_file(ROOT / "algorithms/median-composite.yaml")
ROLE = "arn:aws:iam::123456789012:role/"
SETTINGS = AwsProcessingSettings(
    cluster="work", subnets=["subnet-a", "subnet-b"], security_groups=["sg-1"],
    execution_role_arn=ROLE + "exec", task_role_arn=ROLE + "task",
    state_machine_role_arn=ROLE + "sfn", log_group="/stacworks/test",
)
ROOT_URL = "s3://bucket/cat/_processing"


class Fixed:
    """Task definitions by algorithm name (what the aws registry answers after registering)."""

    def resolve(self, name: str, version: str | None = None) -> TaskDefinitionRef:
        spec = {"ndvi": NDVI, "median-composite": COMPOSITE}[name]
        arn = f"arn:aws:ecs:us-east-1:123456789012:task-definition/stacworks-{name}:7"
        return TaskDefinitionRef(arn, name, spec)


def env_of(state: dict[str, Any]) -> dict[str, Any]:
    container = state["Parameters"]["Overrides"]["ContainerOverrides"][0]
    return {e["Name"]: e.get("Value", e.get("Value.$")) for e in container["Environment"]}


PARALLEL = {
    "Comment": "Choice, Parallel, Retry/Catch and intrinsics around two ECS tasks",
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.items[0]", "IsPresent": True, "Next": "Both"}], "Default": "Empty"},
        "Empty": {"Type": "Fail", "Error": "NoItems", "Cause": "no input"},
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "NDVI", "States": {"NDVI": ecs_task("ndvi", Retry=[
                    {"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}])}},
                {"StartAt": "Median", "States": {"Median": ecs_task("median-composite")}},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed", "ResultPath": "$.e"}],
            "ResultSelector": {"count.$": "States.ArrayLength($)"},
            "Next": "Done",
        },
        "Failed": {"Type": "Fail", "Error": "Broken"},
        "Done": {"Type": "Succeed"},
    },
}
DOCUMENTS = {
    "ndvi map": NDVI_WORKFLOW["definition"],
    "ndvi process": algorithm_workflow(NDVI).definition,
    "composite process": algorithm_workflow(COMPOSITE).definition,
    "parallel": PARALLEL,
}


def exported(name: str) -> dict[str, Any]:
    return to_aws(DOCUMENTS[name], Fixed(), SETTINGS, output_root=ROOT_URL)


def test_map_task_is_completed_for_fargate() -> None:
    before = copy.deepcopy(DOCUMENTS["ndvi map"])
    doc = exported("ndvi map")
    assert DOCUMENTS["ndvi map"] == before  # the stored document is not touched
    each = doc["States"]["EachItem"]
    task = each["ItemProcessor"]["States"]["NDVI"]
    params = task["Parameters"]
    assert params["Cluster"] == "work"
    assert params["TaskDefinition"].endswith("task-definition/stacworks-ndvi:7")
    assert params["LaunchType"] == "FARGATE"
    assert params["NetworkConfiguration"] == {"AwsvpcConfiguration": {
        "Subnets": ["subnet-a", "subnet-b"], "SecurityGroups": ["sg-1"],
        "AssignPublicIp": "DISABLED"}}
    env = env_of(task)
    assert env["STACWORKS_INPUT_ITEMS"] == "States.JsonToString($.items)"
    assert env["STACWORKS_PARAMETERS"] == "States.JsonToString($.parameters)"
    assert env["STACWORKS_EXECUTION_ID"] == "$$.Execution.Name"
    assert env["STACWORKS_STATE_NAME"] == "$$.State.Name"
    assert env["STACWORKS_OUTPUT_PREFIX"] == (
        f"States.Format('{ROOT_URL}/{{}}/{{}}/{{}}', $$.Execution.Name, $$.State.Name, "
        "States.UUID())")
    assert env["STACWORKS_MAP_INDEX"] == f"States.Format('{{}}', $.{MAP_INDEX_KEY})"
    assert env["STACWORKS_ALGORITHM"] == "ndvi:1.0.0"
    # Step Functions gives $$.Map.Item.Index only in the ItemSelector: it is carried from there.
    assert each["ItemSelector"][f"{MAP_INDEX_KEY}.$"] == "$$.Map.Item.Index"
    # Everything else is as written.
    assert task["ResultSelector"] == {"item.$": "$.Items[0]"}
    assert {k: v for k, v in each.items() if k not in ("ItemProcessor", "ItemSelector")} == {
        k: v for k, v in before["States"]["EachItem"].items()
        if k not in ("ItemProcessor", "ItemSelector")}


def test_other_states_pass_through_untouched() -> None:
    doc = exported("parallel")
    for name in ("Check", "Empty", "Failed", "Done"):
        assert doc["States"][name] == PARALLEL["States"][name]
    both, original = doc["States"]["Both"], PARALLEL["States"]["Both"]
    for key in ("Catch", "ResultSelector", "Next"):
        assert both[key] == original[key]
    ndvi = both["Branches"][0]["States"]["NDVI"]
    assert ndvi["Retry"] == original["Branches"][0]["States"]["NDVI"]["Retry"]
    assert "STACWORKS_MAP_INDEX" not in env_of(ndvi)  # not inside a Map
    median = both["Branches"][1]["States"]["Median"]
    assert median["Parameters"]["TaskDefinition"].endswith("stacworks-median-composite:7")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_exports_pass_our_validator_and_statelint(name: str, tmp_path: Path) -> None:
    doc = exported(name)
    result = validate(doc)
    assert result.valid, result.errors
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run([str(Path(sys.executable).parent / "statelint"), str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_exports_pass_asl_validator() -> None:
    module = node_module("asl-validator")
    script = ("const v = require(process.argv[1]);"
              "const docs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(docs.map((d) => { const r = v(d); "
              "return r.isValid ? 'ok' : JSON.stringify(r.errorsText()); })));")
    docs = [exported(name) for name in sorted(DOCUMENTS)]
    done = subprocess.run(["node", "-e", script, str(module)], input=json.dumps(docs),
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == ["ok"] * len(docs)


def test_task_definition_request() -> None:
    request = task_definition_input(NDVI, SETTINGS)
    container = request["containerDefinitions"][0]
    assert request["family"] == "stacworks-ndvi"
    assert (request["cpu"], request["memory"]) == ("1024", "2048")
    assert request["requiresCompatibilities"] == ["FARGATE"]
    assert request["networkMode"] == "awsvpc"
    assert request["ephemeralStorage"] == {"sizeInGiB": 21}
    assert request["executionRoleArn"] == ROLE + "exec"
    assert request["taskRoleArn"] == ROLE + "task"
    assert container["image"] == NDVI.image
    assert container["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": "/stacworks/test", "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ndvi"}}
    assert {"name": "STACWORKS_ALGORITHM", "value": "ndvi:1.0.0"} in container["environment"]
    bigger = NDVI.model_copy(update={"ephemeral_storage_gib": 100})
    assert task_definition_input(bigger, SETTINGS)["ephemeralStorage"] == {"sizeInGiB": 100}
    digest = "sha256:" + "ab" * 32
    pinned = task_definition_input(NDVI.model_copy(update={"image_digest": digest}), SETTINGS)
    assert pinned["containerDefinitions"][0]["image"] == f"stacworks/algorithms@{digest}"


def test_image_names_without_a_registry_resolve_to_the_configured_one() -> None:
    """``algorithms/*.yaml`` name ``stacworks/algorithms:1.0.0`` (the Docker runner's local
    tag); on AWS the same name is the account's ECR repository; full URIs stay as they are."""
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    settings = SETTINGS.model_copy(update={"image_registry": ecr})

    def image(spec: AlgorithmSpec) -> str:
        return str(task_definition_input(spec, settings)["containerDefinitions"][0]["image"])

    assert NDVI.image == "stacworks/algorithms:1.0.0"
    assert image(NDVI) == f"{ecr}/stacworks/algorithms:1.0.0"
    digest = "sha256:" + "cd" * 32
    assert image(NDVI.model_copy(update={"image_digest": digest})) == (
        f"{ecr}/stacworks/algorithms@{digest}")
    for full in ("ghcr.io/acme/ndvi:2", "localhost:5000/ndvi:1", "localhost/ndvi",
                 f"{ecr}/other:1"):
        assert image(NDVI.model_copy(update={"image": full})) == full


def test_fargate_sizes_are_checked_with_the_valid_memory_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_fargate_size(1024, 1024)
    assert caught.value.field == "memory"  # type: ignore[attr-defined]
    assert "2048, 3072, 4096, 5120, 6144, 7168, 8192" in str(caught.value)
    with pytest.raises(InvalidInput, match="no container image"):
        task_definition_input(NDVI.model_copy(update={"image": None}), SETTINGS)
