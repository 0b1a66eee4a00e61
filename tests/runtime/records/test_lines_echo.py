"""A quote created with its lines answers with what reading it gives, on SQLite and
PostgreSQL: the lines are echoed from the values written with only their formulas read
back, and the statements that write and check lines are compiled once per metadata
snapshot — so the echo must follow the reader's hidden fields, stored and computed
formulas, and a field added to the lines afterwards, and the lookups of any number of
lines must be checked against the products as they are now."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "cost", "label": "Cost", "type": "currency"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * unit_price"},
    {"api_name": "stored_net", "label": "Stored net", "type": "formula", "expression": "quantity * unit_price",
     "store": True}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)", "store": True}]}


@pytest.fixture
def quotes(api: Any) -> Any:
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    return api


def _products(api: Any, count: int) -> list[int]:
    return [int(api.ok(api.post("/records/product", {"name": f"P{i}"}), 201)["id"]) for i in range(count)]


def test_a_new_quotes_echo_is_what_reading_it_gives(quotes: Any) -> None:
    bolt, nut = _products(quotes, 2)
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [
        {"product": bolt, "quantity": "4", "unit_price": "2.50", "cost": "1"},
        {"product": nut, "quantity": "10", "unit_price": "1.00"}, {"quantity": "0.5"}]}), 201)
    assert [line["net"] for line in made["lines"]] == ["10", "10", None]
    assert [line["stored_net"] for line in made["lines"]] == ["10", "10", None]
    assert made["total"] == "20"
    assert quotes.ok(quotes.get(f"/records/quote/{made['id']}")) == made


def test_the_echo_leaves_out_a_line_field_the_creator_may_not_see(quotes: Any, runtime: Any) -> None:
    quotes.ok(quotes.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": {
        "quote": {"create": True, "read": "own", "edit": "own"}, "product": {"read": "all"},
        "quote_line": {"read": "all", "fields": {"cost": "hidden"}}}}), 201)
    rep = quotes.ok(quotes.post("/users", {"email": "rep@example.com", "name": "Rep", "password": "a-long-password",
                                           "roles": ["rep"]}), 201)
    actor = runtime.users.actor_for_user(rep["id"])
    made = runtime.records.create(actor, "quote", {"name": "Q2", "lines": [
        {"quantity": "2", "unit_price": "3"}, {"quantity": "1", "unit_price": "1"}]}, exact=True)
    assert all("cost" not in line for line in made["lines"])
    assert made == runtime.records.get(actor, "quote", made["id"])
    admin = quotes.ok(quotes.get(f"/records/quote/{made['id']}"))
    assert [line["cost"] for line in admin["lines"]] == [None, None]


def test_a_field_added_to_the_lines_is_written_and_echoed_by_the_next_save(quotes: Any) -> None:
    quotes.ok(quotes.post("/records/quote", {"name": "Before", "lines": [{"quantity": "1"}, {"quantity": "2"}]}),
              201)
    quotes.ok(quotes.post("/meta/objects/quote_line/fields", {"api_name": "note", "label": "Note", "type": "text"}),
              201)
    quotes.ok(quotes.post("/meta/objects/quote_line/fields", {
        "api_name": "double", "label": "Double", "type": "formula", "expression": "quantity * 2"}), 201)
    made = quotes.ok(quotes.post("/records/quote", {"name": "After", "lines": [
        {"quantity": "1", "note": "first"}, {"quantity": "3", "note": "second"}]}), 201)
    assert [(line["note"], line["double"]) for line in made["lines"]] == [("first", "2"), ("second", "6")]
    assert quotes.ok(quotes.get(f"/records/quote/{made['id']}")) == made


@pytest.mark.parametrize("count", [1, 3, 5])
def test_a_trashed_product_is_refused_on_its_line_whatever_the_number_of_products(quotes: Any, count: int) -> None:
    products = _products(quotes, count)
    gone = products[-1]
    quotes.ok(quotes.delete(f"/records/product/{gone}"))
    refused = quotes.post("/records/quote", {"name": "Q", "lines": [
        {"product": p, "quantity": "1"} for p in products]})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == [f"lines[{count - 1}].product"]
    if count > 1:
        made = quotes.ok(quotes.post("/records/quote", {"name": "Q", "lines": [
            {"product": p, "quantity": "1"} for p in products[:-1]]}), 201)
        assert [line["product"] for line in made["lines"]] == products[:-1]


def test_quotes_created_together_each_get_their_own_lines_in_order(quotes: Any) -> None:
    """On PostgreSQL the new lines' ids are taken ahead, with the quotes' INSERT, for all the
    quotes at once; each quote's lines take theirs in turn (a quote of one line takes none)."""
    sizes = [3, 1, 60, 2]
    made = quotes.ok(quotes.post("/records/quote", [
        {"name": f"Q{n}", "lines": [{"quantity": str(i + 1), "unit_price": "2"} for i in range(size)]}
        for n, size in enumerate(sizes)]), 201)["data"]
    for record, size in zip(made, sizes, strict=True):
        assert [Decimal(line["quantity"]) for line in record["lines"]] == [i + 1 for i in range(size)]
        assert [line["line_number"] for line in record["lines"]] == list(range(1, size + 1))
        assert Decimal(record["total"]) == size * (size + 1)
        assert quotes.ok(quotes.get(f"/records/quote/{record['id']}")) == record
    ids = [line["id"] for record in made for line in record["lines"]]
    assert len(set(ids)) == len(ids)


def test_lines_added_by_a_change_are_written_in_order_and_echoed(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q", "lines": [{"quantity": "1"}]}), 201)
    kept = made["lines"][0]["id"]
    changed = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
        {"quantity": "5"}, {"id": kept}, *({"quantity": str(n), "unit_price": "1"} for n in range(2, 5))]}))
    assert [Decimal(line["quantity"]) for line in changed["lines"]] == [5, 1, 2, 3, 4]
    assert changed["lines"][1]["id"] == kept and Decimal(changed["total"]) == 9
    assert quotes.ok(quotes.get(f"/records/quote/{made['id']}")) == changed
