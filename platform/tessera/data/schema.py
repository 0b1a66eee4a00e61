"""Physical object tables: their SQLAlchemy definition and their changes through Alembic.

Each object is a table named like the object, each stored field a typed column named like
the field, each lookup a foreign key with an index. Index and constraint names carry the
field's uid, so renames never have to touch them. Changes use Alembic's batch operations,
which are plain ALTERs on PostgreSQL and table rebuilds where SQLite needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations.base import BatchOperations
from sqlalchemy.engine import Connection

from tessera.data.tables import id_type
from tessera.meta.columns import UtcDateTime
from tessera.meta.model import FieldDef, ObjectDef

_ON_DELETE = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}


def system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.BigInteger),
        sa.Column("owner", sa.BigInteger),
        sa.Column("deleted_at", UtcDateTime),
        sa.Column("deleted_by", sa.BigInteger),
        sa.Column("deleted_batch", sa.String(32)),
    ]


def foreign_key(field: FieldDef) -> sa.ForeignKey | None:
    reference = getattr(field.ftype, "reference", None)
    on_delete = _ON_DELETE[field.props.get("on_delete", "set_null")]
    if reference == "record":
        return sa.ForeignKey(f"{field.props['target']}.id", ondelete=on_delete, name=f"fk_{field.uid}")
    if reference == "user":
        return sa.ForeignKey("tessera_users.id", ondelete=on_delete, name=f"fk_{field.uid}")
    return None


def field_column(field: FieldDef, name: str | None = None) -> sa.Column[Any]:
    fk = foreign_key(field)
    return sa.Column(name or field.column, field.ftype.column_type(field), *([fk] if fk else []))


def field_indexes(obj: ObjectDef, field: FieldDef) -> list[tuple[str, list[str], bool]]:
    """(name, columns, unique) of the indexes a field asks for."""
    out: list[tuple[str, list[str], bool]] = []
    if field.unique:
        out.append((f"uq_{field.uid}", [field.column], True))
    elif field.indexed:
        out.append((f"ix_{field.uid}", [field.column, "id"], False))
    elif getattr(field.ftype, "reference", None) in ("record", "user"):
        out.append((f"ix_{field.uid}", [field.column], False))
    return out


def system_indexes(obj: ObjectDef) -> list[tuple[str, list[str], bool]]:
    return [
        (f"ix_{obj.uid}_owner", ["owner"], False),
        (f"ix_{obj.uid}_deleted", ["deleted_batch"], False),
        (f"ix_{obj.uid}_updated", ["updated_at", "id"], False),
    ]


def build_table(obj: ObjectDef, metadata: sa.MetaData, with_foreign_keys: bool = False) -> sa.Table:
    """The table of an object for queries (and, with foreign keys, for creating it)."""
    columns = system_columns()
    for field in obj.stored_fields:
        columns.append(
            field_column(field) if with_foreign_keys
            else sa.Column(field.column, field.ftype.column_type(field))
        )
    return sa.Table(obj.table_name, metadata, *columns)


class SchemaEditor:
    """Applies object and field changes to the physical schema over one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.op = Operations(MigrationContext.configure(conn))

    @contextmanager
    def _batch(self, table: str) -> Iterator[BatchOperations]:
        with self.op.batch_alter_table(table, recreate="auto") as batch:
            yield batch

    def _create_indexes(self, table: str, indexes: list[tuple[str, list[str], bool]]) -> None:
        for name, columns, unique in indexes:
            self.op.create_index(name, table, columns, unique=unique)

    def _drop_indexes(self, table: str, indexes: list[tuple[str, list[str], bool]]) -> None:
        for name, _columns, _unique in indexes:
            self.op.drop_index(name, table_name=table)

    def create_object(self, obj: ObjectDef) -> None:
        table = build_table(obj, sa.MetaData(), with_foreign_keys=True)
        constraints = [
            sa.ForeignKeyConstraint([col.name], [fk.target_fullname], name=fk.name, ondelete=fk.ondelete)
            for col in table.columns for fk in col.foreign_keys
        ]
        columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                             server_default=c.server_default) for c in table.columns]
        self.op.create_table(obj.table_name, *columns, *constraints)
        indexes = system_indexes(obj)
        for field in obj.stored_fields:
            indexes += field_indexes(obj, field)
        self._create_indexes(obj.table_name, indexes)

    def drop_object(self, obj: ObjectDef) -> None:
        self.op.drop_table(obj.table_name)

    def rename_object(self, old: str, new: str) -> None:
        self.op.rename_table(old, new)

    def add_field(self, obj: ObjectDef, field: FieldDef) -> None:
        with self._batch(obj.table_name) as batch:
            batch.add_column(field_column(field))
        self._create_indexes(obj.table_name, field_indexes(obj, field))

    def drop_field(self, obj: ObjectDef, field: FieldDef, column: str | None = None) -> None:
        self._drop_indexes(obj.table_name, field_indexes(obj, field))
        with self._batch(obj.table_name) as batch:
            if foreign_key(field) is not None and self.conn.dialect.name != "sqlite":
                batch.drop_constraint(f"fk_{field.uid}", type_="foreignkey")
            batch.drop_column(column or field.column)

    def rename_field(self, obj: ObjectDef, old_column: str, field: FieldDef) -> None:
        with self._batch(obj.table_name) as batch:
            batch.alter_column(old_column, new_column_name=field.column)

    def replace_indexes(self, obj: ObjectDef, before: FieldDef, after: FieldDef) -> None:
        old, new = field_indexes(obj, before), field_indexes(obj, after)
        if old != new:
            self._drop_indexes(obj.table_name, old)
            self._create_indexes(obj.table_name, new)

    def retype_field(
        self, obj: ObjectDef, before: FieldDef, after: FieldDef,
        rewrite: Callable[[str], None],
    ) -> None:
        """Give a field a new column type: a new column, filled by `rewrite`, takes its place."""
        # Short and unique whatever the column is called (PostgreSQL truncates names at 63).
        temp = f"{after.uid}__retype"
        with self._batch(obj.table_name) as batch:
            # The foreign key comes last: its name is the field's, still taken by the old column.
            batch.add_column(sa.Column(temp, after.ftype.column_type(after)))
        rewrite(temp)
        self.drop_field(obj, before)
        with self._batch(obj.table_name) as batch:
            batch.alter_column(temp, new_column_name=after.column)
        self._create_foreign_key(obj, after)
        self._create_indexes(obj.table_name, field_indexes(obj, after))

    def replace_foreign_key(self, obj: ObjectDef, before: FieldDef, after: FieldDef) -> None:
        """Change what a lookup does when its target is deleted; the values stay as they are."""
        with self._batch(obj.table_name) as batch:
            batch.drop_constraint(f"fk_{before.uid}", type_="foreignkey")
        self._create_foreign_key(obj, after)

    def _create_foreign_key(self, obj: ObjectDef, field: FieldDef) -> None:
        fk = foreign_key(field)
        if fk is None:
            return
        table, _, column = fk.target_fullname.rpartition(".")
        with self._batch(obj.table_name) as batch:
            batch.create_foreign_key(fk.name, table, [field.column], [column], ondelete=fk.ondelete)
