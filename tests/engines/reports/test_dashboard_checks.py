"""Dashboard documents checked without a database: a good dashboard passes; each kind of
problem — names used twice, filter defaults that do not fit, filters on fields a widget's
object lacks or of the wrong type, widgets off the grid, reports and measures that do not
exist, inline reports that do not check — is reported at its JSON pointer; and the objects
and fields a dashboard names, for the dependency graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tessera.errors import FieldProblem
from tessera.formula import Schema, SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.reports import (
    GRID_COLUMNS,
    NameRef,
    ReportError,
    check_dashboard,
    dashboard_schema_problems,
    names_in_dashboard,
    plan,
    resolve_path,
)


def _obj(name: str, fields: list[dict[str, Any]]) -> ObjectDef:
    return ObjectDef({"uid": f"obj_{name}", "api_name": name, "label": name.title(),
                      "fields": [{"uid": f"{name}.{f['api_name']}", "label": f["api_name"].replace("_", " ").title(),
                                  **f} for f in fields]})


ACCOUNT = _obj("account", [
    {"api_name": "name", "type": "text"},
    {"api_name": "region", "type": "select", "options": [{"value": "north"}, {"value": "south"}]},
    {"api_name": "manager", "type": "user"},
])
DEAL = _obj("deal", [
    {"api_name": "name", "type": "text"},
    {"api_name": "amount", "type": "currency"},
    {"api_name": "stage", "type": "select", "options": [{"value": "open"}, {"value": "won"}]},
    {"api_name": "close_date", "type": "date"},
    {"api_name": "closed_at", "type": "datetime"},
    {"api_name": "account", "type": "lookup", "target": "account"},
])
TICKET = _obj("ticket", [
    {"api_name": "subject", "type": "text"},
    {"api_name": "opened_on", "type": "date"},
])
SCHEMA = SimpleSchema([ACCOUNT, DEAL, TICKET])
SAVED: dict[str, Mapping[str, Any]] = {
    "won_revenue": {"api_name": "won_revenue", "label": "Won revenue", "object": "deal", "filter": 'stage = "won"',
                    "measures": [{"name": "revenue", "function": "sum", "field": "amount"}]},
    "pipeline": {"api_name": "pipeline", "label": "Pipeline", "object": "deal", "group_by": [{"field": "stage"}],
                 "measures": [{"name": "total", "function": "sum", "field": "amount"},
                              {"name": "deals", "function": "count"}]},
    "open_tickets": {"api_name": "open_tickets", "label": "Open tickets", "object": "ticket"},
}
GOOD = {
    "api_name": "sales_home", "label": "Sales home",
    "filters": [
        {"name": "period", "type": "date_range", "field": {"deal": "close_date", "ticket": "opened_on"},
         "default": "this_quarter"},
        {"name": "owner", "type": "owner", "default": "me"},
        {"name": "team", "type": "team"},
        {"name": "stage", "type": "field", "field": {"deal": "stage"}},
        {"name": "region", "type": "field", "field": {"deal": "account.region"}},
    ],
    "widgets": [
        {"id": "won", "type": "kpi", "report": "won_revenue", "x": 0, "y": 0, "w": 3,
         "options": {"measure": "revenue", "target": 10000, "compare": "previous_period"}},
        {"id": "pipeline", "type": "bar", "report": "pipeline", "x": 3, "y": 0, "w": 9,
         "options": {"measures": ["total", "deals"]}},
        {"id": "tickets", "type": "kpi", "x": 0, "y": 3, "w": 3, "source": {"object": "ticket"},
         "options": {"filters": ["period", "owner"]}},
        {"id": "matrix", "type": "pivot", "x": 3, "y": 3, "w": 9,
         "source": {"object": "deal", "group_by": [{"field": "owner"}], "columns_by": {"field": "stage"},
                    "measures": [{"name": "total", "function": "sum", "field": "amount"}]}},
    ],
}


def report_check(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """The metadata check of a summary report, as the runtime's (without schedules)."""
    obj = schema.object(str(doc.get("object")))
    if obj is None:
        return [FieldProblem("/object", f"there is no object named {doc.get('object')!r}", "unknown_object")]
    try:
        plan(doc, obj, schema)
    except ReportError as error:
        return [FieldProblem(p.path, p.message, p.code) for p in error.problems]
    return []


def problems_of(doc: Mapping[str, Any], reports: Mapping[str, Mapping[str, Any]] | None = SAVED) -> list[FieldProblem]:
    assert dashboard_schema_problems(doc) == [], "the test documents themselves are valid against the schema"
    return check_dashboard(doc, SCHEMA, reports=reports, check_report=report_check)


def by_pointer(doc: Mapping[str, Any], reports: Mapping[str, Mapping[str, Any]] | None = SAVED,
               ) -> dict[str, FieldProblem]:
    found = problems_of(doc, reports)
    assert len({p.field for p in found}) == len(found), found
    return {p.field: p for p in found}


def with_filters(*filters: dict[str, Any], widgets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"api_name": "d", "label": "D", "filters": list(filters),
            "widgets": widgets if widgets is not None else [{"id": "won", "type": "kpi", "report": "won_revenue"}]}


def with_widgets(*widgets: dict[str, Any]) -> dict[str, Any]:
    return {"api_name": "d", "label": "D", "widgets": list(widgets)}


# -- a good dashboard ---------------------------------------------------------------------

def test_a_good_dashboard_passes_its_schema_and_the_metadata_check() -> None:
    assert dashboard_schema_problems(GOOD) == []
    assert check_dashboard(GOOD, SCHEMA, reports=SAVED, check_report=report_check) == []


def test_without_the_saved_reports_their_names_are_not_checked() -> None:
    doc = with_widgets({"id": "a", "type": "bar", "report": "no_such_report"})
    assert problems_of(doc, reports=None) == []
    assert [(p.field, p.code) for p in problems_of(doc)] == [("/widgets/0/report", "unknown_report")]


# -- names ---------------------------------------------------------------------------------

def test_filters_and_widgets_named_twice_are_reported_at_the_second() -> None:
    doc = with_filters({"name": "again", "type": "team"}, {"name": "other", "type": "team"},
                       {"name": "again", "type": "team"},
                       widgets=[{"id": "a", "type": "kpi", "report": "won_revenue"},
                                {"id": "a", "type": "kpi", "report": "won_revenue", "y": 3}])
    found = by_pointer(doc)
    assert set(found) == {"/filters/2/name", "/widgets/1/id"}
    assert found["/filters/2/name"].message == "another filter is named 'again'"
    assert found["/widgets/1/id"].message == "another widget is named 'a'"
    assert {p.code for p in found.values()} == {"duplicate"}


def test_a_widget_following_a_filter_the_dashboard_lacks_is_reported() -> None:
    doc = with_filters({"name": "owner", "type": "owner"},
                       widgets=[{"id": "a", "type": "kpi", "report": "won_revenue",
                                 "options": {"filters": ["owner", "colour"]}}])
    found = by_pointer(doc)
    assert set(found) == {"/widgets/0/options/filters/1"}
    assert found["/widgets/0/options/filters/1"].code == "unknown_name"
    assert "no filter named 'colour'" in found["/widgets/0/options/filters/1"].message


# -- filter defaults and fields -----------------------------------------------------------

@pytest.mark.parametrize(("filt", "message"), [
    ({"name": "p", "type": "date_range", "field": "close_date", "default": "someday"}, "is not a date range"),
    ({"name": "p", "type": "date_range", "field": "close_date", "default": "2024-03-01..2024-02-01"},
     "ends before it starts"),
    ({"name": "o", "type": "owner", "default": "boss"}, 'an owner filter defaults to a user id or "me"'),
    ({"name": "o", "type": "owner", "default": True}, 'an owner filter defaults to a user id or "me"'),
    ({"name": "t", "type": "team", "default": {"from": "2024-01-01"}}, "must be a single value"),
    ({"name": "s", "type": "field", "field": "stage", "default": {"to": "2024-01-01"}}, "must be a single value"),
])
def test_a_default_that_does_not_fit_its_filter_is_reported_at_the_default(filt: dict[str, Any],
                                                                           message: str) -> None:
    found = by_pointer(with_filters(filt))
    assert set(found) == {"/filters/0/default"}
    assert message in found["/filters/0/default"].message


@pytest.mark.parametrize("filt", [
    {"name": "p", "type": "date_range", "field": "close_date", "default": "last_30_days"},
    {"name": "p", "type": "date_range", "field": "close_date", "default": {"from": "2024-01-01", "to": "2024-03-31"}},
    {"name": "p", "type": "date_range", "field": "close_date", "default": "all"},
    {"name": "o", "type": "owner", "default": 7},
    {"name": "o", "type": "owner", "default": "me"},
    {"name": "t", "type": "team", "default": "east"},
    {"name": "s", "type": "field", "field": "stage", "default": "won"},
])
def test_defaults_that_fit_pass(filt: dict[str, Any]) -> None:
    assert problems_of(with_filters(filt)) == []


def test_a_date_range_needs_the_field_it_narrows() -> None:
    found = by_pointer(with_filters({"name": "period", "type": "date_range"}))
    assert set(found) == {"/filters/0/field"}
    assert found["/filters/0/field"].code == "required"


def test_a_filter_naming_an_object_that_does_not_exist_is_reported_at_that_object() -> None:
    found = by_pointer(with_filters({"name": "period", "type": "date_range",
                                     "field": {"deal": "close_date", "invoice": "issued_on"}}))
    assert set(found) == {"/filters/0/field/invoice"}
    assert found["/filters/0/field/invoice"].code == "unknown_object"


def test_a_filter_on_a_field_the_widgets_object_lacks_is_reported_with_the_widget() -> None:
    found = by_pointer(with_filters({"name": "period", "type": "date_range", "field": "closing_day"}))
    assert set(found) == {"/filters/0/field"}
    assert found["/filters/0/field"].code == "unknown_field"
    assert found["/filters/0/field"].message == "Deal has no field 'closing_day' (widget 'won')"


def test_a_filter_naming_a_field_per_object_is_reported_at_that_objects_entry() -> None:
    doc = with_filters({"name": "period", "type": "date_range", "field": {"deal": "close_date", "ticket": "closed_on"}},
                       widgets=[{"id": "won", "type": "kpi", "report": "won_revenue"},
                                {"id": "tickets", "type": "kpi", "report": "open_tickets", "y": 3}])
    found = by_pointer(doc)
    assert set(found) == {"/filters/0/field/ticket"}
    assert found["/filters/0/field/ticket"].message == "Ticket has no field 'closed_on' (widget 'tickets')"


def test_a_path_through_a_lookup_is_followed_to_its_field() -> None:
    assert problems_of(with_filters({"name": "region", "type": "field", "field": "account.region"})) == []
    found = by_pointer(with_filters({"name": "region", "type": "field", "field": "account.country"}))
    assert set(found) == {"/filters/0/field"} and found["/filters/0/field"].code == "unknown_field"
    found = by_pointer(with_filters({"name": "region", "type": "field", "field": "name.region"}))
    assert set(found) == {"/filters/0/field"}  # a text field leads nowhere


@pytest.mark.parametrize(("filt", "message"), [
    ({"name": "who", "type": "owner", "field": "stage"},
     "Deal.stage is a select field; a owner filter needs a user field"),
    ({"name": "who", "type": "team", "field": "account"},
     "Deal.account is a lookup field; a team filter needs a user field"),
    ({"name": "p", "type": "date_range", "field": "name"},
     "Deal.name is a text field; a date_range filter needs a date or datetime field"),
])
def test_a_filter_on_a_field_of_the_wrong_type_is_reported(filt: dict[str, Any], message: str) -> None:
    found = by_pointer(with_filters(filt))
    assert set(found) == {"/filters/0/field"}
    assert found["/filters/0/field"].code == "wrong_type"
    assert found["/filters/0/field"].message == message


@pytest.mark.parametrize("filt", [
    {"name": "p", "type": "date_range", "field": "closed_at"},  # a datetime narrows by its day
    {"name": "who", "type": "owner"},  # owner and team default to the record's owner
    {"name": "who", "type": "team"},
    {"name": "who", "type": "owner", "field": "account.manager"},
    {"name": "s", "type": "field", "field": "amount"},  # a field filter takes any type
])
def test_filters_on_fields_of_the_right_type_pass(filt: dict[str, Any]) -> None:
    assert problems_of(with_filters(filt)) == []


def test_a_widget_is_checked_only_against_the_filters_it_follows_and_that_name_its_object() -> None:
    broken = {"name": "period", "type": "date_range", "field": "closing_day"}
    assert problems_of(with_filters(broken, widgets=[
        {"id": "won", "type": "kpi", "report": "won_revenue", "options": {"filters": []}}])) == []
    other_object = {"name": "period", "type": "date_range", "field": {"ticket": "opened_on"}}
    assert problems_of(with_filters(other_object)) == []


# -- widgets ------------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "w", "off"), [(0, 12, False), (8, None, False), (9, None, True), (10, 4, True),
                                             (11, 1, False), (11, 2, True)])
def test_a_widget_reaching_past_the_grid_is_reported_at_its_width(x: int, w: int | None, off: bool) -> None:
    widget = {"id": "a", "type": "kpi", "report": "won_revenue", "x": x} | ({"w": w} if w is not None else {})
    found = by_pointer(with_widgets(widget))
    assert set(found) == ({"/widgets/0/w"} if off else set())
    if off:
        assert found["/widgets/0/w"].message == f"reaches past the grid's {GRID_COLUMNS} columns"


def test_a_widget_drawing_a_measure_its_report_lacks_is_reported_at_the_option() -> None:
    found = by_pointer(with_widgets(
        {"id": "a", "type": "kpi", "report": "won_revenue", "options": {"measure": "profit"}},
        {"id": "b", "type": "bar", "report": "pipeline", "y": 3, "options": {"measures": ["total", "margin"]}},
        {"id": "c", "type": "kpi", "report": "open_tickets", "y": 6, "options": {"measure": "records"}}))
    assert set(found) == {"/widgets/0/options/measure", "/widgets/1/options/measures/1"}
    assert found["/widgets/0/options/measure"].message == "the report has no measure 'profit'; it has revenue"
    assert "no measure 'margin'" in found["/widgets/1/options/measures/1"].message
    assert {p.code for p in found.values()} == {"unknown_name"}


def test_an_inline_report_breaking_the_reports_schema_is_reported_under_its_source() -> None:
    called: list[Mapping[str, Any]] = []

    def check(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
        called.append(doc)
        return []

    doc = with_widgets({"id": "a", "type": "pie", "source": {"object": "deal", "group_by": "stage"}})
    found = check_dashboard(doc, SCHEMA, reports=SAVED, check_report=check)
    assert [p.field for p in found] == ["/widgets/0/source/group_by"]
    assert called == []  # the metadata check runs only on a report that passed its schema


def test_an_inline_reports_metadata_problems_are_reported_under_its_source() -> None:
    found = problems_of(with_widgets(
        {"id": "a", "type": "pie", "source": {"object": "deal", "group_by": [{"field": "nope"}]}},
        {"id": "b", "type": "kpi", "y": 3, "source": {"object": "invoice"}}))
    pointers = [p.field for p in found]
    assert any(p.startswith("/widgets/0/source/group_by/0") for p in pointers), pointers
    assert "/widgets/1/source/object" in pointers


def test_the_inline_report_is_checked_named_after_its_widget() -> None:
    seen: list[Mapping[str, Any]] = []

    def check(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
        seen.append(doc)
        return [FieldProblem("/filter", "no good", "formula")]

    doc = with_widgets({"id": "a", "title": "Deals", "type": "kpi", "source": {"object": "deal"}},
                       {"id": "b", "type": "kpi", "y": 3, "source": {"object": "deal"}})
    found = check_dashboard(doc, SCHEMA, reports=SAVED, check_report=check)
    assert seen == [{"api_name": "a", "label": "Deals", "object": "deal"},
                    {"api_name": "b", "label": "b", "object": "deal"}]
    assert [(p.field, p.message, p.code) for p in found] == [("/widgets/0/source/filter", "no good", "formula"),
                                                           ("/widgets/1/source/filter", "no good", "formula")]


def test_every_problem_of_a_broken_dashboard_is_reported_at_once() -> None:
    broken = {"api_name": "broken", "label": "Broken",
              "filters": [{"name": "period", "type": "date_range", "field": "closing_day"},
                          {"name": "who", "type": "owner", "field": "stage"},
                          {"name": "again", "type": "team"}, {"name": "again", "type": "team"}],
              "widgets": [{"id": "a", "type": "bar", "report": "no_such_report"},
                          {"id": "b", "type": "kpi", "report": "won_revenue", "x": 10, "w": 4,
                           "options": {"measure": "profit"}},
                          {"id": "c", "type": "pie", "source": {"object": "deal", "group_by": [{"field": "nope"}]}}]}
    found = problems_of(broken)
    pointers = [p.field for p in found]
    assert pointers[:3] == ["/filters/3/name", "/widgets/0/report", "/widgets/1/w"]
    assert {"/widgets/1/options/measure", "/filters/0/field", "/filters/1/field"} <= set(pointers)
    assert any(p.startswith("/widgets/2/source/group_by/0") for p in pointers)


# -- the JSON Schema ----------------------------------------------------------------------

def test_a_dashboard_that_breaks_its_json_schema_says_where() -> None:
    found = dashboard_schema_problems({"api_name": "x", "label": "X", "widgets": [
        {"id": "a", "type": "sparkline", "report": "won_revenue"},
        {"id": "b", "type": "bar"},
        {"id": "c", "type": "bar", "report": "won_revenue", "x": 12}]})
    assert {"/widgets/0/type", "/widgets/1", "/widgets/2/x"} <= {p.field for p in found}
    assert [p.field for p in dashboard_schema_problems(["not", "a", "dashboard"])] == ["/"]
    assert {p.field for p in dashboard_schema_problems({"label": "No name", "colour": "red"})} == {"/"}


# -- names, for the dependency graph ------------------------------------------------------

def test_a_dashboard_names_its_inline_reports_objects_and_the_fields_its_filters_narrow() -> None:
    assert names_in_dashboard(GOOD, SCHEMA, SAVED) == [
        NameRef("/widgets/2/source/object", "ticket"),
        NameRef("/widgets/3/source/object", "deal"),
        NameRef("/filters/0/field/deal", "deal", "close_date"),
        NameRef("/filters/0/field/ticket", "ticket", "opened_on"),
        NameRef("/filters/3/field/deal", "deal", "stage"),
    ]  # the owner (a system field) and a path through a lookup are not names that follow renames


def test_a_filter_with_one_field_names_it_on_every_widgets_object_that_has_it() -> None:
    doc = with_filters({"name": "s", "type": "field", "field": "name"}, widgets=[
        {"id": "a", "type": "kpi", "report": "won_revenue"},
        {"id": "b", "type": "kpi", "report": "no_such_report", "y": 3},
        {"id": "c", "type": "kpi", "source": {"object": "account"}, "y": 6}])
    assert names_in_dashboard(doc, SCHEMA, SAVED) == [
        NameRef("/widgets/2/source/object", "account"),
        NameRef("/filters/0/field", "account", "name"),
        NameRef("/filters/0/field", "deal", "name"),
    ]
    assert names_in_dashboard(doc, SCHEMA, None) == [NameRef("/widgets/2/source/object", "account"),
                                                     NameRef("/filters/0/field", "account", "name")]


def test_paths_resolve_through_lookups_and_users() -> None:
    field = resolve_path(SCHEMA, DEAL, "account.region")
    assert field is not None and field.api_name == "region"
    manager = resolve_path(SCHEMA, DEAL, "account.manager.email")
    assert manager is not None and manager.api_name == "email"
    owner = resolve_path(SCHEMA, DEAL, "owner")
    assert owner is not None and owner.type == "user"
    assert resolve_path(SCHEMA, DEAL, "account.nothing") is None
    assert resolve_path(SCHEMA, DEAL, "stage.label") is None
