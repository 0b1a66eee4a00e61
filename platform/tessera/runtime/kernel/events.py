"""Events: what happened, read back from the outbox after commit and handed to whoever
subscribed — flows, rules, plugins.

Every record write puts its event in `tessera_outbox` in its own transaction (the save
pipeline does). `EventBus.drain` claims pending events (row locks, SKIP LOCKED on
PostgreSQL; SQLite has one writer at a time) and runs the subscribers of each inside one
savepoint of the claiming transaction, together with marking it processed: what a
subscriber writes to the database happens exactly once. Messages that leave the platform
(mail, webhooks) are queued as deliveries in that same savepoint and sent after commit.
A subscriber that fails rolls back its event's savepoint; the event is tried again later,
with a growing delay, and set aside with its error after MAX_ATTEMPTS.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data import outbox as outbox_rows
from tessera.data.engine import is_sqlite
from tessera.data.tables import outbox

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel

log = logging.getLogger("tessera.events")
MAX_ATTEMPTS = 10
BATCH = 100

#: What caused the writes being made now: the chain of rules and flows whose actions led
#: here ("rule:rul_…", "flow:12"). Written into every event, so a rule can see it is
#: about to trigger itself again and a cascade's depth can be bounded.
cause: ContextVar[tuple[str, ...]] = ContextVar("tessera_cause", default=())


@contextmanager
def caused_by(*links: str) -> Iterator[None]:
    """Writes made inside carry `links` at the end of their cause chain."""
    token = cause.set(cause.get() + links)
    try:
        yield
    finally:
        cause.reset(token)


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    object_uid: str | None
    record_ids: list[int]
    payload: dict[str, Any]
    actor_id: int | None
    at: datetime

    @property
    def object(self) -> str | None:
        """The object's api_name when the event was written (record events carry it)."""
        return self.payload.get("object")

    @property
    def cause(self) -> tuple[str, ...]:
        return tuple(self.payload.get("cause") or ())


Handler = Callable[[Connection, Event], None]


@dataclass(frozen=True)
class Subscription:
    pattern: str
    name: str
    handler: Handler

    def wants(self, event: str) -> bool:
        return fnmatch.fnmatchcase(event, self.pattern)


class EventBus:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.subscriptions: list[Subscription] = []

    def subscribe(self, pattern: str, handler: Handler, *, name: str) -> None:
        """Run `handler(conn, event)` for every event whose name matches `pattern`
        ("record.updated", "record.*", "flow.finished"), in the claiming transaction."""
        self.subscriptions = [s for s in self.subscriptions if s.name != name]
        self.subscriptions.append(Subscription(pattern, name, handler))

    def emit(self, conn: Connection, name: str, payload: dict[str, Any], *, object_uid: str | None = None,
             record_ids: list[int] | None = None, actor_id: int | None = None) -> None:
        """Record an event in the caller's transaction (engines' own events: a flow finished,
        an SLA breached); subscribers see it once that commits."""
        chain = cause.get()
        payload = {**payload, "cause": list(chain)} if chain else payload
        outbox_rows.emit(conn, name, object_uid, record_ids or [], payload, actor_id, datetime.now(UTC))

    def drain(self, limit: int = BATCH) -> int:
        """Process up to `limit` pending events; returns how many were claimed."""
        now = datetime.now(UTC)
        query = (sa.select(outbox).where(outbox.c.processed_at.is_(None), outbox.c.available_at <= now)
                 .order_by(outbox.c.id).limit(limit))
        with self.kernel.joined() as conn:
            if not is_sqlite(conn):
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).mappings().all()
            if not rows:
                return 0
            quiet: list[int] = []
            for row in rows:
                event = Event(row["id"], row["event"], row["object_uid"], list(row["record_ids"] or []),
                              dict(row["payload"] or {}), row["actor_id"], row["created_at"])
                wanted = [s for s in self.subscriptions if s.wants(event.name)]
                if not wanted:
                    quiet.append(event.id)
                    continue
                self._deliver(conn, event, wanted, row["attempts"])
            if quiet:
                conn.execute(sa.update(outbox).where(outbox.c.id.in_(quiet)).values(processed_at=now))
        return len(rows)

    def _deliver(self, conn: Connection, event: Event, wanted: list[Subscription], attempts: int) -> None:
        done = sa.update(outbox).where(outbox.c.id == event.id)
        savepoint = conn.begin_nested()
        token = cause.set(event.cause)
        try:
            for subscription in wanted:
                subscription.handler(conn, event)
            conn.execute(done.values(processed_at=datetime.now(UTC)))
            savepoint.commit()
        except Exception as error:  # one failing subscriber must not stop the others' events
            savepoint.rollback()
            log.exception("event %s (%s) failed", event.id, event.name)
            tries = attempts + 1
            values: dict[str, Any] = {"attempts": tries, "last_error": f"{type(error).__name__}: {error}"[:2000]}
            if tries >= MAX_ATTEMPTS:
                values["processed_at"] = datetime.now(UTC)  # set aside: its error stays on the row
            else:
                values["available_at"] = datetime.now(UTC) + timedelta(seconds=min(3600, 2 ** tries))
            conn.execute(done.values(values))
        finally:
            cause.reset(token)

    def pending(self) -> int:
        """Events not yet processed and due now (tests and `drain_all` wait for zero)."""
        with self.kernel.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.processed_at.is_(None), outbox.c.available_at <= datetime.now(UTC))).scalar_one())
