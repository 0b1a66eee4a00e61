"""Line items: a record's lines, written with it as one list in one transaction.

A `child_table` field's value is the whole list of its lines in order. Writing it compares
the list with the stored lines: a line with an `id` is changed, one without is added, a
stored line the list leaves out is removed (to the trash, with the batch that says so).
Each line goes through the save pipeline of its child object (types, formulas, rules,
validation, history), and the parent's history tells the change in words a person reads
("line 3: quantity 2 → 4"). Problems carry their place in the list (`lines[2].quantity`)
and nothing is written unless every line is right.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data import history, outbox
from tessera.data.engine import in_pipeline
from tessera.data.prepared import Rows
from tessera.errors import Conflict, FieldProblem, InvalidInput, TesseraError
from tessera.meta.fieldtypes.lines import max_lines
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.plan import plan_for
from tessera.runtime.records.save import (
    RecordChange,
    SaveBatch,
    SavePipeline,
    found_live,
    live_ids,
    take_ids_ahead,
)
from tessera.runtime.records.schemas import Shape

#: Keys of a line the platform keeps itself: given back on read, ignored on write.
_KEPT_KEYS = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner")


@dataclass(frozen=True)
class LineSet:
    """One line field of a parent and the child object holding its lines."""

    field: FieldDef
    child: ObjectDef
    link: FieldDef
    number: FieldDef

    @property
    def cap(self) -> int:
        return max_lines(self.field)


def line_sets(snap: Snapshot, parent: ObjectDef) -> list[LineSet]:
    """The parent's line fields whose child objects are attached and active."""
    out = []
    for fdef in parent.line_fields:
        child = snap.objects.get(str(fdef.props.get("target")))
        if child is None or child.parent_link is None or child.line_number is None:
            continue
        out.append(LineSet(fdef, child, child.parent_link, child.line_number))
    return out


def refuse_direct_write(snap: Snapshot, obj: ObjectDef) -> None:
    """A line is written through its parent: a write to the child object's own path is
    refused with a problem that says where to write instead."""
    link = obj.parent_link
    if not obj.is_child or link is None:
        return
    parent = snap.objects.get(str(link.props.get("target")))
    parent_label = parent.label if parent else str(link.props.get("target"))
    name = str(link.props.get("related_name") or "lines")
    raise Conflict(
        f"{obj.plural_label} are written with their {parent_label}: change the {parent_label} record's "
        f"{name!r} list (PATCH /api/v1/records/{link.props.get('target')}/{{id}}).",
        [FieldProblem("/", f"write the {parent_label} record's {name!r} instead", "written_with_parent")])


def look_up_ahead(conn: Connection, snap: Snapshot, parent: ObjectDef,
                  given: Sequence[Mapping[str, Any]]) -> Callable[[], None]:
    """In a pipelined transaction (PostgreSQL), which of the records the given lines'
    lookups name are live, and the ids of the new lines, asked now to be answered with the
    parent's own INSERT. Call the returned function once that is answered: the lines' save
    then finds them known (`found_live`) and its ids taken (`take_ids_ahead`) instead of
    waiting for a look-up of its own. Elsewhere it does nothing."""
    if not in_pipeline(conn):
        return lambda: None
    asked: list[tuple[str, Rows]] = []
    for lines in line_sets(snap, parent):
        name = lines.field.api_name
        items = [line for record in given if isinstance(record.get(name), list)
                 for line in record[name] if isinstance(line, dict)]
        # A record's one line goes in answering with its id: no ids to take for it.
        if len(items) > len(given):
            take_ids_ahead(conn, snap.table(lines.child), len(items))
        for fp in plan_for(lines.child).references:
            target = snap.objects.get(str(fp.fdef.props.get("target"))) if fp.reference == "record" else None
            # Only ids given as numbers: any other value is read by the save's own look-up.
            ids = sorted({v for line in items if type(v := line.get(fp.name)) is int})
            if target is not None and 0 < len(ids) <= 1000:
                asked.append((target.api_name, live_ids(conn, snap.table(target), ids)))

    def answered() -> None:
        for target_name, rows in asked:
            found_live(conn, target_name, [row["id"] for row in rows.all()])

    return answered


def missing_lines(snap: Snapshot, parent: ObjectDef, given: Mapping[str, Any], *,
                  creating: bool) -> list[FieldProblem]:
    """A required line field (`"required": true`) needs at least one line: on create, and
    on a change that gives its list."""
    problems = []
    for lines in line_sets(snap, parent):
        name = lines.field.api_name
        if lines.field.required and (name in given or creating) and not given.get(name):
            problems.append(FieldProblem(name, "needs at least one line", "required"))
    return problems


#: Lines a save created, by line field: when they were written and each one's change in
#: their order.
Made = dict[str, tuple[datetime, list[RecordChange]]]


@dataclass
class LinesWritten:
    """What a write of lines did: whether anything changed, and the words for history."""

    changed: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    trash_batches: list[str] = field(default_factory=list)
    #: The lines of a record just created, by line field: when they were written and each
    #: one's change in their order (its echo is built from them, see `RecordService`).
    made: Made = field(default_factory=dict)


@dataclass
class LineWriter:
    """Writes the lines of one parent record through the child objects' save pipeline."""

    pipeline: SavePipeline
    #: Per child object, the checker of JSON shapes for API writes (None: lenient input).
    shapes: Callable[[ObjectDef, bool], Shape | None]
    #: Refuses keys of a child object the actor may not write (hidden or read-only fields).
    refuse_unwritable: Callable[[ObjectDef, list[str]], None]

    def write(self, conn: Connection, actor: Actor, snap: Snapshot, parent: ObjectDef, parent_id: int,
              given: Mapping[str, Any], at: datetime, *, owner: int | None, new: bool = False,
              notes: Mapping[str, Any] | None = None) -> LinesWritten:
        """Bring the stored lines of each given line field to the given lists. `new`: the
        parent was created in this transaction, so it has no stored lines to read, and its
        creation tells its lines (no history words are made for them). `notes`: what the
        lines' save batches are told (as the parent's save pipeline notes). `owner`: the
        parent's owner, whom new lines belong to (see `owner_follows`)."""
        done = LinesWritten()
        problems: list[FieldProblem] = []
        for lines in line_sets(snap, parent):
            if lines.field.api_name in given:
                self._write_one(conn, actor, snap, parent, parent_id, lines, given[lines.field.api_name],
                                at, done, problems, new, dict(notes or {}), owner)
        if problems:
            raise InvalidInput("The record is not valid; nothing was saved.", problems)
        return done

    def _write_one(self, conn: Connection, actor: Actor, snap: Snapshot, parent: ObjectDef, parent_id: int,
                   lines: LineSet, raw: Any, at: datetime, done: LinesWritten,
                   problems: list[FieldProblem], new: bool, notes: dict[str, Any], owner: int | None) -> None:
        name, child = lines.field.api_name, lines.child
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            problems.append(FieldProblem(name, "must be a list of lines", "invalid_value"))
            return
        if len(raw) > lines.cap:
            problems.append(FieldProblem(name, f"has {len(raw)} lines; at most {lines.cap} are allowed",
                                         "too_many_lines"))
            return
        table = snap.table(child)
        link = table.c[lines.link.column]
        stored = {} if new else {row["id"]: dict(row) for row in conn.execute(
            sa.select(table).where(link == parent_id, table.c.deleted_at.is_(None))).mappings()}
        kept_keys = {*_KEPT_KEYS, lines.link.api_name, lines.number.api_name}
        creates: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, int, dict[str, Any]]] = []
        kept: set[int] = set()
        # The keys of all lines asked about at once: only when some are refused is each
        # line asked about, for the problems to name their lines.
        each_refused = _refused(self.refuse_unwritable, child, raw, kept_keys)
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                problems.append(FieldProblem(f"{name}[{index}]", "a line must be a JSON object", "not_an_object"))
                continue
            line_id = item.get("id")
            # Read, never changed: a line that gives none of the kept keys is taken as it is.
            data = item if kept_keys.isdisjoint(item) else {k: v for k, v in item.items() if k not in kept_keys}
            if each_refused:
                try:
                    self.refuse_unwritable(child, sorted(data))
                except TesseraError as error:
                    problems += _placed(error.errors, f"{name}[{index}]")
                    continue
            if line_id is None:
                creates.append((index, data))
            elif isinstance(line_id, bool) or not isinstance(line_id, int) or line_id not in stored:
                problems.append(FieldProblem(f"{name}[{index}].id", f"is not a line of this {parent.label}",
                                             "unknown_line"))
            elif line_id in kept:
                problems.append(FieldProblem(f"{name}[{index}].id", "names a line given earlier in the list",
                                             "repeated_line"))
            else:
                kept.add(line_id)
                updates.append((index, line_id, data))
        if problems:
            return
        words = _Words(lines, done, told=not new)
        for index, line_id, data in updates:
            before = stored[line_id]
            try:
                batch = self.pipeline.update(conn, actor, snap, child, line_id, data, None,
                                             shape=self.shapes(child, True), fixed={lines.number.api_name: index + 1},
                                             notes=dict(notes))
            except TesseraError as error:
                problems += _placed(error.errors, f"{name}[{index}]")
                continue
            words.changed(before, batch.changes[0].values, index + 1)
        if new:
            done.made[name] = (at, [])
        if creates:
            link_name, number_name = lines.link.api_name, lines.number.api_name
            try:
                batch = self.pipeline.create(
                    conn, actor, snap, child, [data for _, data in creates], bulk=True,
                    shape=self.shapes(child, False),
                    fixed=[{link_name: parent_id, number_name: index + 1, "owner": owner} for index, _ in creates],
                    notes=dict(notes), prepared=True)
            except TesseraError as error:
                for problem in error.errors:
                    row = problem.row if problem.row is not None else 0
                    problems += _placed([problem], f"{name}[{creates[row][0]}]")
            else:
                # Unless told in words, only that the lines changed is kept: once says it.
                told = len(creates) if words.tell else 1
                for (index, _), change in zip(creates[:told], batch.changes[:told], strict=True):
                    words.added(change.values, index + 1)
                if new:
                    done.made[name] = (batch.at, batch.changes)
        removed = sorted(set(stored) - kept)
        if removed and not problems:
            batch_id = secrets.token_hex(16)
            conn.execute(sa.update(table).where(table.c.id.in_(removed)).values(
                deleted_at=at, deleted_by=actor.user_id, deleted_batch=batch_id, version=table.c.version + 1))
            history.write(conn, [history.entry(child.uid, i, None, "delete", actor.user_id, at) for i in removed])
            outbox.emit(conn, "record.deleted", child.uid, removed,
                        {"object": child.api_name, "batch": batch_id, "with_parent": parent.api_name},
                        actor.user_id, at)
            done.trash_batches.append(batch_id)
            for line_id in removed:
                words.removed(stored[line_id])


def _refused(refuse_unwritable: Callable[[ObjectDef, list[str]], None], child: ObjectDef, raw: list[Any],
             kept_keys: set[str]) -> bool:
    """Whether the actor may not write some key the lines give (asked once for them all)."""
    names = {k for item in raw if isinstance(item, dict) for k in item if k not in kept_keys}
    try:
        refuse_unwritable(child, sorted(names))
    except TesseraError:
        return True
    return False


class _Words:
    """The parent's history entries for its lines, in the words a person reads."""

    def __init__(self, lines: LineSet, done: LinesWritten, *, told: bool = True) -> None:
        self.lines = lines
        self.done = done
        self.child = lines.child
        #: False for the lines of a record just created: its creation tells them, so
        #: only what changed is kept, not the words.
        self.tell = told
        #: The fields a line is told by in history: those a person writes (not the
        #: platform's own, not computed), with how each value is written in JSON.
        self.told = [(f.api_name, f.column, f.ftype.to_json, f) for f in self.child.stored_fields
                     if not f.system and not f.computed]

    def _entry(self, old: Any, new: Any) -> None:
        if self.tell:
            self.done.entries.append({"field_uid": self.lines.field.uid, "old": old, "new": new})
        if self.lines.field.api_name not in self.done.changed:
            self.done.changed.append(self.lines.field.api_name)

    def _shown(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, column, to_json, fdef in self.told:
            value = values.get(column)
            if value is not None and value != "" and value != []:
                out[name] = to_json(fdef, value)
        return out

    def added(self, values: Mapping[str, Any], place: int) -> None:
        self._entry(None, {"line": place, "values": self._shown(values)} if self.tell else None)

    def removed(self, before: Mapping[str, Any]) -> None:
        self._entry({"line": before.get(self.lines.number.column), "values": self._shown(before)}, None)

    def changed(self, before: Mapping[str, Any], values: Mapping[str, Any], place: int) -> None:
        was = before.get(self.lines.number.column)
        for name, new in values.items():
            fdef = self.child.field(name)
            if fdef is None or fdef.system:
                continue
            old = fdef.ftype.to_json(fdef, before.get(fdef.column))
            self._entry({"line": place, "field": name, "value": old},
                        {"line": place, "field": name, "value": fdef.ftype.to_json(fdef, new)})
        if self.lines.number.api_name in values and was is not None and was != place:
            self._entry({"line": was}, {"line": place})


def owner_follows(batch: SaveBatch) -> None:
    """after_write hook: a record's lines belong to whoever owns the record, so when its
    owner changes, its lines change hands with it (a report by owner counts them right)."""
    if batch.creating:
        return
    moved = [(c.record_id, c.values["owner"]) for c in batch.changes if "owner" in c.values and c.record_id]
    if not moved:
        return
    for lines in line_sets(batch.snapshot, batch.obj):
        table = batch.snapshot.table(lines.child)
        link = table.c[lines.link.column]
        for record_id, owner in moved:
            batch.conn.execute(sa.update(table).where(link == record_id, table.c.deleted_at.is_(None))
                               .values(owner=owner))


def _placed(problems: list[FieldProblem], path: str) -> list[FieldProblem]:
    """Problems of one line, placed in the list: `quantity` → `lines[2].quantity`."""
    out = []
    for problem in problems or [FieldProblem("/", "is not valid")]:
        where = path if problem.field in ("/", "", None) else f"{path}.{problem.field}"
        out.append(FieldProblem(where, problem.message, problem.code, detail=problem.detail))
    return out


def read_lines(conn: Connection, snap: Snapshot, lines: LineSet, parent_ids: list[int],
               rows: Callable[[Connection, Snapshot, ObjectDef, sa.ColumnElement[bool], int], list[Mapping[str, Any]]],
               ) -> dict[int, list[Mapping[str, Any]]]:
    """The stored lines of each parent in order (at most the field's cap per parent);
    `rows(conn, snap, child, where, limit)` reads them as the caller may see them."""
    table = snap.table(lines.child)
    link = table.c[lines.link.column]
    found: dict[int, list[Mapping[str, Any]]] = {pid: [] for pid in parent_ids}
    if not parent_ids:
        return found
    where = link == parent_ids[0] if len(parent_ids) == 1 else link.in_(parent_ids)
    cap, column = lines.cap, lines.link.column
    for row in rows(conn, snap, lines.child, where, cap * len(parent_ids)):
        bucket = found.get(row[column])
        if bucket is not None and len(bucket) < cap:
            bucket.append(row)
    return found
