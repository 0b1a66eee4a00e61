"""A won quote becomes an order with its lines, on SQLite and PostgreSQL: the quote's lines
are copied in their order into the order's (same-name fields by default, others by
formulas over the quote line), written with the order in one create, and a rule converts
the quote when it is won."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

from .conftest import SYSTEM

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "note", "label": "Note", "type": "text"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "status", "label": "Status", "type": "text"},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}
ORDER_LINE = {"api_name": "order_line", "label": "Order line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "max": 100},
    {"api_name": "price", "label": "Price", "type": "currency"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * price"}]}
ORDER = {"api_name": "order", "label": "Order", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "quote", "label": "Quote", "type": "lookup", "target": "quote"},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "order_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)"}]}
QUOTE_TO_ORDER = {
    "api_name": "quote_to_order", "label": "Order the quote", "object": "quote", "when": 'status = "won"',
    "targets": [{"key": "order", "object": "order", "fields": {"name": 'name & " order"', "quote": "id"},
                 "lines": {"from": "lines", "to": "lines",
                           "fields": {"price": "unit_price * (1 - BLANKVALUE(discount, 0))"}}}],
    "after": {"status": '"ordered"'}}


@pytest.fixture
def sales(rt: Platform) -> Platform:
    for doc in (PRODUCT, QUOTE_LINE, QUOTE, ORDER_LINE, ORDER):
        rt.metadata.create_object(SYSTEM, doc)
    rt.documents.create(SYSTEM, "conversions", QUOTE_TO_ORDER)
    return rt


def _quote(rt: Platform, quantities: list[str], status: str = "won") -> dict[str, Any]:
    bolt = rt.records.create(SYSTEM, "product", {"name": "Bolt"})
    nut = rt.records.create(SYSTEM, "product", {"name": "Nut"})
    lines = [{"product": (bolt, nut)[i % 2]["id"], "quantity": q, "unit_price": "10.00",
              "discount": "0.1" if i == 0 else None, "note": f"n{i}"} for i, q in enumerate(quantities)]
    return rt.records.create(SYSTEM, "quote", {"name": "Q-7", "status": status, "lines": lines})


def test_the_order_gets_the_quote_lines_in_their_order(sales: Platform) -> None:
    quote = _quote(sales, ["3", "1", "2"])
    result = sales.conversions.convert(SYSTEM, "quote", quote["id"], "quote_to_order")
    made = result["records"][0]
    assert (made["outcome"], made["name"], made["lines"]) == ("created", "Q-7 order", 3)
    order = sales.records.get(SYSTEM, "order", made["id"])
    assert order["quote"] == quote["id"]
    copied = [(line["line_number"], line["product"], line["quantity"], line["price"]) for line in order["lines"]]
    assert copied == [(i + 1, q["product"], q["quantity"], price)
                      for i, (q, price) in enumerate(zip(quote["lines"], ["9.00", "10.00", "10.00"], strict=True))]
    assert [q["quantity"] for q in quote["lines"]] == ["3.00", "1.00", "2.00"]
    assert order["total"] == "57"
    assert sales.records.get(SYSTEM, "quote", quote["id"])["status"] == "ordered"
    # The quote keeps its own lines.
    assert len(sales.records.get(SYSTEM, "quote", quote["id"])["lines"]) == 3


def test_a_line_the_order_refuses_refuses_the_whole_conversion(sales: Platform) -> None:
    quote = _quote(sales, ["3", "500"])
    with pytest.raises(InvalidInput) as refused:
        sales.conversions.convert(SYSTEM, "quote", quote["id"], "quote_to_order")
    assert [p.field for p in refused.value.errors] == ["order.lines[1].quantity"]
    assert sales.records.list(SYSTEM, "order")["data"] == []
    assert sales.records.get(SYSTEM, "quote", quote["id"])["status"] == "won"


def test_line_formulas_are_checked_against_the_source_lines(sales: Platform) -> None:
    bad = {**QUOTE_TO_ORDER, "api_name": "bad", "targets": [
        {"key": "order", "object": "order", "fields": {"name": "name"},
         "lines": {"from": "lines", "to": "lines", "fields": {"price": "unit_prise", "net": "1", "nope": "1"}}}]}
    problems = {p["field"]: p["message"] for p in sales.documents.check("conversions", bad)}
    assert set(problems) == {"/targets/0/lines/fields/price", "/targets/0/lines/fields/net",
                             "/targets/0/lines/fields/nope"}
    assert problems["/targets/0/lines/fields/nope"] == "Order line has no field 'nope'"


def test_a_won_quote_is_ordered_by_a_rule(sales: Platform) -> None:
    sales.documents.create(SYSTEM, "rules", {
        "api_name": "order_won_quotes", "label": "Order won quotes", "object": "quote", "kind": "automation",
        "trigger": {"on": "after_save", "changed": ["status"]}, "condition": 'status = "won"',
        "actions": [{"action": "convert", "conversion": "quote_to_order"}]})
    quote = _quote(sales, ["1", "2"], status="draft")
    sales.records.update(SYSTEM, "quote", quote["id"], {"status": "won"}, None)
    sales.scheduler.drain()
    orders = sales.records.list(SYSTEM, "order")["data"]
    assert len(orders) == 1 and orders[0]["quote"] == quote["id"]
    assert len(sales.records.get(SYSTEM, "order", orders[0]["id"])["lines"]) == 2
    assert sales.records.get(SYSTEM, "quote", quote["id"])["status"] == "ordered"


def test_an_approved_quote_is_ordered_by_its_flow(sales: Platform) -> None:
    sales.documents.create(SYSTEM, "flows", {
        "api_name": "approve_quote", "label": "Approve quote", "object": "quote", "trigger": {"on": "button"},
        "steps": [{"id": "manager", "type": "approval", "approvers": [{"user": "admin@example.com"}]},
                  {"id": "order", "type": "action", "action": "convert", "conversion": "quote_to_order"}]})
    sales.flows.publish(SYSTEM, "approve_quote")
    admin = sales.users.actor_for_token(sales.users.sign_in("admin@example.com", "admin-password"))
    quote = _quote(sales, ["2", "5"])
    sales.flows.start(admin, "approve_quote", quote["id"], "please")
    assert sales.records.list(SYSTEM, "order")["data"] == []
    task = next(t for t in sales.flows.tasks(admin) if t["step"] == "manager")
    sales.flows.act(admin, task["id"], {"action": "approve", "comment": "ok"})
    sales.scheduler.drain()
    orders = sales.records.list(SYSTEM, "order")["data"]
    assert [o["name"] for o in orders] == ["Q-7 order"]
    assert [line["quantity"] for line in sales.records.get(SYSTEM, "order", orders[0]["id"])["lines"]] == [
        "2.00", "5.00"]
    assert [r["conversion"] for r in sales.conversions.runs(SYSTEM, "quote", quote["id"])] == ["quote_to_order"]


def test_lines_come_through_a_lookup_from_the_record_it_points_at(sales: Platform) -> None:
    """`"from": "quote.lines"`: a copy of an order gets the lines of the order's quote."""
    sales.documents.create(SYSTEM, "conversions", {
        "api_name": "order_to_order", "label": "Reorder", "object": "order", "allow_again": True,
        "targets": [{"key": "copy", "object": "order", "fields": {"name": 'name & " again"'},
                     "lines": {"from": "quote.lines", "to": "lines", "fields": {"price": "unit_price"}}}]})
    quote = _quote(sales, ["4", "6"])
    order = sales.records.create(SYSTEM, "order", {"name": "O-1", "quote": quote["id"]})
    made = sales.conversions.convert(SYSTEM, "order", order["id"], "order_to_order")["records"][0]
    assert made["lines"] == 2
    copy = sales.records.get(SYSTEM, "order", made["id"])
    assert [(line["quantity"], line["price"]) for line in copy["lines"]] == [("4.00", "10.00"), ("6.00", "10.00")]
    # No quote to read lines from: the record is made without lines.
    bare = sales.records.create(SYSTEM, "order", {"name": "O-2"})
    made = sales.conversions.convert(SYSTEM, "order", bare["id"], "order_to_order")["records"][0]
    assert made["lines"] == 0 and sales.records.get(SYSTEM, "order", made["id"])["lines"] == []
    bad = {"api_name": "bad", "label": "Bad", "object": "order", "targets": [
        {"key": "x", "object": "order", "fields": {"name": "name"},
         "lines": {"from": "name.lines", "to": "lines"}}]}
    problems = {p["field"]: p["message"] for p in sales.documents.check("conversions", bad)}
    assert problems == {"/targets/0/lines/from": "Order has no lookup field 'name' to read lines through"}
