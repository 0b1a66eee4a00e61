"""User administration through the API, on SQLite and PostgreSQL: create with roles, teams
and a manager, list and search with paging, change, disable (access ends at once, tokens
and sessions included), admin-only access, manager loops and the last admin refused."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.runtime.platform import Platform
from tessera.settings import Settings

ADMIN_EMAIL = "admin@example.com"  # the admin of the `runtime` fixture
PASSWORD = "a-long-password"


def _sign_in(api: Any, email: str, password: str = PASSWORD) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def _user(api: Any, email: str, **doc: Any) -> dict[str, Any]:
    return api.ok(api.post("/users", {"email": email, "password": PASSWORD, **doc}), 201)


@pytest.fixture
def office(api: Any) -> Any:
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)
    api.ok(api.post("/teams", {"api_name": "west", "label": "West"}), 201)
    api.ok(api.post("/roles", {"api_name": "sales", "label": "Sales"}), 201)
    return api


def test_create_with_roles_teams_and_manager_by_email(office: Any) -> None:
    lead = _user(office, "lead@example.com", name="Lead", roles=["sales"], teams=["east"])
    response = office.post("/users", {"email": " Rep@Example.com ", "name": "Rep", "password": PASSWORD,
                                      "roles": ["sales", "builder"], "teams": ["east", "west"],
                                      "manager": "lead@example.com"})
    rep = office.ok(response, 201)
    assert response.headers["location"] == f"/api/v1/users/{rep['id']}"
    assert {k: rep[k] for k in ("email", "name", "active", "is_admin", "roles", "teams", "manager")} == {
        "email": "rep@example.com", "name": "Rep", "active": True, "is_admin": False,
        "roles": ["builder", "sales"], "teams": ["east", "west"], "manager": "lead@example.com"}
    assert "password" not in rep and "password_hash" not in rep
    assert office.ok(office.get(f"/users/{rep['id']}")) == rep
    assert lead["manager"] is None and rep["last_sign_in_at"] is None
    me = _sign_in(office, "rep@example.com").ok(_sign_in(office, "rep@example.com").get("/me"))
    assert me == {"id": rep["id"], "email": "rep@example.com", "name": "Rep", "roles": ["builder", "sales"],
                  "teams": ["east", "west"], "manager": "lead@example.com", "is_admin": False, "is_builder": True,
                  "time_zone": None}
    assert office.ok(office.get(f"/users/{rep['id']}"))["last_sign_in_at"] is not None


def test_bad_user_documents_name_each_field_and_never_echo_the_password(office: Any) -> None:
    response = office.post("/users", {"email": "not-an-address", "password": "short1", "roles": "sales",
                                      "nickname": "x"})
    assert response.status_code == 422
    problems = {e["field"]: e for e in response.json()["errors"]}
    assert set(problems) == {"email", "password", "roles", "nickname"}
    assert problems["email"]["message"] == "is not an e-mail address"
    assert problems["password"]["message"] == "must be at least 8 characters long"
    assert problems["nickname"]["code"] == "unknown_field"
    assert "short1" not in response.text
    missing = office.post("/users", {"email": "x@example.com"})
    assert missing.json()["errors"] == [{"field": "password", "message": "is required", "code": "required"}]
    unknown = office.post("/users", {"email": "x@example.com", "password": PASSWORD, "roles": ["sales", "nope"],
                                     "teams": ["north"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "unknown_role"
    taken = office.post("/users", {"email": ADMIN_EMAIL.upper(), "password": PASSWORD})
    assert taken.status_code == 409 and taken.json()["errors"][0]["code"] == "taken"
    assert office.ok(office.get("/users"))["data"][-1]["email"] == ADMIN_EMAIL  # nothing was saved


def test_list_pages_by_id_and_filters(office: Any) -> None:
    for i in range(7):
        _user(office, f"u{i}@example.com", name=f"User {i}", roles=["sales"] if i % 2 else [],
              teams=["east"] if i < 3 else [])
    seen: list[str] = []
    cursor = None
    while True:
        page = office.ok(office.get("/users", params={"limit": 3, **({"cursor": cursor} if cursor else {})}))
        seen += [u["email"] for u in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ADMIN_EMAIL] + [f"u{i}@example.com" for i in range(7)]
    emails = lambda **params: [u["email"] for u in office.ok(office.get("/users", params=params))["data"]]  # noqa: E731
    assert emails(role="sales") == ["u1@example.com", "u3@example.com", "u5@example.com"]
    assert emails(team="east") == ["u0@example.com", "u1@example.com", "u2@example.com"]
    assert emails(q="USER 6") == ["u6@example.com"]
    assert emails(q="admin@") == [ADMIN_EMAIL]
    assert emails(role="admin") == [ADMIN_EMAIL]
    assert office.get("/users", params={"cursor": "garbage"}).status_code == 422
    assert office.get("/users", params={"limit": 501}).status_code == 400
    assert office.get("/users/999").status_code == 404


def test_patch_changes_roles_teams_manager_name_and_email(office: Any) -> None:
    rep = _user(office, "rep@example.com")
    _user(office, "lead@example.com")
    changed = office.ok(office.patch(f"/users/{rep['id']}", {
        "roles": ["sales"], "teams": ["west"], "manager": "lead@example.com", "name": "Rep Two",
        "email": "rep2@example.com"}))
    assert (changed["roles"], changed["teams"], changed["manager"], changed["name"], changed["email"]) == (
        ["sales"], ["west"], "lead@example.com", "Rep Two", "rep2@example.com")
    cleared = office.ok(office.patch(f"/users/{rep['id']}", {"manager": None, "teams": []}))
    assert cleared["manager"] is None and cleared["teams"] == []
    assert office.patch(f"/users/{rep['id']}", {"email": ADMIN_EMAIL}).status_code == 409
    assert office.patch(f"/users/{rep['id']}", {"manager": "ghost@example.com"}).status_code == 422
    assert office.patch("/users/999", {"name": "x"}).status_code == 404


def test_a_manager_chain_may_not_loop(office: Any) -> None:
    a = _user(office, "a@example.com")
    _user(office, "b@example.com", manager="a@example.com")
    _user(office, "c@example.com", manager="b@example.com")
    response = office.patch(f"/users/{a['id']}", {"manager": "c@example.com"})
    assert response.status_code == 422
    problem = response.json()["errors"][0]
    assert problem["field"] == "manager" and problem["code"] == "manager_loop"
    assert problem["loop"] == ["a@example.com", "c@example.com", "b@example.com", "a@example.com"]
    assert "a@example.com → c@example.com → b@example.com → a@example.com" in problem["message"]
    itself = office.patch(f"/users/{a['id']}", {"manager": "a@example.com"})
    assert itself.status_code == 422 and itself.json()["errors"][0]["code"] == "manager_loop"
    assert office.ok(office.get(f"/users/{a['id']}"))["manager"] is None


def test_disabled_user_loses_access_at_once_tokens_and_sessions_included(office: Any) -> None:
    rep = _user(office, "rep@example.com")
    as_rep = _sign_in(office, "rep@example.com")
    assert as_rep.get("/me").status_code == 200 and as_rep.get("/me").status_code == 200  # cached now
    personal = as_rep.ok(as_rep.post("/me/tokens", {"name": "script"}), 201)["token"]
    session = office.client.post("/api/v1/auth/session", json={"email": "rep@example.com", "password": PASSWORD})
    cookie = {"Cookie": f"tessera_session={session.cookies['tessera_session']}"}
    assert office.client.get("/api/v1/me", headers=cookie).status_code == 200
    disabled = office.ok(office.patch(f"/users/{rep['id']}", {"active": False}))
    assert disabled["active"] is False
    assert as_rep.get("/me").status_code == 401
    assert office.client.get("/api/v1/me", headers={"Authorization": f"Bearer {personal}"}).status_code == 401
    assert office.client.get("/api/v1/me", headers=cookie).status_code == 401
    refused = office.client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": PASSWORD})
    assert refused.status_code == 401
    # Enabled again, the user signs in anew: what was revoked stays revoked.
    office.ok(office.patch(f"/users/{rep['id']}", {"active": True}))
    assert as_rep.get("/me").status_code == 401
    assert _sign_in(office, "rep@example.com").get("/me").status_code == 200


def test_disabling_in_another_process_is_seen_at_once(api: Any, runtime: Platform, db_url: str) -> None:
    rep = _user(api, "rep@example.com")
    as_rep = _sign_in(api, "rep@example.com")
    assert as_rep.get("/me").status_code == 200
    other = Platform(Settings(database_url=db_url))
    try:
        other.users.set_active(rep["id"], False)
    finally:
        other.dispose()
    assert as_rep.get("/me").status_code == 401


def test_a_password_change_signs_out_elsewhere_but_keeps_personal_tokens(office: Any) -> None:
    rep = _user(office, "rep@example.com")
    elsewhere = _sign_in(office, "rep@example.com")
    me = _sign_in(office, "rep@example.com")
    personal = me.ok(me.post("/me/tokens", {"name": "script"}), 201)["token"]
    assert elsewhere.get("/me").status_code == 200
    office.ok(office.patch(f"/users/{rep['id']}", {"password": "another-long-password"}))
    assert elsewhere.get("/me").status_code == 401 and me.get("/me").status_code == 401
    assert office.client.get("/api/v1/me", headers={"Authorization": f"Bearer {personal}"}).status_code == 200
    _sign_in(office, "rep@example.com", "another-long-password")


def test_the_last_active_admin_stays(office: Any, runtime: Platform) -> None:
    admin_id = office.ok(office.get("/me"))["id"]
    refused = office.patch(f"/users/{admin_id}", {"active": False})
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "last_admin"
    assert office.patch(f"/users/{admin_id}", {"roles": ["sales"]}).status_code == 409
    other = _user(office, "boss@example.com", roles=["admin"])
    assert other["is_admin"] is True
    demoted = office.ok(office.patch(f"/users/{admin_id}", {"roles": ["sales"]}))
    assert demoted["is_admin"] is False and demoted["roles"] == ["sales"]
    # is_admin and the admin role agree, and the change holds from the next request.
    assert office.get("/users").status_code == 403



def test_people_can_be_changed_on_a_database_that_has_no_admin_yet(db_url: str, tmp_path: Any) -> None:
    """The demo sets up its people (managers, teams) before anyone signed in as an admin:
    only a change to an admin can leave a database without one."""
    from tessera.auth.actor import Actor

    rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files"))
    try:
        people = rt.users.accounts
        boss = people.add(Actor.system(), {"email": "boss@example.com", "name": "Boss", "password": PASSWORD})
        rep = people.add(Actor.system(), {"email": "rep@example.com", "name": "Rep", "password": PASSWORD})
        changed = people.change(Actor.system(), int(rep["id"]), {"manager": "boss@example.com"})
        assert changed["manager"] == "boss@example.com" and boss["is_admin"] is False
    finally:
        rt.dispose()

def test_admin_flag_and_admin_role_agree(office: Any, runtime: Platform) -> None:
    created = runtime.users.create("cli@example.com", "Cli", PASSWORD, is_admin=True)
    assert office.ok(office.get(f"/users/{created}"))["roles"] == ["admin"]
    promoted = office.ok(office.patch(f"/users/{_user(office, 'x@example.com')['id']}", {"roles": ["admin"]}))
    assert promoted["is_admin"] is True
    assert _sign_in(office, "x@example.com").get("/users").status_code == 200


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/users", None), ("POST", "/users", {"email": "x@example.com", "password": PASSWORD}),
    ("GET", "/users/1", None), ("PATCH", "/users/1", {"active": False}),
    ("GET", "/teams", None), ("POST", "/teams", {"api_name": "t", "label": "T"}), ("GET", "/teams/east", None),
    ("PATCH", "/teams/east", {"label": "E"}), ("DELETE", "/teams/east", None),
    ("GET", "/roles", None), ("POST", "/roles", {"api_name": "r", "label": "R"}), ("GET", "/roles/sales", None),
    ("PATCH", "/roles/sales", {"label": "S"}), ("DELETE", "/roles/sales", None), ("GET", "/audit", None),
])
def test_only_admins_manage_identity(office: Any, method: str, path: str, body: Any) -> None:
    _user(office, "builder@example.com", roles=["builder", "sales"])
    as_builder = _sign_in(office, "builder@example.com")
    response = as_builder.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "admins" in response.json()["detail"]
