"""Ingest runs and products, plus procrastinate's job-queue schema (applied once)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

S = "stacworks"


def _apply_procrastinate_schema() -> None:
    """procrastinate's schema is not re-runnable (CREATE TYPE/TABLE), so apply it only when its
    jobs table is missing; later procrastinate upgrades ship their own migration scripts."""
    from procrastinate.schema import SchemaManager

    conn = op.get_bind()
    if conn.execute(sa.text("SELECT to_regclass('public.procrastinate_jobs')")).scalar():
        return
    # The raw driver connection: no parameter parsing of the %-signs in procrastinate's SQL.
    driver = conn.connection.driver_connection
    assert driver is not None  # a live psycopg connection during a migration
    driver.execute(SchemaManager.get_schema())


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("query", JSONB, nullable=False),
        sa.Column("search_seconds", sa.Float),
        sa.Column("error", sa.Text),
        schema=S,
    )
    op.create_table(
        "ingest_products",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.BigInteger,
            sa.ForeignKey(f"{S}.ingest_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("product", JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("stage", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("assets_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("assets_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("warnings", JSONB, nullable=False, server_default="[]"),
        sa.Column("timings", JSONB, nullable=False, server_default="{}"),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("run_id", "collection", "item_id"),
        schema=S,
    )
    op.create_index(
        "ingest_products_key", "ingest_products", ["collection", "item_id", "status"], schema=S
    )
    _apply_procrastinate_schema()


def downgrade() -> None:
    op.drop_table("ingest_products", schema=S)
    op.drop_table("ingest_runs", schema=S)
