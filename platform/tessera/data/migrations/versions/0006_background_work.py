"""Background work: timers indexed by due time, outgoing e-mail and webhooks, in-app
notifications.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 04:45:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "tessera_timers",
        _id(),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("params", json_column(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_timers"),
        sa.UniqueConstraint("key", name="uq_tessera_timers_key"),
    )
    op.create_index("ix_tessera_timers_due_at", "tessera_timers", ["due_at"])
    op.create_table(
        "tessera_deliveries",
        _id(),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", json_column(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_deliveries"),
        sa.UniqueConstraint("key", name="uq_tessera_deliveries_key"),
    )
    op.create_index("ix_tessera_deliveries_pending", "tessera_deliveries", ["status", "available_at"])
    op.create_table(
        "tessera_notifications",
        _id(),
        sa.Column("user_id", sa.BigInteger,
                  sa.ForeignKey("tessera_users.id", ondelete="CASCADE",
                                name="fk_tessera_notifications_user_id_tessera_users"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        sa.Column("link", sa.String(500)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("read_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_notifications"),
        sa.UniqueConstraint("key", name="uq_tessera_notifications_key"),
    )
    op.create_index("ix_tessera_notifications_user", "tessera_notifications", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_notifications_user", table_name="tessera_notifications")
    op.drop_table("tessera_notifications")
    op.drop_index("ix_tessera_deliveries_pending", table_name="tessera_deliveries")
    op.drop_table("tessera_deliveries")
    op.drop_index("ix_tessera_timers_due_at", table_name="tessera_timers")
    op.drop_table("tessera_timers")
