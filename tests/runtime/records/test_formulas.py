"""Formulas wired into the kernel, through the API: formula and rollup fields, validation
rules, default formulas, list filters, the editor endpoints and renames."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "tier", "label": "Tier", "type": "select",
     "options": [{"value": "gold"}, {"value": "silver"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "close_date", "label": "Close", "type": "date", "default_formula": "DATE(2030, 1, 31)"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "amount * (1 - discount / 100)",
     "scale": 2},
    {"api_name": "size", "label": "Size", "type": "formula",
     "expression": 'IF(amount > 10000, "big", "small")'},
    {"api_name": "account_tier", "label": "Account tier", "type": "formula", "expression": "account.tier"},
], "validation_rules": [
    {"name": "no_negative", "error_if": "amount < 0", "message": "Amount cannot be negative", "field": "amount"},
    {"name": "won_needs_account", "error_if": 'AND(stage = "won", ISBLANK(account))',
     "message": "A won deal needs an account", "field": "account"},
]}


@pytest.fixture
def crm(api: Any) -> Any:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/meta/objects/account/fields", {
        "api_name": "won_total", "label": "Won total", "type": "rollup", "relation": "deals",
        "function": "sum", "field": "amount", "filter": 'deals.stage = "won"'}), 201)
    api.ok(api.post("/meta/objects/account/fields", {
        "api_name": "deal_count", "label": "Deals", "type": "rollup", "relation": "deals", "function": "count"}), 201)
    return api


def test_formula_fields_are_computed_with_their_result_types(crm: Any) -> None:
    fields = {f["api_name"]: f for f in crm.ok(crm.get("/meta/objects/deal"))["fields"]}
    assert (fields["net"]["formula_type"], fields["size"]["formula_type"]) == ("number", "text")
    gold = crm.ok(crm.post("/records/account", {"name": "Acme", "tier": "gold"}), 201)
    deal = crm.ok(crm.post("/records/deal", {"name": "Big", "amount": "20000", "discount": "12.5",
                                             "account": gold["id"]}), 201)
    assert (deal["net"], deal["size"], deal["account_tier"]) == ("17500.00", "big", "gold")
    changed = crm.ok(crm.patch(f"/records/deal/{deal['id']}", {"amount": "100"}))
    assert (changed["net"], changed["size"]) == ("87.50", "small")
    assert crm.patch(f"/records/deal/{deal['id']}", {"net": "1"}).json()["errors"][0]["code"] == "read_only"


def test_rollups_aggregate_live_child_records(crm: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "Acme"}), 201)
    for amount, stage in (("100", "won"), ("250.50", "won"), ("999", "lost")):
        crm.ok(crm.post("/records/deal", {"name": "d", "amount": amount, "stage": stage, "account": acme["id"]}), 201)
    record = crm.ok(crm.get(f"/records/account/{acme['id']}"))
    assert (record["won_total"], record["deal_count"]) == ("350.5", "3")  # numbers travel as text
    lost = crm.ok(crm.get("/records/deal", params={"filter": 'stage = "lost"'}))["data"][0]
    crm.ok(crm.delete(f"/records/deal/{lost['id']}"))
    assert crm.ok(crm.get(f"/records/account/{acme['id']}"))["deal_count"] == "2"


def test_validation_rules_report_every_failing_rule_at_once(crm: Any) -> None:
    refused = crm.post("/records/deal", {"name": "x", "amount": "-5", "stage": "won"})
    assert refused.status_code == 422
    assert sorted((e["field"], e["message"]) for e in refused.json()["errors"]) == [
        ("account", "A won deal needs an account"), ("amount", "Amount cannot be negative")]
    assert crm.ok(crm.get("/records/deal", params={"total": "true"}))["total"] == 0
    deal = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "5"}), 201)
    assert crm.patch(f"/records/deal/{deal['id']}", {"amount": "-1"}).status_code == 422
    assert crm.ok(crm.get(f"/records/deal/{deal['id']}"))["amount"] == "5.00"


def test_default_formula_fills_a_blank_field_on_create(crm: Any) -> None:
    assert crm.ok(crm.post("/records/deal", {"name": "x"}), 201)["close_date"] == "2030-01-31"
    given = crm.ok(crm.post("/records/deal", {"name": "y", "close_date": "2025-05-05"}), 201)
    assert given["close_date"] == "2025-05-05"


def test_list_filter_is_a_formula_compiled_to_sql(crm: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "Acme", "tier": "gold"}), 201)
    globex = crm.ok(crm.post("/records/account", {"name": "Globex", "tier": "silver"}), 201)
    crm.ok(crm.post("/records/deal", [
        {"name": f"d{i}", "amount": str(i * 1000), "stage": "won" if i % 2 else "new",
         "account": acme["id"] if i < 5 else globex["id"]} for i in range(1, 11)]), 201)
    page = crm.ok(crm.get("/records/deal", params={
        "filter": 'AND(amount > 2500, stage = "won", account.tier = "gold")', "sort": "-amount", "total": "true"}))
    assert [r["name"] for r in page["data"]] == ["d3"]
    by_formula = crm.ok(crm.get("/records/deal", params={"filter": 'size = "small"', "sort": "-net", "limit": 2}))
    assert [r["name"] for r in by_formula["data"]] == ["d10", "d9"]
    rest = crm.ok(crm.get("/records/deal", params={
        "filter": 'size = "small"', "sort": "-net", "limit": 2, "cursor": by_formula["next_cursor"]}))
    assert [r["name"] for r in rest["data"]] == ["d8", "d7"]


def test_broken_formulas_are_refused_with_the_place_of_the_error(crm: Any) -> None:
    bad = crm.get("/records/deal", params={"filter": "amont > 5"})
    assert bad.status_code == 422
    error = bad.json()["errors"][0]
    assert error["field"] == "filter" and error["formula"]["column"] == 1
    assert "amount" in error["message"]  # the nearest field is suggested
    field = crm.post("/meta/objects/deal/fields", {"api_name": "oops", "label": "Oops", "type": "formula",
                                                   "expression": "amount +"})
    assert field.status_code == 422
    assert "expression" in field.json()["errors"][0]["field"]
    rule = crm.patch("/meta/objects/deal", {"validation_rules": [
        {"name": "r", "error_if": "amount", "message": "m"}]})
    assert rule.status_code == 422
    assert rule.json()["errors"][0]["field"] == "/validation_rules/r/error_if"
    assert "oops" not in [f["api_name"] for f in crm.ok(crm.get("/meta/objects/deal"))["fields"]]


def test_renaming_a_field_rewrites_the_formulas_that_use_it(crm: Any) -> None:
    crm.ok(crm.patch("/meta/objects/deal/fields/amount", {"api_name": "value"}))
    deal = crm.ok(crm.get("/meta/objects/deal"))
    fields = {f["api_name"]: f for f in deal["fields"]}
    assert fields["net"]["expression"] == "value * (1 - discount / 100)"
    assert fields["size"]["expression"] == 'IF(value > 10000, "big", "small")'
    assert deal["validation_rules"][0]["error_if"] == "value < 0"
    account = {f["api_name"]: f for f in crm.ok(crm.get("/meta/objects/account"))["fields"]}
    assert account["won_total"]["field"] == "value"
    crm.ok(crm.patch("/meta/objects/deal/fields/stage", {"api_name": "phase"}))
    account = {f["api_name"]: f for f in crm.ok(crm.get("/meta/objects/account"))["fields"]}
    assert account["won_total"]["filter"] == 'deals.phase = "won"'
    made = crm.ok(crm.post("/records/deal", {"name": "x", "value": "20000"}), 201)
    assert made["size"] == "big"


def test_a_field_a_formula_reads_cannot_be_deleted(crm: Any) -> None:
    used = crm.ok(crm.get("/meta/objects/deal/fields/discount/where-used"))
    assert [(d["api_name"], d["via"]) for d in used] == [("deal", "formula")]
    refused = crm.delete("/meta/objects/deal/fields/discount", params={"force": "true"})
    assert refused.status_code == 409


def test_editor_checks_and_completes_formulas(crm: Any) -> None:
    ok = crm.ok(crm.post("/formula/check", {"object": "deal", "expression": "ROUND(net, 0) > 10"}))
    assert ok["valid"] and ok["type"] == "boolean" and ok["references"][0]["field"] == "net"
    bad = crm.ok(crm.post("/formula/check", {"object": "deal", "expression": 'IF(amount > 1, "a")\n + stagee'}))
    assert not bad["valid"] and bad["errors"][0]["line"] >= 1 and "^" in bad["errors"][0]["display"]
    done = crm.ok(crm.post("/formula/complete", {"object": "deal", "expression": "acc", "cursor": 3}))
    assert "account" in [c["insert"] for c in done["completions"]]
    path = crm.ok(crm.post("/formula/complete", {"object": "deal", "expression": "account.", "cursor": 8}))
    assert {"name", "tier"} <= {c["insert"] for c in path["completions"]}
    assert crm.post("/formula/complete", {"object": "deal", "expression": "x", "cursor": 9}).status_code == 422
    assert crm.post("/formula/check", {"object": "nope", "expression": "1"}).status_code == 404


def test_forced_delete_switches_off_rules_of_other_objects_that_read_the_field(crm: Any) -> None:
    crm.ok(crm.post("/meta/objects/account/fields", {"api_name": "region", "label": "Region", "type": "text"}), 201)
    crm.ok(crm.patch("/meta/objects/deal", {"validation_rules": [
        {"name": "north_only", "error_if": 'account.region = "south"', "message": "Not in the south"}]}))
    assert crm.delete("/meta/objects/account/fields/region").status_code == 409
    assert crm.delete("/meta/objects/account/fields/region", params={"force": "true"}).status_code == 204
    rules = crm.ok(crm.get("/meta/objects/deal"))["validation_rules"]
    assert [(r["name"], r["active"]) for r in rules] == [("north_only", False)]
    assert crm.ok(crm.post("/records/deal", {"name": "still saves"}), 201)["name"] == "still saves"
    history = crm.ok(crm.get("/meta/objects/deal/history"))
    assert "switched off" in history[0]["summary"]


def test_default_formula_must_fit_its_field(crm: Any) -> None:
    wrong = crm.post("/meta/objects/deal/fields", {"api_name": "count", "label": "Count", "type": "integer",
                                                   "default_formula": '"abc"'})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "/fields/count/default_formula"
    computed = crm.post("/meta/objects/deal/fields", {"api_name": "x", "label": "X", "type": "formula",
                                                      "expression": "1", "default_formula": "2"})
    assert computed.status_code == 422


def test_computed_numbers_compare_sort_and_nest_as_numbers(crm: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "Acme"}), 201)
    for amount in ("12500", "6000", "8000.5"):
        crm.ok(crm.post("/records/deal", {"name": amount, "amount": amount, "discount": "0", "account": acme["id"]}),
               201)
    crm.ok(crm.post("/meta/objects/account/fields", {"api_name": "twice", "label": "Twice", "type": "formula",
                                                     "expression": "deal_count * 2 + won_total"}), 201)
    over = crm.ok(crm.get("/records/deal", params={"filter": "net > 7000", "sort": "net"}))
    assert [r["net"] for r in over["data"]] == ["8000.50", "12500.00"]
    ordered = crm.ok(crm.get("/records/deal", params={"sort": "-net"}))
    assert [r["name"] for r in ordered["data"]] == ["12500", "8000.5", "6000"]
    assert crm.ok(crm.get(f"/records/account/{acme['id']}"))["twice"] == "6"
    matching = crm.ok(crm.get("/records/account", params={"filter": "deal_count = 3"}))
    assert [r["name"] for r in matching["data"]] == ["Acme"]


def test_rollup_filter_errors_point_into_the_filter_as_written(crm: Any) -> None:
    refused = crm.post("/meta/objects/account/fields", {
        "api_name": "bad", "label": "Bad", "type": "rollup", "relation": "deals", "function": "count",
        "filter": 'deals.stgae = "won"'})
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert error["field"] == "/fields/bad/filter"
    assert error["formula"]["position"] == len("deals.")  # at "stgae", counted in the filter itself
    assert 'deals.stgae = "won"' in error["message"]
