"""Our own tables (schema ``stacworks``) beside pgstac: SQLAlchemy + GeoAlchemy2 models.

pgstac owns items and collections; here lives only the platform's own state: load runs and
access control (keys, visibility, grants, shares, rate counters). Ingest and processing declare
theirs in their own ``models`` modules on the same metadata. Each change is an Alembic revision
in ``catalog/migrations`` *and* a change here; ``tests/catalog/test_schema_drift.py`` fails when
the two disagree (see :mod:`catalog.schema`).
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "stacworks"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class LoadRun(Base):
    """One `stacworks load` invocation: what was loaded, how, and the area it covered."""

    __tablename__ = "load_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    collections: Mapped[int] = mapped_column(Integer, server_default="0")
    items: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    footprint = mapped_column(Geometry("POLYGON", srid=4326), nullable=True)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class AccessKey(Base):
    """An API key: only its hash is stored; the token is shown once at creation."""

    __tablename__ = "access_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'editor', 'viewer')", name="access_keys_role"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccessCollection(Base):
    """A collection's visibility and owner (collections without a row are private)."""

    __tablename__ = "access_collections"
    __table_args__ = (
        CheckConstraint(
            "visibility IN ('private', 'public')", name="access_collections_visibility"
        ),
    )

    collection_id: Mapped[str] = mapped_column(Text, primary_key=True)
    visibility: Mapped[str] = mapped_column(Text, server_default="private")
    owner: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _created_at()


class AccessGrant(Base):
    """A principal's read or write permission on one collection."""

    __tablename__ = "access_grants"
    __table_args__ = (
        CheckConstraint("permission IN ('read', 'write')", name="access_grants_permission"),
        Index("access_grants_collection", "collection_id"),
    )

    principal: Mapped[str] = mapped_column(Text, primary_key=True)
    collection_id: Mapped[str] = mapped_column(Text, primary_key=True)
    permission: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class AccessShare(Base):
    """A share link (a collection or a registered search), stored as a hash until it expires."""

    __tablename__ = "access_shares"
    __table_args__ = (
        CheckConstraint("kind IN ('collection', 'search')", name="access_shares_kind"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(Text)
    creator_role: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccessRateCounter(Base):
    """A fixed rate-limit window of one caller in one bucket (``STACWORKS_AUTH_RATE_STORE``)."""

    __tablename__ = "access_rate_counters"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    caller: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
