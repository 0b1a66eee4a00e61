"""List views as end users work them: columns, sort, a filter built from simple conditions
(or written as a formula), keyset pages, kanban boards on a select field or a lookup to a
small object, bulk changes and CSV exports — all through the record service, so
permissions and the save pipeline apply.

A condition is `{"field", "op", "value"}`; the conditions of a view are joined with AND
into one formula, the same language a builder writes, compiled to SQL by the record list.

Columns are the fields the user may see, the record's owner, creation and last change, and
columns other packages add through `add_columns` (a `ColumnSource`: the SLA clocks register
one) — each filled for a whole page at once and sorted in SQL when it can be.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.spreadsheets import csv_text
from tessera.data.tables import saved_views, users
from tessera.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TesseraError
from tessera.meta.fieldtypes.base import FormulaType
from tessera.meta.model import MAX_CHOICES, FieldDef, ObjectDef
from tessera.meta.times import time_zone
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.choices import live_count, ordered_choices
from tessera.runtime.records.line_history import line_sentence, named_values
from tessera.runtime.records.plan import OWNER
from tessera.runtime.records.service import RecordService

#: Condition operators, by what they apply to.
OPERATORS = {
    "equals": "=", "not_equals": "<>", "greater": ">", "less": "<", "at_least": ">=", "at_most": "<=",
    "contains": "", "blank": "", "not_blank": "",
}
OPERATOR_LABELS = {
    "equals": "is", "not_equals": "is not", "greater": "greater than", "less": "less than",
    "at_least": "at least", "at_most": "at most", "contains": "contains", "blank": "is blank",
    "not_blank": "is not blank",
}
ORDERED = ("number", "date", "datetime", "duration")
EXPORT_PAGE = 1000
#: Columns every record has beside its fields, offered in every list's column picker.
CREATED = FieldDef({"uid": "sys_created_at", "api_name": "created_at", "label": "Created", "type": "datetime",
                    "read_only": True})
UPDATED = FieldDef({"uid": "sys_updated_at", "api_name": "updated_at", "label": "Updated", "type": "datetime",
                    "read_only": True})
RECORD_COLUMNS = (OWNER, CREATED, UPDATED)
#: Field types a list cell cannot show.
UNLISTED = ("json", "rich_text")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass
class ListQuery:
    """What a list page asks for."""

    columns: list[str] = field(default_factory=list)
    sort: str | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)
    formula: str | None = None
    cursor: str | None = None
    limit: int = 50
    #: Words the records must hold in their searchable fields (the list's full-text box).
    search: str | None = None

    def filter(self, obj: ObjectDef) -> str | None:
        parts = [f"({self.formula})"] if self.formula and self.formula.strip() else []
        parts += [condition_formula(obj, c) for c in self.conditions]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else "AND(" + ", ".join(parts) + ")"


def condition_formula(obj: ObjectDef, condition: dict[str, Any]) -> str:
    """One simple condition as a formula, e.g. {"field": "stage", "op": "equals", "value":
    "won"} → `stage = "won"`. Values are written as literals of the field's type."""
    name, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    fdef = obj.field(str(name)) if name else None
    if fdef is None:
        raise InvalidInput("A filter names an unknown field.", [FieldProblem("filter", f"no field {name!r}")])
    if op not in OPERATORS:
        raise InvalidInput("A filter has an unknown operator.", [FieldProblem("filter", f"unknown operator {op!r}")])
    kind = _formula_type(fdef)
    if op == "blank":
        return f"ISBLANK({name})"
    if op == "not_blank":
        return f"NOT(ISBLANK({name}))"
    if op == "contains":
        if kind == "list":
            return f"INCLUDES({name}, {_text(value)})"
        return f"CONTAINS(LOWER({name}), LOWER({_text(value)}))"
    if op in ("greater", "less", "at_least", "at_most") and kind not in ORDERED:
        raise InvalidInput(f"{fdef.label} cannot be compared with {OPERATOR_LABELS[op]}.",
                           [FieldProblem("filter", f"{fdef.label} is not a number or a date")])
    if fdef.type == "select":
        value = _option_value(fdef, value)
    return f"{name} {OPERATORS[op]} {literal(fdef, value)}"


def _option_value(fdef: FieldDef, value: Any) -> Any:
    """The stored value of the option a person picked or typed, by value or label, any case
    (the formula compares stored values: `stage = "won"`, never the label "Won")."""
    wanted = str(value or "").strip().casefold()
    for option in fdef.props.get("options", []):
        if wanted in (str(option.get("value", "")).casefold(), str(option.get("label") or "").casefold()):
            return option.get("value")
    return value


def literal(fdef: FieldDef, value: Any) -> str:
    """A value typed into a filter as a formula literal of the field's type."""
    kind = _formula_type(fdef)
    text = "" if value is None else str(value).strip()
    if kind in ("number", "duration", "record"):
        try:
            return format(Decimal(text.replace(",", "")), "f")
        except InvalidOperation:
            raise InvalidInput(f"{fdef.label} needs a number.",
                               [FieldProblem("filter", f"{text!r} is not a number")]) from None
    if kind == "boolean":
        return "TRUE" if text.lower() in ("true", "1", "yes", "on") else "FALSE"
    if kind in ("date", "datetime"):
        found = _DATE.match(text[:10])
        if not found:
            raise InvalidInput(f"{fdef.label} needs a date like 2026-12-31.",
                               [FieldProblem("filter", f"{text!r} is not a date")])
        y, m, d = (int(g) for g in found.groups())
        try:
            date(y, m, d)
        except ValueError:
            raise InvalidInput(f"{fdef.label} needs a real date.",
                               [FieldProblem("filter", f"{text!r} is not a date")]) from None
        return f"DATE({y}, {m}, {d})" if kind == "date" else f"DATETIME({y}, {m}, {d}, 0, 0, 0)"
    return _text(text)


def _text(value: Any) -> str:
    return '"' + str(value or "").replace('"', '""') + '"'


def _formula_type(fdef: FieldDef) -> str:
    if fdef.computed:
        return str(fdef.props.get("formula_type") or "text")
    return str(fdef.ftype.formula_type)


@dataclass(frozen=True, eq=False)
class ListColumn:
    """A column a list can show that is not a field (an SLA clock's state): offered in the
    column picker by its label, its cells filled by its source for a page at once, sorted
    in SQL by `sort` (an expression over the object's table; None: not sortable) whose
    values are of the type of `sort_values`."""

    api_name: str
    label: str
    source: ColumnSource
    sort: Callable[[sa.Table], sa.ColumnElement[Any]] | None = None
    sort_values: FieldDef | None = None
    #: Never offered to "Set a field" in bulk.
    read_only: bool = True


class ColumnSource(Protocol):
    """Where columns that are not fields come from (registered with `add_columns`)."""

    def columns(self, conn: Connection, snap: Snapshot, obj: ObjectDef) -> list[ListColumn]:
        """The columns it offers for the object's lists."""
        ...

    def fill(self, actor: Actor, obj: ObjectDef, columns: list[ListColumn], records: list[dict[str, Any]]) -> None:
        """Put each record's cell text in `record["_display"][column.api_name]` (and a tone
        for the cell's look in `record["_tone"]`), reading the whole page at once."""
        ...


Column = FieldDef | ListColumn


class ViewService:
    def __init__(self, kernel: Kernel, access: AccessService, records: RecordService) -> None:
        self.kernel = kernel
        self.access = access
        self.records = records
        self.sources: list[ColumnSource] = []

    def add_columns(self, source: ColumnSource) -> None:
        """Offer a source's columns in every list (install() of the package that has them)."""
        self.sources.append(source)

    def offered(self, actor: Actor, obj: ObjectDef, visible: list[FieldDef] | None = None) -> dict[str, Column]:
        """Every column the user may pick, by name, in the picker's order: the fields they
        may see, the owner, created and updated, then the sources' columns."""
        visible = visible if visible is not None else self.visible(actor, obj)
        out: dict[str, Column] = {f.api_name: f for f in visible if f.type not in UNLISTED}
        for fdef in RECORD_COLUMNS:
            out.setdefault(fdef.api_name, fdef)
        if self.sources:
            with self.kernel.read() as conn:
                snap = self.kernel.snapshot(conn)
                for source in self.sources:
                    out.update((c.api_name, c) for c in source.columns(conn, snap, obj))
        return out

    def columns(self, actor: Actor, obj: ObjectDef, wanted: list[str],
                visible: list[FieldDef] | None = None, offered: dict[str, Column] | None = None) -> list[Column]:
        """The columns shown: those asked for that the user may see, in the order asked,
        else the first seven fields (not those a package deprecated) and the owner."""
        visible = visible if visible is not None else self.visible(actor, obj)
        if wanted and offered is None:
            offered = self.offered(actor, obj, visible)
        chosen = [offered[name] for name in dict.fromkeys(wanted) if name in offered] if offered else []
        return chosen or [*[f for f in visible if f.type not in UNLISTED and not f.deprecated][:7], OWNER]

    def shown(self, actor: Actor, objects: dict[str, ObjectDef], obj: ObjectDef, columns: list[Column],
              offered: dict[str, Column] | None = None, **listing: Any) -> dict[str, Any]:
        """A page of records with each column as a person reads it (`_display`): an option's
        label, a lookup's record name, a user's name, Yes/No, grouped numbers, an SLA clock's
        state. `objects`: the snapshot's objects the caller read (lookups are named by their
        target's name field); `offered`: the columns the list may sort by beside its fields."""
        fields = [c for c in columns if isinstance(c, FieldDef)]
        extras = [c for c in columns if isinstance(c, ListColumn)]
        names, zone = [c.api_name for c in fields], time_zone(actor.time_zone)
        expand = [c.api_name for c in fields if getattr(c.ftype, "reference", None) in ("record", "user")]
        sortable = [c for c in (offered or {}).values() if isinstance(c, ListColumn)] or extras
        sorts = {c.api_name: (c.sort, c.sort_values) for c in sortable if c.sort and c.sort_values}
        # Only sources' columns chosen: the ids are enough (an empty `fields` would read them all).
        result = self.records.list(actor, obj.api_name, fields=names or ["id"], expand=expand or None,
                                   sorts=sorts or None, **listing)
        for record in result["data"]:
            record["_display"] = {c.api_name: cell_text(objects, c, record, zone) for c in fields}
        by_source: dict[int, list[ListColumn]] = {}
        for column in extras:
            by_source.setdefault(id(column.source), []).append(column)
        for group in by_source.values():
            group[0].source.fill(actor, obj, group, result["data"])
        return result

    def visible(self, actor: Actor, obj: ObjectDef) -> list[FieldDef]:
        """The fields of an object the user may see (to filter, sort and show)."""
        with self.kernel.read() as conn:
            hidden = self.access.object(actor, self.kernel.snapshot(conn), obj).hidden
        return [f for f in obj.fields if f.api_name not in hidden]

    def page(self, actor: Actor, object_name: str, query: ListQuery) -> dict[str, Any]:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
        obj = snap.object(object_name)
        fields = self.visible(actor, obj)
        offered = self.offered(actor, obj, fields)
        columns = self.columns(actor, obj, query.columns, fields, offered)
        result = self.shown(actor, snap.objects, obj, columns, offered, sort=query.sort, limit=query.limit,
                            cursor=query.cursor, filter=query.filter(obj), search=query.search)
        # The column picker: what is shown, in its order, then the rest in the object's order.
        choices = [{"api_name": c.api_name, "label": c.label, "chosen": True} for c in columns]
        choices += [{"api_name": c.api_name, "label": c.label, "chosen": False} for c in offered.values()
                    if c not in columns]
        return {"object": obj, "columns": columns, "records": result["data"], "next_cursor": result["next_cursor"],
                "filter": query.filter(obj), "fields": fields, "choices": choices}

    def export_csv(self, actor: Actor, object_name: str, query: ListQuery) -> Iterator[str]:
        """The whole view as CSV, page by page (the first page is read before streaming, so
        a bad filter is an error, not a broken file)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
        obj = snap.object(object_name)
        offered = self.offered(actor, obj)
        columns = self.columns(actor, obj, query.columns, offered=offered)
        first = self.shown(actor, snap.objects, obj, columns, offered, sort=query.sort, limit=EXPORT_PAGE,
                           filter=query.filter(obj), search=query.search)

        def rows() -> Iterator[str]:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["id", *(csv_text(c.label) for c in columns)])
            page = first
            while True:
                for record in page["data"]:
                    writer.writerow([record["id"], *(_cell(c, record) for c in columns)])
                yield out.getvalue()
                out.seek(0)
                out.truncate()
                if not page["next_cursor"]:
                    return
                page = self.shown(actor, snap.objects, obj, columns, offered, sort=query.sort, limit=EXPORT_PAGE,
                                  cursor=page["next_cursor"], filter=query.filter(obj), search=query.search)
        return rows()

    def board_fields(self, actor: Actor, obj: ObjectDef) -> list[FieldDef]:
        """The fields a board of `obj` may group by, in the object's order: the select
        fields the user may see, and the lookups they may see to an object of at most
        MAX_CHOICES live records whose records they may read (a sales stage, not an account)."""
        visible = self.visible(actor, obj)
        out = []
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            for fdef in visible:
                if fdef.type == "select":
                    out.append(fdef)
                elif fdef.type == "lookup" and fdef.stored and not fdef.system:
                    target = snap.objects.get(str(fdef.props.get("target")))
                    if target is not None and self.access.object(actor, snap, target).may("read") \
                            and live_count(conn, snap.table(target)) <= MAX_CHOICES:
                        out.append(fdef)
        return out

    def kanban(self, actor: Actor, object_name: str, field_name: str, query: ListQuery,
               per_column: int = 50) -> dict[str, Any]:
        """Cards grouped by a select field's options, or by a lookup's target records (those
        the user may read, in the target's order), and a column for blank."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            fdef = obj.field(field_name)
            if fdef is None or fdef.type not in ("select", "lookup"):
                raise InvalidInput("A board groups by a select field or a lookup.",
                                   [FieldProblem("group_by", f"{field_name!r} is not a select field or a lookup "
                                                             f"of {obj.label}")])
            if fdef.type == "lookup":
                choices = self._lanes_of(actor, conn, snap, fdef)
            else:
                choices = [(o["value"], str(o.get("label") or o["value"])) for o in fdef.props.get("options", [])]
        offered = self.offered(actor, obj)
        columns = self.columns(actor, obj, query.columns, offered=offered)[:4]
        shown = columns if fdef in columns else [*columns, fdef]
        base = query.filter(obj)
        lanes = []
        for value, label in [*choices, (None, "No " + fdef.label.lower())]:
            if value is None:
                lane = f"ISBLANK({fdef.api_name})"
            elif fdef.type == "lookup":
                lane = f"{fdef.api_name}.id = {int(value)}"
            else:
                lane = f'{fdef.api_name} = "{value}"'
            combined = lane if not base else f"AND({lane}, ({base}))"
            found = self.shown(actor, snap.objects, obj, shown, offered, sort=query.sort, limit=per_column,
                               filter=combined, total=True, search=query.search)
            lanes.append({"value": value, "label": label, "cards": found["data"], "total": found["total"]})
        return {"object": obj, "field": fdef, "columns": columns, "lanes": lanes}

    def _lanes_of(self, actor: Actor, conn: Connection, snap: Snapshot, fdef: FieldDef) -> list[tuple[int, str]]:
        """A lookup's lanes: its target's live records the user may read, in the target's
        order (refused when the target has more than MAX_CHOICES records)."""
        target = snap.object(str(fdef.props.get("target")))
        everything = ordered_choices(conn, target, snap.table(target))
        if everything is None:
            raise InvalidInput(
                f"A board groups by a lookup to an object of at most {MAX_CHOICES} records; "
                f"{target.plural_label} has more.",
                [FieldProblem("group_by", f"{fdef.label} looks up {target.plural_label}, which has more than "
                                          f"{MAX_CHOICES} records")])
        if not everything:
            return []
        self.access.object(actor, snap, target).refuse("read")
        readable = self.records.list(actor, target.api_name, fields=["id"], limit=len(everything),
                                     filter=" OR ".join(f"id = {i}" for i, _name in everything))
        ids = {r["id"] for r in readable["data"]}
        return [(i, name) for i, name in everything if i in ids]

    def related(self, actor: Actor, object_name: str, record_id: int, per_list: int = 10) -> list[dict[str, Any]]:
        """The record's related lists: for each lookup on another object that names this one
        and has a `related_name`, the first records pointing here (only those the user may
        read, their fields likewise), how many there are, and whether the user may add one."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            # A record's lines are shown in its form's grid, not as a related list too.
            children = [(child, lookup, self.access.object(actor, snap, child))
                        for child, lookup in snap.children(obj)
                        if lookup.props.get("related_name") and lookup.system != "parent"]
        lists = []
        for child, lookup, access in children:
            if not access.may("read") or lookup.api_name in access.hidden:
                continue
            visible = [f for f in child.fields if f.api_name not in access.hidden]
            columns = [c for c in self.columns(actor, child, [], visible) if c.api_name != lookup.api_name][:4]
            found = self.shown(actor, snap.objects, child, columns,
                               filter=f"{lookup.api_name}.id = {int(record_id)}", limit=per_list, total=True)
            lists.append({"object": child, "lookup": lookup, "columns": columns, "records": found["data"],
                          "total": found["total"], "may_create": access.may("create")
                          and lookup.api_name not in access.read_only})
        return lists

    def history(self, actor: Actor, object_name: str, record_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """A record's history as a person reads it: the field's label, the values as its
        list cells show them (option labels, the names of records and people), and who."""
        entries = self.records.history(actor, object_name, record_id, limit=limit)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            people = dict(conn.execute(sa.select(users.c.id, users.c.name).where(
                users.c.id.in_({e["actor"] for e in entries if e["actor"]}))).all())
        obj = snap.object(object_name)
        names = self._record_names(actor, snap.objects, obj, entries)
        zone, out = time_zone(actor.time_zone), []
        told = self._lines_told(actor, snap, obj, entries, zone)
        for entry in entries:
            if (lines := obj.line_field(entry["field"] or "")) is not None:
                if told.get(entry["id"]) is not None:  # None: about a field the reader may not see
                    out.append({**entry, "who": people.get(entry["actor"]) if entry["actor"] else None,
                                "field_label": lines.label, "text": told[entry["id"]], "old_text": "",
                                "new_text": ""})
                continue
            fdef = OWNER if entry["field"] == "owner" else obj.field(entry["field"] or "")
            shown = {**entry, "who": people.get(entry["actor"]) if entry["actor"] else None,
                     "field_label": fdef.label if fdef is not None else entry["field"]}
            for side in ("old", "new"):
                value = entry[side]
                if fdef is not None and value is not None:
                    record = {fdef.api_name: value, "_expanded": {fdef.api_name: names.get((fdef.api_name, value))}}
                    value = cell_text(snap.objects, fdef, record, zone)
                shown[f"{side}_text"] = "" if value is None else str(value)
            out.append(shown)
        return out

    def _lines_told(self, actor: Actor, snap: Snapshot, obj: ObjectDef, entries: list[dict[str, Any]],
                    zone: tzinfo) -> dict[int, str | None]:
        """The history's entries about lines in words (records/line_history.py), by entry id;
        None for an entry about a field of the lines the reader may not see."""
        out: dict[int, str | None] = {}
        for lines in obj.line_fields:
            about = [e for e in entries if e["field"] == lines.api_name]
            child = snap.objects.get(str(lines.props.get("target")))
            if not about or child is None:
                continue
            hidden = self.access.object(actor, snap, child).hidden
            named = [{"field": name, "old": None, "new": value} for e in about
                     for name, value in named_values(e["old"], e["new"]) if name not in hidden]
            names = self._record_names(actor, snap.objects, child, named)

            def shown(fdef: FieldDef, value: Any, names: dict[tuple[str, Any], Any] = names) -> str:
                record = {fdef.api_name: value, "_expanded": {fdef.api_name: names.get((fdef.api_name, value))}}
                return cell_text(snap.objects, fdef, record, zone)

            out.update({e["id"]: line_sentence(child, e["old"], e["new"], shown, hidden) for e in about})
        return out

    def values_text(self, actor: Actor, object_name: str,
                    changes: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
        """Sets of values (field name → value as the API gives it, e.g. what a rule set) as a
        person reads them: per set, (the field's label, the value as a list cell shows it).
        Fields the person may not see are left out."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            hidden = self.access.object(actor, snap, snap.object(object_name)).hidden
        obj = snap.object(object_name)
        entries = [{"field": name, "old": None, "new": value} for values in changes for name, value in values.items()]
        names = self._record_names(actor, snap.objects, obj, entries)
        zone, out = time_zone(actor.time_zone), []
        for values in changes:
            shown = []
            for name, value in values.items():
                fdef = OWNER if name == "owner" else obj.field(name)
                if fdef is None or name in hidden:
                    continue
                record = {name: value, "_expanded": {name: names.get((name, value))}}
                shown.append((fdef.label, cell_text(snap.objects, fdef, record, zone) if value is not None else "—"))
            out.append(shown)
        return out

    def _record_names(self, actor: Actor, objects: dict[str, ObjectDef], obj: ObjectDef,
                      entries: list[dict[str, Any]]) -> dict[tuple[str, Any], dict[str, Any]]:
        """The records and people the history's lookup values name, as `expand` gives them."""
        wanted: dict[str, set[int]] = {}
        for entry in entries:
            fdef = OWNER if entry["field"] == "owner" else obj.field(entry["field"] or "")
            if fdef is not None and getattr(fdef.ftype, "reference", None) in ("record", "user"):
                wanted.setdefault(fdef.api_name, set()).update(
                    v for v in (entry["old"], entry["new"]) if isinstance(v, int))
        found: dict[tuple[str, Any], dict[str, Any]] = {}
        with self.kernel.read() as conn:
            for name, ids in wanted.items():
                fdef = OWNER if name == "owner" else obj.field(name)
                assert fdef is not None
                target = objects.get(str(fdef.props.get("target")))
                if getattr(fdef.ftype, "reference", None) == "user":
                    for row in conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(ids))):
                        found[(name, row.id)] = {"name": row.name}
                elif target is not None and target.name_field is not None \
                        and self.access.object(actor, self.kernel.snapshot(conn), target).may("read"):
                    listed = self.records.list(actor, target.api_name, fields=[target.name_field.api_name],
                                               filter=" OR ".join(f"id = {int(i)}" for i in sorted(ids)) or "FALSE",
                                               limit=len(ids) or 1)
                    for record in listed["data"]:
                        found[(name, record["id"])] = record
        return found

    def move(self, actor: Actor, object_name: str, record_id: int, field_name: str, value: str | None,
             version: int | None) -> dict[str, Any]:
        """A card dragged to another column: an update through the save pipeline."""
        return self.records.update(actor, object_name, record_id, {field_name: value or None}, version)

    def search(self, actor: Actor, object_name: str, text: str, limit: int = 20) -> dict[str, Any]:
        """Records whose name contains `text` (any case), for picking one in a lookup."""
        if object_name == "user":
            return self._search_users(text, limit)
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
        named = obj.name_field
        if named is None:
            return {"object": obj, "options": []}
        condition = f"CONTAINS(LOWER({named.api_name}), LOWER({_text(text.strip())}))" if text.strip() else None
        sort = named.api_name if named.ftype.indexable else None
        order = obj.order_field
        if order is not None and order.stored and order in self.visible(actor, obj):
            # A small object's records come in its order (stages in pipeline order), then by name.
            sort = f"{order.api_name},{sort}" if sort else order.api_name
        found = self.records.list(actor, object_name, fields=[named.api_name], sort=sort, limit=limit,
                                  filter=condition)
        return {"object": obj, "options": [{"id": r["id"], "name": r.get(named.api_name) or f"#{r['id']}"}
                                           for r in found["data"]]}

    def _search_users(self, text: str, limit: int) -> dict[str, Any]:
        """Active users by name or e-mail, for a user field (everyone signed in may pick one)."""
        pattern = f"%{text.strip().lower()}%"
        with self.kernel.read() as conn:
            rows = conn.execute(sa.select(users.c.id, users.c.name, users.c.email).where(
                users.c.is_active.is_(True),
                sa.or_(sa.func.lower(users.c.name).like(pattern), sa.func.lower(users.c.email).like(pattern)),
            ).order_by(users.c.name).limit(limit)).all()
        return {"object": None, "options": [{"id": r.id, "name": f"{r.name} <{r.email}>"} for r in rows]}

    # -- saved views ---------------------------------------------------------------------
    def saved(self, actor: Actor, object_name: str) -> list[dict[str, Any]]:
        """The views of an object the user may use: their own and the shared ones."""
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
            rows = conn.execute(sa.select(saved_views).where(
                saved_views.c.object_uid == obj.uid,
                sa.or_(saved_views.c.shared.is_(True), saved_views.c.owner_id == actor.user_id),
            ).order_by(saved_views.c.shared.desc(), saved_views.c.name)).mappings().all()
        return [{"id": r["id"], "name": r["name"], "shared": r["shared"], "mine": r["owner_id"] == actor.user_id,
                 "query": r["definition"]} for r in rows]

    def save(self, actor: Actor, object_name: str, name: str, query: ListQuery, *, shared: bool) -> dict[str, Any]:
        """Keep a list's columns, sort, filters and search words under a name; checked first
        (a view that cannot run is not saved). Sharing a view with everyone is for builders and admins."""
        name = name.strip()
        if not name or len(name) > 120:
            raise InvalidInput("Name the view.", [FieldProblem("name", "must be 1 to 120 characters")])
        if shared and not (actor.is_admin or actor.is_builder):
            raise Forbidden("Only builders and admins share views with everyone.")
        self.page(actor, object_name, ListQuery(columns=query.columns, sort=query.sort, conditions=query.conditions,
                                                formula=query.formula, limit=1, search=query.search))
        definition = {"columns": query.columns, "sort": query.sort, "conditions": query.conditions,
                      "formula": query.formula, **({"search": query.search} if query.search else {})}
        with self.kernel.write() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
            taken = conn.execute(sa.select(saved_views.c.id).where(
                saved_views.c.object_uid == obj.uid, saved_views.c.name == name,
                saved_views.c.owner_id == actor.user_id)).scalar()
            if taken is not None:
                conn.execute(sa.update(saved_views).where(saved_views.c.id == taken).values(
                    definition=definition, shared=shared))
                view_id = taken
            else:
                view_id = conn.execute(sa.insert(saved_views).values(
                    object_uid=obj.uid, name=name, owner_id=actor.user_id, shared=shared, definition=definition,
                    created_at=datetime.now(UTC)).returning(saved_views.c.id)).scalar_one()
        return {"id": view_id, "name": name, "shared": shared, "query": definition}

    def forget(self, actor: Actor, view_id: int) -> None:
        """Delete a saved view: one's own, or a shared one as an admin."""
        with self.kernel.write() as conn:
            row = conn.execute(sa.select(saved_views).where(saved_views.c.id == view_id)).mappings().first()
            if row is None or not (row["owner_id"] == actor.user_id or (row["shared"] and actor.is_admin)):
                raise NotFound(f"There is no view {view_id} of yours.")
            conn.execute(sa.delete(saved_views).where(saved_views.c.id == view_id))

    def bulk(self, actor: Actor, object_name: str, ids: list[int], action: str, field_name: str | None = None,
             value: Any = None) -> dict[str, Any]:
        """Update one field of, or delete, the chosen records; each goes through the save
        pipeline on its own, and the ones refused are reported with the reason."""
        if action not in ("update", "delete"):
            raise InvalidInput("Unknown bulk action.", [FieldProblem("action", "must be update or delete")])
        if action == "update" and not field_name:
            raise InvalidInput("Choose the field to set.", [FieldProblem("field", "is required")])
        done, refused = [], []
        for record_id in ids:
            try:
                if action == "delete":
                    self.records.delete(actor, object_name, record_id)
                else:
                    self.records.update(actor, object_name, record_id, {field_name: value}, None)
                done.append(record_id)
            except TesseraError as error:
                reason = error.errors[0].message if error.errors else error.detail
                refused.append({"id": record_id, "reason": reason})
        return {"done": done, "refused": refused}


def _cell(fdef: Column, record: dict[str, Any]) -> str:
    """A CSV cell: the value as stored (numbers stay numbers for a spreadsheet), a lookup or
    user as the name a person knows it by, a source's column as its cell reads."""
    if isinstance(fdef, ListColumn) or getattr(fdef.ftype, "reference", None) in ("record", "user"):
        return csv_text(record["_display"][fdef.api_name])
    value = record.get(fdef.api_name)
    if value is None:
        return ""
    if isinstance(value, list):
        return csv_text(", ".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return csv_text(value)


def cell_text(objects: dict[str, ObjectDef], fdef: FieldDef, record: dict[str, Any],
              zone: tzinfo = UTC) -> str:
    """One value of a record (as the API gives it) as a person reads it; instants in `zone`."""
    value = record.get(fdef.api_name)
    if value is None:
        return ""
    reference = getattr(fdef.ftype, "reference", None)
    if reference in ("record", "user"):
        named = (record.get("_expanded") or {}).get(fdef.api_name) or {}
        target = objects.get(str(fdef.props.get("target"))) if reference == "record" else None
        name_field = target.name_field if target is not None else None
        name = named.get(name_field.api_name) if name_field is not None else named.get("name")
        return str(name) if name else f"#{value}"
    if fdef.computed:
        if isinstance(value, bool):
            return "Yes" if value else "No"
        return _computed_text(fdef, value, zone)
    try:
        value = fdef.ftype.coerce(fdef, value)
        return fdef.ftype.display(fdef, value.astimezone(zone) if isinstance(value, datetime) else value)
    except (ValueError, TypeError, ArithmeticError):  # FieldValueError included
        return str(value)


def _computed_text(fdef: FieldDef, value: Any, zone: tzinfo) -> str:
    """A formula's value (as the API gives it: numbers and instants as text) as its field
    shows it: numbers grouped, as money or percentages; instants in `zone`."""
    if fdef.ftype.result_type(fdef) == FormulaType.DATETIME:
        try:
            return fdef.ftype.display(fdef, datetime.fromisoformat(str(value)).astimezone(zone))
        except ValueError:
            return str(value)
    return fdef.ftype.display(fdef, value)
