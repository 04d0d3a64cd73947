"""The boto3 clients of the AWS back end, made in one place from its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from processing.aws.settings import AwsProcessingSettings

__all__ = ["AwsClients"]

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10,
                 read_timeout=60)


@dataclass
class AwsClients:
    """ECS, Step Functions and CloudWatch Logs clients (lazily created, thread-safe to share)."""

    settings: AwsProcessingSettings
    _cache: dict[str, Any] = field(default_factory=dict)

    def _client(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = boto3.session.Session().client(
                service, config=_CONFIG, **self.settings.client_kwargs())  # type: ignore[call-overload]
        return self._cache[service]

    @property
    def ecs(self) -> Any:
        return self._client("ecs")

    @property
    def sfn(self) -> Any:
        return self._client("stepfunctions")

    @property
    def logs(self) -> Any:
        return self._client("logs")
