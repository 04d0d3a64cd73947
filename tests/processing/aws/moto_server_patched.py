"""Run ``moto_server`` with a test-side fix for Step Functions' ``ecs:runTask.sync``.

moto 5.2.x passes a Task's PascalCase ASL parameters (``Cluster``, ``TaskDefinition``,
``Overrides``...) to boto3's ``run_task`` unconverted, so ``arn:aws:states:::ecs:runTask.sync``
fails with ``States.Runtime`` / cause ``'Cluster'`` (moto issue #10076; the fix, PR #10094, was
open when this was written). Its base ``StateTaskService`` keeps ``_to_boto_request`` /
``_from_boto_response`` helpers (converting names through botocore's shapes) but
``_normalise_parameters`` / ``_normalise_response`` are no-ops; this wires them up for the ECS
integration only, as the PR does. Remove this file (and run plain ``moto_server``) once a moto
release ships the fix.

Usage: ``python moto_server_patched.py -H 127.0.0.1 -p PORT`` with ``MOTO_PORT=PORT`` (moto's
Step Functions calls ECS back through ``localhost:$MOTO_PORT``).

With ``STACWORKS_TEST_FARGATE`` set to a JSON object ``{task definition family: argv}``, every
RunTask of such a family also runs ``argv`` here, synchronously, with the environment of the
task's container overrides: the test harness plays Fargate (moto runs no container).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import botocore.session
from botocore import xform_name
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_ecs as ecs_service,
)

_MODELS: dict[str, Any] = {}


def _operation(service: str, action: str) -> Any:
    """botocore's operation model of ``action`` (``run_task`` or ``RunTask``)."""
    if service not in _MODELS:
        _MODELS[service] = botocore.session.get_session().get_service_model(service)
    model = _MODELS[service]
    names = {xform_name(name): name for name in model.operation_names}
    return model.operation_model(names.get(xform_name(action), action))


def _normalise_parameters(self: Any, parameters: dict[str, Any],
                          boto_service_name: str | None = None,
                          service_action_name: str | None = None) -> None:
    operation = _operation(self._get_boto_service_name(boto_service_name),
                           self._get_boto_service_action(service_action_name))
    self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                        service_action_name: str | None = None) -> None:
    operation = _operation(self._get_boto_service_name(boto_service_name),
                           self._get_boto_service_action(service_action_name))
    self._from_boto_response(response, operation.output_shape)


ecs_service.StateTaskServiceEcs._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
ecs_service.StateTaskServiceEcs._normalise_response = _normalise_response  # type: ignore[method-assign]


def _awslogs(task_definition: str, task_arn: str, output: str) -> None:
    """Play the awslogs driver: the task's output into ``{prefix}/{container}/{task id}``."""
    import time

    import boto3

    endpoint = f"http://127.0.0.1:{os.environ['MOTO_PORT']}"
    ecs = boto3.client("ecs", endpoint_url=endpoint)
    logs = boto3.client("logs", endpoint_url=endpoint)
    found = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    container = found["containerDefinitions"][0]
    options = container["logConfiguration"]["options"]
    stream = f"{options['awslogs-stream-prefix']}/{container['name']}/{task_arn.split('/')[-1]}"
    logs.create_log_stream(logGroupName=options["awslogs-group"], logStreamName=stream)
    now = int(time.time() * 1000)
    lines = [line for line in output.splitlines() if line.strip()] or ["(no output)"]
    logs.put_log_events(logGroupName=options["awslogs-group"], logStreamName=stream,
                        logEvents=[{"timestamp": now, "message": line} for line in lines])


def _play_fargate() -> None:
    """Run each RunTask's command here (the harness's Fargate), with its override environment."""
    commands: dict[str, list[str]] = json.loads(os.environ["STACWORKS_TEST_FARGATE"])
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.run_task

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original(self, *args, **kwargs)
        for task in tasks:
            family = task.task_definition_arn.split("/")[-1].split(":")[0]
            argv = commands.get(family)
            if argv is None:
                continue
            env = dict(os.environ)
            env.pop("STACWORKS_TEST_FARGATE", None)
            for container in (task.overrides or {}).get("containerOverrides", []):
                for pair in container.get("environment", []):
                    env[pair["name"]] = pair["value"]
            # Each task gets a fresh filesystem, as a container would.
            scratch = tempfile.mkdtemp(prefix="fargate-")
            env["STACWORKS_OUTPUT_DIR"] = scratch + env.get("STACWORKS_OUTPUT_DIR", "/out")
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            sys.stderr.write(f"fargate {family}: exit {done.returncode}\n{done.stderr[-4000:]}")
            _awslogs(task.task_definition_arn, task.task_arn, done.stdout + done.stderr)
        return tasks

    EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get("STACWORKS_TEST_FARGATE"):
        _play_fargate()
    from moto.server import main

    sys.exit(main())
