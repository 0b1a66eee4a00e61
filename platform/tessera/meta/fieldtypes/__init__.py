"""The field-type registry with Tessera's built-in types registered.

Importing this package registers every built-in type; `field_type(name)` finds one.
"""

from tessera.meta.fieldtypes import choices, computed, dates, lines, misc, numbers, references, text
from tessera.meta.fieldtypes.base import (
    FieldType,
    FieldValueError,
    FormulaType,
    field_type,
    field_types,
    register,
)

__all__ = [
    "FieldType",
    "FieldValueError",
    "FormulaType",
    "choices",
    "computed",
    "dates",
    "field_type",
    "field_types",
    "lines",
    "misc",
    "numbers",
    "references",
    "register",
    "text",
]
