"""Algorithms as ECS Fargate task definitions: one family per algorithm, one revision per
registered version, found again through the version tag on each revision."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from processing.algorithms import AlgorithmRegistry, AlgorithmSpec
from processing.aws.clients import AwsClients
from processing.aws.settings import AwsProcessingSettings
from processing.costs import fargate_memory_choices
from processing.db import Database
from processing.errors import AlgorithmNotFound, InvalidInput, ProcessingError

__all__ = [
    "AwsAlgorithmRegistry",
    "TaskDefinitionRef",
    "TaskDefinitions",
    "check_fargate_size",
    "container_image",
    "has_registry",
    "task_definition_input",
]

log = logging.getLogger(__name__)

TAG_ALGORITHM = "stacworks:algorithm"
TAG_VERSION = "stacworks:version"


@dataclass(frozen=True, slots=True)
class TaskDefinitionRef:
    """A registered revision: its ARN, the container to override, and the algorithm."""

    arn: str
    container: str
    spec: AlgorithmSpec

    @property
    def revision(self) -> int:
        return int(self.arn.rsplit(":", 1)[1])


def check_fargate_size(cpu: int, memory: int) -> None:
    """Refuse a CPU/memory pair Fargate cannot run, listing the memory values it can."""
    choices = fargate_memory_choices(cpu)
    if not choices:
        raise InvalidInput("cpu", f"{cpu} CPU units is no Fargate size")
    if memory not in choices:
        listed = ", ".join(str(m) for m in choices)
        raise InvalidInput("memory", f"{memory} MiB is not valid with {cpu} CPU units on "
                                     f"Fargate; valid memory values (MiB): {listed}")


def has_registry(image: str) -> bool:
    """Whether ``image`` names its registry host (Docker's rule: a first path component with a
    dot or a port, or ``localhost``)."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def container_image(spec: AlgorithmSpec, registry: str | None = None) -> str:
    """The image reference ECS pulls: pinned to the digest when one is recorded, and a name
    without a registry host (``stacworks/algorithms:1.0.0``, what ``algorithms/*.yaml`` and the
    Docker runner use) in ``registry`` (the account's ECR) when one is set."""
    if not spec.image:
        raise InvalidInput("image", f"algorithm {spec.name} {spec.version} has no container "
                                    "image; the aws back end runs images on Fargate")
    image = spec.image
    if spec.image_digest:  # repository@digest: the tag would only be ignored
        head, _, last = image.split("@")[0].rpartition("/")
        repository = f"{head}/{last.split(':')[0]}" if head else last.split(":")[0]
        image = f"{repository}@{spec.image_digest}"
    if registry and not has_registry(image):
        image = f"{registry.rstrip('/')}/{image}"
    return image


def _ephemeral_gib(spec: AlgorithmSpec, settings: AwsProcessingSettings) -> int:
    return max(spec.ephemeral_storage_gib or 0, settings.ephemeral_storage_gib)


def task_definition_input(spec: AlgorithmSpec, settings: AwsProcessingSettings) -> dict[str, Any]:
    """The ``RegisterTaskDefinition`` request of one algorithm version (pure)."""
    check_fargate_size(spec.cpu, spec.memory)
    container: dict[str, Any] = {
        "name": spec.name,
        "image": container_image(spec, settings.image_registry),
        "essential": True,
        "memory": spec.memory,  # container-level too: moto needs it, ECS accepts it
        "environment": [
            {"name": "STACWORKS_ALGORITHM", "value": f"{spec.name}:{spec.version}"},
            {"name": "STACWORKS_ALGORITHM_VERSION", "value": spec.version},
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": settings.log_group,
                "awslogs-region": settings.region,
                "awslogs-stream-prefix": spec.name,
            },
        },
    }
    if spec.command:
        container["command"] = list(spec.command)
    request: dict[str, Any] = {
        "family": settings.family(spec.name),
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": str(spec.cpu),
        "memory": str(spec.memory),
        "ephemeralStorage": {"sizeInGiB": _ephemeral_gib(spec, settings)},
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
        "containerDefinitions": [container],
        "tags": [{"key": TAG_ALGORITHM, "value": spec.name},
                 {"key": TAG_VERSION, "value": spec.version}],
    }
    if settings.execution_role_arn:
        request["executionRoleArn"] = settings.execution_role_arn
    if settings.task_role_arn:
        request["taskRoleArn"] = settings.task_role_arn
    return request


class TaskDefinitions:
    """Registers, finds and deregisters the task definition revisions of algorithms."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings

    def register(self, spec: AlgorithmSpec, *, task_role_arn: str | None = None,
                 execution_role_arn: str | None = None) -> TaskDefinitionRef:
        """Register a revision of ``spec`` (the roles: others than the algorithms', for the
        platform's own tasks)."""
        request = task_definition_input(spec, self.settings)
        if task_role_arn:
            request["taskRoleArn"] = task_role_arn
        if execution_role_arn:
            request["executionRoleArn"] = execution_role_arn
        try:
            found = self.clients.ecs.register_task_definition(**request)["taskDefinition"]
        except (BotoCoreError, ClientError) as exc:
            log.warning("RegisterTaskDefinition %s failed: %s", request["family"], exc)
            raise ProcessingError(f"ECS refused the task definition of {spec.name} "
                                  f"{spec.version} ({type(exc).__name__})") from None
        return TaskDefinitionRef(found["taskDefinitionArn"], spec.name, spec)

    def _revisions(self, name: str) -> list[str]:
        arns: list[str] = []
        pages = self.clients.ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix=self.settings.family(name), status="ACTIVE", sort="DESC")
        for page in pages:
            arns += [a for a in page["taskDefinitionArns"]
                     if a.rsplit("/", 1)[1].rsplit(":", 1)[0] == self.settings.family(name)]
        return arns

    def _version_of(self, arn: str) -> str | None:
        found = self.clients.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        tags = {t["key"]: t["value"] for t in found.get("tags") or []}
        return tags.get(TAG_VERSION)

    def find(self, spec: AlgorithmSpec) -> TaskDefinitionRef:
        """The newest active revision registered for ``spec``'s version."""
        for arn in self._revisions(spec.name):
            if self._version_of(arn) == spec.version:
                return TaskDefinitionRef(arn, spec.name, spec)
        raise AlgorithmNotFound(f"algorithm {spec.name} {spec.version} has no ECS task "
                                "definition; register it again with the aws back end")

    def deregister(self, name: str, version: str | None = None) -> list[str]:
        """Deregister the revisions of one version (or all); return their ARNs."""
        gone: list[str] = []
        for arn in self._revisions(name):
            if version is None or self._version_of(arn) == version:
                self.clients.ecs.deregister_task_definition(taskDefinition=arn)
                gone.append(arn)
        return gone


class AwsAlgorithmRegistry(AlgorithmRegistry):
    """The registry, with each version mirrored as a Fargate task definition revision."""

    def __init__(self, db: Database, task_definitions: TaskDefinitions) -> None:
        super().__init__(db)
        self.task_definitions = task_definitions

    def register(self, spec: AlgorithmSpec, *, replace: bool = False) -> AlgorithmSpec:
        task_definition_input(spec, self.task_definitions.settings)  # 400s before storing
        stored = super().register(spec, replace=replace)
        try:
            if replace:
                self.task_definitions.deregister(spec.name, spec.version)
            self.task_definitions.register(spec)
        except ProcessingError:
            if not replace:
                super().delete(spec.name, spec.version)
            raise
        return stored

    def delete(self, name: str, version: str | None = None) -> int:
        count = super().delete(name, version)
        self.task_definitions.deregister(name, version)
        return count

    def resolve(self, name: str, version: str | None = None) -> TaskDefinitionRef:
        """The registered revision of an algorithm (latest version unless pinned)."""
        return self.task_definitions.find(self.get(name, version))
