"""Reading cells as dates, numbers and yes/no in the conventions people's files use, each
column's convention found from its values, and a clear reason for a cell that does not fit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tessera.imports.mapping import suggest
from tessera.imports.values import (
    COMMA,
    DMY,
    MDY,
    POINT,
    CellError,
    date_order,
    needs_order,
    number_style,
    read_boolean,
    read_date,
    read_datetime,
    read_number,
)


def test_iso_and_chinese_dates_need_no_order() -> None:
    assert read_date("2026-03-01") == read_date("2026/3/1") == read_date("2026年3月1日") == date(2026, 3, 1)
    assert read_datetime("2026-03-01 14:05") == datetime(2026, 3, 1, 14, 5)


def test_a_columns_day_month_order_is_found_from_a_value_that_settles_it() -> None:
    assert date_order(["01/02/2026", "03/04/2026", "25/12/2026"]) == DMY
    assert date_order(["01/02/2026", "12/31/2026"]) == MDY
    assert date_order(["01/02/2026", "03/04/2026"]) is None and needs_order(["01/02/2026"])
    assert not needs_order(["2026-01-02"])


def test_day_month_dates_read_in_the_columns_order_and_ask_when_it_is_unknown() -> None:
    assert read_date("01/02/2026", DMY) == date(2026, 2, 1)
    assert read_date("01/02/2026", MDY) == date(2026, 1, 2)
    assert read_date("1.2.26", DMY) == date(2026, 2, 1)
    with pytest.raises(CellError, match="say which"):
        read_date("01/02/2026")


@pytest.mark.parametrize("text", ["2026-02-30", "31/31/2026", "tomorrow", "2026-01-01 25:00"])
def test_what_is_no_date_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(CellError):
        read_datetime(text, DMY)


def test_typed_spreadsheet_cells_are_taken_as_they_are() -> None:
    assert read_date(datetime(2026, 3, 1, 9, 30)) == date(2026, 3, 1)
    assert read_number(1200.5) == Decimal("1200.5")
    assert read_boolean(True) is True


def test_a_columns_decimal_mark_is_found_from_its_values() -> None:
    assert number_style(["1.234,56", "12"]) == COMMA
    assert number_style(["1,234.56"]) == POINT
    assert number_style(["12,5"]) == COMMA
    assert number_style(["1,234", "2.5"]) == POINT
    assert number_style(["1.234.567"]) == COMMA


@pytest.mark.parametrize(("text", "style", "number"), [
    ("1,234.56", POINT, "1234.56"), ("1.234,56", COMMA, "1234.56"), ("1 234,56", COMMA, "1234.56"),
    ("$1,200", POINT, "1200"), ("€ 1.200,50", COMMA, "1200.50"), ("¥980", POINT, "980"),
    ("(45.10)", POINT, "-45.10"), ("-3", POINT, "-3"), ("1200 CNY", POINT, "1200"),
])
def test_numbers_read_with_separators_and_currency_signs(text: str, style: object, number: str) -> None:
    assert read_number(text, style) == Decimal(number)  # type: ignore[arg-type]


def test_percent_signs_only_where_the_field_is_a_percentage_and_words_are_refused() -> None:
    assert read_number("12.5%", POINT, percent=True) == Decimal("12.5")
    with pytest.raises(CellError, match="percentage"):
        read_number("12.5%", POINT)
    with pytest.raises(CellError, match="not a number"):
        read_number("twelve", POINT)


@pytest.mark.parametrize(("text", "expected"), [
    ("Yes", True), ("n", False), ("TRUE", True), ("0", False), ("是", True), ("否", False), ("x", True),
])
def test_yes_and_no_in_the_usual_words(text: str, expected: bool) -> None:
    assert read_boolean(text) is expected


def test_yes_and_no_words_of_the_mapping_and_a_refusal_for_others() -> None:
    assert read_boolean("Active", yes=["active"], no=["inactive"]) is True
    with pytest.raises(CellError, match="not yes or no"):
        read_boolean("maybe")


def test_columns_match_fields_by_name_then_label_then_a_close_name_one_column_per_field() -> None:
    fields = {"name": "Deal name", "close_date": "Close date", "amount": "Amount", "stage": "Stage"}
    found = {s.column: (s.field, s.how) for s in suggest(
        ["Deal Name", "CLOSE-DATE", "Ammount", "Stage", "stage", "Notes"], fields)}
    assert found == {"Deal Name": ("name", "label"), "CLOSE-DATE": ("close_date", "name"),
                     "Ammount": ("amount", "close"), "Stage": ("stage", "name"), "stage": (None, ""),
                     "Notes": (None, "")}


@pytest.mark.parametrize(("text", "style", "number"), [
    ("1,234.50", POINT, "1234.50"), ("1.234,50", COMMA, "1234.50"), ("-12", POINT, "-12"), ("+.5", POINT, "0.5"),
    ("7.", POINT, "7"), ("1,2,3", POINT, "123"), (" 1,234.50 ", POINT, "1234.50"), ("(1,200.00)", POINT, "-1200.00")])
def test_plain_numbers_read_the_short_way_as_the_long_way_reads_them(text: str, style: object, number: str) -> None:
    assert read_number(text, style) == Decimal(number)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1.2.3", "1,234.5.6", "--1", "1e5", "1,234.50%"])
def test_what_only_looks_plain_is_still_refused(text: str) -> None:
    with pytest.raises(CellError):
        read_number(text, POINT)


def test_an_iso_date_reads_the_short_way_and_a_day_the_calendar_lacks_says_so() -> None:
    assert read_date("2024-02-29") == date(2024, 2, 29)
    assert read_date("2024-2-9x"[:8]) == date(2024, 2, 9)  # not ten characters: the long way
    with pytest.raises(CellError, match="not a day of the calendar"):
        read_date("2023-02-29")
