"""The save pipeline: the one way a record is created or changed.

coerce → defaults → before_validate → validate (required, constraints, references,
unique, then engine hooks) → before_write → write with optimistic locking → field history
→ outbox event → after_write; after_commit hooks run once the caller has committed.
What each step asks of an object's fields is answered once per metadata snapshot
(records/plan.py), so a bulk create does per-record work only.
A batch is all-or-nothing: every problem of every row is collected and reported at once.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.auth.actor import Actor
from tessera.data import history, outbox
from tessera.data.engine import dialect_insert, in_pipeline
from tessera.data.metastore import now
from tessera.data.prepared import Prepared, Rows
from tessera.data.tables import attachments, sequences, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound, StaleVersion
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import cause
from tessera.runtime.kernel.hooks import SaveHooks
from tessera.runtime.records.plan import ObjectPlan, plan_for
from tessera.runtime.records.schemas import Shape

log = logging.getLogger("tessera.save")
_NO_SHAPES: dict[str, frozenset[type]] = {}
SYSTEM_OUTPUT = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner")


@dataclass
class RecordChange:
    """One record in a batch: what is stored (`before`) and what the input changes."""

    row: int | None
    record_id: int | None = None
    before: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)
    #: The fields the input named, before defaults were filled in: a hook that fills a
    #: field (an assignment rule filling the owner) tells a person's choice from a default.
    given: frozenset[str] = frozenset()
    #: Values the platform set itself (`fixed`: a line's parent and place); a reference
    #: among them points at a record the same transaction made or locked, so it is not
    #: looked up again.
    fixed: frozenset[str] = frozenset()

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
    #: What a hook keeps for a later hook point of the same batch (by the hook's own key).
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def creating(self) -> bool:
        return bool(self.changes) and self.changes[0].is_new


class SavePipeline:
    def __init__(self, hooks: SaveHooks) -> None:
        self.hooks = hooks

    # -- entry points -------------------------------------------------------------------
    def create(self, conn: Connection, actor: Actor, snapshot: Snapshot, obj: ObjectDef,
               inputs: list[Any], *, bulk: bool, shape: Shape | None = None,
               fixed: Sequence[Mapping[str, Any]] | None = None, notes: dict[str, Any] | None = None,
               prepared: bool = False) -> SaveBatch:
        """`shape`: API writes only, values must also have the JSON shape documented for them.
        `fixed`: per input, values the platform sets whatever the input says (a line's parent
        and place), past the checks of what a client may write. `notes`: the batch's notes
        to start with (what the caller tells the hooks, e.g. that lines follow). `prepared`:
        a few rows inside a request (a record's lines): their INSERT is compiled once per
        table and run on the driver, on PostgreSQL answering with their ids rather than
        after taking ids in a round trip of its own."""
        plan = plan_for(obj)
        changes = []
        parsed = _parsed_all(plan, inputs, shape)
        for index, data in enumerate(inputs):
            if parsed is not None:
                change = RecordChange(row=index if bulk else None, values=parsed[index])
            else:
                change = RecordChange(row=index if bulk else None)
                self._parse(plan, data, change, shape=shape)
            if fixed is not None:
                change.values.update(fixed[index])
                change.fixed = frozenset(fixed[index])
            change.given = frozenset(change.values)
            self._defaults(plan, change, actor)
            changes.append(change)
        batch = SaveBatch(conn, actor, snapshot, obj, snapshot.table(obj), changes, now(), notes or {})
        self._check(batch, plan)
        self._insert(batch, plan, prepared)
        return batch

    def update(self, conn: Connection, actor: Actor, snapshot: Snapshot, obj: ObjectDef,
               record_id: int, data: Any, expected_version: int | None, *,
               shape: Shape | None = None, fixed: Mapping[str, Any] | None = None,
               notes: dict[str, Any] | None = None) -> SaveBatch:
        plan = plan_for(obj)
        table = snapshot.table(obj)
        query = sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"There is no {obj.label} record with id {record_id}.")
        before = dict(row)
        change = RecordChange(row=None, record_id=record_id, before=before)
        self._parse(plan, data, change, updating=True, shape=shape)
        if fixed:
            change.values.update(fixed)
            change.fixed = frozenset(fixed)
        change.given = frozenset(change.values)
        # A request that is wrong in itself says so first; one that is right but late, 412.
        if expected_version is not None and before["version"] != expected_version and not change.problems:
            raise StaleVersion(
                f"The record was changed by someone else (it is at version {before['version']}, "
                f"not {expected_version}); reload it and apply your change again.",
                extra={"current_version": before["version"]},
            )
        change.values = _changed(plan, change.values, before)
        batch = SaveBatch(conn, actor, snapshot, obj, table, [change], now(), notes or {})
        self._check(batch, plan)
        # Checks may have replaced values (attachment ids by their metadata): compare again.
        change.values = _changed(plan, change.values, before)
        if change.values:
            self._update(batch, plan, change)
        return batch

    def check(self, conn: Connection, actor: Actor, snapshot: Snapshot, obj: ObjectDef, inputs: list[Any],
              befores: Sequence[Mapping[str, Any] | None]) -> list[list[FieldProblem]]:
        """What saving these inputs would refuse, per input, writing nothing (an import's
        preview): each input creates a record, or changes the stored row given for it. The
        same steps as a save up to the write; one batch is all new records or all changes."""
        plan = plan_for(obj)
        changes = []
        for index, (data, before) in enumerate(zip(inputs, befores, strict=True)):
            change = RecordChange(row=index, before=dict(before) if before is not None else None,
                                  record_id=int(before["id"]) if before is not None else None)
            self._parse(plan, data, change, updating=before is not None)
            change.given = frozenset(change.values)
            if before is None:
                self._defaults(plan, change, actor)
            else:
                change.values = _changed(plan, change.values, change.before or {})
            changes.append(change)
        if not changes:
            return []
        batch = SaveBatch(conn, actor, snapshot, obj, snapshot.table(obj), changes, now(), {})
        with contextlib.suppress(InvalidInput, Conflict):  # the problems are on the changes
            self._check(batch, plan)
        return [c.problems for c in changes]

    def after_commit(self, batch: SaveBatch) -> None:
        self.hooks.run("after_commit", batch)

    # -- steps --------------------------------------------------------------------------
    def _parse(self, plan: ObjectPlan, data: Any, change: RecordChange, updating: bool = False,
               shape: Shape | None = None) -> None:
        if not isinstance(data, dict):
            change.problem("/", "a record must be a JSON object", "not_an_object")
            return
        values, writable = change.values, plan.writable
        plain = shape.plain if shape is not None else _NO_SHAPES
        for key, raw in data.items():
            field_plan = writable.get(key)
            # A value of a type its field takes whole needs no call to `shape` (most do).
            if (kinds := plain.get(key)) is not None and type(raw) not in kinds and shape is not None \
                    and (wrong := shape(key, raw)) is not None:
                change.problem(key, wrong, "invalid_value")
            elif field_plan is not None:
                try:
                    values[key] = field_plan.coerce(field_plan.fdef, raw)
                except FieldValueError as error:
                    change.problem(key, str(error), "invalid_value")
                except (ValueError, TypeError, ArithmeticError) as error:
                    # A field type (a plugin's too) that trips over odd input must not turn a
                    # bad value into a server error; the value is refused like any invalid one.
                    log.warning("field type %s failed to coerce %r: %s", field_plan.fdef.type, raw, error)
                    change.problem(key, f"is not a valid {field_plan.ftype.label.lower()} value",
                                   "invalid_value")
            elif updating and key in ("id", "version"):
                continue
            elif key in plan.read_only:
                change.problem(key, "is read-only", "read_only")
            else:
                close = difflib.get_close_matches(key, [f.api_name for f in plan.obj.fields], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                change.problem(key, f"is not a field of {plan.obj.label}{hint}", "unknown_field")

    @staticmethod
    def _defaults(plan: ObjectPlan, change: RecordChange, actor: Actor) -> None:
        values = change.values
        values.setdefault("owner", actor.user_id)
        for name, default, problem in plan.defaults:
            if name not in values:
                if problem:
                    change.problem(name, problem, "invalid_default")
                else:
                    values[name] = default

    def _check(self, batch: SaveBatch, plan: ObjectPlan) -> None:
        self.hooks.run("before_validate", batch)
        for change in batch.changes:
            if change.problems and any(p.code == "not_an_object" for p in change.problems):
                continue  # "name is required" would only repeat that the row is not a record
            # One entry per offending field: a value that did not coerce is not also "required".
            flagged = {p.field for p in change.problems} if change.problems else ()
            values, is_new = change.values, change.is_new
            for name, is_blank, required, constrained, check, fdef in plan.checks:
                if name in flagged:
                    continue
                if name in values:
                    value = values[name]
                elif is_new:
                    value = None
                else:
                    continue
                if value is None or is_blank(value):
                    if required:
                        change.problem(name, "is required", "required")
                    continue
                if constrained and name in values and (message := check(fdef, value)):
                    change.problem(name, message, "constraint")
        self._check_references(batch, plan)
        self._check_unique(batch, plan)
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

    def _check_references(self, batch: SaveBatch, plan: ObjectPlan) -> None:
        conn = batch.conn
        for fp in plan.references:
            kind, name = fp.reference, fp.name
            if kind == "attachment":
                wanted = {
                    _ref_key(kind, v)
                    for c in batch.changes if c.values.get(name) and name not in c.fixed
                    for v in _ref_values(kind, c.values[name])
                }
            else:  # an id each: no list to walk per record
                wanted = {v for c in batch.changes if (v := c.values.get(name)) and name not in c.fixed}
            if kind == "user":
                # The signed-in actor was found active moments ago; owning one's own records
                # is by far the most common case and needs no second look-up.
                wanted.discard(batch.actor.user_id)
            found: dict[Any, Any] = {batch.actor.user_id: True} if kind == "user" else {}
            if kind == "record" and wanted and (made := _live_here(conn).get(str(fp.fdef.props["target"]))):
                # Records this transaction created (a conversion's account, then its contact
                # pointing at it) or found live (an import's lookups) need no second look-up.
                found.update(dict.fromkeys(wanted & made, True))
                wanted -= made
            if not wanted:
                continue
            for chunk in _chunks(sorted(wanted), 1000):
                if kind == "record":
                    target = batch.snapshot.objects.get(fp.fdef.props["target"])
                    if target is None:
                        break
                    found.update({r["id"]: True for r in live_ids(conn, batch.snapshot.table(target), chunk).all()})
                elif kind == "user":
                    rows = conn.execute(sa.select(users.c.id).where(
                        users.c.id.in_(chunk), users.c.is_active.is_(True)))
                    found.update({r.id: True for r in rows})
                else:
                    rows = conn.execute(sa.select(attachments).where(attachments.c.id.in_(chunk)))
                    found.update({r.id: {"id": r.id, "name": r.name, "size": r.size,
                                         "content_type": r.content_type} for r in rows})
            for change in batch.changes:
                value = change.values.get(name)
                if not value or name in change.fixed or (kind != "attachment" and value in found):
                    continue
                missing = [v for v in _ref_values(kind, value) if _ref_key(kind, v) not in found]
                if missing:
                    what = {"record": f"{fp.fdef.props.get('target')} record", "user": "active user",
                            "attachment": "uploaded file"}[kind]
                    change.problem(name, f"no {what} with id {_ref_key(kind, missing[0])!r}",
                                   "unknown_reference")
                elif kind == "attachment":
                    files = change.values[name] = [found[v["id"]] for v in value]
                    if message := fp.ftype.check_files(fp.fdef, files):  # type: ignore[attr-defined]
                        change.problem(name, message, "constraint")

    def _check_unique(self, batch: SaveBatch, plan: ObjectPlan) -> None:
        table = batch.table
        for fp in plan.unique:
            seen: dict[Any, RecordChange] = {}
            for change in batch.changes:
                value = change.values.get(fp.name)
                if value is None:
                    continue
                if value in seen:
                    change.problem(fp.name, f"repeats the value of row {seen[value].row}", "not_unique")
                seen.setdefault(value, change)
            if not seen:
                continue
            column = table.c[fp.column]
            for chunk in _chunks(list(seen), 1000):
                rows = batch.conn.execute(_holding(table, column, _padded(len(chunk))), _filled(chunk))
                for rid, value in rows:
                    change = seen.get(value)
                    if change is not None and change.record_id != rid:
                        change.problem(
                            fp.name,
                            f"{fp.ftype.display(fp.fdef, value)!r} is already used by record {rid}",
                            "not_unique",
                        )

    def _insert(self, batch: SaveBatch, plan: ObjectPlan, prepared: bool = False) -> None:
        obj, table, at, actor, conn = batch.obj, batch.table, batch.at, batch.actor, batch.conn
        user_id = actor.user_id
        rows = []
        names, columns = plan.insert_names, plan.insert_only
        system = {"version": 1, "created_at": at, "created_by": user_id, "updated_at": at, "updated_by": user_id}
        if prepared and len(batch.changes) > 1 and not plan.generated:
            self._insert_by_column(batch, plan, system)
            return
        for change in batch.changes:
            values = change.values
            row = dict(zip(columns, map(values.get, names), strict=True))
            row.update(system)
            row["owner"] = values.get("owner")
            rows.append(row)
        for fp in plan.generated:
            first = reserve_numbers(conn, fp.fdef, len(rows))
            ftype: Any = fp.ftype
            for offset, (row, change) in enumerate(zip(rows, batch.changes, strict=True)):
                row[fp.column] = change.values[fp.name] = ftype.format(fp.fdef, first + offset)
        try:
            if len(rows) == 1:
                ids = [_inserting(table, tuple(rows[0]), True).read(conn, rows[0]).one()["id"]]
            elif prepared and conn.dialect.name == "postgresql":
                # The ids come back with the rows, in their order: one round trip, where
                # taking them first would wait for one more.
                ids = [row["id"] for row in _inserting(table, tuple(rows[0]), True).read_each(conn, rows)]
            elif prepared:
                ids = reserve_ids(conn, table, len(rows))
                for row, rid in zip(rows, ids, strict=True):
                    row["id"] = rid
                _inserting(table, tuple(rows[0]), False).write_each(conn, rows)
            else:
                # Ids taken up front let the rows go in as one plain executemany: RETURNING
                # with a guaranteed order costs a statement per row on SQLite and an unprepared
                # 17,000-parameter statement per batch on PostgreSQL.
                ids = reserve_ids(conn, table, len(rows))
                for row, rid in zip(rows, ids, strict=True):
                    row["id"] = rid
                conn.execute(sa.insert(table), rows)
        except IntegrityError as error:
            raise _integrity_problem(obj, error) from None
        self._inserted(batch, ids)

    def _insert_by_column(self, batch: SaveBatch, plan: ObjectPlan, system: dict[str, Any]) -> None:
        """`_insert` of a few rows inside a request (a record's lines), their ids taken
        first (on PostgreSQL mostly asked ahead, see `take_ids_ahead`): the values go to the
        driver column by column, with no row dict per record. On PostgreSQL they go as one
        INSERT with a VALUES list that a pipelined transaction sends without waiting: an
        executemany answering with each row's id cost the driver more than the rest of a
        quote's save."""
        obj, table, conn, changes = batch.obj, batch.table, batch.conn, batch.changes
        count = len(changes)
        by_column: dict[str, Any] = {}
        for column, name in zip(plan.insert_only, plan.insert_names, strict=True):
            by_column[column] = [c.values.get(name) for c in changes]
        for column, value in system.items():
            by_column[column] = [value] * count
        by_column["owner"] = [c.values.get("owner") for c in changes]
        try:
            ids = by_column["id"] = reserve_ids(conn, table, count)
            _inserting(table, tuple(by_column), False).write_columns(conn, by_column.__getitem__, count)
        except IntegrityError as error:
            raise _integrity_problem(obj, error) from None
        self._inserted(batch, ids)

    def _inserted(self, batch: SaveBatch, ids: list[int]) -> None:
        """What follows the rows' insert: their ids on the changes, the event, the hooks."""
        obj, conn = batch.obj, batch.conn
        for change, rid in zip(batch.changes, ids, strict=True):
            change.record_id = rid
        _live_here(conn).setdefault(obj.api_name, set()).update(ids)
        # The creation itself needs no history row: created_at and created_by tell it.
        outbox.emit(conn, "record.created", obj.uid, ids, _payload({"object": obj.api_name}),
                    batch.actor.user_id, batch.at)
        self.hooks.run("after_write", batch)

    def _update(self, batch: SaveBatch, plan: ObjectPlan, change: RecordChange) -> None:
        obj, table, actor, at = batch.obj, batch.table, batch.actor, batch.at
        before = change.before or {}
        values = {plan.by_name[k].column: v for k, v in change.values.items()}
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
            fp = plan.by_name[name]
            entries.append(history.entry(
                obj.uid, change.record_id or 0, fp.fdef.uid, "update", actor.user_id, at,
                old=fp.ftype.to_json(fp.fdef, before.get(fp.column)),
                new=fp.ftype.to_json(fp.fdef, new)))
        history.write(batch.conn, entries)
        outbox.emit(batch.conn, "record.updated", obj.uid, [change.record_id or 0],
                    _payload({"object": obj.api_name, "changed": sorted(change.values)}), actor.user_id, at)
        self.hooks.run("after_write", batch)


def _parsed_all(plan: ObjectPlan, inputs: list[Any], shape: Shape | None) -> list[dict[str, Any]] | None:
    """Every input's values as `_parse` reads them, when every input is a JSON object
    whose every key is a writable field given a value of a type the field takes whole
    (`Shape.plain`) that coerces: a batch's common case (a record's lines), read value
    by value without per-record bookkeeping. None when anything is amiss: `_parse` then
    reads each input and tells its problems."""
    fields = plan.readers.get(shape)
    if fields is None:
        plain = shape.plain if shape is not None else _NO_SHAPES
        fields = plan.readers[shape] = {name: (fp.coerce, fp.fdef, plain.get(name))
                                        for name, fp in plan.writable.items()}
    out = []
    try:
        for data in inputs:
            if data.__class__ is not dict:
                return None
            values = {}
            for key, raw in data.items():
                found = fields.get(key)
                if found is None:
                    return None
                coerce, fdef, kinds = found
                if kinds is not None and raw.__class__ not in kinds:
                    return None
                values[key] = coerce(fdef, raw)
            out.append(values)
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        return None
    return out


#: Per transaction, the ids of the records it created or found live, by object.
_LIVE: weakref.WeakKeyDictionary[Any, dict[str, set[int]]] = weakref.WeakKeyDictionary()


def _live_here(conn: Connection) -> dict[str, set[int]]:
    """The records the connection's current transaction created or found live (empty outside one)."""
    transaction = conn.get_transaction()
    if transaction is None:
        return {}
    return _LIVE.setdefault(transaction, {})


def found_live(conn: Connection, object_name: str, ids: Iterable[int]) -> None:
    """Records the caller has just read live in this transaction (an import resolving its
    lookups): saves in it that point at them need not look them up again."""
    if conn.get_transaction() is not None:
        _live_here(conn).setdefault(object_name, set()).update(ids)


#: Statements of a table of a metadata snapshot (a snapshot's tables are its own), by
#: what they are for: compiled once, each save only binds its values.
_STATEMENTS: weakref.WeakKeyDictionary[sa.Table, dict[Any, Prepared]] = weakref.WeakKeyDictionary()


def _statement(table: sa.Table, key: Any, build: Callable[[], Prepared]) -> Prepared:
    known = _STATEMENTS.setdefault(table, {})
    prepared = known.get(key)
    if prepared is None:
        prepared = known[key] = build()
    return prepared


def _inserting(table: sa.Table, columns: tuple[str, ...], returning: bool) -> Prepared:
    """The INSERT of `columns` into `table`, answering with the id or not."""
    return _statement(table, ("insert", columns, returning), lambda: Prepared(
        sa.insert(table).returning(table.c.id) if returning else sa.insert(table), columns=columns))


def live_ids(conn: Connection, table: sa.Table, ids: list[Any]) -> Rows:
    """Which of `ids` are live records of `table` (at most 1,000; in a pipelined transaction
    answered with the next statement that waits). The IN list is padded to a power of two
    (repeating the last id) so a few compiled statements serve every count."""
    size = 1 << max(len(ids) - 1, 0).bit_length()
    names = _id_names(size)
    prepared = _statement(table, ("live", size), lambda: Prepared(sa.select(table.c.id).where(
        table.c.id.in_([sa.bindparam(name) for name in names]), table.c.deleted_at.is_(None))))
    padded = ids if len(ids) == size else [*ids, *[ids[-1]] * (size - len(ids))]
    return prepared.read(conn, dict(zip(names, padded, strict=True)))


@functools.lru_cache(maxsize=16)
def _id_names(size: int) -> tuple[str, ...]:
    """The parameter names of `live_ids`'s statement of `size` ids."""
    return tuple(f"id{i}" for i in range(size))


def _payload(payload: dict[str, Any]) -> dict[str, Any]:
    """An event's payload with what caused the write (rules and flows), when anything did."""
    chain = cause.get()
    return {**payload, "cause": list(chain)} if chain else payload


def _changed(plan: ObjectPlan, values: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    by_name = plan.by_name
    return {k: v for k, v in values.items() if k not in by_name or before.get(by_name[k].column) != v}


#: Per transaction, new record ids taken ahead (`take_ids_ahead`), by table name: the
#: answer still to come, or the ids not used yet.
_TAKEN: weakref.WeakKeyDictionary[Any, dict[str, Rows | list[int]]] = weakref.WeakKeyDictionary()


def _taking(table: sa.Table) -> Prepared:
    """PostgreSQL: `count` new ids of `table` from its sequence, in order."""
    return _statement(table, "take", lambda: Prepared(
        sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id")).label("id"))
        .select_from(sa.func.generate_series(1, sa.bindparam("count", type_=sa.Integer)))))


def take_ids_ahead(conn: Connection, table: sa.Table, count: int) -> None:
    """In a pipelined transaction (PostgreSQL), take `count` new ids of `table` now, to be
    answered with the next statement that waits (a parent's INSERT): the rows of a later
    `_insert` (its lines) then find their ids taken instead of waiting for them. Elsewhere
    it does nothing. Ids taken and not used are skipped, as those of a rolled back insert are."""
    transaction = conn.get_transaction()
    if count > 0 and transaction is not None and in_pipeline(conn):
        taken = _TAKEN.setdefault(transaction, {})
        if table.name not in taken:
            taken[table.name] = _taking(table).read(conn, {"count": count})


def reserve_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """Take `count` new record ids for `table` inside the current write transaction."""
    if conn.dialect.name == "postgresql":
        transaction = conn.get_transaction()
        taken = _TAKEN.get(transaction) if transaction is not None else None
        ahead = taken.get(table.name) if taken else None
        if taken and ahead is not None:
            pool = taken[table.name] = [row["id"] for row in ahead.all()] if isinstance(ahead, Rows) else ahead
            if len(pool) >= count:
                ids = pool[:count]
                del pool[:count]
                return ids
        return [row["id"] for row in _taking(table).read(conn, {"count": count}).all()]
    # SQLite: the write transaction holds the database's write lock, so nobody else can
    # take these ids before the rows are in.
    top = _statement(table, "top", lambda: Prepared(
        sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0).label("top")))).read(conn).one()["top"]
    return list(range(top + 1, top + 1 + count))


def reserve_numbers(conn: Connection, fdef: FieldDef, count: int) -> int:
    """Take `count` consecutive numbers of an autonumber field; returns the first."""
    start = int(fdef.props.get("start", 1))
    conn.execute(dialect_insert(conn, sequences).values(field_uid=fdef.uid, next_value=start)
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


@functools.lru_cache(maxsize=16)
def _holding(table: sa.Table, column: sa.Column[Any], size: int) -> sa.Select[Any]:
    """The rows of `table` whose `column` is one of `size` values (bound as u0, u1, …).

    Built once per table, column and size and given a list padded to one of a few sizes
    (_padded): an expanding IN list is rendered afresh for every chunk, by SQLAlchemy and
    again by the driver (psycopg parses a statement of over 50 parameters each time), a
    uniqueness check's whole cost on PostgreSQL. Still an IN list of plain parameters, not
    '= ANY(array)': a generic plan picked for that while the table was empty scans it later.
    The table object is the snapshot's own, so a metadata change builds a new statement."""
    return sa.select(table.c.id, column).where(column.in_([sa.bindparam(f"u{i}") for i in range(size)]))


def _padded(count: int) -> int:
    """How many values a statement of _holding takes for `count` values: a power of two
    (at least 8), at most 1000, so a handful of statements serve every chunk."""
    return min(max(8, 1 << (count - 1).bit_length()), 1000) if count > 8 else 8


def _filled(values: list[Any]) -> dict[str, Any]:
    """`values` as _holding's parameters, padded with repeats of the first (a value
    repeated in an IN list finds nothing more)."""
    size = _padded(len(values))
    return {f"u{i}": values[i] if i < len(values) else values[0] for i in range(size)}


def _integrity_problem(obj: ObjectDef, error: IntegrityError) -> Conflict:
    text = str(error.orig)
    for fdef in obj.stored_fields:
        if f"uq_{fdef.uid}" in text or (fdef.unique and f".{fdef.column}" in text):
            return Conflict("A value must be unique and is taken already.",
                            [FieldProblem(fdef.api_name, "is already used by another record", "not_unique")])
    return Conflict("The change conflicts with stored data.", [FieldProblem("/", text.splitlines()[0], "conflict")])
