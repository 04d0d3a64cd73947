"""The CLI with the aws back end, as a user runs it: registering an algorithm registers its
task definition; ``workflow export --target aws`` prints exactly what is deployed."""

from __future__ import annotations

import json
from pathlib import Path

from processing.algorithms import AlgorithmSpec
from processing.asl import validate
from processing.aws.asl import to_aws
from processing.aws.settings import AwsProcessingSettings
from processing.aws.taskdefs import TaskDefinitionRef
from tests.harness import stacworks

from .conftest import KEYS, MotoAws
from .test_jobs_aws import probe_task

ALGORITHM = {"name": "cli-probe", "version": "0.1.0", "image": "registry.example/cli-probe:0.1",
             "cpu": 256, "memory": 512}


def test_register_and_export_for_aws(stacworks_env: dict[str, str], moto_aws: MotoAws,
                                     tmp_path: Path) -> None:
    env = {**stacworks_env, **KEYS, **moto_aws.settings_env(),
           "STACWORKS_PROCESSING_BACKEND": "aws",
           "STACWORKS_STORE": f"s3://{moto_aws.bucket}/cat",
           "STACWORKS_S3_ENDPOINT": moto_aws.endpoint,
           "STACWORKS_S3_ACCESS_KEY_ID": "testing", "STACWORKS_S3_SECRET_ACCESS_KEY": "testing"}
    (tmp_path / "alg.json").write_text(json.dumps(ALGORITHM))
    stacworks("algorithm", "register", "--replace", str(tmp_path / "alg.json"), env=env)
    ecs = moto_aws.client("ecs")
    (arn,) = ecs.list_task_definitions(familyPrefix="stacworks-cli-probe",
                                       status="ACTIVE")["taskDefinitionArns"]

    task = probe_task()
    task["Parameters"]["TaskDefinition"] = "stacworks-cli-probe"
    task["Parameters"]["Overrides"]["ContainerOverrides"][0]["Name"] = "cli-probe"
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"items.$": "States.Array($$.Map.Item.Value)"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Probe",
                          "States": {"Probe": task}}, "End": True}}}
    (tmp_path / "wf.json").write_text(json.dumps({"id": "aws-cli", "definition": definition}))
    sfn = moto_aws.client("stepfunctions")

    def machines() -> list[str]:
        return [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                if m["name"] == "stacworks-aws-cli"]

    for arn_left in machines():  # a rerun on the same moto server
        sfn.delete_state_machine(stateMachineArn=arn_left)
    # Creating the workflow deploys it: the state machine exists before any job.
    stacworks("workflow", "create", str(tmp_path / "wf.json"), env=env)
    (created,) = machines()
    done = stacworks("workflow", "export", "aws-cli", "--target", "aws", "--deploy", env=env)
    printed = json.loads(done.stdout)

    settings = AwsProcessingSettings.model_validate(
        {k.removeprefix("STACWORKS_PROCESSING_AWS_").lower(): v
         for k, v in moto_aws.settings_env().items()})

    class Registered:
        def resolve(self, name: str, version: str | None = None) -> TaskDefinitionRef:
            return TaskDefinitionRef(arn, name, AlgorithmSpec.model_validate(ALGORITHM))

    expected = to_aws(definition, Registered(), settings,
                      output_root=f"s3://{moto_aws.bucket}/cat/_processing")
    assert printed == expected
    assert validate(printed).valid
    assert machines() == [created]  # --deploy again: the same machine, nothing new
    deployed = sfn.describe_state_machine(stateMachineArn=created)
    assert json.loads(deployed["definition"]) == printed
    assert deployed["type"] == "STANDARD"
    assert deployed["roleArn"].endswith("role/states")
    # The stored document is unchanged: --target local prints it as written.
    local = json.loads(stacworks("workflow", "export", "aws-cli", env=env).stdout)
    assert local == definition

    # Updating deploys the new version; deleting deletes the state machine.
    wait = {"Type": "Wait", "Seconds": 1, "Next": "Each"}
    changed = {"StartAt": "Pause", "States": {"Pause": wait, **definition["States"]}}
    (tmp_path / "wf2.json").write_text(json.dumps({"id": "aws-cli", "definition": changed}))
    stacworks("workflow", "update", "aws-cli", str(tmp_path / "wf2.json"), env=env)
    updated = json.loads(sfn.describe_state_machine(stateMachineArn=created)["definition"])
    assert updated["States"]["Pause"] == wait
    assert updated["States"]["Each"] == printed["States"]["Each"]
    stacworks("workflow", "delete", "aws-cli", env=env)
    assert machines() == []

    no_s3 = {k: v for k, v in env.items() if not k.startswith("STACWORKS_S3_")}
    no_s3["STACWORKS_STORE"] = "local"
    refused = stacworks("workflow", "create", str(tmp_path / "wf.json"), env=no_s3,
                        check=False)
    assert refused.returncode == 1
    assert "needs an S3 object store" in refused.stderr
