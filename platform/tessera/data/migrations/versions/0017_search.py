"""Search: the register of objects' full-text indexes, and pg_trgm on PostgreSQL (its
trigram indexes find Chinese words, substrings and typos).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:10:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "tessera_search_indexes",
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("ready", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("object_uid", name="pk_tessera_search_indexes"),
    )


def downgrade() -> None:
    op.drop_table("tessera_search_indexes")
