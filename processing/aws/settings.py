"""Settings of the AWS processing back end (env prefix ``STACWORKS_PROCESSING_AWS_``).

Read when ``STACWORKS_PROCESSING_BACKEND=aws``. The deployment (``deploy/aws``) sets these from
the resources it creates; credentials come from the usual AWS chain (task role, environment,
profile), never from here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["AwsProcessingSettings", "ENV_PREFIX"]

ENV_PREFIX = "STACWORKS_PROCESSING_AWS_"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_NAME_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,40}$")


def _split(value: Any) -> Any:
    """Comma-separated lists (``subnet-a,subnet-b``) as well as JSON lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class AwsProcessingSettings(BaseSettings):
    """Where workflows run on AWS: the ECS cluster and network of Fargate tasks, the roles, the
    log group, and how executions are followed."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    region: str = Field(default="us-east-1", description="AWS region of ECS, Step Functions, Logs.")
    endpoint_url: str | None = Field(
        default=None,
        description="One endpoint for every AWS service (tests: a moto server); unset on AWS.",
    )
    cluster: str = Field(default="stacworks", description="ECS cluster that runs the tasks.")
    subnets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Subnets of the tasks (comma-separated)."
    )
    security_groups: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Security groups of the tasks (comma-separated)."
    )
    assign_public_ip: bool = Field(
        default=False, description="Give tasks a public IP (public subnets without NAT)."
    )
    execution_role_arn: str | None = Field(
        default=None, description="ECS task execution role (pulls images, writes logs)."
    )
    task_role_arn: str | None = Field(
        default=None, description="Role the algorithm's container runs as (S3 read/write)."
    )
    log_group: str = Field(
        default="/stacworks/tasks",
        description="CloudWatch Logs group of every task; the stream prefix is the algorithm.",
    )
    state_machine_role_arn: str | None = Field(
        default=None, description="Role Step Functions assumes to run ECS tasks."
    )
    name_prefix: str = Field(
        default="stacworks-",
        description="Prefix of task definition families and state machine names.",
    )
    image_registry: str | None = Field(
        default=None,
        description="Registry of image names without a host (stacworks/algorithms:1.0.0), "
                    "e.g. the account's ECR: 123456789012.dkr.ecr.us-east-1.amazonaws.com.",
    )
    ephemeral_storage_gib: int = Field(
        default=21, ge=21, le=200,
        description="Task ephemeral storage (GiB) unless an algorithm asks for more.",
    )
    work_prefix: str = Field(
        default="_processing",
        description="Key prefix in the S3 store under which tasks write their outputs.",
    )
    poll_min_seconds: float = Field(
        default=1.0, gt=0, description="First wait between DescribeExecution polls."
    )
    poll_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between polls (back-off doubles up to it)."
    )

    log_page_lines: int = Field(
        default=1000, ge=1, le=10000,
        description="Log events per CloudWatch GetLogEvents page (its limit is 10000).",
    )
    log_pages_per_poll: int = Field(
        default=5, ge=1,
        description="Pages of a running task's log copied per poll (the rest at the next).",
    )
    log_max_lines_per_task: int = Field(
        default=100_000, ge=1,
        description="Log lines of one task copied into the job's logs; then a truncation note.",
    )
    log_max_bytes_per_task: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="Log bytes of one task copied into the job's logs; then a truncation note.",
    )

    ingest_image: str = Field(
        default="stacworks/platform:latest",
        description="Image of the platform task stacworks-ingest-product (the platform image; "
                    "a name without a host is in IMAGE_REGISTRY).",
    )
    ingest_cpu: int = Field(default=2048, description="CPU units of an ingest task.")
    ingest_memory: int = Field(default=8192, description="Memory (MiB) of an ingest task.")
    ingest_ephemeral_storage_gib: int = Field(
        default=50, ge=21, le=200, description="Ephemeral storage (GiB) of an ingest task.",
    )
    ingest_task_role_arn: str | None = Field(
        default=None,
        description="Role of ingest tasks (S3 write to the work prefix only); TASK_ROLE_ARN "
                    "when unset.",
    )
    ingest_execution_role_arn: str | None = Field(
        default=None,
        description="Execution role of ingest tasks (pulls the platform image, writes logs); "
                    "EXECUTION_ROLE_ARN when unset.",
    )
    ingest_max_json_bytes: int = Field(
        default=1_048_576, ge=1024,
        description="Largest outputs.json or item.json an ingest task may write: the platform "
                    "reads them, and trusts nothing else in them beyond its own records.",
    )
    ingest_max_concurrency: int = Field(
        default=40, ge=1, le=40,
        description="Products ingested at once by one run (an inline Map runs at most 40).",
    )

    @field_validator("subnets", "security_groups", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("execution_role_arn", "task_role_arn", "state_machine_role_arn",
                     "ingest_task_role_arn", "ingest_execution_role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN.match(value):
            raise ValueError("expected an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
        return value

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _NAME_PREFIX.match(value):
            raise ValueError("up to 40 of A-Z a-z 0-9 _ -")
        return value

    @model_validator(mode="after")
    def _check(self) -> AwsProcessingSettings:
        if self.poll_min_seconds > self.poll_max_seconds:
            raise ValueError("poll_min_seconds must not exceed poll_max_seconds")
        return self

    def family(self, algorithm: str) -> str:
        """The ECS task definition family of an algorithm."""
        return f"{self.name_prefix}{algorithm}"

    def state_machine_name(self, workflow_id: str) -> str:
        """The Step Functions state machine of a workflow."""
        return f"{self.name_prefix}{workflow_id}"

    def client_kwargs(self) -> dict[str, Any]:
        """Arguments of every boto3 client this back end makes."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return kwargs
