"""Processing's own tables (schema ``stacworks``): algorithms, workflow versions, executions and
everything an execution leaves behind (history events, task runs, log lines).

The Alembic revisions (``0003_processing`` and later) create them; :mod:`processing.journal`
reads and writes them with bound SQL. Declared here, beside the code that owns them, as the
schema's description: ``tests/catalog/test_schema_drift.py`` fails when a migration and these
models disagree (see :mod:`catalog.schema`), so change both together.
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
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import SCHEMA, Base

__all__ = [
    "AlgorithmRow",
    "ExecutionRow",
    "HistoryEventRow",
    "LogLineRow",
    "TaskRunRow",
    "WorkflowRow",
]


class AlgorithmRow(Base):
    """One registered version of an algorithm; ``spec`` is the validated registration."""

    __tablename__ = "processing_algorithms"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class WorkflowRow(Base):
    """One version of a workflow (an update adds a version; executions name the one they ran)."""

    __tablename__ = "processing_workflows"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(Text)


class ExecutionRow(Base):
    """A job: what ran (a snapshot of the definition), on what, how it is going or ended."""

    __tablename__ = "processing_executions"
    __table_args__ = (Index("processing_executions_status", "status", "created_at"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    process_id: Mapped[str] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(Text)
    workflow_version: Mapped[int | None] = mapped_column(Integer)
    output_collection: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    context: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text)
    input: Mapped[Any] = mapped_column(JSONB)
    output: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    run: Mapped[int] = mapped_column(Integer, server_default="0")
    owner: Mapped[str | None] = mapped_column(Text)
    principal: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class HistoryEventRow(Base):
    """One ASL history event of one run (a resumed execution is run 2, 3, ...)."""

    __tablename__ = "processing_events"

    execution_id: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.processing_executions.id", ondelete="CASCADE"),
        primary_key=True,
    )
    run: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    previous_event_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(Text)
    state_name: Mapped[str | None] = mapped_column(Text)
    state_path: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)


class TaskRunRow(Base):
    """One attempt of one Task: the algorithm, the process's exit, its size, time and cost."""

    __tablename__ = "processing_task_runs"
    __table_args__ = (Index("processing_task_runs_execution", "execution_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.processing_executions.id", ondelete="CASCADE")
    )
    run: Mapped[int] = mapped_column(Integer)
    state_name: Mapped[str] = mapped_column(Text)
    state_path: Mapped[str] = mapped_column(Text)
    map_index: Mapped[int | None] = mapped_column(Integer)
    retry_count: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(Text)
    algorithm_version: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    cpu: Mapped[int] = mapped_column(Integer)
    memory: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[Any | None] = mapped_column(JSONB)


class LogLineRow(Base):
    """One line a task printed (or a message the runner logged about it)."""

    __tablename__ = "processing_logs"
    __table_args__ = (Index("processing_logs_execution", "execution_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(
        Text, ForeignKey(f"{SCHEMA}.processing_executions.id", ondelete="CASCADE")
    )
    task_run_id: Mapped[int | None] = mapped_column(BigInteger)
    state_path: Mapped[str] = mapped_column(Text)
    map_index: Mapped[int | None] = mapped_column(Integer)
    stream: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
