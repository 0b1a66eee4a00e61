"""Drill-down: the formula that selects the records behind one cell of a report, for the
record list's `filter=` (it reads the same fields, so the records are exactly those the
cell counted, within the reader's permissions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from tessera.reports.definition import Grouping, Plan, Problem, ReportError


def drill_filter(plan: Plan, cell: Mapping[str, Any]) -> str:
    """The report's filter AND one condition per grouping named in `cell` (its value as the
    report returned it; None for the blank group)."""
    known = {g.name: g for g in plan.groupings}
    parts = [f"({plan.filter.source})"] if plan.filter is not None else []
    problems = [Problem(f"/cell/{name}", f"the report has no grouping named {name!r}", "unknown_name")
                for name in cell if name not in known]
    for name, value in cell.items():
        g = known.get(name)
        if g is None:
            continue
        try:
            parts.append(_condition(g, value, plan.fiscal_start))
        except (ValueError, InvalidOperation, TypeError):
            problems.append(Problem(f"/cell/{name}", f"{value!r} is not a value of {g.label}"))
    if problems:
        raise ReportError(problems)
    return " AND ".join(parts) if parts else "TRUE"


def _condition(g: Grouping, value: Any, fiscal_start: int) -> str:
    path = g.path
    if value is None:
        return f"ISBLANK({path})" if g.type != "boolean" else f"NOT({path})"
    if g.bucket:
        start, end = _bucket_range(g.bucket, str(value), fiscal_start)
        subject = f"DATEVALUE({path})" if g.checked.type == "datetime" else path
        return f"({subject} >= {_date(start)} AND {subject} < {_date(end)})"
    t = g.type
    if t == "boolean":
        if not isinstance(value, bool):
            raise ValueError(value)
        return path if value else f"NOT({path})"
    if t == "number":
        return f"{path} = {format(Decimal(str(value)), 'f')}"
    if t == "duration":
        return f"SECONDS({path}) = {int(value)}"
    if t == "record":
        return f"{path}.id = {int(value)}"
    if t == "date":
        return f"{path} = {_date(date.fromisoformat(str(value)))}"
    if t == "datetime":
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return f"{path} = DATETIME({at.year}, {at.month}, {at.day}, {at.hour}, {at.minute}, {at.second})"
    return f"{path} = {_text(str(value))}"


def _bucket_range(bucket: str, label: str, fiscal_start: int) -> tuple[date, date]:
    if bucket == "day":
        day = date.fromisoformat(label)
        return day, day + timedelta(days=1)
    if bucket == "week":
        monday = date.fromisoformat(label)
        return monday, monday + timedelta(days=7)
    if bucket == "month":
        year, month = (int(p) for p in label.split("-"))
        first = year * 12 + month - 1
        return _month(first), _month(first + 1)
    if bucket == "year":
        first = int(label) * 12 + fiscal_start - 1
        return _month(first), _month(first + 12)
    year_text, quarter_text = label.split("-Q")
    first = int(year_text) * 12 + fiscal_start - 1 + (int(quarter_text) - 1) * 3
    if not 1 <= int(quarter_text) <= 4:
        raise ValueError(label)
    return _month(first), _month(first + 3)


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _date(d: date) -> str:
    return f"DATE({d.year}, {d.month}, {d.day})"


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
