"""Rules: the execution log ("why did this happen"), per-rule state (round-robin turn),
segment membership and SLA clocks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 05:05:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "tessera_rule_runs", _id(),
        sa.Column("rule_uid", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(63), nullable=False),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("trigger", sa.String(30), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changes", json_column()),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_rule_runs"),
    )
    op.create_index("ix_tessera_rule_runs_record", "tessera_rule_runs", ["object_uid", "record_id", "id"])
    op.create_table(
        "tessera_rule_state",
        sa.Column("rule_uid", sa.String(40), nullable=False),
        sa.Column("value", json_column(), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("rule_uid", name="pk_tessera_rule_state"),
    )
    op.create_table(
        "tessera_segment_members",
        sa.Column("rule_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("rule_uid", "record_id", name="pk_tessera_segment_members"),
    )
    op.create_table(
        "tessera_sla_clocks", _id(),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("policy_uid", sa.String(40), nullable=False),
        sa.Column("metric", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("target_seconds", sa.BigInteger, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime),
        sa.Column("warn_at", UtcDateTime),
        sa.Column("paused_seconds", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("paused_since", UtcDateTime),
        sa.Column("achieved_at", UtcDateTime),
        sa.Column("breached_at", UtcDateTime),
        sa.Column("warned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_sla_clocks"),
        sa.UniqueConstraint("object_uid", "record_id", "metric",
                            name="uq_tessera_sla_clocks_object_uid_record_id_metric"),
    )
    op.create_index("ix_tessera_sla_clocks_open", "tessera_sla_clocks", ["stage", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_tessera_sla_clocks_open", table_name="tessera_sla_clocks")
    op.drop_table("tessera_sla_clocks")
    op.drop_table("tessera_segment_members")
    op.drop_table("tessera_rule_state")
    op.drop_index("ix_tessera_rule_runs_record", table_name="tessera_rule_runs")
    op.drop_table("tessera_rule_runs")
