"""In-app notifications: the bell and its list. Written by actions and engines in their
transaction, keyed by their cause so a retried step notifies once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.engine import dialect_insert
from tessera.data.prepared import Prepared
from tessera.data.tables import notifications
from tessera.errors import NotFound

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel


#: Compiled once: flows notify in every transition.
_INSERT = Prepared(lambda dialect: dialect_insert(dialect, notifications)
                   .on_conflict_do_nothing(index_elements=["key"]),
                   columns=("user_id", "key", "title", "body", "link", "created_at"))


class NotificationService:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def add(self, conn: Connection, user_id: int, key: str, title: str, body: str = "",
            link: str | None = None) -> None:
        self.add_many(conn, [{"user_id": user_id, "key": key, "title": title, "body": body, "link": link}])

    def add_many(self, conn: Connection, items: list[dict[str, Any]]) -> None:
        """Notify several people in one statement; a key notified before is skipped."""
        at = datetime.now(UTC)
        rows = [{"user_id": i["user_id"], "key": i["key"][:200], "title": i["title"][:300], "body": i.get("body", ""),
                 "link": i.get("link"), "created_at": at} for i in items]
        _INSERT.write(conn, rows)

    def list(self, actor: Actor, *, unread: bool = False, limit: int = 50) -> dict[str, Any]:
        mine = notifications.c.user_id == actor.user_id
        query = sa.select(notifications).where(mine).order_by(notifications.c.id.desc()).limit(max(1, min(limit, 200)))
        if unread:
            query = query.where(notifications.c.read_at.is_(None))
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            rows = conn.execute(query).mappings().all()
            count = conn.execute(sa.select(sa.func.count()).select_from(notifications)
                                 .where(mine, notifications.c.read_at.is_(None))).scalar_one()
        return {"unread": int(count), "items": [_out(r) for r in rows]}

    def mark_read(self, actor: Actor, notification_id: int | None = None) -> None:
        """Mark one notification (or, with None, all of them) read."""
        where = [notifications.c.user_id == actor.user_id, notifications.c.read_at.is_(None)]
        if notification_id is not None:
            where.append(notifications.c.id == notification_id)
        with self.kernel.write() as conn:
            self.kernel.snapshot(conn)
            if notification_id is not None and conn.execute(sa.select(notifications.c.id).where(
                    notifications.c.id == notification_id, notifications.c.user_id == actor.user_id)).first() is None:
                raise NotFound(f"There is no notification {notification_id}.")
            conn.execute(sa.update(notifications).where(*where).values(read_at=datetime.now(UTC)))


def _out(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "title": row["title"], "body": row["body"], "link": row["link"],
            "created_at": row["created_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "read": row["read_at"] is not None}
