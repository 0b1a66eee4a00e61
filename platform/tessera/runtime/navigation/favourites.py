"""Favourite records: the star on a record page. Each person stars what they come back to;
the navigation lists their favourites by name, only those they may still read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.engine import dialect_insert
from tessera.data.tables import favourites
from tessera.errors import Conflict, NotFound
from tessera.runtime.navigation.shortcuts import Shortcut, Shortcuts

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.formulas import FormulaService

#: How many favourites one person may keep: a list longer than this no longer finds anything.
MOST = 200


class FavouriteService:
    def __init__(self, kernel: Kernel, access: AccessService, formulas: FormulaService) -> None:
        self.kernel = kernel
        self.shortcuts = Shortcuts(favourites, "created_at", access, formulas)

    def list(self, actor: Actor, limit: int = 50) -> list[Shortcut]:
        """The person's favourites they may read, the newest first."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return self.shortcuts.read(conn, snap, actor, max(1, min(limit, MOST)))

    def get(self, actor: Actor, object_name: str, record_id: int) -> Shortcut:
        """One favourite; 404 when the record is not one (or not one they may read)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            found = self.shortcuts.read(conn, snap, actor, 1, (obj, record_id))
        if not found:
            raise NotFound(f"The {obj.label} record {record_id} is not one of your favourites.")
        return found[0]

    def contains(self, actor: Actor, object_name: str, record_id: int) -> bool:
        """Whether the person starred the record (the star's state on its page)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            return conn.execute(sa.select(favourites.c.record_id).where(
                favourites.c.user_id == actor.user_id, favourites.c.object_uid == obj.uid,
                favourites.c.record_id == record_id)).first() is not None

    def add(self, actor: Actor, object_name: str, record_id: int) -> tuple[Shortcut, bool]:
        """Star a record the person may read; (the favourite, whether it is new). Starring
        it again changes nothing."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            mine = favourites.c.user_id == actor.user_id
            kept = conn.execute(sa.select(sa.func.count()).select_from(favourites).where(mine)).scalar_one()
            inserted = conn.execute(dialect_insert(conn, favourites).values(
                user_id=actor.user_id, object_uid=obj.uid, record_id=record_id, created_at=datetime.now(UTC),
            ).on_conflict_do_nothing(index_elements=["user_id", "object_uid", "record_id"])
                .returning(favourites.c.record_id)).first() is not None
            if inserted and kept >= MOST:
                raise Conflict(f"You have {MOST} favourites already; remove one before adding another.")
            # Read back under the person's row scope: a record they may not read (or that
            # does not exist) is not theirs to star, and the insert rolls back.
            found = self.shortcuts.read(conn, snap, actor, 1, (obj, record_id))
            if not found:
                raise NotFound(f"There is no {obj.label} record with id {record_id}.")
            return found[0], inserted

    def remove(self, actor: Actor, object_name: str, record_id: int) -> None:
        """Unstar a record."""
        with self.kernel.write() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
            gone = conn.execute(sa.delete(favourites).where(
                favourites.c.user_id == actor.user_id, favourites.c.object_uid == obj.uid,
                favourites.c.record_id == record_id)).rowcount
        if not gone:
            raise NotFound(f"The {obj.label} record {record_id} is not one of your favourites.")
