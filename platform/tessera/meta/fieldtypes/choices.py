"""Choice field types: boolean, select and multi-select."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from tessera.meta.columns import json_column
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef

_TRUE = {"true", "yes", "y", "1", "on", "x", "✓"}
_FALSE = {"false", "no", "n", "0", "off", ""}

OPTIONS_SCHEMA = {
    "type": "array",
    "maxItems": 500,
    "items": {
        "type": "object",
        "required": ["value"],
        "additionalProperties": False,
        "properties": {
            "value": {"type": "string", "minLength": 1, "maxLength": 255},
            "label": {"type": "string", "maxLength": 255},
            "color": {"type": "string", "maxLength": 32},
            "description": {"type": "string", "maxLength": 1000},
            "deprecated": {"type": "boolean", "description": "Removed by a later version of the package "
                           "that made it: values already stored stay valid, pickers no longer offer it."},
        },
    },
}


@register
class BooleanField(FieldType):
    name = "boolean"
    label = "Checkbox"
    formula_type = FormulaType.BOOLEAN

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Boolean()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "boolean"}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"anyOf": [self.value_schema(field), {"type": "integer", "enum": [0, 1]}]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise FieldValueError("must be true or false")

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        if isinstance(cell, str):
            text = cell.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return None if text == "" else False
        if isinstance(cell, float) and cell in (0.0, 1.0):
            # Spreadsheet numbers arrive as floats.
            cell = int(cell)
        return self.coerce(field, cell)

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else ("Yes" if value else "No")

    widget_template = "widgets/checkbox.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "checked": value is True}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        # A hidden "false" comes first, the ticked box's "true" after it.
        return None if not posted else posted[-1] == "true"


def option_values(field: FieldDef) -> list[str]:
    return list(_values(field))


@lru_cache(maxsize=4096)
def _values(field: FieldDef) -> tuple[str, ...]:
    # A field definition never changes (a new metadata snapshot makes new ones): its options
    # are listed once, not once per value saved.
    return tuple(option["value"] for option in field.props.get("options", []))


@lru_cache(maxsize=4096)
def _labels(field: FieldDef) -> dict[str, str]:
    return {o["value"]: o.get("label") or o["value"] for o in field.props.get("options", [])}


def _choices(field: FieldDef, chosen: list[str]) -> list[dict[str, Any]]:
    """The options as a widget lists them, the chosen ones marked."""
    return [{"value": o["value"], "label": o.get("label") or o["value"], "color": o.get("color"),
             "description": o.get("description"), "selected": o["value"] in chosen}
            for o in field.props.get("options", []) if not o.get("deprecated") or o["value"] in chosen]


def _match(field: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldValueError("must be one of the field's options")
    values = _values(field)
    if value in values:
        return value
    # People type labels and change case; accept either when it is unambiguous.
    folded = value.strip().casefold()
    hits = {v for v, label in _labels(field).items() if folded in (v.casefold(), label.casefold())}
    if len(hits) == 1:
        return hits.pop()
    shown = ", ".join(values[:10]) + (", …" if len(values) > 10 else "")
    raise FieldValueError(f"{value!r} is not an option; choose one of: {shown}")


@register
class SelectField(FieldType):
    name = "select"
    label = "Select"
    formula_type = FormulaType.TEXT
    options_schema = {"options": OPTIONS_SCHEMA}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(255)

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "enum": option_values(field) or [""]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        return _match(field, value)

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else _labels(field).get(value, value)

    def default_options(self, field: FieldDef) -> dict[str, Any]:
        return {"options": []}

    widget_template = "widgets/select.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "options": _choices(field, [] if value is None else [value])}


@register
class MultiSelectField(FieldType):
    name = "multi_select"
    label = "Multi-select"
    formula_type = FormulaType.LIST
    indexable = False
    options_schema = {
        "options": OPTIONS_SCHEMA,
        "max_items": {"type": "integer", "minimum": 1, "maximum": 500},
    }

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return json_column()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "enum": option_values(field) or [""]},
            "uniqueItems": True,
        }

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        # An option named twice counts once, so the input may repeat one.
        schema = {k: v for k, v in self.value_schema(field).items() if k != "uniqueItems"}
        # Or the options in one text, separated by semicolons ("new;won").
        return {"anyOf": [{**schema, "maxItems": field.props.get("max_items", 500)}, {"type": "string"}]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "" or value == []:
            return None
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(";")) if part]
        if not isinstance(value, list):
            raise FieldValueError("must be a list of options")
        chosen: list[str] = []
        for item in value:
            option = _match(field, item)
            if option not in chosen:
                chosen.append(option)
        limit = field.props.get("max_items")
        if limit and len(chosen) > limit:
            raise FieldValueError(f"allows at most {limit} choices")
        # Stored in the options' order so equal sets compare equal.
        order = {v: i for i, v in enumerate(option_values(field))}
        return sorted(chosen, key=order.__getitem__) or None

    def display(self, field: FieldDef, value: Any) -> str:
        labels = _labels(field)
        return "; ".join(labels.get(v, v) for v in value or [])

    def default_options(self, field: FieldDef) -> dict[str, Any]:
        return {"options": []}

    widget_template = "widgets/multi_select.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {"value": "", "display": self.display(field, value), "options": _choices(field, list(value or []))}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        return [p for p in posted if p] or None
