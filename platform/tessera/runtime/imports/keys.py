"""Finding a chunk's records by their keys: an upsert's or an update's one query per chunk.

A key of one field is looked for with a statement built once per table and columns read,
run on the driver's cursor: an expanding IN list of a thousand values is rendered afresh
for every chunk by SQLAlchemy, and parsed afresh by psycopg (it caches only statements of
up to 50 parameters), most of the query's cost. On PostgreSQL the keys go as one array
parameter of a statement never prepared on the server, so each chunk's query is planned for
its own keys and the table as it is (a generic plan chosen while the table was empty, just
truncated, would scan it for every chunk after); a key with an index is looked for through
it key by key (_per_key). On SQLite they go as an IN list padded to a power of two
(repeating the last key), so a handful of statements serve every chunk. A key of several
fields goes as a tuple IN list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from tessera.data.prepared import Prepared
from tessera.runtime.records.save import _statement


def live_by_key(conn: Connection, table: sa.Table, key: Sequence[sa.Column[Any]], columns: Sequence[sa.Column[Any]],
                keys: list[tuple[Any, ...]], *, indexed: bool = False) -> list[Any]:
    """The live records of `table` whose `key` columns hold one of `keys` (at most a
    thousand), each the values of `columns` in their order. `indexed`: the key is one column
    with an index of its own."""
    if not keys:
        return []
    if len(key) > 1:
        return list(conn.execute(sa.select(*columns).where(sa.tuple_(*key).in_(keys), table.c.deleted_at.is_(None))))
    values = [k[0] for k in keys]
    column = key[0]
    # Kept with the save pipeline's statements of the snapshot's table (a metadata change
    # makes new tables, so new statements), by the columns read and how many keys they take.
    names = ("import keys", column.key, tuple(c.key for c in columns))
    if conn.dialect.name == "postgresql":
        prepared = _statement(table, (*names, indexed), lambda: Prepared(
            _per_key(table, column, columns) if indexed else sa.select(*columns).where(
                column == sa.any_(_array(column)), table.c.deleted_at.is_(None)), plan_each=True))
        return prepared.read(conn, {"keys": list(dict.fromkeys(values))}).values()
    size = 1 << max(len(values) - 1, 0).bit_length()
    prepared = _statement(table, (*names, size), lambda: Prepared(sa.select(*columns).where(
        column.in_([sa.bindparam(f"k{i}") for i in range(size)]), table.c.deleted_at.is_(None))))
    last = len(values) - 1
    return prepared.read(conn, {f"k{i}": values[min(i, last)] for i in range(size)}).values()


def _array(column: sa.Column[Any]) -> Any:
    return sa.bindparam("keys", type_=ARRAY(column.type))


def _per_key(table: sa.Table, column: sa.Column[Any], columns: Sequence[sa.Column[Any]]) -> sa.Select[Any]:
    """Each key looked for through the column's index, one after the other: `unnest(keys)`
    joined to a subquery the planner may not flatten (its OFFSET 0), so nothing is left to
    choose but the index for each key. A table just filled (an import's first run) has no
    statistics yet: planned as `= ANY(keys)`, it guessed a handful of rows and scanned the
    whole table, 15 ms a chunk at 100,000 records instead of 1."""
    keys = sa.func.unnest(_array(column)).table_valued("v").render_derived(name="k")
    found = sa.select(*columns).where(column == keys.c.v, table.c.deleted_at.is_(None)).offset(0).lateral("d")
    return sa.select(*found.c).select_from(keys).join(found, sa.true())
