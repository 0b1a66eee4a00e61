"""The field-type registry: coercion, JSON, display, import and constraints of every type.

Pure coercion is tested as plain functions (no database); the round trips at the end write
each type through the API and read it back on both backends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tessera.meta.documents import field_problems, normalize_field
from tessera.meta.fieldtypes import FieldValueError, FormulaType, field_type, field_types
from tessera.meta.model import FieldDef
from tessera.meta.percents import percent_text

ALL_TYPES = {
    "text", "long_text", "rich_text", "email", "phone", "url", "integer", "decimal", "currency",
    "percent", "boolean", "date", "datetime", "duration", "select", "multi_select", "lookup",
    "user", "autonumber", "attachment", "json", "rating",
}
OPTIONS = [{"value": "new", "label": "New"}, {"value": "won", "label": "Closed won"},
           {"value": "lost"}]


def fd(type_name: str, **props: Any) -> FieldDef:
    """A normalized field definition of one type, as the metadata service would store it."""
    doc = {"api_name": "f", "label": "F", "type": type_name, **props}
    if type_name == "lookup":
        doc.setdefault("target", "account")
    return FieldDef(normalize_field(doc))


def coerce(type_name: str, value: Any, **props: Any) -> Any:
    field = fd(type_name, **props)
    return field.ftype.coerce(field, value)


def roundtrip_json(type_name: str, value: Any, **props: Any) -> Any:
    field = fd(type_name, **props)
    return field.ftype.to_json(field, field.ftype.coerce(field, value))


def display(type_name: str, value: Any, **props: Any) -> str:
    field = fd(type_name, **props)
    return field.ftype.display(field, field.ftype.coerce(field, value))


def parse(type_name: str, cell: Any, **props: Any) -> Any:
    field = fd(type_name, **props)
    return field.ftype.parse_import(field, cell)


def check(type_name: str, value: Any, **props: Any) -> str | None:
    field = fd(type_name, **props)
    return field.ftype.check(field, field.ftype.coerce(field, value))


# -- the registry ------------------------------------------------------------------------

def test_registry_holds_the_22_built_in_types() -> None:
    assert set(field_types()) >= ALL_TYPES


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_every_type_knows_column_schema_and_formula_type(name: str) -> None:
    field = fd(name)
    ftype = field_type(name)
    assert ftype.name == name and ftype.label
    assert ftype.column_type(field) is not None
    assert isinstance(ftype.value_schema(field), dict)
    assert isinstance(ftype.input_schema(field), dict)
    assert ftype.formula_type in vars(FormulaType).values()
    assert ftype.coerce(field, None) is None
    assert ftype.display(field, None) == ""


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_every_type_refuses_a_value_of_the_wrong_shape_with_field_value_error(name: str) -> None:
    # An object is no type's input except json's (lookups accept {"id": …} only).
    field = fd(name)
    if name == "json":
        assert field.ftype.coerce(field, {"a": 1}) == {"a": 1}
        return
    with pytest.raises(FieldValueError) as raised:
        field.ftype.coerce(field, {"something": "else"})
    assert str(raised.value)


def test_unknown_type_name_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="nope"):
        field_type("nope")


# -- text-like types ---------------------------------------------------------------------

def test_text_strips_and_blanks_to_none() -> None:
    assert coerce("text", "  Acme  ") == "Acme"
    assert coerce("text", "   ") is None
    assert coerce("text", 12) == "12"


@pytest.mark.parametrize("bad", [True, ["a"], {"a": 1}, "a\x00b"])
def test_text_refuses_non_text(bad: Any) -> None:
    with pytest.raises(FieldValueError):
        coerce("text", bad)


def test_text_max_length_and_hard_limit() -> None:
    with pytest.raises(FieldValueError, match="at most 3 characters"):
        coerce("text", "abcd", max_length=3)
    with pytest.raises(FieldValueError, match="at most 1000"):
        coerce("text", "x" * 1001)
    assert coerce("long_text", "x" * 5000) == "x" * 5000


def test_text_pattern_constraint_uses_the_message_given() -> None:
    assert check("text", "AB-12", pattern=r"[A-Z]{2}-\d+") is None
    assert check("text", "ab", pattern=r"[A-Z]{2}-\d+") == r"must match the pattern [A-Z]{2}-\d+"
    assert check("text", "ab", pattern=r"\d+", pattern_message="digits only") == "digits only"


def test_long_text_keeps_leading_indentation() -> None:
    assert coerce("long_text", "  line\n  two  \n") == "  line\n  two"


def test_rich_text_removes_scripts_and_displays_plain_text() -> None:
    cleaned = coerce("rich_text", '<p onclick="x()">Hi <b>there</b><script>alert(1)</script></p>')
    assert "script" not in cleaned and "onclick" not in cleaned and "<b>there</b>" in cleaned
    assert display("rich_text", "<p>Hi <b>there</b></p>") == "Hi there"


def test_email_lowercases_the_domain_only() -> None:
    assert coerce("email", " Ann.Lee@Example.COM ") == "ann.lee@example.com"  # unique fields ignore case


@pytest.mark.parametrize("bad", ["ann", "ann@", "@x.com", "a b@x.com", "ann@example"])
def test_email_refuses_what_is_not_an_address(bad: str) -> None:
    with pytest.raises(FieldValueError, match="e-mail address"):
        coerce("email", bad)


def test_phone_accepts_common_punctuation_and_refuses_letters() -> None:
    assert coerce("phone", "+44 (20) 7946-0958") == "+44 (20) 7946-0958"
    with pytest.raises(FieldValueError, match="phone number"):
        coerce("phone", "call me")


def test_url_adds_https_and_refuses_other_schemes() -> None:
    assert coerce("url", "example.com/a?b=1") == "https://example.com/a?b=1"
    assert coerce("url", "http://example.com") == "http://example.com"
    for bad in ("ftp://example.com", "http://", "https://exa mple.com", "javascript:alert(1)"):
        with pytest.raises(FieldValueError, match="web address"):
            coerce("url", bad)


def test_text_import_reads_numbers_and_dates_as_people_see_them() -> None:
    assert parse("text", 12.0) == "12"
    assert parse("text", 12.5) == "12.5"
    assert parse("text", 42) == "42"
    assert parse("text", datetime(2024, 3, 1, 9, 30)) == "2024-03-01 09:30:00"
    assert parse("text", date(2024, 3, 1)) == "2024-03-01"
    assert parse("text", "  padded ") == "padded"


# -- numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    (42, 42), ("42", 42), (" -7 ", -7), ("1,000", 1000), ("+3", 3), (12.0, 12), ("12.00", 12),
    (Decimal("5"), 5),
])
def test_integer_accepts_whole_numbers_in_any_spelling(raw: Any, expected: int) -> None:
    assert coerce("integer", raw) == expected


@pytest.mark.parametrize("bad", [True, 1.5, "1.5", "abc", "1e3", float("nan"), float("inf"), [1], 2**63])
def test_integer_refuses_fractions_text_and_out_of_range(bad: Any) -> None:
    with pytest.raises(FieldValueError):
        coerce("integer", bad)


def test_integer_min_max_and_display() -> None:
    assert check("integer", 5, min=1, max=10) is None
    assert check("integer", 0, min=1) == "must be at least 1"
    assert check("integer", 11, max=10) == "must be at most 10"
    assert display("integer", 1234567) == "1,234,567"


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1))
def test_integer_coercion_round_trips_through_its_json_and_text(number: int) -> None:
    assert roundtrip_json("integer", number) == number
    assert coerce("integer", str(number)) == number


@pytest.mark.parametrize(("raw", "expected"), [
    ("1200.5", "1200.50"), (1200.5, "1200.50"), (7, "7.00"), ("1,234.567", "1234.57"),
    ("0.005", "0.01"), ("-0.004", "0.00"), ("-0", "0.00"), (" 3 ", "3.00"), ("1e2", "100.00"),
    (Decimal("2.345"), "2.35"), (0.1, "0.10"),
])
def test_decimal_coerces_to_its_scale_exactly(raw: Any, expected: str) -> None:
    assert roundtrip_json("decimal", raw) == expected


def test_decimal_honours_precision_and_scale() -> None:
    assert roundtrip_json("decimal", "3.14159", scale=4) == "3.1416"
    assert roundtrip_json("decimal", "12", scale=0) == "12"
    assert roundtrip_json("decimal", "999.99", precision=5, scale=2) == "999.99"
    with pytest.raises(FieldValueError, match="at most 3 digits before the decimal point"):
        coerce("decimal", "1000", precision=5, scale=2)
    # Rounding up may carry into one digit too many.
    with pytest.raises(FieldValueError, match="at most 3 digits"):
        coerce("decimal", "999.999", precision=5, scale=2)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "1e400", "1e30", True, [1], "1.2.3", float("inf")])
def test_decimal_refuses_non_numbers_and_huge_values_with_a_message(bad: Any) -> None:
    with pytest.raises(FieldValueError):
        coerce("decimal", bad)


def test_decimal_min_max_compare_numbers_not_text() -> None:
    assert check("decimal", "9.5", min="10") == "must be at least 10.00"
    assert check("decimal", "100", max=99.5) == "must be at most 99.50"
    assert check("decimal", "10", min=2, max="10") is None


@pytest.mark.parametrize("type_name", ["decimal", "currency", "percent", "integer", "text"])
@pytest.mark.parametrize("props", [{}, {"scale": 4}, {"precision": 5, "scale": 0}, {"min": "1", "max": 50},
                                   {"min": 0}, {"max": "99.5"}])
def test_a_coercer_and_checker_bound_to_a_field_answer_as_coerce_and_check(type_name: str,
                                                                          props: dict[str, Any]) -> None:
    if type_name in ("integer", "text"):
        props = {k: int(float(v)) for k, v in props.items() if k in ("min", "max")} if type_name == "integer" else {}
    field = fd(type_name, **props)
    coercer, checker = field.ftype.coercer(field), field.ftype.checker(field)
    for raw in ("0", "0.5", "1", "-0.004", "3.14159", "50", "99.6", "1,234.5", 7, 2.5, "", None, "abc", "1e30",
                "12345", True):
        try:
            expected = field.ftype.coerce(field, raw)
        except FieldValueError as error:
            with pytest.raises(FieldValueError, match=str(error)):
                coercer(field, raw)
            continue
        assert coercer(field, raw) == expected
        if expected is not None and expected != "":
            assert checker(field, expected) == field.ftype.check(field, expected)


@given(st.decimals(min_value=Decimal("-9999999999999999.99"), max_value=Decimal("9999999999999999.99"),
                   places=2, allow_nan=False, allow_infinity=False))
def test_decimal_coercion_round_trips_exactly_through_its_string(number: Decimal) -> None:
    text = roundtrip_json("decimal", number)
    assert Decimal(text) == number
    assert roundtrip_json("decimal", text) == text
    assert text == format(number.quantize(Decimal("0.01")) + 0, "f")


def test_currency_and_percent_display() -> None:
    assert display("currency", "1234.5", currency="EUR") == "1,234.50 EUR"
    assert display("currency", "1234.5") == "1,234.50"
    # Percentages in the house style (tessera.meta.percents): the field's places, trailing
    # zeros trimmed, a narrow no-break space before the sign.
    assert display("percent", "12.5") == "12.5\u202f%"
    assert display("percent", "75") == "75\u202f%"
    assert display("percent", "0.125", scale=3) == "0.125\u202f%"
    assert roundtrip_json("percent", "12.5") == "12.50"


def test_percentages_read_alike_wherever_they_are_shown() -> None:
    """One house style for a percent field and for a report's conversion or a KPI's change."""
    assert percent_text("75.00") == "75\u202f%"
    assert percent_text("12.50") == "12.5\u202f%"
    assert percent_text("0.857142", 1, share=True) == "85.7\u202f%"
    assert percent_text("0.5", 1, share=True) == "50\u202f%"
    assert percent_text("0.25", 1, share=True, signed=True) == "+25\u202f%"
    assert percent_text("-0.1", 1, share=True, signed=True) == "-10\u202f%"
    assert percent_text("0", 1, share=True, signed=True) == "0\u202f%"
    assert percent_text("1234.5") == "1,234.5\u202f%"
    assert percent_text("0.005", 2) == "0.01\u202f%"  # half up, as the field stores it
    assert (percent_text(None), percent_text(""), percent_text("n/a")) == ("", "", "n/a")
    # What a percent field shows reads back as the same value (a pasted cell, an import).
    field = fd("percent")
    assert field.ftype.to_json(field, parse("percent", display("percent", "1234.5"))) == "1234.50"


def test_currency_and_percent_import_read_symbols_and_percent_signs() -> None:
    field = fd("currency")
    assert field.ftype.to_json(field, parse("currency", "$1,200.50")) == "1200.50"
    assert field.ftype.to_json(field, parse("currency", "1200.5 EUR")) == "1200.50"
    assert field.ftype.to_json(field, parse("currency", 1200.5)) == "1200.50"
    field = fd("percent")
    assert field.ftype.to_json(field, parse("percent", "12.5%")) == "12.50"
    assert field.ftype.to_json(field, parse("percent", "12.5 %")) == "12.50"
    with pytest.raises(FieldValueError):
        parse("currency", "lots")


def test_rating_is_a_whole_number_up_to_its_max() -> None:
    assert coerce("rating", "3") == 3
    assert coerce("rating", 10, max=10) == 10
    with pytest.raises(FieldValueError, match="between 0 and 5"):
        coerce("rating", 6)
    with pytest.raises(FieldValueError):
        coerce("rating", 2.5)
    assert display("rating", 3) == "★★★☆☆"


@pytest.mark.parametrize(("raw", "seconds"), [
    (90, 90), ("90", 90), ("1:30", 5400), ("1:30:15", 5415), ("-0:05", -300), ("PT1H30M", 5400),
    ("P1DT2H", 93600), ("PT45S", 45), ("P2D", 172800), (timedelta(minutes=3), 180),
    (time(1, 30), 5400), (60.0, 60), ("4 hours", 14400), ("1h 30m", 5400), ("1 Hour, 30 Minutes", 5400),
    ("2 days and 3 hours", 183600), ("1.5 hours", 5400), ("90 min", 5400), ("-2 days", -172800), ("1 week", 604800),
])
def test_duration_accepts_words_seconds_clock_and_iso_8601(raw: Any, seconds: int) -> None:
    assert coerce("duration", raw) == seconds


@pytest.mark.parametrize("bad", ["P", "PT", "1:60", "abc", 1.5, True, "1 fortnight", "2 business days", "hours",
                                 "4 hours ago", timedelta(milliseconds=5)])
def test_duration_refuses_what_it_cannot_read(bad: Any) -> None:
    with pytest.raises(FieldValueError, match="duration"):
        coerce("duration", bad)


def test_duration_display_and_min_max() -> None:
    assert display("duration", 93784) == "1 day 2 hours 3 minutes 4 seconds"
    assert display("duration", 14400) == "4 hours"
    assert display("duration", 0) == "0 minutes"
    assert display("duration", -90) == "-1 minute 30 seconds"
    assert check("duration", "0:10", max="0:05") == "must be at most 5 minutes"
    assert check("duration", 30, min=60) == "must be at least 1 minute"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_duration_round_trips_through_seconds_words_and_clock_text(seconds: int) -> None:
    assert roundtrip_json("duration", seconds) == seconds
    assert coerce("duration", display("duration", seconds)) == seconds
    sign, rest = ("-" if seconds < 0 else ""), abs(seconds)
    clock = f"{sign}{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    assert coerce("duration", clock) == seconds
    if seconds >= 0:
        iso = f"PT{rest // 3600}H{rest % 3600 // 60}M{rest % 60}S"
        assert coerce("duration", iso) == seconds


def test_duration_import_reads_spreadsheet_times() -> None:
    assert parse("duration", timedelta(hours=26)) == 93600
    assert parse("duration", time(0, 45)) == 2700
    assert parse("duration", "1:15") == 4500


# -- booleans and choices ----------------------------------------------------------------

def test_boolean_accepts_json_booleans_and_zero_one() -> None:
    assert coerce("boolean", True) is True
    assert coerce("boolean", 0) is False
    for bad in ("maybe", 2, [True]):
        with pytest.raises(FieldValueError, match="true or false"):
            coerce("boolean", bad)


@pytest.mark.parametrize(("cell", "expected"), [
    ("yes", True), ("No", False), (" TRUE ", True), ("x", True), ("0", False), ("", None),
    (1, True), (0, False), (1.0, True), (0.0, False), (True, True), (None, None),
])
def test_boolean_import_reads_yes_no_and_numbers(cell: Any, expected: bool | None) -> None:
    assert parse("boolean", cell) is expected


def test_boolean_display() -> None:
    assert display("boolean", True) == "Yes"
    assert display("boolean", False) == "No"


def test_select_matches_values_labels_and_case() -> None:
    assert coerce("select", "won", options=OPTIONS) == "won"
    assert coerce("select", "closed WON", options=OPTIONS) == "won"
    assert coerce("select", " New ", options=OPTIONS) == "new"
    assert coerce("select", "", options=OPTIONS) is None
    assert display("select", "won", options=OPTIONS) == "Closed won"
    assert display("select", "lost", options=OPTIONS) == "lost"


def test_select_refuses_unknown_options_listing_the_choices() -> None:
    with pytest.raises(FieldValueError, match="choose one of: new, won, lost"):
        coerce("select", "maybe", options=OPTIONS)
    with pytest.raises(FieldValueError):
        coerce("select", 3, options=OPTIONS)


def test_multi_select_orders_like_the_options_and_drops_repeats() -> None:
    assert coerce("multi_select", ["lost", "new", "New"], options=OPTIONS) == ["new", "lost"]
    assert coerce("multi_select", "won; new", options=OPTIONS) == ["new", "won"]
    assert coerce("multi_select", [], options=OPTIONS) is None
    assert display("multi_select", ["won", "new"], options=OPTIONS) == "New; Closed won"
    with pytest.raises(FieldValueError, match="at most 1"):
        coerce("multi_select", ["new", "won"], options=OPTIONS, max_items=1)
    with pytest.raises(FieldValueError, match="not an option"):
        coerce("multi_select", ["new", "other"], options=OPTIONS)


def test_choice_import_reads_labels_and_semicolon_lists() -> None:
    assert parse("select", " Closed won ", options=OPTIONS) == "won"
    assert parse("multi_select", "New;Closed won", options=OPTIONS) == ["new", "won"]


# -- dates ------------------------------------------------------------------------------

def test_date_accepts_iso_dates_and_datetimes() -> None:
    assert coerce("date", "2024-02-29") == date(2024, 2, 29)
    assert coerce("date", "2024-02-29T23:00:00Z") == date(2024, 2, 29)
    assert coerce("date", datetime(2024, 1, 2, 3, 4)) == date(2024, 1, 2)
    assert roundtrip_json("date", "2024-02-29") == "2024-02-29"
    for bad in ("2023-02-29", "31/12/2024", "tomorrow", 20240101, True):
        with pytest.raises(FieldValueError, match="date like 2024-12-31"):
            coerce("date", bad)


def test_date_min_max() -> None:
    assert check("date", "2024-01-01", min="2024-06-01") == "must be at least 2024-06-01"
    assert check("date", "2024-07-01", min="2024-06-01", max="2024-12-31") is None


def test_date_import_reads_spreadsheet_dates_and_common_text() -> None:
    assert parse("date", datetime(2024, 5, 6, 0, 0)) == date(2024, 5, 6)
    assert parse("date", " 2024-05-06 ") == date(2024, 5, 6)
    assert parse("date", "2024/05/06") == date(2024, 5, 6)


def test_datetime_is_utc_without_microseconds() -> None:
    assert roundtrip_json("datetime", "2024-03-01T10:00:00+02:00") == "2024-03-01T08:00:00Z"
    assert roundtrip_json("datetime", "2024-03-01T10:00:00.123456Z") == "2024-03-01T10:00:00Z"
    assert roundtrip_json("datetime", "2024-03-01 10:00") == "2024-03-01T10:00:00Z"
    assert roundtrip_json("datetime", "2024-03-01") == "2024-03-01T00:00:00Z"
    east = timezone(timedelta(hours=5))
    assert coerce("datetime", datetime(2024, 1, 1, 5, tzinfo=east)) == datetime(2024, 1, 1, tzinfo=UTC)
    assert display("datetime", "2024-03-01T10:00:00Z") == "2024-03-01 10:00 UTC"


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00Z", 1700000000, True, "0001-01-01T00:00:00+01:00"])
def test_datetime_refuses_what_is_not_a_moment(bad: Any) -> None:
    with pytest.raises(FieldValueError):
        coerce("datetime", bad)


def test_datetime_min_max() -> None:
    assert check("datetime", "2024-01-01T00:00:00Z", min="2024-06-01T00:00:00Z") \
        == "must be at least 2024-06-01 00:00 UTC"


# -- references, json, autonumber --------------------------------------------------------

def test_lookup_and_user_take_record_ids() -> None:
    for name in ("lookup", "user"):
        assert coerce(name, 5) == 5
        assert coerce(name, "5") == 5
        assert coerce(name, {"id": 7}) == 7
        for bad in (0, -1, "abc", True, 1.5, 2**63):
            with pytest.raises(FieldValueError, match="id of a record"):
                coerce(name, bad)
    assert parse("lookup", 12.0) == 12


def test_lookup_on_delete_defaults_to_set_null() -> None:
    field = fd("lookup")
    assert field.ftype.on_delete(field) == "set_null"  # type: ignore[attr-defined]


def test_attachment_takes_uploaded_file_ids() -> None:
    a, b = "a" * 32, "b" * 32
    assert coerce("attachment", [a, {"id": b}, a]) == [{"id": a}, {"id": b}]
    assert coerce("attachment", []) is None
    for bad in (a, ["nothex" * 5], [a.upper()]):
        with pytest.raises(FieldValueError, match="uploaded file ids"):
            coerce("attachment", bad)
    with pytest.raises(FieldValueError, match="at most 1 files"):
        coerce("attachment", [a, b], max_files=1)
    field = fd("attachment")
    assert field.ftype.display(field, [{"id": a, "name": "cv.pdf"}]) == "cv.pdf"


def test_json_accepts_any_json_and_refuses_nan() -> None:
    assert coerce("json", {"a": [1, 2, {"b": None}]}) == {"a": [1, 2, {"b": None}]}
    assert coerce("json", "text") == "text"
    for bad in (float("nan"), {"a": float("inf")}, {1, 2}, "a\x00"):
        with pytest.raises(FieldValueError):
            coerce("json", bad)
    assert display("json", {"a": "é"}) == '{"a": "é"}'


def test_json_import_parses_json_text() -> None:
    assert parse("json", '{"a": 1}') == {"a": 1}
    assert parse("json", "[1, 2]") == [1, 2]
    assert parse("json", "plain words") == "plain words"


def test_autonumber_formats_prefix_and_padding() -> None:
    field = fd("autonumber", prefix="TCK-", digits=6)
    assert field.ftype.format(field, 42) == "TCK-000042"  # type: ignore[attr-defined]
    assert field.read_only
    plain = fd("autonumber")
    assert plain.ftype.format(plain, 7) == "000007"  # type: ignore[attr-defined]


# -- field documents ---------------------------------------------------------------------

def test_field_documents_with_bad_defaults_and_bounds_are_refused_at_definition() -> None:
    def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
        return [(p.field, p.message) for p in field_problems({"api_name": "f", "label": "F", **doc})]

    assert problems({"type": "integer", "default": "many"}) == [("/default", "must be a whole number")]
    assert problems({"type": "date", "min": "soon"})[0][0] == "/min"
    assert problems({"type": "integer", "min": 5, "max": 1})[0][0] == "/max"
    assert problems({"type": "select", "options": [{"value": "a"}], "default": "b"})[0][0] == "/default"
    assert problems({"type": "text", "pattern": "("})[0][0] == "/pattern"
    assert problems({"type": "integer", "default": 3, "min": 1, "max": 5}) == []
    assert problems({"type": "integer", "default": 9, "max": 5}) == [("/default", "must be at most 5")]


# -- round trips through the API, on both backends ---------------------------------------

ROUNDTRIP_FIELDS: list[dict[str, Any]] = [
    {"api_name": "t_text", "type": "text"},
    {"api_name": "t_long", "type": "long_text"},
    {"api_name": "t_rich", "type": "rich_text"},
    {"api_name": "t_email", "type": "email"},
    {"api_name": "t_phone", "type": "phone"},
    {"api_name": "t_url", "type": "url"},
    {"api_name": "t_int", "type": "integer"},
    {"api_name": "t_dec", "type": "decimal", "precision": 12, "scale": 4},
    {"api_name": "t_cur", "type": "currency", "currency": "EUR"},
    {"api_name": "t_pct", "type": "percent"},
    {"api_name": "t_bool", "type": "boolean"},
    {"api_name": "t_date", "type": "date"},
    {"api_name": "t_dt", "type": "datetime"},
    {"api_name": "t_dur", "type": "duration"},
    {"api_name": "t_sel", "type": "select", "options": OPTIONS},
    {"api_name": "t_multi", "type": "multi_select", "options": OPTIONS},
    {"api_name": "t_acct", "type": "lookup", "target": "account"},
    {"api_name": "t_user", "type": "user"},
    {"api_name": "t_num", "type": "autonumber", "prefix": "TCK-", "digits": 6},
    {"api_name": "t_json", "type": "json"},
    {"api_name": "t_rate", "type": "rating"},
]

VALUES: dict[str, Any] = {
    "t_text": "Hello, wörld", "t_long": "line one\nline two", "t_rich": "<p>Hi <b>there</b></p>",
    "t_email": "ann@example.com", "t_phone": "+1 555 0100", "t_url": "https://example.com/x?y=1",
    "t_int": -9007199254740993, "t_dec": "12345678.1234", "t_cur": "1200.50", "t_pct": "12.50",
    "t_bool": False, "t_date": "2024-02-29", "t_dt": "2024-03-01T08:00:00Z", "t_dur": 5400,
    "t_sel": "won", "t_multi": ["new", "lost"], "t_json": {"a": [1, "two", None, True], "b": 1.5},
    "t_rate": 4,
}


def _make_objects(api: Any) -> int:
    api.ok(api.post("/meta/objects", {"api_name": "account", "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    fields = [{"label": f["api_name"], **f} for f in ROUNDTRIP_FIELDS]
    api.ok(api.post("/meta/objects", {"api_name": "thing", "label": "Thing", "fields": fields}), 201)
    return api.ok(api.post("/records/account", {"name": "Acme"}), 201)["id"]


def test_every_type_round_trips_through_the_api_unchanged(api: Any, runtime: Any) -> None:
    account = _make_objects(api)
    admin = runtime.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    sent = {**VALUES, "t_acct": account, "t_user": admin}
    created = api.ok(api.post("/records/thing", sent), 201)
    fetched = api.ok(api.get(f"/records/thing/{created['id']}"))
    for name, value in sent.items():
        assert fetched[name] == value, name
        assert created[name] == value, name
    assert fetched["t_num"] == "TCK-000001"


def test_blank_values_round_trip_as_null(api: Any) -> None:
    _make_objects(api)
    created = api.ok(api.post("/records/thing", {name: None for name in VALUES}), 201)
    fetched = api.ok(api.get(f"/records/thing/{created['id']}"))
    assert all(fetched[name] is None for name in VALUES)


def test_loose_input_is_returned_in_canonical_form(api: Any) -> None:
    _make_objects(api)
    created = api.ok(api.post("/records/thing", {
        "t_dec": 1.5, "t_cur": "1,200.5", "t_pct": 7, "t_dt": "2024-03-01T10:00:00+02:00",
        "t_dur": "PT1H30M", "t_sel": "Closed won", "t_multi": "lost;new", "t_email": "Ann@EXAMPLE.com",
        "t_url": "example.com", "t_int": "1,000",
    }), 201)
    fetched = api.ok(api.get(f"/records/thing/{created['id']}"))
    assert {k: fetched[k] for k in ("t_dec", "t_cur", "t_pct", "t_dt", "t_dur", "t_sel", "t_multi",
                                    "t_email", "t_url", "t_int")} == {
        "t_dec": "1.5000", "t_cur": "1200.50", "t_pct": "7.00", "t_dt": "2024-03-01T08:00:00Z",
        "t_dur": 5400, "t_sel": "won", "t_multi": ["new", "lost"], "t_email": "ann@example.com",
        "t_url": "https://example.com", "t_int": 1000,
    }


def test_bad_values_give_one_error_per_field(api: Any) -> None:
    _make_objects(api)
    response = api.post("/records/thing", {
        "t_int": "x", "t_dec": "abc", "t_date": "2023-02-30", "t_sel": "maybe", "t_email": "no",
        "t_rate": 9, "t_bool": "perhaps", "t_num": "TCK-1",
    })
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert set(errors) == {"t_int", "t_dec", "t_date", "t_sel", "t_email", "t_rate", "t_bool", "t_num"}
    assert errors["t_num"]["code"] == "read_only"


def test_constraints_are_enforced_on_save(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "part", "label": "Part", "fields": [
        {"api_name": "code", "label": "Code", "type": "text", "required": True, "unique": True,
         "pattern": "[A-Z]{2}-[0-9]+", "max_length": 8},
        {"api_name": "qty", "label": "Qty", "type": "integer", "min": 0, "max": 100},
        {"api_name": "price", "label": "Price", "type": "decimal", "min": "0.01"},
    ]}), 201)
    api.ok(api.post("/records/part", {"code": "AB-1", "qty": 5, "price": "1"}), 201)
    bad = api.post("/records/part", {"code": "ab", "qty": 101, "price": "0"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"code", "qty", "price"}
    assert api.post("/records/part", {"qty": 1}).json()["errors"][0]["code"] == "required"
    too_long = api.post("/records/part", {"code": "AB-123456"})
    assert too_long.status_code == 422
    duplicate = api.post("/records/part", {"code": "AB-1"})
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["errors"][0]["code"] == "not_unique"


def test_autonumbers_are_unique_and_padded_when_created_in_bulk(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "ticket", "label": "Ticket", "fields": [
        {"api_name": "title", "label": "Title", "type": "text"},
        {"api_name": "number", "label": "Number", "type": "autonumber", "prefix": "TCK-", "digits": 6,
         "start": 40}]}), 201)
    one = api.ok(api.post("/records/ticket", {"title": "first"}), 201)
    bulk = api.ok(api.post("/records/ticket", [{"title": f"t{i}"} for i in range(250)]), 201)["data"]
    numbers = [one["number"], *(r["number"] for r in bulk)]
    assert numbers[:3] == ["TCK-000040", "TCK-000041", "TCK-000042"]
    assert len(set(numbers)) == 251
    assert numbers == sorted(numbers)


@pytest.mark.parametrize(("type_name", "props", "value"), [
    ("decimal", {}, Decimal("12.50")), ("currency", {"scale": 0}, Decimal("7")), ("percent", {}, Decimal("0.05")),
    ("formula", {"expression": "1", "formula_type": "number"}, Decimal("12.5000")),
    ("formula", {"expression": "1", "formula_type": "number"}, Decimal("-0.000")),
    ("formula", {"expression": "1", "formula_type": "number", "scale": 2}, Decimal("2.345")),
    ("formula", {"expression": "1", "formula_type": "datetime"}, datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("formula", {"expression": "1", "formula_type": "text"}, "x"),
    ("date", {}, date(2024, 5, 1)), ("text", {}, "plain"),
])
def test_a_json_converter_bound_to_a_field_answers_as_to_json(type_name: str, props: dict[str, Any],
                                                             value: Any) -> None:
    field = fd(type_name, **props)
    convert = field.ftype.json_converter(field)
    expected = field.ftype.to_json(field, value)
    assert (value if convert is None else convert(value)) == expected
