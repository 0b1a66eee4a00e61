"""`GET /api/v1/search` on SQLite and PostgreSQL: results only from records and fields the
caller may read (row scope; a hidden field's words neither find a record nor show in a
snippet), the index current after update, delete, restore, a field renamed, a field made
searchable later (a job) and an import; hostile queries and bad parameters are problems or
empty answers, never a 500; signed-out callers get 401."""

from __future__ import annotations

from typing import Any

import pytest

Api = Any
PROBLEM = "application/problem+json"

DEAL = {"api_name": "deal", "label": "Deal", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True, "searchable": True},
    {"api_name": "notes", "label": "Notes", "type": "long_text", "searchable": True},
    {"api_name": "margin_note", "label": "Margin note", "type": "text", "searchable": True},
    {"api_name": "code", "label": "Code", "type": "text"}]}


def _person(api: Api, email: str, permissions: dict[str, Any]) -> Api:
    api.ok(api.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": permissions}), 201)
    api.ok(api.post("/users", {"email": email, "name": "Rep", "password": "a-long-password", "roles": ["rep"]}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"}).json()
    return type(api)(api.client, token["access_token"])


def _titles(api: Api, q: str, **params: Any) -> list[str]:
    answer = api.ok(api.get("/search", params={"q": q, **params}))
    return [r["title"] for r in answer["results"]]


@pytest.fixture
def deals(api: Api) -> Api:
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/records/deal", {"name": "Harbour crane", "notes": "Crane for the harbour in Rotterdam",
                                      "margin_note": "secret discount"}), 201)
    api.ok(api.post("/records/deal", {"name": "Office chairs", "notes": "Two hundred chairs",
                                      "margin_note": "crane budget"}), 201)
    return api


def test_the_answer_has_the_documented_shape(deals: Api) -> None:
    answer = deals.ok(deals.get("/search", params={"q": "rotterdam"}))
    [hit] = answer["results"]
    assert set(hit) == {"object", "object_label", "id", "title", "snippet", "score"}
    assert hit["object"] == "deal" and hit["title"] == "Harbour crane"
    assert "<mark>Rotterdam</mark>" in hit["snippet"]
    assert answer["corrected"] is None and answer["incomplete"] == []


def test_a_hidden_field_neither_finds_a_record_nor_shows_in_its_snippet(deals: Api) -> None:
    rep = _person(deals, "rep@example.com", {"deal": {"read": "all", "fields": {"margin_note": "hidden"}}})
    assert _titles(deals, "secret") == ["Harbour crane"]
    assert _titles(rep, "secret") == []
    assert _titles(rep, "crane") == ["Harbour crane"]  # Office chairs has it only in the hidden field
    assert sorted(_titles(deals, "crane")) == ["Harbour crane", "Office chairs"]
    assert _titles(rep, "crane -secret") == ["Harbour crane"]  # hidden words keep nothing out either
    for hit in rep.ok(rep.get("/search", params={"q": "harbour crane"}))["results"]:
        assert "secret" not in hit["snippet"] and "discount" not in hit["snippet"]


def test_only_records_in_the_callers_row_scope_are_found(deals: Api) -> None:
    rep = _person(deals, "rep@example.com", {"deal": {"create": True, "read": "own", "edit": "own"}})
    assert _titles(rep, "crane") == []
    rep.ok(rep.post("/records/deal", {"name": "My crane"}), 201)
    assert _titles(rep, "crane") == ["My crane"]


def test_an_object_the_caller_may_not_read_is_not_searched(deals: Api) -> None:
    deals.ok(deals.post("/roles", {"api_name": "none", "label": "None", "permissions": {}}), 201)
    deals.ok(deals.post("/users", {"email": "n@example.com", "name": "N", "password": "a-long-password",
                                   "roles": ["none"]}), 201)
    token = deals.client.post("/api/v1/auth/token", json={"email": "n@example.com",
                                                          "password": "a-long-password"}).json()
    none = type(deals)(deals.client, token["access_token"])
    assert _titles(none, "crane") == []


def test_the_index_follows_updates_deletes_restores_and_renames(deals: Api) -> None:
    [crane] = deals.ok(deals.get("/search", params={"q": "harbour"}))["results"]
    deals.ok(deals.patch(f"/records/deal/{crane['id']}", {"notes": "Crane for the port of Antwerp"}))
    assert _titles(deals, "rotterdam") == []
    assert _titles(deals, "antwerp") == ["Harbour crane"]
    deals.ok(deals.delete(f"/records/deal/{crane['id']}"))
    assert _titles(deals, "antwerp") == []
    deals.ok(deals.post(f"/records/deal/{crane['id']}/restore"))
    assert _titles(deals, "antwerp") == ["Harbour crane"]
    deals.ok(deals.patch("/meta/objects/deal/fields/notes", {"api_name": "description", "label": "Description"}))
    assert _titles(deals, "antwerp") == ["Harbour crane"]
    deals.ok(deals.patch("/meta/objects/deal", {"api_name": "opportunity", "label": "Opportunity"}))
    answer = deals.ok(deals.get("/search", params={"q": "antwerp"}))
    assert [(r["object"], r["title"]) for r in answer["results"]] == [("opportunity", "Harbour crane")]


def test_a_field_made_searchable_later_is_indexed_by_a_job(deals: Api) -> None:
    deals.ok(deals.post("/records/deal", {"name": "Forklift", "code": "FX-99"}), 201)
    assert _titles(deals, "fx") == []
    changed = deals.ok(deals.patch("/meta/objects/deal/fields/code", {"searchable": True}))
    [job] = [j for j in changed["jobs"] if j["kind"] == "search.index"]
    _wait(deals, job["id"])
    assert _titles(deals, "fx 99") == ["Forklift"]
    assert _titles(deals, "harbour") == ["Harbour crane"]  # the rebuilt index holds the others again
    changed = deals.ok(deals.patch("/meta/objects/deal/fields/notes", {"searchable": False}))
    _wait(deals, next(j["id"] for j in changed["jobs"] if j["kind"] == "search.index"))
    assert _titles(deals, "rotterdam") == []
    assert _titles(deals, "harbour crane") == ["Harbour crane"]


def _wait(api: Api, job_id: int) -> None:
    import time

    for _ in range(400):
        job = api.ok(api.get(f"/jobs/{job_id}"))
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert job["status"] == "succeeded", job
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_field_that_cannot_be_searched_is_refused_with_a_problem(deals: Api) -> None:
    response = deals.post("/meta/objects", {"api_name": "thing", "label": "Thing", "fields": [
        {"api_name": "size", "label": "Size", "type": "integer", "searchable": True}]})
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    assert "cannot be searched" in response.text


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"objects": "nope"},
                                    {"q": "x" * 3000}])
def test_bad_parameters_are_problems(deals: Api, params: dict[str, Any]) -> None:
    response = deals.get("/search", params={"q": "crane", **params})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("q", ['"', "crane AND NOT", "NEAR(crane)", "notes:crane", "{notes}: crane", "crane*)",
                               "'; DROP TABLE deal; --", "%_\\", "!!crane:* & |", "-", "*"])
def test_hostile_queries_answer_200(deals: Api, q: str) -> None:
    response = deals.get("/search", params={"q": q})
    assert response.status_code == 200, response.text


def test_objects_narrow_the_search(deals: Api) -> None:
    deals.ok(deals.post("/meta/objects", {"api_name": "crane_type", "label": "Crane type", "name_field": "name",
                                          "fields": [{"api_name": "name", "label": "Name", "type": "text",
                                                      "searchable": True}]}), 201)
    deals.ok(deals.post("/records/crane_type", {"name": "Tower crane"}), 201)
    assert sorted(_titles(deals, "crane")) == ["Harbour crane", "Office chairs", "Tower crane"]
    assert _titles(deals, "crane", objects="crane_type") == ["Tower crane"]


def test_signed_out_callers_get_401(client: Any) -> None:
    assert client.get("/api/v1/search", params={"q": "x"}).status_code == 401


def test_a_list_narrowed_by_words_keeps_its_sort_paging_and_filter(deals: Api) -> None:
    for n in range(5):
        deals.ok(deals.post("/records/deal", {"name": f"Crane {n}", "code": "X" if n % 2 else "Y"}), 201)
    page = deals.ok(deals.get("/records/deal", params={"search": "crane", "sort": "name", "limit": 2, "total": True}))
    assert [r["name"] for r in page["data"]] == ["Crane 0", "Crane 1"] and page["total"] == 7
    rest = deals.ok(deals.get("/records/deal", params={"search": "crane", "sort": "name", "cursor": page["next_cursor"],
                                                       "limit": 50}))
    assert [r["name"] for r in rest["data"]] == ["Crane 2", "Crane 3", "Crane 4", "Harbour crane", "Office chairs"]
    filtered = deals.ok(deals.get("/records/deal", params={"search": "crane -office", "filter": 'code = "X"'}))
    assert [r["name"] for r in filtered["data"]] == ["Crane 1", "Crane 3"]
    assert deals.ok(deals.get("/records/deal", params={"search": "   "}))["data"]  # nothing to look for: all


def test_a_list_box_on_an_object_without_searchable_fields_is_a_problem(deals: Api) -> None:
    deals.ok(deals.post("/meta/objects", {"api_name": "plain", "label": "Plain", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    response = deals.get("/records/plain", params={"search": "x"})
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
