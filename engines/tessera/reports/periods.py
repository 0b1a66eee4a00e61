"""Period arithmetic for date-range filters: a preset (this month, last quarter, the last N
days…), a `FROM..TO` range or {"from", "to"} turned into the dates it covers, and the
period before it (what a KPI compares with).

    p = period("this_quarter", date(2024, 5, 15))   # Period(2024-04-01, 2024-06-30, "quarter")
    p.previous()                                     # Period(2024-01-01, 2024-03-31, "quarter")
    p.text()                                         # "2024-04-01..2024-06-30"

Weeks start on Monday; months, quarters and years are calendar ones. `today` is always an
argument, so the same value gives the same dates whatever the clock says.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

#: The named date ranges, with the label each is offered under.
PRESETS = {
    "today": "Today", "this_week": "This week", "last_week": "Last week", "this_month": "This month",
    "last_month": "Last month", "this_quarter": "This quarter", "last_quarter": "Last quarter",
    "this_year": "This year", "last_year": "Last year", "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days", "last_90_days": "Last 90 days", "last_365_days": "Last 365 days",
}


@dataclass(frozen=True)
class Period:
    """Dates from `start` to `end`, both included (either may be open). `unit` says how to
    step to the previous period: a calendar month, quarter, year or week, else its length."""

    start: date | None
    end: date | None
    unit: str | None = None

    def previous(self) -> Period | None:
        if self.start is None or self.end is None:
            return None
        if self.unit in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.unit]
            return Period(_add_months(self.start, -months), self.start - timedelta(days=1), self.unit)
        length = (self.end - self.start).days + 1
        return Period(self.start - timedelta(days=length), self.start - timedelta(days=1), self.unit)

    def text(self) -> str:
        return f"{self.start.isoformat() if self.start else ''}..{self.end.isoformat() if self.end else ''}"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def period(value: Any, today: date) -> Period | None:
    """A date-range filter's value as dates: a preset name, `YYYY-MM-DD..YYYY-MM-DD` (either
    side may be left out) or {"from", "to"}; blank or `all` is no filter. Raises ValueError."""
    if value is None or value == "" or value == "all":
        return None
    if isinstance(value, Mapping):
        start, end = value.get("from"), value.get("to")
        return Period(date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None)
    text = str(value).strip()
    if ".." in text:
        left, _, right = text.partition("..")
        found = Period(date.fromisoformat(left) if left else None, date.fromisoformat(right) if right else None)
        if found.start and found.end and found.start > found.end:
            raise ValueError("the range ends before it starts")
        return found
    month = date(today.year, today.month, 1)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    year = date(today.year, 1, 1)
    monday = today - timedelta(days=today.weekday())
    presets: dict[str, Callable[[], Period]] = {
        "today": lambda: Period(today, today),
        "this_week": lambda: Period(monday, monday + timedelta(days=6), "week"),
        "last_week": lambda: Period(monday - timedelta(days=7), monday - timedelta(days=1), "week"),
        "this_month": lambda: Period(month, _month_end(month), "month"),
        "last_month": lambda: Period(_add_months(month, -1), month - timedelta(days=1), "month"),
        "this_quarter": lambda: Period(quarter, _add_months(quarter, 3) - timedelta(days=1), "quarter"),
        "last_quarter": lambda: Period(_add_months(quarter, -3), quarter - timedelta(days=1), "quarter"),
        "this_year": lambda: Period(year, date(today.year, 12, 31), "year"),
        "last_year": lambda: Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), "year"),
    }
    if text in presets:
        return presets[text]()
    if text.startswith("last_") and text.endswith("_days") and text[5:-5].isdigit():
        days = int(text[5:-5])
        if 1 <= days <= 3660:
            return Period(today - timedelta(days=days - 1), today)
    raise ValueError(f"{text!r} is not a date range: use a preset ({', '.join(PRESETS)}) or FROM..TO dates")
