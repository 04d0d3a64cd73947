"""Processing: algorithms, workflow versions, executions, history events, task runs, logs."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"

S = "stacworks"


def _now() -> sa.sql.functions.now:
    return sa.func.now()


def upgrade() -> None:
    op.create_table(
        "processing_algorithms",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
        schema=S,
    )
    op.create_table(
        "processing_workflows",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        schema=S,
    )
    op.create_table(
        "processing_executions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("process_id", sa.Text, nullable=False),
        sa.Column("workflow_id", sa.Text, nullable=False),
        sa.Column("workflow_version", sa.Integer),
        sa.Column("output_collection", sa.Text, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("context", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("input", JSONB, nullable=False),
        sa.Column("output", JSONB),
        sa.Column("error", sa.Text),
        sa.Column("cause", sa.Text),
        sa.Column("run", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.Text),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now()),
        schema=S,
    )
    op.create_index(
        "processing_executions_status", "processing_executions", ["status", "created_at"], schema=S
    )
    fk = sa.ForeignKey(f"{S}.processing_executions.id", ondelete="CASCADE")
    op.create_table(
        "processing_events",
        sa.Column("execution_id", sa.Text, fk, primary_key=True),
        sa.Column("run", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, primary_key=True),
        sa.Column("previous_event_id", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("state_name", sa.Text),
        sa.Column("state_path", sa.Text),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", JSONB, nullable=False),
        schema=S,
    )
    op.create_table(
        "processing_task_runs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "execution_id",
            sa.Text,
            sa.ForeignKey(f"{S}.processing_executions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("state_name", sa.Text, nullable=False),
        sa.Column("state_path", sa.Text, nullable=False),
        sa.Column("map_index", sa.Integer),
        sa.Column("retry_count", sa.Integer, nullable=False),
        sa.Column("algorithm", sa.Text, nullable=False),
        sa.Column("algorithm_version", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("cpu", sa.Integer, nullable=False),
        sa.Column("memory", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("cost_usd", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("cause", sa.Text),
        sa.Column("outputs", JSONB),
        schema=S,
    )
    op.create_index(
        "processing_task_runs_execution", "processing_task_runs", ["execution_id", "id"], schema=S
    )
    op.create_table(
        "processing_logs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "execution_id",
            sa.Text,
            sa.ForeignKey(f"{S}.processing_executions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("task_run_id", sa.BigInteger),
        sa.Column("state_path", sa.Text, nullable=False),
        sa.Column("map_index", sa.Integer),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        schema=S,
    )
    op.create_index(
        "processing_logs_execution", "processing_logs", ["execution_id", "id"], schema=S
    )


def downgrade() -> None:
    for table in (
        "processing_logs",
        "processing_task_runs",
        "processing_events",
        "processing_executions",
        "processing_workflows",
        "processing_algorithms",
    ):
        op.drop_table(table, schema=S)
