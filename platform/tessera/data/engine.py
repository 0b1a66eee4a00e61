"""Database engines for SQLite and PostgreSQL, and the transactions Tessera runs in.

SQLite gets WAL, enforced foreign keys and explicit BEGIN statements (pysqlite's implicit
transactions would make DDL and savepoints misbehave). Writes take the write lock up front
(BEGIN IMMEDIATE) so two writers queue instead of failing half-way.

Statements may be given a time limit (`statement_time_limit`, set per request by the
edges): past it the database stops the statement — SQLite through a progress handler,
PostgreSQL through statement_timeout — and the error is `is_too_slow`; the transaction
rolls back, nothing is half-written, and every other request goes on.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from tessera.formula import register_sqlite_functions


def make_engine(url: str, *, busy_timeout: float = 30.0, **kwargs: Any) -> Engine:
    """An engine for the URL. `busy_timeout` (SQLite): how many seconds a statement waits
    for the lock another writer holds before it fails as busy (`is_busy`)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
            **kwargs,
        )
        _tune_sqlite(engine, in_memory=parsed.database in (None, "", ":memory:"), busy_timeout=busy_timeout)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip on every checkout; stale connections are recycled
    # instead, and a dropped one fails its request once and leaves the pool.
    kwargs.setdefault("pool_recycle", 1800)
    engine = sa.create_engine(parsed, **kwargs)
    event.listen(engine, "after_cursor_execute", _answer_now)
    event.listen(engine, "begin", _limit_postgresql)
    event.listen(engine, "rollback", _forget_postgresql_limit)
    return engine


#: Seconds a statement run for the current request may take; None: no limit (jobs, CLI).
_TIME_LIMIT: ContextVar[float | None] = ContextVar("tessera_statement_time_limit", default=None)
_DEADLINE = "tessera.deadline"
_PG_LIMIT = "tessera.statement_timeout"
# How many SQLite VM steps between looks at the clock: about every tenth of a millisecond.
_PROGRESS_STEPS = 2000


@contextmanager
def statement_time_limit(seconds: float | None) -> Iterator[None]:
    """Within this block (this thread or task), each statement stops after `seconds`."""
    token = _TIME_LIMIT.set(seconds if seconds else None)
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


def is_too_slow(error: BaseException) -> bool:
    """Whether a database error means "stopped: it ran past its time limit"."""
    if not isinstance(error, sa.exc.OperationalError):
        return False
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) == "57014":  # PostgreSQL: query_canceled
        return True
    return str(orig).lower() == "interrupted"


def _limit_postgresql(connection: Connection) -> None:
    """Each transaction runs under the current limit; the setting is only sent when it
    differs from what the pooled connection is known to have (a request after a job, say)
    or when that is not known (a new connection, or one whose last transaction rolled back)."""
    wanted = int((_TIME_LIMIT.get() or 0) * 1000)
    if connection.info.get(_PG_LIMIT) != wanted:
        connection.exec_driver_sql(f"SET statement_timeout = {wanted}")
        connection.info[_PG_LIMIT] = wanted


def _forget_postgresql_limit(connection: Connection) -> None:
    # A SET inside a transaction that rolls back is undone with it, back to whatever an
    # earlier committed transaction set: unknown here, so the next transaction sends its own.
    # In autocommit (the reads) the SET took effect at once, and the "rollback" that ends
    # the connection's use undoes nothing: the setting is still known.
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        connection.info.pop(_PG_LIMIT, None)


def _tune_sqlite(engine: Engine, in_memory: bool, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()
        # Exact decimal arithmetic, Unicode case mapping and regex for formulas in SQL.
        register_sqlite_functions(dbapi_connection)
        _record.info[_DEADLINE] = _Deadline(dbapi_connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _start_clock(connection: Connection, *_args: Any) -> None:
        deadline = connection.info.get(_DEADLINE)
        if deadline is not None:
            deadline.start(_TIME_LIMIT.get())

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _stop_clock(connection: Connection) -> None:
        # A COMMIT or ROLLBACK is never interrupted: the limit is for the statements.
        deadline = connection.info.get(_DEADLINE)
        if deadline is not None:
            deadline.start(None)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class _Deadline:
    """One SQLite connection's statement deadline. The progress handler that enforces it is
    installed only while a limit applies: every call of it takes the GIL, which statements
    without a limit (jobs, tests, the command line) need not pay for."""

    def __init__(self, dbapi_connection: Any) -> None:
        self.connection = dbapi_connection
        self.at: float | None = None
        self.watching = False

    def start(self, limit: float | None) -> None:
        self.at = time.monotonic() + limit if limit else None
        if (self.at is not None) != self.watching:
            self.watching = self.at is not None
            self.connection.set_progress_handler(self.past if self.watching else None, _PROGRESS_STEPS)

    def past(self) -> int:
        return int(self.at is not None and time.monotonic() > self.at)


def is_busy(error: BaseException) -> bool:
    """Whether a database error means "another writer holds the lock; try again shortly"
    (SQLite's busy and locked errors), rather than a fault."""
    if not isinstance(error, sa.exc.OperationalError):
        return False
    message = str(getattr(error, "orig", error)).lower()
    return "database is locked" in message or "table is locked" in message or "schema is locked" in message


#: PostgreSQL's answers for a transaction it undid because another one met it at the same
#: moment: deadlock_detected, serialization_failure. Run again, it most likely goes through.
_CONFLICTS = ("40P01", "40001")


def is_conflict(error: BaseException) -> bool:
    """Whether a database error means "rolled back as it crossed another transaction": the
    transaction did nothing, and running it again from the start is the cure."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    return getattr(getattr(error, "orig", None), "sqlstate", None) in _CONFLICTS


#: Per request (or any caller that asks, `counting_commits`): how many write transactions
#: have committed in it so far. A list so that threads the request runs on, each holding a
#: copy of its context, count into the same one.
_COMMITS: ContextVar[list[int] | None] = ContextVar("tessera_commits", default=None)


@contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Within this block, the commits of write and schema transactions are counted into
    the list's one item: whoever would run the block again after a conflict can tell
    whether any of it has already stayed."""
    count = [0]
    token = _COMMITS.set(count)
    try:
        yield count
    finally:
        _COMMITS.reset(token)


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def dialect_insert(bind: Engine | Connection | str, table: sa.Table) -> Any:
    """INSERT for the connection's database (or the dialect so named), with its ON
    CONFLICT clauses."""
    from sqlalchemy.dialects import postgresql, sqlite

    name = bind if isinstance(bind, str) else bind.dialect.name
    return (sqlite.insert if name == "sqlite" else postgresql.insert)(table)


_AFTER_COMMIT: weakref.WeakKeyDictionary[Connection, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run `callback` once the write transaction on `conn` has committed (not if it rolls
    back): work handed to other processes must not see a row before it exists."""
    _AFTER_COMMIT.setdefault(conn, []).append(callback)


_PIPELINE = "tessera.pipeline"


@contextmanager
def _pipelined(conn: Connection) -> Iterator[None]:
    """A transaction in PostgreSQL's pipeline mode: writes of `tessera.data.prepared` are
    sent without waiting for their answer, and go out with the next statement that waits
    (every one run through SQLAlchemy) or with the COMMIT — one round trip instead of one
    each. An error in such a write surfaces there, and the transaction rolls back whole."""
    driver = conn.connection.driver_connection
    transaction = conn.begin()
    try:
        with driver.pipeline() as pipeline:
            conn.info[_PIPELINE] = pipeline
            try:
                yield
                # The COMMIT goes out with the writes still queued, and leaving the pipeline
                # waits for its answer: one round trip, not two (psycopg's commit() syncs,
                # and so does leaving the pipeline).
                driver.execute(b"COMMIT")
            except BaseException:
                # An error leaves the pipeline aborted until it is synced; only then can it roll back.
                with contextlib.suppress(Exception):
                    pipeline.sync()
                raise
            finally:
                conn.info.pop(_PIPELINE, None)
        transaction.commit()  # the server has committed: SQLAlchemy's bookkeeping, no round trip
    except BaseException as error:
        if transaction.is_active:
            transaction.rollback()
        dbapi_error = conn.dialect.loaded_dbapi.Error
        if isinstance(error, dbapi_error):  # from the driver itself: as SQLAlchemy would raise it
            raise sa.exc.DBAPIError.instance("COMMIT", None, error, dbapi_error, dialect=conn.dialect) from error
        raise


@contextmanager
def reads_together(conn: Connection) -> Iterator[None]:
    """Reads of `tessera.data.prepared` issued inside go out together on PostgreSQL's
    pipeline and are answered in one round trip (their rows are fetched when first asked
    for, inside the block); a statement run through SQLAlchemy meanwhile waits for its
    answer as in a pipelined write. Rows first asked for after the block came with the
    round trip that ends it (an error among them surfaces there, as SQLAlchemy raises it;
    a plan kept on the connection that a column's change of type broke is forgotten first,
    so that reading again works, see `stale_plan`). On SQLite, or already in a pipeline: as
    they come."""
    if is_sqlite(conn) or _PIPELINE in conn.info:
        yield
        return
    driver = conn.connection.driver_connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.pipeline() as pipeline:
            conn.info[_PIPELINE] = pipeline
            try:
                yield
            finally:
                conn.info.pop(_PIPELINE, None)
    except dbapi_error as error:
        if stale_plan(driver, error):
            driver.execute("DEALLOCATE ALL")
        raise sa.exc.DBAPIError.instance("SYNC", None, error, dbapi_error, dialect=conn.dialect) from error


def stale_plan(driver: Any, error: Exception) -> bool:
    """Whether PostgreSQL refused a statement prepared before a column's type changed (a
    field's type change on another connection), on a connection in autocommit: running it
    again is safe once the connection's prepared statements are forgotten (DEALLOCATE ALL,
    on which psycopg forgets its own record of them too)."""
    return (getattr(error, "sqlstate", None) == "0A000" and "cached plan must not change result type" in str(error)
            and getattr(driver, "autocommit", False))


def in_pipeline(conn: Connection) -> bool:
    """Whether `conn` is in a pipelined transaction (its writes may still be on their way)."""
    return _PIPELINE in conn.info


def _answer_now(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
    """In a pipelined transaction, a statement run through SQLAlchemy waits for its answer:
    its rows or its row count may be read, by the caller or by SQLAlchemy itself."""
    pipeline = conn.info.get(_PIPELINE)
    if pipeline is not None:
        pipeline.sync()


@contextmanager
def _committing(conn: Connection, pipelined: bool = False) -> Iterator[Connection]:
    try:
        with _pipelined(conn) if pipelined else conn.begin():
            yield conn
    except BaseException:
        _AFTER_COMMIT.pop(conn, None)
        raise
    if (commits := _COMMITS.get()) is not None:
        commits[0] += 1
    for callback in _AFTER_COMMIT.pop(conn, []):
        callback()


@contextmanager
def write_transaction(engine: Engine, *, pipelined: bool = False) -> Iterator[Connection]:
    """A transaction that will write; on SQLite it holds the write lock from the start.
    `pipelined`: on PostgreSQL, the writes of `tessera.data.prepared` wait for the next
    answer, or for the COMMIT."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with _committing(conn, pipelined and not is_sqlite(conn)):
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
