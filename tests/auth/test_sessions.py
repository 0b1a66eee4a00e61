"""Web sign-in sessions, on SQLite and PostgreSQL: the signed cookie and its flags, CSRF on
every request that changes something, signing out, tampered and ended sessions, and a
disabled user's session stopping at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.auth import sessions
from tessera.runtime.platform import Platform

ADMIN_EMAIL = "admin@example.com"  # the admin of the `runtime` fixture
ADMIN_PASSWORD = "admin-password"
PASSWORD = "a-long-password"


def _start(client: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> tuple[dict[str, str], str]:
    """Sign in: the Cookie header to send and the CSRF token."""
    response = client.post("/api/v1/auth/session", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Cookie": f"{sessions.COOKIE}={response.cookies[sessions.COOKIE]}"}, response.json()["csrf_token"]


@pytest.fixture
def local(runtime: Platform) -> Iterator[TestClient]:
    """A client that talks to the server as http://localhost, like a developer's browser."""
    with TestClient(create_app(runtime), base_url="http://localhost") as client:
        yield client


def test_signing_in_sets_an_httponly_lax_cookie_and_answers_the_csrf_token(client: Any) -> None:
    response = client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"csrf_token", "expires_at", "user"} and body["user"]["email"] == ADMIN_EMAIL
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "path", "max-age"} <= flags  # not plain http on localhost: Secure
    assert "samesite=lax" in cookie.lower()
    secret = response.cookies[sessions.COOKIE]
    assert secret not in str(body)


def test_the_cookie_is_not_secure_only_on_plain_http_to_localhost(local: TestClient) -> None:
    response = local.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert "secure" not in response.headers["set-cookie"].lower()
    # The browser sends it back by itself.
    assert local.get("/api/v1/me").json()["email"] == ADMIN_EMAIL


def test_a_session_signs_in_reads_and_with_csrf_writes(client: Any) -> None:
    cookie, csrf = _start(client)
    assert client.get("/api/v1/me", headers=cookie).json()["email"] == ADMIN_EMAIL
    assert client.get("/api/v1/meta/objects", headers=cookie).status_code == 200
    info = client.get("/api/v1/auth/session", headers=cookie).json()
    assert info["csrf_token"] == csrf and info["user"]["email"] == ADMIN_EMAIL
    team = {"api_name": "east", "label": "East"}
    missing = client.post("/api/v1/teams", json=team, headers=cookie)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["detail"]
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.post("/api/v1/teams", json=team, headers={**cookie, "X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    for method in ("PATCH", "DELETE"):
        assert client.request(method, "/api/v1/teams/east", headers=cookie, json={}).status_code == 403
    assert client.get("/api/v1/teams", headers=cookie).json()["data"] == []  # nothing was made
    made = client.post("/api/v1/teams", json=team, headers={**cookie, "X-CSRF-Token": csrf})
    assert made.status_code == 201


def test_bearer_tokens_need_no_csrf_token(api: Any) -> None:
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)


def test_signing_out_ends_the_session_at_once(client: Any) -> None:
    cookie, csrf = _start(client)
    other_cookie, _ = _start(client)
    assert client.delete("/api/v1/auth/session", headers=cookie).status_code == 403  # CSRF protects sign-out too
    out = client.delete("/api/v1/auth/session", headers={**cookie, "X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert sessions.COOKIE in out.headers["set-cookie"] and 'max-age=0' in out.headers["set-cookie"].lower()
    ended = client.get("/api/v1/me", headers=cookie)
    assert ended.status_code == 401 and ended.json()["detail"] == sessions.ENDED
    assert client.get("/api/v1/me", headers=other_cookie).status_code == 200  # other sessions go on


def test_tampered_or_foreign_cookies_are_refused(client: Any, runtime: Platform) -> None:
    cookie, _ = _start(client)
    value = cookie["Cookie"].split("=", 1)[1]
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert client.get("/api/v1/me", headers={"Cookie": f"{sessions.COOKIE}={tampered}"}).status_code == 401
    forged = sessions.sign_cookie("another-secret-key-entirely", "made-up-session")
    assert client.get("/api/v1/me", headers={"Cookie": f"{sessions.COOKIE}={forged}"}).status_code == 401
    unknown = sessions.sign_cookie(runtime.settings.secret_key, "made-up-session")
    assert client.get("/api/v1/me", headers={"Cookie": f"{sessions.COOKIE}={unknown}"}).status_code == 401


def test_a_disabled_users_session_stops_at_once(api: Any) -> None:
    rep = api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD}), 201)
    cookie, _ = _start(api.client, "rep@example.com", PASSWORD)
    assert api.client.get("/api/v1/me", headers=cookie).status_code == 200
    assert api.client.get("/api/v1/me", headers=cookie).status_code == 200  # cached now
    api.ok(api.patch(f"/users/{rep['id']}", {"active": False}))
    assert api.client.get("/api/v1/me", headers=cookie).status_code == 401
    assert api.client.get("/api/v1/meta/objects", headers=cookie).status_code == 401


def test_a_session_sees_role_changes_on_the_next_request(api: Any) -> None:
    rep = api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD}), 201)
    cookie, _ = _start(api.client, "rep@example.com", PASSWORD)
    assert api.client.get("/api/v1/me", headers=cookie).json()["is_builder"] is False
    api.ok(api.patch(f"/users/{rep['id']}", {"roles": ["builder"]}))
    assert api.client.get("/api/v1/me/permissions", headers=cookie).json()["is_builder"] is True


def test_wrong_passwords_and_bad_bodies(client: Any) -> None:
    wrong = client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": "nope-nope"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL}).status_code == 422


def test_a_bearer_token_wins_over_a_cookie(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD}), 201)
    cookie, _ = _start(api.client, "rep@example.com", PASSWORD)
    both = api.client.get("/api/v1/me", headers={**cookie, **api.headers})
    assert both.json()["email"] == ADMIN_EMAIL
    # Signed in by token, there is no session to describe.
    assert api.get("/auth/session").status_code == 404
