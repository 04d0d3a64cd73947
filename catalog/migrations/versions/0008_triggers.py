"""Triggers: schedules, subscriptions, catalog watches, firings, seen products, webhooks,
deliveries, budgets, and the catalog change log (a trigger on ``pgstac.items`` fills it).

The change log is written by the database, not by our code, so an item registered by any path
(ingest, a workflow output, a STAC API transaction, ``stacworks load``) is recorded once.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"

S = "stacworks"


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "trigger_schedules",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text),
        sa.Column("workflow_id", sa.Text, nullable=False),
        sa.Column("inputs", JSONB, nullable=False),
        sa.Column("cron", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("catch_up", sa.Text, nullable=False, server_default="skip"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("last_slot", sa.DateTime(timezone=True)),
        sa.Column("aws_schedule", sa.Text),
        _now("created_at"),
        _now("updated_at"),
        schema=S,
    )
    op.create_table(
        "trigger_subscriptions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("search", JSONB, nullable=False),
        sa.Column("workflow_id", sa.Text),
        sa.Column("parameters", JSONB, nullable=False, server_default="{}"),
        sa.Column("per", sa.Text, nullable=False, server_default="batch"),
        sa.Column("cron", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False, server_default="UTC"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("last_slot", sa.DateTime(timezone=True)),
        _now("created_at"),
        _now("updated_at"),
        schema=S,
    )
    op.create_table(
        "trigger_watches",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("workflow_id", sa.Text, nullable=False),
        sa.Column("parameters", JSONB, nullable=False, server_default="{}"),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("cursor", sa.BigInteger, nullable=False, server_default="0"),
        _now("created_at"),
        _now("updated_at"),
        schema=S,
    )
    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("trigger_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("execution_ids", JSONB, nullable=False, server_default="[]"),
        _now("fired_at"),
        sa.UniqueConstraint("trigger_id", "key", name="trigger_firings_once"),
        schema=S,
    )
    op.create_index("trigger_firings_trigger", "trigger_firings", ["trigger_id", "id"], schema=S)
    op.create_table(
        "trigger_seen_products",
        sa.Column("subscription_id", sa.Text,
                  sa.ForeignKey(f"{S}.trigger_subscriptions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("product_id", sa.Text, primary_key=True),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("firing_id", sa.BigInteger),
        sa.Column("ingest_product_id", sa.BigInteger),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("product", JSONB),
        sa.Column("execution_id", sa.Text),
        _now("seen_at"),
        schema=S,
    )
    op.create_table(
        "trigger_webhooks",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("events", JSONB, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default="false"),
        _now("created_at"),
        schema=S,
    )
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.Text,
                  sa.ForeignKey(f"{S}.trigger_webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("event_key", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now("next_attempt_at"),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("log", JSONB, nullable=False, server_default="[]"),
        _now("created_at"),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("webhook_id", "event_key", name="trigger_deliveries_once"),
        schema=S,
    )
    op.create_index("trigger_deliveries_due", "trigger_deliveries",
                    ["status", "next_attempt_at"], schema=S)
    op.create_table(
        "trigger_budgets",
        sa.Column("workflow_id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text),
        sa.Column("soft_usd", sa.Float),
        sa.Column("hard_usd", sa.Float),
        _now("updated_at"),
        schema=S,
    )
    op.create_table(
        "catalog_changes",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("collection", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("op", sa.Text, nullable=False),
        _now("at"),
        schema=S,
    )
    op.create_index("catalog_changes_collection", "catalog_changes", ["collection", "id"],
                    schema=S)
    op.execute(
        f"""
        CREATE FUNCTION {S}.record_catalog_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {S} AS $$
        BEGIN
            INSERT INTO {S}.catalog_changes (collection, item_id, op)
            VALUES (NEW.collection, NEW.id, lower(TG_OP));
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER stacworks_catalog_changes AFTER INSERT OR UPDATE ON pgstac.items "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.record_catalog_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stacworks_catalog_changes ON pgstac.items")
    op.execute(f"DROP FUNCTION IF EXISTS {S}.record_catalog_change()")
    for table in ("catalog_changes", "trigger_budgets", "trigger_deliveries", "trigger_webhooks",
                  "trigger_seen_products", "trigger_firings", "trigger_watches",
                  "trigger_subscriptions", "trigger_schedules"):
        op.drop_table(table, schema=S)
