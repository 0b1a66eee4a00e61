"""The save pipeline: the one way a record is created or changed.

coerce → defaults → before_validate → validate (required, constraints, references,
unique, then engine hooks) → before_write → write with optimistic locking → field history
→ outbox event → after_write; after_commit hooks run once the caller has committed.
A batch is all-or-nothing: every problem of every row is collected and reported at once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.auth.actor import Actor
from tessera.data import history, outbox
from tessera.data.metastore import now
from tessera.data.tables import attachments, sequences, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound, StaleVersion
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.catalog import Snapshot
from tessera.runtime.hooks import SaveHooks

SYSTEM_OUTPUT = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner")


@dataclass
class RecordChange:
    """One record in a batch: what is stored (`before`) and what the input changes."""

    row: int | None
    record_id: int | None = None
    before: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return self.before is None

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return (self.before or {}).get(name)

    def problem(self, field_name: str, message: str, code: str = "invalid") -> None:
        self.problems.append(FieldProblem(field_name, message, code, row=self.row))


@dataclass
class SaveBatch:
    """What every hook sees: the records being saved and where."""

    conn: Connection
    actor: Actor
    snapshot: Snapshot
    obj: ObjectDef
    table: sa.Table
    changes: list[RecordChange]
    at: datetime

    @property
    def creating(self) -> bool:
        return bool(self.changes) and self.changes[0].is_new


class SavePipeline:
    def __init__(self, hooks: SaveHooks) -> None:
        self.hooks = hooks

    # -- entry points -------------------------------------------------------------------
    def create(self, conn: Connection, actor: Actor, snapshot: Snapshot, obj: ObjectDef,
               inputs: list[Any], *, bulk: bool) -> SaveBatch:
        changes = []
        for index, data in enumerate(inputs):
            change = RecordChange(row=index if bulk else None)
            self._parse(obj, data, change)
            self._defaults(obj, change, actor)
            changes.append(change)
        batch = SaveBatch(conn, actor, snapshot, obj, snapshot.table(obj), changes, now())
        self._check(batch)
        self._insert(batch)
        return batch

    def update(self, conn: Connection, actor: Actor, snapshot: Snapshot, obj: ObjectDef,
               record_id: int, data: Any, expected_version: int | None) -> SaveBatch:
        table = snapshot.table(obj)
        query = sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"There is no {obj.label} record with id {record_id}.")
        before = dict(row)
        if expected_version is not None and before["version"] != expected_version:
            raise StaleVersion(
                f"The record was changed by someone else (it is at version {before['version']}, "
                f"not {expected_version}); reload it and apply your change again.",
                extra={"current_version": before["version"]},
            )
        change = RecordChange(row=None, record_id=record_id, before=before)
        self._parse(obj, data, change, updating=True)
        change.values = {k: v for k, v in change.values.items() if before.get(k) != v}
        batch = SaveBatch(conn, actor, snapshot, obj, table, [change], now())
        self._check(batch)
        if change.values:
            self._update(batch, change)
        return batch

    def after_commit(self, batch: SaveBatch) -> None:
        self.hooks.run("after_commit", batch)

    # -- steps --------------------------------------------------------------------------
    def _parse(self, obj: ObjectDef, data: Any, change: RecordChange, updating: bool = False) -> None:
        if not isinstance(data, dict):
            change.problem("/", "a record must be a JSON object", "not_an_object")
            return
        for key, raw in data.items():
            if updating and key in ("id", "version"):
                continue
            if key == "owner":
                self._coerce(_OWNER, raw, change)
                continue
            fdef = obj.field(key)
            if fdef is None:
                close = difflib.get_close_matches(key, [f.api_name for f in obj.fields], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                change.problem(key, f"is not a field of {obj.label}{hint}", "unknown_field")
            elif fdef.read_only or not fdef.stored:
                change.problem(key, "is read-only", "read_only")
            else:
                self._coerce(fdef, raw, change)

    @staticmethod
    def _coerce(fdef: FieldDef, raw: Any, change: RecordChange) -> None:
        try:
            change.values[fdef.api_name] = fdef.ftype.coerce(fdef, raw)
        except FieldValueError as error:
            change.problem(fdef.api_name, str(error), "invalid_value")

    @staticmethod
    def _defaults(obj: ObjectDef, change: RecordChange, actor: Actor) -> None:
        change.values.setdefault("owner", actor.user_id)
        for fdef in obj.stored_fields:
            if fdef.api_name in change.values or fdef.default is None or fdef.ftype.system_generated:
                continue
            try:
                change.values[fdef.api_name] = fdef.ftype.coerce(fdef, fdef.default)
            except FieldValueError as error:
                change.problem(fdef.api_name, f"its default is not valid: {error}", "invalid_default")

    def _check(self, batch: SaveBatch) -> None:
        self.hooks.run("before_validate", batch)
        obj = batch.obj
        for change in batch.changes:
            for fdef in obj.stored_fields:
                name = fdef.api_name
                if fdef.ftype.system_generated or not (change.is_new or name in change.values):
                    continue
                value = change.value(name)
                if fdef.ftype.is_blank(value):
                    if fdef.required:
                        change.problem(name, "is required", "required")
                    continue
                if name in change.values and (message := fdef.ftype.check(fdef, value)):
                    change.problem(name, message, "constraint")
        self._check_references(batch)
        self._check_unique(batch)
        self.hooks.run("validate", batch)
        problems = [p for c in batch.changes for p in c.problems]
        if problems:
            if all(p.code == "not_unique" for p in problems):
                raise Conflict("A value must be unique and is taken already.", problems)
            count = len({p.row for p in problems})
            what = f"{count} of {len(batch.changes)} records are" if batch.changes[0].row is not None \
                else "The record is"
            raise InvalidInput(f"{what} not valid; nothing was saved.", problems)
        self.hooks.run("before_write", batch)

    def _check_references(self, batch: SaveBatch) -> None:
        conn = batch.conn
        for fdef in (*batch.obj.stored_fields, _OWNER):
            kind = getattr(fdef.ftype, "reference", None)
            if kind is None:
                continue
            wanted = {
                _ref_key(kind, v)
                for c in batch.changes if fdef.api_name in c.values and c.values[fdef.api_name]
                for v in _ref_values(kind, c.values[fdef.api_name])
            }
            if not wanted:
                continue
            found: dict[Any, Any] = {}
            for chunk in _chunks(sorted(wanted), 1000):
                if kind == "record":
                    target = batch.snapshot.objects.get(fdef.props["target"])
                    if target is None:
                        break
                    table = batch.snapshot.table(target)
                    rows = conn.execute(sa.select(table.c.id).where(
                        table.c.id.in_(chunk), table.c.deleted_at.is_(None)))
                    found.update({r.id: True for r in rows})
                elif kind == "user":
                    rows = conn.execute(sa.select(users.c.id).where(
                        users.c.id.in_(chunk), users.c.is_active.is_(True)))
                    found.update({r.id: True for r in rows})
                else:
                    rows = conn.execute(sa.select(attachments).where(attachments.c.id.in_(chunk)))
                    found.update({r.id: {"id": r.id, "name": r.name, "size": r.size,
                                         "content_type": r.content_type} for r in rows})
            for change in batch.changes:
                value = change.values.get(fdef.api_name)
                if not value:
                    continue
                missing = [v for v in _ref_values(kind, value) if _ref_key(kind, v) not in found]
                if missing:
                    what = {"record": f"{fdef.props.get('target')} record", "user": "active user",
                            "attachment": "uploaded file"}[kind]
                    change.problem(fdef.api_name, f"no {what} with id {missing[0]!r}", "unknown_reference")
                elif kind == "attachment":
                    change.values[fdef.api_name] = [found[v["id"]] for v in value]

    def _check_unique(self, batch: SaveBatch) -> None:
        table = batch.table
        for fdef in batch.obj.stored_fields:
            if not fdef.unique:
                continue
            seen: dict[Any, RecordChange] = {}
            for change in batch.changes:
                value = change.values.get(fdef.api_name)
                if value is None:
                    continue
                if value in seen:
                    change.problem(fdef.api_name, f"repeats the value of row {seen[value].row}", "not_unique")
                seen.setdefault(value, change)
            if not seen:
                continue
            column = table.c[fdef.column]
            for chunk in _chunks(list(seen), 1000):
                rows = batch.conn.execute(sa.select(table.c.id, column).where(column.in_(chunk)))
                for rid, value in rows:
                    change = seen.get(value)
                    if change is not None and change.record_id != rid:
                        change.problem(
                            fdef.api_name,
                            f"{fdef.ftype.display(fdef, value)!r} is already used by record {rid}",
                            "not_unique",
                        )

    def _insert(self, batch: SaveBatch) -> None:
        obj, table, at, actor = batch.obj, batch.table, batch.at, batch.actor
        columns = [f for f in obj.stored_fields if not f.ftype.system_generated]
        numbered = [f for f in obj.stored_fields if f.ftype.system_generated]
        rows = []
        for change in batch.changes:
            row = {f.column: change.values.get(f.api_name) for f in columns}
            row.update(version=1, created_at=at, created_by=actor.user_id, updated_at=at,
                       updated_by=actor.user_id, owner=change.values.get("owner"))
            rows.append(row)
        for fdef in numbered:
            first = reserve_numbers(batch.conn, fdef, len(rows))
            ftype: Any = fdef.ftype
            for offset, (row, change) in enumerate(zip(rows, batch.changes, strict=True)):
                row[fdef.column] = change.values[fdef.api_name] = ftype.format(fdef, first + offset)
        try:
            if len(rows) == 1:
                ids = [batch.conn.execute(sa.insert(table).returning(table.c.id), rows[0]).scalar_one()]
            else:
                result = batch.conn.execute(
                    sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
                ids = [r[0] for r in result]
        except IntegrityError as error:
            raise _integrity_problem(obj, error) from None
        for change, rid in zip(batch.changes, ids, strict=True):
            change.record_id = rid
        outbox.emit(batch.conn, "record.created", obj.uid, ids, {"object": obj.api_name},
                    actor.user_id, at)
        self.hooks.run("after_write", batch)

    def _update(self, batch: SaveBatch, change: RecordChange) -> None:
        obj, table, actor, at = batch.obj, batch.table, batch.actor, batch.at
        before = change.before or {}
        values = {(obj.field(k).column if obj.field(k) else k): v for k, v in change.values.items()}
        values.update(version=before["version"] + 1, updated_at=at, updated_by=actor.user_id)
        try:
            result = batch.conn.execute(
                sa.update(table)
                .where(table.c.id == change.record_id, table.c.version == before["version"],
                       table.c.deleted_at.is_(None))
                .values(values))
        except IntegrityError as error:
            raise _integrity_problem(obj, error) from None
        if result.rowcount != 1:
            raise StaleVersion("The record was changed by someone else meanwhile; reload it and "
                               "apply your change again.")
        entries = []
        for name, new in change.values.items():
            fdef = obj.field(name) or _OWNER
            entries.append(history.entry(
                obj.uid, change.record_id or 0, fdef.uid, "update", actor.user_id, at,
                old=fdef.ftype.to_json(fdef, before.get(fdef.column)),
                new=fdef.ftype.to_json(fdef, new)))
        history.write(batch.conn, entries)
        outbox.emit(batch.conn, "record.updated", obj.uid, [change.record_id or 0],
                    {"object": obj.api_name, "changed": sorted(change.values)}, actor.user_id, at)
        self.hooks.run("after_write", batch)


#: The record owner behaves like a user field in checks, history and output.
_OWNER = FieldDef({"uid": "sys_owner", "api_name": "owner", "label": "Owner", "type": "user"})


def reserve_numbers(conn: Connection, fdef: FieldDef, count: int) -> int:
    """Take `count` consecutive numbers of an autonumber field; returns the first."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    start = int(fdef.props.get("start", 1))
    conn.execute(dialect_insert(sequences).values(field_uid=fdef.uid, next_value=start)
                 .on_conflict_do_nothing())
    after = conn.execute(
        sa.update(sequences).where(sequences.c.field_uid == fdef.uid)
        .values(next_value=sequences.c.next_value + count)
        .returning(sequences.c.next_value)
    ).scalar_one()
    return int(after) - count


def _ref_values(kind: str, value: Any) -> list[Any]:
    return list(value) if kind == "attachment" else [value]


def _ref_key(kind: str, value: Any) -> Any:
    return value["id"] if kind == "attachment" else value


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _integrity_problem(obj: ObjectDef, error: IntegrityError) -> Conflict:
    text = str(error.orig)
    for fdef in obj.stored_fields:
        if f"uq_{fdef.uid}" in text or (fdef.unique and f".{fdef.column}" in text):
            return Conflict("A value must be unique and is taken already.",
                            [FieldProblem(fdef.api_name, "is already used by another record", "not_unique")])
    return Conflict("The change conflicts with stored data.", [FieldProblem("/", text.splitlines()[0], "conflict")])
