"""The builder's pages for line items over HTTP (no browser), on both databases: a child
object made from the home page, a Line items field added through the field form (the picker
offering only free child objects, a taken one refused beside the input), the pages naming
whose lines a child holds, the platform's fields shown but not editable, and child objects
kept out of the apps' object choices."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app


@pytest.fixture
def builder(runtime: Any) -> Any:
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield SignedIn(client, "admin@example.com", "admin-password")


def _lines_picker(page: str) -> str:
    """The options of the Line items field's picker of child objects ('' when there is none)."""
    start = page.find('id="field-lines"')
    return "" if start < 0 else page[start:page.index("</select>", start)]


def _make(builder: Any, label: str, *, child: bool = False) -> None:
    answer = builder.post("/builder/objects", data={"label": label, **({"child": "1"} if child else {})})
    assert answer.status_code == 204, answer.text


def test_a_child_object_and_the_line_items_field_that_holds_it(builder: Any, runtime: Any) -> None:
    _make(builder, "Quote line", child=True)
    line = runtime.metadata.get_object("quote_line")
    assert line["child"] is True and line["fields"] == []  # a line needs no name of its own
    _make(builder, "Quote")
    _make(builder, "Order line", child=True)
    picker = _lines_picker(builder.get("/builder/objects/quote").text)
    assert '<option value="quote_line">Quote line</option>' in picker and 'value="order_line"' in picker
    assert 'value="quote"' not in picker
    assert builder.post("/builder/objects/quote/fields", data={
        "label": "Lines", "type": "child_table", "target": "quote_line"}).status_code == 204
    assert runtime.metadata.get_field("quote", "lines")["target"] == "quote_line"
    # Quote line is taken now: neither offered again nor accepted.
    _make(builder, "Order")
    picker = _lines_picker(builder.get("/builder/objects/order").text)
    assert 'value="quote_line"' not in picker and '<option value="order_line">Order line</option>' in picker
    refused = builder.post("/builder/objects/order/fields", data={
        "label": "Lines", "type": "child_table", "target": "quote_line"})
    assert refused.status_code == 422
    assert "Quote line lines belong to Quote already" in refused.text or "holds these lines already" in refused.text

    home = builder.get("/builder").text
    assert "Lines of Quote" in home and "Lines, of no object yet" in home
    child = builder.get("/builder/objects/quote_line").text
    assert "Lines of" in child and 'href="/builder/objects/quote"' in child
    assert child.count("Kept by the platform") == 2 and "/builder/objects/quote_line/fields/quote\"" not in child
    assert "Design the form" not in child
    field = builder.get("/builder/objects/quote/fields/lines")
    assert field.status_code == 200 and "Lines of the object" in field.text
    kept = builder.get("/builder/objects/quote_line/fields/line_number").text
    assert "It cannot be changed or deleted here." in kept and 'name="label"' not in kept
    # A child object's own field form offers no Line items type.
    assert 'value="child_table"' not in builder.get("/builder/objects/order_line").text


def test_apps_offer_no_child_objects(builder: Any) -> None:
    _make(builder, "Quote line", child=True)
    _make(builder, "Quote")
    page = builder.get("/builder/navigation/new").text
    assert 'value="quote"' in page and 'value="quote_line"' not in page
