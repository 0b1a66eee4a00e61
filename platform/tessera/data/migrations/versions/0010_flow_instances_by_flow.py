"""Flow instances by flow and record: whether a flow already runs on a record is asked
every time it starts, and must not read all the object's instances to answer.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 09:30:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tessera_flow_instances_flow_record", "tessera_flow_instances", ["flow_uid", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_flow_instances_flow_record", table_name="tessera_flow_instances")
