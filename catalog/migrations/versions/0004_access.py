"""Access control: API keys (hashed), collection visibility and owner, grants, share links."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

S = "stacworks"


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text),
        _ts("created_at", server_default=sa.func.now(), nullable=False),
        _ts("expires_at"),
        _ts("revoked_at"),
        sa.CheckConstraint("role IN ('admin', 'editor', 'viewer')", name="access_keys_role"),
        schema=S,
    )
    op.create_table(
        "access_collections",
        sa.Column("collection_id", sa.Text, primary_key=True),
        sa.Column("visibility", sa.Text, nullable=False, server_default="private"),
        sa.Column("owner", sa.Text),
        _ts("updated_at", server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("visibility IN ('private', 'public')",
                           name="access_collections_visibility"),
        schema=S,
    )
    op.create_table(
        "access_grants",
        sa.Column("principal", sa.Text, primary_key=True),
        sa.Column("collection_id", sa.Text, primary_key=True),
        sa.Column("permission", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text),
        _ts("created_at", server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("permission IN ('read', 'write')", name="access_grants_permission"),
        schema=S,
    )
    op.create_index("access_grants_collection", "access_grants", ["collection_id"], schema=S)
    op.create_table(
        "access_shares",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("creator_role", sa.Text, nullable=False),
        _ts("created_at", server_default=sa.func.now(), nullable=False),
        _ts("expires_at", nullable=False),
        _ts("revoked_at"),
        sa.CheckConstraint("kind IN ('collection', 'search')", name="access_shares_kind"),
        schema=S,
    )
    op.add_column("processing_executions", sa.Column("principal", sa.Text), schema=S)


def downgrade() -> None:
    op.drop_column("processing_executions", "principal", schema=S)
    for table in ("access_shares", "access_grants", "access_collections", "access_keys"):
        op.drop_table(table, schema=S)
