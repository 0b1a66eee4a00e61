"""Running conversions: one record turned into others in one transaction.

A run reads the conversion's plan (plan.py), locks the source record, refuses when the
conversion's condition does not hold or the record was converted already (unless the
document allows it again), then goes through the targets in order: each is matched by
one indexed query among the records the caller may read, or created through the save
pipeline (validation, permissions, history, events — as any create), and its id is bound
to its key for the formulas of the targets after it. Last the source's `after` fields are
set through the pipeline and the run is logged. Any refusal on the way rolls the whole
run back: a failing target leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.metastore import now
from tessera.data.prepared import Prepared
from tessera.data.tables import conversions as log
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, StaleVersion, TesseraError
from tessera.formula import EvalContext, FormulaError, evaluate
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.conversions import matching
from tessera.runtime.conversions.plan import FieldMap, LinesPlan, Plan, TargetPlan, read
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.metadata.documents import DocumentService
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.formulas import FormulaService, SnapshotSchema, as_input
from tessera.runtime.records.service import RecordService

KIND = "conversions"
#: The last run of a conversion on a record; a run's line in the log.
_LAST = Prepared(sa.select(log.c.result, log.c.at, log.c.actor_id).where(
    log.c.object_uid == sa.bindparam("object"), log.c.record_id == sa.bindparam("record"),
    log.c.conversion_uid == sa.bindparam("conversion")).order_by(log.c.id.desc()).limit(1))
#: Whether a conversion ran on a record before.
_RAN = Prepared(sa.select(log.c.id).where(
    log.c.object_uid == sa.bindparam("object"), log.c.record_id == sa.bindparam("record"),
    log.c.conversion_uid == sa.bindparam("conversion")).limit(1))
_LOG = Prepared(sa.insert(log), columns=("conversion_uid", "conversion", "object_uid", "record_id", "result",
                                        "actor_id", "at"))


class ConversionService:
    def __init__(self, kernel: Kernel, documents: DocumentService, formulas: FormulaService, access: AccessService,
                 records: RecordService) -> None:
        self.kernel = kernel
        self.documents = documents
        self.formulas = formulas
        self.access = access
        self.records = records
        self._plans: dict[tuple[int, str], Plan] = {}
        #: (metadata revision, index name) of the case-insensitive match indexes seen to exist.
        self._indexed: set[tuple[int, str]] = set()
        #: Statements over the objects' tables, built once per metadata revision.
        self._statements: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()

    def _statement(self, snap: Snapshot, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        found = self._statements.get((snap.revision, key))
        if found is None:
            found = make()
            with self._lock:
                if any(k[0] != snap.revision for k in self._statements):
                    self._statements.clear()
                self._statements[(snap.revision, key)] = found
        return found

    # -- the plan -------------------------------------------------------------------------
    def plan(self, conn: Connection, snap: Snapshot, name: str) -> Plan:
        """The active conversion `name` read against the snapshot (once per metadata revision)."""
        key = (snap.revision, name)
        found = self._plans.get(key)
        if found is not None:
            return found
        stored = next((d for d in self.documents.active(conn, snap, KIND) if d.api_name == name), None)
        if stored is None:
            raise NotFound(f"There is no conversion named {name!r}.")
        found, problems = read(stored.body, SnapshotSchema(snap))
        if found is None:
            raise Conflict(f"The conversion {stored.body.get('label') or name!r} no longer fits the objects and "
                           "fields it names; a builder must fix it first.", problems)
        with self._lock:
            if any(k[0] != snap.revision for k in self._plans):
                self._plans.clear()
            self._plans[key] = found
        return found

    def for_object(self, conn: Connection, snap: Snapshot, object_name: str) -> list[Plan]:
        """The conversions of an object that fit the metadata, by label."""
        plans = []
        for stored in self.documents.active(conn, snap, KIND):
            if stored.body.get("object") != object_name:
                continue
            try:
                plans.append(self.plan(conn, snap, stored.api_name))
            except TesseraError:
                continue  # a broken conversion offers no button; its document shows its problems
        return sorted(plans, key=lambda p: (p.label.lower(), p.api_name))

    def indexes(self, conn: Connection, snap: Snapshot, plan: Plan) -> None:
        """Make sure every text field the plan matches on has its case-insensitive index."""
        for target in plan.targets:
            for fmap in target.match:
                if not matching.caseless(fmap.field):
                    continue
                name = matching.index_name(target.obj, fmap.field)
                if (snap.revision, name) in self._indexed:
                    continue
                matching.ensure_index(conn, target.obj, fmap.field)
                with self._lock:
                    if any(k[0] != snap.revision for k in self._indexed):
                        self._indexed.clear()  # a change to a table may have dropped one: look again
                    self._indexed.add((snap.revision, name))

    def document_saved(self, conn: Connection, stored: Any) -> None:
        """Observer of conversion documents: a saved one gets its match indexes at once."""
        if stored.state != "active":
            return
        snap = self.kernel.snapshot(conn)
        plan, _problems = read(stored.body, SnapshotSchema(snap))
        if plan is not None:
            self.indexes(conn, snap, plan)

    # -- running --------------------------------------------------------------------------
    def convert(self, actor: Actor, object_name: str, record_id: int, name: str, *,
                expected_version: int | None = None) -> dict[str, Any]:
        """Run conversion `name` on a record, in one transaction; the result names every
        record created or matched."""
        with self.kernel.write(pipelined=True) as conn:
            snap = self.kernel.snapshot(conn)
            return self.run(conn, snap, actor, object_name, record_id, name, expected_version=expected_version)

    def run(self, conn: Connection, snap: Snapshot, actor: Actor, object_name: str, record_id: int, name: str, *,
            expected_version: int | None = None) -> dict[str, Any]:
        """A run in the caller's write transaction (a flow step's, a rule's)."""
        obj = snap.object(object_name)
        plan = self.plan(conn, snap, name)
        if plan.obj.api_name != obj.api_name:
            raise NotFound(f"There is no conversion named {name!r} for {obj.label} records.")
        self.records.require(conn, snap, obj, actor, record_id, "edit" if plan.after else "read")
        self.indexes(conn, snap, plan)
        record, ran = self._source(conn, snap, plan, record_id)
        if expected_version is not None and record["version"] != expected_version:
            raise StaleVersion(f"The {obj.label} record is at version {record['version']}, not {expected_version}; "
                               "reload it.", extra={"current_version": record["version"]})
        ctx = self.formulas.context(conn, snap, actor)
        title = _name(obj, record)
        if ran:
            previous = self._last(conn, plan, obj, record_id)
            if previous is not None:
                raise Conflict(f"{obj.label} {title} was converted already on {previous['at'][:10]}"
                               f"{made_words(previous['result'])}; {plan.label} runs once per record.",
                               [FieldProblem("/", "converted already", "converted_already")],
                               extra={"previous": previous})
        if plan.when is not None and _value(plan.when, record, ctx, "when") is not True:
            raise Conflict(f"{obj.label} {title} cannot be converted now: {plan.label} applies when "
                           f"{plan.when.source}.",
                           [FieldProblem("when", "the condition does not hold", "not_applicable")])
        made = []
        for target in plan.targets:
            outcome = self._target(conn, snap, actor, plan, target, record, ctx)
            record[target.key] = outcome["id"]
            made.append(outcome)
        version = record["version"]
        if plan.after:
            values = _inputs(plan.after, record, ctx)
            try:
                updated = self.records.update(actor, obj.api_name, record_id, values, None)
            except TesseraError as error:
                raise _in_part(error, f"{obj.label} {title} could not be changed afterwards", "after") from None
            version, title = updated["version"], _name(obj, {**record, **updated}) if obj.name_field else title
        result = {"conversion": plan.api_name, "label": plan.label,
                  "source": {"object": obj.api_name, "id": record_id, "name": title, "version": version},
                  "records": made}
        _LOG.write(conn, {"conversion_uid": plan.uid, "conversion": plan.api_name, "object_uid": obj.uid,
                          "record_id": record_id, "result": result, "actor_id": actor.user_id, "at": now()})
        return result

    def _source(self, conn: Connection, snap: Snapshot, plan: Plan, record_id: int) -> tuple[dict[str, Any], bool]:
        """The source record, locked until commit so two runs on it take turns, with the
        computed fields the formulas read; and whether the conversion ran on it before.

        On PostgreSQL the lock, the look in the log and the read are three statements in one
        round trip (pipelined): the log must be read after the lock is held, by a statement
        of its own, to see a run that committed while this one waited for it. SQLite needs no
        lock: a write transaction holds the whole database from its start."""
        table = snap.table(plan.obj)
        locked = None
        if conn.dialect.name != "sqlite":
            lock = self._statement(snap, ("lock", plan.obj.uid), lambda: Prepared(
                sa.select(table.c.id).where(table.c.id == sa.bindparam("id")).with_for_update()))
            locked = lock.read(conn, {"id": record_id})
        ran = None if plan.allow_again else _RAN.read(
            conn, {"object": plan.obj.uid, "record": record_id, "conversion": plan.uid})
        computed = plan.computed_reads
        if computed:  # worked out for this run: a formula may read the clock
            ctx = self.formulas.context(conn, snap, Actor.system())
            columns = self.formulas.computed_columns(snap, plan.obj, computed, conn.dialect.name, ctx)
            read = sa.select(table, *columns).where(table.c.id == sa.bindparam("id"), table.c.deleted_at.is_(None))
        else:
            read = self._statement(snap, ("source", plan.obj.uid), lambda: sa.select(table).where(
                table.c.id == sa.bindparam("id"), table.c.deleted_at.is_(None)))
        row = conn.execute(read, {"id": record_id}).mappings().first()
        if locked is not None:
            locked.all()
        if row is None:
            raise NotFound(f"There is no {plan.obj.label} record with id {record_id}.")
        return dict(row), ran is not None and ran.first() is not None

    def _last(self, conn: Connection, plan: Plan, obj: ObjectDef, record_id: int) -> dict[str, Any] | None:
        row = _LAST.read(conn, {"object": obj.uid, "record": record_id, "conversion": plan.uid}).first()
        return None if row is None else {"result": row["result"], "at": _moment(row["at"]), "actor": row["actor_id"]}

    def _target(self, conn: Connection, snap: Snapshot, actor: Actor, plan: Plan, target: TargetPlan,
                record: dict[str, Any], ctx: EvalContext) -> dict[str, Any]:
        out: dict[str, Any] = {"key": target.key, "label": target.label, "object": target.obj.api_name}
        if target.match:
            wanted = {m.field: _coerced(m, _mapped(m, record, ctx, f"{target.key}.{m.field.api_name}"), target.key)
                      for m in target.match}
            if all(v is not None for v in wanted.values()):
                table = snap.table(target.obj)
                readable = self.access.row_scope(snap, actor, conn.dialect.name, ctx)(target.obj, table)
                if readable is None:
                    query = self._statement(snap, ("match", plan.api_name, target.key),
                                            lambda: matching.match_statement(table, list(wanted)))
                    found = conn.execute(query, {f"m{i}": v for i, v in enumerate(wanted.values())}) \
                        .mappings().first()
                else:
                    found = matching.match(conn, table, wanted, readable)
                if found is not None:
                    return {**out, "id": found["id"], "name": _name(target.obj, found), "outcome": "matched"}
        if not target.create:
            return {**out, "id": None, "name": None, "outcome": "not_found"}
        values = _inputs(target.match, record, ctx)
        values.update(_inputs([m for m in target.fields if not m.default], record, ctx))
        values.update(self._defaults(snap, actor, plan, target, record))
        if target.lines is not None:
            via = target.lines.via
            parent = record["id"] if via is None else record.get(via.column)
            lines = [] if parent is None else self._lines(conn, snap, target.lines, plan.obj, int(parent), ctx)
            values[target.lines.target_field.api_name] = lines
            out["lines"] = len(lines)
        try:
            created = self.records.create(actor, target.obj.api_name, values)
        except TesseraError as error:
            raise _in_part(error, f"The {target.label} could not be created", target.key) from None
        return {**out, "id": created["id"], "name": _name(target.obj, created), "outcome": "created"}

    def _defaults(self, snap: Snapshot, actor: Actor, plan: Plan, target: TargetPlan,
                  record: Mapping[str, Any]) -> dict[str, Any]:
        """Fields filled from the source's field of the same name or label: only those the
        caller may see and write, and only values the target field takes as they are."""
        seen = self.access.object(actor, snap, plan.obj)
        written = self.access.object(actor, snap, target.obj)
        return _copied([m for m in target.fields if m.default], record,
                       seen.hidden, written.hidden | written.read_only)

    def _lines(self, conn: Connection, snap: Snapshot, lines: LinesPlan, parent: ObjectDef, parent_id: int,
               ctx: EvalContext) -> list[dict[str, Any]]:
        """The source's lines as the target's new lines, in their order."""
        child = lines.source_child
        table = snap.table(child)
        link = child.parent_link
        if link is None:
            raise Conflict(f"{child.label} lines have no link to their {parent.label}.")
        order = child.line_number
        computed = lines.computed_reads
        columns = self.formulas.computed_columns(snap, child, computed, conn.dialect.name, ctx) if computed else []
        query = sa.select(table, *columns).where(table.c[link.column] == parent_id, table.c.deleted_at.is_(None))
        rows = conn.execute(query.order_by(*([table.c[order.column]] if order else []), table.c.id)).mappings()
        explicit = [m for m in lines.fields if not m.default]
        defaults = [m for m in lines.fields if m.default]
        out = []
        for row in rows:
            line = dict(row)
            out.append({**_copied(defaults, line, frozenset(), frozenset()), **_inputs(explicit, line, ctx)})
        return out

    # -- what the record page shows -------------------------------------------------------
    def offered(self, actor: Actor, object_name: str, record_id: int) -> list[dict[str, Any]]:
        """The conversions a record's page offers: those of its object whose condition
        holds and that have not run on it (unless they may again), each with its last run."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            self.records.require(conn, snap, obj, actor, record_id, "read")
            plans = self.for_object(conn, snap, object_name)
            if not plans:
                return []
            try:
                self.records.require(conn, snap, obj, actor, record_id, "edit")
                may_edit = True
            except Forbidden:
                may_edit = False
            table = snap.table(obj)
            row = conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one()
            ctx = self.formulas.context(conn, snap, actor)
            out = []
            for plan in plans:
                last = self._last(conn, plan, obj, record_id)
                record = dict(row)
                if plan.when is not None and plan.computed_reads:
                    columns = self.formulas.computed_columns(snap, obj, plan.computed_reads, conn.dialect.name, ctx)
                    record.update(conn.execute(sa.select(*columns).where(table.c.id == record_id)).mappings().one())
                try:
                    holds = plan.when is None or evaluate(plan.when, record, ctx) is True
                except FormulaError:
                    holds = False
                # Targets that always create need the caller's create; a match may spare it.
                may_create = all(self.access.object(actor, snap, t.obj).may("create") for t in plan.targets
                                 if t.create and not t.match)
                out.append({"api_name": plan.api_name, "label": plan.label, "button_label": plan.button_label,
                            "available": holds and (last is None or plan.allow_again) and may_create
                            and (may_edit or not plan.after), "last": last})
            return out

    def runs(self, actor: Actor, object_name: str, record_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
        """The conversions run on a record, newest first."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            self.records.require(conn, snap, obj, actor, record_id, "read")
            rows = conn.execute(sa.select(log).where(log.c.object_uid == obj.uid, log.c.record_id == record_id)
                                .order_by(log.c.id.desc()).limit(limit)).mappings()
            return [{"id": r["id"], "conversion": r["conversion"], "at": _moment(r["at"]), "actor": r["actor_id"],
                     "result": r["result"]} for r in rows]


def _mapped(fmap: FieldMap, record: Mapping[str, Any], ctx: EvalContext, where: str) -> Any:
    """A field map's value: an earlier target's id as it is bound, else its formula's."""
    return record.get(fmap.key) if fmap.key is not None else _value(fmap.checked, record, ctx, where)


def _value(checked: Any, record: Mapping[str, Any], ctx: EvalContext, where: str) -> Any:
    try:
        return evaluate(checked, record, ctx)
    except FormulaError as error:
        raise InvalidInput(f"A formula of the conversion could not be worked out: {error.message}",
                           [FieldProblem(where, error.message, "formula")]) from None


def _inputs(maps: Any, record: Mapping[str, Any], ctx: EvalContext) -> dict[str, Any]:
    """The values formulas give, as input for the save pipeline (blanks left out, so the
    target's own defaults apply)."""
    out = {}
    for fmap in maps:
        value = _mapped(fmap, record, ctx, fmap.field.api_name)
        if value is not None:
            out[fmap.field.api_name] = as_input(value)
    return out


def _copied(maps: list[FieldMap], record: Mapping[str, Any], unseen: frozenset[str],
            unwritable: frozenset[str]) -> dict[str, Any]:
    """Default fields: the source field's value where the target field takes it as it is."""
    out = {}
    for fmap in maps:
        fdef = fmap.field
        value = record.get(fmap.formula)
        if value is None or value == [] or fmap.formula in unseen or fdef.api_name in unwritable:
            continue
        try:
            if fdef.ftype.check(fdef, fdef.ftype.coerce(fdef, as_input(value))) is not None:
                continue
        except (FieldValueError, ValueError, TypeError, ArithmeticError):
            continue
        out[fdef.api_name] = as_input(value)
    return out


def _coerced(fmap: FieldMap, value: Any, key: str) -> Any:
    """A match value as the column holds it."""
    if value is None:
        return None
    try:
        return fmap.field.ftype.coerce(fmap.field, as_input(value))
    except (FieldValueError, ValueError, TypeError, ArithmeticError) as error:
        raise InvalidInput(f"The value to match {fmap.field.label} by is not valid: {error}",
                           [FieldProblem(f"{key}.{fmap.field.api_name}", str(error), "invalid_value")]) from None



def _name(obj: ObjectDef, record: Mapping[str, Any]) -> str:
    fdef: FieldDef | None = obj.name_field
    value = record.get(fdef.api_name) if fdef is not None else None
    return str(value) if value not in (None, "") else f"#{record.get('id')}"


def _moment(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def made_words(result: Mapping[str, Any]) -> str:
    """': it made Account Acme and Contact Jane Doe' — the records a run created or matched."""
    parts = [f"{r.get('label') or r['object']} {r['name']}" for r in result.get("records", []) if r.get("id")]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return f" ({listed})"


def _in_part(error: TesseraError, what: str, where: str) -> TesseraError:
    """A refusal of one record the run writes, said as part of the conversion: its problems
    at `account.name` rather than `name`."""
    problems = [FieldProblem(f"{where}.{p.field}" if p.field not in ("", "/") else where, p.message, p.code, p.row,
                             p.detail) for p in error.errors]
    detail = error.detail if not error.errors else error.detail.rstrip(".")
    return type(error)(f"{what}: {detail[:1].lower()}{detail[1:]}", problems, dict(error.extra))
