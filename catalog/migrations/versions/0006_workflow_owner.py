"""Workflows have an owner: the principal that created them, who (with admins) may change them.

Workflows registered before access control, or from the CLI, have none: admins change those.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("processing_workflows", sa.Column("owner", sa.Text), schema="stacworks")


def downgrade() -> None:
    op.drop_column("processing_workflows", "owner", schema="stacworks")
