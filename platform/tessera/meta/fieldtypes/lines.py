"""The line-items field type (`child_table`): a record's lines, such as a quote's products.

A `child_table` field holds no value of its own. Its lines are records of a child object
(`"child": true`) with their own table, linked to the parent by a lookup the platform adds
to the child (`"system": "parent"`) and kept in order by a `line_number` field it adds too.
The record API reads and writes them with their parent (runtime/records/lines.py).
"""

from __future__ import annotations

from typing import Any

from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef

#: Lines a record carries unless its field says otherwise (`max_lines`).
DEFAULT_MAX_LINES = 1000
#: The most any field may allow: a record is read and written whole.
MOST_LINES = 5000


@register
class ChildTableField(FieldType):
    name = "child_table"
    label = "Line items"
    formula_type = FormulaType.LIST
    stored = False
    lines = True
    takes_default = False
    indexable = False
    convertible = False
    options_schema = {
        "target": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "max_lines": {"type": "integer", "minimum": 1, "maximum": MOST_LINES},
        "columns": {"type": "array", "maxItems": 50,
                    "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}},
    }
    required_options = ("target",)
    widget_template = "widgets/lines.html"

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "array", "maxItems": max_lines(field), "items": {"type": "object"}}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldValueError("must be a list of lines")
        return value

    def display(self, field: FieldDef, value: Any) -> str:
        count = len(value or [])
        return f"{count} line" if count == 1 else f"{count} lines"


def parent_link_doc(parent_name: str, parent_label: str, lines: FieldDef) -> dict[str, Any]:
    """The lookup a child object gets to the record its lines belong to. Its uid follows
    from the line field's, so checks made before the child is attached name the same field."""
    return {"uid": f"{lines.uid}p", "api_name": parent_name, "label": parent_label, "type": "lookup",
            "target": parent_name, "on_delete": "cascade", "related_name": lines.api_name,
            "related_label": lines.label, "required": True, "read_only": True, "system": "parent"}


def line_number_doc(lines: FieldDef) -> dict[str, Any]:
    """The read-only field keeping each line's place (1, 2, 3 …) among its siblings."""
    return {"uid": f"{lines.uid}n", "api_name": "line_number", "label": "Line", "type": "integer",
            "read_only": True, "system": "line_number", "min": 1}


def max_lines(field: FieldDef) -> int:
    """How many lines a record may have in this field."""
    return int(field.props.get("max_lines") or DEFAULT_MAX_LINES)
