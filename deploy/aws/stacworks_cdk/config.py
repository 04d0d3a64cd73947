"""Deployment choices read from CDK context (``-c key=value`` or cdk.json), checked at synth."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

#: The repository root (deploy/aws/stacworks_cdk/config.py → three levels up).
REPO_ROOT = Path(__file__).resolve().parents[3]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class DeployConfig:
    """Everything a deployment may choose that CloudFormation parameters cannot express.

    Sizes and counts change resources' shapes (not only values), so they are synth-time context;
    secrets-free values a deployer types at deploy time (certificate, e-mail, budget, image tag)
    are CloudFormation parameters instead.
    """

    prefix: str = "stacworks"
    #: Interface endpoints for ECR (api, dkr), CloudWatch Logs and Secrets Manager (the S3
    #: gateway endpoint is always there: it is free). ~$58/month idle in two AZs; see README.
    interface_endpoints: bool = True
    db_instance_class: str = "t4g.small"
    db_allocated_gb: int = 20
    db_multi_az: bool = False
    db_backup_days: int = 7
    #: Deletion protection on the database and the load balancer, and RETAIN on the bucket,
    #: database and repositories; turn off only for throw-away stacks.
    protect: bool = True
    platform_cpu: int = 1024
    platform_memory: int = 2048
    platform_min_tasks: int = 1
    platform_max_tasks: int = 4
    #: Requests per target per minute above which the platform scales out.
    platform_requests_per_target: int = 600
    worker_cpu: int = 1024
    worker_memory: int = 2048
    worker_tasks: int = 1
    worker_concurrency: int = 1
    log_retention_days: int = 30
    #: Folder of algorithm files (``*.yaml``/``*.json``), relative to the repository root.
    algorithms_dir: str = "algorithms"
    container_insights: bool = False
    #: ECS Exec into the platform tasks (``aws ecs execute-command``): the way to run the CLI
    #: (``stacworks key create``) against the private database; sessions are not logged.
    ecs_exec: bool = True

    @classmethod
    def from_context(cls, get: Any) -> DeployConfig:
        """Build from ``node.try_get_context``; unknown strings are converted by field type."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = get(f.name)
            if raw is None:
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = _bool(raw)
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                else:
                    values[f.name] = str(raw)
            except ValueError as exc:
                raise ValueError(f"context {f.name}: {exc}") from None
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Refuse combinations that would only fail at deploy time."""
        if not 1 <= self.platform_min_tasks <= self.platform_max_tasks:
            raise ValueError("context platform_min_tasks must be 1..platform_max_tasks")
        if self.worker_tasks < 0:
            raise ValueError("context worker_tasks must be 0 or more")
        if self.log_retention_days not in (7, 14, 30, 90, 180, 365):
            raise ValueError("context log_retention_days must be 7, 14, 30, 90, 180 or 365")
        if not (REPO_ROOT / self.algorithms_dir).is_dir():
            raise ValueError(f"context algorithms_dir: {self.algorithms_dir} is not a folder")
