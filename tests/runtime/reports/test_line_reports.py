"""Reports over line items, on SQLite and PostgreSQL: quote lines grouped and summed by any
field of their quote (its account's region, its owner), under the reader's row scope — a
rep who reads only their own quotes counts only those quotes' lines, a quote shared with
them by a rule adds its lines, a drill-down lists only lines they may read, and a field of
the lines their role hides cannot be reported on."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "region", "label": "Region", "type": "select",
     "options": [{"value": "north", "label": "North"}, {"value": "south", "label": "South"}]}]}
PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "cost", "label": "Cost", "type": "currency"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)"}]}
#: A rep reads and changes their own quotes (and so those quotes' lines) and may not see
#: what a line costs.
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "quote": {"create": True, "read": "own", "edit": "own"},
    "account": {"read": "all"}, "product": {"read": "all"},
    # `read` here only makes the role speak about the lines' fields: the lines' scope is
    # the quote's (see test_a_role_naming_only_the_quote_reads_its_lines for the role
    # that names nothing but the quote).
    "quote_line": {"read": "all", "fields": {"cost": "hidden"}}}}
BY_REGION = {"api_name": "lines_by_region", "label": "Lines by region", "object": "quote_line",
             "group_by": [{"field": "quote.account.region", "label": "Region"},
                          {"field": "quote.owner", "label": "Owner"}],
             "measures": [{"name": "net", "label": "Net", "function": "sum", "field": "net"},
                          {"name": "lines", "label": "Lines", "function": "count"}]}


def _sign_in(api: Any, email: str) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def _quote(api: Any, name: str, account: int, owner: int, lines: list[tuple[str, str]], product: int) -> int:
    return int(api.ok(api.post("/records/quote", {"name": name, "account": account, "owner": owner, "lines": [
        {"product": product, "quantity": q, "unit_price": p, "cost": "1"} for q, p in lines]}), 201)["id"])


@pytest.fixture
def office(api: Any) -> dict[str, Any]:
    """Ann and Bob, reps; each owns a quote for a northern and for a southern account.

    | quote | owner | region | lines (quantity x price) | net |
    | Q1    | Ann   | north  | 2 x 10, 1 x 5            | 25  |
    | Q2    | Ann   | south  | 3 x 10                   | 30  |
    | Q3    | Bob   | north  | 4 x 10                   | 40  |
    | Q4    | Bob   | south  | 1 x 100, 2 x 1.50        | 103 |
    """
    for doc in (ACCOUNT, PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/roles", REP), 201)
    people = {}
    for name in ("ann", "bob"):
        made = api.ok(api.post("/users", {"email": f"{name}@example.com", "name": name.title(),
                                          "password": "a-long-password", "roles": ["rep"]}), 201)
        people[name] = (int(made["id"]), _sign_in(api, f"{name}@example.com"))
    north = api.ok(api.post("/records/account", {"name": "Nordic AB", "region": "north"}), 201)["id"]
    south = api.ok(api.post("/records/account", {"name": "Sur SA", "region": "south"}), 201)["id"]
    bolt = api.ok(api.post("/records/product", {"name": "Bolt"}), 201)["id"]
    ann, bob = people["ann"][0], people["bob"][0]
    quotes = {"Q1": _quote(api, "Q1", north, ann, [("2", "10"), ("1", "5")], bolt),
              "Q2": _quote(api, "Q2", south, ann, [("3", "10")], bolt),
              "Q3": _quote(api, "Q3", north, bob, [("4", "10")], bolt),
              "Q4": _quote(api, "Q4", south, bob, [("1", "100"), ("2", "1.50")], bolt)}
    api.ok(api.post("/meta/reports", BY_REGION), 201)
    return {"people": people, "quotes": quotes, "accounts": {"north": north, "south": south}}


def _by(result: dict[str, Any], *names: str) -> dict[tuple[Any, ...], tuple[str, str]]:
    """Detail rows, or subtotals grouped by exactly `names`: groups → (net, lines)."""
    rows = result["rows"] if len(names) == 2 else [s for s in result["subtotals"] if s["group_by"] == list(names)]
    return {tuple(r[n] for n in names): (r["net"], r["lines"]) for r in rows}


def test_lines_are_summed_by_their_quotes_region_and_owner_as_far_as_the_reader_may_read(
        api: Any, office: dict[str, Any]) -> None:
    (ann_id, ann), (bob_id, bob) = office["people"]["ann"], office["people"]["bob"]
    everything = api.ok(api.post("/reports/lines_by_region/run"))
    assert _by(everything, "quote_account_region", "quote_owner") == {
        ("north", ann_id): ("25", "2"), ("north", bob_id): ("40", "1"),
        ("south", ann_id): ("30", "1"), ("south", bob_id): ("103", "2")}
    assert _by(everything, "quote_account_region") == {("north",): ("65", "3"), ("south",): ("133", "3")}
    assert everything["totals"] == {"net": "198", "lines": "6"}

    anns = ann.ok(ann.post("/reports/lines_by_region/run"))
    assert _by(anns, "quote_account_region", "quote_owner") == {
        ("north", ann_id): ("25", "2"), ("south", ann_id): ("30", "1")}
    assert anns["totals"] == {"net": "55", "lines": "3"}
    bobs = bob.ok(bob.post("/reports/lines_by_region/run"))
    assert _by(bobs, "quote_account_region") == {("north",): ("40", "1"), ("south",): ("103", "2")}
    assert bobs["totals"] == {"net": "143", "lines": "3"}
    # The same through a filter the reader adds, and in an unsaved preview.
    narrowed = ann.ok(ann.post("/reports/lines_by_region/run", {"filter": "quantity > 1"}))
    assert narrowed["totals"] == {"net": "50", "lines": "2"}
    preview = ann.ok(ann.post("/reports/run", {"object": "quote_line", "group_by": [{"field": "quote.name"}],
                                               "measures": [{"name": "net", "function": "sum", "field": "net"}]}))
    assert {r["quote_name"]: r["net"] for r in preview["rows"]} == {"Q1": "25", "Q2": "30"}


def test_a_grouping_by_the_quotes_account_names_the_accounts_in_the_export(
        api: Any, office: dict[str, Any]) -> None:
    ann = office["people"]["ann"][1]
    api.ok(api.post("/meta/reports", {"api_name": "lines_by_account", "label": "Lines by account",
                                      "object": "quote_line",
                                      "group_by": [{"field": "quote.account", "label": "Account"},
                                                   {"field": "quote.account.region", "label": "Region"}],
                                      "measures": [{"name": "net", "label": "Net", "function": "sum",
                                                    "field": "net"}]}), 201)
    rows = list(csv.reader(io.StringIO(ann.get("/reports/lines_by_account/export.csv").text)))
    assert rows[0] == ["Account", "Region", "Net"]
    assert rows[1:3] == [["Nordic AB", "North", "25"], ["Sur SA", "South", "30"]]
    assert rows[-1] == ["Total", "", "55"]


def test_drilling_into_a_cell_lists_only_the_lines_the_reader_may_read(api: Any, office: dict[str, Any]) -> None:
    ann, bob_id = office["people"]["ann"][1], office["people"]["bob"][0]
    drilled = ann.ok(ann.post("/reports/lines_by_region/drill", {"cell": {"quote_account_region": "north"}}))
    assert drilled["object"] == "quote_line"
    mine = ann.ok(ann.get("/records/quote_line", params={"filter": drilled["filter"], "sort": "line_number"}))
    assert [(line["quote"], line["net"]) for line in mine["data"]] == [(office["quotes"]["Q1"], "20"),
                                                                        (office["quotes"]["Q1"], "5")]
    assert all("cost" not in line for line in mine["data"])
    # The admin's list behind the same cell has Bob's line too.
    theirs = api.ok(api.get("/records/quote_line", params={"filter": drilled["filter"]}))
    assert len(theirs["data"]) == 3
    # A cell of Bob's lines, asked for by Ann: the filter is the cell's, the lines none of hers.
    bobs = ann.ok(ann.post("/reports/lines_by_region/drill",
                           {"cell": {"quote_account_region": "south", "quote_owner": bob_id}}))
    assert ann.ok(ann.get("/records/quote_line", params={"filter": bobs["filter"]}))["data"] == []
    assert len(api.ok(api.get("/records/quote_line", params={"filter": bobs["filter"]}))["data"]) == 2


def test_a_line_field_the_role_hides_cannot_be_reported_on(api: Any, office: dict[str, Any]) -> None:
    ann = office["people"]["ann"][1]
    by_cost = {"object": "quote_line", "group_by": [{"field": "quote.account.region"}],
               "measures": [{"name": "cost", "function": "sum", "field": "cost"}]}
    refused = ann.post("/reports/run", by_cost)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [{"field": "/measures/0/field", "message": 'unknown field "cost"',
                                         "code": "unknown_field"}]
    for doc in ({"object": "quote_line", "group_by": [{"field": "cost"}]},
                {"object": "quote_line", "filter": "cost > 0"},
                {"object": "quote_line", "measures": [{"name": "m", "formula": "SUM(net) - SUM(cost)"}]}):
        answer = ann.post("/reports/run", doc)
        assert answer.status_code == 422 and 'unknown field \\"cost\\"' in answer.text, (doc, answer.text)
    narrowed = ann.post("/reports/lines_by_region/run", {"filter": "cost > 0"})
    assert narrowed.status_code == 422 and 'unknown field \\"cost\\"' in narrowed.text
    assert api.ok(api.post("/reports/run", by_cost))["totals"] == {"cost": "6"}


def _cached(db_url: str, result: dict[str, Any]) -> bool:
    """Whether a second run came from the cache, where that is certain: on PostgreSQL the
    key holds the server's open write transactions, other tests' on a shared server too."""
    return result["meta"]["cached"] is True or not db_url.startswith("sqlite")


def test_a_quote_given_to_the_rep_brings_its_lines_into_their_report(api: Any, office: dict[str, Any],
                                                                      db_url: str) -> None:
    """The result is cached per data version: a change of the quote (not of its lines)
    changes what the rep's report reads."""
    ann_id, ann = office["people"]["ann"]
    first = ann.ok(ann.post("/reports/lines_by_region/run"))
    assert first["totals"]["net"] == "55"
    assert _cached(db_url, ann.ok(ann.post("/reports/lines_by_region/run")))
    api.ok(api.patch(f"/records/quote/{office['quotes']['Q3']}", {"owner": ann_id}))
    after = ann.ok(ann.post("/reports/lines_by_region/run"))
    assert after["meta"]["cached"] is False and after["totals"] == {"net": "95", "lines": "4"}


def test_a_sharing_rule_on_quotes_shares_their_lines_in_reports(api: Any, office: dict[str, Any],
                                                                db_url: str) -> None:
    """Bob's southern quote is shared with reps by a rule on quotes (a formula over the
    quote, compiled over the quotes a line belongs to); its lines count for Ann, and the
    result is cached like any other (the rule does not depend on the clock)."""
    quote = api.ok(api.get("/meta/objects/quote"))
    api.ok(api.patch("/meta/objects/quote", {"sharing_rules": [
        {"name": "south_for_reps", "condition": 'account.region = "south"', "access": "read", "roles": ["rep"]}]},
        headers={"If-Match": f'"{quote["version"]}"'}))
    ann_id, ann = office["people"]["ann"]
    bob_id = office["people"]["bob"][0]
    result = ann.ok(ann.post("/reports/lines_by_region/run"))
    assert _by(result, "quote_account_region", "quote_owner") == {
        ("north", ann_id): ("25", "2"), ("south", ann_id): ("30", "1"), ("south", bob_id): ("103", "2")}
    assert _cached(db_url, ann.ok(ann.post("/reports/lines_by_region/run")))
    listed = ann.ok(ann.get("/records/quote_line", params={"filter": 'quote.account.region = "south"'}))
    assert len(listed["data"]) == 3


def test_a_role_naming_only_the_quote_reads_its_lines(api: Any, office: dict[str, Any]) -> None:
    """Access to a line is access to its quote: a role that says nothing about quote lines
    lets its holders read the lines of the quotes they read, every field of them."""
    api.ok(api.post("/roles", {"api_name": "quotes_only", "label": "Quotes only", "permissions": {
        "quote": {"read": "own"}, "account": {"read": "all"}}}), 201)
    made = api.ok(api.post("/users", {"email": "cy@example.com", "name": "Cy", "password": "a-long-password",
                                      "roles": ["quotes_only"]}), 201)
    api.ok(api.patch(f"/records/quote/{office['quotes']['Q1']}", {"owner": made["id"]}))
    cy = _sign_in(api, "cy@example.com")
    quote = cy.get(f"/records/quote/{office['quotes']['Q1']}")
    assert quote.status_code == 200, quote.text
    assert [line["net"] for line in quote.json()["lines"]] == ["20", "5"]
    result = cy.ok(cy.post("/reports/lines_by_region/run"))
    assert result["totals"] == {"net": "25", "lines": "2"}
