"""Saved list views: personal and shared columns, sort and filters of an object's list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 03:05:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tessera_saved_views",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("owner_id", sa.BigInteger,
                  sa.ForeignKey("tessera_users.id", ondelete="CASCADE",
                                name="fk_tessera_saved_views_owner_id_tessera_users")),
        sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("definition", json_column(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_saved_views"),
    )
    op.create_index("ix_tessera_saved_views_object", "tessera_saved_views", ["object_uid", "owner_id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_saved_views_object", table_name="tessera_saved_views")
    op.drop_table("tessera_saved_views")
