"""An auth revision beside the metadata revision, for invalidating cached sign-ins.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tessera_meta_state") as batch:
        batch.add_column(sa.Column("auth_revision", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tessera_meta_state") as batch:
        batch.drop_column("auth_revision")
