"""Line items being filled in on a form: the grid's lines worked out as the save would.

While a person edits a record's lines, the form posts them whole (the grid's hidden JSON
input: per line its cells' texts, as each cell's widget would post them, and a stored
line's `id`). Here they are read back cell by cell through the child object's field types,
laid over the stored lines by id, and worked out in Python as the save pipeline would —
nothing is written:

- a cell whose field has a default formula gets the formula's value for its line
  (`product.list_price` once a product is picked): a blank cell of a new line is filled,
  as the pipeline fills it, and the page replaces a value it filled before when a field
  the formula reads changes (the grid's columns say which: `fill_from`);
- each line's formulas (`net`), then the record's formulas over its lines
  (`SUM(lines.net)`), which see the lines being typed instead of the stored ones.

The form service answers the page with the results (cells, fills, totals, problems at
`lines[2].quantity`) and draws the grid from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, TesseraError
from tessera.forms import Placement, coerce_values
from tessera.forms.grid import Grid, GridColumn, cell_text, grid, grid_columns, totals
from tessera.forms.lines import columns as placed_columns
from tessera.formula import EvalContext, FormulaError
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.fieldtypes.lines import max_lines
from tessera.meta.model import FieldDef, ObjectDef
from tessera.meta.times import from_local_input
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.formulas import FormulaService, as_input
from tessera.runtime.records.lines import LineSet, line_sets
from tessera.runtime.records.service import RecordService

#: Records named by one query (a record's lines may point at many products).
_NAMES_AT_ONCE = 200
#: (snapshot, object, record, context): works out the object's computed fields in `record`.
Compute = Callable[[Snapshot, ObjectDef, dict[str, Any], EvalContext], None]
#: (snapshot, object, context) → evaluate(formula source, record).
Evaluator = Callable[[Snapshot, ObjectDef, EvalContext], Callable[[str, Mapping[str, Any]], Any]]


def read_posted(child: ObjectDef, items: list[Any], zone: tzinfo) -> list[Any]:
    """The posted lines of one field (`ChildTableField.widget_value`'s lists of texts) as
    API input: each cell read by its field's widget, as a form post of that widget would
    be. A cell the grid never edits (computed, read-only, kept by the platform) is dropped:
    the page sent it back unchanged. A cell pasted from a spreadsheet the way an import
    reads it ("€1,200.00", "12 %") is taken as the import would take it; text neither
    reads is kept as typed, for the save to say what is wrong with it beside the cell."""
    out: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(item)
            continue
        line: dict[str, Any] = {}
        for name, text in item.items():
            fdef = child.field(name)
            if name == "id" or fdef is None:
                line[name] = text  # an unknown name is refused by the save, at its place
                continue
            if fdef.read_only or fdef.system:
                continue
            if not isinstance(text, str):
                line[name] = text
                continue
            if fdef.type == "datetime":
                text = from_local_input(text, zone)
            line[name] = _read_cell(fdef, text)
        out.append(line)
    return out


def _read_cell(fdef: FieldDef, text: str) -> Any:
    try:
        value = fdef.ftype.widget_value(fdef, [text])
    except FieldValueError:
        return text
    try:
        fdef.ftype.coerce(fdef, value)
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        try:
            imported = fdef.ftype.parse_import(fdef, text)
        except (FieldValueError, ValueError, TypeError, ArithmeticError):
            return value  # the save says what is wrong with it, beside the cell
        return fdef.ftype.to_json(fdef, imported)
    return value


@dataclass
class TypedLines:
    """One line field's lines as they are being typed, worked out as the save would."""

    lines: LineSet
    #: Per line: its values as stored Python values (computed fields worked out), `id`.
    records: list[dict[str, Any]]
    #: Per line: what was typed into cells that did not convert (shown back as typed).
    texts: list[dict[str, str]]
    #: Per line: the values the child's default formulas give it now.
    fills: list[dict[str, Any]]
    #: Whether the lines came from the form (else they are the stored ones).
    posted: bool
    hidden: frozenset[str] = frozenset()
    locked: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.lines.field.api_name


@dataclass
class TypedSet:
    """Every line field of a record being filled in."""

    fields: dict[str, TypedLines] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def posted(self) -> bool:
        return any(t.posted for t in self.fields.values())

    def context(self, ctx: EvalContext) -> EvalContext:
        """`ctx` with the lines being typed in place of the stored ones, for the record's
        formulas over its lines (`SUM(lines.net)`); lines not posted are read as stored."""
        rows = {(t.lines.child.uid, t.lines.link.uid): t.records for t in self.fields.values() if t.posted}
        if not rows:
            return ctx
        return _WithLines.over(ctx, rows)


class _WithLines(EvalContext):
    """An evaluation context whose line lists are the ones being typed: a record not saved
    yet has lines too, and a saved one's formulas see the changes not saved yet."""

    __slots__ = ("typed",)

    @classmethod
    def over(cls, ctx: EvalContext, rows: dict[tuple[str, str], list[dict[str, Any]]]) -> EvalContext:
        everything = None if ctx.everything is None else cls.over(ctx.everything, rows)
        made = cls(user=ctx.user, now=ctx.now, clock=ctx.clock, prior=ctx.prior, load_record=ctx.load_record,
                   load_children=ctx.load_children, scope=ctx.scope, everything=everything)
        made.typed = rows
        return made

    def children(self, child: ObjectDef, lookup: FieldDef, parent_id: Any) -> Iterable[Mapping[str, Any]]:
        found = self.typed.get((child.uid, lookup.uid))
        return found if found is not None else super().children(child, lookup, parent_id)


class LineFilling:
    """Works out the lines of a form being filled in and draws their grids."""

    def __init__(self, formulas: FormulaService, access: AccessService, records: RecordService,
                 compute: Compute, evaluator: Evaluator) -> None:
        self.formulas = formulas
        self.access = access
        self.records = records
        self.compute = compute
        self.evaluator = evaluator

    # -- the lines as typed ---------------------------------------------------------------
    def typed(self, snap: Snapshot, actor: Actor, obj: ObjectDef, stored: Mapping[str, Any] | None,
              values: Mapping[str, Any], ctx: EvalContext, hidden: frozenset[str]) -> TypedSet:
        """Each line field's lines: the posted ones over the stored ones, else the stored."""
        out = TypedSet()
        for lines in line_sets(snap, obj):
            name = lines.field.api_name
            if name in hidden:
                continue
            access = self.access.object(actor, snap, lines.child)
            kept = [line for line in (stored or {}).get(name) or [] if isinstance(line, Mapping)]
            posted = values.get(name)
            typed = TypedLines(lines, [], [], [], isinstance(posted, list),
                               frozenset(access.hidden), frozenset(access.read_only))
            parent_id = (stored or {}).get("id")
            if isinstance(posted, list):
                self._posted(typed, posted, kept, parent_id, out.problems)
                self._work_out(snap, typed, ctx)
            else:
                # As stored: their formulas came worked out with them, and nothing is filled.
                typed.records = [_typed_line(lines.child, line) for line in kept]
                typed.texts = [{} for _ in kept]
                typed.fills = [{} for _ in kept]
            out.fields[name] = typed
        return out

    def _posted(self, typed: TypedLines, posted: list[Any], kept: list[Mapping[str, Any]], parent_id: Any,
                problems: list[FieldProblem]) -> None:
        child, name = typed.lines.child, typed.name
        by_id = {line.get("id"): line for line in kept}
        for index, item in enumerate(posted[:max_lines(typed.lines.field)]):
            item = item if isinstance(item, Mapping) else {}
            line_id = item.get("id")
            known = line_id if isinstance(line_id, int) and not isinstance(line_id, bool) and line_id in by_id \
                else None  # an id that is no stored line's is refused by the save, at its place
            base = _typed_line(child, by_id[known]) if known is not None else {}
            given = {k: v for k, v in item.items() if k != "id" and k not in typed.hidden}
            values, wrong = coerce_values(child, given)
            record = {**base, **values, "id": known, typed.lines.link.api_name: parent_id}
            for blank in {p.field for p in wrong}:
                record[blank] = None  # what does not convert counts as nothing in the totals
            typed.records.append(record)
            typed.texts.append({p.field: str(given.get(p.field)) for p in wrong if given.get(p.field) is not None})
            problems += [FieldProblem(f"{name}[{index}].{p.field}", p.message, p.code) for p in wrong]

    def _work_out(self, snap: Snapshot, typed: TypedLines, ctx: EvalContext) -> None:
        """Default formulas, then each line's formulas, for the lines as typed."""
        child = typed.lines.child
        defaults = [f for f in child.fields if f.props.get("default_formula") and not f.read_only
                    and f.api_name not in typed.hidden]
        computed = any(f.computed for f in child.fields)
        evaluate = self.evaluator(snap, child, ctx.unscoped()) if defaults else None
        for record in typed.records:
            fills: dict[str, Any] = {}
            for fdef in defaults:
                assert evaluate is not None
                try:
                    value = fdef.ftype.coerce(fdef, as_input(evaluate(str(fdef.props["default_formula"]), record)))
                except (FormulaError, FieldValueError, ValueError, TypeError, ArithmeticError, LookupError):
                    continue
                if value is None:
                    continue
                fills[fdef.api_name] = value
                # As the save fills a new line's blank cell.
                if record.get("id") is None and fdef.ftype.is_blank(record.get(fdef.api_name)):
                    record[fdef.api_name] = value
            typed.fills.append(fills)
            if computed:
                self.compute(snap, child, record, ctx)

    # -- what the page shows --------------------------------------------------------------
    def columns(self, snap: Snapshot, typed: TypedLines, placement: Placement | None) -> tuple[GridColumn, ...]:
        """The grid's columns: those the placement (or the field) chose, without the ones the
        person may not see; those they may not change are shown, not edited."""
        child = typed.lines.child
        fields = [f for f in placed_columns(placement, typed.lines.field, child) if f.api_name not in typed.hidden]
        reads: dict[str, list[str]] = {}
        for fdef in fields:
            source = fdef.props.get("default_formula")
            if source:
                try:
                    reads[fdef.api_name] = list(self.formulas.checked(snap, child, str(source)).fields)
                except FormulaError:
                    continue
        chosen = typed.lines.field.props.get("totals")
        return grid_columns(fields, locked=typed.locked, fill_from=reads,
                            totals=[str(name) for name in chosen] if isinstance(chosen, list) else None)

    def grid(self, actor: Actor, snap: Snapshot, typed: TypedLines, placement: Placement | None,
             errors: Mapping[str, Sequence[str]], zone: tzinfo) -> Grid:
        """The grid the widget draws for one line field."""
        columns = self.columns(snap, typed, placement)
        names = self.names(actor, snap, typed, columns)
        blank = {f.api_name: _default(f) for f in typed.lines.child.fields if f.default is not None}
        return grid(typed.name, columns, typed.records, texts=typed.texts, names=names, errors=errors,
                    blank=blank, zone=zone, max_lines=typed.lines.cap)

    def state(self, actor: Actor, snap: Snapshot, typed: TypedLines, placement: Placement | None,
              zone: tzinfo) -> dict[str, Any]:
        """What the page applies to the grid as the person types: per line the cells it does
        not edit (a line's formulas) and the values default formulas give (with the names of
        records a lookup is filled with), and the footer's totals."""
        columns = self.columns(snap, typed, placement)
        shown = [c for c in columns if not c.editable and not c.target]
        filled = {c.name: c for c in columns if c.editable and c.fill_from}
        names = self.names(actor, snap, typed, [c for c in filled.values() if c.target], fills=True)
        rows = []
        for index, (record, fills) in enumerate(zip(typed.records, typed.fills, strict=True)):
            cells = {c.name: cell_text(c, record.get(c.name), zone)[1] for c in shown}
            given = {}
            for name, value in fills.items():
                column = filled.get(name)
                if column is None:
                    continue
                text, display = cell_text(column, value, zone)
                if column.target:
                    display = names.get(f"{typed.name}[{index}].{name}", display)
                given[name] = {"value": text, "display": display}
            rows.append({"cells": cells, "fills": given})
        return {"rows": rows, "totals": totals(columns, typed.records)}

    def names(self, actor: Actor, snap: Snapshot, typed: TypedLines, columns: Sequence[GridColumn], *,
              fills: bool = False) -> dict[str, str]:
        """The names of the records lookup cells point at, by path (`lines[0].product`):
        one query per target object, only records the person may read."""
        wanted: dict[str, set[int]] = {}
        places: list[tuple[str, str, int]] = []
        for column in columns:
            if not column.target:
                continue
            for index, record in enumerate(typed.records):
                value = (typed.fills[index] if fills else record).get(column.name)
                if isinstance(value, int) and not isinstance(value, bool):
                    wanted.setdefault(column.target, set()).add(value)
                    places.append((f"{typed.name}[{index}].{column.name}", column.target, value))
        found: dict[tuple[str, int], str] = {}
        for target, ids in wanted.items():
            found.update({(target, i): n for i, n in self._names(actor, snap, target, ids).items()})
        return {path: found[(target, value)] for path, target, value in places if (target, value) in found}

    def _names(self, actor: Actor, snap: Snapshot, target: str, ids: set[int]) -> dict[int, str]:
        if target == "user":
            return {}  # people are named by the lookup endpoint; a line rarely holds one
        obj = snap.objects.get(target)
        named = obj.name_field if obj is not None else None
        if named is None or not ids:
            return {}
        out: dict[int, str] = {}
        wanted = sorted(ids)
        for start in range(0, len(wanted), _NAMES_AT_ONCE):
            chunk = wanted[start:start + _NAMES_AT_ONCE]
            try:
                found = self.records.list(actor, target, fields=[named.api_name], limit=len(chunk),
                                          filter=" OR ".join(f"id = {i}" for i in chunk))
            except TesseraError:
                return out
            out.update({int(r["id"]): str(r.get(named.api_name) or f"#{r['id']}") for r in found["data"]})
        return out


def _typed_line(child: ObjectDef, line: Mapping[str, Any]) -> dict[str, Any]:
    """A stored line as the API gives it, as the stored Python values formulas read
    (computed values kept as they came)."""
    out: dict[str, Any] = {"id": line.get("id")}
    for fdef in child.fields:
        if fdef.api_name not in line:
            continue
        value = line[fdef.api_name]
        if fdef.computed or value is None:
            out[fdef.api_name] = value
            continue
        try:
            out[fdef.api_name] = fdef.ftype.coerce(fdef, value)
        except (FieldValueError, ValueError, TypeError, ArithmeticError):
            out[fdef.api_name] = value
    return out


def _default(fdef: FieldDef) -> Any:
    try:
        return fdef.ftype.coerce(fdef, fdef.default)
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        return None

