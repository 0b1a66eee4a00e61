"""Records a person keeps at hand — their favourites and the records they opened last —
named as lists name them and narrowed, in SQL, to those they may still read.

A person's marks name records by their object's uid and id. One statement reads them back:
for each object the person has marks on and may read, the marks joined to the object's
table under the same row scope a list of it uses (and without records in the trash),
each giving the record's name; the branches are joined with UNION ALL, newest first. A
record someone may no longer read, a record in the trash and an object in the trash are
left out; the marks stay, so the record comes back if access does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from tessera.formula import EvalContext
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.formulas import FormulaService


@dataclass(frozen=True)
class Shortcut:
    """A record as the navigation names it: its object, id, name and when it was marked."""

    object: ObjectDef
    id: int
    name: str
    at: datetime

    @property
    def link(self) -> str:
        return f"/app/{self.object.api_name}/{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {"object": self.object.api_name, "object_label": self.object.label, "id": self.id,
                "name": self.name, "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z")}


class Shortcuts:
    """Reads one kind of mark (a table keyed by user, object uid and record id, with the
    time in column `when`) back as shortcuts."""

    def __init__(self, marks: sa.Table, when: str, access: AccessService, formulas: FormulaService) -> None:
        self.marks = marks
        self.when = marks.c[when]
        self.access = access
        self.formulas = formulas

    def read(self, conn: Connection, snap: Snapshot, actor: Actor, limit: int,
             record: tuple[ObjectDef, int] | None = None) -> list[Shortcut]:
        """The person's marked records they may read, newest first (`record`: only that one)."""
        marks = self.marks
        mine = marks.c.user_id == actor.user_id
        if record is not None:
            uids = [record[0].uid]
        else:
            uids = list(conn.execute(sa.select(marks.c.object_uid).where(mine).distinct()).scalars())
        ctx: dict[str, EvalContext] = {}
        branches = []
        for uid in sorted(uids):
            obj = snap.by_uid.get(uid)
            if obj is None or snap.objects.get(obj.api_name) is not obj:
                continue  # the object is in the trash
            branch = self._branch(conn, snap, actor, obj, ctx)
            if branch is not None:
                if record is not None:
                    branch = branch.where(marks.c.record_id == record[1])
                branches.append(branch)
        if not branches:
            return []
        union = (branches[0] if len(branches) == 1 else sa.union_all(*branches)).subquery()
        rows = conn.execute(sa.select(union).order_by(union.c.at.desc(), union.c.object_uid, union.c.record_id.desc())
                            .limit(limit)).all()
        out = []
        for row in rows:
            obj = snap.by_uid[row.object_uid]
            out.append(Shortcut(obj, int(row.record_id), shown_name(obj, row.name, int(row.record_id)), row.at))
        return out

    def _branch(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef,
                ctx: dict[str, EvalContext]) -> sa.Select[Any] | None:
        """The person's marks on `obj` joined to the records they may read, with names."""
        rights = self.access.object(actor, snap, obj)
        if not rights.may("read"):
            return None
        table, marks = snap.table(obj), self.marks
        scope = self.access.readable(conn, snap, actor, obj, table, ctx)
        name = self.access.name_column(conn, snap, actor, obj, table, ctx)
        where = [marks.c.user_id == actor.user_id, marks.c.object_uid == obj.uid, table.c.deleted_at.is_(None)]
        if scope is not None:
            where.append(scope)
        return (sa.select(sa.literal(obj.uid, sa.String(40)).label("object_uid"), table.c.id.label("record_id"),
                          sa.cast(name, sa.String).label("name"), self.when.label("at"))
                .select_from(marks.join(table, table.c.id == marks.c.record_id)).where(*where))


def shown_name(obj: ObjectDef, value: str | None, record_id: int) -> str:
    """The record's name as a list shows it (an option by its label), or the object and id."""
    named = obj.name_field
    if value is None or value == "":
        return f"{obj.label} #{record_id}"
    if named is not None and named.type == "select":
        return _option_label(named, value)
    return value


def _option_label(fdef: FieldDef, value: str) -> str:
    return next((str(o.get("label") or value) for o in fdef.props.get("options", []) if o.get("value") == value),
                value)
