"""How a cell of a spreadsheet becomes a field's value.

The built-in types whose cells follow a column's conventions (a date order, a decimal mark,
yes/no words, option labels) have a reader here (`READERS`); any other type — a plugin's
too — reads its cells through its own `FieldType.parse_import`, the one door a field type
has for values typed by people. A reader gets the cell after the column's value map and
returns what the save pipeline takes for the field (it coerces and checks again, so a reader
only has to understand how people write things in spreadsheets). Text is never coerced:
"007" and "+86 138 0013 8000" stay as written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from tessera.imports.values import (
    COMMA,
    POINT,
    CellError,
    NumberStyle,
    read_boolean,
    read_date,
    read_datetime,
    read_number,
)
from tessera.meta.model import FieldDef


@dataclass(frozen=True)
class ColumnOptions:
    """What the person importing said about one column."""

    #: "DMY" or "MDY" for dates like 03/04/2026 (found from the column when it can be).
    date_order: str | None = None
    #: The decimal mark: "." (1,234.56) or "," (1.234,56).
    decimal: str = "."
    #: Extra words for yes and no, beside the usual ones.
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()
    #: Cell text → the value meant ("GTXPro" → "GTX Pro"; "Select" → "" leaves it blank).
    values: Mapping[str, str] = field(default_factory=dict)
    #: A blank cell clears the field on update (otherwise blanks leave values alone).
    clear: bool = False
    #: The field of a lookup's target that cells name records by (default: its name field).
    match: str | None = None
    #: A lookup value naming no record creates one (for targets that need only a name).
    create_missing: bool = False

    @property
    def number_style(self) -> NumberStyle:
        return COMMA if self.decimal == "," else POINT

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> ColumnOptions:
        raw = raw or {}
        return cls(
            date_order=raw.get("date_order") or None,
            decimal="," if raw.get("decimal") == "," else ".",
            yes=tuple(str(w) for w in raw.get("yes") or ()),
            no=tuple(str(w) for w in raw.get("no") or ()),
            values={str(k).strip().casefold(): str(v) for k, v in (raw.get("values") or {}).items()},
            clear=bool(raw.get("clear")),
            match=raw.get("match") or None,
            create_missing=bool(raw.get("create_missing")),
        )


#: A reader: (cell, field, column options) → the value for the pipeline.
Reader = Callable[[Any, FieldDef, ColumnOptions], Any]
READERS: dict[str, Reader] = {}
#: Field types whose cells name a record or a user, found in the database, not read here.
REFERENCES = frozenset({"lookup", "user"})
#: Field types a cell cannot hold (files are uploaded, not typed).
NOT_IMPORTED = frozenset({"attachment"})


def reader(*type_names: str) -> Callable[[Reader], Reader]:
    def register(read: Reader) -> Reader:
        for name in type_names:
            READERS[name] = read
        return read
    return register


def importable(fdef: FieldDef) -> bool:
    """Whether cells can be imported into the field: a stored value a person writes."""
    if not fdef.stored or fdef.read_only or fdef.deprecated or fdef.system is not None:
        return False
    try:
        return not fdef.ftype.lines and fdef.type not in NOT_IMPORTED
    except KeyError:
        return False  # a field type no longer registered (its plugin gone)


def blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def mapped(cell: Any, options: ColumnOptions) -> Any:
    """The cell after the column's value map ("Select" → blank, "GTXPro" → "GTX Pro"). The
    apostrophe an export put before a formula-like cell ("'=A1", "'+86 …") is dropped."""
    if isinstance(cell, str) and len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@":
        cell = cell[1:]
    if options.values and cell is not None:
        hit = options.values.get(as_text(cell).strip().casefold())
        if hit is not None:
            return hit if hit.strip() else None
    return cell


def reader_of(fdef: FieldDef) -> Reader:
    """How the field's cells read: its type's reader here, or its field type's own
    parse_import. A reader raises CellError (or the field type's FieldValueError) with the reason."""
    own = READERS.get(fdef.type)
    if own is not None:
        return own
    ftype = fdef.ftype
    return lambda cell, field, options: ftype.parse_import(field, cell)


#: Types whose cells repeat (a few hundred days, a handful of options): each column reads a
#: text once and remembers what it read, up to _REMEMBERED texts.
_REPEATING = frozenset({"date", "datetime", "select", "boolean"})
_REMEMBERED = 5000
#: Text types whose readers only trim (a long text keeps its spaces).
_TRIMMED = frozenset({"text", "rich_text", "email", "phone", "url"})


def column_reader(fdef: FieldDef, options: ColumnOptions) -> Callable[[Any], Any]:
    """How one column's cells read, worked out once for the column: the type's reader with
    the field and the options bound, a text field's trim inline, and the texts of repeating
    types remembered (a reader is a pure function of the cell, the field and the options)."""
    if fdef.type in _TRIMMED and READERS.get(fdef.type) is _text:
        return lambda cell: cell.strip() if cell.__class__ is str else as_text(cell).strip()
    read = reader_of(fdef)
    if fdef.type not in _REPEATING:
        return lambda cell: read(cell, fdef, options)
    known: dict[str, Any] = {}

    def remembered(cell: Any) -> Any:
        if cell.__class__ is not str:  # typed cells: 1 and True are equal keys, and read apart
            return read(cell, fdef, options)
        value = known.get(cell, known)
        if value is known:
            value = read(cell, fdef, options)
            if len(known) < _REMEMBERED:
                known[cell] = value
        return value

    return remembered


def as_text(cell: Any) -> str:
    """A cell as a person reads it: 42 not 42.0, dates as ISO."""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ") if cell.time() != datetime.min.time() else cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, Decimal):
        return format(cell, "f")
    return str(cell)


@reader("text", "long_text", "rich_text", "email", "phone", "url")
def _text(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    text = cell if cell.__class__ is str else as_text(cell)
    return text.strip() if fdef.type != "long_text" else text


@reader("integer", "rating")
def _integer(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    number = read_number(cell, options.number_style)
    if number != number.to_integral_value():
        raise CellError(f"{as_text(cell)!r} is not a whole number")
    return int(number)


@reader("decimal", "currency")
def _decimal(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    return read_number(cell, options.number_style)


@reader("percent")
def _percent(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    # A spreadsheet's typed 12 % is the number 0.12; written "12%" or 12 it means twelve.
    if isinstance(cell, float) and not isinstance(cell, bool) and abs(cell) < 1 and cell != 0:
        return read_number(cell * 100)
    return read_number(cell, options.number_style, percent=True)


@reader("date")
def _date(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    return read_date(cell, options.date_order)


@reader("datetime")
def _datetime(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    return read_datetime(cell, options.date_order)


@reader("boolean")
def _boolean(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    return read_boolean(cell, options.yes, options.no)


@lru_cache(maxsize=512)
def _options(fdef: FieldDef) -> tuple[dict[str, str], str]:
    """A field's options by their folded values and labels, and their labels as shown
    (worked out once per field, not once per cell)."""
    choices = [o for o in fdef.props.get("options", []) if not o.get("deprecated")]
    named: dict[str, str] = {}
    for choice in choices:
        value = str(choice.get("value"))
        named.setdefault(str(choice.get("label", value)).strip().casefold(), value)
        named[value.casefold()] = value
    labels = [str(o.get("label", o.get("value"))) for o in choices]
    return named, ", ".join(labels[:12]) + (", …" if len(labels) > 12 else "")


def option(text: str, fdef: FieldDef) -> str:
    """The option a cell names by its value or its label, trimmed and in any case; a cell
    naming none is refused with the labels people know the options by."""
    named, shown = _options(fdef)
    found = named.get(text.strip().casefold())
    if found is None:
        raise CellError(f"{text.strip()!r} is not one of the {fdef.label} options ({shown})")
    return found


@reader("select")
def _select(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    return option(cell if cell.__class__ is str else as_text(cell), fdef)


@reader("multi_select")
def _multi_select(cell: Any, fdef: FieldDef, options: ColumnOptions) -> Any:
    text = as_text(cell)
    parts = text.split(";") if ";" in text else text.split(",")
    return [option(named, fdef) for p in parts if p.strip() and (named := mapped(p.strip(), options))]


def words(values: Iterable[Any]) -> list[str]:
    """Distinct non-blank texts of cells, in order (the names a lookup column uses)."""
    return list(dict.fromkeys(as_text(v).strip() for v in values if not blank(v)))
