"""Report results shaped for dashboard charts without a database: a KPI against its target,
a gauge, bars by one and by two groupings, slices from subtotals, a table and a pivot, each
data point with its drill link; labels for grouping values; the change against the
previous period; and the record-list link behind a point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tessera.formula import SimpleSchema
from tessera.meta.model import FieldDef, ObjectDef
from tessera.reports import chart_data, drill_link, grouping_labels, relative_change


def link(cell: Mapping[str, Any]) -> str:
    return "drill:" + ",".join(f"{k}={v}" for k, v in cell.items())


def grouping(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": "grouping", "type": "text"}


def measure(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": "measure", "type": "number"}


TOTALS_ONLY = {"columns": [measure("revenue", "Revenue"), measure("deals", "Deals")], "rows": [],
               "subtotals": [], "totals": {"revenue": "7500", "deals": "3"}}
BY_STAGE = {"columns": [grouping("stage", "Stage"), measure("total", "Total"), measure("deals", "Deals")],
            "rows": [{"stage": "won", "total": "900", "deals": "2"}, {"stage": None, "total": "100", "deals": "1"}],
            "subtotals": [], "totals": {"total": "1000", "deals": "3"}}
BY_OWNER_AND_STAGE = {
    "columns": [grouping("owner", "Owner"), grouping("stage", "Stage"), measure("total", "Total")],
    "rows": [{"owner": 1, "stage": "won", "total": "5"}, {"owner": 1, "stage": "open", "total": "2"},
             {"owner": 2, "stage": "won", "total": "4"}],
    "subtotals": [{"group_by": ["owner"], "owner": 1, "total": "7"}, {"group_by": ["owner"], "owner": 2, "total": "4"},
                  {"group_by": ["stage"], "stage": "won", "total": "9"},
                  {"group_by": ["stage"], "stage": "open", "total": "2"}],
    "totals": {"total": "11"}}
LABELS = {"stage": {"won": "Won", "open": "Open"}, "owner": {1: "Ann"}}


def widget(kind: str, **options: Any) -> dict[str, Any]:
    return {"id": "w", "type": kind, "options": options}


# -- one number ---------------------------------------------------------------------------

def test_a_kpi_shows_its_measure_against_the_target_with_a_drill_link_to_everything() -> None:
    data = chart_data(widget("kpi", measure="revenue", target=10000), TOTALS_ONLY, {}, link)
    assert data == {"value": "7500", "measure": "revenue", "label": "Revenue", "type": "number", "target": "10000",
                    "progress": "0.7500", "drill": "drill:"}
    first = chart_data(widget("kpi"), TOTALS_ONLY, {}, link)
    assert first["measure"] == "revenue" and first["progress"] is None and first["target"] is None
    assert chart_data(widget("kpi", target=0), TOTALS_ONLY, {}, link)["progress"] is None


def test_a_gauge_runs_from_zero_to_its_max_or_target_or_its_value() -> None:
    assert chart_data(widget("gauge", target=10000, max=20000), TOTALS_ONLY, {}, link)["max"] == "20000"
    assert chart_data(widget("gauge", target=10000), TOTALS_ONLY, {}, link)["max"] == "10000"
    plain = chart_data(widget("gauge"), TOTALS_ONLY, {}, link)
    assert plain["min"] == "0" and plain["max"] == "7500"
    empty = {**TOTALS_ONLY, "totals": {"revenue": None}}
    assert chart_data(widget("gauge"), empty, {}, link)["max"] == "1"


# -- series -------------------------------------------------------------------------------

def test_bars_by_one_grouping_draw_a_series_per_measure_with_labelled_categories() -> None:
    data = chart_data(widget("bar"), BY_STAGE, LABELS, link)
    assert data["categories"] == [{"value": "won", "label": "Won"}, {"value": None, "label": "(blank)"}]
    assert [s["name"] for s in data["series"]] == ["total", "deals"]
    assert data["series"][0]["data"] == [{"value": "900", "drill": "drill:stage=won"},
                                         {"value": "100", "drill": "drill:stage=None"}]
    assert data["x_label"] == "Stage" and data["stacked"] is False
    chosen = chart_data(widget("stacked_bar", measures=["deals"]), BY_STAGE, LABELS, link)
    assert [s["name"] for s in chosen["series"]] == ["deals"] and chosen["stacked"] is True
    one = chart_data(widget("line", measure="deals"), BY_STAGE, LABELS, link)
    assert [s["name"] for s in one["series"]] == ["deals"]


def test_bars_by_two_groupings_draw_a_series_per_value_of_the_second_with_gaps() -> None:
    data = chart_data(widget("bar"), BY_OWNER_AND_STAGE, LABELS, link)
    assert data["categories"] == [{"value": 1, "label": "Ann"}, {"value": 2, "label": "2"}]
    won, opened = data["series"]
    assert (won["name"], won["label"], opened["label"]) == ("won", "Won", "Open")
    assert won["data"] == [{"value": "5", "drill": "drill:owner=1,stage=won"},
                           {"value": "4", "drill": "drill:owner=2,stage=won"}]
    assert opened["data"][1] == {"value": None, "drill": None}  # owner 2 has no open deals


def test_bars_without_a_grouping_are_one_total_category() -> None:
    data = chart_data(widget("area"), TOTALS_ONLY, {}, link)
    assert data["categories"] == [{"value": None, "label": "Total"}]
    assert [(s["name"], s["data"]) for s in data["series"]] == [
        ("revenue", [{"value": "7500", "drill": "drill:"}]), ("deals", [{"value": "3", "drill": "drill:"}])]


# -- slices, tables, pivots ---------------------------------------------------------------

def test_slices_sum_away_a_second_grouping_from_the_subtotals() -> None:
    data = chart_data(widget("pie"), BY_OWNER_AND_STAGE, LABELS, link)
    assert data["items"] == [{"key": 1, "name": "Ann", "value": "7", "drill": "drill:owner=1"},
                             {"key": 2, "name": "2", "value": "4", "drill": "drill:owner=2"}]
    single = chart_data(widget("donut", measure="deals"), BY_STAGE, LABELS, link)
    assert [(i["name"], i["value"]) for i in single["items"]] == [("Won", "2"), ("(blank)", "1")]
    whole = chart_data(widget("funnel"), TOTALS_ONLY, {}, link)
    assert whole["items"] == [{"key": None, "name": "Revenue", "value": "7500", "drill": "drill:"}]


def test_a_table_labels_every_grouping_value_and_links_every_row() -> None:
    data = chart_data(widget("table"), BY_OWNER_AND_STAGE, LABELS, link)
    assert data["columns"] == BY_OWNER_AND_STAGE["columns"] and data["totals"] == {"total": "11"}
    assert data["rows"][1] == {"values": BY_OWNER_AND_STAGE["rows"][1], "labels": {"owner": "Ann", "stage": "Open"},
                               "drill": "drill:owner=1,stage=open"}


def test_a_pivot_has_rows_columns_cells_and_every_total() -> None:
    data = chart_data(widget("pivot"), BY_OWNER_AND_STAGE, LABELS, link)
    assert data["pivot"] is True and (data["row_label"], data["column_label"]) == ("Owner", "Stage")
    assert data["columns"] == [{"key": "won", "label": "Won"}, {"key": "open", "label": "Open"}]
    assert data["rows"] == [
        {"key": 1, "label": "Ann", "total": "7", "cells": [{"value": "5", "drill": "drill:owner=1,stage=won"},
                                                          {"value": "2", "drill": "drill:owner=1,stage=open"}]},
        {"key": 2, "label": "2", "total": "4", "cells": [{"value": "4", "drill": "drill:owner=2,stage=won"},
                                                        {"value": None, "drill": None}]}]
    assert data["column_totals"] == ["9", "2"] and data["total"] == "11"
    flat = chart_data(widget("pivot"), BY_STAGE, LABELS, link)
    assert flat["pivot"] is False and len(flat["rows"]) == 2  # one grouping: a table


# -- labels -------------------------------------------------------------------------------

def _obj(name: str, fields: list[dict[str, Any]]) -> ObjectDef:
    return ObjectDef({"uid": f"obj_{name}", "api_name": name, "label": name.title(),
                      "fields": [{"uid": f"{name}.{f['api_name']}", "label": f["api_name"], **f} for f in fields]})


def test_grouping_values_are_named_by_options_yes_no_and_the_callers_names() -> None:
    deal = _obj("deal", [
        {"api_name": "stage", "type": "select", "options": [{"value": "won", "label": "Won"}, {"value": "open"}]},
        {"api_name": "hot", "type": "boolean"},
        {"api_name": "account", "type": "lookup", "target": "account"},
        {"api_name": "close_date", "type": "date"},
    ])
    schema = SimpleSchema([deal, _obj("account", [{"api_name": "name", "type": "text"}])])
    report = {"object": "deal", "group_by": [{"field": "stage"}, {"field": "hot"}, {"field": "owner"},
                                             {"field": "close_date", "bucket": "month"}],
              "columns_by": {"field": "account"}}
    result = {"columns": [grouping("stage", "Stage"), grouping("hot", "Hot"), grouping("owner", "Owner"),
                          grouping("close_month", "Close month"), grouping("account", "Account"),
                          measure("records", "Records")],
              "rows": [{"stage": "won", "hot": True, "owner": 7, "close_month": "2024-05", "account": 3},
                       {"stage": "open", "hot": False, "owner": None, "close_month": "2024-04", "account": None}]}
    asked: list[tuple[str, set[Any]]] = []

    def names(field: FieldDef, values: set[Any]) -> dict[Any, str]:
        asked.append((field.type, values))
        return {v: f"{field.type} {v}" for v in values}

    labels = grouping_labels(schema, deal, report, result, names)
    assert labels == {"stage": {"won": "Won", "open": "open"}, "hot": {True: "Yes", False: "No"},
                      "owner": {7: "user 7"}, "account": {3: "lookup 3"}}
    assert asked == [("user", {7}), ("lookup", {3})]  # blanks are not asked for; buckets keep their text


# -- change and links ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "previous", "change"), [
    ("120", "100", "0.2"), ("80", "100", "-0.2"), ("100", "100", "0"), ("4", "3", "0.3333"), ("1", "3", "-0.6667"),
    ("-50", "-100", "0.5"), ("5", "0", None), ("5", None, None), (None, "5", None), ("x", "5", None),
    ("1.00005", "1", "0.0001"),
])
def test_the_change_against_the_previous_period_is_relative_to_its_size(value: Any, previous: Any,
                                                                       change: str | None) -> None:
    assert relative_change(value, previous) == change


def test_a_drill_link_is_the_record_list_with_the_cells_and_the_dashboards_filters() -> None:
    assert drill_link("deal", "TRUE", None) == "/app/deal"
    assert drill_link("deal", "TRUE", 'stage = "won"') == "/app/deal?formula=stage%20%3D%20%22won%22"
    assert drill_link("deal", "owner.id = 7", None) == "/app/deal?formula=owner.id%20%3D%207"
    assert drill_link("deal", "a", "b") == "/app/deal?formula=%28a%29%20AND%20%28b%29"
