"""The outbox: events written in the transaction of the change that caused them.

Side effects (mail, webhooks, flow steps, asynchronous rules) are run from here after
commit, at least once; an event names its records so one bulk write is one event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.prepared import Prepared
from tessera.data.tables import outbox

#: Compiled once: it runs inside every write, and SQLAlchemy's bookkeeping would cost more than running it.
_INSERT = Prepared(sa.insert(outbox), columns=("event", "object_uid", "record_ids", "payload", "actor_id", "created_at",
                                               "available_at"))


def emit(conn: Connection, event: str, object_uid: str | None, record_ids: list[int],
         payload: dict[str, Any], actor_id: int | None, at: datetime) -> None:
    _INSERT.write(conn, {
        "event": event, "object_uid": object_uid, "record_ids": record_ids, "payload": payload,
        "actor_id": actor_id, "created_at": at, "available_at": at,
    })


def pending(conn: Connection, limit: int = 100) -> list[sa.Row[Any]]:
    return list(conn.execute(
        sa.select(outbox).where(outbox.c.processed_at.is_(None)).order_by(outbox.c.id).limit(limit)
    ))
