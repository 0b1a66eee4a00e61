"""A quote's history tells the changes of its lines in words, on SQLite and PostgreSQL:
"line 3: Quantity 2.00 → 4.00", "line 4 added: Product Bolt, Quantity 2.00", "line 2
removed: …", "line 3 moved to 2" — field labels, option labels and record names as the
other entries show them — and leaves out what a field the reader may not see would tell."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.meta.model import ObjectDef
from tessera.runtime.records.line_history import line_sentence, named_values

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True},
    {"api_name": "delivery", "label": "Delivery", "type": "select",
     "options": [{"value": "ship", "label": "By ship"}, {"value": "air", "label": "By air"}]},
    {"api_name": "cost", "label": "Cost", "type": "currency"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}


@pytest.fixture
def quote(api: Any) -> dict[str, Any]:
    for doc in (PRODUCT, QUOTE_LINE, QUOTE):
        api.ok(api.post("/meta/objects", doc), 201)
    bolt = api.ok(api.post("/records/product", {"name": "Bolt"}), 201)["id"]
    nut = api.ok(api.post("/records/product", {"name": "Nut"}), 201)["id"]
    api.ok(api.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": {
        "quote": {"read": "own", "edit": "own"}, "product": {"read": "all"},
        "quote_line": {"read": "all", "fields": {"cost": "hidden"}}}}), 201)
    rep = api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": "a-long-password",
                                     "roles": ["rep"]}), 201)
    made = api.ok(api.post("/records/quote", {"name": "Q1", "owner": rep["id"], "lines": [
        {"product": nut, "quantity": "1"}, {"quantity": "2"}, {"quantity": "2", "delivery": "ship"}]}), 201)
    return {"id": made["id"], "lines": [line["id"] for line in made["lines"]], "bolt": bolt, "nut": nut,
            "rep": rep["id"]}


def _told(runtime: Any, actor: Any, record_id: int) -> list[str]:
    """The history's entries about lines, oldest first, as the record page shows them."""
    entries = runtime.views.history(actor, "quote", record_id)
    return [f"{e['field_label']} — {e['text']}" for e in reversed(entries) if e.get("text")]


def test_each_change_of_lines_reads_as_a_sentence(api: Any, runtime: Any, quote: dict[str, Any]) -> None:
    from tessera.auth.actor import Actor

    admin = Actor.system()
    one, two, three = quote["lines"]
    path = f"/records/quote/{quote['id']}"
    assert _told(runtime, admin, quote["id"]) == []  # the creation tells the first lines
    api.ok(api.patch(path, {"lines": [{"id": one}, {"id": two}, {"id": three, "quantity": "4", "delivery": "air"}]}))
    api.ok(api.patch(path, {"lines": [{"id": one, "product": quote["bolt"]}, {"id": two}, {"id": three},
                                      {"product": quote["bolt"], "quantity": "2"}]}))
    four = api.ok(api.get(path))["lines"][3]["id"]
    api.ok(api.patch(path, {"lines": [{"id": one}, {"id": three}, {"id": four}]}))
    told = _told(runtime, admin, quote["id"])
    assert told[:2] == ["Lines — line 3: Quantity 2.00 → 4.00", "Lines — line 3: Delivery By ship → By air"] or \
        told[:2] == ["Lines — line 3: Delivery By ship → By air", "Lines — line 3: Quantity 2.00 → 4.00"]
    assert told[2:4] == ["Lines — line 1: Product Nut → Bolt", "Lines — line 4 added: Product Bolt, Quantity 2.00"]
    assert sorted(told[4:]) == ["Lines — line 2 removed: Quantity 2.00", "Lines — line 3 moved to 2",
                                "Lines — line 4 moved to 3"]


def test_a_field_the_reader_may_not_see_is_left_out(api: Any, runtime: Any, quote: dict[str, Any]) -> None:
    from tessera.auth.actor import Actor

    one, two, three = quote["lines"]
    path = f"/records/quote/{quote['id']}"
    api.ok(api.patch(path, {"lines": [{"id": one, "cost": "3"}, {"id": two}, {"id": three},
                                      {"quantity": "5", "cost": "9"}]}))
    admin = _told(runtime, Actor.system(), quote["id"])
    assert admin == ["Lines — line 1: Cost — → 3.00", "Lines — line 4 added: Quantity 5.00, Cost 9.00"]
    rep = _told(runtime, runtime.users.actor_for_user(quote["rep"]), quote["id"])
    assert rep == ["Lines — line 4 added: Quantity 5.00"]


def test_the_sentences_on_their_own() -> None:
    child = ObjectDef(QUOTE_LINE)

    def shown(fdef: Any, value: Any) -> str:
        return f"<{value}>"

    none: frozenset[str] = frozenset()
    assert line_sentence(child, {"line": 3, "field": "quantity", "value": "2.00"},
                         {"line": 3, "field": "quantity", "value": None}, shown, none) == "line 3: Quantity <2.00> → —"
    assert line_sentence(child, None, {"line": 4, "values": {"cost": "1", "quantity": "2", "gone": "x"}},
                         shown, frozenset({"cost"})) == "line 4 added: Quantity <2>, gone x"
    assert line_sentence(child, {"line": 2, "values": {}}, None, shown, none) == "line 2 removed"
    assert line_sentence(child, {"line": 2}, {"line": 3}, shown, none) == "line 2 moved to 3"
    assert line_sentence(child, {"line": 1, "field": "cost", "value": "1"}, {"line": 1, "field": "cost", "value": "2"},
                         shown, frozenset({"cost"})) is None
    assert line_sentence(child, "odd", 7, shown, none) == "lines changed"
    assert sorted(named_values({"line": 1, "field": "product", "value": 4},
                               {"line": 1, "values": {"product": 5}})) == [("product", 4), ("product", 5)]
