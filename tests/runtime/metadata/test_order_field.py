"""An object's `order_field` on SQLite and PostgreSQL: it must name one of the object's
number fields; it is in the dependency graph ("where used"), follows a rename of its
field, goes with a forced delete of it; and the record picker offers the object's records
in its order."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor

STAGE = {"api_name": "stage", "label": "Stage", "order_field": "position", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "position", "label": "Position", "type": "decimal"},
    {"api_name": "colour", "label": "Colour", "type": "select", "options": [{"value": "red"}]},
]}


@pytest.mark.parametrize(("order_field", "message"), [
    ("colour", "colour is a select field; records are ordered by a number field"),
    ("nothing", "no field named 'nothing'"),
])
def test_an_order_field_that_is_no_number_field_of_the_object_is_refused(api: Any, order_field: str,
                                                                         message: str) -> None:
    answer = api.post("/meta/objects", {**STAGE, "order_field": order_field})
    assert answer.status_code == 422
    problems = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert message in problems["/order_field"]


@pytest.mark.parametrize("kind", ["integer", "decimal", "percent", "currency"])
def test_any_number_field_may_order_an_objects_records(api: Any, kind: str) -> None:
    doc = {**STAGE, "fields": [STAGE["fields"][0], {**STAGE["fields"][1], "type": kind}]}
    assert api.ok(api.post("/meta/objects", doc), 201)["order_field"] == "position"


def test_the_order_field_is_where_used_and_follows_a_rename_of_its_field(api: Any) -> None:
    api.ok(api.post("/meta/objects", STAGE), 201)
    used = api.ok(api.get("/meta/objects/stage/fields/position/where-used"))
    assert [(u["via"], u["path"]) for u in used] == [("order_field", "order_field")]
    api.ok(api.patch("/meta/objects/stage/fields/position", {"api_name": "rank"}))
    assert api.ok(api.get("/meta/objects/stage"))["order_field"] == "rank"
    # A field in use is only deleted when forced; the order field goes with it.
    assert api.delete("/meta/objects/stage/fields/rank").status_code == 409
    assert api.delete("/meta/objects/stage/fields/rank?force=true").status_code == 204
    assert "order_field" not in api.ok(api.patch("/meta/objects/stage", {"label": "Stage!"}))


def test_changing_the_order_field_to_a_text_type_is_refused(api: Any) -> None:
    api.ok(api.post("/meta/objects", STAGE), 201)
    answer = api.patch("/meta/objects/stage/fields/position", {"type": "text"})
    assert answer.status_code == 422 and "/order_field" in answer.text


def test_the_record_picker_offers_a_small_objects_records_in_its_order(api: Any, runtime: Any) -> None:
    api.ok(api.post("/meta/objects", STAGE), 201)
    for name, position in (("Won", "4"), ("Lead", "1"), ("Unplaced", None), ("Proposal", "2.5")):
        api.ok(api.post("/records/stage", {"name": name, "position": position}), 201)
    found = runtime.views.search(Actor.system(), "stage", "")
    assert [o["name"] for o in found["options"]] == ["Lead", "Proposal", "Won", "Unplaced"]
    assert [o["name"] for o in runtime.views.search(Actor.system(), "stage", "o")["options"]] == [
        "Proposal", "Won"]
