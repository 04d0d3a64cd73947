"""One Fargate task definition per algorithm file, exactly as the AWS back end registers it.

The files are read by ``processing.algorithms.load_algorithm_file`` (what ``stacworks algorithm
register`` uses), so an invalid Fargate size fails the synth, not the deploy; the definition is
``processing.aws.taskdefs.task_definition_input`` (what the platform sends to
``RegisterTaskDefinition``) turned into CloudFormation, so a deployed revision and a revision
the platform registers later are the same contract: family ``stacworks-<name>``, container
``<name>``, the version tags the back end looks revisions up by, and the same log options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnResource
from constructs import Construct

from processing.algorithms import AlgorithmSpec, load_algorithm_file
from processing.aws.settings import AwsProcessingSettings
from processing.aws.taskdefs import has_registry, task_definition_input
from processing.containers import parse_image_ref

__all__ = [
    "AlgorithmTasks",
    "algorithm_files",
    "check_repositories",
    "cloudformation_properties",
    "load_algorithms",
]


def algorithm_files(folder: Path) -> list[Path]:
    """The algorithm documents in ``folder`` (YAML or JSON), in a stable order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json"))


def load_algorithms(folder: Path) -> list[AlgorithmSpec]:
    """Every algorithm in ``folder`` that has a container image (local-only ones are skipped)."""
    return [spec for spec in map(load_algorithm_file, algorithm_files(folder)) if spec.image]


def check_repositories(specs: list[AlgorithmSpec], repositories: list[str]) -> None:
    """Refuse (at synth) an algorithm whose image has no registry host and is not in one of
    ``repositories`` (this app's ECR): it would resolve to an ECR repository that does not
    exist, or that the algorithms' execution role may not pull from."""
    for spec in specs:
        if spec.image is None or has_registry(spec.image):
            continue
        if parse_image_ref(spec.image).name not in repositories:
            raise ValueError(
                f"algorithm {spec.name}: image {spec.image!r} names no registry, so it resolves "
                f"to this account's ECR, but this app creates only {', '.join(repositories)}; "
                "push it there, or write the image's full registry URI")


def cloudformation_properties(request: Any, *, verbatim: bool = False) -> Any:
    """An ECS API request (camelCase) as CloudFormation properties (PascalCase).

    The keys of ``logConfiguration.options`` are the log driver's own and stay as they are.
    """
    if isinstance(request, list):
        return [cloudformation_properties(v) for v in request]
    if not isinstance(request, dict) or verbatim:
        return request
    return {
        key[:1].upper() + key[1:]: cloudformation_properties(value, verbatim=key == "options")
        for key, value in request.items()
    }


class AlgorithmTasks(Construct):
    """``AWS::ECS::TaskDefinition`` for each of ``specs``, with the back end's own settings."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        specs: list[AlgorithmSpec],
        settings: AwsProcessingSettings,
    ) -> None:
        super().__init__(scope, cid)
        self.task_definitions: dict[str, CfnResource] = {}
        for spec in specs:
            request = task_definition_input(spec, settings)
            self.task_definitions[spec.name] = CfnResource(
                self,
                f"Task-{spec.name}",
                type="AWS::ECS::TaskDefinition",
                properties=cloudformation_properties(request),
            )


def deploy_settings(
    *,
    region: str,
    log_group: str,
    name_prefix: str,
    task_role_arn: str,
    execution_role_arn: str,
    image_registry: str,
) -> AwsProcessingSettings:
    """The back end's settings with CloudFormation tokens for values known only at deploy.

    ``model_construct`` skips validation, which would reject a token as a role ARN; the values
    are the same ones the platform container receives as STACWORKS_PROCESSING_AWS_*.
    """
    return AwsProcessingSettings.model_construct(
        region=region,
        log_group=log_group,
        name_prefix=name_prefix,
        task_role_arn=task_role_arn,
        execution_role_arn=execution_role_arn,
        image_registry=image_registry,
    )
