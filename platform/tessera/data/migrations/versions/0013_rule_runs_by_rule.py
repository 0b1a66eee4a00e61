"""A rule's runs by rule: its page shows the latest ones, whatever the size of the log.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:20:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tessera_rule_runs_rule", "tessera_rule_runs", ["rule_uid", "id"])


def downgrade() -> None:
    op.drop_index("ix_tessera_rule_runs_rule", table_name="tessera_rule_runs")
