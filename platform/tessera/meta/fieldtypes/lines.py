"""The line-items field type (`child_table`): a record's lines, such as a quote's products.

A `child_table` field holds no value of its own. Its lines are records of a child object
(`"child": true`) with their own table, linked to the parent by a lookup the platform adds
to the child (`"system": "parent"`) and kept in order by a `line_number` field it adds too.
The record API reads and writes them with their parent (runtime/records/lines.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
        # The columns the grid's footer sums (quantity, net — not the unit price); without
        # it, every count and amount.
        "totals": {"type": "array", "maxItems": 50,
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

    # -- the grid on a form (widgets/lines.html, static/lines.js) ------------------------
    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        """`value`: the lines as the form posts them back unchanged (JSON: a stored line by
        its id alone, so a save that never touched the grid keeps every line as it is; a
        line not saved yet with its values). The page script rewrites it from the grid
        whenever a cell changes."""
        lines = [line for line in (value or []) if isinstance(line, Mapping)]
        kept = [_as_posted(line) for line in lines]
        return {"value": json.dumps(kept, ensure_ascii=False, separators=(",", ":")),
                "display": self.display(field, lines), "count": len(lines)}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        """The grid's hidden input: a JSON list of lines, each an object of cell texts as
        the cells' own widgets would post them (`"quantity": "2"`) and, for a stored line,
        its `id`. Each cell is read by its child field afterwards (runtime/forms/lines.py)."""
        text = (posted[-1] if posted else "").strip()
        if not text:
            return []
        try:
            lines = json.loads(text)
        except ValueError:
            raise FieldValueError("could not be read: the lines were not sent as a JSON list") from None
        if not isinstance(lines, list):
            raise FieldValueError("could not be read: the lines were not sent as a list")
        if len(lines) > max_lines(field):
            raise FieldValueError(f"has {len(lines)} lines; at most {max_lines(field)} are allowed")
        out: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise FieldValueError(f"could not be read: line {number} is not an object of cells")
            out.append({str(name): _cell(name, text, number) for name, text in line.items()})
        return out


def _as_posted(line: Mapping[str, Any]) -> dict[str, Any]:
    """A line as the grid posts it when nothing changed: its id, or its own values."""
    line_id = line.get("id")
    if isinstance(line_id, int) and not isinstance(line_id, bool):
        return {"id": line_id}
    return {str(k): v for k, v in line.items() if not str(k).startswith("_") and _postable(v)}


def _postable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(name: str, value: Any, number: int) -> Any:
    """One cell of a posted line: its text (a number or true/false as their text), an id
    as an integer."""
    if name == "id":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        raise FieldValueError(f"could not be read: line {number} has an id that is no record's id")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise FieldValueError(f"could not be read: line {number}'s {name!r} is not text")


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
