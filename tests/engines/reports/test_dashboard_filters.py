"""Dashboard filters without a database: values checked and made active (every misfit named
at once), each widget's share of them written as one formula on its object's own field,
and the period a KPI compares with."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tessera.errors import InvalidInput
from tessera.formula import SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.reports import ActiveFilter, Period, activate_filters, compared_period, field_choices, widget_filter

TODAY = date(2024, 5, 15)
TEAMS = {"east": (3, 5), "empty": ()}


def _obj(name: str, fields: list[dict[str, Any]]) -> ObjectDef:
    return ObjectDef({"uid": f"obj_{name}", "api_name": name, "label": name.title(),
                      "fields": [{"uid": f"{name}.{f['api_name']}", "label": f["api_name"], **f} for f in fields]})


DEAL = _obj("deal", [
    {"api_name": "name", "type": "text"},
    {"api_name": "amount", "type": "decimal"},
    {"api_name": "stage", "type": "select", "options": [{"value": "open", "label": "Open"}, {"value": "won"}]},
    {"api_name": "close_date", "type": "date"},
    {"api_name": "closed_at", "type": "datetime"},
    {"api_name": "hot", "type": "boolean"},
    {"api_name": "account", "type": "lookup", "target": "account"},
    {"api_name": "talk", "type": "duration"},
])
ACCOUNT = _obj("account", [{"api_name": "name", "type": "text"}])
SCHEMA = SimpleSchema([DEAL, ACCOUNT])
DOC = {"api_name": "d", "label": "D", "filters": [
    {"name": "period", "type": "date_range", "field": "close_date", "default": "this_quarter"},
    {"name": "owner", "type": "owner"},
    {"name": "team", "type": "team"},
    {"name": "stage", "type": "field", "field": {"deal": "stage"}},
]}
WIDGET = {"id": "w", "type": "kpi", "report": "r"}


def activate(given: dict[str, Any], user_id: int | None = 7, doc: dict[str, Any] = DOC) -> list[ActiveFilter]:
    return activate_filters(doc, given, TODAY, user_id, TEAMS.get)


def formula(spec: dict[str, Any], value: Any, widget: dict[str, Any] = WIDGET) -> str | None:
    doc = {"api_name": "d", "label": "D", "filters": [spec]}
    return widget_filter(SCHEMA, DEAL, widget, activate({spec["name"]: value}, doc=doc))


# -- values -------------------------------------------------------------------------------

def test_defaults_apply_until_a_value_is_given_and_all_turns_a_date_range_off() -> None:
    active = {a.name: a for a in activate({})}
    assert list(active) == ["period"]
    assert active["period"].value == "2024-04-01..2024-06-30"
    assert active["period"].period == Period(date(2024, 4, 1), date(2024, 6, 30), "quarter")
    off = {a.name: a for a in activate({"period": "all"})}
    assert off["period"].value == "all" and off["period"].period is None
    assert [a.name for a in activate({"period": ""})] == []  # blank: no filter, not even the default


def test_me_is_the_viewer_and_a_team_is_its_members() -> None:
    active = {a.name: a for a in activate({"owner": "me", "team": "east", "stage": "won"})}
    assert active["owner"].members == (7,) and active["owner"].value == "me"
    assert active["team"].members == (3, 5) and active["team"].value == "east"
    assert active["stage"].value == "won" and active["stage"].members == ()
    assert {a.name: a for a in activate({"owner": "12"})}["owner"].members == (12,)


def test_values_that_do_not_fit_are_refused_together_with_each_filter_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        activate({"period": "soon", "owner": "boss", "team": "north", "colour": "red"})
    found = {p.field: p for p in refused.value.errors}
    assert set(found) == {"filter.period", "filter.owner", "filter.team", "filter.colour"}
    assert found["filter.colour"].code == "unknown_name"
    assert "there is no team named 'north'" in found["filter.team"].message
    with pytest.raises(InvalidInput) as nobody:
        activate({"owner": "me"}, user_id=None)
    assert [p.message for p in nobody.value.errors] == ['"me" needs a signed-in user']


# -- formulas -----------------------------------------------------------------------------

def test_a_date_range_narrows_its_field_between_both_ends_and_a_datetime_by_its_day() -> None:
    spec = {"name": "p", "type": "date_range", "field": "close_date"}
    assert formula(spec, "2024-01-01..2024-03-31") == (
        "close_date >= DATE(2024, 1, 1) AND close_date <= DATE(2024, 3, 31)")
    assert formula(spec, "2024-01-01..") == "close_date >= DATE(2024, 1, 1)"
    assert formula(spec, "all") is None
    timed = {"name": "p", "type": "date_range", "field": "closed_at"}
    assert formula(timed, "..2024-03-31") == "DATEVALUE(closed_at) <= DATE(2024, 3, 31)"


def test_owners_and_teams_narrow_to_their_members() -> None:
    assert formula({"name": "o", "type": "owner"}, "me") == "(owner.id = 7)"
    assert formula({"name": "t", "type": "team"}, "east") == "(owner.id = 3 OR owner.id = 5)"
    assert formula({"name": "t", "type": "team"}, "empty") == "FALSE"


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("stage", "won", 'stage = "won"'),
    ("name", ' a "b" \\ c\nd\te ', 'name = "a \\"b\\" \\\\ c\\nd\\te"'),  # trimmed, quotes escaped
    ("amount", " 12.50 ", "amount = 12.50"),
    ("talk", "90", "SECONDS(talk) = 90"),
    ("hot", "yes", "hot"),
    ("hot", "false", "NOT(hot)"),
    ("account", "42", "account.id = 42"),
    ("close_date", "2024-02-29", "close_date = DATE(2024, 2, 29)"),
])
def test_a_field_filter_writes_its_value_as_a_literal_of_the_fields_type(field: str, value: str,
                                                                         expected: str) -> None:
    assert formula({"name": "f", "type": "field", "field": field}, value) == expected


@pytest.mark.parametrize(("field", "value", "message"), [
    ("amount", "many", "needs a number"), ("account", "acme", "needs a record id"),
    ("close_date", "May", "needs a date"),
])
def test_a_value_of_the_wrong_type_is_refused_with_the_filter_named(field: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        formula({"name": "f", "type": "field", "field": field}, value)
    assert message in refused.value.detail and [p.field for p in refused.value.errors] == ["filter.f"]


def test_a_filter_on_a_field_the_object_lacks_is_refused_and_one_for_another_object_is_ignored() -> None:
    with pytest.raises(InvalidInput) as refused:
        formula({"name": "f", "type": "field", "field": "colour"}, "red")
    assert refused.value.errors[0].code == "unknown_field"
    assert formula({"name": "f", "type": "field", "field": {"account": "name"}}, "Acme") is None


def test_a_widgets_filters_are_anded_and_only_those_it_follows_count() -> None:
    active = activate({"owner": "me", "stage": "won", "period": "all"})
    assert widget_filter(SCHEMA, DEAL, WIDGET, active) == '((owner.id = 7)) AND (stage = "won")'
    only_stage = {**WIDGET, "options": {"filters": ["stage"]}}
    assert widget_filter(SCHEMA, DEAL, only_stage, active) == 'stage = "won"'
    assert widget_filter(SCHEMA, DEAL, {**WIDGET, "options": {"filters": []}}, active) is None


def test_at_replaces_the_date_range_for_the_previous_period() -> None:
    active = activate({})
    before = compared_period(WIDGET, active, "deal")
    assert before == Period(date(2024, 1, 1), date(2024, 3, 31), "quarter")
    assert widget_filter(SCHEMA, DEAL, WIDGET, active, at=before) == (
        "close_date >= DATE(2024, 1, 1) AND close_date <= DATE(2024, 3, 31)")


def test_there_is_nothing_to_compare_with_without_a_date_range_on_the_widget() -> None:
    assert compared_period(WIDGET, activate({"period": "all"}), "deal") is None
    assert compared_period({**WIDGET, "options": {"filters": ["owner"]}}, activate({}), "deal") is None
    assert compared_period(WIDGET, activate({"period": "2024-01-01.."}), "deal") is None  # open: no length
    on_deals = {"api_name": "d", "label": "D",
                "filters": [{"name": "p", "type": "date_range", "field": {"deal": "close_date"}}]}
    active = activate({"p": "this_month"}, doc=on_deals)
    assert compared_period(WIDGET, active, "account") is None
    assert compared_period(WIDGET, active, "deal") == Period(date(2024, 4, 1), date(2024, 4, 30), "month")


# -- choices ------------------------------------------------------------------------------

def test_a_field_filter_offers_a_selects_options_or_yes_and_no() -> None:
    assert field_choices(SCHEMA, {"name": "s", "type": "field", "field": {"deal": "stage"}}, ["deal"]) == [
        {"value": "open", "label": "Open"}, {"value": "won", "label": "won"}]
    assert field_choices(SCHEMA, {"name": "h", "type": "field", "field": "hot"}, ["account", "deal"]) == [
        {"value": "true", "label": "Yes"}, {"value": "false", "label": "No"}]
    assert field_choices(SCHEMA, {"name": "n", "type": "field", "field": "name"}, ["account", "deal"]) == []
