"""Date, date-time and duration functions. Date-times are points in time and are read in
UTC (YEAR(created_at) is the UTC year); dates outside years 1 to 9999 are blank."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tessera.formula.ast import Node
from tessera.formula.functions import pg
from tessera.formula.functions.registry import ArgError, Example, Function, literal_text, register, same, sig
from tessera.formula.types import BLANK, DATE, DATETIME, DURATION, NUMBER
from tessera.formula.values import div, int_arg, num, utc

_EPOCH = date(1, 1, 1)  # a Monday, which makes working-day arithmetic a closed formula
_DATE_UNITS = ("year", "quarter", "month", "week", "day")
_TIME_UNITS = ("hour", "minute", "second")
_SECONDS = {"hour": 3600, "minute": 60, "second": 1}
_MONTHS = {"year": 12, "quarter": 3, "month": 1}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BIG = 10**9


def _d(value: Any) -> date:
    """The calendar date of a date or (UTC) date-time."""
    return utc(value).date() if isinstance(value, datetime) else value


def _make_date(y: Any, m: Any, d: Any) -> date | None:
    if y is None or m is None or d is None:
        return None
    try:
        return date(int(y), int(m), int(d))
    except (ValueError, OverflowError):
        return None


def _make_datetime(y: Any, m: Any, d: Any, h: Any = 0, mi: Any = 0, s: Any = 0) -> datetime | None:
    day = _make_date(y, m, d)
    if day is None or h is None or mi is None or s is None:
        return None
    hh, mm, ss = int(h), int(mi), int(s)
    if not (0 <= hh <= 23 and 0 <= mm <= 59 and 0 <= ss <= 59):
        return None
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


def add_months(value: Any, months: int) -> Any:
    """Calendar month arithmetic that keeps the day, or the month's last day if shorter."""
    base = utc(value) if isinstance(value, datetime) else value
    total = base.year * 12 + base.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    day = min(base.day, calendar.monthrange(year, month + 1)[1])
    return base.replace(year=year, month=month + 1, day=day)


def _dateadd(value: Any, n: Any, unit: str) -> Any:
    if value is None or n is None:
        return None
    unit = unit.lower()
    k = int_arg(n, -_BIG, _BIG)
    try:
        if unit in _MONTHS:
            return add_months(value, k * _MONTHS[unit])
        if unit in ("week", "day"):
            return value + timedelta(days=k * (7 if unit == "week" else 1))
        return utc(value) + timedelta(seconds=k * _SECONDS[unit])
    except OverflowError:
        return None


def _months_between(a: date, b: date) -> int:
    raw = (b.year - a.year) * 12 + b.month - a.month
    if b >= a and b.day < a.day:
        raw -= 1
    elif b < a and b.day > a.day:
        raw += 1
    return raw


def _tdiv(a: int, b: int) -> int:
    """Integer division toward zero, as SQL's div does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _datediff(start: Any, end: Any, unit: str) -> Decimal | None:
    if start is None or end is None:
        return None
    unit = unit.lower()
    if unit in _MONTHS:
        return Decimal(_tdiv(_months_between(_d(start), _d(end)), _MONTHS[unit]))
    if isinstance(start, datetime):
        seconds = int((utc(end) - utc(start)).total_seconds())
    else:
        seconds = (end - start).days * 86400
    per = {"week": 604800, "day": 86400, **_SECONDS}[unit]
    return Decimal(_tdiv(seconds, per))


def _workday(start: Any, n: Any) -> date | None:
    if start is None or n is None:
        return None
    k = int_arg(n, -_BIG, _BIG)
    if k == 0:
        return start
    weeks, rest = divmod((start - _EPOCH).days, 7)
    index = 5 * weeks + (min(rest, 4) if k > 0 else min(rest, 5)) + k
    try:
        return _EPOCH + timedelta(days=7 * (index // 5) + index % 5)
    except OverflowError:
        return None


def _eomonth(value: Any, n: Any) -> date | None:
    if value is None or n is None:
        return None
    moved = add_months(_d(value).replace(day=1), int_arg(n, -_BIG, _BIG))
    if moved is None:
        return None
    return moved.replace(day=calendar.monthrange(moved.year, moved.month)[1])


def _datevalue(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _d(value)
    text = value.strip(" \t\n\r")
    if not _ISO_DATE.fullmatch(text):
        return None
    return _make_date(text[0:4], text[5:7], text[8:10])


def _weeknum(value: Any) -> Decimal | None:
    if value is None:
        return None
    d = _d(value)
    jan1 = date(d.year, 1, 1)
    return Decimal((d.timetuple().tm_yday - 1 + jan1.isoweekday() % 7) // 7 + 1)


def _duration(h: Any, m: Any = 0, s: Any = 0) -> int | None:
    if h is None or m is None or s is None:
        return None
    total = num(h) * 3600 + num(m) * 60 + num(s)
    return int(total.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


# -- type rules -------------------------------------------------------------------------


def _unit_typer(kind: str) -> Any:
    def typer(types: Sequence[str], nodes: Sequence[Node]) -> str:
        if kind == "add":
            result = sig("date|datetime", "number", "text", returns="=0")(types, nodes)
            value_type = types[0]
        else:
            sig("date|datetime", "date|datetime", "text", returns=NUMBER)(types, nodes)
            value_type = same(types[:2], 0)
            result = NUMBER
        units = _DATE_UNITS + (_TIME_UNITS if value_type in (DATETIME, BLANK) or kind == "diff" else ())
        literal_text(nodes, 2, units)
        return result

    return typer


# -- PostgreSQL -------------------------------------------------------------------------


def _pg_dateadd(a: Sequence[Any]) -> Any:
    value, unit = a[0], str(a[2].literal).lower()
    k = pg.integer(a[1].expr, -_BIG, _BIG)
    if unit in _MONTHS:
        interval = sa.func.make_interval(0, k * _MONTHS[unit])
    elif unit in ("week", "day"):
        interval = sa.func.make_interval(0, 0, 0, k * (7 if unit == "week" else 1))
    else:
        interval = sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.cast(k, sa.Float()) * _SECONDS[unit])
    if value.type == DATE:
        return sa.cast(value.expr + interval, sa.Date())
    return pg.from_utc_naive(pg.utc_naive(value.expr) + interval)


def _pg_months_between(a: Any, b: Any) -> Any:
    raw = (sa.extract("year", b) - sa.extract("year", a)) * 12 + sa.extract("month", b) - sa.extract("month", a)
    da, db = sa.extract("day", a), sa.extract("day", b)
    return raw + sa.case((sa.and_(b >= a, db < da), -1), (sa.and_(b < a, db > da), 1), else_=0)


def _pg_datediff(a: Sequence[Any]) -> Any:
    unit = str(a[2].literal).lower()
    types = {a[0].type, a[1].type} - {BLANK}
    is_dt = DATETIME in types
    if unit in _MONTHS:
        s, e = (pg.as_date(a[0].expr, DATETIME), pg.as_date(a[1].expr, DATETIME)) if is_dt else (a[0].expr, a[1].expr)
        return sa.func.div(sa.cast(_pg_months_between(s, e), sa.Numeric()), _MONTHS[unit])
    if is_dt:
        seconds = sa.func.trunc(sa.extract("epoch", a[1].expr - a[0].expr))
    else:
        seconds = sa.cast(a[1].expr - a[0].expr, sa.Numeric()) * 86400
    per = {"week": 604800, "day": 86400, **_SECONDS}[unit]
    return sa.func.div(sa.cast(seconds, sa.Numeric()), per)


def _pg_datetime(a: Sequence[Any]) -> Any:
    day = pg.make_date(a[0].expr, a[1].expr, a[2].expr)
    parts = [a[i].expr if len(a) > i else pg.num(0) for i in (3, 4, 5)]
    ints = [pg.integer(p, 0, top) for p, top in zip(parts, (23, 59, 59), strict=True)]
    valid = sa.and_(*(sa.func.trunc(p) == i for p, i in zip(parts, ints, strict=True)))
    moment = sa.cast(day, sa.DateTime()) + sa.func.make_interval(0, 0, 0, 0, ints[0], ints[1], ints[2])
    return sa.case((valid, pg.from_utc_naive(moment)))


def _pg_workday(a: Sequence[Any]) -> Any:
    start = a[0].expr
    k = pg.integer(a[1].expr, -_BIG, _BIG)
    days = start - sa.literal(_EPOCH, sa.Date())
    # Integer division: both sides are int4 day counts (non-negative after year 1).
    weeks, rest = sa.cast(sa.func.div(days, 7), sa.Integer), sa.func.mod(days, 7)
    index = 5 * weeks + sa.case((k > 0, sa.func.least(rest, 4)), else_=sa.func.least(rest, 5)) + k
    moved = sa.literal(_EPOCH, sa.Date()) + (7 * sa.cast(sa.func.div(index, 5), sa.Integer) + sa.func.mod(index, 5))
    return sa.case((k == 0, start), else_=moved)


def _pg_eomonth(a: Sequence[Any]) -> Any:
    d = pg.as_date(a[0].expr, a[0].type)
    year, month = sa.cast(sa.extract("year", d), sa.Integer), sa.cast(sa.extract("month", d), sa.Integer)
    first = sa.func.make_date(year, month, 1)
    moved = first + sa.func.make_interval(0, pg.integer(a[1].expr, -_BIG, _BIG) + 1)
    return sa.cast(moved, sa.Date()) - 1


def _pg_datevalue(a: Sequence[Any]) -> Any:
    if a[0].type == DATETIME:
        return pg.as_date(a[0].expr, DATETIME)
    t = sa.func.btrim(a[0].expr, pg.txt(" \t\n\r"))
    ok = t.op("~")(pg.txt("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))

    def piece(start: int, length: int) -> Any:
        return sa.cast(sa.func.substr(sa.case((ok, t), else_=pg.txt("0000-00-00")), start, length), sa.Numeric())

    return sa.case((ok, pg.make_date(piece(1, 4), piece(6, 2), piece(9, 2))))


def _pg_weeknum(a: Sequence[Any]) -> Any:
    d = pg.as_date(a[0].expr, a[0].type)
    jan1 = sa.func.make_date(sa.cast(sa.extract("year", d), sa.Integer), 1, 1)
    return sa.cast(sa.func.div(sa.extract("doy", d) - 1 + sa.extract("dow", jan1), 7) + 1, sa.Numeric())


def _pg_duration(a: Sequence[Any]) -> Any:
    total = a[0].expr * 3600
    if len(a) > 1:
        total = total + a[1].expr * 60
    if len(a) > 2:
        total = total + a[2].expr
    return sa.cast(sa.func.round(total), sa.BigInteger())


def _date(name: str, signature: str, doc: str, typer: Any, python: Any, postgres: Any,
          *examples: tuple[str, str], **extra: Any) -> None:
    register(Function(name, "dates", signature, doc, typer, python=python, postgres=postgres,
                      examples=tuple(Example(f, r) for f, r in examples),
                      pure=not (extra.get("volatile") or extra.get("special")), **extra))


def _part(name: str, unit: str, doc: str, types: str, fn: Any, example: tuple[str, str]) -> None:
    _date(name, f"{name}({'date_time' if types == DATETIME else 'date'})", doc, sig(types, returns=NUMBER),
          lambda v: None if v is None else Decimal(fn(utc(v) if isinstance(v, datetime) else v)),
          lambda a: sa.func.floor(pg.part(unit, a[0].expr, a[0].type)), example)


_DT = "date|datetime"
_date("DATE", "DATE(year, month, day)", "The date; blank unless it is a real calendar date.",
      sig("number", "number", "number", returns=DATE), _make_date,
      lambda a: pg.make_date(a[0].expr, a[1].expr, a[2].expr),
      ("DATE(2024, 2, 29)", "2024-02-29"), ("DATE(2023, 2, 29)", "blank"))
_date("DATETIME", "DATETIME(year, month, day, [hour], [minute], [second])",
      "The point in time, in UTC; blank unless every part is valid.",
      sig("number", "number", "number", "number?", "number?", "number?", returns=DATETIME), _make_datetime,
      _pg_datetime, ("DATETIME(2024, 12, 31, 17, 30)", "2024-12-31 17:30:00 UTC"))
_part("YEAR", "year", "The year of a date (of a date-time, in UTC).", _DT, lambda v: v.year,
      ("YEAR(DATE(2024, 5, 1))", "2024"))
_part("MONTH", "month", "The month, 1 to 12.", _DT, lambda v: v.month, ("MONTH(DATE(2024, 5, 1))", "5"))
_part("DAY", "day", "The day of the month, 1 to 31.", _DT, lambda v: v.day, ("DAY(DATE(2024, 5, 17))", "17"))
_part("HOUR", "hour", "The hour of a date-time in UTC, 0 to 23.", DATETIME, lambda v: v.hour,
      ("HOUR(DATETIME(2024, 5, 1, 14, 30))", "14"))
_part("MINUTE", "minute", "The minute of a date-time, 0 to 59.", DATETIME, lambda v: v.minute,
      ("MINUTE(DATETIME(2024, 5, 1, 14, 30))", "30"))
_part("SECOND", "second", "The second of a date-time, 0 to 59.", DATETIME, lambda v: v.second,
      ("SECOND(DATETIME(2024, 5, 1, 14, 30, 15))", "15"))
_date("WEEKDAY", "WEEKDAY(date)", "The day of the week: 1 for Sunday through 7 for Saturday, as in spreadsheets.",
      sig(_DT, returns=NUMBER), lambda v: None if v is None else Decimal(_d(v).isoweekday() % 7 + 1),
      lambda a: sa.cast(sa.extract("dow", pg.as_date(a[0].expr, a[0].type)) + 1, sa.Numeric()),
      ("WEEKDAY(DATE(2024, 6, 2))", "1 (a Sunday)"))
_date("WEEKNUM", "WEEKNUM(date)",
      "The week of the year, weeks starting on Sunday and week 1 holding January 1st (spreadsheet style).",
      sig(_DT, returns=NUMBER), _weeknum, _pg_weeknum, ("WEEKNUM(DATE(2024, 1, 7))", "2"))
_date("ISOWEEKNUM", "ISOWEEKNUM(date)", "The ISO 8601 week number (weeks start on Monday).",
      sig(_DT, returns=NUMBER), lambda v: None if v is None else Decimal(_d(v).isocalendar()[1]),
      lambda a: sa.cast(sa.extract("week", pg.as_date(a[0].expr, a[0].type)), sa.Numeric()),
      ("ISOWEEKNUM(DATE(2024, 12, 30))", "1"))
_date("DATEADD", "DATEADD(date, count, unit)",
      'The date moved by a whole `count` of units: "year", "quarter", "month", "week", "day", and for '
      'date-times also "hour", "minute", "second". Months keep the day, or use the month\'s last day.',
      _unit_typer("add"), _dateadd, _pg_dateadd,
      ('DATEADD(DATE(2024, 1, 31), 1, "month")', "2024-02-29"), ('DATEADD(close_date, 30, "day")', "30 days later"),
      literal_args=(2,))
_date("DATEDIFF", "DATEDIFF(start, end, unit)",
      "How many whole units lie between start and end (negative when end is earlier): "
      '"year", "quarter", "month" (complete calendar months), "week", "day", "hour", "minute", "second".',
      _unit_typer("diff"), _datediff, _pg_datediff,
      ('DATEDIFF(DATE(2024, 1, 31), DATE(2024, 3, 1), "month")', "1"),
      ('DATEDIFF(DATE(2024, 1, 1), DATE(2024, 12, 31), "day")', "365"), literal_args=(2,))
_date("EOMONTH", "EOMONTH(date, months)", "The last day of the month `months` after the date's month.",
      sig(_DT, "number", returns=DATE), _eomonth, _pg_eomonth, ("EOMONTH(DATE(2024, 1, 15), 1)", "2024-02-29"))
_date("WORKDAY", "WORKDAY(date, days)",
      "The date `days` working days (Monday to Friday) later, or earlier when negative.",
      sig(DATE, "number", returns=DATE), _workday, _pg_workday,
      ("WORKDAY(DATE(2024, 6, 7), 1)", "2024-06-10 (Friday → Monday)"))
_date("DATEVALUE", "DATEVALUE(text_or_date_time)",
      'The date written as "YYYY-MM-DD" in a text, or the UTC date of a date-time; blank if invalid.',
      sig("text|datetime", returns=DATE), _datevalue, _pg_datevalue,
      ('DATEVALUE("2024-03-05")', "2024-03-05"), ('DATEVALUE("March 5")', "blank"))
_date("TODAY", "TODAY()", "Today's date in UTC.", sig(returns=DATE), None, None,
      ("TODAY() - 30", "the date 30 days ago"), special=True, volatile=True)
_date("NOW", "NOW()", "The current point in time.", sig(returns=DATETIME), None, None,
      ('DATEADD(NOW(), -1, "hour")', "an hour ago"), special=True, volatile=True)
_date("DURATION", "DURATION(hours, [minutes], [seconds])", "A duration, rounded to whole seconds.",
      sig("number", "number?", "number?", returns=DURATION), _duration, _pg_duration,
      ("DURATION(1, 30)", "1h 30m"), ("NOW() - DURATION(2)", "two hours ago"))
_date("HOURS", "HOURS(duration)", "The duration in hours, rounded to 10 decimal places.",
      sig(DURATION, returns=NUMBER), lambda v: None if v is None else div(Decimal(v), Decimal(3600)),
      lambda a: pg.exact_div(sa.cast(a[0].expr, sa.Numeric()), 3600), ("HOURS(DURATION(1, 30))", "1.5"))
_date("SECONDS", "SECONDS(duration)", "The duration in seconds.", sig(DURATION, returns=NUMBER),
      lambda v: None if v is None else Decimal(v), lambda a: sa.cast(a[0].expr, sa.Numeric()),
      ("SECONDS(DURATION(0, 2))", "120"))

__all__ = ["ArgError", "add_months"]
