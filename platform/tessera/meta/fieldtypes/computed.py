"""Computed field types: formula and rollup. Their values are worked out from other fields
(and, for rollups, from child records): in the query by default, or, with `"store": true`,
kept in a column of the result's type that the platform recomputes when an input changes
(so it can be indexed, and lists sort and filter on it without computing it).

The metadata service checks the expression when the field is saved and records the type of
its result in `formula_type`, which decides the column type and how values travel in JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from tessera.meta.columns import ScaledDecimal, UtcDateTime, json_column
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.fieldtypes.numbers import decimal_text
from tessera.meta.model import FieldDef
from tessera.meta.percents import percent_text
from tessera.meta.times import readable

RESULT_TYPES = [FormulaType.TEXT, FormulaType.NUMBER, FormulaType.BOOLEAN, FormulaType.DATE,
                FormulaType.DATETIME, FormulaType.DURATION, FormulaType.LIST, FormulaType.RECORD,
                FormulaType.JSON, "blank"]
ROLLUP_FUNCTIONS = ("count", "sum", "avg", "min", "max")
#: Decimal places a stored number keeps when the field names no `scale`.
STORED_SCALE = 6

_SCHEMAS: dict[str, dict[str, Any]] = {
    FormulaType.TEXT: {"type": "string"},
    FormulaType.NUMBER: {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
    FormulaType.BOOLEAN: {"type": "boolean"},
    FormulaType.DATE: {"type": "string", "format": "date"},
    FormulaType.DATETIME: {"type": "string", "format": "date-time"},
    FormulaType.DURATION: {"type": "integer"},
    FormulaType.LIST: {"type": "array", "items": {"type": "string"}},
    FormulaType.RECORD: {"type": "integer"},
    FormulaType.JSON: {},
}


def _number_text(value: Decimal, quantum: Decimal | None) -> str:
    """A computed number as JSON carries it: to `quantum` when the builder chose the places."""
    if quantum is not None:
        # A builder-chosen number of places, as money fields have ("25.50").
        return format(value.quantize(quantum, rounding=ROUND_HALF_UP), "f")
    # Otherwise the places the value needs: 12.50 * 2 is "25", not "25.0000".
    text = decimal_text(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class _Computed(FieldType):
    stored = False
    computed = True
    takes_default = False
    convertible = False

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        """The column of a stored formula, after its result type."""
        if not field.stored:
            raise TypeError(f"a {self.name} field that is not stored has no column")
        result = self.result_type(field)
        if result == FormulaType.NUMBER:
            return ScaledDecimal(38, self.scale(field))
        if result in (FormulaType.DURATION, FormulaType.RECORD):
            return sa.BigInteger()
        if result in (FormulaType.LIST, FormulaType.JSON):
            return json_column()
        return {FormulaType.BOOLEAN: sa.Boolean(), FormulaType.DATE: sa.Date(),
                FormulaType.DATETIME: UtcDateTime()}.get(result, sa.Text())

    def scale(self, field: FieldDef) -> int:
        """Decimal places of a stored number."""
        scale = field.props.get("scale")
        return STORED_SCALE if scale is None else int(scale)

    def result_type(self, field: FieldDef) -> str:
        return str(field.props.get("formula_type") or FormulaType.TEXT)

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return dict(_SCHEMAS.get(self.result_type(field), {}))

    def coerce(self, field: FieldDef, value: Any) -> Any:
        raise FieldValueError("is computed and cannot be set")

    def to_json(self, field: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Decimal):
            scale = field.props.get("scale")
            return _number_text(value, None if scale is None else Decimal(1).scaleb(-int(scale)))
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, date):
            return value.isoformat()
        return value

    def json_converter(self, field: FieldDef) -> Callable[[Any], Any] | None:
        if type(self).to_json is not _Computed.to_json:
            return super().json_converter(field)
        scale = field.props.get("scale")
        # A number's places read once per field, not once per value (a page has many).
        quantum = None if scale is None else Decimal(1).scaleb(-int(scale))
        to_json = self.to_json

        def convert(value: Any) -> Any:
            return _number_text(value, quantum) if type(value) is Decimal else to_json(field, value)
        return convert

    def display(self, field: FieldDef, value: Any) -> str:
        """The value as a page shows it: a number grouped (and, with `"format"`, as money
        with its currency or as a percentage, like the fields of those types), a time
        readably, anything else as in JSON. Takes the value worked out or as JSON carries it."""
        value = self._from_json(field, value)
        if isinstance(value, Decimal) and value.is_finite():
            scale = field.props.get("scale")
            shown_as = field.props.get("format")
            if shown_as == "percent":
                return percent_text(value, 2 if scale is None else int(scale))
            # The places JSON gives it (the field's scale, else those it needs), grouped.
            text = format(Decimal(str(self.to_json(field, value))), ",f")
            code = field.props.get("currency")
            return f"{text} {code}" if shown_as == "currency" and code else text
        if isinstance(value, datetime):
            return readable(value, value.tzinfo or UTC)
        shown = self.to_json(field, value)
        return "" if shown is None else str(shown)

    def _from_json(self, field: FieldDef, value: Any) -> Any:
        """A number or an instant back from its JSON text (other values as they are)."""
        if not isinstance(value, str):
            return value
        result = self.result_type(field)
        try:
            if result == FormulaType.NUMBER:
                return Decimal(value)
            if result == FormulaType.DATETIME:
                return datetime.fromisoformat(value)
        except (ValueError, ArithmeticError):
            pass
        return value

    #: Computed values are shown, never typed in.
    widget_template = "widgets/computed.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        shown = self.display(field, value)
        return {"value": shown, "display": shown, "result_type": self.result_type(field)}


@register
class FormulaField(_Computed):
    """A value computed from the record's fields, lookups and related records."""

    name = "formula"
    label = "Formula"
    options_schema = {
        "expression": {"type": "string", "minLength": 1, "maxLength": 10_000},
        "formula_type": {"enum": RESULT_TYPES},
        "scale": {"type": "integer", "minimum": 0, "maximum": 10},
        "format": {"enum": ["number", "currency", "percent"],
                   "description": "How pages show a number result: grouped (number), as money with "
                                  "`currency`, or as a percentage (12.5 reads 12.5 %)."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "store": {"type": "boolean"},
        "scope": {"enum": ["all", "viewer"]},
    }
    required_options = ("expression",)


@register
class RollupField(_Computed):
    """An aggregate of child records: `function` over `field` of the records in `relation`
    (a lookup's related_name), optionally only those matching `filter` (a formula)."""

    name = "rollup"
    label = "Rollup"
    options_schema = {
        "relation": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "function": {"enum": list(ROLLUP_FUNCTIONS)},
        "field": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "filter": {"type": "string", "minLength": 1, "maxLength": 10_000},
        "expression": {"type": "string"},
        "formula_type": {"enum": RESULT_TYPES},
        "scale": {"type": "integer", "minimum": 0, "maximum": 10},
        "format": {"enum": ["number", "currency", "percent"],
                   "description": "How pages show a number result: grouped (number), as money with "
                                  "`currency`, or as a percentage (12.5 reads 12.5 %)."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "store": {"type": "boolean"},
        "scope": {"enum": ["all", "viewer"]},
    }
    required_options = ("relation", "function")

    @staticmethod
    def expression_of(props: dict[str, Any]) -> str:
        """The formula a rollup stands for, e.g. SUM(deals.amount, deals.stage = "won")."""
        function, relation = str(props["function"]).upper(), props["relation"]
        args = [f"{relation}.{props['field']}" if props.get("field") else relation]
        if props.get("filter"):
            args.append(str(props["filter"]))
        return f"{function}({', '.join(args)})"
