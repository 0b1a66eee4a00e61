"""Business calendars and business-time arithmetic: the published SLA examples, lunch
breaks, holidays and overrides, time zones, daylight-saving weeks, round trips (property
tested), and that long durations cost days walked, not minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.rules.calendar import (
    BusinessCalendar,
    CalendarError,
    add_business_time,
    business_time_between,
    calendar_from_document,
    calendar_problems,
    is_business_time,
    next_business_time,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")


def calendar(tz: str, days: tuple[str, ...], *intervals: tuple[str, str], holidays: list[str] | None = None,
             overrides: dict[str, list[list[str]]] | None = None) -> BusinessCalendar:
    doc: dict[str, object] = {"api_name": "cal", "label": "Calendar", "timezone": tz,
                              "hours": {d: [list(i) for i in intervals] for d in days}}
    if holidays:
        doc["holidays"] = holidays
    if overrides:
        doc["overrides"] = overrides
    assert calendar_problems(doc) == []
    return calendar_from_document(doc)


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)  # type: ignore[misc]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# -- the published cases ---------------------------------------------------------------------


def test_four_hour_target_from_monday_17h_is_due_tuesday_11h_and_warns_at_10h() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("08:00", "18:00"))
    created = at(PARIS, 2026, 6, 1, 17, 0)  # a Monday
    assert add_business_time(created, hours(4), cal) == at(PARIS, 2026, 6, 2, 11, 0)
    assert add_business_time(created, hours(4) * 0.75, cal) == at(PARIS, 2026, 6, 2, 10, 0)


def test_eight_hours_from_friday_16h_on_nine_to_five_is_due_monday_16h() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"))
    assert add_business_time(at(PARIS, 2026, 6, 5, 16, 0), hours(8), cal) == at(PARIS, 2026, 6, 8, 16, 0)


@pytest.mark.parametrize(("days", "holidays", "created", "due"), [
    # Every day 09-21; Christmas Friday and Saturday closed: due the 4th day after, Wednesday 30th.
    (ALL_DAYS, ["2026-12-25", "2026-12-26"], (2026, 12, 24, 23, 0), (2026, 12, 30, 21, 0)),
    # Weekdays 09-21; Thursday 24th and Friday 25th closed, then a weekend: Mon, Tue, Wed, Thu 31st.
    (WEEKDAYS, ["2026-12-24", "2026-12-25"], (2026, 12, 23, 23, 0), (2026, 12, 31, 21, 0)),
])
def test_48_hours_from_23h_before_two_holidays_is_due_at_close_of_fourth_working_day(
        days: tuple[str, ...], holidays: list[str], created: tuple[int, ...], due: tuple[int, ...]) -> None:
    cal = calendar("Europe/Paris", days, ("09:00", "21:00"), holidays=holidays)
    assert add_business_time(at(PARIS, *created), hours(48), cal) == at(PARIS, *due)


# -- intervals, starts outside working time, zero and negative -----------------------------------


def test_lunch_break_is_not_business_time() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("08:00", "12:00"), ("13:00", "18:00"))
    start = at(PARIS, 2026, 6, 1, 11, 0)
    assert add_business_time(start, hours(2), cal) == at(PARIS, 2026, 6, 1, 14, 0)
    assert business_time_between(start, at(PARIS, 2026, 6, 1, 14, 0), cal) == hours(2)
    assert business_time_between(at(PARIS, 2026, 6, 1, 12, 10), at(PARIS, 2026, 6, 1, 12, 50), cal) == hours(0)
    assert cal.nominal_week == hours(45)


def test_time_running_out_at_the_end_of_an_interval_is_due_at_that_end() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("08:00", "12:00"), ("13:00", "18:00"))
    assert add_business_time(at(PARIS, 2026, 6, 1, 8, 0), hours(4), cal) == at(PARIS, 2026, 6, 1, 12, 0)


def test_a_start_outside_working_time_counts_from_the_next_opening() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "12:00"), ("13:00", "17:00"))
    saturday = at(PARIS, 2026, 6, 6, 10, 0)
    assert add_business_time(saturday, hours(1), cal) == at(PARIS, 2026, 6, 8, 10, 0)
    assert add_business_time(at(PARIS, 2026, 6, 8, 12, 30), hours(1), cal) == at(PARIS, 2026, 6, 8, 14, 0)
    assert add_business_time(at(PARIS, 2026, 6, 8, 6, 0), timedelta(minutes=1), cal) == at(PARIS, 2026, 6, 8, 9, 1)
    assert next_business_time(saturday, cal) == at(PARIS, 2026, 6, 8, 9, 0)
    assert not is_business_time(saturday, cal)
    assert is_business_time(at(PARIS, 2026, 6, 8, 9, 0), cal)
    assert not is_business_time(at(PARIS, 2026, 6, 8, 12, 0), cal)


def test_a_zero_duration_is_the_start_itself() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"))
    saturday = at(PARIS, 2026, 6, 6, 10, 0)
    assert add_business_time(saturday, timedelta(0), cal) == saturday


def test_a_negative_duration_counts_back() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"))
    monday = at(PARIS, 2026, 6, 8, 10, 0)
    assert add_business_time(monday, -hours(2), cal) == at(PARIS, 2026, 6, 5, 16, 0)
    assert add_business_time(at(PARIS, 2026, 6, 8, 9, 0), -hours(8), cal) == at(PARIS, 2026, 6, 5, 9, 0)
    assert add_business_time(monday, -hours(1), cal) == at(PARIS, 2026, 6, 8, 9, 0)
    assert business_time_between(monday, at(PARIS, 2026, 6, 5, 16, 0), cal) == -hours(2)


def test_overrides_shorten_a_day_and_open_a_saturday() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"),
                   overrides={"2026-12-24": [["09:00", "13:00"]], "2026-12-19": [["10:00", "14:00"]]})
    # Friday 18th 16:00: 1h Friday, 4h the working Saturday, then Monday 21st.
    assert add_business_time(at(PARIS, 2026, 12, 18, 16, 0), hours(6), cal) == at(PARIS, 2026, 12, 21, 10, 0)
    # Christmas Eve closes at 13:00.
    assert add_business_time(at(PARIS, 2026, 12, 24, 12, 0), hours(2), cal) == at(PARIS, 2026, 12, 25, 10, 0)
    assert cal.intervals_on(date(2026, 12, 24)) == ((time(9), time(13)),)


def test_an_override_with_no_intervals_closes_the_day() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"), overrides={"2026-06-08": []})
    assert add_business_time(at(PARIS, 2026, 6, 5, 16, 0), hours(2), cal) == at(PARIS, 2026, 6, 9, 10, 0)


def test_intervals_may_end_at_midnight_and_join_the_next_day() -> None:
    cal = calendar("UTC", ALL_DAYS, ("00:00", "24:00"))
    start = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert add_business_time(start, hours(50), cal) == start + hours(50)
    assert business_time_between(start, start + timedelta(days=40), cal) == timedelta(days=40)


# -- time zones and daylight saving ------------------------------------------------------------


def test_utc_instants_on_a_shanghai_calendar_come_back_in_utc() -> None:
    cal = calendar("Asia/Shanghai", WEEKDAYS, ("09:00", "12:00"), ("13:30", "18:00"))
    monday_0h_utc = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    due = add_business_time(monday_0h_utc, hours(4), cal)
    assert due == at(SHANGHAI, 2026, 6, 1, 14, 30)
    assert due.tzinfo is UTC and due == datetime(2026, 6, 1, 6, 30, tzinfo=UTC)
    # Friday 17:00 Shanghai is 09:00 UTC; two hours later it is Monday 10:00 in Shanghai.
    assert add_business_time(datetime(2026, 6, 5, 9, 0, tzinfo=UTC), hours(2), cal) == at(SHANGHAI, 2026, 6, 8, 10)


def test_paris_spring_forward_day_keeps_ten_business_hours_between_eight_and_eighteen() -> None:
    cal = calendar("Europe/Paris", ALL_DAYS, ("08:00", "18:00"))
    sunday = date(2026, 3, 29)  # clocks go from 02:00 to 03:00
    assert business_time_between(at(PARIS, 2026, 3, 29, 0), at(PARIS, 2026, 3, 30, 0), cal) == hours(10)
    assert add_business_time(at(PARIS, 2026, 3, 28, 17, 0), hours(2), cal) == at(PARIS, 2026, 3, 29, 9, 0)
    assert add_business_time(at(PARIS, 2026, 3, 28, 17, 0), hours(2), cal).utcoffset() == hours(2)
    week = business_time_between(at(PARIS, 2026, 3, 23, 0), at(PARIS, 2026, 3, 30, 0), cal)
    assert week == hours(70) and sunday.weekday() == 6


def test_paris_spring_forward_round_the_clock_day_has_23_hours() -> None:
    cal = calendar("Europe/Paris", ALL_DAYS, ("00:00", "24:00"))
    assert business_time_between(at(PARIS, 2026, 3, 29, 0), at(PARIS, 2026, 3, 30, 0), cal) == hours(23)
    assert add_business_time(at(PARIS, 2026, 3, 29, 1, 0), hours(2), cal) == at(PARIS, 2026, 3, 29, 4, 0)


def test_paris_fall_back_round_the_clock_day_has_25_hours() -> None:
    cal = calendar("Europe/Paris", ALL_DAYS, ("00:00", "24:00"))
    assert business_time_between(at(PARIS, 2026, 10, 25, 0), at(PARIS, 2026, 10, 26, 0), cal) == hours(25)


def test_paris_fall_back_week_on_weekdays_is_a_plain_week() -> None:
    cal = calendar("Europe/Paris", WEEKDAYS, ("09:00", "17:00"))
    friday = at(PARIS, 2026, 10, 23, 16, 0)
    due = add_business_time(friday, hours(2), cal)
    assert due == at(PARIS, 2026, 10, 26, 10, 0) and due.utcoffset() == hours(1)
    assert business_time_between(at(PARIS, 2026, 10, 19, 0), at(PARIS, 2026, 11, 2, 0), cal) == hours(80)


def test_a_skipped_opening_time_opens_when_the_clocks_jump() -> None:
    # New York springs forward on 2026-03-08 from 02:00 to 03:00.
    cal = calendar("America/New_York", ("sun",), ("02:30", "06:00"))
    due = add_business_time(at(NEW_YORK, 2026, 3, 8, 0, 0), timedelta(minutes=1), cal)
    assert due == datetime(2026, 3, 8, 7, 1, tzinfo=UTC)  # 03:01 EDT
    assert business_time_between(at(NEW_YORK, 2026, 3, 8, 0), at(NEW_YORK, 2026, 3, 9, 0), cal) == hours(3)
    # A week later the same interval is three and a half hours.
    assert business_time_between(at(NEW_YORK, 2026, 3, 15, 0), at(NEW_YORK, 2026, 3, 16, 0), cal) == hours(3.5)


def test_an_interval_inside_the_skipped_hour_has_no_working_time_that_day() -> None:
    cal = calendar("America/New_York", ("sun",), ("02:10", "02:50"))
    assert business_time_between(at(NEW_YORK, 2026, 3, 8, 0), at(NEW_YORK, 2026, 3, 9, 0), cal) == hours(0)
    assert add_business_time(at(NEW_YORK, 2026, 3, 7, 12), timedelta(minutes=10), cal) == \
        at(NEW_YORK, 2026, 3, 15, 2, 20)


def test_a_repeated_time_means_its_first_occurrence() -> None:
    # New York falls back on 2026-11-01: 01:00-02:00 happens twice.
    cal = calendar("America/New_York", ("sun",), ("01:30", "03:00"))
    day = business_time_between(at(NEW_YORK, 2026, 11, 1, 0), at(NEW_YORK, 2026, 11, 2, 0), cal)
    assert day == hours(2.5)  # 01:30 EDT (05:30 UTC) to 03:00 EST (08:00 UTC)
    due = add_business_time(at(NEW_YORK, 2026, 10, 31, 12), timedelta(minutes=1), cal)
    # Compared in UTC: Python never finds a repeated wall time equal to an instant of another zone.
    assert due.astimezone(UTC) == datetime(2026, 11, 1, 5, 31, tzinfo=UTC)
    assert (due.hour, due.minute, due.fold) == (1, 31, 0)


def test_new_york_spring_forward_weekend_between_friday_and_monday() -> None:
    cal = calendar("America/New_York", WEEKDAYS, ("09:00", "17:00"))
    assert business_time_between(at(NEW_YORK, 2026, 3, 6, 16), at(NEW_YORK, 2026, 3, 9, 10), cal) == hours(2)
    due = add_business_time(at(NEW_YORK, 2026, 3, 6, 16), hours(2), cal)
    assert due == at(NEW_YORK, 2026, 3, 9, 10) and due.utcoffset() == -hours(4)


# -- round trips (property) ------------------------------------------------------------------------

CALENDARS = [
    calendar("Europe/Paris", WEEKDAYS, ("08:00", "12:00"), ("13:00", "18:00"),
             holidays=["2025-12-25", "2026-01-01", "2026-05-01", "2026-05-08", "2026-12-25"],
             overrides={"2025-12-24": [["09:00", "12:00"]], "2026-03-28": [["10:00", "14:00"]]}),
    calendar("America/New_York", WEEKDAYS, ("09:00", "17:00"), holidays=["2026-07-03", "2026-11-26"]),
    calendar("Asia/Shanghai", (*WEEKDAYS, "sat"), ("09:00", "18:00")),
    calendar("Europe/Paris", ALL_DAYS, ("00:00", "24:00")),
    calendar("America/New_York", ("sat", "sun"), ("01:15", "03:45"), ("22:00", "24:00")),
]
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31),
                        timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120))


@settings(max_examples=300, deadline=None)
@given(start=instants, duration=durations, cal=st.sampled_from(CALENDARS))
def test_business_time_between_undoes_add_business_time(start: datetime, duration: timedelta,
                                                        cal: BusinessCalendar) -> None:
    due = add_business_time(start, duration, cal)
    assert due >= start
    assert business_time_between(start, due, cal) == duration
    back = add_business_time(start, -duration, cal)
    assert back <= start
    assert business_time_between(back, start, cal) == duration


@settings(max_examples=150, deadline=None)
@given(a=instants, b=instants, c=instants, cal=st.sampled_from(CALENDARS))
def test_business_time_adds_up_over_consecutive_stretches(a: datetime, b: datetime, c: datetime,
                                                          cal: BusinessCalendar) -> None:
    a, b, c = sorted((a, b, c))
    assert business_time_between(a, b, cal) + business_time_between(b, c, cal) == business_time_between(a, c, cal)


@settings(max_examples=60, deadline=None)
@given(start=instants, duration=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
       cal=st.sampled_from(CALENDARS))
def test_skipping_whole_weeks_gives_the_same_answer_as_walking_every_day(
        start: datetime, duration: timedelta, cal: BusinessCalendar) -> None:
    fast = add_business_time(start, duration, cal), business_time_between(start, start + duration * 3, cal)
    with patch.object(BusinessCalendar, "_plain_week", lambda self, first: False):
        slow = add_business_time(start, duration, cal), business_time_between(start, start + duration * 3, cal)
    assert fast == slow


# -- cost -------------------------------------------------------------------------------------------


def test_five_years_of_business_time_walks_weeks_not_days(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = CALENDARS[0]  # Paris, lunch breaks, holidays, daylight saving
    calls = {"days": 0, "weeks": 0}
    day_spans, plain_week = BusinessCalendar._day_spans, BusinessCalendar._plain_week

    def counted_days(self: BusinessCalendar, day: date) -> object:
        calls["days"] += 1
        return day_spans(self, day)

    def counted_weeks(self: BusinessCalendar, first: date) -> bool:
        calls["weeks"] += 1
        return plain_week(self, first)

    monkeypatch.setattr(BusinessCalendar, "_day_spans", counted_days)
    monkeypatch.setattr(BusinessCalendar, "_plain_week", counted_weeks)
    start = at(PARIS, 2026, 1, 5, 9, 0)
    five_years = 5 * 52 * cal.nominal_week  # about 1820 calendar days
    due = add_business_time(start, five_years, cal)
    assert (due - start).days > 1800
    assert calls["days"] + calls["weeks"] < 450, calls
    calls.update(days=0, weeks=0)
    assert business_time_between(start, due, cal) == five_years
    assert calls["days"] + calls["weeks"] < 450, calls


# -- invalid calendars -----------------------------------------------------------------------------


def test_a_calendar_without_working_time_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="no working time"):
        BusinessCalendar("Europe/Paris", ((),) * 7)
    with pytest.raises(ValueError, match="no working time"):
        calendar_from_document({"api_name": "c", "label": "C", "timezone": "UTC", "hours": {"mon": []},
                                "overrides": {"2026-06-06": [["09:00", "12:00"]]}})


def test_the_dataclass_takes_times_strings_and_a_weekday_mapping() -> None:
    by_times = BusinessCalendar("UTC", ((((time(9), time(17)),),) * 5) + ((), ()))
    by_text = BusinessCalendar("UTC", {d: [("09:00", "17:00")] for d in WEEKDAYS})  # type: ignore[arg-type]
    assert by_times == by_text and hash(by_times) == hash(by_text)
    midnight = BusinessCalendar("UTC", {"sat": [("20:00", "24:00")]})  # type: ignore[arg-type]
    assert midnight.hours[5] == ((time(20), time(0)),) and midnight.nominal_week == hours(4)


@pytest.mark.parametrize(("hours_doc", "message"), [
    ({"mon": [["12:00", "09:00"]]}, "ends (09:00) before it starts (12:00)"),
    ({"mon": [["09:00", "12:00"], ["11:00", "14:00"]]}, "intervals overlap"),
    ({"mon": [["24:00", "24:00"]]}, "only the end of an interval can be 24:00"),
])
def test_bad_intervals_are_refused_with_their_place(hours_doc: dict[str, object], message: str) -> None:
    doc = {"api_name": "c", "label": "C", "timezone": "UTC", "hours": {**hours_doc, "tue": [["09:00", "17:00"]]}}
    problems = calendar_problems(doc)
    assert problems and problems[0].field.startswith("/hours/mon") and message in problems[0].message
    with pytest.raises(CalendarError):
        calendar_from_document(doc)


def test_calendar_document_problems_are_reported_at_json_pointers() -> None:
    problems = calendar_problems({"api_name": "c", "label": "C", "timezone": "Mars/Olympus",
                                  "hours": {"mon": [["09:00", "17:00"]]},
                                  "holidays": ["2026-05-01", {"date": "2026-05-01", "label": "May"}],
                                  "overrides": {"2026-05-01": [], "2026-13-01": []}})
    by_path = {p.field: p.message for p in problems}
    assert "unknown time zone 'Mars/Olympus'" in by_path["/timezone"]
    assert "listed twice" in by_path["/holidays/1"]
    assert "both a holiday and an override" in by_path["/holidays/0"]
    assert "not a date" in by_path["/overrides/2026-13-01"]


def test_a_date_that_does_not_exist_is_refused() -> None:
    problems = calendar_problems({"api_name": "c", "label": "C", "timezone": "UTC",
                                  "hours": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-02-30"]})
    assert [p.field for p in problems] == ["/holidays/0"]


def test_calendar_document_schema_problems_come_first() -> None:
    problems = calendar_problems({"api_name": "C!", "label": "C", "hours": {"monday": []}})
    paths = {p.field for p in problems}
    assert {"/", "/api_name", "/hours"} <= paths


def test_naive_datetimes_are_refused() -> None:
    cal = calendar("UTC", WEEKDAYS, ("09:00", "17:00"))
    with pytest.raises(ValueError, match="aware"):
        add_business_time(datetime(2026, 6, 1, 9), hours(1), cal)
    with pytest.raises(ValueError, match="aware"):
        business_time_between(datetime(2026, 6, 1, 9), datetime(2026, 6, 2, 9, tzinfo=UTC), cal)
