"""Conversions: the log of records converted (a lead into an account, a contact and a
deal), which refuses a second run and tells what a run made.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tessera_conversions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conversion_uid", sa.String(40), nullable=False),
        sa.Column("conversion", sa.String(63), nullable=False),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("result", json_column(), nullable=False),
        sa.Column("actor_id", sa.BigInteger),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_conversions"),
    )
    op.create_index("ix_tessera_conversions_record", "tessera_conversions", ["object_uid", "record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_conversions_record", table_name="tessera_conversions")
    op.drop_table("tessera_conversions")
