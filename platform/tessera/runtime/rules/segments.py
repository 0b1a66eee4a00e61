"""Which changes can move records in or out of a segment, and which records they concern.

A segment's condition is expanded into what it reads — fields of the record itself,
fields reached through lookups, the related records of its aggregates (which exist, which
they point at, their fields), and through formula fields whatever those read — each with
the path from the segment's record to the record read (the same expansion that keeps
stored formulas current). A change to records of an object read along a path is walked
back along it to the segment records it concerns: an order added, changed, deleted,
restored or moved to another customer names its customer (and, when moved, the customer
it left), so that customer alone is checked again, in SQL, moments after the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.formula import Checked, FormulaError, Step, reads
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.formulas import expression_of

log = logging.getLogger("tessera.rules")
#: The read that stands for "which records exist" (creations, deletions, restores).
MEMBERSHIP = ""
#: Ids per IN list when walking back.
CHUNK = 1000


@dataclass(frozen=True, eq=False)
class Feed:
    """Changes to `reads` (field api_names, or MEMBERSHIP) of records of object
    `source_uid` concern the records of segment `rule_uid` reached from them backwards
    along `path` (empty: the changed records are the segment's own)."""

    rule_uid: str
    source_uid: str
    reads: frozenset[str]
    path: tuple[Step, ...]

    @property
    def moved_by(self) -> FieldDef | None:
        """The lookup that, changed on a source record, takes it from one related record
        to another (an order moved to another customer): the last step's, going down."""
        if self.path and self.path[-1].kind == "down":
            return self.path[-1].field
        return None


def expand(checked: Callable[[ObjectDef, str], Checked], obj: ObjectDef,
           source: str) -> list[tuple[tuple[Step, ...], ObjectDef, FieldDef | None]]:
    """Everything condition `source` over `obj` reads, through formula fields too, as
    (path, object, field or None for membership). Formula fields that read each other in
    a circle are followed once."""
    out: list[tuple[tuple[Step, ...], ObjectDef, FieldDef | None]] = []

    def visit(o: ObjectDef, text: str, prefix: tuple[Step, ...], chain: frozenset[str]) -> None:
        for read in reads(checked(o, text)):
            path = (*prefix, *read.path)
            out.append((path, read.object, read.field))
            inner = read.field
            if inner is not None and inner.computed and inner.uid not in chain:
                visit(read.object, expression_of(inner), path, chain | {inner.uid})

    visit(obj, source, (), frozenset())
    return out


class Feeds:
    """The segments of one metadata revision by the objects whose changes concern them."""

    def __init__(self, snap: Snapshot, segments: Iterable[tuple[str, str, str]],
                 checked: Callable[[ObjectDef, str], Checked]) -> None:
        """`segments`: (rule uid, object api_name, condition) of each active segment."""
        self.by_source: dict[str, list[Feed]] = {}
        for uid, object_name, condition in segments:
            obj = snap.objects.get(object_name)
            if obj is None:
                continue
            try:
                found = expand(checked, obj, condition)
            except FormulaError as error:
                # Rules are checked when saved; one a field change broke stays as it is.
                log.warning("segment %s is not kept current: %s", uid, error)
                continue
            merged: dict[tuple[object, ...], tuple[tuple[Step, ...], str, set[str]]] = {}
            # Its own records always: a new record may belong at once (COUNT(orders) = 0).
            merged[(obj.uid,)] = ((), obj.uid, {MEMBERSHIP})
            for path, source, field in found:
                key = (source.uid, *((s.kind, s.parent.uid, s.field.uid) for s in path))
                entry = merged.setdefault(key, (path, source.uid, set()))
                entry[2].add(MEMBERSHIP if field is None else field.api_name)
            for path, source_uid, names in merged.values():
                self.by_source.setdefault(source_uid, []).append(Feed(uid, source_uid, frozenset(names), path))

    def concerned(self, source_uid: str, changed: Iterable[str] | None) -> list[Feed]:
        """The feeds a change to records of `source_uid` concerns: `changed` are the fields
        an update changed (None: records created, deleted or restored)."""
        feeds = self.by_source.get(source_uid, [])
        if changed is None:
            return feeds
        names = set(changed)
        return [f for f in feeds if f.reads & names]


def walk_back(conn: Connection, snap: Snapshot, path: tuple[Step, ...], ids: Iterable[int],
              former: Iterable[int] = ()) -> set[int]:
    """The segment records the changed records `ids` concern, along `path` backwards.
    Trashed related records still name their parent, so a deletion is followed too.
    `former`: the records the changed ones pointed at before this change (a move), added
    at the first step back."""
    found = {int(i) for i in ids}
    for depth, step in enumerate(reversed(path)):
        if not found and not (depth == 0 and former):
            return set()
        wanted = sorted(found)
        found = set()
        if step.kind == "up":
            table = snap.table(step.parent)
            column = table.c[step.field.column]
            for chunk in _chunks(wanted):
                found.update(conn.execute(sa.select(table.c.id).where(
                    column.in_(chunk), table.c.deleted_at.is_(None))).scalars())
        else:
            assert step.child is not None
            table = snap.table(step.child)
            column = table.c[step.field.column]
            for chunk in _chunks(wanted):
                found.update(conn.execute(sa.select(column).where(
                    table.c.id.in_(chunk), column.is_not(None))).scalars())
            if depth == 0:
                found.update(int(i) for i in former)
        found = {int(i) for i in found}
    return found


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


__all__ = ["MEMBERSHIP", "Feed", "Feeds", "expand", "walk_back"]
