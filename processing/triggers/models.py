"""The triggers' tables (schema ``stacworks``): schedules, subscriptions, catalog watches, their
firings, the products a subscription has seen, webhooks and their deliveries, budgets, and the
catalog change log a database trigger on ``pgstac.items`` fills.

Created by the Alembic revision ``0008_triggers``; ``tests/catalog/test_schema_drift.py`` fails
when the two disagree. Exactly-once is the database's job here: a firing is unique per
(trigger, slot or change) and a seen product per (subscription, product id), so any number of
servers may run the trigger loop at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import SCHEMA, Base

__all__ = [
    "BudgetRow",
    "CatalogChangeRow",
    "DeliveryRow",
    "FiringRow",
    "ScheduleRow",
    "SeenProductRow",
    "SubscriptionRow",
    "WatchRow",
    "WebhookRow",
]


def _now() -> Mapped[datetime | None]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class ScheduleRow(Base):
    """A workflow run on a cron expression, with fixed inputs (or a saved search as input)."""

    __tablename__ = "trigger_schedules"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cron: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default="UTC")
    catch_up: Mapped[str] = mapped_column(Text, server_default="skip")
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    last_slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    aws_schedule: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = _now()
    updated_at: Mapped[datetime | None] = _now()


class SubscriptionRow(Base):
    """A saved search against a source, polled on a cron expression; new products are ingested
    (unless the source is our catalog) and may start a workflow."""

    __tablename__ = "trigger_subscriptions"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(Text)
    search: Mapped[dict[str, Any]] = mapped_column(JSONB)
    workflow_id: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    per: Mapped[str] = mapped_column(Text, server_default="batch")
    cron: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default="UTC")
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    last_slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime | None] = _now()
    updated_at: Mapped[datetime | None] = _now()


class WatchRow(Base):
    """A watched collection: each item registered in it (any path) starts the workflow once."""

    __tablename__ = "trigger_watches"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str | None] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    cursor: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime | None] = _now()
    updated_at: Mapped[datetime | None] = _now()


class FiringRow(Base):
    """One firing of a trigger: a schedule slot, a subscription poll, a catalog change."""

    __tablename__ = "trigger_firings"
    __table_args__ = (
        UniqueConstraint("trigger_id", "key", name="trigger_firings_once"),
        Index("trigger_firings_trigger", "trigger_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    trigger_id: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    execution_ids: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    fired_at: Mapped[datetime | None] = _now()


class SeenProductRow(Base):
    """A product a subscription has matched: recorded once, whatever polls or restarts."""

    __tablename__ = "trigger_seen_products"

    subscription_id: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.trigger_subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    )
    product_id: Mapped[str] = mapped_column(Text, primary_key=True)
    collection: Mapped[str] = mapped_column(Text)
    item_id: Mapped[str] = mapped_column(Text)
    firing_id: Mapped[int | None] = mapped_column(BigInteger)
    ingest_product_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    product: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    execution_id: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime | None] = _now()


class WebhookRow(Base):
    """A notification target: events POSTed as JSON, signed with the webhook's secret."""

    __tablename__ = "trigger_webhooks"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONB)
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime | None] = _now()


class DeliveryRow(Base):
    """One event for one webhook, its attempts (``log``) and outcome; unique per event key."""

    __tablename__ = "trigger_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_key", name="trigger_deliveries_once"),
        Index("trigger_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.trigger_webhooks.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(Text)
    event_key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = _now()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime | None] = _now()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BudgetRow(Base):
    """A workflow's monthly budget (USD): over ``hard`` a run is refused, past ``soft`` the
    owner is notified."""

    __tablename__ = "trigger_budgets"

    workflow_id: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str | None] = mapped_column(Text)
    soft_usd: Mapped[float | None] = mapped_column(Float)
    hard_usd: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime | None] = _now()


class CatalogChangeRow(Base):
    """An item inserted or updated in pgstac (by ingest, a workflow output or the STAC API),
    written by a database trigger, so every path is seen exactly once."""

    __tablename__ = "catalog_changes"
    __table_args__ = (Index("catalog_changes_collection", "collection", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(Text)
    item_id: Mapped[str] = mapped_column(Text)
    op: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime | None] = _now()
