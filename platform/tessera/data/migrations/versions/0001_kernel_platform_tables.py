"""The kernel's platform tables: users, tokens, metadata, history, outbox, sequences.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 23:48:43.307848
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.meta.columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tessera_attachments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_attachments")),
    )
    op.create_table(
        "tessera_dependencies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_uid", sa.String(length=40), nullable=False),
        sa.Column("source_kind", sa.String(length=40), nullable=False),
        sa.Column("via", sa.String(length=60), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("target_object_uid", sa.String(length=40), nullable=False),
        sa.Column("target_field_uid", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_dependencies")),
    )
    with op.batch_alter_table("tessera_dependencies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tessera_dependencies_source_uid"), ["source_uid"], unique=False)
        batch_op.create_index("ix_tessera_dependencies_target", ["target_object_uid", "target_field_uid"], unique=False)

    op.create_table(
        "tessera_meta",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uid", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("api_name", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="active", nullable=False),
        sa.Column(
            "body", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_meta")),
        sa.UniqueConstraint("kind", "api_name", name=op.f("uq_tessera_meta_kind_api_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_tessera_meta_uid")),
    )
    op.create_table(
        "tessera_meta_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("doc_uid", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.String(length=500), server_default="", nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "after", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_meta_history")),
    )
    with op.batch_alter_table("tessera_meta_history", schema=None) as batch_op:
        batch_op.create_index("ix_tessera_meta_history_doc", ["doc_uid", "id"], unique=False)

    op.create_table(
        "tessera_meta_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_meta_state")),
    )
    op.create_table(
        "tessera_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("object_uid", sa.String(length=40), nullable=True),
        sa.Column(
            "record_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("available_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_outbox")),
    )
    with op.batch_alter_table("tessera_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_tessera_outbox_pending", ["processed_at", "available_at"], unique=False)

    op.create_table(
        "tessera_record_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("object_uid", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("field_uid", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("old", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("new", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_record_history")),
    )
    with op.batch_alter_table("tessera_record_history", schema=None) as batch_op:
        batch_op.create_index("ix_tessera_record_history_record", ["object_uid", "record_id", "id"], unique=False)

    op.create_table(
        "tessera_sequences",
        sa.Column("field_uid", sa.String(length=40), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("field_uid", name=op.f("pk_tessera_sequences")),
    )
    op.create_table(
        "tessera_trash_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("object_uid", sa.String(length=40), nullable=False),
        sa.Column("field_uid", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_trash_links")),
    )
    with op.batch_alter_table("tessera_trash_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tessera_trash_links_batch"), ["batch"], unique=False)

    op.create_table(
        "tessera_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("manager_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["tessera_users.id"],
            name=op.f("fk_tessera_users_manager_id_tessera_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_users")),
        sa.UniqueConstraint("email", name=op.f("uq_tessera_users_email")),
    )
    op.create_table(
        "tessera_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", tessera.meta.columns.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["tessera_users.id"], name=op.f("fk_tessera_tokens_user_id_tessera_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tessera_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tessera_tokens_token_hash")),
    )
    with op.batch_alter_table("tessera_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tessera_tokens_user_id"), ["user_id"], unique=False)

    op.bulk_insert(
        sa.table("tessera_meta_state", sa.column("id", sa.Integer), sa.column("revision", sa.BigInteger)),
        [{"id": 1, "revision": 0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("tessera_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tessera_tokens_user_id"))

    op.drop_table("tessera_tokens")
    op.drop_table("tessera_users")
    with op.batch_alter_table("tessera_trash_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tessera_trash_links_batch"))

    op.drop_table("tessera_trash_links")
    op.drop_table("tessera_sequences")
    with op.batch_alter_table("tessera_record_history", schema=None) as batch_op:
        batch_op.drop_index("ix_tessera_record_history_record")

    op.drop_table("tessera_record_history")
    with op.batch_alter_table("tessera_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_tessera_outbox_pending")

    op.drop_table("tessera_outbox")
    op.drop_table("tessera_meta_state")
    with op.batch_alter_table("tessera_meta_history", schema=None) as batch_op:
        batch_op.drop_index("ix_tessera_meta_history_doc")

    op.drop_table("tessera_meta_history")
    op.drop_table("tessera_meta")
    with op.batch_alter_table("tessera_dependencies", schema=None) as batch_op:
        batch_op.drop_index("ix_tessera_dependencies_target")
        batch_op.drop_index(batch_op.f("ix_tessera_dependencies_source_uid"))

    op.drop_table("tessera_dependencies")
    op.drop_table("tessera_attachments")
