"""Trigger settings (env prefix ``STACWORKS_TRIGGERS_``): the loop, its bounds, webhooks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TriggerSettings"]


class TriggerSettings(BaseSettings):
    """How often the trigger loop looks, and every bound a caller of the API can reach."""

    model_config = SettingsConfigDict(env_prefix="STACWORKS_TRIGGERS_", extra="ignore")

    enabled: bool = Field(
        default=True, description="Run the trigger loop in each jobs server (several servers "
        "may: firings are unique per slot in the database).",
    )
    tick_seconds: float = Field(default=15.0, gt=0, le=3600,
                                description="How often the trigger loop looks for due work.")
    late_grace_seconds: float = Field(
        default=300.0, ge=0, description="A slot fired this late still counts as on time; "
        "later, catch_up=skip drops it (the loop was down) and run-once runs it once.",
    )
    min_interval_seconds: int = Field(
        default=60, ge=1, description="Shortest time between two slots of a cron expression "
        "(a subscription polling a remote API every second is refused).",
    )
    max_per_owner: int = Field(default=100, ge=1,
                               description="Schedules, subscriptions, watches or webhooks one "
                               "owner may have (each kind).")
    max_matches_per_poll: int = Field(
        default=100, ge=1, le=10000,
        description="Most new products one subscription poll takes (the rest wait for the next).",
    )
    max_aoi_vertices: int = Field(default=10000, ge=4,
                                  description="Most vertices of a subscription's AOI geometry.")
    max_window_days: float = Field(default=366.0, gt=0,
                                   description="Longest relative datetime window of a search.")
    max_changes_per_tick: int = Field(default=500, ge=1,
                                      description="Catalog changes one watch handles per tick.")
    change_log_keep_hours: float = Field(
        default=168.0, gt=0, description="Catalog changes older than this are pruned (a watch "
        "paused for longer does not see them).",
    )
    job_event_lookback_hours: float = Field(
        default=24.0, gt=0, description="Jobs that ended this recently are announced to "
        "webhooks (a server down for longer does not announce older ones).",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120,
                                           description="Time a webhook receiver has to answer.")
    webhook_max_attempts: int = Field(default=6, ge=1, le=50,
                                      description="Deliveries tried before one is given up.")
    webhook_backoff_seconds: float = Field(
        default=30.0, ge=0, description="Wait before the 2nd attempt; doubled for each next one.",
    )
    allow_private_urls: bool = Field(
        default=False, description="Allow webhook URLs and stac:<url> subscription sources on "
        "loopback, private and link-local networks (off: neither can probe the server's own "
        "network; turn on for a receiver or a STAC API inside it).",
    )
    aws_scheduler_role_arn: str | None = Field(
        default=None, description="With STACWORKS_PROCESSING_BACKEND=aws: the IAM role "
        "EventBridge Scheduler assumes to start the workflow's state machine.",
    )
    aws_schedule_group: str = Field(default="default",
                                    description="EventBridge Scheduler group of our schedules.")
