"""Field history: who changed which field of which record, when, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.tables import record_history


def write(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """Entries carry object_uid, record_id, field_uid, action, actor_id, at, old, new."""
    if entries:
        conn.execute(sa.insert(record_history), entries)


def read(conn: Connection, object_uid: str, record_id: int, *, limit: int = 200,
         before_id: int | None = None) -> list[sa.Row[Any]]:
    query = (
        sa.select(record_history)
        .where(record_history.c.object_uid == object_uid, record_history.c.record_id == record_id)
        .order_by(record_history.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(record_history.c.id < before_id)
    return list(conn.execute(query))


def entry(object_uid: str, record_id: int, field_uid: str | None, action: str,
          actor_id: int | None, at: datetime, old: Any = None, new: Any = None) -> dict[str, Any]:
    return {"object_uid": object_uid, "record_id": record_id, "field_uid": field_uid,
            "action": action, "actor_id": actor_id, "at": at, "old": old, "new": new}
