"""Line items on forms, on both databases: a form places a `child_table` field like any
field (the full width of a section) with the columns the builder chose among the child's
fields; the choice is checked against the child, followed when fields are renamed, and
handed to the grid widget; the designer offers line items and their columns; and the
fields the platform adds to a child object stay as it made them while a parent holds the
lines. Child objects are not listed in the app navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.forms import FormRenderer
from tessera.runtime.forms.service import TEMPLATES

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}
FORM = {"api_name": "quote_main", "label": "Quote", "object": "quote", "sections": [
    {"label": "Quote", "columns": [{"fields": [{"field": "name"}]}]},
    {"label": "Products", "columns": [{"fields": [
        {"field": "lines", "columns": ["product", "quantity", "net"]}]}]}]}
ADMIN = Actor(user_id=1, email="admin@example.com", is_admin=True)
#: A stand-in for the grid widget: it shows what the forms runtime hands a line field.
WIDGET = ('<div data-field="{{ field.name }}" data-columns="{{ field.props.columns|join(\',\') }}" '
          'data-labels="{{ field.props.column_fields|map(attribute=\'label\')|join(\',\') }}" '
          'data-target="{{ field.props.target }}">'
          '{{ field.errors|join(\' | \') }}</div>')


@pytest.fixture
def quotes(api: Any) -> Any:
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    return api


@pytest.fixture
def grid_stand_in(runtime: Any, tmp_path: Path) -> Any:
    """The form service draws line items with WIDGET instead of the real grid."""
    widgets = tmp_path / "stand-in" / "widgets"
    widgets.mkdir(parents=True)
    (widgets / "lines.html").write_text(WIDGET)
    runtime.forms.renderer = FormRenderer(tmp_path / "stand-in", TEMPLATES)
    return runtime


def _problems(response: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_a_form_places_line_items_with_the_columns_the_builder_chose(quotes: Any) -> None:
    saved = quotes.ok(quotes.post("/meta/forms", FORM), 201)
    placed = saved["sections"][1]["columns"][0]["fields"][0]
    assert placed == {"field": "lines", "columns": ["product", "quantity", "net"]}
    state = quotes.ok(quotes.post("/forms/quote/state", {}))
    assert state["form"] == "quote_main" and state["fields"]["lines"] == {
        "visible": True, "required": False, "read_only": False}
    schema = quotes.ok(quotes.get("/forms/quote/schema"))
    assert schema["properties"]["lines"]["anyOf"][0]["type"] == "array"
    assert schema["properties"]["lines"]["title"] == "Lines"


def test_the_grid_widget_gets_the_chosen_columns_in_order(quotes: Any, grid_stand_in: Any) -> None:
    lines = {"field": "lines", "columns": ["net", "product", "quantity"]}
    quotes.ok(quotes.post("/meta/forms", {**FORM, "sections": [{"columns": [{"fields": [{"field": "name"}, lines]}]}]}),
              201)
    html = grid_stand_in.forms.render(ADMIN, "quote")
    assert 'data-columns="net,product,quantity"' in html and 'data-labels="Net,Product,Quantity"' in html
    assert 'data-target="quote_line"' in html


def test_without_a_choice_the_grid_shows_every_field_the_builder_made(quotes: Any, grid_stand_in: Any) -> None:
    html = grid_stand_in.forms.render(ADMIN, "quote")  # the generated form: no form saved
    assert 'data-columns="product,quantity,unit_price,net"' in html  # not the link, not the line number
    quotes.ok(quotes.patch("/meta/objects/quote/fields/lines", {"columns": ["unit_price", "product"]}))
    assert 'data-columns="unit_price,product"' in grid_stand_in.forms.render(ADMIN, "quote")


def test_problems_of_single_lines_are_shown_with_the_grid_in_words(quotes: Any, grid_stand_in: Any) -> None:
    from tessera.errors import FieldProblem

    html = grid_stand_in.forms.render(ADMIN, "quote", errors=[FieldProblem("lines[1].quantity", "must be at least 0")])
    assert "Line 2, Quantity: must be at least 0" in html


def test_a_generated_form_gives_line_items_a_section_of_their_own(quotes: Any, runtime: Any) -> None:
    start = runtime.forms.design(ADMIN, "quote")
    assert [[p["field"] for c in s["columns"] for p in c["fields"]] for s in start["sections"]] == [
        ["name"], ["lines"]]
    assert quotes.ok(quotes.post("/forms/quote/state", {}))["fields"]["lines"]["visible"]


def test_the_designer_offers_line_items_and_the_columns_to_choose(quotes: Any, runtime: Any) -> None:
    quotes.ok(quotes.post("/meta/forms", {**FORM, "sections": [FORM["sections"][0]]}), 201)
    start = runtime.forms.design(ADMIN, "quote")
    assert start["palette"] == [{"api_name": "lines", "label": "Lines", "type": "child_table"}]
    choice = start["lines"]["lines"]
    assert choice["target"] == "quote_line" and choice["plural_label"] == "Quote lines"
    assert [f["label"] for f in choice["fields"]] == ["Product", "Quantity", "Unit price", "Net"]
    assert choice["default"] == ["product", "quantity", "unit_price", "net"]
    start["sections"].append({"columns": [{"fields": [{"field": "lines", "columns": ["quantity", "product"]}]}]})
    saved = runtime.forms.save_design(ADMIN, "quote", start)  # palette and lines come back as they went
    assert saved["version"] == 2 and "lines" not in saved and "palette" not in saved
    again = runtime.forms.design(ADMIN, "quote")
    assert again["palette"] == [] and again["sections"][1]["columns"][0]["fields"][0]["columns"] == [
        "quantity", "product"]


def test_columns_that_do_not_fit_are_refused_at_their_place_and_nothing_is_saved(quotes: Any) -> None:
    bad = {**FORM, "sections": [
        {"columns": [{"fields": [{"field": "name", "columns": ["quantity"]}]}]},
        {"columns": [{"fields": [{"field": "lines", "columns": ["quantty", "quote", "line_number", "net"]}]}]}]}
    answer = quotes.post("/meta/forms", bad)
    assert answer.status_code == 422, answer.text
    problems = _problems(answer)
    assert problems["/sections/0/columns/0/fields/0/columns"] == (
        "Name is no line items field: only line items have columns")
    assert problems["/sections/1/columns/0/fields/0/columns/0"] == (
        "Quote line has no field named 'quantty'; did you mean 'quantity'?")
    assert problems["/sections/1/columns/0/fields/0/columns/1"] == (
        "Quote is kept by the platform and is no column to choose")
    assert "kept by the platform" in problems["/sections/1/columns/0/fields/0/columns/2"]
    assert quotes.get("/meta/forms/quote_main").status_code == 404
    twice = quotes.post("/meta/forms", {**FORM, "sections": [{"columns": [
        {"fields": [{"field": "lines", "columns": ["net", "net"]}]}]}]})
    assert twice.status_code == 422 and "/sections/0/columns/0/fields/0/columns" in _problems(twice)


def test_line_items_take_the_full_width_of_their_section(quotes: Any) -> None:
    beside = {**FORM, "sections": [{"columns": [{"fields": [{"field": "name"}]}, {"fields": [{"field": "lines"}]}]}]}
    answer = quotes.post("/meta/forms", beside)
    assert answer.status_code == 422
    assert _problems(answer) == {"/sections/0/columns/1/fields/0/field":
                                 "Lines takes the full width of its section: place it in a section with one column"}
    above = {**FORM, "sections": [{"columns": [{"fields": [{"field": "name"}, {"field": "lines"}]}]}]}
    quotes.ok(quotes.post("/meta/forms", above), 201)


def test_renames_are_followed_and_a_column_in_use_is_not_deleted_unasked(quotes: Any, runtime: Any) -> None:
    quotes.ok(quotes.post("/meta/forms", FORM), 201)
    quotes.ok(quotes.patch("/meta/objects/quote_line/fields/quantity", {"api_name": "qty"}))
    quotes.ok(quotes.patch("/meta/objects/quote/fields/lines", {"api_name": "items"}))
    placed = quotes.ok(quotes.get("/meta/forms/quote_main"))["sections"][1]["columns"][0]["fields"][0]
    assert placed == {"field": "items", "columns": ["product", "qty", "net"]}
    used = runtime.metadata.where_used("quote_line", "product")
    assert [(u["kind"], u["api_name"], u["path"]) for u in used] == [
        ("forms", "quote_main", "sections/1/columns/0/fields/0/columns/0")]
    assert [u["api_name"] for u in runtime.metadata.where_used("quote", "items")] == ["quote_main"]
    answer = quotes.delete("/meta/objects/quote_line/fields/product")
    assert answer.status_code == 409, answer.text
    assert "quote_main" in answer.text
    assert quotes.ok(quotes.post("/forms/quote/state", {}))["fields"]["items"]["visible"]


def test_a_submission_through_the_form_writes_the_lines(quotes: Any) -> None:
    quotes.ok(quotes.post("/meta/forms", FORM), 201)
    made = quotes.post("/forms/quote/submit", {"values": {"name": "Q1", "lines": [
        {"quantity": "2", "unit_price": "5"}, {"quantity": "1", "unit_price": "3"}]}})
    assert made.status_code in (200, 201), made.text
    record = made.json()
    assert [(line["line_number"], line["net"]) for line in record["lines"]] == [(1, "10"), (2, "3")]
    bad = quotes.post("/forms/quote/submit", {"values": {"name": "Q2", "lines": "three"}})
    assert bad.status_code == 422 and "lines" in _problems(bad)


def test_the_fields_kept_by_the_platform_stay_while_a_parent_holds_the_lines(quotes: Any) -> None:
    removed = quotes.delete("/meta/objects/quote_line/fields/quote")
    assert removed.status_code == 409, removed.text
    assert _problems(removed) == {"/fields/quote": "Quote is kept by the platform while Quote's field Lines holds "
                                                   "these lines: remove that field first"}
    for field, change in (("quote", {"type": "text"}), ("quote", {"system": None}), ("quote", {"api_name": "q"}),
                          ("line_number", {"read_only": False}), ("quote", {"target": "product"})):
        answer = quotes.patch(f"/meta/objects/quote_line/fields/{field}", change)
        assert answer.status_code in (409, 422), (change, answer.text)
        assert "kept by the platform" in answer.text or "convert" in answer.text, answer.text
    assert quotes.delete("/meta/objects/quote_line/fields/line_number").status_code == 409
    unchild = quotes.patch("/meta/objects/quote_line", {"child": False})
    assert unchild.status_code == 409 and "/child" in _problems(unchild)
    relabelled = quotes.ok(quotes.patch("/meta/objects/quote_line/fields/quote", {"label": "Belongs to",
                                                                                  "help_text": "The quote"}))
    assert relabelled["label"] == "Belongs to" and relabelled["system"] == "parent"
    line = quotes.ok(quotes.get("/meta/objects/quote_line"))
    assert {f["api_name"] for f in line["fields"] if f.get("system")} == {"quote", "line_number"}
    # Once no object holds the lines, the builder may take the fields away.
    quotes.ok(quotes.delete("/meta/objects/quote/fields/lines"), 204)
    quotes.ok(quotes.delete("/meta/objects/quote_line/fields/line_number"), 204)


def test_the_line_field_reads_like_any_field_in_the_metadata_api(quotes: Any) -> None:
    found = quotes.ok(quotes.get("/meta/objects/quote/fields/lines"))
    assert found["type"] == "child_table" and found["target"] == "quote_line"


def test_child_objects_are_not_listed_in_the_app_navigation(quotes: Any, runtime: Any) -> None:
    menu = runtime.app_menu.menu(ADMIN)
    assert [o.api_name for o in menu.current.objects] == ["product", "quote"]
    quotes.ok(quotes.post("/meta/apps", {"api_name": "sales", "label": "Sales",
                                         "objects": ["quote", "quote_line", "product"]}), 201)
    menu = runtime.app_menu.menu(ADMIN)
    assert [(a.api_name, [o.api_name for o in a.objects]) for a in menu.apps] == [("sales", ["quote", "product"])]
