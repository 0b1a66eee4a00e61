"""Formulas in the running platform: checked against the current metadata, cached per
metadata snapshot, compiled into record queries (formula and rollup fields, list filters)
and evaluated in the save pipeline (default values, validation rules).

The formula engine is pure; this module gives it what it needs from the platform: the
objects of a snapshot, their tables, the acting user, and loaders for related records.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.tables import users
from tessera.errors import FieldProblem, InvalidInput, formula_problem
from tessera.formula import (
    USER_OBJECT,
    Checked,
    EvalContext,
    FormulaError,
    RowScope,
    check,
    compile_filter,
    compile_filter_grouped,
    compile_python,
    compile_sql,
    rename_field,
)
from tessera.meta.dependencies import Reference
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.fieldtypes.base import FormulaType
from tessera.meta.fieldtypes.computed import RollupField
from tessera.meta.fieldtypes.lines import parent_link_doc
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel

TableFor = Callable[[ObjectDef], sa.FromClause]
#: A save batch's note: the record's lines are written after it, and its validation rules
#: are run then (records/service.py), over the record with its new lines.
LINES_FOLLOW = "lines_follow"
_EXPECTABLE = ("text", "number", "boolean", "date", "datetime", "duration", "list", "record")


class SnapshotSchema:
    """The formula engine's view of a snapshot's objects; `extra` stands in for an object
    being changed, so its formulas are checked against what it is about to become.

    `documents(kind)` gives the active documents of a kind by name, for checks of one
    document that name another (a dashboard's reports, an SLA policy's calendar)."""

    def __init__(self, snap: Snapshot, extra: ObjectDef | None = None,
                 documents: Callable[[str], Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        self.objects = dict(snap.objects)
        if extra is not None:
            self.objects[extra.api_name] = extra
        self._snap = snap if extra is None else None
        self._documents = documents

    def documents(self, kind: str) -> Mapping[str, Mapping[str, Any]] | None:
        """Active documents of `kind` by api_name; None when this schema was made without
        access to them (then checks that need them are skipped)."""
        return None if self._documents is None else self._documents(kind)

    def object(self, api_name: str) -> ObjectDef | None:
        return self.objects.get(api_name)

    def children(self, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        if self._snap is not None:  # the snapshot's own objects: its index of lookups
            found = [(other, f) for other, f in self._snap.lookups_to.get(obj.api_name, ())
                     if f.props.get("related_name")]
        else:
            found = [
                (other, f) for other in self.objects.values() for f in other.stored_fields
                if f.type == "lookup" and f.props.get("target") == obj.api_name and f.props.get("related_name")
            ]
        for lines in obj.line_fields:
            # Lines of a child object not attached yet (the parent is being created or given
            # its line field): its formulas see the lines through the link it is about to add.
            child = self.objects.get(str(lines.props.get("target")))
            if child is not None and child.is_child and child.parent_link is None:
                link = parent_link_doc(obj.api_name, obj.label, lines)
                found.append((ObjectDef({**child.doc, "fields": [*child.doc.get("fields", []), link]}),
                              FieldDef(link)))
        return found


def sees_as_viewer(field: FieldDef) -> bool:
    """Whether a computed field counts only the related records the viewer may read
    (`"scope": "viewer"`) rather than all of them (the default)."""
    return field.props.get("scope") == "viewer"


def expression_of(field: FieldDef) -> str:
    if field.type == "rollup":
        return RollupField.expression_of(dict(field.props))
    return str(field.props.get("expression", ""))


def value_expression_of(field: FieldDef) -> str:
    """The formula a computed field's values are read by: a number with a `scale` rounded to
    it (halves away from zero), as its records show it and as a stored one keeps it, so that
    sums, filters and other formulas see the values people see."""
    source = expression_of(field)
    scale = field.props.get("scale")
    if scale is not None and field.props.get("formula_type") == FormulaType.NUMBER:
        return f"ROUND(({source}), {int(scale)})"
    return source



log = logging.getLogger("tessera.formulas")


class FormulaService:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._checked: dict[tuple[int, str, str, str | None], Checked] = {}
        self._filters: dict[tuple[int, str, str, str], sa.ColumnElement[bool]] = {}
        self._columns: dict[tuple[Any, ...], list[sa.ColumnElement[Any]]] = {}
        self._revision = -1
        self._lock = threading.Lock()
        #: Formula fields whose formula no longer checks, by (object uid, field uid): the problem.
        self._broken: dict[tuple[str, str], str] = {}

    # -- checking -----------------------------------------------------------------------
    def broken(self, snap: Snapshot, obj: ObjectDef, field: FieldDef, error: FormulaError) -> None:
        """Note a formula field whose formula no longer checks against the metadata and code
        in force (a function its plugin took away): it reads blank until it is fixed."""
        key = (obj.uid, field.uid)
        if key not in self._broken:
            log.warning("formula field %s.%s reads blank: %s", obj.api_name, field.api_name,
                        str(error).splitlines()[0])
        self._broken[key] = str(error).splitlines()[0]

    def problems(self) -> dict[tuple[str, str], str]:
        """The formula fields found not to check, by (object uid, field uid)."""
        return dict(self._broken)
    def checked(self, snap: Snapshot, obj: ObjectDef, source: str, expect: str | None = None) -> Checked:
        """A formula checked against the snapshot's metadata (raises FormulaError)."""
        key = (snap.revision, obj.uid, source, expect)
        found = self._checked.get(key)
        if found is None:
            found = check(source, obj, SnapshotSchema(snap), expect)
            with self._lock:
                # Formulas checked against older metadata are of no more use.
                if snap.revision != self._revision or len(self._checked) > 5000:
                    self._checked.clear()
                    self._filters.clear()
                    self._columns.clear()
                    self._revision = snap.revision
                self._checked[key] = found
        return found

    def check_object(self, snap: Snapshot, doc: dict[str, Any]) -> list[FieldProblem]:
        """Check every formula of an object document about to be saved; fills in each
        computed field's expression and result type. Returns the problems found."""
        problems: list[FieldProblem] = []
        fields = doc.get("fields", [])
        computed = [f for f in fields if f.get("type") in ("formula", "rollup")]
        for fdoc in computed:
            if fdoc["type"] == "rollup":
                fdoc["expression"] = RollupField.expression_of(fdoc)
            fdoc.pop("formula_type", None)
        # Formula fields may use each other: type them in as many passes as it takes.
        pending = list(computed)
        errors: dict[str, FormulaError] = {}
        while pending:
            progressed = False
            for fdoc in list(pending):
                schema = SnapshotSchema(snap, ObjectDef(doc))
                try:
                    checked = check(fdoc["expression"], schema.objects[doc["api_name"]], schema)
                except FormulaError as error:
                    errors[fdoc["api_name"]] = error
                    continue
                fdoc["formula_type"] = checked.type
                pending.remove(fdoc)
                errors.pop(fdoc["api_name"], None)
                progressed = True
            if not progressed:
                break
        for fdoc in pending:
            error = errors[fdoc["api_name"]]
            if fdoc["type"] == "rollup" and fdoc.get("filter"):
                problems.append(formula_problem(f"/fields/{fdoc['api_name']}/filter", _in_filter(fdoc, error)))
            else:
                problems.append(formula_problem(f"/fields/{fdoc['api_name']}/expression", error))
            fdoc["formula_type"] = "blank"
        schema = SnapshotSchema(snap, ObjectDef(doc))
        obj = schema.objects[doc["api_name"]]
        problems += _stored_problems(obj, schema, [f["api_name"] for f in computed
                                                   if f.get("store") and f not in pending])
        for fdoc in fields:
            if not fdoc.get("default_formula"):
                continue
            path = f"/fields/{fdoc['api_name']}/default_formula"
            if fdoc.get("type") in ("formula", "rollup"):
                problems.append(FieldProblem(path, "a computed field has no default", "invalid"))
                continue
            expect = FieldDef(fdoc).ftype.formula_type
            try:
                check(fdoc["default_formula"], obj, schema, expect=expect if expect in _EXPECTABLE else None)
            except FormulaError as error:
                problems.append(formula_problem(path, error))
        for rule in doc.get("validation_rules", []):
            if not rule.get("active", True):
                continue  # checked when switched back on
            try:
                check(rule["error_if"], obj, schema, expect="boolean")
            except FormulaError as error:
                problems.append(formula_problem(f"/validation_rules/{rule['name']}/error_if", error))
        for rule in doc.get("sharing_rules", []):
            if not rule.get("active", True):
                continue
            path = f"/sharing_rules/{rule['name']}/condition"
            try:
                checked = check(rule["condition"], obj, schema, expect="boolean")
            except FormulaError as error:
                problems.append(formula_problem(path, error))
                continue
            if checked.change_context:
                problems.append(FieldProblem(path, "a sharing rule is about records as they are: ISNEW, ISCHANGED "
                                             "and PRIORVALUE have no meaning here", "formula"))
        return problems

    def references(self, snap: Snapshot, obj: ObjectDef) -> list[Reference]:
        """What an object's formulas read, for the dependency graph."""
        schema = SnapshotSchema(snap, obj)
        found: list[Reference] = []
        for path, source in _formulas(obj):
            try:
                checked = check(source, obj, schema)
            except FormulaError:
                continue
            for ref in checked.references:
                if ref.object is USER_OBJECT or ref.field.uid.startswith("sys"):
                    continue
                found.append(Reference("formula", path, ref.object.api_name, ref.field.api_name))
        return found

    def rename(self, snap: Snapshot, doc: dict[str, Any], source: ObjectDef, object_name: str,
               old: str, new: str) -> None:
        """Rewrite, in place, every formula of object document `doc` that reads field `old`
        of `object_name`, now called `new`. `source` is the document's object as the
        formulas were checked (the metadata before the rename)."""
        schema = SnapshotSchema(snap, source)

        def renamed(text: str) -> str:
            return rename_field(text, source, schema, object_name, old, new)

        children = {f.props.get("related_name"): child.api_name for child, f in schema.children(source)}
        for fdoc in doc.get("fields", []):
            if fdoc.get("type") == "formula" and fdoc.get("expression"):
                fdoc["expression"] = renamed(fdoc["expression"])
            if fdoc.get("default_formula"):
                fdoc["default_formula"] = renamed(fdoc["default_formula"])
            if fdoc.get("type") == "rollup":
                before = RollupField.expression_of(fdoc)
                after = renamed(before)
                if children.get(fdoc.get("relation")) == object_name and fdoc.get("field") == old:
                    fdoc["field"] = new
                # The filter is written inside the aggregate; rename it there and take it back out.
                prefix = RollupField.expression_of({**fdoc, "filter": None})[:-1] + ", "
                if fdoc.get("filter") and after != before and after.startswith(prefix) and after.endswith(")"):
                    fdoc["filter"] = after[len(prefix):-1]
                fdoc["expression"] = RollupField.expression_of(fdoc)
        for rule in doc.get("validation_rules", []):
            rule["error_if"] = renamed(rule["error_if"])
        for rule in doc.get("sharing_rules", []):
            rule["condition"] = renamed(rule["condition"])

    # -- the formula editor -------------------------------------------------------------
    def check_text(self, object_name: str, source: Any, expect: Any = None) -> dict[str, Any]:
        """What the editor shows while a builder types: the type, or every error with its
        line, column and caret, and the fields the formula reads."""
        if not isinstance(source, str):
            raise InvalidInput("Send the formula as text.", [FieldProblem("expression", "must be text")])
        if expect not in (None, *_EXPECTABLE):
            raise InvalidInput("Unknown expected type.",
                               [FieldProblem("expect", f"must be one of {', '.join(_EXPECTABLE)}")])
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
        try:
            checked = self.checked(snap, obj, source, expect)
        except FormulaError as error:
            return {"valid": False, "type": None, "references": [],
                    "errors": [e.to_dict() for e in (error.errors or [error])]}
        return {
            "valid": True, "type": checked.type, "errors": [],
            "references": [{"object": r.object.api_name, "field": r.field.api_name, "start": r.start, "end": r.end}
                           for r in checked.references],
        }

    # -- queries ------------------------------------------------------------------------
    def table_for(self, snap: Snapshot) -> TableFor:
        def table_for(obj: ObjectDef) -> sa.FromClause:
            return users if obj is USER_OBJECT else snap.tables[obj.api_name]
        return table_for

    def column_for(self, snap: Snapshot, dialect: str, ctx: EvalContext | None) -> Callable[..., Any]:
        """SQL for fields without a column: a computed field is its formula, compiled over
        whichever table (or alias) the surrounding query uses for its object."""
        base = self.table_for(snap)

        def column_for(obj: ObjectDef, field: FieldDef, table: sa.FromClause) -> Any:
            if field.stored or field.type not in ("formula", "rollup"):
                return None
            try:
                checked = self.checked(snap, obj, value_expression_of(field))
            except FormulaError as error:
                # A formula the metadata no longer supports (a removed plugin's function)
                # reads blank; the field's problem is reported, the rest keeps working.
                self.broken(snap, obj, field, error)
                return sa.null()
            # Over its object's own table, a field that reads neither the clock nor the user
            # compiles the same every time, also inside a formula that does (a health
            # reading TODAY() beside three rollups compiles only its own part again).
            key = (snap.revision, obj.uid, field.uid, dialect, "over its table")
            reusable = table is base(obj) and not self._context_bound(snap, obj, field)
            if reusable and (found := self._columns.get(key)) is not None:
                return found[0]
            here: TableFor = lambda o: table if o is obj else base(o)  # noqa: E731
            # A builder's field computes over every related record unless it says it
            # follows the viewer's access (`"scope": "viewer"`).
            own = ctx if ctx is None or sees_as_viewer(field) else ctx.unscoped()
            compiled = compile_sql(checked, dialect, here, own, column_for)
            if reusable:
                self._keep({key: [compiled]}, snap)
            return compiled
        return column_for

    def _keep(self, columns: Mapping[tuple[Any, ...], list[Any]], snap: Snapshot) -> None:
        """Keep compiled columns for this metadata revision (older ones go)."""
        with self._lock:
            if snap.revision != self._revision or len(self._columns) > 1000:
                self._columns.clear()
            self._columns.update(columns)

    def computed_columns(self, snap: Snapshot, obj: ObjectDef, fields: Iterable[FieldDef], dialect: str,
                         ctx: EvalContext | None = None) -> list[sa.ColumnElement[Any]]:
        wanted = [f for f in fields if not f.stored]
        # Formulas that read neither the clock nor the user compile the same every time:
        # kept by the set of fields asked for, and field by field, so that beside one that
        # reads the clock (TODAY()) the others are not compiled again.
        key = (snap.revision, obj.uid, tuple(f.uid for f in wanted), dialect)
        found = self._columns.get(key)
        if found is not None:
            return found
        table = snap.table(obj)
        column_for = self.column_for(snap, dialect, ctx)
        columns: list[sa.ColumnElement[Any]] = []
        made: dict[tuple[Any, ...], list[sa.ColumnElement[Any]]] = {}
        bound = False
        for fdef in wanted:
            if self._context_bound(snap, obj, fdef):
                bound = True
                columns.append(column_for(obj, fdef, table).label(fdef.api_name))
                continue
            one = (snap.revision, obj.uid, fdef.uid, dialect)
            kept = self._columns.get(one)
            if kept is None:
                kept = made[one] = [column_for(obj, fdef, table).label(fdef.api_name)]
            columns += kept
        if not bound:
            made[key] = columns
        if made:
            self._keep(made, snap)
        return columns

    def context_free(self, snap: Snapshot, obj: ObjectDef, fields: Iterable[FieldDef], *,
                     clock: bool = False) -> bool:
        """Whether the SQL of these fields' computed values is the same for every request
        (no clock, no $user, no viewer's scope), so a query made of it can be reused.
        `clock=True`: the clock is allowed — the query's runner passes `clock_params`."""
        return not any(self._context_bound(snap, obj, f, clock) for f in fields if not f.stored)

    def _context_bound(self, snap: Snapshot, obj: ObjectDef, fdef: FieldDef, clock: bool = False) -> bool:
        """Whether a computed field's SQL depends on the request (the clock, $user), here or
        in the formula fields it reads (the clock left out when `clock`)."""
        try:
            checked = self.checked(snap, obj, expression_of(fdef))
        except FormulaError:
            return True
        if (checked.volatile and not clock) or checked.uses_user or sees_as_viewer(fdef):
            return True
        return any(ref.field.computed and not ref.field.stored and ref.field.uid != fdef.uid
                   and self._context_bound(snap, ref.object, ref.field, clock) for ref in checked.references
                   if ref.object is not USER_OBJECT)

    def filter_clause(self, snap: Snapshot, obj: ObjectDef, source: str, dialect: str,
                      ctx: EvalContext | None = None) -> sa.ColumnElement[bool]:
        try:
            checked = self.checked(snap, obj, source, expect="boolean")
            # A filter that reads neither the clock nor the user compiles the same every time.
            # Nor the person's row scope, which differs from one person to the next.
            reusable = not checked.volatile and not checked.uses_user and (ctx is None or ctx.scope is None)
            key = (snap.revision, obj.uid, source, dialect)
            if reusable and (found := self._filters.get(key)) is not None:
                return found
            clause = compile_filter(checked, dialect, self.table_for(snap), ctx, self.column_for(snap, dialect, ctx))
        except FormulaError as error:
            raise InvalidInput("The filter is not a valid formula.", [formula_problem("filter", error)]) from None
        if reusable:
            with self._lock:
                if len(self._filters) > 1000:
                    self._filters.clear()
                self._filters[key] = clause
        return clause

    def filter_on(self, snap: Snapshot, obj: ObjectDef, source: str, dialect: str, ctx: EvalContext | None,
                  table: sa.FromClause) -> sa.ColumnElement[bool]:
        """A condition over `table`, an alias of the object's table (a sharing rule applied
        to a record reached through a lookup or related list)."""
        base = self.table_for(snap)
        here: TableFor = lambda o: table if o is obj else base(o)  # noqa: E731
        checked = self.checked(snap, obj, source, expect="boolean")
        return compile_filter(checked, dialect, here, ctx, self.column_for(snap, dialect, ctx))

    def grouped_filter(self, snap: Snapshot, obj: ObjectDef, source: str,
                       dialect: str) -> tuple[sa.ColumnElement[bool], list[tuple[Any, Any]]]:
        """A condition for filtering a whole table (a segment's refresh): aggregates over
        related records come as grouped derived tables to LEFT JOIN (see
        compile_filter_grouped), not a subquery per record."""
        checked = self.checked(snap, obj, source, expect="boolean")
        return compile_filter_grouped(checked, dialect, self.table_for(snap), None,
                                      self.column_for(snap, dialect, None))

    # -- evaluation in the save pipeline ------------------------------------------------
    def context(self, conn: Connection, snap: Snapshot, actor: Actor, prior: Mapping[str, Any] | None = None,
                scope: RowScope | None = None, everything: EvalContext | None = None) -> EvalContext:
        """An evaluation context reading related records over `conn`; `$user` is loaded
        only if a formula reads it. It sees every record, unless given the row scope of
        someone's own expressions (see AccessService.viewer_context) and its unscoped twin."""

        def load_user() -> Mapping[str, Any] | None:
            row = conn.execute(sa.select(users).where(users.c.id == actor.user_id)).mappings().first()
            return {**row, "manager": row["manager_id"]} if row else None

        user = (everything.user if everything is not None
                else LazyRecord(load_user) if actor.user_id is not None else None)

        def readable(obj: ObjectDef, table: Any) -> list[Any]:
            clause = scope(obj, table) if scope is not None else None
            return [] if clause is None else [clause]

        def load_record(obj: ObjectDef, record_id: int) -> Mapping[str, Any] | None:
            if obj is USER_OBJECT:
                row = conn.execute(sa.select(users).where(users.c.id == record_id)).mappings().first()
                return {**row, "manager": row["manager_id"]} if row else None
            table = snap.table(obj)
            return conn.execute(sa.select(table).where(
                table.c.id == record_id, table.c.deleted_at.is_(None), *readable(obj, table))).mappings().first()

        def load_children(child: ObjectDef, lookup: FieldDef, parent_id: int) -> list[Mapping[str, Any]]:
            table = snap.table(child)
            return list(conn.execute(sa.select(table).where(
                table.c[lookup.column] == parent_id, table.c.deleted_at.is_(None),
                *readable(child, table))).mappings())

        return EvalContext(user=user, prior=prior, load_record=load_record, load_children=load_children,
                           scope=scope, everything=everything)

    def apply_defaults(self, batch: Any) -> None:
        """before_validate hook: fill blank fields that have a default formula, on create."""
        fields = [f for f in batch.obj.stored_fields if f.props.get("default_formula")]
        if not fields or not batch.creating:
            return
        ctx = self.context(batch.conn, batch.snapshot, batch.actor)
        for fdef in fields:
            run = compile_python(self.checked(batch.snapshot, batch.obj, fdef.props["default_formula"]))
            for change in batch.changes:
                if change.values.get(fdef.api_name) is None and not change.problems:
                    try:
                        change.values[fdef.api_name] = fdef.ftype.coerce(fdef, as_input(run(change.values, ctx)))
                    except (FieldValueError, FormulaError, ValueError, TypeError, ArithmeticError) as error:
                        change.problem(fdef.api_name, f"its default formula gave no valid value: {error}",
                                       "invalid_default")

    def check_rules(self, batch: Any) -> None:
        """validate hook: every active validation rule whose `error_if` is TRUE adds its
        message, all rules at once."""
        rules = [r for r in batch.obj.doc.get("validation_rules", []) if r.get("active", True)]
        if not rules or batch.notes.get(LINES_FOLLOW):
            # Lines written after the record: the rules run once they are (they may read them).
            return
        compiled = []
        for rule in rules:
            try:
                compiled.append((rule, compile_python(self.checked(batch.snapshot, batch.obj, rule["error_if"],
                                                                   "boolean"))))
            except FormulaError as error:
                # Metadata keeps rules valid; one that broke anyway (a field it reads was purged
                # behind it) refuses saves with a reason rather than failing them blindly.
                for change in batch.changes:
                    change.problem(rule.get("field") or "/", f"validation rule {rule['name']!r} cannot run: "
                                   f"{error.message}; a builder must fix or switch it off", "broken_rule")
                return
        for change in batch.changes:
            if change.problems:
                continue  # rules read values; ones that did not even coerce are reported already
            record = {**(change.before or {}), **change.values}
            ctx = self.context(batch.conn, batch.snapshot, batch.actor, prior=change.before)
            for rule, run in compiled:
                if run(record, ctx) is True:
                    change.problem(rule.get("field") or "/", rule["message"], "validation_rule")


class LazyRecord(Mapping[str, Any]):
    """A record read on first use."""

    def __init__(self, load: Callable[[], Mapping[str, Any] | None]) -> None:
        self._load = load
        self._row: Mapping[str, Any] | None = None
        self._loaded = False

    def _data(self) -> Mapping[str, Any]:
        if not self._loaded:
            self._row, self._loaded = self._load(), True
        return self._row or {}

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Any:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def _stored_problems(obj: ObjectDef, schema: SnapshotSchema, names: list[str]) -> list[FieldProblem]:
    """Why a formula cannot keep its value in a column: it reads the clock or the user (the
    value would go stale), or formula fields read each other in a circle."""
    from tessera.runtime.records.stored import expand

    def checked(o: ObjectDef, f: FieldDef) -> Checked:
        return check(expression_of(f), o, schema)

    problems = []
    for name in names:
        fdef = obj.field(name)
        assert fdef is not None
        if sees_as_viewer(fdef):
            problems.append(FieldProblem(
                f"/fields/{name}/store", "a stored value is worked out once for everyone, so it cannot follow "
                "each viewer's access: store it with \"scope\": \"all\", or leave it computed in the query",
                "not_storable"))
            continue
        first = checked(obj, fdef)
        if first.volatile or first.uses_user or first.change_context:
            problems.append(FieldProblem(
                f"/fields/{name}/store", "a stored formula cannot read TODAY(), NOW(), $user or the change "
                "being saved: its stored value would go stale; leave it computed in the query", "not_storable"))
            continue
        try:
            expand(checked, obj, fdef)
        except FormulaError as error:
            problems.append(FieldProblem(f"/fields/{name}/store", error.message, "circular"))
    return problems


def _in_filter(fdoc: dict[str, Any], error: FormulaError) -> FormulaError:
    """A rollup's errors, placed in the filter the builder wrote rather than in the aggregate
    formula the rollup stands for (errors outside the filter stay as they are)."""
    first = error.errors[0] if getattr(error, "errors", None) else error
    offset = len(RollupField.expression_of({**fdoc, "filter": None})) - 1 + len(", ")
    text = str(fdoc["filter"])
    if first.pos is None or not offset <= first.pos <= offset + len(text):
        return error
    end = None if first.end is None else min(first.end - offset, len(text))
    return FormulaError(first.message, text, first.pos - offset, end, first.suggestion)


def _formulas(obj: ObjectDef) -> list[tuple[str, str]]:
    """(path, source) of every formula in an object document."""
    out = []
    for f in obj.fields:
        if f.type in ("formula", "rollup"):
            out.append((f"fields/{f.uid}/expression", expression_of(f)))
        if f.props.get("default_formula"):
            out.append((f"fields/{f.uid}/default_formula", str(f.props["default_formula"])))
    for rule in obj.doc.get("validation_rules", []):
        out.append((f"validation_rules/{rule['name']}/error_if", str(rule["error_if"])))
    for rule in obj.doc.get("sharing_rules", []):
        out.append((f"sharing_rules/{rule['name']}/condition", str(rule["condition"])))
    return out


def as_input(value: Any) -> Any:
    """A formula result as API input for the field's coercion (dates and numbers as text)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
