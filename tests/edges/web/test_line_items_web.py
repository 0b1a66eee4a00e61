"""Line items through the record pages (no browser), on both databases: the form draws the
grid, its state answer works the lines out on the server as they are typed (a product's
price filled, each line's net, the quote's total over the lines not saved yet, problems at
their cell), and the save posts the grid's hidden input as the record's lines — created,
changed, reordered and removed — or shows the form again with every problem beside its
cell and nothing typed lost; bad input is never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "list_price", "label": "List price", "type": "currency", "currency": "EUR"}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency", "currency": "EUR",
     "default_formula": "product.list_price"},
    {"api_name": "net", "label": "Net", "type": "formula", "scale": 2, "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "scale": 2, "expression": "SUM(lines.net)"}]}


@pytest.fixture
def site(runtime: Any) -> Any:
    system = Actor.system()
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        runtime.metadata.create_object(system, doc)
    for name, price in (("Bolt", "2.50"), ("Nut", "1.00")):
        runtime.records.create(system, "product", {"name": name, "list_price": price})
    runtime.users.roles.create(system, {"api_name": "sales", "label": "Sales", "permissions": {
        "quote": {"create": True, "read": "all", "edit": "all", "delete": "own"},
        "product": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": "sales@example.com", "name": "Sam", "password": "sales-password",
                                        "roles": ["sales"]})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def _products(runtime: Any) -> dict[str, int]:
    found = runtime.records.list(Actor.system(), "product", fields=["name"])["data"]
    return {r["name"]: r["id"] for r in found}


def _lines(*items: dict[str, Any]) -> str:
    return json.dumps(list(items))


def _sales(site: TestClient) -> SignedIn:
    return SignedIn(site, "sales@example.com", "sales-password")


def test_the_new_record_form_draws_the_grid_of_the_childs_fields(site: TestClient) -> None:
    page = _sales(site).get("/app/quote/new").text
    grid = page[page.index('data-field="lines"'):]
    headers = re.findall(r'<th scope="col" data-column="(\w+)"', grid)
    assert headers == ["product", "quantity", "unit_price", "net"]  # not the link, not the line number
    assert 'name="lines"' in grid and 'value="[]"' in grid and "<template data-line-template>" in grid
    assert 'data-lookup="product"' in grid and 'data-fill-from="product"' in grid
    assert '/static/app/lines.js' in grid and "No lines yet." in grid
    assert re.search(r'<td data-total="net"[^>]*>.*?0\.00', grid)


def test_the_state_answer_fills_prices_and_works_out_lines_and_totals(site: TestClient, runtime: Any) -> None:
    ids = _products(runtime)
    answer = _sales(site).post("/app/quote/form-state", data={"name": "Q", "lines": _lines(
        {"product": str(ids["Bolt"]), "quantity": "4", "unit_price": ""},
        {"product": str(ids["Nut"]), "quantity": "x", "unit_price": "3"},
        {"product": "", "quantity": "2", "unit_price": "€1,000.50"})})
    assert answer.status_code == 200, answer.text
    state = answer.json()
    lines = state["lines"]["lines"]
    first, second, third = lines["rows"]
    # The blank price of a new line is the product's list price, and so is the line's net.
    assert first["fills"]["unit_price"] == {"value": "2.50", "display": "2.50 EUR"}
    assert first["cells"]["net"] == "10.00"
    assert second["fills"]["unit_price"]["value"] == "1.00" and second["cells"]["net"] == ""
    # A price pasted as a spreadsheet shows it is read as an import reads it.
    assert third["fills"] == {} and third["cells"]["net"] == "2,001.00"
    assert lines["totals"] == {"quantity": "6.00", "unit_price": "1,006.00 EUR", "net": "2,011.00"}
    # The quote's total over the lines not saved yet — for a salesperson too.
    assert state["values"]["total"] == "2,011.00"
    assert {(e["field"], e["message"]) for e in state["errors"]} == {("lines[1].quantity", "must be a number")}


def test_saving_posts_the_lines_and_the_record_page_shows_them_in_order(site: TestClient, runtime: Any) -> None:
    ids = _products(runtime)
    sales = _sales(site)
    saved = sales.client.post("/app/quote/save", headers=sales.csrf, follow_redirects=False, data={
        "name": "Hardware", "lines": _lines({"product": str(ids["Nut"]), "quantity": "10", "unit_price": ""},
                                            {"product": str(ids["Bolt"]), "quantity": "4", "unit_price": "2.00"})})
    assert saved.status_code == 303, saved.text
    quote_id = int(saved.headers["location"].rsplit("/", 1)[1])
    record = runtime.records.get(Actor.system(), "quote", quote_id)
    assert [(line["product"], line["quantity"], line["unit_price"]) for line in record["lines"]] == [
        (ids["Nut"], "10.00", "1.00"), (ids["Bolt"], "4.00", "2.00")]
    assert record["total"] == "18.00"
    page = sales.get(f"/app/quote/{quote_id}").text
    assert page.index('data-name="Nut"') < page.index('data-name="Bolt"')
    first, second = (line["id"] for line in record["lines"])
    assert f'data-line-id="{first}"' in page and json.dumps([{"id": first}, {"id": second}]).replace(
        '"', "&#34;").replace(" ", "") in page.replace(" ", "")

    # Changed, reordered, one added and one removed — under the version the form was read at.
    changed = sales.client.post("/app/quote/save", headers=sales.csrf, follow_redirects=False, data={
        "record_id": str(quote_id), "version": str(record["version"]), "name": "Hardware",
        "lines": _lines({"id": second, "product": str(ids["Bolt"]), "quantity": "5", "unit_price": "2.00"},
                        {"product": str(ids["Bolt"]), "quantity": "1", "unit_price": ""})})
    assert changed.status_code == 303, changed.text
    after = runtime.records.get(Actor.system(), "quote", quote_id)
    assert [(line["id"] == second, line["quantity"], line["unit_price"], line["line_number"])
            for line in after["lines"]] == [(True, "5.00", "2.00", 1), (False, "1.00", "2.50", 2)]
    assert after["total"] == "12.50" and after["version"] == record["version"] + 1
    assert first not in {line["id"] for line in runtime.records.list(Actor.system(), "quote_line")["data"]}


def test_a_refused_save_shows_each_problem_beside_its_cell_and_keeps_what_was_typed(site: TestClient,
                                                                                 runtime: Any) -> None:
    ids = _products(runtime)
    sales = _sales(site)
    refused = sales.post("/app/quote/save", data={"name": "Q", "lines": _lines(
        {"product": str(ids["Bolt"]), "quantity": "2"}, {"product": str(ids["Nut"]), "quantity": "lots"},
        {"product": "", "quantity": ""})})
    assert refused.status_code == 422
    page = refused.text
    rows = page.split("<tr class=\"line")[1:4]
    assert 'value="lots"' in rows[1] and "must be a number" in rows[1] and "has-error" in rows[1]
    assert "is required" in rows[2] and "must be a number" not in rows[0] + rows[2]
    assert 'data-name="Bolt"' in rows[0] and 'data-name="Nut"' in rows[1]  # picked products kept by name
    assert "Line 2, Quantity: must be a number" in page  # and said in words under the grid
    assert runtime.records.list(Actor.system(), "quote")["data"] == []


@pytest.mark.parametrize("posted", ["[{", '{"a": 1}', '["x"]', '[{"id": "me"}]', '[{"id": 999999}]',
                                    '[{"quantity": {"x": 1}}]', '[{"nope": "1"}]'])
def test_lines_that_cannot_be_read_are_a_problem_on_the_form_never_a_500(site: TestClient, posted: str) -> None:
    sales = _sales(site)
    state = sales.post("/app/quote/form-state", data={"name": "Q", "lines": posted})
    assert state.status_code == 200, state.text
    refused = sales.post("/app/quote/save", data={"name": "Q", "lines": posted})
    assert refused.status_code == 422, refused.text
    assert 'class="field-error"' in refused.text or 'class="cell-error' in refused.text or "line-error" in refused.text


def test_lines_read_only_on_the_form_are_shown_without_inputs(site: TestClient, runtime: Any) -> None:
    system = Actor.system()
    made = runtime.records.create(system, "quote", {"name": "Q", "lines": [{"quantity": "2", "unit_price": "3"}]})
    runtime.documents.create(system, "forms", {"api_name": "quote_review", "label": "Review", "object": "quote",
                                               "sections": [{"label": "Quote", "columns": [{"fields": [
                                                   {"field": "name"}, {"field": "lines", "read_only": True}]}]}]})
    page = _sales(site).get(f"/app/quote/{made['id']}").text
    grid = page[page.index('data-field="lines"'):page.index("</table>", page.index('data-field="lines"'))]
    assert "data-read-only" in grid and "6.00" in grid and "2.00" in grid
    assert "<input" not in grid
    assert "data-line-delete" not in grid and ' name="lines"' not in grid
    # Saving the form does not touch the lines.
    saved = _sales(site).post("/app/quote/save", data={"record_id": str(made["id"]), "form": "quote_review",
                                                       "name": "Q2"})
    assert saved.status_code == 204, saved.text
    after = runtime.records.get(system, "quote", made["id"])
    assert after["name"] == "Q2" and [line["id"] for line in after["lines"]] == [made["lines"][0]["id"]]


def test_a_line_opened_on_its_own_shows_its_quote_and_the_lines_list_offers_no_new_line(
        site: Any, runtime: Any) -> None:
    person = SignedIn(site, "sales@example.com", "sales-password")
    made = runtime.records.create(Actor.system(), "quote", {"name": "Q1", "lines": [{"quantity": "2"}]})
    line = made["lines"][0]["id"]
    opened = person.get(f"/app/quote_line/{line}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/app/quote/{made['id']}#line-{line}"
    assert person.get(f"/app/quote_line/{line}").text.count("Q1") >= 1
    listed = person.get("/app/quote_line").text
    assert "New Quote line" not in listed and "Lines are added on their Quote" in listed
    started = person.get("/app/quote_line/new", follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == "/app/quote"
