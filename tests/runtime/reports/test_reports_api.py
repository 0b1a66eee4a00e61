"""The report API on SQLite and PostgreSQL: saved reports run with parameters, unsaved
documents run as previews, drill-down filters, CSV and XLSX exports, and problems as 422."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]},
]}
REPORT = {"api_name": "by_stage", "label": "Deals by stage", "object": "deal", "group_by": [{"field": "stage"}],
          "measures": [{"name": "deals", "label": "Deals", "function": "count"},
                       {"name": "total", "label": "Total", "function": "sum", "field": "amount"}],
          "sort": [{"by": "total", "desc": True}]}


@pytest.fixture
def sales(api: Any) -> Any:
    api.ok(api.post("/meta/objects", DEAL), 201)
    for n, stage in enumerate(("won", "won", "lost", "open", "won")):
        api.ok(api.post("/records/deal", {"name": f"D{n}", "amount": f"{100 * (n + 1)}.50", "stage": stage}), 201)
    api.ok(api.post("/meta/reports", REPORT), 201)
    return api


def test_a_saved_report_runs_with_parameters(sales: Any) -> None:
    result = sales.ok(sales.post("/reports/by_stage/run"))
    assert [(r["stage"], r["deals"], r["total"]) for r in result["rows"]] == [
        ("won", "3", "801.5"), ("open", "1", "400.5"), ("lost", "1", "300.5")]
    assert result["totals"] == {"deals": "5", "total": "1502.5"}
    assert [c["name"] for c in result["columns"]] == ["stage", "deals", "total"]
    narrowed = sales.ok(sales.post("/reports/by_stage/run", {"filter": "amount > 250", "limit": 1}))
    assert [r["stage"] for r in narrowed["rows"]] == ["won"]
    assert narrowed["totals"]["deals"] == "3"


def test_an_unsaved_document_runs_as_a_preview_and_bad_ones_get_422(sales: Any) -> None:
    doc = {"object": "deal", "measures": [{"name": "avg", "function": "avg", "field": "amount"}]}
    assert sales.ok(sales.post("/reports/run", doc))["rows"] == [{"avg": "300.5"}]
    bad = sales.post("/reports/run", {"object": "deal", "measures": [{"name": "x", "function": "sum",
                                                                      "field": "stage"}]})
    assert bad.status_code == 422, bad.text
    assert "/measures/0/function" in bad.text
    stored = sales.post("/meta/reports", {**REPORT, "api_name": "broken", "group_by": [{"field": "nope"}]})
    assert stored.status_code == 422 and "/group_by/0/field" in stored.text


def test_drill_down_gives_the_record_list_filter(sales: Any) -> None:
    found = sales.ok(sales.post("/reports/by_stage/drill", {"cell": {"stage": "won"}}))
    listed = sales.ok(sales.get("/records/deal", params={"filter": found["filter"]}))
    assert len(listed["data"]) == 3


def test_exports_as_csv_and_xlsx(sales: Any) -> None:
    response = sales.get("/reports/by_stage/export.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0] == ["stage", "Deals", "Total"]
    assert lines[1] == ["won", "3", "801.5"] and lines[-1] == ["Total", "5", "1502.5"]
    book = load_workbook(io.BytesIO(sales.get("/reports/by_stage/export.xlsx").content))
    sheet = book.active
    assert [c.value for c in sheet[1]] == ["stage", "Deals", "Total"]
    assert sheet.cell(row=2, column=3).value == 801.5


def test_a_report_without_measures_counts_records(sales: Any) -> None:
    result = sales.ok(sales.post("/reports/run", {"object": "deal", "group_by": [{"field": "stage"}]}))
    assert {r["stage"]: r["records"] for r in result["rows"]} == {"won": "3", "lost": "1", "open": "1"}


def test_groups_of_a_select_follow_its_options_with_blank_last(sales: Any) -> None:
    """Stages come in the pipeline's order (open, won, lost), not alphabetically, in every
    level of the result and whichever way a grouping is sorted; a blank stage is last."""
    sales.ok(sales.post("/records/deal", {"name": "No stage", "amount": "1"}), 201)
    result = sales.ok(sales.post("/reports/run", {"object": "deal", "group_by": [{"field": "stage"}]}))
    assert [r["stage"] for r in result["rows"]] == ["open", "won", "lost", None]
    backwards = sales.ok(sales.post("/reports/run", {"object": "deal", "group_by": [{"field": "stage"}],
                                                     "sort": [{"by": "stage", "desc": True}]}))
    assert [r["stage"] for r in backwards["rows"]] == ["lost", "won", "open", None]
    matrix = sales.ok(sales.post("/reports/run", {"object": "deal", "group_by": [{"field": "name"}],
                                                  "columns_by": {"field": "stage"}}))
    across = [s["stage"] for s in matrix["subtotals"] if s["group_by"] == ["stage"]]
    assert across == ["open", "won", "lost", None]
    top = sales.ok(sales.post("/reports/run", {"object": "deal", "group_by": [{"field": "stage"}], "limit": 2}))
    assert [r["stage"] for r in top["rows"]] == ["open", "won"]


def test_exports_name_a_selects_groups_by_label_in_the_order_of_its_options(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "lead", "label": "Lead", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "status", "label": "Status", "type": "select", "options": [
            {"value": "new", "label": "New"}, {"value": "working", "label": "Working"},
            {"value": "converted", "label": "Converted"}]}]}), 201)
    for n, status in enumerate(("converted", "new", "working", "new")):
        api.ok(api.post("/records/lead", {"name": f"L{n}", "status": status}), 201)
    api.ok(api.post("/meta/reports", {"api_name": "leads", "label": "Leads", "object": "lead",
                                      "group_by": [{"field": "status", "label": "Status"}]}), 201)
    lines = list(csv.reader(io.StringIO(api.get("/reports/leads/export.csv").text)))
    assert lines == [["Status", "Records"], ["New", "2"], ["Working", "1"], ["Converted", "1"], ["Total", "4"]]
    # The run itself answers the stored values, for integrations.
    assert [r["status"] for r in api.ok(api.post("/reports/leads/run"))["rows"]] == ["new", "working", "converted"]


def test_exports_name_lookup_and_owner_groups_and_leave_unreadable_records_unnamed(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "account", "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True}]}), 201)
    api.ok(api.post("/meta/objects", {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}), 201)
    acme = api.ok(api.post("/records/account", {"name": "Acme"}), 201)
    hidden = api.ok(api.post("/records/account", {"name": "Secret Corp"}), 201)
    for account in (acme, acme, hidden):
        api.ok(api.post("/records/deal", {"name": "D", "account": account["id"]}), 201)
    api.ok(api.post("/meta/reports", {"api_name": "by_account", "label": "By account", "object": "deal",
                                      "group_by": [{"field": "account", "label": "Account"}]}), 201)
    lines = list(csv.reader(io.StringIO(api.get("/reports/by_account/export.csv").text)))
    assert sorted(lines[1:-1]) == [["Acme", "2"], ["Secret Corp", "1"]]
    # A reader who may read every deal but only their own accounts: the other stays an id.
    api.ok(api.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": {
        "deal": {"read": "all"}, "account": {"read": "own"}}}), 201)
    api.ok(api.post("/users", {"email": "rep@example.com", "password": "a-long-password", "roles": ["rep"]}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": "a-long-password"})
    rep = type(api)(api.client, token.json()["access_token"])
    shown = list(csv.reader(io.StringIO(rep.get("/reports/by_account/export.csv").text)))
    assert sorted(shown[1:-1]) == [[str(acme["id"]), "2"], [str(hidden["id"]), "1"]]
    by_owner = {"api_name": "by_owner", "label": "By owner", "object": "deal", "group_by": [{"field": "owner"}]}
    api.ok(api.post("/meta/reports", by_owner), 201)
    owners = list(csv.reader(io.StringIO(api.get("/reports/by_owner/export.csv").text)))
    assert owners[1:-1] == [[api.ok(api.get("/me"))["name"], "3"]]
