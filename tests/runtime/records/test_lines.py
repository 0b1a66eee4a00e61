"""Line items through the API, on both databases: a quote carries its lines in order, takes
them as one list (update by id, insert without, delete what is left out) in one
transaction under its If-Match, keeps its formulas over them consistent, tells their
changes in its history, and takes them along to the trash and back."""

from __future__ import annotations

import threading
from typing import Any

import pytest

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "list_price", "label": "List price", "type": "currency"}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "net", "label": "Net", "type": "formula",
     "expression": "quantity * unit_price * (1 - BLANKVALUE(discount, 0))"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "region", "label": "Region", "type": "text"},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)"},
    {"api_name": "stored_total", "label": "Stored total", "type": "formula", "expression": "SUM(lines.net)",
     "store": True},
    {"api_name": "top_discount", "label": "Top discount", "type": "formula", "expression": "MAX(lines.discount)"}],
    "validation_rules": [{"name": "not_too_big", "error_if": "SUM(lines.quantity) > 1000",
                          "message": "A quote may not hold more than 1,000 units"}]}


@pytest.fixture
def quotes(api: Any) -> Any:
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    return api


def _product(api: Any, name: str, price: str) -> int:
    return int(api.ok(api.post("/records/product", {"name": name, "list_price": price}), 201)["id"])


def test_a_child_object_gets_its_link_to_the_parent_and_a_line_number(quotes: Any) -> None:
    line = quotes.ok(quotes.get("/meta/objects/quote_line"))
    added = {f["api_name"]: f for f in line["fields"] if f.get("system")}
    assert added["quote"]["type"] == "lookup" and added["quote"]["target"] == "quote"
    assert added["quote"]["on_delete"] == "cascade" and added["quote"]["related_name"] == "lines"
    assert added["line_number"]["type"] == "integer" and added["line_number"]["label"] == "Line"


def test_a_quote_is_created_with_its_lines_in_order_and_totals_follow(quotes: Any) -> None:
    bolt, nut = _product(quotes, "Bolt", "2.50"), _product(quotes, "Nut", "1.00")
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [
        {"product": bolt, "quantity": "4", "unit_price": "2.50"},
        {"product": nut, "quantity": "10", "unit_price": "1.00", "discount": "0.1"}]}), 201)
    assert [(line["line_number"], line["product"]) for line in made["lines"]] == [(1, bolt), (2, nut)]
    assert made["total"] == "19" and made["stored_total"] == "19"
    assert made["lines"][1]["net"] == "9"
    read = quotes.ok(quotes.get(f"/records/quote/{made['id']}"))
    assert read["lines"] == made["lines"] and read["version"] == 1
    listed = quotes.ok(quotes.get("/records/quote_line", params={"sort": "line_number"}))["data"]
    assert [line["quote"] for line in listed] == [made["id"], made["id"]]


def test_a_patch_updates_by_id_inserts_without_and_deletes_what_is_left_out(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [
        {"quantity": "1", "unit_price": "10"}, {"quantity": "2", "unit_price": "10"},
        {"quantity": "3", "unit_price": "10"}]}), 201)
    first, second, third = (line["id"] for line in made["lines"])
    changed = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
        {"id": third, "quantity": "4"}, {"quantity": "5", "unit_price": "1"}, {"id": first}]},
        headers={"If-Match": f'"{made["version"]}"'}))
    assert [(line.get("id"), line["quantity"], line["line_number"]) for line in changed["lines"]] == [
        (third, "4.00", 1), (changed["lines"][1]["id"], "5.00", 2), (first, "1.00", 3)]
    assert changed["version"] == made["version"] + 1
    assert changed["total"] == "55" and changed["stored_total"] == "55"
    assert second not in {line["id"] for line in quotes.ok(quotes.get("/records/quote_line"))["data"]}


def test_line_problems_carry_their_place_and_change_nothing(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [{"quantity": "1"}]}), 201)
    refused = quotes.patch(f"/records/quote/{made['id']}", {"name": "Q1b", "lines": [
        {"id": made["lines"][0]["id"], "quantity": "2"}, {"quantity": "-1"}, {"quantity": "x"},
        {"unit_price": "3"}]})
    assert refused.status_code == 422, refused.text
    fields = {p["field"] for p in refused.json()["errors"]}
    assert fields == {"lines[1].quantity", "lines[2].quantity", "lines[3].quantity"}
    after = quotes.ok(quotes.get(f"/records/quote/{made['id']}"))
    assert after["name"] == "Q1" and after["version"] == 1 and [line["quantity"] for line in after["lines"]] == ["1.00"]
    other = quotes.patch(f"/records/quote/{made['id']}", {"lines": [{"id": 999999, "quantity": "1"}]})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "lines[0].id"


def test_a_parent_rule_over_its_lines_sees_the_new_lines(quotes: Any) -> None:
    refused = quotes.post("/records/quote", {"name": "Big", "lines": [{"quantity": "600"}, {"quantity": "600"}]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["message"] == "A quote may not hold more than 1,000 units"
    assert quotes.ok(quotes.get("/records/quote"))["data"] == []
    assert quotes.ok(quotes.get("/records/quote_line"))["data"] == []


def test_writing_a_line_on_its_own_is_refused_with_the_way_to_write_it(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [{"quantity": "1"}]}), 201)
    line_id = made["lines"][0]["id"]
    for response in (quotes.post("/records/quote_line", {"quantity": "1"}),
                     quotes.patch(f"/records/quote_line/{line_id}", {"quantity": "2"}),
                     quotes.delete(f"/records/quote_line/{line_id}")):
        assert response.status_code == 409, response.text
        assert "PATCH /api/v1/records/quote/" in response.json()["detail"]
        assert response.json()["errors"][0]["code"] == "written_with_parent"


def test_only_a_change_of_lines_moves_the_parent_version_once_and_reads_in_history(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [
        {"quantity": "1"}, {"quantity": "2"}, {"quantity": "2"}]}), 201)
    ids = [line["id"] for line in made["lines"]]
    changed = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
        {"id": ids[0]}, {"id": ids[1]}, {"id": ids[2], "quantity": "4"}]}))
    assert changed["version"] == 2
    same = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
        {"id": ids[0]}, {"id": ids[1]}, {"id": ids[2]}]}))
    assert same["version"] == 2
    entries = quotes.ok(quotes.get(f"/records/quote/{made['id']}/history"))
    lines = [e for e in entries if e["field"] == "lines"]
    assert lines[0]["old"] == {"line": 3, "field": "quantity", "value": "2.00"}
    assert lines[0]["new"] == {"line": 3, "field": "quantity", "value": "4.00"}


def test_deleting_a_quote_takes_its_lines_and_restoring_brings_them_back(quotes: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [{"quantity": "1"},
                                                                            {"quantity": "2"}]}), 201)
    quotes.ok(quotes.delete(f"/records/quote/{made['id']}"))
    assert quotes.ok(quotes.get("/records/quote_line"))["data"] == []
    quotes.ok(quotes.post(f"/records/quote/{made['id']}/restore"))
    back = quotes.ok(quotes.get(f"/records/quote/{made['id']}"))
    assert [line["quantity"] for line in back["lines"]] == ["1.00", "2.00"]
    assert back["stored_total"] == made["stored_total"]


def test_concurrent_patches_of_one_quote_one_wins_the_other_is_stale(quotes: Any, runtime: Any) -> None:
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "lines": [{"quantity": "1"}]}), 201)
    first = made["lines"][0]["id"]
    answers: list[int] = []
    start = threading.Barrier(2)

    def patch(quantity: str) -> None:
        start.wait()
        answers.append(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
            {"id": first, "quantity": quantity}, {"quantity": quantity}]},
            headers={"If-Match": f'"{made["version"]}"'}).status_code)

    threads = [threading.Thread(target=patch, args=(q,)) for q in ("5", "7")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 412]
    final = quotes.ok(quotes.get(f"/records/quote/{made['id']}"))
    assert len(final["lines"]) == 2 and final["lines"][0]["quantity"] == final["lines"][1]["quantity"]
    assert final["version"] == 2


def test_line_items_need_a_child_object_that_no_other_record_holds(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "text", "label": "Text", "type": "text"}]}), 201)
    refused = api.post("/meta/objects", {"api_name": "memo", "label": "Memo", "fields": [
        {"api_name": "notes", "label": "Notes", "type": "child_table", "target": "note"}]})
    assert refused.status_code == 422, refused.text
    problem = refused.json()["errors"][0]
    assert problem["field"] == "/fields/notes/target" and "not a child object" in problem["message"]
    missing = api.post("/meta/objects", {"api_name": "memo", "label": "Memo", "fields": [
        {"api_name": "notes", "label": "Notes", "type": "child_table", "target": "nothing"}]})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "/fields/notes/target"
    api.ok(api.post("/meta/objects", {**QUOTE_LINE, "fields": QUOTE_LINE["fields"][1:3]}), 201)
    api.ok(api.post("/meta/objects", {"api_name": "order", "label": "Order", "fields": [
        {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}), 201)
    taken = api.post("/meta/objects", {"api_name": "invoice", "label": "Invoice", "fields": [
        {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]})
    assert taken.status_code == 422 and "belong to Order already" in taken.json()["errors"][0]["message"]


def test_a_line_field_added_later_attaches_its_child_and_lists_do_not_carry_lines(quotes: Any) -> None:
    quotes.ok(quotes.post("/meta/objects", {"api_name": "expense_line", "label": "Expense line", "child": True,
                                            "fields": [{"api_name": "amount", "label": "Amount",
                                                        "type": "currency"}]}), 201)
    quotes.ok(quotes.post("/meta/objects/quote/fields", {"api_name": "expenses", "label": "Expenses",
                                                         "type": "child_table", "target": "expense_line"}), 201)
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q", "expenses": [{"amount": "5"}],
                                                   "lines": [{"quantity": "1"}]}), 201)
    assert [e["amount"] for e in made["expenses"]] == ["5.00"] and len(made["lines"]) == 1
    listed = quotes.ok(quotes.get("/records/quote"))["data"][0]
    assert "lines" not in listed and "expenses" not in listed
    only = quotes.ok(quotes.get(f"/records/quote/{made['id']}", params={"fields": "name,expenses"}))
    assert set(only) >= {"name", "expenses"} and "lines" not in only


def test_a_required_line_field_needs_a_line_and_a_lower_cap_than_held_is_refused(quotes: Any) -> None:
    quote = quotes.ok(quotes.get("/meta/objects/quote"))
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q", "lines": [{"quantity": "1"}, {"quantity": "2"}]}),
                     201)
    lowered = quotes.patch("/meta/objects/quote/fields/lines", {"max_lines": 1})
    assert lowered.status_code == 422, lowered.text
    assert lowered.json()["errors"][0]["field"] == "/fields/lines/max_lines"
    quotes.ok(quotes.patch("/meta/objects/quote/fields/lines", {"required": True, "max_lines": 2}))
    assert quotes.ok(quotes.get("/meta/objects/quote"))["version"] > quote["version"]
    empty = quotes.post("/records/quote", {"name": "Empty"})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "lines", empty.text
    emptied = quotes.patch(f"/records/quote/{made['id']}", {"lines": []})
    assert emptied.status_code == 422 and emptied.json()["errors"][0]["code"] == "required"
    renamed = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"name": "Q2"}))
    assert renamed["name"] == "Q2" and len(renamed["lines"]) == 2


def test_the_footer_totals_a_builder_chooses_must_be_number_fields_of_the_lines(quotes: Any) -> None:
    refused = quotes.patch("/meta/objects/quote/fields/lines", {"totals": ["quantity", "product"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "/fields/lines/totals/1"
    quotes.ok(quotes.patch("/meta/objects/quote/fields/lines", {"totals": ["quantity", "net"]}))


def test_lines_belong_to_the_owner_of_their_record_and_change_hands_with_it(quotes: Any, runtime: Any) -> None:
    from tessera.auth.actor import Actor

    rita = runtime.users.accounts.add(Actor.system(), {"email": "rita@example.com", "name": "Rita",
                                                       "password": "a-long-password"})["id"]
    sam = runtime.users.accounts.add(Actor.system(), {"email": "sam@example.com", "name": "Sam",
                                                      "password": "a-long-password"})["id"]
    made = quotes.ok(quotes.post("/records/quote", {"name": "Q1", "owner": rita, "lines": [
        {"quantity": "1", "unit_price": "10"}, {"quantity": "2", "unit_price": "10"}]}), 201)
    assert [line["owner"] for line in made["lines"]] == [rita, rita]
    moved = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"owner": sam},
                                   headers={"If-Match": str(made["version"])}))
    assert [line["owner"] for line in moved["lines"]] == [sam, sam]
    added = quotes.ok(quotes.patch(f"/records/quote/{made['id']}", {"lines": [
        *({"id": line["id"]} for line in moved["lines"]), {"quantity": "3", "unit_price": "1"}]},
        headers={"If-Match": str(moved["version"])}))
    assert [line["owner"] for line in added["lines"]] == [sam, sam, sam]
    by_sam = {"filter": 'owner.email = "sam@example.com"'}
    listed = quotes.ok(quotes.get("/records/quote_line", params=by_sam))["data"]
    assert len(listed) == 3
