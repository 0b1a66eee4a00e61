"""What goes into a cell of an exported spreadsheet (CSV or XLSX): values a person exported,
never a formula that a spreadsheet program runs when the file is opened.

Text a record holds may start with `=`, `+`, `-`, `@`, a tab or a carriage return, which
Excel, LibreOffice and Google Sheets read as the start of a formula (`=HYPERLINK(…)`,
`=cmd|' /C calc'!A0`). Such text is written with a leading apostrophe — the spreadsheet
programs' own mark for "this is text" — so it shows as typed and runs nothing. Numbers stay
numbers: a negative amount (`-1200.50`) is a number, not a formula, and is kept as it is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

#: The characters a spreadsheet program takes as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A number as Tessera writes one in JSON (money and decimals travel as text): `-1200.50`.
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")


def is_number_text(text: str) -> bool:
    """Whether text is a plain decimal number (`-12`, `3.5`), which is safe as it is."""
    return _NUMBER.fullmatch(text) is not None


def csv_text(value: Any) -> str:
    """A CSV cell: blank for None, the text as typed, a formula-like text made inert."""
    if value is None:
        return ""
    text = str(value)
    # Only text can carry a formula; numbers, dates and booleans are written as they are.
    if isinstance(value, str) and text.startswith(FORMULA_STARTS) and not is_number_text(text):
        return "'" + text
    return text


def xlsx_value(value: Any) -> Any:
    """An XLSX cell's value: numbers as numbers (money and decimals travel as text and are
    turned back into numbers), other text made inert like `csv_text`. openpyxl stores a
    string starting with `=` as a formula, so no such string may reach it."""
    if isinstance(value, str):
        if is_number_text(value):
            return Decimal(value)
        return csv_text(value)
    return value
