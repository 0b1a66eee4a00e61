"""JSON and autonumber field types."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tessera.meta.columns import json_column
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef


@register
class JsonField(FieldType):
    name = "json"
    label = "JSON"
    formula_type = FormulaType.JSON
    indexable = False
    max_bytes = 1_000_000

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return json_column()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise FieldValueError("must be JSON (no NaN or Infinity)") from None
        if "\\u0000" in text:
            raise FieldValueError("must not contain NUL characters")
        if len(text) > self.max_bytes:
            raise FieldValueError("is larger than 1 MB")
        return value

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        # A cell holds JSON as text; text that is not JSON is kept as a JSON string.
        if isinstance(cell, str):
            try:
                cell = json.loads(cell)
            except ValueError:
                cell = cell.strip()
        return self.coerce(field, cell)

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else json.dumps(value, ensure_ascii=False)

    widget_template = "widgets/json.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        text = "" if value is None else json.dumps(value, ensure_ascii=False, indent=2)
        return {"value": text, "display": self.display(field, value)}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        text = posted[-1] if posted else ""
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as error:
            raise FieldValueError(f"must be JSON: {error.args[0]}") from None


@register
class AutonumberField(FieldType):
    """A unique, readable number the platform assigns on create, e.g. `TCK-000042`."""

    name = "autonumber"
    label = "Auto number"
    formula_type = FormulaType.TEXT
    system_generated = True
    searchable = True  # people look tickets up by their number
    # A unique index backs the sequence: numbers are meant to identify records.
    always_unique = True
    convertible = False
    options_schema = {
        "prefix": {"type": "string", "maxLength": 20, "pattern": "^[^{}]*$"},
        "digits": {"type": "integer", "minimum": 1, "maximum": 12},
        "start": {"type": "integer", "minimum": 0},
    }

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(40)

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string"}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise FieldValueError("must be text")
        return value

    def format(self, field: FieldDef, number: int) -> str:
        digits = int(field.props.get("digits", 6))
        return f"{field.props.get('prefix', '')}{number:0{digits}d}"

    def default_options(self, field: FieldDef) -> dict[str, Any]:
        return {"prefix": "", "digits": 6, "start": 1}
