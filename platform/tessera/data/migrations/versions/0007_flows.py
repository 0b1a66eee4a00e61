"""Flows: published versions, running instances with their compact state, tasks (the
approvals inbox) and each instance's history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 05:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _id(table: str) -> list[sa.Column]:
    return [sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", ondelete=ondelete, name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "tessera_flow_versions", *_id("tessera_flow_versions"),
        sa.Column("flow_uid", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", json_column(), nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=False),
        sa.Column("published_by", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_flow_versions"),
        sa.UniqueConstraint("flow_uid", "version", name="uq_tessera_flow_versions_flow_uid_version"),
    )
    op.create_table(
        "tessera_flow_instances", *_id("tessera_flow_instances"),
        sa.Column("flow_uid", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("state", json_column(), nullable=False),
        sa.Column("lock", json_column()),
        sa.Column("started_by", sa.BigInteger),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_flow_instances"),
    )
    op.create_index("ix_tessera_flow_instances_record", "tessera_flow_instances", ["object_uid", "record_id"])
    op.create_index("ix_tessera_flow_instances_status", "tessera_flow_instances", ["status", "flow_uid"])
    op.create_table(
        "tessera_flow_tasks", *_id("tessera_flow_tasks"),
        sa.Column("instance_id", sa.BigInteger,
                  _fk("tessera_flow_tasks", "instance_id", "tessera_flow_instances", "CASCADE"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("step", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("assignee_id", sa.BigInteger,
                  _fk("tessera_flow_tasks", "assignee_id", "tessera_users", "SET NULL")),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_flow_tasks"),
        sa.UniqueConstraint("instance_id", "key", name="uq_tessera_flow_tasks_instance_id_key"),
    )
    op.create_index("ix_tessera_flow_tasks_instance_id", "tessera_flow_tasks", ["instance_id"])
    op.create_index("ix_tessera_flow_tasks_inbox", "tessera_flow_tasks", ["assignee_id", "status"])
    op.create_table(
        "tessera_flow_events", *_id("tessera_flow_events"),
        sa.Column("instance_id", sa.BigInteger,
                  _fk("tessera_flow_events", "instance_id", "tessera_flow_instances", "CASCADE"), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("step", sa.String(63)),
        sa.Column("actor_id", sa.BigInteger),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", json_column()),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_flow_events"),
    )
    op.create_index("ix_tessera_flow_events_instance", "tessera_flow_events", ["instance_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_flow_events_instance", table_name="tessera_flow_events")
    op.drop_table("tessera_flow_events")
    op.drop_index("ix_tessera_flow_tasks_inbox", table_name="tessera_flow_tasks")
    op.drop_index("ix_tessera_flow_tasks_instance_id", table_name="tessera_flow_tasks")
    op.drop_table("tessera_flow_tasks")
    op.drop_index("ix_tessera_flow_instances_status", table_name="tessera_flow_instances")
    op.drop_index("ix_tessera_flow_instances_record", table_name="tessera_flow_instances")
    op.drop_table("tessera_flow_instances")
    op.drop_table("tessera_flow_versions")
