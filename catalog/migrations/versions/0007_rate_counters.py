"""Rate-limit counters shared by every process of a deployment (``STACWORKS_AUTH_RATE_STORE``)."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "access_rate_counters",
        sa.Column("bucket", sa.Text, primary_key=True),
        sa.Column("caller", sa.Text, primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        schema="stacworks",
    )


def downgrade() -> None:
    op.drop_table("access_rate_counters", schema="stacworks")
