"""Timers: work due at a time — an approval's reminder, an escalation, a flow's wait, an
SLA warning, a rule's date trigger, a scheduled report.

A timer is a row in `tessera_timers`, indexed by due time and keyed by what it is for, so
scheduling the same key again moves it instead of adding another. `fire_due` claims due
timers with row locks (SKIP LOCKED on PostgreSQL), and runs each one's handler in a
savepoint of the claiming transaction that also deletes the timer: a timer's database work
happens once, and a worker killed mid-way leaves the timer to the next one. The in-process
worker fires them by default; with Redis, Celery workers do, woken by `tessera scheduler`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.engine import dialect_insert, is_sqlite
from tessera.data.tables import timers
from tessera.registry import Registry

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel

log = logging.getLogger("tessera.timers")
MAX_ATTEMPTS = 10
BATCH = 100

#: A timer kind's work: (conn, params, due_at) inside the claiming transaction.
Fire = Callable[[Connection, dict[str, Any], datetime], None]
_DELETE = sa.delete(timers).where(timers.c.id == sa.bindparam("timer_id"))


class _HandlerFailed(Exception):
    """A timer's handler failed in a batch run without savepoints."""


class TimerService:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._handlers: Registry[Fire] = Registry("timer kind")

    def register(self, kind: str, fire: Fire) -> None:
        """Handle a timer kind in this process (each package's `install` registers its own)."""
        self._handlers.register(kind, fire)

    def schedule(self, conn: Connection, kind: str, key: str, due_at: datetime, params: dict[str, Any]) -> None:
        """Set the timer `key` to fire at `due_at` (moving it if it exists)."""
        if kind not in self._handlers:
            raise KeyError(f"no timer kind {kind!r}")
        values = {"kind": kind, "key": key, "due_at": due_at, "params": params, "attempts": 0,
                  "last_error": None, "created_at": datetime.now(UTC)}
        stmt = dialect_insert(conn, timers).values(values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={
            "kind": kind, "due_at": due_at, "params": params, "attempts": 0, "last_error": None}))

    def cancel(self, conn: Connection, key: str, *, prefix: bool = False) -> int:
        """Remove the timer `key` (or every timer whose key starts with it)."""
        where = timers.c.key.startswith(key, autoescape=True) if prefix else timers.c.key == key
        return conn.execute(sa.delete(timers).where(where)).rowcount or 0

    def fire_due(self, limit: int = BATCH, now: datetime | None = None) -> int:
        """Fire up to `limit` timers due by `now`; returns how many were claimed.

        The batch runs in one transaction with no savepoints; if a handler fails, it is
        rolled back and run again timer by timer, each in a savepoint, so the failing one
        is set aside for a retry and the others fire."""
        now = now or datetime.now(UTC)
        try:
            return self._fire(now, limit, careful=False)
        except _HandlerFailed:
            return self._fire(now, limit, careful=True)

    def _fire(self, now: datetime, limit: int, careful: bool) -> int:
        query = sa.select(timers).where(timers.c.due_at <= now).order_by(timers.c.due_at).limit(limit)
        with self.kernel.joined() as conn:
            if not is_sqlite(conn):
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).mappings().all()
            if not rows:
                return 0
            # Deleted first: a handler may schedule the same key again (a repeating reminder).
            conn.execute(_DELETE, [{"timer_id": row["id"]} for row in rows])
            for row in rows:
                if careful:
                    self._fire_one(conn, row)
                    continue
                try:
                    self._handler(row["kind"])(conn, dict(row["params"] or {}), row["due_at"])
                except Exception as error:
                    raise _HandlerFailed() from error
        return len(rows)

    def _fire_one(self, conn: Connection, row: Any) -> None:
        savepoint = conn.begin_nested()
        try:
            self._handler(row["kind"])(conn, dict(row["params"] or {}), row["due_at"])
            savepoint.commit()
        except Exception as error:  # a failing timer is retried later; the others still fire
            savepoint.rollback()
            log.exception("timer %s (%s) failed", row["key"], row["kind"])
            tries = row["attempts"] + 1
            if tries >= MAX_ATTEMPTS:
                log.error("timer %s gave up after %s attempts", row["key"], tries)
                return
            conn.execute(sa.insert(timers).values(
                kind=row["kind"], key=row["key"], params=row["params"], attempts=tries, created_at=row["created_at"],
                last_error=f"{type(error).__name__}: {error}"[:2000],
                due_at=datetime.now(UTC) + timedelta(seconds=min(3600, 2 ** tries))))

    def _handler(self, kind: str) -> Fire:
        handler = self._handlers.get(kind)
        if handler is None:
            raise RuntimeError(f"this installation has no timer kind {kind!r} (a plugin missing?)")
        return handler

    def next_due(self) -> datetime | None:
        with self.kernel.read() as conn:
            return conn.execute(sa.select(sa.func.min(timers.c.due_at))).scalar()

    def due(self, now: datetime | None = None) -> int:
        with self.kernel.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(timers)
                                    .where(timers.c.due_at <= (now or datetime.now(UTC)))).scalar_one())
