"""The audit log, on SQLite and PostgreSQL: what is recorded (sign-ins, sessions, tokens,
users, roles with their permissions before and after, teams), metadata changes from their
history in the same shape, filters, and keyset paging that returns every entry once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

ADMIN_EMAIL = "admin@example.com"  # the admin of the `runtime` fixture
ADMIN_PASSWORD = "admin-password"
PASSWORD = "a-long-password"
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"}, {"api_name": "margin", "label": "Margin", "type": "text"}]}


def _entries(api: Any, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.ok(api.get("/audit", params={**params, **({"cursor": cursor} if cursor else {})}))
        out += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def test_identity_changes_and_sign_ins_are_recorded(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/roles", {"api_name": "sales", "label": "Sales", "permissions": {"deal": {"read": "own"}}}), 201)
    api.ok(api.patch("/roles/sales", {"permissions": {"deal": {"read": "all", "fields": {"margin": "hidden"}}}}))
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)
    rep = api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD, "roles": ["sales"]}), 201)
    api.ok(api.patch("/teams/east", {"members": ["rep@example.com"]}))
    api.client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": "wrong-password"})
    token = api.client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": PASSWORD})
    as_rep = type(api)(api.client, token.json()["access_token"])
    as_rep.ok(as_rep.get("/me"))
    made = as_rep.ok(as_rep.post("/me/tokens", {"name": "script"}), 201)
    as_rep.delete(f"/me/tokens/{made['id']}")
    session = api.client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    cookie = f"tessera_session={session.cookies['tessera_session']}"
    api.client.delete("/api/v1/auth/session", headers={"Cookie": cookie, "X-CSRF-Token": session.json()["csrf_token"]})
    api.ok(api.patch(f"/users/{rep['id']}", {"active": False}))
    api.ok(api.delete("/teams/east", params={"force": "true"}), 204)

    log = _entries(api)
    actions = [e["action"] for e in reversed(log) if e["source"] == "audit"]
    assert actions == [
        "user.created", "sign_in.succeeded", "token.first_use", "role.created", "role.changed", "team.created",
        "user.created", "team.changed", "sign_in.failed", "sign_in.succeeded", "token.first_use", "token.created",
        "token.revoked", "sign_in.succeeded", "session.ended", "user.disabled", "team.deleted"]
    by_action = {e["action"]: e for e in reversed(log)}  # the newest of each
    changed = by_action["role.changed"]
    assert changed["target"] == "role:sales" and changed["actor"] == {"id": 1, "email": ADMIN_EMAIL}
    assert changed["detail"]["before"] == {"deal": {"create": False, "read": "own", "edit": "none", "delete": "none",
                                                    "fields": {}}}
    assert changed["detail"]["after"]["deal"]["fields"] == {"margin": "hidden"}
    failed = by_action["sign_in.failed"]
    assert failed["actor"] is None and failed["detail"] == {"via": "token", "reason": "wrong_password"}
    assert failed["target"] == "user:rep@example.com" and failed["ip"] == "testclient"
    assert by_action["user.disabled"]["detail"]["changed"] == ["active"]
    assert by_action["user.created"]["detail"]["roles"] == ["sales"]
    assert by_action["token.created"]["actor"]["email"] == "rep@example.com"
    assert "password" not in str(log) or "wrong_password" in str(log)
    assert PASSWORD not in str(log)
    # Metadata changes come from their history, in the same shape.
    meta = [e for e in log if e["source"] == "metadata"]
    assert [(e["action"], e["target"]) for e in meta] == [("meta.create", "object:deal")]
    assert meta[0]["actor"]["email"] == ADMIN_EMAIL and meta[0]["detail"]["version"] == 1
    assert set(meta[0]) == set(log[0])


def test_filters_by_action_group_actor_target_and_time(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/roles", {"api_name": "sales", "label": "Sales"}), 201)
    api.ok(api.post("/roles", {"api_name": "support", "label": "Support"}), 201)
    api.ok(api.patch("/roles/sales", {"label": "Sellers"}))
    api.client.post("/api/v1/auth/token", json={"email": "ghost@example.com", "password": "whatever1"})
    assert [e["target"] for e in _entries(api, action="role")] == ["role:sales", "role:support", "role:sales"]
    assert [e["action"] for e in _entries(api, action="role.changed")] == ["role.changed"]
    assert [e["action"] for e in _entries(api, action="meta")] == ["meta.create"]
    assert [e["action"] for e in _entries(api, action="meta.create")] == ["meta.create"]
    assert _entries(api, action="meta.purge") == []
    assert [e["target"] for e in _entries(api, target="role:sup")] == ["role:support"]
    assert [e["target"] for e in _entries(api, target="object:de")] == ["object:deal"]
    mine = _entries(api, actor=ADMIN_EMAIL)
    assert mine and all(e["actor"]["email"] == ADMIN_EMAIL for e in mine)
    assert _entries(api, actor="1") == mine
    assert _entries(api, actor="nobody@example.com") == []
    assert [e["detail"]["reason"] for e in _entries(api, action="sign_in.failed")] == ["unknown_user"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert _entries(api, since=later) == []
    assert len(_entries(api, since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())) == len(_entries(api))
    assert api.get("/audit", params={"cursor": "nope"}).status_code == 422


def test_paging_returns_every_entry_once_newest_first(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    for i in range(6):
        api.ok(api.post("/roles", {"api_name": f"r{i}", "label": f"R{i}"}), 201)
        api.ok(api.post("/meta/objects/deal/fields", {"api_name": f"f{i}", "label": f"F{i}", "type": "text"}), 201)
    whole = api.ok(api.get("/audit", params={"limit": 500}))["data"]
    paged = _entries(api, limit=4)
    assert [(e["source"], e["id"]) for e in paged] == [(e["source"], e["id"]) for e in whole]
    assert len({(e["source"], e["id"]) for e in paged}) == len(paged) >= 14
    stamps = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in paged]
    assert stamps == sorted(stamps, reverse=True)
    assert {e["source"] for e in paged} == {"audit", "metadata"}
