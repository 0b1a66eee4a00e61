"""Field types that point elsewhere: lookup (another record), user and attachment.

Their values are checked against the database by the save pipeline, which asks each type's
`reference` kind which table must hold the value.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa

from tessera.meta.columns import json_column
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef

ON_DELETE = ("restrict", "set_null", "cascade")


class _RecordId(FieldType):
    formula_type = FormulaType.RECORD
    convertible = False
    #: What the value names: "record" of `props["target"]`, or "user".
    reference: ClassVar[str]

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        # The id, its digits as text, or the record itself as read ({"id": 7, …}).
        return {"anyOf": [self.value_schema(field), {"type": "string", "pattern": r"^\s*[0-9]{1,19}\s*$"},
                          {"type": "object", "required": ["id"], "properties": {"id": self.value_schema(field)}}]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value.__class__ is int and 0 < value < 2**63:  # the common case first: an id
            return value
        if value is None or value == "":
            return None
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise FieldValueError("must be the id of a record")
        return value

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        if isinstance(cell, float) and cell.is_integer():
            # Spreadsheet numbers arrive as floats.
            cell = int(cell)
        return super().parse_import(field, cell)

    def on_delete(self, field: FieldDef) -> str:
        return str(field.props.get("on_delete", "set_null"))

    widget_template = "widgets/lookup.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        """`target`: the object whose records the widget searches as the user types (the
        caller passes the chosen record's name as the field's display)."""
        return {**super().widget_context(field, value), "target": self.target(field)}

    def target(self, field: FieldDef) -> str:
        return "user"


@register
class LookupField(_RecordId):
    """A reference to a record of another (or the same) object: a real foreign key."""

    name = "lookup"
    label = "Lookup"
    reference = "record"
    options_schema = {
        "target": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "on_delete": {"enum": list(ON_DELETE)},
        "related_name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "related_label": {"type": "string", "maxLength": 120},
    }
    required_options = ("target",)

    def target(self, field: FieldDef) -> str:
        return str(field.props["target"])


@register
class UserField(_RecordId):
    name = "user"
    label = "User"
    reference = "user"
    options_schema = {"on_delete": {"enum": ["restrict", "set_null"]}}


@register
class AttachmentField(FieldType):
    """Files kept on disk under the attachments directory; the row keeps their metadata."""

    name = "attachment"
    label = "Attachment"
    formula_type = FormulaType.LIST
    indexable = False
    convertible = False
    # A file belongs to the record it was uploaded to; one file cannot be every record's.
    takes_default = False
    reference = "attachment"
    options_schema = {
        "max_files": {"type": "integer", "minimum": 1, "maximum": 100},
        "accept": {"type": "array", "items": {"type": "string", "maxLength": 100}},
    }

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return json_column()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "size", "content_type"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "size": {"type": "integer"},
                    "content_type": {"type": "string"},
                },
            },
        }

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        item = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
        return {
            "type": "array",
            "maxItems": field.props.get("max_files", 100),
            "items": {"anyOf": [item, {"type": "object", "required": ["id"], "properties": {"id": item}}]},
        }

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == [] or value == "":
            return None
        if not isinstance(value, list):
            raise FieldValueError("must be a list of uploaded file ids")
        ids: list[str] = []
        for item in value:
            file_id = item.get("id") if isinstance(item, dict) else item
            if not isinstance(file_id, str) or len(file_id) != 32 or not _is_hex(file_id):
                raise FieldValueError("must be a list of uploaded file ids")
            if file_id not in ids:
                ids.append(file_id)
        limit = field.props.get("max_files")
        if limit and len(ids) > limit:
            raise FieldValueError(f"allows at most {limit} files")
        # The save pipeline replaces each id with the file's stored metadata.
        return [{"id": file_id} for file_id in ids]

    def check_files(self, field: FieldDef, files: list[dict[str, Any]]) -> str | None:
        """Whether uploaded files fit `accept`: MIME types (`application/pdf`), families
        (`image/*`) or name endings (`.docx`)."""
        accept = [a.strip().lower() for a in field.props.get("accept") or [] if a.strip()]
        if not accept:
            return None
        for item in files:
            kind, name = item.get("content_type", "").lower(), item.get("name", "").lower()
            if not any(kind == a or (a.endswith("/*") and kind.startswith(a[:-1]))
                       or (a.startswith(".") and name.endswith(a)) for a in accept):
                return f"{item.get('name')!r} is not an accepted kind of file ({', '.join(accept)})"
        return None

    def display(self, field: FieldDef, value: Any) -> str:
        return ", ".join(item.get("name", item["id"]) for item in value or [])

    widget_template = "widgets/attachment.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        files = [{"id": item["id"], "name": item.get("name", item["id"]), "size": item.get("size"),
                  "content_type": item.get("content_type", "")} for item in value or []]
        return {"value": "", "display": self.display(field, value), "files": files,
                "max_files": field.props.get("max_files", 100), "accept": ",".join(field.props.get("accept") or [])}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        return [p for p in posted if p] or None


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
