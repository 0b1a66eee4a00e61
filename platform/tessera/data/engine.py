"""Database engines for SQLite and PostgreSQL, and the transactions Tessera runs in.

SQLite gets WAL, enforced foreign keys and explicit BEGIN statements (pysqlite's implicit
transactions would make DDL and savepoints misbehave). Writes take the write lock up front
(BEGIN IMMEDIATE) so two writers queue instead of failing half-way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from tessera.formula import register_sqlite_functions


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _tune_sqlite(engine, in_memory=parsed.database in (None, "", ":memory:"))
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip on every checkout; stale connections are recycled
    # instead, and a dropped one fails its request once and leaves the pool.
    kwargs.setdefault("pool_recycle", 1800)
    return sa.create_engine(parsed, **kwargs)


def _tune_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # Exact decimal arithmetic, Unicode case mapping and regex for formulas in SQL.
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def dialect_insert(bind: Engine | Connection, table: sa.Table) -> Any:
    """INSERT for the connection's database, with its ON CONFLICT clauses."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (sqlite.insert if is_sqlite(bind) else postgresql.insert)(table)


_AFTER_COMMIT: weakref.WeakKeyDictionary[Connection, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run `callback` once the write transaction on `conn` has committed (not if it rolls
    back): work handed to other processes must not see a row before it exists."""
    _AFTER_COMMIT.setdefault(conn, []).append(callback)


@contextmanager
def _committing(conn: Connection) -> Iterator[Connection]:
    try:
        with conn.begin():
            yield conn
    except BaseException:
        _AFTER_COMMIT.pop(conn, None)
        raise
    for callback in _AFTER_COMMIT.pop(conn, []):
        callback()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write; on SQLite it holds the write lock from the start."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with _committing(conn):
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """Reads. On PostgreSQL they run in autocommit: under READ COMMITTED every statement
    sees its own snapshot anyway, and BEGIN/COMMIT would be two more round trips."""
    with engine.connect() as conn:
        if is_sqlite(conn):
            with conn.begin():
                yield conn
        else:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction for metadata and DDL together.

    PostgreSQL runs DDL transactionally as it is. SQLite rebuilds tables to alter them,
    which with foreign keys on would fire ON DELETE actions on the children of a rebuilt
    table; the pragma is only honoured outside a transaction, so it is switched here, and
    the keys are checked before commit instead.
    """
    with engine.connect() as conn:
        if not is_sqlite(conn):
            with _committing(conn):
                yield conn
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with _committing(conn):
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken:
                    raise RuntimeError(f"schema change would break a foreign key: {tuple(broken)}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
