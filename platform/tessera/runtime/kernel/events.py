"""Events: what happened, read back from the outbox after commit and handed to whoever
subscribed — flows, rules, plugins.

Every record write puts its event in `tessera_outbox` in its own transaction (the save
pipeline does). `EventBus.drain` claims pending events (row locks, SKIP LOCKED on
PostgreSQL; SQLite has one writer at a time) and runs the subscribers of each inside one
savepoint of the claiming transaction, together with marking it processed: what a
subscriber writes to the database happens exactly once. Messages that leave the platform
(mail, webhooks) are queued as deliveries in that same savepoint and sent after commit.
A subscriber that fails rolls back its event's savepoint; the event is tried again later,
with a growing delay, and set aside with its error after MAX_ATTEMPTS — never dropped:
`list("failed")` shows it with its error (API `GET /events`, `tessera events list`), and
`retry` puts it back in line once the cause is fixed.
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
#: What an event in the outbox is doing: waiting its first turn, failed and waiting to be
#: tried again, processed, or set aside after MAX_ATTEMPTS failures.
STATES = ("pending", "retrying", "done", "failed")

#: What caused the writes being made now: the chain of rules and flows whose actions led
#: here ("rule:rul_…", "flow:12"). Written into every event, so a rule can see it is
#: about to trigger itself again and a cascade's depth can be bounded.
cause: ContextVar[tuple[str, ...]] = ContextVar("tessera_cause", default=())


#: A link of a cause chain that keeps the writes it causes from notifying people or mailing
#: them (an import of 100,000 rows sends no 100,000 e-mails unless asked to).
MUTED = "muted"


def muted() -> bool:
    """Whether what runs now was caused by writes whose notifications are muted."""
    return MUTED in cause.get()


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
        #: Called when events were put back in line (the background package wakes a worker).
        self.requeued: Callable[[], None] = lambda: None

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

    def list(self, state: str | None = None, *, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """Events newest first, optionally only those in `state` (one of STATES)."""
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(_in_state(state))
        if before is not None:
            query = query.where(outbox.c.id < before)
        with self.kernel.read() as conn:
            return [_as_json(row) for row in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        """How many events are in each state."""
        with self.kernel.read() as conn:
            columns = [sa.func.coalesce(sa.func.sum(sa.case((_in_state(s), 1), else_=0)), 0).label(s) for s in STATES]
            row = conn.execute(sa.select(*columns).select_from(outbox)).mappings().one()
        return {s: int(row[s]) for s in STATES}

    def retry(self, ids: list[int] | None = None) -> int:
        """Put failed events (those of `ids`, or all of them) back in line for a new round of
        attempts; returns how many. Events in any other state are left as they are."""
        query = sa.update(outbox).where(_in_state("failed"))
        if ids is not None:
            query = query.where(outbox.c.id.in_(ids))
        with self.kernel.write() as conn:
            count = conn.execute(query.values(processed_at=None, attempts=0,
                                              available_at=datetime.now(UTC))).rowcount
        if count:
            self.requeued()
        return int(count)

    def pending(self) -> int:
        """Events not yet processed and due now (tests and `drain_all` wait for zero)."""
        with self.kernel.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.processed_at.is_(None), outbox.c.available_at <= datetime.now(UTC))).scalar_one())


def _in_state(state: str) -> Any:
    failed = sa.and_(outbox.c.processed_at.is_not(None), outbox.c.attempts >= MAX_ATTEMPTS)
    return {
        "pending": sa.and_(outbox.c.processed_at.is_(None), outbox.c.attempts == 0),
        "retrying": sa.and_(outbox.c.processed_at.is_(None), outbox.c.attempts > 0),
        "done": sa.and_(outbox.c.processed_at.is_not(None), outbox.c.attempts < MAX_ATTEMPTS),
        "failed": failed,
    }[state]


def _as_json(row: Any) -> dict[str, Any]:
    processed, attempts = row["processed_at"], row["attempts"]
    state = (("failed" if attempts >= MAX_ATTEMPTS else "done") if processed is not None
             else "retrying" if attempts else "pending")
    return {"id": row["id"], "event": row["event"], "object": (row["payload"] or {}).get("object"),
            "record_ids": list(row["record_ids"] or []), "state": state, "attempts": attempts,
            "last_error": row["last_error"], "created_at": row["created_at"].isoformat(),
            "next_attempt_at": row["available_at"].isoformat() if processed is None else None,
            "processed_at": processed.isoformat() if processed is not None else None}
