"""Favourite and recently opened records, through the API on SQLite and PostgreSQL: starred
and visited records come back by name and object label, newest first, each once; only
those the person may still read (row scope, hidden name field, the trash); bad input is a
problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.navigation.recent import KEPT, SHOWN

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"}]}
STAGE = {"api_name": "stage", "label": "Stage", "name_field": "phase", "fields": [
    {"api_name": "phase", "label": "Phase", "type": "select",
     "options": [{"value": "on_site", "label": "On site"}, {"value": "won", "label": "Closed won"}]}]}
TITLED = {"api_name": "ticket", "label": "Ticket", "name_field": "title", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text"},
    {"api_name": "title", "label": "Title", "type": "formula", "expression": "\"Ticket: \" & subject"}]}


def _person(api: Any, email: str, read: str) -> tuple[Actor, Any]:
    api.ok(api.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": {
        "deal": {"create": True, "read": read, "edit": read, "delete": "none"}}}), 201)
    made = api.ok(api.post("/users", {"email": email, "name": "Rep", "password": "a-long-password",
                                      "roles": ["rep"]}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"}).json()
    return made["id"], type(api)(api.client, token["access_token"])


def test_a_starred_record_is_listed_by_name_once_and_unstarred(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    big = api.ok(api.post("/records/deal", {"name": "Big deal"}), 201)["id"]
    small = api.ok(api.post("/records/deal", {"name": "Small deal"}), 201)["id"]
    starred = api.post("/me/favourites", {"object": "deal", "id": big})
    assert starred.status_code == 201, starred.text
    assert starred.headers["Location"] == f"/api/v1/me/favourites/deal/{big}"
    assert starred.json()["name"] == "Big deal" and starred.json()["object_label"] == "Deal"
    assert api.post("/me/favourites", {"object": "deal", "id": big}).status_code == 200  # again: no change
    api.ok(api.post("/me/favourites", {"object": "deal", "id": small}), 201)
    listed = api.ok(api.get("/me/favourites"))["data"]
    assert [(f["object"], f["id"], f["name"]) for f in listed] == [("deal", small, "Small deal"),
                                                                    ("deal", big, "Big deal")]
    assert api.ok(api.get(f"/me/favourites/deal/{big}"))["name"] == "Big deal"
    assert api.delete(f"/me/favourites/deal/{big}").status_code == 204
    assert api.get(f"/me/favourites/deal/{big}").status_code == 404
    gone = api.delete(f"/me/favourites/deal/{big}")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
    assert [f["id"] for f in api.ok(api.get("/me/favourites"))["data"]] == [small]


def test_starring_what_is_not_there_is_a_problem_not_a_favourite(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    assert api.post("/me/favourites", {"object": "nothing", "id": 1}).status_code == 404
    assert api.post("/me/favourites", {"object": "deal", "id": 999}).status_code == 404
    bad = api.post("/me/favourites", {"object": "", "id": "x"})
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["errors"]} == {"object", "id"}
    assert api.post("/me/favourites", [1]).status_code == 422
    assert api.post("/me/favourites", {"object": "deal", "id": True}).status_code == 422
    assert api.ok(api.get("/me/favourites"))["data"] == []


def test_only_records_the_person_may_still_read_are_listed(api: Any, runtime: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    rep_id, rep = _person(api, "rep@example.com", "own")
    mine = api.ok(api.post("/records/deal", {"name": "Mine", "owner": rep_id}), 201)["id"]
    theirs = api.ok(api.post("/records/deal", {"name": "Not mine"}), 201)["id"]
    # A record outside their row scope cannot be starred: to them it is not there.
    assert rep.post("/me/favourites", {"object": "deal", "id": theirs}).status_code == 404
    rep.ok(rep.post("/me/favourites", {"object": "deal", "id": mine}), 201)
    rep_actor = Actor(user_id=rep_id)
    runtime.recent.visit(rep_actor, "deal", mine)
    assert [r["name"] for r in rep.ok(rep.get("/me/recent"))["data"]] == ["Mine"]
    # The record is given to someone else: it leaves both lists, and comes back with it.
    api.ok(api.patch(f"/records/deal/{mine}", {"owner": 1}))
    assert rep.ok(rep.get("/me/favourites"))["data"] == []
    assert rep.ok(rep.get("/me/recent"))["data"] == []
    assert rep.get(f"/me/favourites/deal/{mine}").status_code == 404
    api.ok(api.patch(f"/records/deal/{mine}", {"owner": rep_id}))
    assert [f["name"] for f in rep.ok(rep.get("/me/favourites"))["data"]] == ["Mine"]
    # In the trash: not listed; restored: listed again.
    api.ok(api.delete(f"/records/deal/{mine}"))
    assert rep.ok(rep.get("/me/favourites"))["data"] == []
    assert rep.ok(rep.get("/me/recent"))["data"] == []
    api.ok(api.post(f"/records/deal/{mine}/restore"))
    assert [r["id"] for r in rep.ok(rep.get("/me/recent"))["data"]] == [mine]
    # Another person's favourites are theirs: the admin has none.
    assert api.ok(api.get("/me/favourites"))["data"] == []
    # Without read access to the object at all, nothing of it is listed.
    api.ok(api.patch("/roles/rep", {"permissions": {"deal": {"read": "none"}}}))
    assert rep.ok(rep.get("/me/favourites"))["data"] == []
    assert rep.ok(rep.get("/me/recent"))["data"] == []


def test_names_follow_the_name_field_as_lists_show_it(api: Any, runtime: Any) -> None:
    api.ok(api.post("/meta/objects", STAGE), 201)
    api.ok(api.post("/meta/objects", TITLED), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    stage = api.ok(api.post("/records/stage", {"phase": "won"}), 201)["id"]
    ticket = api.ok(api.post("/records/ticket", {"subject": "Printer"}), 201)["id"]
    blank = api.ok(api.post("/records/stage", {}), 201)["id"]
    for name, record_id in (("stage", stage), ("ticket", ticket), ("stage", blank)):
        api.ok(api.post("/me/favourites", {"object": name, "id": record_id}), 201)
    names = {(f["object"], f["id"]): f["name"] for f in api.ok(api.get("/me/favourites"))["data"]}
    assert names == {("stage", stage): "Closed won", ("ticket", ticket): "Ticket: Printer",
                     ("stage", blank): f"Stage #{blank}"}
    # A name field the person may not see is not shown: the record is named by its object and id.
    _rep_id, rep = _person(api, "rep@example.com", "all")
    api.ok(api.patch("/roles/rep", {"permissions": {"deal": {"read": "all", "fields": {"name": "hidden"}}}}))
    deal = api.ok(api.post("/records/deal", {"name": "Secret name"}), 201)["id"]
    shown = rep.ok(rep.post("/me/favourites", {"object": "deal", "id": deal}), 201)
    assert shown["name"] == f"Deal #{deal}"


def test_recent_visits_are_one_per_record_latest_first_and_few(api: Any, runtime: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    admin = Actor(user_id=1, is_admin=True)
    ids = [api.ok(api.post("/records/deal", {"name": f"Deal {i}"}), 201)["id"] for i in range(KEPT + 5)]
    for record_id in ids:
        runtime.recent.visit(admin, "deal", record_id)
    runtime.recent.visit(admin, "deal", ids[0])  # opened again: back on top, still once
    recent = api.ok(api.get("/me/recent"))["data"]
    assert len(recent) == SHOWN
    assert [r["name"] for r in recent[:3]] == ["Deal 0", f"Deal {KEPT + 4}", f"Deal {KEPT + 3}"]
    everything = api.ok(api.get(f"/me/recent?limit={KEPT}"))["data"]
    assert len(everything) == KEPT and len({r["id"] for r in everything}) == KEPT
    assert api.get(f"/me/recent?limit={KEPT + 1}").status_code == 400
    # The oldest visits beyond those kept were let go.
    from tessera.data.tables import recent_records

    with runtime.read() as conn:
        kept = conn.execute(recent_records.select().where(recent_records.c.user_id == 1)).all()
    assert len(kept) == KEPT


@pytest.mark.parametrize("path", ["/me/favourites", "/me/recent"])
def test_signed_out_callers_get_401(client: Any, path: str) -> None:
    assert client.get(f"/api/v1{path}").status_code == 401
