"""The outbox by object: a report's cached result is keyed by the newest event of each
object it reads, found with this index however large the outbox grows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 05:30:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tessera_outbox_object", "tessera_outbox", ["object_uid", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_outbox_object", table_name="tessera_outbox")
