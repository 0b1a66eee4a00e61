"""Business calendars and business-time arithmetic: when is a target of "4 business hours"
due, and how much business time lies between two instants.

A calendar is a time zone, working intervals per weekday in local wall-clock time (several
a day, for lunch breaks), holidays, and per-date overrides (a half day on Christmas Eve,
a working Saturday). Everything here is pure: no database, no clock; instants go in and
come out as aware datetimes.

How wall-clock intervals become real time (documented for builders in docs/rules.md):

* Business time is **elapsed real time** inside working intervals. An interval 08:00-18:00
  on the day clocks change is still 10 hours (the change happens at night); an interval
  00:00-24:00 on that day is 23 or 25 hours, as the day really is.
* A wall-clock time that happens twice (clocks fall back) means its **first** occurrence.
* A wall-clock time that never happens (clocks spring forward) means the **moment clocks
  jump**: an interval 02:30-06:00 on that night opens at 03:00 local. An interval that
  lies wholly inside the skipped hour has no working time that day.

Cost: both functions walk day by day over the intervals (never minute by minute) and step
over a whole week at once when the week has no holiday, no override and no clock change:
its business time is then the calendar's nominal week. Clock changes are found by
comparing the UTC offset at each local midnight of the week; tzdata since 1990 has no
two changes on the same day, so none is missed.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tessera.errors import FieldProblem

#: Weekday keys of a calendar document, Monday first (as date.weekday() counts).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 86_400
_WEEK = timedelta(days=7)
_ZERO = timedelta(0)
#: "08:00", "08:00:30" or "24:00" (the end of the day, only as the end of an interval).
_CLOCK = re.compile(r"^(?P<h>[01]\d|2[0-4]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?$")
#: Bound on the per-calendar cache of day spans (a few years of days).
_CACHE_DAYS = 4096

#: A working interval in local wall-clock time. An end of time(0) means 24:00, the end of
#: the day (a start of time(0) means midnight at its beginning).
Interval = tuple[time, time]
#: Intervals as seconds since local midnight, end 86400 for 24:00.
_Seconds = tuple[tuple[int, int], ...]
#: Real-time spans of one local day, in UTC.
_Spans = tuple[tuple[datetime, datetime], ...]


class CalendarError(ValueError):
    """A calendar document or definition that cannot be used, with every problem found."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class BusinessCalendar:
    """When work happens: `hours[0]` are Monday's intervals … `hours[6]` Sunday's.

    `hours` may also be given as a mapping {"mon": [...], ...} and intervals as
    ("08:00", "12:00") strings; `overrides` as a mapping of date to intervals (an empty list
    closes that day). An override wins over a holiday on the same date. Raises ValueError
    (a CalendarError) when the definition is unusable, including a week without any working
    time, on which no target could ever fall due.
    """

    timezone: str
    hours: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    overrides: tuple[tuple[date, tuple[Interval, ...]], ...] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekly: tuple[_Seconds, ...] = field(init=False, repr=False, compare=False)
    _override_map: dict[date, _Seconds] = field(init=False, repr=False, compare=False)
    _special: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _nominal_week: timedelta = field(init=False, repr=False, compare=False)
    _cache: dict[date, _Spans] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[FieldProblem] = []
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append(FieldProblem("/timezone", f"unknown time zone {self.timezone!r}; use an IANA name "
                                         "like Europe/Paris"))
            zone = ZoneInfo("UTC")
        hours = self.hours
        if isinstance(hours, Mapping):
            unknown = sorted(set(hours) - set(WEEKDAYS))
            if unknown:
                problems.append(FieldProblem("/hours", f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}"))
            hours = [hours.get(day, ()) for day in WEEKDAYS]
        if len(hours) != 7:
            problems.append(FieldProblem("/hours", "give the working intervals of all seven weekdays, Monday first"))
            hours = [*hours, *([()] * 7)][:7]
        weekly = tuple(_seconds(day, f"/hours/{WEEKDAYS[i]}", problems) for i, day in enumerate(hours))
        raw_overrides = self.overrides.items() if isinstance(self.overrides, Mapping) else self.overrides
        override_map: dict[date, _Seconds] = {}
        for day, intervals in raw_overrides:
            override_map[_as_date(day)] = _seconds(intervals, f"/overrides/{_as_date(day).isoformat()}", problems)
        if not any(weekly) and not problems:
            problems.append(FieldProblem("/hours", "the calendar has no working time: give at least one weekday "
                                         "working hours"))
        if problems:
            raise CalendarError(problems)
        holidays = frozenset(_as_date(d) for d in self.holidays)
        setattr_ = object.__setattr__
        setattr_(self, "hours", tuple(tuple(_times(s) for s in day) for day in weekly))
        setattr_(self, "holidays", holidays)
        setattr_(self, "overrides", tuple(sorted((d, tuple(_times(s) for s in v)) for d, v in override_map.items())))
        setattr_(self, "_zone", zone)
        setattr_(self, "_weekly", weekly)
        setattr_(self, "_override_map", override_map)
        setattr_(self, "_special", tuple(sorted(holidays | set(override_map))))
        setattr_(self, "_nominal_week", timedelta(seconds=sum(e - s for day in weekly for s, e in day)))
        setattr_(self, "_cache", {})

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def nominal_week(self) -> timedelta:
        """Business time in a week without holidays, overrides or clock changes."""
        return self._nominal_week

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The working intervals of a local date, after holidays and overrides."""
        return tuple(_times(s) for s in self._seconds_on(day))

    def _seconds_on(self, day: date) -> _Seconds:
        if day in self._override_map:
            return self._override_map[day]
        if day in self.holidays:
            return ()
        return self._weekly[day.weekday()]

    def _day_spans(self, day: date) -> _Spans:
        """The working intervals of a local date as real-time spans in UTC (cached)."""
        found = self._cache.get(day)
        if found is None:
            spans = []
            for start, end in self._seconds_on(day):
                a, b = self._instant(day, start), self._instant(day, end)
                if b > a:  # an interval inside a skipped hour has no working time
                    spans.append((a, b))
            found = tuple(spans)
            if len(self._cache) >= _CACHE_DAYS:
                self._cache.clear()
            self._cache[day] = found
        return found

    def _instant(self, day: date, seconds: int) -> datetime:
        """The UTC instant a local wall-clock time of `day` means (see the module docstring)."""
        wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
        # fold=0 is the first occurrence of a repeated time, and for a skipped time it reads
        # it with the offset from before the jump, landing after the jump.
        after = wall.replace(tzinfo=self._zone).astimezone(UTC)
        if after.astimezone(self._zone).replace(tzinfo=None) == wall:
            return after
        # Skipped: fold=1 reads it with the offset from after the jump, landing before it.
        # The jump itself lies between the two; find it to the second (transitions in
        # tzdata are whole seconds), a dozen steps for an hour's gap.
        before = wall.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        old = before.astimezone(self._zone).utcoffset()
        lo, hi = before, after
        while hi - lo > timedelta(seconds=1):
            mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
            if mid.astimezone(self._zone).utcoffset() == old:
                lo = mid
            else:
                hi = mid
        return hi

    def _plain_week(self, first: date) -> bool:
        """Whether the 7 local days from `first` hold exactly the nominal week of business
        time: no holiday or override among them and no clock change."""
        i = bisect.bisect_left(self._special, first)
        if i < len(self._special) and self._special[i] < first + _WEEK:
            return False
        offset = _midnight_offset(first, self._zone)
        return all(_midnight_offset(first + timedelta(days=n), self._zone) == offset for n in range(1, 8))

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()


def _midnight_offset(day: date, zone: tzinfo) -> timedelta | None:
    return datetime.combine(day, time(), tzinfo=zone).utcoffset()


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _clock_seconds(value: time | str, pointer: str, problems: list[FieldProblem], is_end: bool) -> int | None:
    if isinstance(value, time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return _DAY if is_end and seconds == 0 else seconds
    match = _CLOCK.match(str(value))
    if match is None:
        problems.append(FieldProblem(pointer, f"{value!r} is not a time of day like \"08:30\""))
        return None
    seconds = int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"] or 0)
    if seconds > _DAY or (seconds == _DAY and not is_end):
        problems.append(FieldProblem(pointer, f"{value!r}: only the end of an interval can be 24:00"))
        return None
    return _DAY if is_end and seconds == 0 else seconds


def _seconds(intervals: Iterable[Sequence[Any]] | None, pointer: str, problems: list[FieldProblem]) -> _Seconds:
    """Intervals as sorted seconds since midnight; problems for bad or overlapping ones."""
    out: list[tuple[int, int]] = []
    for i, interval in enumerate(intervals or ()):
        if not isinstance(interval, Sequence) or isinstance(interval, str) or len(interval) != 2:
            problems.append(FieldProblem(f"{pointer}/{i}", "an interval is a start and an end, like "
                                         "[\"08:00\", \"12:00\"]"))
            continue
        start = _clock_seconds(interval[0], f"{pointer}/{i}/0", problems, is_end=False)
        end = _clock_seconds(interval[1], f"{pointer}/{i}/1", problems, is_end=True)
        if start is None or end is None:
            continue
        if end <= start:
            problems.append(FieldProblem(f"{pointer}/{i}", f"the interval ends ({_text(end)}) before it starts "
                                         f"({_text(start)}); an interval cannot run past midnight, split it "
                                         "over two days"))
            continue
        out.append((start, end))
    out.sort()
    for (_s1, e1), (s2, _e2) in itertools.pairwise(out):
        if s2 < e1:
            problems.append(FieldProblem(pointer, f"intervals overlap: one starting at {_text(s2)} begins before the "
                                         f"one before it ends at {_text(e1)}"))
            break
    return tuple(out)


def _text(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _times(interval: tuple[int, int]) -> Interval:
    start, end = interval
    return _time(start), _time(end % _DAY)


def _time(seconds: int) -> time:
    h, rest = divmod(seconds, 3600)
    return time(h, *divmod(rest, 60))


def _utc(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), got {at!r}")
    return at.astimezone(UTC)


# -- the two functions --------------------------------------------------------------------


def add_business_time(start: datetime, duration: timedelta, calendar: BusinessCalendar) -> datetime:
    """The instant `duration` of business time after `start`, in `start`'s time zone.

    A start outside working time counts from the next interval's start. Time that runs out
    exactly at the end of an interval is due at that end (not at the next opening). A zero
    duration gives `start` itself; a negative one counts back to the latest instant with
    that much business time before `start`.
    """
    at = _utc(start, "start")
    if duration == _ZERO:
        return start
    try:
        found = _forward(at, duration, calendar) if duration > _ZERO else _backward(at, -duration, calendar)
    except OverflowError:
        raise ValueError(f"{duration} of business time from {start.isoformat()} is beyond the dates this "
                         "calendar can count") from None
    return found.astimezone(start.tzinfo)


def _forward(at: datetime, remaining: timedelta, cal: BusinessCalendar) -> datetime:
    day = cal.local_date(at)
    first = True
    while True:
        if not first and remaining > cal.nominal_week and cal._plain_week(day):
            remaining -= cal.nominal_week
            day += _WEEK
            continue
        for a, b in cal._day_spans(day):
            if b <= at:
                continue
            a = max(a, at)
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        day += timedelta(days=1)
        first = False


def _backward(at: datetime, remaining: timedelta, cal: BusinessCalendar) -> datetime:
    day = cal.local_date(at)
    first = True
    while True:
        if not first and remaining > cal.nominal_week and cal._plain_week(day - timedelta(days=6)):
            remaining -= cal.nominal_week
            day -= _WEEK
            continue
        for a, b in reversed(cal._day_spans(day)):
            if a >= at:
                continue
            b = min(b, at)
            if remaining <= b - a:
                return b - remaining
            remaining -= b - a
        day -= timedelta(days=1)
        first = False


def business_time_between(a: datetime, b: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time from `a` to `b` (negative when `b` is before `a`)."""
    start, end = _utc(a, "a"), _utc(b, "b")
    if end < start:
        return -business_time_between(b, a, calendar)
    total = _ZERO
    day, last = calendar.local_date(start), calendar.local_date(end)
    first = True
    while day <= last:
        # A whole week strictly before the last day lies entirely inside [start, end].
        if not first and day + timedelta(days=6) < last and calendar._plain_week(day):
            total += calendar.nominal_week
            day += _WEEK
            continue
        for s, e in calendar._day_spans(day):
            s, e = max(s, start), min(e, end)
            if e > s:
                total += e - s
        day += timedelta(days=1)
        first = False
    return total


def is_business_time(at: datetime, calendar: BusinessCalendar) -> bool:
    """Whether `at` lies inside a working interval (its start included, its end not)."""
    instant = _utc(at, "at")
    return any(a <= instant < b for a, b in calendar._day_spans(calendar.local_date(instant)))


def next_business_time(at: datetime, calendar: BusinessCalendar) -> datetime:
    """`at` itself inside working time, else the start of the next working interval."""
    instant = _utc(at, "at")
    day = calendar.local_date(instant)
    # Every week has working time and each holiday or override can close at most one week's
    # worth of it, so this many days always reach an opening.
    for _ in range(7 * (len(calendar._special) + 2)):
        for a, b in calendar._day_spans(day):
            if b > instant:
                return max(a, instant).astimezone(at.tzinfo)
        day += timedelta(days=1)
    raise ValueError("no working time found after " + at.isoformat())  # pragma: no cover


# -- documents -----------------------------------------------------------------------------


def calendar_problems(doc: Any) -> list[FieldProblem]:
    """Every problem of a calendar document (kind `calendars`): its JSON Schema, then the
    time zone, the intervals, the dates, all at once with JSON pointers."""
    from tessera.meta.documents import schema_problems

    if not isinstance(doc, dict):
        return [FieldProblem("/", "a calendar must be a JSON object")]
    problems = schema_problems(_validator(), doc, "")
    if problems:
        return problems
    try:
        calendar_from_document(doc)
    except CalendarError as error:
        problems.extend(error.problems)
    holidays = [h if isinstance(h, str) else h["date"] for h in doc.get("holidays", [])]
    seen: set[str] = set()
    for i, day in enumerate(holidays):
        if day in seen:
            problems.append(FieldProblem(f"/holidays/{i}", f"{day} is listed twice"))
            continue
        seen.add(day)
        if day in doc.get("overrides", {}):
            problems.append(FieldProblem(f"/holidays/{i}", f"{day} is both a holiday and an override; keep one "
                                         "(an empty override closes the day)"))
    return problems


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    from tessera.meta.documents import base_schema

    return Draft202012Validator(base_schema("calendars"), format_checker=Draft202012Validator.FORMAT_CHECKER)


def calendar_from_document(doc: Mapping[str, Any]) -> BusinessCalendar:
    """The calendar a (schema-valid) calendar document describes; raises CalendarError."""
    problems: list[FieldProblem] = []
    holidays: set[date] = set()
    for i, item in enumerate(doc.get("holidays", [])):
        text = item if isinstance(item, str) else item.get("date")
        try:
            holidays.add(date.fromisoformat(str(text)))
        except ValueError:
            problems.append(FieldProblem(f"/holidays/{i}", f"{text!r} is not a date like 2026-12-25"))
    overrides: dict[date, Any] = {}
    for key, intervals in dict(doc.get("overrides", {})).items():
        try:
            overrides[date.fromisoformat(key)] = intervals
        except ValueError:
            problems.append(FieldProblem(f"/overrides/{key}", f"{key!r} is not a date like 2026-12-24"))
    hours = doc.get("hours", {})
    if not isinstance(hours, Mapping):
        problems.append(FieldProblem("/hours", "give the hours as {\"mon\": [[\"08:00\", \"12:00\"]], ...}"))
        hours = {}
    try:
        calendar = BusinessCalendar(str(doc.get("timezone", "")), hours, frozenset(holidays),  # type: ignore[arg-type]
                                    overrides)  # type: ignore[arg-type]
    except CalendarError as error:
        problems.extend(error.problems)
    if problems:
        raise CalendarError(problems)
    return calendar


__all__ = [
    "WEEKDAYS", "BusinessCalendar", "CalendarError", "Interval", "add_business_time", "business_time_between",
    "calendar_from_document", "calendar_problems", "is_business_time", "next_business_time",
]
