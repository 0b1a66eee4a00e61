"""The `iban` field type: validated with its check digits, stored compact, shown in groups."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tessera.meta.fieldtypes import FieldType, FieldValueError, FormulaType
from tessera.meta.model import FieldDef
from tessera_example.iban import compact, grouped, problem


class IbanField(FieldType):
    name = "iban"
    label = "IBAN"
    formula_type = FormulaType.TEXT
    searchable = True  # people look an account up by its IBAN
    options_schema = {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(34)

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "maxLength": 50}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise FieldValueError("must be an IBAN like DE89 3704 0044 0532 0130 00")
        iban = compact(value)
        wrong = problem(iban)
        if wrong:
            raise FieldValueError(wrong)
        country = field.props.get("country")
        if country and not iban.startswith(country):
            raise FieldValueError(f"must be an IBAN from {country}")
        return iban

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else grouped(value)

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        # The form's input holds the IBAN as people write it; saving reads it back either way.
        return {**super().widget_context(field, value), "value": self.display(field, value)}

    def search_text(self, field: FieldDef, value: Any) -> str:
        return f"{grouped(value)} {value}"
