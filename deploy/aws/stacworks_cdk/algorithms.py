"""One Fargate task definition per algorithm file, read exactly as ``stacworks algorithm register``.

The files are validated by ``processing.algorithms.load_algorithm_file`` (the CLI's own loader),
so a size that Fargate refuses fails the synth, not the deploy. Families and container names
follow the task contract (``docs/task-contract.md``): family ``stacworks-<name>``, container
``<name>``, so a workflow's ``TaskDefinition``/``ContainerOverrides`` resolve to these.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from processing.algorithms import AlgorithmSpec, load_algorithm_file

__all__ = ["AlgorithmTasks", "algorithm_files", "load_algorithms"]


def algorithm_files(folder: Path) -> list[Path]:
    """The algorithm documents in ``folder`` (YAML or JSON), in a stable order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json"))


def load_algorithms(folder: Path) -> list[AlgorithmSpec]:
    """Every algorithm in ``folder`` that has a container image (local-only ones are skipped)."""
    return [spec for spec in map(load_algorithm_file, algorithm_files(folder)) if spec.image]


def image_reference(spec: AlgorithmSpec) -> str:
    """``repository@digest`` when the digest is known (what runs is then exactly that build)."""
    assert spec.image is not None
    if spec.image_digest:
        return f"{spec.image.split('@')[0].rsplit(':', 1)[0]}@{spec.image_digest}"
    return spec.image


class AlgorithmTasks(Construct):
    """Task definitions for ``specs``, sharing the algorithm task and execution roles."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        specs: list[AlgorithmSpec],
        family_prefix: str,
        task_role: iam.IRole,
        execution_role: iam.IRole,
        log_group: logs.ILogGroup,
        ephemeral_storage_gib: int = 21,
    ) -> None:
        super().__init__(scope, cid)
        self.task_definitions: dict[str, ecs.FargateTaskDefinition] = {}
        for spec in specs:
            td = ecs.FargateTaskDefinition(
                self,
                f"Task-{spec.name}",
                family=f"{family_prefix}{spec.name}",
                cpu=spec.cpu,
                memory_limit_mib=spec.memory,
                # As the processing back end registers them (STACWORKS_PROCESSING_AWS_
                # EPHEMERAL_STORAGE_GIB, default 21): inputs and outputs are staged on disk.
                ephemeral_storage_gib=ephemeral_storage_gib,
                task_role=task_role,
                execution_role=execution_role,
                runtime_platform=ecs.RuntimePlatform(
                    cpu_architecture=ecs.CpuArchitecture.X86_64,
                    operating_system_family=ecs.OperatingSystemFamily.LINUX,
                ),
            )
            td.add_container(
                spec.name,
                container_name=spec.name,
                image=ecs.ContainerImage.from_registry(image_reference(spec)),
                command=spec.command or None,
                essential=True,
                memory_limit_mib=spec.memory,
                environment={"STACWORKS_ALGORITHM": f"{spec.name}:{spec.version}"},
                logging=ecs.LogDriver.aws_logs(stream_prefix=spec.name, log_group=log_group),
            )
            self.task_definitions[spec.name] = td
