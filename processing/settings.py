"""Processing settings (env prefix ``STACWORKS_PROCESSING_``), checked once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProcessingSettings"]

#: Variables a task process inherits from the server by default: enough to find programs,
#: libraries and GDAL/PROJ data, never the server's own secrets (database URL, API keys).
DEFAULT_PASSTHROUGH = (
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME",
    "VIRTUAL_ENV", "PYTHONPATH", "GDAL_DATA", "PROJ_DATA", "PROJ_LIB", "SSL_CERT_FILE",
)  # fmt: skip


class ProcessingSettings(BaseSettings):
    """How executions run locally, how long they keep, and what tasks are estimated to cost.

    The Fargate prices are the published us-east-1 Linux/x86 on-demand rates; set your
    region's (or your discount's) to make the estimates yours.
    """

    model_config = SettingsConfigDict(env_prefix="STACWORKS_PROCESSING_", extra="ignore")

    backend: Literal["local", "aws"] = Field(
        default="local",
        description="Where jobs run: the built-in executor, or Step Functions + ECS Fargate "
        "(settings STACWORKS_PROCESSING_AWS_*, processing/aws/settings.py; needs an S3 store).",
    )
    runner: Literal["command", "docker"] = Field(
        default="command",
        description="How the local executor runs a task: the algorithm's local command, or "
        "(docker) its image in a container, with the same contract (docs/algorithms-docker.md).",
    )
    work_dir: Path | None = Field(
        default=None,
        description="Where task inputs and outputs are staged "
        "(default: $STACWORKS_HOME/processing).",
    )
    max_executions: int = Field(
        default=4, ge=1, le=256, description="Executions run at once by one server."
    )
    max_map_workers: int | None = Field(
        default=None, ge=1, description="Upper bound of parallel Map iterations (default: cores)."
    )
    default_task_timeout: float | None = Field(
        default=None, gt=0, description="TimeoutSeconds for Tasks that set none (AWS: none)."
    )
    kill_grace_seconds: float = Field(
        default=3.0, ge=0, description="Time between SIGTERM and SIGKILL of a stopped task."
    )
    on_restart: Literal["resume", "fail"] = Field(
        default="resume",
        description="What a starting server does with local executions a dead server left "
        "running (the aws back end always follows its executions again: they ran on).",
    )
    max_crashed_runs: int = Field(
        default=3, ge=1,
        description="Runs of an execution that may end with its server dying while a task "
        "ran (a task that exhausts memory or kills its worker); then a restart fails the job "
        "with the reason instead of resuming it again.",
    )
    stale_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="An execution owned by another host whose heartbeat is older than this "
        "is taken over on start-up.",
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="Execution heartbeat period.")
    event_flush_seconds: float = Field(
        default=0.25, gt=0, description="Longest a history event or log line waits in memory."
    )
    task_env_passthrough: tuple[str, ...] = Field(
        default=DEFAULT_PASSTHROUGH,
        description="Server environment variables a task process inherits (plus GDAL_*, "
        "CPL_*, AWS_* of the object store).",
    )
    fargate_vcpu_hour_usd: float = Field(
        default=0.04048, ge=0, description="Fargate price per vCPU-hour (us-east-1 Linux/x86)."
    )
    fargate_gb_hour_usd: float = Field(
        default=0.004445, ge=0, description="Fargate price per GB-hour (us-east-1 Linux/x86)."
    )
    fargate_minimum_seconds: float = Field(
        default=60.0, ge=0, description="Fargate bills at least this long per task."
    )
    max_items: int = Field(
        default=1000, ge=1, description="Most input items one execution may receive."
    )
    log_page_lines: int = Field(
        default=10000, ge=1, le=100_000,
        description="Most log lines one GET /jobs/{id}/logs returns (and its ?limit= cap); "
                    "the next page starts after the answer's next_after.",
    )

    @model_validator(mode="after")
    def _check(self) -> ProcessingSettings:
        if self.heartbeat_seconds * 2 > self.stale_after_seconds:
            raise ValueError("stale_after_seconds must be at least twice heartbeat_seconds")
        return self

    def resolved_work_dir(self, home: Path) -> Path:
        """The staging folder, under the catalog's data folder unless set."""
        return (self.work_dir or home / "processing").expanduser().absolute()
