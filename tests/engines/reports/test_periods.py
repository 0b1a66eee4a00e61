"""Period arithmetic of date-range filters: presets at month, quarter and year boundaries,
leap years, weeks from Monday, rolling windows of N days, typed ranges, and the period
before each one (what a KPI compares with)."""

from __future__ import annotations

from datetime import date

import pytest

from tessera.reports import PRESETS, Period, period

TODAY = date(2024, 5, 15)  # in Q2 2024


def test_date_range_presets_and_their_previous_periods() -> None:
    quarter = period("this_quarter", TODAY)
    assert quarter == Period(date(2024, 4, 1), date(2024, 6, 30), "quarter")
    assert quarter.previous() == Period(date(2024, 1, 1), date(2024, 3, 31), "quarter")
    assert period("last_month", date(2024, 3, 31)) == Period(date(2024, 2, 1), date(2024, 2, 29), "month")
    assert period("last_30_days", TODAY).previous() == Period(date(2024, 3, 17), date(2024, 4, 15))
    assert period("2024-01-01..2024-01-10", TODAY).previous() == Period(date(2023, 12, 22), date(2023, 12, 31))
    assert period("all", TODAY) is None
    with pytest.raises(ValueError):
        period("someday", TODAY)


# -- calendar units -----------------------------------------------------------------------

@pytest.mark.parametrize(("today", "start", "end"), [
    (date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 31)),
    (date(2024, 1, 31), date(2024, 1, 1), date(2024, 1, 31)),
    (date(2024, 2, 10), date(2024, 2, 1), date(2024, 2, 29)),  # a leap year's February
    (date(2023, 2, 28), date(2023, 2, 1), date(2023, 2, 28)),
    (date(2100, 2, 1), date(2100, 2, 1), date(2100, 2, 28)),  # a century that is not a leap year
    (date(2000, 2, 1), date(2000, 2, 1), date(2000, 2, 29)),  # one that is
    (date(2024, 4, 30), date(2024, 4, 1), date(2024, 4, 30)),
    (date(2024, 12, 31), date(2024, 12, 1), date(2024, 12, 31)),
])
def test_this_month_runs_from_the_first_to_the_last_day_of_the_month(today: date, start: date, end: date) -> None:
    assert period("this_month", today) == Period(start, end, "month")


def test_last_month_steps_back_over_a_year_end_and_into_february() -> None:
    assert period("last_month", date(2024, 1, 15)) == Period(date(2023, 12, 1), date(2023, 12, 31), "month")
    assert period("last_month", date(2023, 3, 1)) == Period(date(2023, 2, 1), date(2023, 2, 28), "month")
    assert period("last_month", date(2024, 3, 1)) == Period(date(2024, 2, 1), date(2024, 2, 29), "month")


def test_the_month_before_a_month_is_the_whole_calendar_month_not_the_same_number_of_days() -> None:
    march = period("this_month", date(2024, 3, 20))
    assert march is not None
    assert march.previous() == Period(date(2024, 2, 1), date(2024, 2, 29), "month")
    february = march.previous()
    assert february is not None
    assert february.previous() == Period(date(2024, 1, 1), date(2024, 1, 31), "month")
    january = period("this_month", date(2024, 1, 5))
    assert january is not None
    assert january.previous() == Period(date(2023, 12, 1), date(2023, 12, 31), "month")


@pytest.mark.parametrize(("today", "start", "end"), [
    (date(2024, 1, 1), date(2024, 1, 1), date(2024, 3, 31)),
    (date(2024, 3, 31), date(2024, 1, 1), date(2024, 3, 31)),
    (date(2024, 4, 1), date(2024, 4, 1), date(2024, 6, 30)),
    (date(2024, 9, 30), date(2024, 7, 1), date(2024, 9, 30)),
    (date(2024, 10, 1), date(2024, 10, 1), date(2024, 12, 31)),
    (date(2024, 12, 31), date(2024, 10, 1), date(2024, 12, 31)),
])
def test_quarters_are_calendar_quarters(today: date, start: date, end: date) -> None:
    assert period("this_quarter", today) == Period(start, end, "quarter")


def test_last_quarter_of_a_first_quarter_is_the_previous_years_fourth() -> None:
    assert period("last_quarter", date(2024, 2, 29)) == Period(date(2023, 10, 1), date(2023, 12, 31), "quarter")
    assert period("last_quarter", date(2024, 7, 1)) == Period(date(2024, 4, 1), date(2024, 6, 30), "quarter")
    first = period("this_quarter", date(2024, 1, 10))
    assert first is not None
    assert first.previous() == Period(date(2023, 10, 1), date(2023, 12, 31), "quarter")


def test_years_are_calendar_years_and_step_back_a_whole_year() -> None:
    assert period("this_year", date(2024, 2, 29)) == Period(date(2024, 1, 1), date(2024, 12, 31), "year")
    assert period("last_year", date(2024, 1, 1)) == Period(date(2023, 1, 1), date(2023, 12, 31), "year")
    leap = period("this_year", date(2024, 6, 1))
    assert leap is not None
    assert leap.previous() == Period(date(2023, 1, 1), date(2023, 12, 31), "year")
    after_leap = period("this_year", date(2025, 6, 1))
    assert after_leap is not None
    assert after_leap.previous() == Period(date(2024, 1, 1), date(2024, 12, 31), "year")


def test_weeks_run_monday_to_sunday_across_a_year_end() -> None:
    wednesday = date(2025, 1, 1)
    this_week = period("this_week", wednesday)
    assert this_week == Period(date(2024, 12, 30), date(2025, 1, 5), "week")
    assert period("last_week", wednesday) == Period(date(2024, 12, 23), date(2024, 12, 29), "week")
    assert this_week is not None
    assert this_week.previous() == Period(date(2024, 12, 23), date(2024, 12, 29), "week")
    assert period("this_week", date(2024, 12, 30)) == this_week  # on the Monday itself
    assert period("this_week", date(2025, 1, 5)) == this_week  # and on the Sunday


def test_today_is_one_day_and_its_previous_period_is_yesterday() -> None:
    assert period("today", date(2024, 3, 1)) == Period(date(2024, 3, 1), date(2024, 3, 1))
    day = period("today", date(2024, 3, 1))
    assert day is not None
    assert day.previous() == Period(date(2024, 2, 29), date(2024, 2, 29))


# -- rolling windows ----------------------------------------------------------------------

def test_last_n_days_ends_today_and_counts_today_in() -> None:
    assert period("last_7_days", TODAY) == Period(date(2024, 5, 9), TODAY)
    assert period("last_1_days", TODAY) == Period(TODAY, TODAY)
    assert period("last_30_days", date(2024, 3, 1)) == Period(date(2024, 2, 1), date(2024, 3, 1))  # 29 Feb counted
    assert period("last_365_days", date(2024, 12, 31)) == Period(date(2024, 1, 2), date(2024, 12, 31))
    assert period("last_12_days", TODAY) == Period(date(2024, 5, 4), TODAY)  # any N, not only the presets


def test_a_rolling_window_steps_back_by_its_own_length() -> None:
    week = period("last_7_days", TODAY)
    assert week is not None
    assert week.previous() == Period(date(2024, 5, 2), date(2024, 5, 8))
    over_leap_day = period("last_10_days", date(2024, 3, 10))
    assert over_leap_day is not None
    assert over_leap_day.previous() == Period(date(2024, 2, 20), date(2024, 2, 29))


@pytest.mark.parametrize("text", ["last_0_days", "last_3661_days", "last_-3_days", "last_days", "next_7_days"])
def test_rolling_windows_outside_one_to_3660_days_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date range"):
        period(text, TODAY)


def test_the_longest_rolling_window_is_3660_days() -> None:
    # Ten years back is 3653 days (three leap days between); six more make 3659 before today.
    assert period("last_3660_days", TODAY) == Period(date(2014, 5, 9), TODAY)


# -- typed ranges -------------------------------------------------------------------------

def test_typed_ranges_may_leave_either_side_open() -> None:
    assert period("2024-02-01..2024-02-29", TODAY) == Period(date(2024, 2, 1), date(2024, 2, 29))
    assert period("2024-02-01..", TODAY) == Period(date(2024, 2, 1), None)
    assert period("..2024-02-29", TODAY) == Period(None, date(2024, 2, 29))
    assert period(" 2024-02-01..2024-02-02 ", TODAY) == Period(date(2024, 2, 1), date(2024, 2, 2))
    assert period({"from": "2024-01-01", "to": "2024-01-31"}, TODAY) == Period(date(2024, 1, 1), date(2024, 1, 31))
    assert period({"from": "2024-01-01"}, TODAY) == Period(date(2024, 1, 1), None)


def test_an_open_range_has_no_previous_period() -> None:
    assert Period(date(2024, 2, 1), None).previous() is None
    assert Period(None, date(2024, 2, 1)).previous() is None


def test_a_range_that_ends_before_it_starts_or_names_no_real_day_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        period("2024-03-01..2024-02-01", TODAY)
    with pytest.raises(ValueError):
        period("2023-02-29..2023-03-01", TODAY)  # 2023 is not a leap year
    with pytest.raises(ValueError):
        period({"from": "yesterday"}, TODAY)


@pytest.mark.parametrize("value", [None, "", "all"])
def test_blank_or_all_is_no_filter(value: object) -> None:
    assert period(value, TODAY) is None


def test_a_period_reads_as_from_dot_dot_to() -> None:
    assert Period(date(2024, 1, 1), date(2024, 3, 31), "quarter").text() == "2024-01-01..2024-03-31"
    assert Period(None, date(2024, 3, 31)).text() == "..2024-03-31"
    assert Period(date(2024, 1, 1), None).text() == "2024-01-01.."


def test_every_offered_preset_is_understood_and_the_refusal_lists_them() -> None:
    for name in PRESETS:
        found = period(name, TODAY)
        assert found is not None and found.start is not None and found.end is not None, name
        holds_today = found.start <= TODAY <= found.end
        assert holds_today == (name == "today" or name.startswith("this_") or name.endswith("_days")), name
    with pytest.raises(ValueError) as refused:
        period("fortnight", TODAY)
    assert "this_quarter" in str(refused.value) and "FROM..TO" in str(refused.value)
