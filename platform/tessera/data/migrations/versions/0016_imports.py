"""Imports: spreadsheets on their way into an object (file, mapping, checkpoint) and the
rows they refused.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:00:00
"""

import sqlalchemy as sa
from alembic import op

from tessera.meta.columns import UtcDateTime, json_column

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tessera_imports",
        sa.Column("id", _id(), nullable=False),
        sa.Column("object_uid", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("sheet", sa.String(200)),
        sa.Column("headers", json_column(), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("total_rows", sa.BigInteger, nullable=False),
        sa.Column("settings", json_column(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="draft"),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("done_rows", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("counts", json_column(), nullable=False),
        sa.Column("retry_of", sa.BigInteger),
        sa.Column("created_by", sa.BigInteger),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tessera_imports"),
    )
    op.create_index("ix_tessera_imports_object", "tessera_imports", ["object_uid", "signature", "id"])
    op.create_table(
        "tessera_import_errors",
        sa.Column("import_id", sa.BigInteger, nullable=False),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("cells", json_column(), nullable=False),
        sa.Column("problems", json_column(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "row", name="pk_tessera_import_errors"),
    )


def downgrade() -> None:
    op.drop_table("tessera_import_errors")
    op.drop_index("ix_tessera_imports_object", table_name="tessera_imports")
    op.drop_table("tessera_imports")
