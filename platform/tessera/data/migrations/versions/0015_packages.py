"""App packages: installed packages, the immutable base of each installed version, the
sample records they installed (by key), the review list of upgrades, and the files of a
package waiting for its install job.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 17:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tessera_packages",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("manifest", json_column(), nullable=False),
        sa.Column("installed_at", UtcDateTime, nullable=False),
        sa.Column("installed_by", sa.BigInteger),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tessera_packages"),
    )
    op.create_table(
        "tessera_package_documents",
        sa.Column("id", _id(), nullable=False),
        sa.Column("package", sa.String(80), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("uid", sa.String(40), nullable=False),
        sa.Column("author_uid", sa.String(80), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("base", json_column(), nullable=False),
        sa.Column("elements", json_column(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_package_documents"),
        sa.UniqueConstraint("package", "version", "uid", name="uq_tessera_package_documents_package_version_uid"),
    )
    op.create_index("ix_tessera_package_documents_uid", "tessera_package_documents", ["uid"])
    op.create_table(
        "tessera_package_records",
        sa.Column("package", sa.String(80), nullable=False),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("package", "object_uid", "key", name="pk_tessera_package_records"),
    )
    op.create_table(
        "tessera_package_conflicts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("package", sa.String(80), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("uid", sa.String(40), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("values", json_column(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_package_conflicts"),
    )
    op.create_index("ix_tessera_package_conflicts_package", "tessera_package_conflicts", ["package", "status"])
    op.create_table(
        "tessera_package_uploads",
        sa.Column("id", _id(), nullable=False),
        sa.Column("package", sa.String(80), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("files", json_column(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_package_uploads"),
    )


def downgrade() -> None:
    op.drop_table("tessera_package_uploads")
    op.drop_index("ix_tessera_package_conflicts_package", table_name="tessera_package_conflicts")
    op.drop_table("tessera_package_conflicts")
    op.drop_table("tessera_package_records")
    op.drop_index("ix_tessera_package_documents_uid", table_name="tessera_package_documents")
    op.drop_table("tessera_package_documents")
    op.drop_table("tessera_packages")
