"""Finding the record a conversion target matches: one indexed query.

A match compares text ignoring case (`Acme` finds `ACME`), so it reads `lower(name)`; a
plain index on `name` cannot serve that, so each text field a conversion matches on gets an
index on `lower(column)` of its own. It is made when the conversion is saved and made
again at the first run after a metadata change if it is missing (SQLite rebuilds a table to
alter it and does not carry expression indexes over), so a match among 100,000 accounts
stays one index lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex

from tessera.meta.model import FieldDef, ObjectDef

#: Field types compared ignoring case. (An e-mail is stored in lower case already and keeps
#: its plain index.)
CASELESS = ("text", "long_text")


def caseless(fdef: FieldDef) -> bool:
    return fdef.type in CASELESS


def index_name(obj: ObjectDef, fdef: FieldDef) -> str:
    # Field uids are unique within a package only; the table's name makes the name unique.
    digest = hashlib.sha1(f"{obj.table_name}:{fdef.uid}".encode()).hexdigest()[:16]
    return f"ix_lower_{digest}"


def ensure_index(conn: Connection, obj: ObjectDef, fdef: FieldDef) -> None:
    """Create the index on `lower(column)` of a text field if it is missing."""
    name = index_name(obj, fdef)
    if _exists(conn, obj.table_name, name):
        return
    # A table of its own, not the catalog's: an Index built on a Table joins its indexes.
    table = sa.Table(obj.table_name, sa.MetaData(), sa.Column(fdef.column, sa.Text))
    conn.execute(CreateIndex(sa.Index(name, sa.func.lower(table.c[fdef.column])), if_not_exists=True))


def _exists(conn: Connection, table: str, name: str) -> bool:
    if conn.dialect.name != "sqlite":
        return bool(sa.inspect(conn).has_index(table, name))
    # SQLite's reflection skips expression indexes (with a warning): ask its catalog.
    catalog = sa.table("sqlite_master", sa.column("type"), sa.column("name"), sa.column("tbl_name"))
    return conn.execute(sa.select(catalog.c.name).where(
        catalog.c.type == "index", catalog.c.name == name, catalog.c.tbl_name == table)).first() is not None


def match(conn: Connection, table: sa.Table, values: Mapping[FieldDef, Any], readable: Any | None) \
        -> Mapping[str, Any] | None:
    """The oldest live record of `table` whose fields equal `values` (text ignoring case),
    among those `readable` allows (None: all)."""
    where = _conditions(table, {fdef: value for fdef, value in values.items()})
    if readable is not None:
        where.append(readable)
    return conn.execute(sa.select(table).where(*where).order_by(table.c.id).limit(1)).mappings().first()


def match_statement(table: sa.Table, fields: list[FieldDef]) -> sa.Select[Any]:
    """The same query for a caller who may read every record, built once: its values are
    the parameters `m0`, `m1`, … in the order of `fields`."""
    values = {fdef: sa.bindparam(f"m{i}", type_=table.c[fdef.column].type) for i, fdef in enumerate(fields)}
    return sa.select(table).where(*_conditions(table, values)).order_by(table.c.id).limit(1)


def _conditions(table: sa.Table, values: Mapping[FieldDef, Any]) -> list[Any]:
    where: list[Any] = [table.c.deleted_at.is_(None)]
    for fdef, value in values.items():
        column = table.c[fdef.column]
        where.append(sa.func.lower(column) == sa.func.lower(value) if caseless(fdef) else column == value)
    return where
