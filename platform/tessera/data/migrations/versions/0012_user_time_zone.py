"""Each user's time zone: the UI shows times in it (NULL: the platform's default zone).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tessera_users", sa.Column("time_zone", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("tessera_users") as batch:
        batch.drop_column("time_zone")
