"""Our ingest tables (schema ``stacworks``): one run per request, one row per product in it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Base


class IngestRun(Base):
    """One `stacworks ingest` / ``POST /ingest/runs`` request: the query and its outcome.

    Counts are not stored: they are computed from the products, so they cannot drift.
    """

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    query: Mapped[dict[str, Any]] = mapped_column(JSONB)
    search_seconds: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class IngestProduct(Base):
    """One product of a run: what to fetch, where it stands, how long each stage took."""

    __tablename__ = "ingest_products"
    __table_args__ = (
        UniqueConstraint("run_id", "collection", "item_id"),
        Index("ingest_products_key", "collection", "item_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id", ondelete="CASCADE"))
    collection: Mapped[str] = mapped_column(Text)
    item_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    product: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    stage: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    assets_total: Mapped[int] = mapped_column(Integer, server_default="0")
    assets_done: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    timings: Mapped[dict[str, float]] = mapped_column(JSONB, server_default="{}")
    queued_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
