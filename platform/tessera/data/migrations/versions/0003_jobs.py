"""Background jobs: long work (formula recomputes, imports, template installs) with progress.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tessera_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("title", sa.String(300), nullable=False, server_default=""),
        sa.Column("params", json_column(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="queued"),
        sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total", sa.BigInteger),
        sa.Column("message", sa.String(500), nullable=False, server_default=""),
        sa.Column("result", json_column()),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("worker", sa.String(100)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.BigInteger),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
        sa.Column("heartbeat_at", UtcDateTime),
        sa.Column("finished_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_jobs"),
    )
    op.create_index("ix_tessera_jobs_status", "tessera_jobs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_jobs_status", table_name="tessera_jobs")
    op.drop_table("tessera_jobs")
