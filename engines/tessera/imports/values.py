"""Reading one column's cells as what a field holds — pure.

People's spreadsheets write dates as 2026-03-01, 01/03/2026, 3/1/2026, 01.03.2026 or
2026年3月1日; numbers as 1,234.56, 1.234,56, 1 234,56, $1,200 or 12%; yes and no as Yes/No,
Y/N, TRUE/FALSE, 1/0 or 是/否. A column's conventions are worked out once from its values
(`date_order`, `number_style`), and each cell is then read with them; a cell that does not fit
gives a `CellError` with the reason, never a guess. Typed spreadsheet cells (numbers, dates,
booleans) are taken as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any


class CellError(ValueError):
    """A cell that cannot be read as the column's type; the message says why."""


# -- dates ----------------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_CJK = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$")
_THREE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
DMY, MDY = "DMY", "MDY"


def date_order(values: Iterable[Any]) -> str | None:
    """DMY or MDY for a column of day/month dates, from the values that settle it (a first
    part over 12 is a day: DMY; a second part over 12: MDY); None when none settles it
    (the import asks) or the column has none."""
    for value in values:
        match = _THREE.match(str(value).strip()) if isinstance(value, str) else None
        if match:
            first, second = int(match.group(1)), int(match.group(2))
            if first > 12 >= second:
                return DMY
            if second > 12 >= first:
                return MDY
    return None


def needs_order(values: Iterable[Any]) -> bool:
    """Whether a column has day/month dates at all (so its order matters)."""
    return any(isinstance(v, str) and _THREE.match(v.strip()) for v in values)


def read_date(value: Any, order: str | None = None) -> date:
    if value.__class__ is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        # The commonest form, 2026-03-01, without the regular expressions (any other
        # spelling, or a day the calendar lacks, goes the long way and is told why).
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return _parts(str(value).strip(), order)[0]


def read_datetime(value: Any, order: str | None = None) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    day, clock = _parts(str(value).strip(), order)
    return datetime.combine(day, clock or time())


def _parts(text: str, order: str | None) -> tuple[date, time | None]:
    """The day and the time of day (if written) of a date in one of the usual forms."""
    if match := _CJK.match(text):
        return _date(int(match.group(1)), int(match.group(2)), int(match.group(3)), text), None
    if match := _ISO.match(text):
        day = _date(int(match.group(1)), int(match.group(2)), int(match.group(3)), text)
    elif match := _THREE.match(text):
        if order is None:
            raise CellError(f"{text!r} could be day/month or month/day: say which the file uses")
        a, b, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        year += 2000 if year < 100 else 0
        day = _date(year, *((b, a) if order == DMY else (a, b)), text)
    else:
        raise CellError(f"{text!r} is not a date")
    if match.group(4) is None:
        return day, None
    hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise CellError(f"{text!r} has no such time of day")
    return day, time(hour, minute, second)


def _date(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError(f"{text!r} is not a day of the calendar") from None


# -- numbers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NumberStyle:
    """How a column writes numbers: its decimal mark and the thousands separator it may use."""

    decimal: str = "."
    thousands: str = ","


POINT = NumberStyle(".", ",")
COMMA = NumberStyle(",", ".")
_SIGNS = re.compile(r"[$€£¥₹₩₽¥元￥]|\b(?:USD|EUR|GBP|CNY|RMB|JPY|CHF|INR)\b", re.IGNORECASE)
_SPACES = re.compile(r"[\s\u00a0\u202f']")
#: A number once its signs, spaces and thousands separators are gone.
_PLAIN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def number_style(values: Iterable[Any]) -> NumberStyle:
    """The column's decimal mark, from the values that show it: a mark followed by other
    than three digits, or the last of two different marks, is the decimal one."""
    for value in values:
        if not isinstance(value, str):
            continue
        text = _SPACES.sub("", _SIGNS.sub("", value)).strip("%+-() ")
        marks = [c for c in text if c in ".,"]
        if not marks:
            continue
        if len(set(marks)) == 2:
            return POINT if marks[-1] == "." else COMMA
        mark = marks[0]
        tail = text.rsplit(mark, 1)[1]
        if len(marks) == 1 and len(tail) != 3:
            return POINT if mark == "." else COMMA
        if len(marks) > 1:  # 1.234.567 or 1,234,567: thousands only
            return COMMA if mark == "." else POINT
    return POINT


def read_number(value: Any, style: NumberStyle = POINT, *, percent: bool = False) -> Decimal:
    """A decimal from a cell; currency signs and codes, spaces and thousands separators go.
    `percent`: "12%" and 12 both mean twelve per cent; a "%" is only allowed then."""
    if value.__class__ is str:
        # A plain number ("1,234.50": digits, the marks and a sign only) reads as it is once
        # its thousands separators go; anything else (signs, spaces, brackets) the long way.
        plain = value.replace(style.thousands, "").replace(style.decimal, ".")
        if _PLAIN.fullmatch(plain):
            return Decimal(plain)
    if isinstance(value, bool):
        raise CellError(f"{value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    text = str(value).strip()
    negative = text.startswith("(") and text.endswith(")")
    cleaned = _SPACES.sub("", _SIGNS.sub("", text.strip("()")))
    if cleaned.endswith("%"):
        if not percent:
            raise CellError(f"{text!r} is a percentage, not a number")
        cleaned = cleaned[:-1]
    cleaned = cleaned.replace(style.thousands, "").replace(style.decimal, ".")
    if not _PLAIN.fullmatch(cleaned):
        raise CellError(f"{text!r} is not a number")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise CellError(f"{text!r} is not a number") from None
    return -number if negative else number


# -- yes and no ------------------------------------------------------------------------------

YES = frozenset({"yes", "y", "true", "t", "1", "x", "on", "是", "对", "真", "ja", "oui", "si", "sí"})
NO = frozenset({"no", "n", "false", "f", "0", "off", "否", "错", "假", "nein", "non"})


def read_boolean(value: Any, yes: Iterable[str] = (), no: Iterable[str] = ()) -> bool:
    """Yes or no from the usual words in several languages, and any the mapping adds."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in YES or word in {w.lower() for w in yes}:
        return True
    if word in NO or word in {w.lower() for w in no}:
        return False
    raise CellError(f"{str(value).strip()!r} is not yes or no")
