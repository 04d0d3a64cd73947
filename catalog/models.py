"""Our own tables (schema ``stacworks``) beside pgstac: SQLAlchemy + GeoAlchemy2 models.

pgstac owns items and collections; here lives only the platform's own state. Later parts add
their tables to this metadata with an Alembic revision each.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "stacworks"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class LoadRun(Base):
    """One `stacworks load` invocation: what was loaded, how, and the area it covered."""

    __tablename__ = "load_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    collections: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    footprint = mapped_column(Geometry("POLYGON", srid=4326), nullable=True)
