"""Changes to objects and fields that already hold records, through the metadata API.

Every refused change is checked to have changed nothing: the physical columns, indexes and
rows, and the stored document, are compared before and after, on both backends.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tessera.runtime.platform import Platform

OPTIONS = [{"value": "new", "label": "New"}, {"value": "won", "label": "Won"},
           {"value": "lost", "label": "Lost"}]


def fields(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"label": d["api_name"].title(), **d} for d in docs]


def make(api: Any, api_name: str, *docs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return api.ok(api.post("/meta/objects", {"api_name": api_name, "label": api_name.title(),
                                             "fields": fields(*docs), **extra}), 201)


def add(api: Any, obj: str, rows: list[dict[str, Any]]) -> list[int]:
    return [api.ok(api.post(f"/records/{obj}", row), 201)["id"] for row in rows]


def records(api: Any, obj: str) -> list[dict[str, Any]]:
    return api.ok(api.get(f"/records/{obj}?sort=id&limit=500"))["data"]


def column(api: Any, obj: str, name: str) -> list[Any]:
    return [r.get(name) for r in records(api, obj)]


def physical(runtime: Platform, table: str) -> dict[str, Any]:
    """Everything a refused change must leave alone: columns, indexes, keys and rows."""
    inspector = sa.inspect(runtime.engine)
    if not inspector.has_table(table):
        return {"exists": False}
    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns(table)}
    indexes = sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                     for i in inspector.get_indexes(table))
    uniques = sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table))
    fks = sorted((tuple(f["constrained_columns"]), f["referred_table"], str(f["options"].get("ondelete")))
                 for f in inspector.get_foreign_keys(table))
    with runtime.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY id'))]
    return {"exists": True, "columns": columns, "indexes": indexes, "uniques": uniques,
            "fks": fks, "rows": rows}


def index_on(runtime: Platform, table: str, col: str) -> list[bool]:
    """The uniqueness of each index whose first column is `col`."""
    return [bool(i["unique"]) for i in sa.inspect(runtime.engine).get_indexes(table)
            if i["column_names"][0] == col]


def refused(api: Any, runtime: Platform, obj: str, method: str, path: str, body: Any = None,
            status: int = 409) -> dict[str, Any]:
    """Make a change that must be refused, and check that nothing changed."""
    before_doc = api.ok(api.get(f"/meta/objects/{obj}"))
    before = physical(runtime, obj)
    response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert api.ok(api.get(f"/meta/objects/{obj}")) == before_doc
    assert physical(runtime, obj) == before
    return response.json()


# -- adding fields ------------------------------------------------------------------------

def test_add_field_with_default_backfills_existing_records(api: Any) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    add(api, "task", [{"title": "a"}, {"title": "b"}])
    api.ok(api.post("/meta/objects/task/fields", {"api_name": "points", "label": "Points",
                                                 "type": "decimal", "default": "1.5"}), 201)
    api.ok(api.post("/meta/objects/task/fields", {"api_name": "status", "label": "Status", "type": "select",
                                                 "options": OPTIONS, "default": "new", "required": True}), 201)
    assert column(api, "task", "points") == ["1.50", "1.50"]
    assert column(api, "task", "status") == ["new", "new"]
    created = api.ok(api.post("/records/task", {"title": "c"}), 201)
    assert created["points"] == "1.50" and created["status"] == "new"


def test_add_required_field_without_default_to_non_empty_table_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    add(api, "task", [{"title": "a"}])
    problem = refused(api, runtime, "task", "POST", "/meta/objects/task/fields",
                      {"api_name": "owner_name", "label": "Owner", "type": "text", "required": True})
    assert problem["errors"][0]["field"] == "/fields/owner_name/default"


def test_add_required_field_without_default_to_empty_table_is_allowed(api: Any) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    api.ok(api.post("/meta/objects/task/fields", {"api_name": "code", "label": "Code", "type": "text",
                                                 "required": True}), 201)
    assert api.post("/records/task", {"title": "x"}).status_code == 422


def test_add_field_with_an_invalid_default_is_refused_with_its_path(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    add(api, "task", [{"title": "a"}])
    problem = refused(api, runtime, "task", "POST", "/meta/objects/task/fields",
                      {"api_name": "points", "label": "Points", "type": "integer", "default": "lots"}, 422)
    assert [e["field"] for e in problem["errors"]] == ["/default"]


def test_add_unique_field_with_default_to_several_records_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    add(api, "task", [{"title": "a"}, {"title": "b"}])
    refused(api, runtime, "task", "POST", "/meta/objects/task/fields",
            {"api_name": "code", "label": "Code", "type": "text", "unique": True, "default": "X"})


def test_add_field_named_like_a_trashed_field_is_refused(api: Any) -> None:
    make(api, "task", {"api_name": "title", "type": "text"}, {"api_name": "old", "type": "text"})
    assert api.delete("/meta/objects/task/fields/old").status_code == 204
    response = api.post("/meta/objects/task/fields", {"api_name": "old", "label": "Old", "type": "integer"})
    assert response.status_code == 409


def test_autonumber_added_to_a_table_with_rows_backfills_unique_numbers(api: Any, runtime: Platform) -> None:
    make(api, "ticket", {"api_name": "title", "type": "text"})
    add(api, "ticket", [{"title": f"t{i}"} for i in range(5)])
    api.ok(api.post("/meta/objects/ticket/fields", {"api_name": "number", "label": "No", "type": "autonumber",
                                                   "prefix": "TCK-", "digits": 6}), 201)
    assert column(api, "ticket", "number") == [f"TCK-00000{i}" for i in range(1, 6)]
    created = api.ok(api.post("/records/ticket", {"title": "next"}), 201)
    assert created["number"] == "TCK-000006"
    bulk = api.ok(api.post("/records/ticket", [{"title": f"b{i}"} for i in range(30)]), 201)["data"]
    numbers = column(api, "ticket", "number")
    assert len(set(numbers)) == len(numbers) == 36
    assert bulk[-1]["number"] == "TCK-000036"
    assert index_on(runtime, "ticket", "number") == [True]


# -- renames ------------------------------------------------------------------------------

def test_rename_field_keeps_data_and_rewrites_name_field_and_rules(api: Any) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "amount", "type": "decimal"},
         name_field="title",
         validation_rules=[{"name": "positive", "error_if": "amount < 0", "message": "no", "field": "amount"}])
    ids = add(api, "deal", [{"title": "Big", "amount": "10"}, {"title": "Small", "amount": "1"}])
    api.ok(api.patch("/meta/objects/deal/fields/title", {"api_name": "headline"}))
    api.ok(api.patch("/meta/objects/deal/fields/amount", {"api_name": "value"}))
    doc = api.ok(api.get("/meta/objects/deal"))
    assert doc["name_field"] == "headline"
    assert doc["validation_rules"][0]["field"] == "value"
    assert column(api, "deal", "headline") == ["Big", "Small"]
    assert column(api, "deal", "value") == ["10.00", "1.00"]
    assert "title" not in api.ok(api.get(f"/records/deal/{ids[0]}"))
    history = api.ok(api.get("/meta/objects/deal/fields/headline/history"))
    assert any("renamed to headline" in h["summary"] for h in history)


def test_rename_field_to_a_taken_name_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "code", "type": "text"})
    add(api, "deal", [{"title": "a", "code": "b"}])
    problem = refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/title", {"api_name": "code"}, 422)
    assert problem["errors"][0]["field"] == "/api_name"
    refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/title", {"api_name": "id"}, 422)


def test_rename_object_keeps_records_and_rewrites_lookup_targets(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account", "related_name": "deals"})
    [acct] = add(api, "account", [{"name": "Acme"}])
    [deal] = add(api, "deal", [{"title": "Big", "account": acct}])
    renamed = api.ok(api.patch("/meta/objects/account", {"api_name": "company", "label": "Company"}))
    assert renamed["api_name"] == "company"
    assert api.get("/meta/objects/account").status_code == 404
    assert column(api, "company", "name") == ["Acme"]
    deal_doc = api.ok(api.get("/meta/objects/deal"))
    assert deal_doc["fields"][1]["target"] == "company"
    assert physical(runtime, "deal")["fks"] == [(("account",), "company", "SET NULL")]
    assert api.ok(api.get(f"/records/deal/{deal}"))["account"] == acct
    # The lookup still checks its target under the new name.
    assert api.post("/records/deal", {"title": "x", "account": 999}).status_code == 422
    history = api.ok(api.get("/meta/objects/deal/history"))
    assert "object account renamed to company" in history[0]["summary"]


def test_rename_object_to_a_taken_name_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "company", {"api_name": "name", "type": "text"})
    refused(api, runtime, "account", "PATCH", "/meta/objects/account", {"api_name": "company"})


# -- type changes ---------------------------------------------------------------------------

SAFE_CHANGES = [
    ({"type": "integer"}, [5, None, -3], {"type": "text"}, ["5", None, "-3"]),
    ({"type": "text"}, ["12", " 7", None], {"type": "integer"}, [12, 7, None]),
    ({"type": "date"}, ["2024-02-29", None], {"type": "datetime"}, ["2024-02-29T00:00:00Z", None]),
    ({"type": "datetime"}, ["2024-02-29T23:30:00Z"], {"type": "date"}, ["2024-02-29"]),
    ({"type": "select", "options": OPTIONS}, ["won", None], {"type": "text"}, ["won", None]),
    ({"type": "text"}, ["won", "Lost", None], {"type": "select", "options": OPTIONS}, ["won", "lost", None]),
    ({"type": "decimal", "scale": 2}, ["1.25", "2.5"], {"scale": 4}, ["1.2500", "2.5000"]),
    ({"type": "decimal", "scale": 2}, ["1.25", "2.5"], {"scale": 1}, ["1.3", "2.5"]),
    ({"type": "decimal", "scale": 2}, ["1.25"], {"type": "currency"}, ["1.25"]),
    ({"type": "integer"}, [3], {"type": "decimal"}, ["3.00"]),
    ({"type": "text"}, ["a@example.com"], {"type": "email"}, ["a@example.com"]),
    ({"type": "select", "options": OPTIONS}, ["won", None], {"type": "multi_select"}, [["won"], None]),
    ({"type": "integer"}, [1, 0], {"type": "boolean"}, [True, False]),
    ({"type": "text"}, ["PT1H", "90"], {"type": "duration"}, [3600, 90]),
]


@pytest.mark.parametrize(("start", "values", "change", "expected"), SAFE_CHANGES,
                         ids=[f"{s.get('type')}->{c.get('type', c)}" for s, _, c, _ in SAFE_CHANGES])
def test_safe_type_change_converts_existing_values(api: Any, start: dict[str, Any], values: list[Any],
                                                   change: dict[str, Any], expected: list[Any]) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "value", **start})
    add(api, "thing", [{"name": str(i), "value": v} for i, v in enumerate(values)])
    api.ok(api.patch("/meta/objects/thing/fields/value", change))
    assert column(api, "thing", "value") == expected
    field = api.ok(api.get("/meta/objects/thing/fields/value"))
    assert field["type"] == change.get("type", start["type"])
    history = api.ok(api.get("/meta/objects/thing/history"))
    assert history[0]["action"] == "update"


UNSAFE_CHANGES = [
    ({"type": "text"}, ["12", "twelve", None, "x"], {"type": "integer"}, [2, 4], "not_convertible"),
    ({"type": "text"}, ["won", "maybe"], {"type": "select", "options": OPTIONS}, [2], "not_convertible"),
    ({"type": "decimal"}, ["1.5", "2"], {"type": "integer"}, [1], "not_convertible"),
    ({"type": "decimal", "precision": 10, "scale": 2}, ["12345.67", "1.00"], {"precision": 6}, [1],
     "not_convertible"),
    ({"type": "integer"}, [1, 50], {"type": "rating"}, [2], "not_convertible"),
    ({"type": "date"}, ["2024-01-01"], {"type": "integer"}, [1], "not_convertible"),
    ({"type": "text"}, ["short", "much too long"], {"max_length": 5}, [2], "violates_constraint"),
    ({"type": "text"}, ["AB-1", "nope"], {"pattern": "[A-Z]+-[0-9]+"}, [2], "violates_constraint"),
    ({"type": "integer"}, [5, -1, 20], {"min": 0, "max": 10}, [2, 3], "violates_constraint"),
    ({"type": "date"}, ["2024-01-01", "2025-01-01"], {"max": "2024-12-31"}, [2], "violates_constraint"),
    ({"type": "rating", "max": 10}, [3, 8], {"max": 5}, [2], "violates_constraint"),
]


@pytest.mark.parametrize(("start", "values", "change", "bad_rows", "code"), UNSAFE_CHANGES,
                         ids=[f"{s.get('type')}->{c}" for s, _, c, _, _ in UNSAFE_CHANGES])
def test_unsafe_type_or_rule_change_is_refused_with_ids_and_changes_nothing(
        api: Any, runtime: Platform, start: dict[str, Any], values: list[Any], change: dict[str, Any],
        bad_rows: list[int], code: str) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "value", **start})
    ids = add(api, "thing", [{"name": str(i), "value": v} for i, v in enumerate(values)])
    problem = refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/value", change)
    [error] = problem["errors"]
    assert error["code"] == code
    assert error["record_ids"] == [ids[row - 1] for row in bad_rows]


def test_type_change_between_unrelated_kinds_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "thing", {"api_name": "name", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account"})
    add(api, "thing", [{"name": "x"}])
    refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/account", {"type": "integer"}, 422)
    refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/name", {"type": "autonumber"}, 422)


def test_type_change_of_a_unique_field_is_refused_when_converted_values_repeat(
        api: Any, runtime: Platform) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "code", "type": "text", "unique": True})
    ids = add(api, "thing", [{"name": "a", "code": "1"}, {"name": "b", "code": "2"}, {"name": "c", "code": "01"}])
    problem = refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/code", {"type": "integer"})
    assert problem["errors"][0]["code"] == "not_unique"
    assert problem["errors"][0]["record_ids"] == [ids[0], ids[2]]


def test_rename_and_type_change_together_keep_data(api: Any) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "qty", "type": "text"})
    add(api, "thing", [{"name": "a", "qty": "4"}])
    api.ok(api.patch("/meta/objects/thing/fields/qty", {"api_name": "quantity", "type": "integer"}))
    assert column(api, "thing", "quantity") == [4]


def test_type_change_of_an_indexed_field_keeps_its_index(api: Any, runtime: Platform) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "code", "type": "text", "unique": True})
    add(api, "thing", [{"name": "a", "code": "1"}, {"name": "b", "code": "2"}])
    api.ok(api.patch("/meta/objects/thing/fields/code", {"type": "integer"}))
    assert index_on(runtime, "thing", "code") == [True]
    assert api.post("/records/thing", {"name": "c", "code": 1}).status_code == 409


# -- options --------------------------------------------------------------------------------

def test_add_and_remove_unused_select_options(api: Any) -> None:
    make(api, "deal", {"api_name": "name", "type": "text"}, {"api_name": "stage", "type": "select",
                                                              "options": OPTIONS})
    add(api, "deal", [{"name": "a", "stage": "new"}])
    api.ok(api.patch("/meta/objects/deal/fields/stage", {"options": [*OPTIONS, {"value": "hold"}]}))
    assert api.ok(api.post("/records/deal", {"name": "b", "stage": "hold"}), 201)["stage"] == "hold"
    api.ok(api.patch("/meta/objects/deal/fields/stage", {"options": [OPTIONS[0], {"value": "hold"}]}))
    assert api.post("/records/deal", {"name": "c", "stage": "won"}).status_code == 422


def test_removing_a_used_select_option_is_refused_with_ids(api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "name", "type": "text"}, {"api_name": "stage", "type": "select",
                                                              "options": OPTIONS})
    ids = add(api, "deal", [{"name": "a", "stage": "won"}, {"name": "b", "stage": "new"},
                            {"name": "c", "stage": "won"}])
    problem = refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/stage",
                      {"options": [OPTIONS[0], OPTIONS[2]]})
    assert problem["errors"][0]["code"] == "option_in_use"
    assert problem["errors"][0]["record_ids"] == [ids[0], ids[2]]


def test_removing_a_used_multi_select_option_is_refused_with_ids(api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "name", "type": "text"}, {"api_name": "tags", "type": "multi_select",
                                                              "options": OPTIONS})
    ids = add(api, "deal", [{"name": "a", "tags": ["new", "won"]}, {"name": "b", "tags": ["new"]},
                            {"name": "c"}])
    problem = refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/tags",
                      {"options": [OPTIONS[0], OPTIONS[2]]})
    assert problem["errors"][0]["record_ids"] == [ids[0]]
    api.ok(api.patch("/meta/objects/deal/fields/tags", {"options": OPTIONS[:2]}))
    assert column(api, "deal", "tags") == [["new", "won"], ["new"], None]


def test_removing_an_option_used_only_by_deleted_records_is_allowed(api: Any) -> None:
    make(api, "deal", {"api_name": "name", "type": "text"}, {"api_name": "stage", "type": "select",
                                                              "options": OPTIONS})
    [gone] = add(api, "deal", [{"name": "a", "stage": "lost"}])
    api.ok(api.delete(f"/records/deal/{gone}"))
    response = api.patch("/meta/objects/deal/fields/stage", {"options": OPTIONS[:2]})
    # Either refusing (the record may be restored) or allowing is defensible; it must not 500.
    assert response.status_code in (200, 409), response.text


# -- required, unique, indexed -----------------------------------------------------------

def test_make_required_is_refused_while_blanks_exist(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"}, {"api_name": "due", "type": "date"})
    ids = add(api, "task", [{"title": "a", "due": "2024-01-01"}, {"title": "b"}, {"title": "c"}])
    problem = refused(api, runtime, "task", "PATCH", "/meta/objects/task/fields/due", {"required": True})
    assert problem["errors"][0]["code"] == "blank_values"
    assert problem["errors"][0]["record_ids"] == ids[1:]
    for rid in ids[1:]:
        api.ok(api.patch(f"/records/task/{rid}", {"due": "2024-02-02"}, headers={"If-Match": '"1"'}))
    api.ok(api.patch("/meta/objects/task/fields/due", {"required": True}))
    assert api.post("/records/task", {"title": "d"}).status_code == 422


def test_make_unique_is_refused_while_duplicates_exist(api: Any, runtime: Platform) -> None:
    make(api, "person", {"api_name": "email", "type": "email"})
    ids = add(api, "person", [{"email": "a@x.io"}, {"email": "b@x.io"}, {"email": "a@x.io"}, {}])
    problem = refused(api, runtime, "person", "PATCH", "/meta/objects/person/fields/email", {"unique": True})
    assert problem["errors"][0]["code"] == "not_unique"
    assert problem["errors"][0]["record_ids"] == [ids[0], ids[2]]
    api.ok(api.patch(f"/records/person/{ids[2]}", {"email": "c@x.io"}, headers={"If-Match": '"1"'}))
    api.ok(api.patch("/meta/objects/person/fields/email", {"unique": True}))
    assert index_on(runtime, "person", "email") == [True]
    assert api.post("/records/person", {"email": "a@x.io"}).status_code == 409


def test_indexed_and_unique_create_and_drop_real_indexes(api: Any, runtime: Platform) -> None:
    make(api, "thing", {"api_name": "name", "type": "text", "indexed": True},
         {"api_name": "code", "type": "text", "unique": True}, {"api_name": "plain", "type": "integer"})
    assert index_on(runtime, "thing", "name") == [False]
    assert index_on(runtime, "thing", "code") == [True]
    assert index_on(runtime, "thing", "plain") == []
    api.ok(api.patch("/meta/objects/thing/fields/plain", {"indexed": True}))
    assert index_on(runtime, "thing", "plain") == [False]
    api.ok(api.patch("/meta/objects/thing/fields/code", {"unique": False}))
    assert index_on(runtime, "thing", "code") == []
    api.ok(api.patch("/meta/objects/thing/fields/name", {"indexed": False, "unique": True}))
    assert index_on(runtime, "thing", "name") == [True]
    # Renaming keeps the index on the renamed column.
    api.ok(api.patch("/meta/objects/thing/fields/name", {"api_name": "title"}))
    assert index_on(runtime, "thing", "title") == [True]


def test_unique_on_a_type_that_cannot_be_indexed_is_refused(api: Any) -> None:
    response = api.post("/meta/objects", {"api_name": "thing", "label": "Thing", "fields": fields(
        {"api_name": "data", "type": "json", "unique": True})})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "/fields/0/unique"


def test_lookup_on_delete_change_alters_the_foreign_key_and_keeps_values(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account"})
    [acct] = add(api, "account", [{"name": "Acme"}])
    add(api, "deal", [{"title": "a", "account": acct}, {"title": "b", "account": acct}])
    api.ok(api.patch("/meta/objects/deal/fields/account", {"on_delete": "restrict"}))
    assert physical(runtime, "deal")["fks"] == [(("account",), "account", "RESTRICT")]
    assert column(api, "deal", "account") == [acct, acct]
    assert index_on(runtime, "deal", "account") == [False]
    assert api.delete(f"/records/account/{acct}").status_code == 409
    api.ok(api.patch("/meta/objects/deal/fields/account", {"on_delete": "cascade"}))
    assert physical(runtime, "deal")["fks"] == [(("account",), "account", "CASCADE")]
    api.ok(api.delete(f"/records/account/{acct}"))
    assert records(api, "deal") == []


def test_lookup_target_cannot_change(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "person", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account"})
    refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/account", {"target": "person"}, 422)


# -- trash, restore, purge ----------------------------------------------------------------

def test_delete_field_goes_to_trash_restore_brings_data_back_purge_drops_column(
        api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"}, {"api_name": "notes", "type": "long_text"})
    add(api, "task", [{"title": "a", "notes": "keep me"}])
    assert api.delete("/meta/objects/task/fields/notes").status_code == 204
    assert "notes" not in records(api, "task")[0]
    assert [f["api_name"] for f in api.ok(api.get("/meta/trash"))["fields"]] == ["notes"]
    assert api.post("/records/task", {"title": "b", "notes": "x"}).status_code == 422
    api.ok(api.post("/meta/objects/task/fields/notes/restore"))
    assert column(api, "task", "notes") == ["keep me"]
    assert api.ok(api.get("/meta/trash"))["fields"] == []
    assert api.delete("/meta/objects/task/fields/notes").status_code == 204
    assert api.post("/meta/objects/task/fields/notes/purge").status_code == 204
    assert "notes" not in physical(runtime, "task")["columns"]
    assert api.post("/meta/objects/task/fields/notes/restore").status_code == 404
    # The name is free again, for a field of another type.
    api.ok(api.post("/meta/objects/task/fields", {"api_name": "notes", "label": "N", "type": "integer"}), 201)
    assert column(api, "task", "notes") == [None]


def test_purge_of_a_lookup_field_drops_its_column_and_key(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account", "unique": True})
    [acct] = add(api, "account", [{"name": "Acme"}])
    add(api, "deal", [{"title": "a", "account": acct}])
    assert api.delete("/meta/objects/deal/fields/account").status_code == 204
    assert api.post("/meta/objects/deal/fields/account/purge").status_code == 204
    state = physical(runtime, "deal")
    assert "account" not in state["columns"] and state["fks"] == []
    api.ok(api.delete(f"/records/account/{acct}"))
    assert api.post("/meta/objects/account/purge").status_code == 404  # not in the trash


def test_delete_object_goes_to_trash_restore_and_purge_drops_table(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    add(api, "task", [{"title": "a"}])
    assert api.delete("/meta/objects/task").status_code == 204
    assert api.get("/meta/objects/task").status_code == 404
    assert api.get("/records/task").status_code == 404
    assert [o["api_name"] for o in api.ok(api.get("/meta/trash"))["objects"]] == ["task"]
    assert api.post("/meta/objects", {"api_name": "task", "label": "T"}).status_code == 409
    api.ok(api.post("/meta/objects/task/restore"))
    assert column(api, "task", "title") == ["a"]
    assert api.delete("/meta/objects/task").status_code == 204
    assert api.post("/meta/objects/task/purge").status_code == 204
    assert physical(runtime, "task") == {"exists": False}
    assert api.ok(api.get("/meta/trash"))["objects"] == []
    # The name can be used again.
    make(api, "task", {"api_name": "title", "type": "integer"})


def test_purge_of_an_active_object_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    assert api.post("/meta/objects/task/purge").status_code == 404
    assert physical(runtime, "task")["exists"]


def test_purge_of_a_trashed_object_with_lookups_pointing_at_it_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account"})
    assert api.delete("/meta/objects/account?force=true").status_code == 204
    response = api.post("/meta/objects/account/purge")
    assert response.status_code == 409
    assert physical(runtime, "account")["exists"]


def test_delete_field_used_elsewhere_is_refused_listing_dependents_unless_forced(
        api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "amount", "type": "decimal"},
         name_field="title",
         validation_rules=[{"name": "positive", "error_if": "amount < 0", "message": "no", "field": "amount"}])
    problem = refused(api, runtime, "deal", "DELETE", "/meta/objects/deal/fields/amount")
    assert [e["code"] for e in problem["errors"]] == ["in_use", "in_use"]
    assert {e["dependent"]["via"] for e in problem["errors"]} == {"validation_rule_field", "formula"}
    refused(api, runtime, "deal", "DELETE", "/meta/objects/deal/fields/title")
    used = api.ok(api.get("/meta/objects/deal/fields/amount/where-used"))
    assert sorted((d["kind"], d["api_name"], d["via"]) for d in used) == [
        ("objects", "deal", "formula"), ("objects", "deal", "validation_rule_field")]
    assert api.delete("/meta/objects/deal/fields/amount?force=true").status_code == 204
    assert [f["api_name"] for f in api.ok(api.get("/meta/trash"))["fields"]] == ["amount"]
    # The rule whose formula read the field is switched off, not left broken.
    assert api.ok(api.get("/meta/objects/deal"))["validation_rules"][0]["active"] is False


def test_delete_object_used_by_a_lookup_is_refused_listing_dependents_unless_forced(
        api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"},
         {"api_name": "account", "type": "lookup", "target": "account"})
    problem = refused(api, runtime, "account", "DELETE", "/meta/objects/account")
    assert [(e["dependent"]["api_name"], e["dependent"]["via"]) for e in problem["errors"]] == [
        ("deal", "lookup_target")]
    used = api.ok(api.get("/meta/objects/account/where-used"))
    assert [(d["api_name"], d["via"]) for d in used] == [("deal", "lookup_target")]
    assert api.delete("/meta/objects/account?force=true").status_code == 204
    assert api.get("/meta/objects/account").status_code == 404


def test_delete_field_through_an_object_patch_follows_the_same_rules(api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "amount", "type": "decimal"},
         name_field="title")
    doc = api.ok(api.get("/meta/objects/deal"))
    refused(api, runtime, "deal", "PATCH", "/meta/objects/deal", {"fields": doc["fields"][1:]})
    api.ok(api.patch("/meta/objects/deal", {"fields": doc["fields"][:1]}))
    assert [f["api_name"] for f in api.ok(api.get("/meta/trash"))["fields"]] == ["amount"]


def test_forced_delete_of_the_name_field_leaves_an_editable_object(api: Any) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "amount", "type": "decimal"},
         name_field="title",
         validation_rules=[{"name": "positive", "error_if": "amount < 0", "message": "no", "field": "amount"}])
    assert api.delete("/meta/objects/deal/fields/title?force=true").status_code == 204
    assert api.delete("/meta/objects/deal/fields/amount?force=true").status_code == 204
    doc = api.ok(api.patch("/meta/objects/deal", {"label": "Deal!"}))
    assert "name_field" not in doc and "field" not in doc["validation_rules"][0]
    api.ok(api.post("/meta/objects/deal/fields/title/restore"))
    api.ok(api.patch("/meta/objects/deal", {"name_field": "title"}))


def test_object_patch_renaming_a_field_rewrites_name_field(api: Any) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, name_field="title")
    [rid] = add(api, "deal", [{"title": "Big"}])
    doc = api.ok(api.get("/meta/objects/deal"))
    renamed = {**doc["fields"][0], "api_name": "headline"}
    new_field = {"api_name": "account", "label": "Account", "type": "lookup", "target": "deal"}
    after = api.ok(api.patch("/meta/objects/deal", {"fields": [renamed, new_field]}))
    assert after["name_field"] == "headline"
    assert api.ok(api.get(f"/records/deal/{rid}"))["headline"] == "Big"


def test_rename_field_to_the_name_of_a_trashed_field_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "deal", {"api_name": "title", "type": "text"}, {"api_name": "old", "type": "text"})
    add(api, "deal", [{"title": "a", "old": "b"}])
    assert api.delete("/meta/objects/deal/fields/old").status_code == 204
    refused(api, runtime, "deal", "PATCH", "/meta/objects/deal/fields/title", {"api_name": "old"})


# -- history ------------------------------------------------------------------------------

def test_object_history_records_who_when_before_and_after(api: Any, runtime: Platform) -> None:
    from conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    admin = runtime.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    make(api, "task", {"api_name": "title", "type": "text"})
    api.ok(api.patch("/meta/objects/task", {"label": "Job"}))
    api.ok(api.post("/meta/objects/task/fields", {"api_name": "due", "label": "Due", "type": "date"}), 201)
    history = api.ok(api.get("/meta/objects/task/history"))
    assert [h["version"] for h in history] == [3, 2, 1]
    assert [h["action"] for h in history] == ["update", "update", "create"]
    assert all(h["actor"] == admin and h["at"].endswith("Z") for h in history)
    assert history[2]["before"] is None and history[2]["after"]["label"] == "Task"
    assert history[1]["before"]["label"] == "Task" and history[1]["after"]["label"] == "Job"
    assert "field due added" in history[0]["summary"]
    assert api.ok(api.get("/meta/objects/task"))["version"] == 3
    field_history = api.ok(api.get("/meta/objects/task/fields/due/history"))
    assert [h["version"] for h in field_history] == [3]


def test_object_update_with_a_stale_if_match_is_refused(api: Any) -> None:
    make(api, "task", {"api_name": "title", "type": "text"})
    api.ok(api.patch("/meta/objects/task", {"label": "Job"}))
    response = api.patch("/meta/objects/task", {"label": "Chore"}, headers={"If-Match": '"1"'})
    assert response.status_code == 412
    assert api.ok(api.get("/meta/objects/task"))["label"] == "Job"


# -- invalid documents ------------------------------------------------------------------------

INVALID = [
    ({"fields": [{"api_name": "x", "label": "X", "type": "colour"}]}, ["/fields/0/type"]),
    ({"api_name": "Bad Name"}, ["/api_name"]),
    ({"api_name": "tessera_users"}, ["/api_name"]),
    ({"fields": [{"api_name": "id", "label": "Id", "type": "text"}]}, ["/fields/0/api_name"]),
    ({"fields": [{"api_name": "created_at", "label": "C", "type": "date"}]}, ["/fields/0/api_name"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "text"},
                 {"api_name": "a", "label": "B", "type": "integer"}]}, ["/fields/1/api_name"]),
    ({"fields": [{"api_name": "acct", "label": "A", "type": "lookup", "target": "nothing"}]},
     ["/fields/acct/target"]),
    ({"fields": [{"api_name": "acct", "label": "A", "type": "lookup"}]}, ["/fields/0"]),
    ({"colour": "red"}, ["/"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "text", "colour": "red"}]}, ["/fields/0"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "text", "options": []}]}, ["/fields/0"]),
    ({"fields": [{"api_name": "a", "type": "text"}]}, ["/fields/0"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "text"}], "name_field": "b"}, ["/name_field"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "select",
                  "options": [{"value": "x"}, {"value": "x"}]}]}, ["/fields/0/options"]),
    ({"fields": [{"api_name": "a", "label": "A", "type": "integer", "default": "x"},
                 {"api_name": "b", "label": "B", "type": "date", "min": "never"},
                 {"api_name": "c", "label": "C", "type": "id"}]},
     ["/fields/0/default", "/fields/1/min", "/fields/2/type"]),
    ({"api_name": 5}, ["/api_name"]),
    ({"validation_rules": [{"field": "a"}], "fields": [{"api_name": "b", "type": "text"}]},
     ["/fields/0", "/validation_rules/0"]),
    ({"fields": [{"api_name": "f", "label": "F", "type": "attachment", "default": ["a" * 32]}]},
     ["/fields/0/default"]),
    ({"fields": [{"api_name": "f", "label": "F", "type": "user", "default": 999}]}, ["/fields/f/default"]),
    ({"fields": "none"}, ["/fields"]),
    ({"fields": [42]}, ["/fields/0"]),
    ({"label": ""}, ["/label"]),
]


@pytest.mark.parametrize(("change", "paths"), INVALID, ids=[str(p) for _, p in INVALID])
def test_invalid_object_documents_give_422_with_one_error_per_path(
        api: Any, runtime: Platform, change: dict[str, Any], paths: list[str]) -> None:
    doc = {"api_name": "thing", "label": "Thing", **change}
    response = api.post("/meta/objects", doc)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert sorted(e["field"] for e in errors) == sorted(paths)
    assert all(e["message"] for e in errors)
    assert api.ok(api.get("/meta/objects")) == []
    assert not sa.inspect(runtime.engine).has_table("thing")


def test_schema_errors_at_one_path_are_reported_together_in_words(api: Any) -> None:
    response = api.post("/meta/objects", {"api_name": "tessera_x", "label": "X",
                                          "validation_rules": [{"field": "a"}]})
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert "reserved" in errors["/api_name"]
    assert errors["/validation_rules/0"].count("is a required property") == 3


def test_add_lookup_with_a_default_naming_no_record_is_refused(api: Any, runtime: Platform) -> None:
    make(api, "account", {"api_name": "name", "type": "text"})
    make(api, "deal", {"api_name": "title", "type": "text"})
    add(api, "deal", [{"title": "a"}])
    [acct] = add(api, "account", [{"name": "Acme"}])
    problem = refused(api, runtime, "deal", "POST", "/meta/objects/deal/fields",
                      {"api_name": "account", "label": "A", "type": "lookup", "target": "account",
                       "default": acct + 1}, 422)
    assert problem["errors"][0]["code"] == "unknown_reference"
    api.ok(api.post("/meta/objects/deal/fields", {"api_name": "account", "label": "A", "type": "lookup",
                                                 "target": "account", "default": acct}), 201)
    assert column(api, "deal", "account") == [acct]


def test_invalid_field_changes_give_422_and_change_nothing(api: Any, runtime: Platform) -> None:
    make(api, "thing", {"api_name": "name", "type": "text"}, {"api_name": "qty", "type": "integer"})
    add(api, "thing", [{"name": "a", "qty": 1}])
    problem = refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/qty",
                      {"type": "integer", "colour": "red"}, 422)
    assert [e["field"] for e in problem["errors"]] == ["/"]
    refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/qty", {"min": "a lot"}, 422)
    refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/qty", {"type": "nope"}, 422)
    refused(api, runtime, "thing", "PATCH", "/meta/objects/thing/fields/qty", ["not", "an", "object"], 422)
    refused(api, runtime, "thing", "POST", "/meta/objects/thing/fields", {"api_name": "x"}, 422)
    refused(api, runtime, "thing", "POST", "/meta/objects/thing/fields", "text", 422)
    assert api.patch("/meta/objects/thing/fields/nothing", {"label": "x"}).status_code == 404
    assert api.patch("/meta/objects/nothing/fields/qty", {"label": "x"}).status_code == 404
