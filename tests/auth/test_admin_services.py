"""What the admin pages ask of the identity services, on SQLite and PostgreSQL: everyone's
sessions and tokens listed and ended by an admin, one person made the manager of a whole
team at once (a loop refuses all of it), names for e-mails, and the audit log bounded in
time and telling who changed which field of which record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput, NotFound, Unauthorized
from tessera.runtime.platform import Platform

PASSWORD = "a-long-password"
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "amount", "label": "Amount", "type": "integer"}]}


def _person(rt: Platform, email: str, name: str, **more: Any) -> int:
    return int(rt.users.accounts.add(Actor.system(), {"email": email, "name": name, "password": PASSWORD,
                                                      **more})["id"])


def _admin(rt: Platform) -> Actor:
    return rt.users.actor_for_user(1)


def test_an_admin_lists_everyones_sessions_and_signs_one_out(runtime: Platform) -> None:
    _person(runtime, "rep@example.com", "Rita Rep")
    theirs = runtime.users.sessions.start("rep@example.com", PASSWORD, ip="10.0.0.7", user_agent="Firefox on Linux")
    mine = runtime.users.sessions.start("admin@example.com", "admin-password")
    listed = runtime.users.sessions.active()
    assert [s["user"]["email"] for s in listed] == ["admin@example.com", "rep@example.com"]
    rep = listed[1]
    assert rep["user"]["name"] == "Rita Rep" and rep["ip"] == "10.0.0.7" and rep["user_agent"] == "Firefox on Linux"
    assert len(rep["ref"]) == 16 and theirs["secret"] not in str(listed)
    runtime.users.sessions.actor_for_session(theirs["secret"])
    assert runtime.users.sessions.end_for(_admin(runtime), rep["ref"]) == {"email": "rep@example.com",
                                                                          "name": "Rita Rep"}
    with pytest.raises(Unauthorized):
        runtime.users.sessions.actor_for_session(theirs["secret"])
    runtime.users.sessions.actor_for_session(mine["secret"])  # the admin's own session goes on
    assert [s["user"]["email"] for s in runtime.users.sessions.active()] == ["admin@example.com"]
    for bad in (rep["ref"], "not-a-ref", "0" * 16, "", "ab" * 40):
        with pytest.raises(NotFound):
            runtime.users.sessions.end_for(_admin(runtime), bad)
    ended = runtime.users.audit.entries(action="session.ended")["data"]
    assert [(e["target"], e["actor"]["email"], e["detail"]) for e in ended] == [
        ("user:rep@example.com", "admin@example.com", {"by": "admin"})]


def test_an_admin_lists_everyones_tokens_and_revokes_one(runtime: Platform) -> None:
    rep_id = _person(runtime, "rep@example.com", "Rita Rep")
    rep = runtime.users.actor_for_user(rep_id)
    script = runtime.users.tokens.create(rep, {"name": "Nightly export"})
    signed_in = runtime.users.sign_in("admin@example.com", "admin-password")
    gone = runtime.users.tokens.create(rep, {"name": "Old"})
    runtime.users.tokens.revoke(rep, gone["id"])
    listed = runtime.users.tokens.everyone()
    assert [(t["name"], t["personal"], t["user"]["name"]) for t in listed] == [
        ("sign-in", False, "Admin"), ("Nightly export", True, "Rita Rep")]
    assert "token" not in listed[1] and script["token"] not in str(listed) and signed_in not in str(listed)
    runtime.users.actor_for_token(script["token"])
    revoked = runtime.users.tokens.revoke_any(_admin(runtime), script["id"])
    assert revoked["name"] == "Nightly export" and revoked["user"]["email"] == "rep@example.com"
    with pytest.raises(Unauthorized):
        runtime.users.actor_for_token(script["token"])
    with pytest.raises(NotFound):
        runtime.users.tokens.revoke_any(_admin(runtime), script["id"])
    assert [t["name"] for t in runtime.users.tokens.everyone()] == ["sign-in"]
    entry = runtime.users.audit.entries(action="token.revoked")["data"][0]
    assert entry["actor"]["email"] == "admin@example.com"
    assert entry["detail"] == {"name": "Nightly export", "user": "rep@example.com", "by": "admin"}


def test_one_person_becomes_the_manager_of_a_whole_team(runtime: Platform) -> None:
    admin = _admin(runtime)
    for email, name in (("lea@example.com", "Lea Lead"), ("rita@example.com", "Rita Rep"),
                        ("rob@example.com", "Rob Rep")):
        _person(runtime, email, name)
    runtime.users.teams.create(admin, {"api_name": "east", "label": "East",
                                       "members": ["lea@example.com", "rita@example.com", "rob@example.com"]})
    assert runtime.users.teams.set_manager(admin, "east", " Lea@Example.com ") == ["rita@example.com",
                                                                                   "rob@example.com"]
    people = {p["email"]: p["manager"] for p in runtime.users.accounts.list(team="east")["data"]}
    assert people == {"lea@example.com": None, "rita@example.com": "lea@example.com",
                      "rob@example.com": "lea@example.com"}
    assert runtime.users.teams.set_manager(admin, "east", "lea@example.com") == []  # nothing to change
    changed = runtime.users.audit.entries(action="user.changed")["data"]
    assert [(e["target"], e["detail"]["after"], e["detail"]["via"]) for e in changed] == [
        ("user:rob@example.com", {"manager": "lea@example.com"}, "team:east"),
        ("user:rita@example.com", {"manager": "lea@example.com"}, "team:east")]
    # Rob, managed by Lea, cannot become Lea's manager: the loop refuses the whole change.
    with pytest.raises(InvalidInput) as refused:
        runtime.users.teams.set_manager(admin, "east", "rob@example.com")
    assert refused.value.errors[0].field == "manager" and "loop" in refused.value.errors[0].message
    people = {p["email"]: p["manager"] for p in runtime.users.accounts.list(team="east")["data"]}
    assert people == {"lea@example.com": None, "rita@example.com": "lea@example.com",
                      "rob@example.com": "lea@example.com"}
    with pytest.raises(InvalidInput):
        runtime.users.teams.set_manager(admin, "east", "ghost@example.com")
    with pytest.raises(NotFound):
        runtime.users.teams.set_manager(admin, "west", "lea@example.com")
    assert runtime.users.teams.set_manager(admin, "east", None) == ["rita@example.com", "rob@example.com"]
    assert {p["manager"] for p in runtime.users.accounts.list(team="east")["data"]} == {None}


def test_names_for_emails(runtime: Platform) -> None:
    _person(runtime, "rep@example.com", "Rita Rep")
    assert runtime.users.audit.names([" REP@example.com", "ghost@example.com", ""]) == {
        "rep@example.com": "Rita Rep"}
    assert runtime.users.audit.names([]) == {}


def test_the_audit_log_tells_who_changed_which_field_of_which_record(runtime: Platform) -> None:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    rep_id = _person(runtime, "rep@example.com", "Rita Rep", roles=["admin"])
    rep = runtime.users.actor_for_user(rep_id)
    deal = runtime.records.create(system, "deal", {"name": "Big deal", "amount": 1000})
    other = runtime.records.create(system, "deal", {"name": "Small deal", "amount": 5})
    runtime.records.update(rep, "deal", deal["id"], {"amount": 2000}, None)
    runtime.records.update(_admin(runtime), "deal", other["id"], {"name": "Tiny deal"}, None)
    runtime.records.delete(rep, "deal", other["id"])
    log = runtime.users.audit
    everything = log.entries(limit=500)["data"]
    assert all(e["source"] != "record" for e in everything)  # not in the unfiltered log
    changes = log.entries(action="record")["data"]
    assert [(e["action"], e["target"]) for e in changes] == [
        ("record.delete", f"record:deal:{other['id']}"), ("record.update", f"record:deal:{other['id']}"),
        ("record.update", f"record:deal:{deal['id']}")]
    rita = log.entries(action="record.update", actor="rep@example.com")["data"]
    assert len(rita) == 1 and rita[0]["actor"]["email"] == "rep@example.com"
    assert rita[0]["detail"]["old"] == 1000 and rita[0]["detail"]["new"] == 2000
    assert rita[0]["detail"]["record_id"] == deal["id"] and rita[0]["detail"]["field_uid"]
    assert [e["target"] for e in log.entries(action="record", target=f"record:deal:{deal['id']}")["data"]] == [
        f"record:deal:{deal['id']}"]
    assert len(log.entries(action="record", target="record:deal")["data"]) == 3
    assert log.entries(action="record", target="record:nothing")["data"] == []
    assert log.entries(action="record", target="record:deal:x")["data"] == []
    assert log.entries(action="record", target="role:")["data"] == []
    # Paging through record changes and the rest returns each once.
    first = log.entries(action="record", limit=2)
    rest = log.entries(action="record", limit=2, cursor=first["next_cursor"])
    assert [e["id"] for e in first["data"] + rest["data"]] == [e["id"] for e in changes]
    assert rest["next_cursor"] is None


def test_the_audit_log_is_bounded_in_time(runtime: Platform) -> None:
    admin = _admin(runtime)
    runtime.users.roles.create(admin, {"api_name": "sales", "label": "Sales"}, runtime.snapshot)
    now = datetime.now(UTC)
    assert [e["action"] for e in runtime.users.audit.entries(action="role", since=now - timedelta(minutes=1),
                                                             until=now + timedelta(minutes=1))["data"]] == [
        "role.created"]
    assert runtime.users.audit.entries(until=now - timedelta(minutes=1))["data"] == []
    assert runtime.users.audit.entries(action="meta", until=now - timedelta(minutes=1))["data"] == []


def test_the_audit_api_takes_until_and_record_changes(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    deal = api.ok(api.post("/records/deal", {"name": "Big deal", "amount": 1}), 201)
    api.ok(api.patch(f"/records/deal/{deal['id']}", {"amount": 2}, headers={"If-Match": str(deal["version"])}))
    changes = api.ok(api.get("/audit", params={"action": "record", "target": f"record:deal:{deal['id']}"}))["data"]
    assert [(e["source"], e["action"], e["detail"]["old"], e["detail"]["new"]) for e in changes] == [
        ("record", "record.update", 1, 2)]
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert api.ok(api.get("/audit", params={"until": past}))["data"] == []
    assert api.ok(api.get("/audit", params={"action": "record", "until": past}))["data"] == []
    bad = api.get("/audit", params={"until": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "until"
