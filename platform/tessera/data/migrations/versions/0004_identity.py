"""Identity: teams, roles, sign-in sessions, sign-in attempts and the audit log; last use of
tokens, personal tokens, last sign-in of users; the built-in roles admin and builder.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tessera_users") as batch:
        batch.add_column(sa.Column("last_sign_in_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("tessera_tokens") as batch:
        batch.add_column(sa.Column("personal", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("last_used_at", UtcDateTime(), nullable=True))

    op.create_table(
        "tessera_teams",
        sa.Column("id", _id(), nullable=False),
        sa.Column("api_name", sa.String(63), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("description", sa.String(2000), server_default="", nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_teams"),
        sa.UniqueConstraint("api_name", name="uq_tessera_teams_api_name"),
    )
    op.create_table(
        "tessera_team_members",
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["tessera_teams.id"], ondelete="CASCADE",
                                name="fk_tessera_team_members_team_id_tessera_teams"),
        sa.ForeignKeyConstraint(["user_id"], ["tessera_users.id"], ondelete="CASCADE",
                                name="fk_tessera_team_members_user_id_tessera_users"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_tessera_team_members"),
    )
    op.create_index("ix_tessera_team_members_user_id", "tessera_team_members", ["user_id"])
    roles = op.create_table(
        "tessera_roles",
        sa.Column("id", _id(), nullable=False),
        sa.Column("api_name", sa.String(63), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("description", sa.String(2000), server_default="", nullable=False),
        sa.Column("built_in", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("permissions", json_column(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_roles"),
        sa.UniqueConstraint("api_name", name="uq_tessera_roles_api_name"),
    )
    op.create_table(
        "tessera_user_roles",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tessera_users.id"], ondelete="CASCADE",
                                name="fk_tessera_user_roles_user_id_tessera_users"),
        sa.ForeignKeyConstraint(["role_id"], ["tessera_roles.id"], ondelete="CASCADE",
                                name="fk_tessera_user_roles_role_id_tessera_roles"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="pk_tessera_user_roles"),
    )
    op.create_index("ix_tessera_user_roles_role_id", "tessera_user_roles", ["role_id"])
    op.create_table(
        "tessera_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tessera_users.id"], ondelete="CASCADE",
                                name="fk_tessera_sessions_user_id_tessera_users"),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_sessions"),
    )
    op.create_index("ix_tessera_sessions_user_id", "tessera_sessions", ["user_id"])
    op.create_table(
        "tessera_signin_attempts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_signin_attempts"),
    )
    op.create_index("ix_tessera_signin_attempts_at", "tessera_signin_attempts", ["at"])
    op.create_index("ix_tessera_signin_attempts_email", "tessera_signin_attempts", ["email", "at"])
    op.create_index("ix_tessera_signin_attempts_ip", "tessera_signin_attempts", ["ip", "at"])
    op.create_table(
        "tessera_audit",
        sa.Column("id", _id(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.String(300), server_default="", nullable=False),
        sa.Column("detail", json_column(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_audit"),
    )
    op.create_index("ix_tessera_audit_at", "tessera_audit", ["at", "id"])
    op.create_index("ix_tessera_audit_action", "tessera_audit", ["action", "at"])
    op.create_index("ix_tessera_audit_actor", "tessera_audit", ["actor_id", "at"])

    # The built-in roles, and the admin role for every account that is an admin already.
    at = datetime.now(UTC)
    op.bulk_insert(roles, [
        {"api_name": "admin", "label": "Admin", "built_in": True, "permissions": {}, "created_at": at,
         "updated_at": at,
         "description": "Everything: users, teams, roles, templates, metadata and every record."},
        {"api_name": "builder", "label": "Builder", "built_in": True, "permissions": {}, "created_at": at,
         "updated_at": at,
         "description": "May change objects, fields and other metadata; record access as granted."},
    ])
    op.execute(
        "INSERT INTO tessera_user_roles (user_id, role_id) "
        "SELECT u.id, r.id FROM tessera_users u, tessera_roles r WHERE u.is_admin AND r.api_name = 'admin'"
    )


def downgrade() -> None:
    for index, table in (("ix_tessera_audit_actor", "tessera_audit"), ("ix_tessera_audit_action", "tessera_audit"),
                         ("ix_tessera_audit_at", "tessera_audit"),
                         ("ix_tessera_signin_attempts_ip", "tessera_signin_attempts"),
                         ("ix_tessera_signin_attempts_email", "tessera_signin_attempts"),
                         ("ix_tessera_signin_attempts_at", "tessera_signin_attempts"),
                         ("ix_tessera_sessions_user_id", "tessera_sessions"),
                         ("ix_tessera_user_roles_role_id", "tessera_user_roles"),
                         ("ix_tessera_team_members_user_id", "tessera_team_members")):
        op.drop_index(index, table_name=table)
    for table in ("tessera_audit", "tessera_signin_attempts", "tessera_sessions", "tessera_user_roles",
                  "tessera_roles", "tessera_team_members", "tessera_teams"):
        op.drop_table(table)
    with op.batch_alter_table("tessera_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("personal")
    with op.batch_alter_table("tessera_users") as batch:
        batch.drop_column("last_sign_in_at")
