"""The record API end to end, on SQLite and PostgreSQL: list (sort, projection, expand,
keyset paging, capped totals), create and bulk create, read with ETag, PATCH with If-Match,
soft delete with each on_delete rule, restore, trash and field history."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True, "unique": True},
    {"api_name": "industry", "label": "Industry", "type": "text"},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "closes", "label": "Closes", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account",
     "related_name": "deals", "on_delete": "cascade"},
]}


def _objects(api: Any, *docs: dict[str, Any]) -> None:
    for doc in docs:
        api.ok(api.post("/meta/objects", doc), 201)


def _page_all(api: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a list, following next_cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = api.ok(api.get(path, params=query))
        out += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


@pytest.fixture
def crm(api: Any) -> Any:
    _objects(api, ACCOUNT, DEAL)
    return api


# -- listing --------------------------------------------------------------------------------

def test_list_sorts_on_several_fields_with_descending_and_blanks_last(crm: Any) -> None:
    rows = [{"name": "a", "stage": "won", "amount": "10"}, {"name": "b", "stage": "new", "amount": "30"},
            {"name": "c", "stage": "won", "amount": "20"}, {"name": "d", "amount": "5"},
            {"name": "e", "stage": "new"}, {"name": "f"}]
    crm.ok(crm.post("/records/deal", rows), 201)
    listed = crm.ok(crm.get("/records/deal", params={"sort": "stage,-amount"}))["data"]
    assert [r["name"] for r in listed] == ["b", "e", "c", "a", "d", "f"]
    listed = crm.ok(crm.get("/records/deal", params={"sort": "-stage,amount"}))["data"]
    assert [r["name"] for r in listed] == ["a", "c", "b", "e", "d", "f"]
    listed = crm.ok(crm.get("/records/deal", params={"sort": "-amount,name"}))["data"]
    assert [r["name"] for r in listed] == ["b", "c", "a", "d", "e", "f"]
    # Ties are broken by id, in the direction of the last sort key.
    listed = crm.ok(crm.get("/records/deal", params={"sort": "-amount"}))["data"]
    assert [r["name"] for r in listed] == ["b", "c", "a", "d", "f", "e"]


@pytest.mark.parametrize("sort", ["stage,-amount", "-amount", "name", "-id", "-stage,closes"])
def test_paging_with_a_cursor_returns_every_row_once_in_sort_order(crm: Any, sort: str) -> None:
    stages = ["new", "won", "lost", None]
    rows = [{"name": f"d{i:02}", "stage": stages[i % 4], "amount": str(i % 5) if i % 3 else None,
             "closes": f"2025-01-{1 + i % 7:02}" if i % 2 else None} for i in range(37)]
    crm.ok(crm.post("/records/deal", rows), 201)
    whole = crm.ok(crm.get("/records/deal", params={"sort": sort, "limit": 1000}))["data"]
    paged = _page_all(crm, "/records/deal", sort=sort, limit=4)
    assert [r["id"] for r in paged] == [r["id"] for r in whole]
    assert len(paged) == 37


def test_paging_stays_correct_while_rows_are_inserted(crm: Any) -> None:
    crm.ok(crm.post("/records/deal", [{"name": f"n{i:03}", "amount": str(i)} for i in range(0, 60, 2)]), 201)
    seen: list[str] = []
    cursor = None
    inserted = 0
    while True:
        params: dict[str, Any] = {"sort": "-amount,name", "limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = crm.ok(crm.get("/records/deal", params=params))
        seen += [r["name"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Between pages, add rows before, inside and after the part already read.
        crm.ok(crm.post("/records/deal", [
            {"name": f"x{inserted}a", "amount": "1000"}, {"name": f"x{inserted}b", "amount": "-1"},
            {"name": f"x{inserted}c"}]), 201)
        inserted += 1
    assert len(seen) == len(set(seen)), "a row came twice"
    originals = [f"n{i:03}" for i in range(0, 60, 2)]
    assert [s for s in seen if s.startswith("n")] == sorted(originals, key=lambda s: -int(s[1:]))
    # Rows inserted where the reader has not been yet (blank amounts sort last) are all seen,
    # rows inserted where it has been (amount 1000 sorts first) are not.
    assert all(f"x{i}c" in seen for i in range(inserted))
    assert not any(s.endswith("a") and s.startswith("x") for s in seen)


def test_fields_projection_returns_only_the_named_fields_and_still_pages(crm: Any) -> None:
    crm.ok(crm.post("/records/deal", [{"name": f"d{i}", "amount": str(i)} for i in range(5)]), 201)
    page = crm.ok(crm.get("/records/deal", params={"fields": "name", "sort": "-amount", "limit": 2}))
    assert set(page["data"][0]) == {"id", "version", "created_at", "created_by", "updated_at",
                                    "updated_by", "owner", "name"}
    rest = crm.ok(crm.get("/records/deal", params={"fields": "name", "sort": "-amount", "limit": 10,
                                                   "cursor": page["next_cursor"]}))
    assert [r["name"] for r in page["data"] + rest["data"]] == ["d4", "d3", "d2", "d1", "d0"]


def test_a_field_named_twice_in_fields_is_shown_once_computed_ones_too(crm: Any) -> None:
    crm.ok(crm.post("/meta/objects/deal/fields", {"api_name": "double", "label": "Double", "type": "formula",
                                                  "expression": "amount * 2"}), 201)
    crm.ok(crm.post("/records/deal", [{"name": "d1", "amount": "10"}]), 201)
    page = crm.ok(crm.get("/records/deal", params={"fields": "double,name,double,name", "sort": "double,double"}))
    assert [(r["name"], r["double"]) for r in page["data"]] == [("d1", "20")]


def test_expand_embeds_lookups_with_one_query_per_field(crm: Any, runtime: Any) -> None:
    accounts = crm.ok(crm.post("/records/account", [{"name": f"A{i}"} for i in range(5)]), 201)["data"]
    crm.ok(crm.post("/records/deal", [{"name": f"d{i}", "account": accounts[i % 5]["id"]}
                                      for i in range(40)] + [{"name": "orphan"}]), 201)
    statements: list[str] = []

    def count(*args: Any) -> None:
        # The request's statements, not those of the background worker moving events along.
        if threading.current_thread().name != "tessera-jobs":
            statements.append(str(args[2]))

    sa.event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        page = crm.ok(crm.get("/records/deal", params={"expand": "account,owner", "limit": 100, "sort": "name"}))
    finally:
        sa.event.remove(runtime.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 6, selects  # token, revision, list, one per expanded field
    by_name = {r["name"]: r for r in page["data"]}
    assert by_name["d7"]["_expanded"]["account"]["name"] == "A2"
    assert by_name["d7"]["_expanded"]["owner"]["email"] == "admin@example.com"
    assert by_name["orphan"]["_expanded"]["account"] is None
    projected = crm.ok(crm.get("/records/deal", params={"expand": "account", "fields": "name"}))
    assert projected["data"][0]["_expanded"]["account"]["name"] == "A0"


def test_expand_refuses_fields_that_are_not_lookups(crm: Any) -> None:
    response = crm.get("/records/deal", params={"expand": "amount"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "expand"


def test_limit_is_bounded_and_total_is_capped(crm: Any, runtime: Any, monkeypatch: Any) -> None:
    from tessera.runtime.records import service as records

    crm.ok(crm.post("/records/deal", [{"name": f"d{i}"} for i in range(12)]), 201)
    assert len(crm.ok(crm.get("/records/deal", params={"limit": 1000}))["data"]) == 12
    assert crm.get("/records/deal", params={"limit": 1001}).status_code == 400
    assert crm.get("/records/deal", params={"limit": 0}).status_code == 400
    page = crm.ok(crm.get("/records/deal", params={"limit": 5, "total": "true"}))
    assert page["total"] == 12 and page["total_capped"] is False
    assert "total" not in crm.ok(crm.get("/records/deal", params={"limit": 5}))
    monkeypatch.setattr(records, "TOTAL_CAP", 10)
    page = crm.ok(crm.get("/records/deal", params={"limit": 5, "total": "true"}))
    assert page["total"] == 10 and page["total_capped"] is True


# -- creating -------------------------------------------------------------------------------

def test_create_returns_the_stored_record_with_location_and_etag(crm: Any) -> None:
    response = crm.post("/records/deal", {"name": " Big ", "amount": 1200.5, "stage": "Won",
                                           "closes": "2025-01-31"})
    record = crm.ok(response, 201)
    assert record["name"] == "Big" and record["amount"] == "1200.50" and record["stage"] == "won"
    assert response.headers["location"] == f"/api/v1/records/deal/{record['id']}"
    assert response.headers["etag"] == '"1"'
    assert crm.ok(crm.get(f"/records/deal/{record['id']}")) == record


def test_bulk_create_of_1000_records_in_one_request(crm: Any) -> None:
    created = crm.ok(crm.post("/records/deal", [{"name": f"d{i}", "amount": i} for i in range(1000)]), 201)
    assert len(created["data"]) == 1000
    assert [r["name"] for r in created["data"][:3]] == ["d0", "d1", "d2"]
    assert len({r["id"] for r in created["data"]}) == 1000
    page = crm.ok(crm.get("/records/deal", params={"limit": 1, "total": "true"}))
    assert page["total"] == 1000


def test_bulk_create_over_the_limit_is_refused(crm: Any) -> None:
    response = crm.post("/records/deal", [{"name": "x"}] * 1001)
    assert response.status_code == 422
    assert crm.ok(crm.get("/records/deal"))["data"] == []


def test_bulk_create_is_all_or_nothing_with_errors_per_row(crm: Any) -> None:
    response = crm.post("/records/deal", [{"name": "ok"}, {"amount": "x", "name": "bad"}, {"stage": "nope"},
                                          "not an object"])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {(1, "amount"), (2, "stage"), (2, "name"), (3, "/")}
    assert all(e["code"] for e in errors)
    assert crm.ok(crm.get("/records/deal"))["data"] == []


def test_bulk_create_reports_duplicates_within_the_batch(crm: Any) -> None:
    response = crm.post("/records/account", [{"name": "A"}, {"name": "B"}, {"name": "A"}])
    assert response.status_code == 409
    assert response.json()["errors"][0]["row"] == 2
    assert crm.ok(crm.get("/records/account"))["data"] == []


# -- reading, changing ---------------------------------------------------------------------

def test_get_sends_the_version_as_etag(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x"}), 201)
    response = crm.get(f"/records/deal/{record['id']}")
    assert response.headers["etag"] == '"1"'
    assert crm.get("/records/deal/99999").status_code == 404


def test_patch_with_current_version_changes_and_bumps_the_version(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1"}), 201)
    response = crm.patch(f"/records/deal/{record['id']}", {"amount": "2.5"}, headers={"If-Match": '"1"'})
    changed = crm.ok(response)
    assert changed["amount"] == "2.50" and changed["version"] == 2 and response.headers["etag"] == '"2"'
    weak = crm.patch(f"/records/deal/{record['id']}", {"name": "y"}, headers={"If-Match": 'W/"2"'})
    assert crm.ok(weak)["version"] == 3


def test_patch_with_a_stale_version_is_refused_and_changes_nothing(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1"}), 201)
    crm.ok(crm.patch(f"/records/deal/{record['id']}", {"amount": "2"}, headers={"If-Match": '"1"'}))
    stale = crm.patch(f"/records/deal/{record['id']}", {"amount": "3"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 2
    body_version = crm.patch(f"/records/deal/{record['id']}", {"amount": "3", "version": 1})
    assert body_version.status_code == 412
    current = crm.ok(crm.get(f"/records/deal/{record['id']}"))
    assert current["amount"] == "2.00" and current["version"] == 2


def test_patch_without_changes_keeps_the_version(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1"}), 201)
    same = crm.ok(crm.patch(f"/records/deal/{record['id']}", {"amount": "1.00", "name": "x"}))
    assert same["version"] == 1
    assert [h for h in crm.ok(crm.get(f"/records/deal/{record['id']}/history")) if h["action"] == "update"] == []


def test_patch_can_blank_a_field_but_not_a_required_one(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1"}), 201)
    assert crm.ok(crm.patch(f"/records/deal/{record['id']}", {"amount": None}))["amount"] is None
    refused = crm.patch(f"/records/deal/{record['id']}", {"name": ""})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "name"


# -- deleting, restoring, trash ------------------------------------------------------------

def _tree(api: Any, on_delete: str) -> tuple[int, list[int]]:
    _objects(api, {"api_name": "parent", "label": "Parent", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]})
    _objects(api, {"api_name": "child", "label": "Child", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "parent", "label": "Parent", "type": "lookup", "target": "parent",
         "on_delete": on_delete}]})
    parent = api.ok(api.post("/records/parent", {"name": "p"}), 201)["id"]
    children = api.ok(api.post("/records/child", [{"name": f"c{i}", "parent": parent} for i in range(3)]),
                      201)["data"]
    return parent, [c["id"] for c in children]


def test_delete_with_restrict_children_is_refused(api: Any) -> None:
    parent, children = _tree(api, "restrict")
    response = api.delete(f"/records/parent/{parent}")
    assert response.status_code == 409
    assert response.json()["errors"][0]["record_ids"] == children
    assert api.ok(api.get(f"/records/parent/{parent}"))["name"] == "p"


def test_delete_cascades_to_the_trash_and_restore_brings_children_back(api: Any) -> None:
    parent, children = _tree(api, "cascade")
    done = api.ok(api.delete(f"/records/parent/{parent}"))
    assert done["affected"] == {"deleted": {"child": 3}, "unlinked": {}}
    assert api.get(f"/records/parent/{parent}").status_code == 404
    assert api.ok(api.get("/records/child"))["data"] == []
    trash = api.ok(api.get("/records/child/trash"))["data"]
    assert sorted(r["id"] for r in trash) == children and all(r["deleted_at"] for r in trash)
    restored = api.ok(api.post(f"/records/parent/{parent}/restore"))
    assert restored["id"] == parent
    assert sorted(r["id"] for r in api.ok(api.get("/records/child"))["data"]) == children
    assert api.ok(api.get("/records/child/trash"))["data"] == []


def test_delete_sets_children_blank_and_restore_relinks_them(api: Any) -> None:
    parent, children = _tree(api, "set_null")
    assert api.ok(api.delete(f"/records/parent/{parent}"))["affected"] == {"deleted": {}, "unlinked": {"child": 3}}
    kids = api.ok(api.get("/records/child"))["data"]
    assert [k["parent"] for k in kids] == [None, None, None]
    # A child re-linked by hand meanwhile keeps what the user chose.
    other = api.ok(api.post("/records/parent", {"name": "other"}), 201)["id"]
    api.ok(api.patch(f"/records/child/{children[0]}", {"parent": other}))
    api.ok(api.post(f"/records/parent/{parent}/restore"))
    kids = {k["id"]: k["parent"] for k in api.ok(api.get("/records/child"))["data"]}
    assert kids == {children[0]: other, children[1]: parent, children[2]: parent}
    history = api.ok(api.get(f"/records/child/{children[1]}/history"))
    assert [(h["field"], h["old"], h["new"]) for h in history if h["field"] == "parent"][:2] == [
        ("parent", None, parent), ("parent", parent, None)]


def test_delete_with_a_stale_if_match_is_refused(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x"}), 201)
    assert crm.delete(f"/records/deal/{record['id']}", headers={"If-Match": '"7"'}).status_code == 412
    assert crm.ok(crm.get(f"/records/deal/{record['id']}"))["id"] == record["id"]


def test_deleting_twice_is_not_found_and_restoring_a_live_record_is_a_conflict(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x"}), 201)
    # The record is there, only not in the trash: its restore clashes with its state.
    live = crm.post(f"/records/deal/{record['id']}/restore")
    assert live.status_code == 409 and "is not in the trash" in live.json()["detail"]
    assert crm.post("/records/deal/999999/restore").status_code == 404
    crm.ok(crm.delete(f"/records/deal/{record['id']}"))
    assert crm.delete(f"/records/deal/{record['id']}").status_code == 404
    assert crm.patch(f"/records/deal/{record['id']}", {"name": "y"}).status_code == 404
    crm.ok(crm.post(f"/records/deal/{record['id']}/restore"))
    assert crm.post(f"/records/deal/{record['id']}/restore").status_code == 409  # restored already


def test_trash_lists_only_deleted_records_and_pages(crm: Any) -> None:
    made = crm.ok(crm.post("/records/deal", [{"name": f"d{i}"} for i in range(6)]), 201)["data"]
    for record in made[:5]:
        crm.ok(crm.delete(f"/records/deal/{record['id']}"))
    trashed = _page_all(crm, "/records/deal/trash", limit=2)
    assert sorted(r["id"] for r in trashed) == sorted(r["id"] for r in made[:5])
    assert all(r["deleted_by"] == 1 for r in trashed)


# -- history --------------------------------------------------------------------------------

def test_history_records_every_change_of_every_field(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1", "stage": "new"}), 201)
    rid = record["id"]
    crm.ok(crm.patch(f"/records/deal/{rid}", {"amount": "2", "stage": "won"}))
    crm.ok(crm.patch(f"/records/deal/{rid}", {"amount": None}))
    crm.ok(crm.delete(f"/records/deal/{rid}"))
    crm.ok(crm.post(f"/records/deal/{rid}/restore"))
    history = crm.ok(crm.get(f"/records/deal/{rid}/history"))
    changes = [(h["action"], h["field"], h["old"], h["new"]) for h in history]
    assert changes[:3] == [("restore", None, None, None), ("delete", None, None, None),
                           ("update", "amount", "2.00", None)]
    assert set(changes[3:5]) == {("update", "amount", "1.00", "2.00"), ("update", "stage", "new", "won")}
    # The creation comes last, told by the record's created_at/created_by (no rows stored).
    assert [(h["action"], h["field"], h["actor"]) for h in history[5:]] == [("create", None, 1)]
    older = crm.ok(crm.get(f"/records/deal/{rid}/history", params={"limit": 2, "before": history[1]["id"]}))
    assert [h["id"] for h in older] == [h["id"] for h in history[2:4]]
    assert all(h["actor"] == 1 and h["at"].endswith("Z") for h in history)


def test_history_of_an_unknown_record_is_not_found(crm: Any) -> None:
    assert crm.get("/records/deal/12345/history").status_code == 404


def test_history_follows_a_field_rename(crm: Any) -> None:
    record = crm.ok(crm.post("/records/deal", {"name": "x", "amount": "1"}), 201)
    crm.ok(crm.patch(f"/records/deal/{record['id']}", {"amount": "2"}))
    crm.ok(crm.patch("/meta/objects/deal/fields/amount", {"api_name": "value"}))
    history = crm.ok(crm.get(f"/records/deal/{record['id']}/history"))
    assert history[0]["field"] == "value"
