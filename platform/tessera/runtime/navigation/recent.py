"""Recently opened records: every record page someone opens moves that record to the top
of their Recent list. A visit is one upsert (the row for that person and record gets the
visit's time), so two pages opened at once never race over a list; past the newest few,
the rows of older visits are deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.engine import dialect_insert
from tessera.data.tables import recent_records
from tessera.runtime.navigation.shortcuts import Shortcut, Shortcuts

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.formulas import FormulaService

#: Visits kept per person: the Recent list shows up to SHOWN of them that they may read.
KEPT = 30
SHOWN = 20


class RecentService:
    def __init__(self, kernel: Kernel, access: AccessService, formulas: FormulaService) -> None:
        self.kernel = kernel
        self.shortcuts = Shortcuts(recent_records, "visited_at", access, formulas)

    def visit(self, actor: Actor, object_name: str, record_id: int) -> None:
        """The person opened the record (they may read it: its page was shown to them)."""
        if actor.user_id is None:
            return
        mine = recent_records.c.user_id == actor.user_id
        with self.kernel.write() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
            at = datetime.now(UTC)
            conn.execute(dialect_insert(conn, recent_records).values(
                user_id=actor.user_id, object_uid=obj.uid, record_id=record_id, visited_at=at,
            ).on_conflict_do_update(index_elements=["user_id", "object_uid", "record_id"], set_={"visited_at": at}))
            oldest_kept = (sa.select(recent_records.c.visited_at).where(mine)
                           .order_by(recent_records.c.visited_at.desc()).offset(KEPT - 1).limit(1).scalar_subquery())
            conn.execute(sa.delete(recent_records).where(mine, recent_records.c.visited_at < oldest_kept))

    def list(self, actor: Actor, limit: int = SHOWN) -> list[Shortcut]:
        """The records the person opened last and may still read, the latest first."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return self.shortcuts.read(conn, snap, actor, max(1, min(limit, KEPT)))
