"""The line-items grid of a form: its columns, each line's cells as text, and the totals.

A `child_table` field shows its lines as a grid (widgets/lines.html, static/lines.js).
Each column is a field of the child object; how its cells are typed in follows the widget
its field type names (a lookup cell picks a record, a select cell an option, a number
cell is text aligned right), and a field whose widget has no cell form — or that is
computed, read-only, or locked for the person — is shown, not typed in. Number and money
columns are summed in the footer. Everything here is worked out from typed values the
caller hands in (pure: no database, no formula run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.fieldtypes.base import FormulaType
from tessera.meta.model import FieldDef

#: How a cell is typed in, by the widget template its field type names; a type whose
#: widget is not here (a file, a list of choices, JSON) is shown in the grid, not edited.
CELL_KINDS: dict[str, str] = {
    "widgets/text.html": "text",
    "widgets/textarea.html": "text",
    "widgets/number.html": "number",
    "widgets/date.html": "date",
    "widgets/select.html": "select",
    "widgets/checkbox.html": "checkbox",
    "widgets/lookup.html": "lookup",
}
#: Field types whose column the footer sums: counts and amounts (not shares or ratings).
SUMMED = frozenset({"integer", "decimal", "currency"})


@dataclass(frozen=True)
class GridColumn:
    """One column: the child's field and how its cells behave."""

    fdef: FieldDef
    #: text, number, date, select, checkbox, lookup — or "shown" (not typed in here).
    kind: str
    editable: bool
    summed: bool
    #: The lookup's target object (the cell searches its records as the lookup widget does).
    target: str | None = None
    #: The input's type for text and date cells (email, tel, date, datetime-local …).
    input_type: str = "text"
    unit: str = ""
    placeholder: str = ""
    options: tuple[tuple[str, str], ...] = ()
    #: The fields of the same line a default formula of this column reads: when one of
    #: them changes, the server's new value for this cell replaces the old one.
    fill_from: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.fdef.api_name

    @property
    def label(self) -> str:
        return self.fdef.label

    @property
    def required(self) -> bool:
        return self.editable and self.fdef.required

    @property
    def numeric(self) -> bool:
        return self.kind == "number" or _number_result(self.fdef)


@dataclass(frozen=True)
class GridCell:
    column: GridColumn
    #: What the input holds (the id for a lookup, "true" for a ticked box).
    value: str
    #: The value as a person reads it (a lookup's record name, an amount with its currency).
    display: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class GridRow:
    id: int | None
    cells: tuple[GridCell, ...]
    #: Problems of the line as a whole (`lines[2]`, `lines[2].id`).
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grid:
    """What widgets/lines.html draws for one line-items field."""

    name: str
    columns: tuple[GridColumn, ...]
    rows: tuple[GridRow, ...]
    #: The line a new row starts as (the fields' defaults).
    blank: GridRow
    totals: dict[str, str] = field(default_factory=dict)
    max_lines: int = 1000

    @property
    def editable(self) -> tuple[GridColumn, ...]:
        return tuple(c for c in self.columns if c.editable)

    @property
    def has_totals(self) -> bool:
        return any(c.summed for c in self.columns)


def grid_columns(fields: Sequence[FieldDef], *, locked: frozenset[str] = frozenset(),
                 fill_from: Mapping[str, Sequence[str]] | None = None,
                 totals: Sequence[str] | None = None) -> tuple[GridColumn, ...]:
    """The grid's columns for the child's `fields` (in order); `locked` ones the person may
    see but not change; `fill_from`, per field with a default formula, what it reads;
    `totals`, the columns the footer sums as the builder chose them (the line field's
    `totals`: a unit price summed over lines means nothing), else every count and amount."""
    out = []
    for fdef in fields:
        kind = CELL_KINDS.get(fdef.ftype.widget_template, "shown")
        editable = kind != "shown" and not fdef.read_only and not fdef.system and fdef.api_name not in locked
        context = _context(fdef, None)
        target = context.get("target") if kind == "lookup" else None
        options = tuple((str(o["value"]), str(o["label"])) for o in context.get("options", ())) \
            if kind == "select" else ()
        out.append(GridColumn(
            fdef=fdef, kind=kind if editable else "shown", editable=editable,
            summed=fdef.api_name in totals if totals is not None else fdef.type in SUMMED or _number_result(fdef),
            target=str(target) if target else None,
            input_type=str(context.get("input_type") or ("date" if kind == "date" else "text")),
            unit=str(context.get("unit") or ""), placeholder=str(context.get("placeholder") or ""),
            options=options, fill_from=tuple((fill_from or {}).get(fdef.api_name, ())),
        ))
    return tuple(out)


def grid(name: str, columns: tuple[GridColumn, ...], lines: Sequence[Mapping[str, Any]], *,
         texts: Sequence[Mapping[str, str]] = (), names: Mapping[str, str] | None = None,
         errors: Mapping[str, Sequence[str]] | None = None, blank: Mapping[str, Any] | None = None,
         zone: tzinfo = UTC, max_lines: int = 1000) -> Grid:
    """The grid of a line field `name` for `lines` (typed values by field, and `id` for a
    stored line). `texts`: per line, what was typed into cells that did not convert (shown
    back as typed); `names`: the names of the records lookup cells point at, by path
    (`lines[0].product`); `errors`: problems by path (`lines[2].quantity`, `lines[2]`)."""
    names, errors = names or {}, errors or {}
    rows = []
    for index, line in enumerate(lines):
        path = f"{name}[{index}]"
        typed = texts[index] if index < len(texts) else {}
        cells = tuple(_cell(column, line.get(column.name), typed.get(column.name), names.get(f"{path}.{column.name}"),
                            tuple(errors.get(f"{path}.{column.name}", ())), zone) for column in columns)
        own = tuple(m for key in (path, f"{path}.id") for m in errors.get(key, ()))
        # A problem with a field the grid does not show is the line's own.
        shown = {c.name for c in columns}
        own += tuple(m for key, ms in errors.items() if key.startswith(f"{path}.")
                     and key[len(path) + 1:] not in shown and key != f"{path}.id" for m in ms)
        line_id = line.get("id")
        rows.append(GridRow(line_id if isinstance(line_id, int) and not isinstance(line_id, bool) else None,
                            cells, own))
    empty = GridRow(None, tuple(_cell(c, (blank or {}).get(c.name), None, None, (), zone) for c in columns))
    return Grid(name, columns, tuple(rows), empty, totals(columns, lines), max_lines)


def totals(columns: Sequence[GridColumn], lines: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The footer: per summed column, the sum of its cells that hold a number, as the
    column's field shows numbers (an amount with its currency)."""
    out: dict[str, str] = {}
    for column in columns:
        if not column.summed:
            continue
        total: Decimal | None = None
        for line in lines:
            number = _number(line.get(column.name))
            if number is not None:
                total = number if total is None else total + number
        out[column.name] = _shown(column.fdef, Decimal(0) if total is None else total)
    return out


def cell_text(column: GridColumn, value: Any, zone: tzinfo = UTC) -> tuple[str, str]:
    """A value (typed, or as the API gives it) as (what the cell's input holds, what a
    person reads)."""
    if column.fdef.computed:
        shown = _shown(column.fdef, value)
        return shown, shown
    if value is not None:
        with suppress(FieldValueError, ValueError, TypeError, ArithmeticError):  # else shown as it is
            value = column.fdef.ftype.coerce(column.fdef, value)
    if isinstance(value, datetime):
        value = value.astimezone(zone)
    context = _context(column.fdef, value)
    if column.kind == "checkbox":
        return ("true" if value is True else "false"), str(context.get("display") or "")
    return str(context.get("value") or ""), str(context.get("display") or "")


def _cell(column: GridColumn, value: Any, typed: str | None, name: str | None, errors: tuple[str, ...],
          zone: tzinfo) -> GridCell:
    if typed is not None:
        return GridCell(column, typed, typed, errors)
    text, display = cell_text(column, value, zone)
    if column.target and value is not None:
        display = name or f"#{value}"
    return GridCell(column, text, display, errors)


def _context(fdef: FieldDef, value: Any) -> dict[str, Any]:
    try:
        return dict(fdef.ftype.widget_context(fdef, value))
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        return {"value": "" if value is None else str(value), "display": "" if value is None else str(value)}


def _shown(fdef: FieldDef, value: Any) -> str:
    """A value as the field shows it; a computed field's value may come as the API gave it."""
    if value is None:
        return ""
    if fdef.computed and isinstance(value, str) and _number_result(fdef):
        number = _number(value)
        value = number if number is not None else value
    try:
        if not fdef.computed:
            value = fdef.ftype.coerce(fdef, value)
        return fdef.ftype.display(fdef, value)
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        return str(value)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _number_result(fdef: FieldDef) -> bool:
    return fdef.computed and str(fdef.props.get("formula_type") or "") == FormulaType.NUMBER
