"""Teams through the API, on SQLite and PostgreSQL: members set on the team or on the user,
listed with the team, in the sign-in at once, and deleting a team with members only by force."""

from __future__ import annotations

from typing import Any

ADMIN_EMAIL = "admin@example.com"  # the admin of the `runtime` fixture
PASSWORD = "a-long-password"


def _sign_in(api: Any, email: str) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def test_create_with_members_and_list_them(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": PASSWORD}), 201)
    response = api.post("/teams", {"api_name": "east", "label": "East", "description": "Eastern region",
                                   "members": ["Rep@example.com", ADMIN_EMAIL]})
    team = api.ok(response, 201)
    assert response.headers["location"] == "/api/v1/teams/east"
    assert [m["email"] for m in team["members"]] == [ADMIN_EMAIL, "rep@example.com"]
    assert set(team["members"][1]) == {"id", "email", "name", "active"}
    assert team["description"] == "Eastern region"
    assert api.ok(api.get("/teams/east")) == team
    assert api.ok(api.get("/teams"))["data"] == [team]
    assert _sign_in(api, "rep@example.com").ok(_sign_in(api, "rep@example.com").get("/me"))["teams"] == ["east"]


def test_bad_team_documents_name_each_path(api: Any) -> None:
    bad = api.post("/teams", {"api_name": "East Coast", "label": "", "members": ["ghost@example.com"], "x": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"/api_name", "/label", "/x"}
    ghost = api.post("/teams", {"api_name": "east", "label": "East", "members": ["ghost@example.com"]})
    assert ghost.status_code == 422 and ghost.json()["errors"] == [
        {"field": "/members/0", "message": "there is no user 'ghost@example.com'", "code": "unknown_user"}]
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)
    assert api.post("/teams", {"api_name": "east", "label": "Again"}).status_code == 409
    assert api.get("/teams/west").status_code == 404


def test_changing_members_reaches_signed_in_users_on_the_next_request(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD}), 201)
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)
    rep = _sign_in(api, "rep@example.com")
    assert rep.ok(rep.get("/me"))["teams"] == []
    changed = api.ok(api.patch("/teams/east", {"label": "East coast", "members": ["rep@example.com"]}))
    assert changed["label"] == "East coast" and [m["email"] for m in changed["members"]] == ["rep@example.com"]
    assert rep.ok(rep.get("/me"))["teams"] == ["east"]
    api.ok(api.patch("/teams/east", {"members": []}))
    assert rep.ok(rep.get("/me"))["teams"] == []
    renamed = api.patch("/teams/east", {"api_name": "eastern"})
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["code"] == "immutable"


def test_a_team_with_members_is_deleted_only_with_force(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD, "teams": []}), 201)
    api.ok(api.post("/teams", {"api_name": "east", "label": "East", "members": ["rep@example.com"]}), 201)
    api.ok(api.post("/teams", {"api_name": "empty", "label": "Empty"}), 201)
    refused = api.delete("/teams/east")
    assert refused.status_code == 409 and refused.json()["errors"][0]["members"] == ["rep@example.com"]
    assert api.delete("/teams/empty").status_code == 204
    assert api.delete("/teams/east", params={"force": "true"}).status_code == 204
    assert api.ok(api.get("/teams"))["data"] == []
    rep = _sign_in(api, "rep@example.com")
    assert rep.ok(rep.get("/me"))["teams"] == []
