"""Date and date-time field types."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from tessera.meta.columns import UtcDateTime
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef
from tessera.meta.times import readable

_BOUND = {"type": "string", "maxLength": 40}
_IMPORT_DATES = ("%Y/%m/%d", "%Y.%m.%d")


@register
class DateField(FieldType):
    name = "date"
    label = "Date"
    formula_type = FormulaType.DATE
    constraints = frozenset({"min", "max"})
    options_schema = {"min": _BOUND, "max": _BOUND}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Date()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value.__class__ is date:  # the common case first: a save coerces every value
            return value
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
            except ValueError:
                pass
        raise FieldValueError("must be a date like 2024-12-31")

    def to_json(self, field: FieldDef, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        if isinstance(cell, str):
            text = cell.strip()
            # Year-first dates with other separators are unambiguous; day/month orders are not
            # and are left to the importer's column settings.
            for layout in _IMPORT_DATES:
                try:
                    return datetime.strptime(text, layout).date()
                except ValueError:
                    continue
        return super().parse_import(field, cell)

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else value.isoformat()

    widget_template = "widgets/date.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "input_type": "date",
                "min": field.props.get("min"), "max": field.props.get("max")}


@register
class DateTimeField(FieldType):
    """A point in time; input without a zone is taken as UTC, output is always UTC."""

    name = "datetime"
    label = "Date and time"
    formula_type = FormulaType.DATETIME
    constraints = frozenset({"min", "max"})
    options_schema = {"min": _BOUND, "max": _BOUND}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return UtcDateTime()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d\d-\d\d"}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise FieldValueError(
                    "must be a date and time like 2024-12-31T17:30:00Z"
                ) from None
        else:
            raise FieldValueError("must be a date and time like 2024-12-31T17:30:00Z")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise FieldValueError("is out of range") from None
        # Microseconds are dropped so that both backends return what was written.
        return moment.replace(microsecond=0)

    def to_json(self, field: FieldDef, value: Any) -> Any:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def display(self, field: FieldDef, value: Any) -> str:
        # In the zone the value carries: UTC as stored, the reader's when a page converted it.
        return "" if value is None else readable(value, value.tzinfo or UTC)

    widget_template = "widgets/date.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        # A datetime-local input has no zone: it shows the value in the zone the value
        # carries (the form renders it in the reader's), and the form post reads it back so.
        local = "" if value is None else value.strftime("%Y-%m-%dT%H:%M:%S")
        zone = "UTC" if value is None else str(getattr(value.tzinfo, "key", None) or value.tzname() or "UTC")
        return {**super().widget_context(field, value), "value": local, "input_type": "datetime-local",
                "step": "1", "zone": zone}
