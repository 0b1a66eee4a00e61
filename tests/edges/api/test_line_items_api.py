"""Line items at the API's edge, on SQLite and PostgreSQL: a rep lists the lines of the
quotes they may read on their own (filter, sort, expand to the quote), a quote's line list
is capped (`max_lines`, 1,000 unless the field says otherwise), `fields=lines` reads only
the lines, a bulk create of quotes names the row of a wrong line, and a field of the lines
the rep's role hides is neither shown nor written."""

from __future__ import annotations

from typing import Any

import pytest

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "cost", "label": "Cost", "type": "currency"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)"}]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "quote": {"create": True, "read": "own", "edit": "own"}, "product": {"read": "all"},
    # The lines' scope is the quote's; the role speaks of their fields (see
    # tests/runtime/reports/test_line_reports.py for a role that names only the quote).
    "quote_line": {"read": "all", "fields": {"cost": "hidden"}}}}


def _sign_in(api: Any, email: str) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


@pytest.fixture
def shop(api: Any) -> dict[str, Any]:
    """Ann's quote A (three lines) and Bob's quote B (two lines)."""
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/roles", REP), 201)
    people = {}
    for name in ("ann", "bob"):
        made = api.ok(api.post("/users", {"email": f"{name}@example.com", "name": name.title(),
                                          "password": "a-long-password", "roles": ["rep"]}), 201)
        people[name] = (int(made["id"]), _sign_in(api, f"{name}@example.com"))
    bolt = api.ok(api.post("/records/product", {"name": "Bolt"}), 201)["id"]
    nut = api.ok(api.post("/records/product", {"name": "Nut"}), 201)["id"]
    ann, bob = people["ann"][1], people["bob"][1]
    a = ann.ok(ann.post("/records/quote", {"name": "A", "lines": [
        {"product": bolt, "quantity": "2", "unit_price": "10"},
        {"product": nut, "quantity": "5", "unit_price": "1"},
        {"product": bolt, "quantity": "1", "unit_price": "10"}]}), 201)
    b = bob.ok(bob.post("/records/quote", {"name": "B", "lines": [
        {"product": bolt, "quantity": "7", "unit_price": "10"}, {"product": nut, "quantity": "9", "unit_price": "1"}]}),
        201)
    # What a line costs is the admin's to write.
    api.ok(api.patch(f"/records/quote/{a['id']}", {"lines": [{"id": line["id"], "cost": "3"} for line in a["lines"]]}))
    return {"people": people, "a": a, "b": b, "products": {"bolt": bolt, "nut": nut}}


def test_a_rep_lists_the_lines_of_their_quotes_with_filter_sort_and_expand(shop: dict[str, Any]) -> None:
    ann, bob = shop["people"]["ann"][1], shop["people"]["bob"][1]
    a, bolt = shop["a"], shop["products"]["bolt"]
    listed = ann.ok(ann.get("/records/quote_line", params={
        "filter": f"product.id = {bolt}", "sort": "-quantity", "expand": "quote,product"}))["data"]
    assert [(line["quantity"], line["line_number"]) for line in listed] == [("2.00", 1), ("1.00", 3)]
    assert {line["_expanded"]["quote"]["name"] for line in listed} == {"A"}
    assert listed[0]["_expanded"]["product"]["name"] == "Bolt"
    assert all("cost" not in line and "cost" not in line["_expanded"]["quote"] for line in listed)
    # A filter through the quote, and every line of hers, in order.
    mine = ann.ok(ann.get("/records/quote_line", params={"filter": 'quote.name = "A"', "sort": "line_number"}))
    assert [line["net"] for line in mine["data"]] == ["20", "5", "10"]
    assert ann.ok(ann.get("/records/quote_line", params={"filter": 'quote.name = "B"'}))["data"] == []
    assert len(ann.ok(ann.get("/records/quote_line"))["data"]) == 3
    assert len(bob.ok(bob.get("/records/quote_line"))["data"]) == 2
    # Bob's line by its id is not there for Ann, nor is his quote through expand.
    bobs_line = shop["b"]["lines"][0]["id"]
    assert ann.get(f"/records/quote_line/{bobs_line}").status_code == 404
    assert ann.ok(ann.get(f"/records/quote_line/{a['lines'][1]['id']}", params={"expand": "quote"}))[
        "_expanded"]["quote"]["id"] == a["id"]


def test_a_rep_changes_the_lines_of_their_own_quote_only(shop: dict[str, Any]) -> None:
    ann = shop["people"]["ann"][1]
    a, b = shop["a"], shop["b"]
    version = ann.ok(ann.get(f"/records/quote/{a['id']}"))["version"]
    changed = ann.ok(ann.patch(f"/records/quote/{a['id']}", {"lines": [
        {"id": a["lines"][0]["id"], "quantity": "3"}]}, headers={"If-Match": f'"{version}"'}))
    assert [line["quantity"] for line in changed["lines"]] == ["3.00"] and changed["total"] == "30"
    refused = ann.patch(f"/records/quote/{b['id']}", {"lines": []})
    assert refused.status_code == 404, refused.text  # not hers to see
    # A line on its own is written with its quote, whoever asks.
    direct = ann.patch(f"/records/quote_line/{a['lines'][0]['id']}", {"quantity": "9"})
    assert direct.status_code == 409 and direct.json()["errors"][0]["code"] == "written_with_parent"


def test_a_list_of_lines_longer_than_the_cap_is_refused_with_a_problem(api: Any, shop: dict[str, Any]) -> None:
    a = shop["a"]
    too_many = api.patch(f"/records/quote/{a['id']}", {"lines": [{"quantity": "1"}] * 1001})
    assert too_many.status_code == 422, too_many.text
    assert [p["field"] for p in too_many.json()["errors"]] == ["lines"]
    assert "1000" in too_many.json()["errors"][0]["message"] or "1,000" in too_many.json()["errors"][0]["message"]
    assert len(api.ok(api.get(f"/records/quote/{a['id']}"))["lines"]) == 3
    # The builder cannot lower the cap below what a quote holds (3 lines): its other lines
    # could no longer be read, and writing it back would remove them.
    field = api.ok(api.get("/meta/objects/quote/fields/lines"))
    lowered = api.patch("/meta/objects/quote/fields/lines", {**field, "max_lines": 2})
    assert lowered.status_code == 422 and lowered.json()["errors"][0]["field"] == "/fields/lines/max_lines"
    # At 3 (what the fullest quote holds), a list of 4 is refused and 3 are taken.
    api.ok(api.patch("/meta/objects/quote/fields/lines", {**field, "max_lines": 3}))
    four = api.post("/records/quote", {"name": "C", "lines": [{"quantity": "1"}] * 4})
    assert four.status_code == 422 and four.json()["errors"][0]["field"] == "lines", four.text
    assert four.json()["errors"][0]["code"] == "too_many_lines"
    three = api.ok(api.post("/records/quote", {"name": "C", "lines": [{"quantity": "1"}] * 3}), 201)
    assert len(three["lines"]) == 3


def test_fields_lines_reads_only_the_lines(shop: dict[str, Any]) -> None:
    ann = shop["people"]["ann"][1]
    a = shop["a"]
    only = ann.ok(ann.get(f"/records/quote/{a['id']}", params={"fields": "lines"}))
    assert "name" not in only and "total" not in only
    assert [line["net"] for line in only["lines"]] == ["20", "5", "10"]
    named = ann.ok(ann.get(f"/records/quote/{a['id']}", params={"fields": "name"}))
    assert named["name"] == "A" and "lines" not in named


def test_a_bulk_create_of_quotes_names_the_row_of_a_wrong_line(api: Any, shop: dict[str, Any]) -> None:
    refused = api.post("/records/quote", [
        {"name": "Good", "lines": [{"quantity": "1"}]},
        {"name": "Bad", "lines": [{"quantity": "1"}, {"quantity": "-3"}]},
        {"name": "Worse", "lines": [{"unit_price": "2"}]}])
    assert refused.status_code == 422, refused.text
    problems = {(p.get("row"), p["field"]) for p in refused.json()["errors"]}
    assert problems == {(1, "lines[1].quantity"), (2, "lines[0].quantity")}
    assert {q["name"] for q in api.ok(api.get("/records/quote"))["data"]} == {"A", "B"}
    made = api.ok(api.post("/records/quote", [{"name": "C", "lines": [{"quantity": "1", "unit_price": "4"}]},
                                              {"name": "D", "lines": []}]), 201)["data"]
    assert [(q["name"], len(q["lines"]), q["total"]) for q in made] == [("C", 1, "4"), ("D", 0, "0")]


def test_a_line_field_the_role_hides_is_not_shown_and_not_written(api: Any, shop: dict[str, Any]) -> None:
    ann = shop["people"]["ann"][1]
    a = shop["a"]
    read = ann.ok(ann.get(f"/records/quote/{a['id']}"))
    assert all("cost" not in line for line in read["lines"])
    assert [line["cost"] for line in api.ok(api.get(f"/records/quote/{a['id']}"))["lines"]] == ["3.00"] * 3
    for params in ({"filter": "cost > 1"}, {"sort": "cost"}, {"fields": "cost"}):
        answer = ann.get("/records/quote_line", params=params)
        assert answer.status_code == 422, (params, answer.text)
    refused = ann.patch(f"/records/quote/{a['id']}", {"lines": [
        {"id": a["lines"][0]["id"], "cost": "0"}, {"id": a["lines"][1]["id"]}, {"id": a["lines"][2]["id"]}]})
    assert refused.status_code == 422, refused.text
    assert [(p["field"], p["code"]) for p in refused.json()["errors"]] == [("lines[0].cost", "forbidden_field")]
    added = ann.post("/records/quote", {"name": "E", "lines": [{"quantity": "1", "cost": "0"}]})
    assert added.status_code == 422 and added.json()["errors"][0]["field"] == "lines[0].cost", added.text
    assert [line["cost"] for line in api.ok(api.get(f"/records/quote/{a['id']}"))["lines"]] == ["3.00"] * 3


def test_the_history_of_a_quote_does_not_tell_a_hidden_line_field(api: Any, shop: dict[str, Any]) -> None:
    ann = shop["people"]["ann"][1]
    a = shop["a"]
    first, *others = a["lines"]
    api.ok(api.patch(f"/records/quote/{a['id']}", {"lines": [
        {"id": first["id"], "quantity": "4", "cost": "8"}, *({"id": line["id"]} for line in others),
        {"quantity": "1", "unit_price": "5", "cost": "2"}]}))
    entries = ann.ok(ann.get(f"/records/quote/{a['id']}/history"))
    told = [e for e in entries if e["field"] == "lines"]
    assert {"line": 1, "field": "quantity", "value": "4.00"} in [e["new"] for e in told], told
    added = next(e["new"] for e in told if e["old"] is None)
    assert added["values"]["quantity"] == "1.00" and "cost" not in added["values"]
    assert not any("cost" in str(e["old"]) + str(e["new"]) for e in told), told


def test_a_second_role_about_something_else_does_not_reveal_a_hidden_line_field(
        api: Any, shop: dict[str, Any]) -> None:
    """Only a role that reaches the quotes has a say about their lines' fields (as only a
    role granting something on an object has a say about its fields): a role about tickets
    that names nothing of quote lines does not widen what the rep's role hides."""
    api.ok(api.post("/meta/objects", {"api_name": "ticket", "label": "Ticket", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True}]}), 201)
    api.ok(api.post("/roles", {"api_name": "support", "label": "Support",
                               "permissions": {"ticket": {"create": True, "read": "all"}}}), 201)
    ann_id = shop["people"]["ann"][0]
    api.ok(api.patch(f"/users/{ann_id}", {"roles": ["rep", "support"]}))
    ann = _sign_in(api, "ann@example.com")
    read = ann.ok(ann.get(f"/records/quote/{shop['a']['id']}"))
    assert read["lines"] and all("cost" not in line for line in read["lines"])
    assert all("cost" not in line for line in ann.ok(ann.get("/records/quote_line"))["data"])


def test_a_rule_that_a_quote_needs_a_line_lets_a_quote_with_lines_be_created(api: Any, shop: dict[str, Any]) -> None:
    """A rule over the lines sees the lines being created with the record, as it sees them on
    a change: a quote made with a line passes "needs a line", one without is refused."""
    quote = api.ok(api.get("/meta/objects/quote"))
    api.ok(api.patch("/meta/objects/quote", {"validation_rules": [
        {"name": "needs_a_line", "error_if": "COUNT(lines) = 0", "message": "A quote needs at least one line"}]},
        headers={"If-Match": f'"{quote["version"]}"'}))
    empty = api.post("/records/quote", {"name": "Empty"})
    assert empty.status_code == 422 and empty.json()["errors"][0]["code"] == "validation_rule", empty.text
    emptied = api.patch(f"/records/quote/{shop['a']['id']}", {"lines": []})
    assert emptied.status_code == 422, emptied.text
    made = api.post("/records/quote", {"name": "One line", "lines": [{"quantity": "1"}]})
    assert made.status_code == 201, made.text


def test_a_role_hiding_the_lines_link_to_the_quote_still_reads_the_quote(api: Any, shop: dict[str, Any]) -> None:
    """The platform's own link of a line to its quote may be hidden by a role like any
    field: the quote still reads, with its lines (without the link), never a 500."""
    api.ok(api.patch("/roles/rep", {"permissions": {**REP["permissions"],
                                                    "quote_line": {"read": "all", "fields": {"quote": "hidden"}}}}))
    ann = _sign_in(api, "ann@example.com")
    read = ann.get(f"/records/quote/{shop['a']['id']}")
    assert read.status_code == 200, read.text
    assert [line["line_number"] for line in read.json()["lines"]] == [1, 2, 3]
    assert all("quote" not in line for line in read.json()["lines"])
