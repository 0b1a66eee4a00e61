"""Each person's favourite records and the records they opened last: the navigation's
*Favourites* and *Recent*.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _person() -> sa.Column:
    return sa.Column("user_id", sa.BigInteger, nullable=False)


def upgrade() -> None:
    op.create_table(
        "tessera_favourites", _person(),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "object_uid", "record_id", name="pk_tessera_favourites"),
        sa.ForeignKeyConstraint(["user_id"], ["tessera_users.id"], ondelete="CASCADE",
                                name="fk_tessera_favourites_user_id_tessera_users"),
    )
    op.create_table(
        "tessera_recent_records", _person(),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("visited_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "object_uid", "record_id", name="pk_tessera_recent_records"),
        sa.ForeignKeyConstraint(["user_id"], ["tessera_users.id"], ondelete="CASCADE",
                                name="fk_tessera_recent_records_user_id_tessera_users"),
    )
    op.create_index("ix_tessera_recent_records_visited", "tessera_recent_records", ["user_id", "visited_at"])


def downgrade() -> None:
    op.drop_index("ix_tessera_recent_records_visited", table_name="tessera_recent_records")
    op.drop_table("tessera_recent_records")
    op.drop_table("tessera_favourites")
