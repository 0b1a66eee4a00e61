"""The full-text index of records, in the database's own search engine.

An object whose fields opt in (`"searchable": true`) has an index of its own, a table named
after the object's uid with a column per searchable field named after the field's uid — so
renaming the object or a field never touches it.

- SQLite: an FTS5 table (unicode61, diacritics removed; rowid = the record's id) for words,
  and an FTS5 trigram table beside it (`…_grams`) for the records holding Chinese, Japanese
  or Korean text, searched by substring.
- PostgreSQL: a table keyed by the record's id holding each field's words, their weighted
  tsvector (GIN; written out here, not parsed again by the database), and for records
  holding such text their words together (`body`) under a pg_trgm GIN index of those
  rows only.

A record in the trash keeps its entry: every search joins the object's table and keeps live
records only, so a restore needs nothing. This module builds and writes the tables; what is
indexed and how a query reads them is the search runtime's (`runtime/search/`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.engine import in_pipeline

#: A field's `search_weight` → (PostgreSQL weight label, FTS5 bm25 column weight).
WEIGHTS: dict[str, tuple[str, float]] = {"high": ("A", 4.0), "normal": ("B", 1.0), "low": ("C", 0.4)}
_SAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class IndexField:
    """A searchable field as the index sees it."""

    uid: str
    name: str
    weight: str

    @functools.cached_property
    def key(self) -> str:
        """The index column holding this field's words (worked out once: a save reads it
        for every field of every record it indexes)."""
        return "f_" + _SAFE.sub("_", self.uid)


@dataclass(frozen=True)
class Layout:
    """An object's index: which fields, with which weights."""

    object_uid: str
    fields: tuple[IndexField, ...]

    @property
    def table(self) -> str:
        return "tessera_search_" + _SAFE.sub("_", self.object_uid)

    @property
    def grams(self) -> str:
        """SQLite's trigram companion table."""
        return self.table + "_grams"

    @property
    def signature(self) -> str:
        """What the index's tables are built from: another signature needs a rebuild."""
        return json.dumps([[f.uid, f.weight] for f in self.fields])

    def field(self, name: str) -> IndexField | None:
        return next((f for f in self.fields if f.name == name), None)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create(conn: Connection, layout: Layout) -> None:
    """Create the (empty) index tables of `layout`."""
    keys = [f.key for f in layout.fields]
    if conn.dialect.name == "sqlite":
        columns = ", ".join(keys)
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {_quoted(layout.table)} USING fts5("
                             f"{columns}, tokenize = 'unicode61 remove_diacritics 2')")
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {_quoted(layout.grams)} USING fts5("
                             f"{columns}, tokenize = 'trigram')")
        return
    table = _quoted(layout.table)
    conn.exec_driver_sql(
        f"CREATE TABLE {table} (record_id bigint PRIMARY KEY, "
        + "".join(f"{k} text, " for k in keys)
        + "document tsvector NOT NULL, body text)")
    conn.exec_driver_sql(f"CREATE INDEX {_quoted(layout.table + '_words')} ON {table} USING gin (document)")
    # Only the rows holding such text: a NULL would still be an entry of a full index, and
    # a search's `body LIKE …` holds for those rows only.
    conn.exec_driver_sql(f"CREATE INDEX {_quoted(layout.table + '_grams')} ON {table} "
                         "USING gin (body gin_trgm_ops) WHERE body IS NOT NULL")


def drop(conn: Connection, layout_table: str) -> None:
    """Drop an index's tables (`layout_table`: its `Layout.table`), if they exist."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(layout_table)}")
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(layout_table + '_grams')}")


#: How `write_rows` treats a record's existing entry.
WRITE_MODES = ("new", "replace", "keep")


def write_rows(conn: Connection, layout: Layout, rows: Sequence[tuple[Any, ...]], *, mode: str = "replace",
               substrings: Collection[int] = ()) -> None:
    """Index records: rows of (record id, then the words of each field in the layout's order,
    None for none) — a save's hook makes one tuple a record, and nothing more that outlives
    it. `mode`: `new` records have no entry yet; `replace` replaces an entry; `keep` keeps it
    (a rebuild running beside saves must not overwrite a save's newer words with what it
    read earlier). A record without words has no entry. `substrings`: the records whose text
    is also searched by substring (it holds Chinese, Japanese or Korean): only they go into
    the trigram index, which costs more to write than the word index."""
    if not rows:
        return
    assert mode in WRITE_MODES, mode
    replace = mode == "replace"
    sql = _statements(layout, conn.dialect.name)
    if conn.dialect.name == "sqlite":
        if replace:
            remove(conn, layout, [row[0] for row in rows])
        present: set[int] = set()
        if mode == "keep":
            ids = [row[0] for row in rows]
            for chunk in _chunks(ids, 500):
                marks = ", ".join("?" * len(chunk))
                present |= {r[0] for r in conn.exec_driver_sql(
                    f"SELECT rowid FROM {_quoted(layout.table)} WHERE rowid IN ({marks})", tuple(chunk))}
        params = [row for row in rows if any(row[1:]) and row[0] not in present]
        if params:
            _run(conn, sql.insert, params, many=True)
            grams = [p for p in params if p[0] in substrings] if substrings else []
            if grams:
                _run(conn, sql.insert_grams, grams, many=True)
        return
    if replace:
        empty = [row[0] for row in rows if not any(row[1:])]
        if empty:
            remove(conn, layout, empty)
    weights = sql.weights
    made = [(*row, tsvector_text(row[1:], weights),
             " ".join(v for v in row[1:] if v) if row[0] in substrings else None) for row in rows if any(row[1:])]
    if not made:
        return
    if mode == "new" and len(made) >= _COPIED and not in_pipeline(conn):
        # New records have no entry to clash with: COPY takes the rows in one stream, which
        # costs PostgreSQL a fraction of an INSERT per row (a few rows go as an INSERT: one
        # round trip where COPY takes two).
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(sql.copy) as copy:
            for row in made:
                copy.write_row(row)
        return
    if len(made) == 1:
        _run(conn, sql.insert_one[mode], made[0])
        return
    _run(conn, sql.insert_many[mode], tuple(list(column) for column in zip(*made, strict=True)))


@dataclass(frozen=True)
class _Statements:
    """The SQL writing an index's rows, made once per layout (a record saved on its own
    would otherwise build it again for its one row)."""

    #: SQLite: a row each into the word index, and into the trigram index.
    insert: str = ""
    insert_grams: str = ""
    #: PostgreSQL, by write mode: one row; many rows; and new rows by COPY.
    insert_one: Mapping[str, str] = field(default_factory=dict)
    insert_many: Mapping[str, str] = field(default_factory=dict)
    copy: str = ""
    #: PostgreSQL: each field's weight label.
    weights: tuple[str, ...] = ()


@functools.lru_cache(maxsize=512)
def _statements(layout: Layout, dialect: str) -> _Statements:
    keys = [f.key for f in layout.fields]
    if dialect == "sqlite":
        insert = "INSERT INTO {} (rowid, " + ", ".join(keys) + f") VALUES ({', '.join('?' * (len(keys) + 1))})"
        return _Statements(insert.format(_quoted(layout.table)), insert.format(_quoted(layout.grams)))
    table = _quoted(layout.table)
    columns = ", ".join(["record_id", *keys, "document", "body"])
    updated = ", ".join(f"{k} = excluded.{k}" for k in [*keys, "document", "body"])
    conflict = {"new": "", "keep": " ON CONFLICT (record_id) DO NOTHING",
                "replace": f" ON CONFLICT (record_id) DO UPDATE SET {updated}"}
    marks = ", ".join(["%s"] * (len(keys) + 1) + ["%s::tsvector", "%s"])
    # Many rows go as one statement over arrays of each column: an executemany is a
    # statement a row for the server to run (even pipelined), which costs it more than the
    # rows themselves. The statement's text does not depend on how many rows: prepared once.
    # The arrays go in binary (%b), which both sides read and write several times faster
    # than array text; the documents as text[] cast to tsvector[] (psycopg writes no binary
    # tsvector).
    arrays = ", ".join(["%b::bigint[]"] + ["%b::text[]"] * len(keys) + ["%b::text[]::tsvector[]", "%b::text[]"])
    return _Statements(
        insert_many={m: f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}){c}"
                     for m, c in conflict.items()},
        insert_one={m: f"INSERT INTO {table} ({columns}) VALUES ({marks}){c}" for m, c in conflict.items()},
        copy=f"COPY {table} ({columns}) FROM STDIN",
        weights=tuple(WEIGHTS[f.weight][0] for f in layout.fields))


def _run(conn: Connection, sql: str, params: Sequence[Any], *, many: bool = False) -> None:
    """Run a write (`many`: for each row of `params`) on the driver's cursor of the caller's
    transaction: a record saved on its own is one small insert, and SQLAlchemy's bookkeeping
    around it costs more than the database takes to run it. Errors come as SQLAlchemy's, as
    from execute. In PostgreSQL's pipelined transaction of a save the write goes out without
    waiting for its answer, as `tessera.data.prepared`'s do: the server indexes while the
    save goes on, and the answer comes with the next statement that waits or the COMMIT (an
    error there rolls the transaction back whole)."""
    dbapi: Any = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(sql, params, error, dbapi.Error, dialect=conn.dialect) from error
    finally:
        if not in_pipeline(conn):  # (a pipelined write's cursor takes its answer later)
            cursor.close()


#: Entries of new records written with COPY rather than INSERT on PostgreSQL, from this many.
_COPIED = 20
#: PostgreSQL's limits of a tsvector: the last position, the longest word (bytes).
_LAST_POSITION = 16383
_LONGEST_WORD = 2046


def tsvector_text(values: Sequence[str | None], weights: Sequence[str]) -> str:
    """The weighted tsvector of one record's words per field (already folded and split),
    written out as tsvector text: what setweight(to_tsvector('simple', …)) of each field
    joined with `||` gives, without PostgreSQL parsing the words again (it costs more than
    the insert itself). Each word is written with its own position; reading the text,
    PostgreSQL gathers the positions of a word that comes more than once."""
    parts: list[str] = []
    at = 0
    for text, weight in zip(values, weights, strict=True):
        if not text:
            continue
        words = text.split()
        if len(text) > _LONGEST_WORD // 4:  # it may hold a word too long for a tsvector (4 bytes a character
            # at most): such a word is left out, taking no place
            words = [w for w in words if len(w.encode()) <= _LONGEST_WORD]
        if at + len(words) < _LAST_POSITION:
            parts += [f"'{word}':{place}{weight}" for place, word in enumerate(words, at + 1)]
        else:
            parts += [f"'{word}':{min(place, _LAST_POSITION)}{weight}" for place, word in enumerate(words, at + 1)]
        at += len(words)
    return " ".join(parts)


def remove(conn: Connection, layout: Layout, record_ids: Iterable[int]) -> None:
    """Drop the entries of records (purged for good, or left without words)."""
    ids = list(record_ids)
    sqlite = conn.dialect.name == "sqlite"
    names = (layout.table, layout.grams) if sqlite else (layout.table,)
    column = "rowid" if sqlite else "record_id"
    mark = "?" if sqlite else "%s"
    for chunk in _chunks(ids, 500):
        marks = ", ".join([mark] * len(chunk))
        for name in names:
            conn.exec_driver_sql(f"DELETE FROM {_quoted(name)} WHERE {column} IN ({marks})", tuple(chunk))


def count(conn: Connection, layout: Layout) -> int:
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {_quoted(layout.table)}").scalar_one())


@functools.lru_cache(maxsize=512)
def words_table(layout: Layout, dialect: str) -> sa.TableClause:
    """The index table as a selectable: SQLite's FTS5 table (its `rowid` is the record id;
    the table's own name is the MATCH column), PostgreSQL's side table."""
    keys = [sa.column(f.key) for f in layout.fields]
    if dialect == "sqlite":
        return sa.table(layout.table, sa.column("rowid"), sa.column(layout.table), *keys)
    return sa.table(layout.table, sa.column("record_id"), sa.column("document"), sa.column("body"), *keys)


@functools.lru_cache(maxsize=512)
def grams_table(layout: Layout) -> sa.TableClause:
    """SQLite's trigram companion as a selectable (made once per layout, like `words_table`:
    a search builds its statement from them every time)."""
    return sa.table(layout.grams, sa.column("rowid"), sa.column(layout.grams),
                    *(sa.column(f.key) for f in layout.fields))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
