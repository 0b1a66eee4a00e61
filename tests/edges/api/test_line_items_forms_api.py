"""Line items through the forms API (`POST /api/v1/forms/{object}/state` and `/submit`), on
both databases: the state of a form with lines being typed as record-API values, and lines
of any wrong shape answered as problems at their place — never a 500."""

from __future__ import annotations

from typing import Any

import pytest

QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency", "default": "2.00"},
    {"api_name": "net", "label": "Net", "type": "formula", "scale": 2, "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "scale": 2, "expression": "SUM(lines.net)"}]}


@pytest.fixture
def quotes(api: Any) -> Any:
    for doc in (QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    return api


def test_the_state_of_a_form_works_out_the_lines_being_typed(quotes: Any) -> None:
    state = quotes.ok(quotes.post("/forms/quote/state", {"values": {"name": "Q", "lines": [
        {"quantity": "3", "unit_price": "2.50"}, {"quantity": 2}]}}))
    rows = state["lines"]["lines"]["rows"]
    assert [row["cells"]["net"] for row in rows] == ["7.50", ""]
    assert state["lines"]["lines"]["totals"]["net"] == "7.50" and state["values"]["total"] == "7.50"
    made = quotes.ok(quotes.post("/forms/quote/submit", {"values": {"name": "Q", "lines": [
        {"quantity": "3", "unit_price": "2.50"}, {"quantity": 2}]}}), 201)
    # The field's default fills what the form left out, as the save pipeline does.
    assert [(line["quantity"], line["unit_price"], line["net"]) for line in made["lines"]] == [
        ("3.00", "2.50", "7.50"), ("2.00", "2.00", "4.00")]


@pytest.mark.parametrize("lines", [
    "lines", 7, [3], [{"id": [1]}], [{"id": {"x": 1}, "quantity": "1"}], [{"id": True}], [{"id": 99}],
    [{"quantity": {"a": 1}}], [{"quantity": ["1"]}], [{"net": "5"}], [{"nope": 1}], [None]])
def test_lines_of_any_wrong_shape_are_problems_never_a_500(quotes: Any, lines: Any) -> None:
    state = quotes.post("/forms/quote/state", {"values": {"name": "Q", "lines": lines}})
    assert state.status_code == 200, state.text
    refused = quotes.post("/forms/quote/submit", {"values": {"name": "Q", "lines": lines}})
    assert refused.status_code in (409, 422), refused.text
    assert all(p["field"].startswith("lines") for p in refused.json()["errors"]), refused.text
