"""The types values have inside formulas, and how field types map onto them."""

from __future__ import annotations

from tessera.meta.fieldtypes.base import FormulaType

TEXT = FormulaType.TEXT
NUMBER = FormulaType.NUMBER
BOOLEAN = FormulaType.BOOLEAN
DATE = FormulaType.DATE
DATETIME = FormulaType.DATETIME
DURATION = FormulaType.DURATION
LIST = FormulaType.LIST
RECORD = FormulaType.RECORD
JSON = FormulaType.JSON
#: The type of BLANK(): fits wherever any other type is expected.
BLANK = "blank"

VALUE_TYPES = (TEXT, NUMBER, BOOLEAN, DATE, DATETIME, DURATION, LIST, RECORD)
#: Types whose values have an order, so < <= > >= MIN and MAX apply.
ORDERED = frozenset({TEXT, NUMBER, DATE, DATETIME, DURATION})


def unify(*types: str) -> str | None:
    """The one type a set of branch types share (blank fits anything), or None."""
    found = {t for t in types if t != BLANK}
    if not found:
        return BLANK
    if len(found) == 1:
        return found.pop()
    return None


def article(type_name: str) -> str:
    """'a number', 'an e-mail'… for messages people read."""
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name
