"""Signing in and API tokens, on SQLite and PostgreSQL: the token endpoint as before, the
limit on failed sign-ins per e-mail and per address (429 with Retry-After, even with the
right password, until the window passes), and personal tokens shown once, listed, used and
revoked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.auth import attempts
from tessera.data.tables import signin_attempts, tokens
from tessera.runtime.platform import Platform

ADMIN_EMAIL = "admin@example.com"  # the admin of the `runtime` fixture
ADMIN_PASSWORD = "admin-password"
PASSWORD = "a-long-password"


def _token(client: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def _age_attempts(runtime: Platform, by: timedelta) -> None:
    """Move every recorded attempt back in time, as if `by` had passed."""
    with runtime.write() as conn:
        for row in conn.execute(sa.select(signin_attempts.c.id, signin_attempts.c.at)).all():
            conn.execute(sa.update(signin_attempts).where(signin_attempts.c.id == row.id).values(at=row.at - by))


def test_the_token_endpoint_answers_as_before(client: Any) -> None:
    response = _token(client)
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "token_type"} and response.json()["token_type"] == "bearer"
    wrong = _token(client, password="wrong-password")
    assert wrong.status_code == 401 and wrong.json()["detail"] == "The e-mail or the password is wrong."
    assert wrong.headers["www-authenticate"] == "Bearer"
    unknown = _token(client, email="nobody@example.com")
    assert unknown.status_code == 401 and unknown.json()["detail"] == wrong.json()["detail"]
    assert client.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL}).status_code == 422


def test_after_five_failures_even_the_right_password_waits(client: Any, runtime: Platform) -> None:
    for _ in range(attempts.LIMIT):
        assert _token(client, password="wrong-password").status_code == 401
    refused = _token(client)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    wait = int(refused.headers["retry-after"])
    assert 14 * 60 < wait <= 15 * 60 and refused.json()["retry_after"] == wait
    assert "try again in 15 minutes" in refused.json()["detail"]
    session = client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert session.status_code == 429 and "set-cookie" not in session.headers
    # Refused attempts do not count, so waiting the window out is enough.
    _age_attempts(runtime, attempts.WINDOW + timedelta(seconds=1))
    assert _token(client).status_code == 200


def test_the_wait_ends_when_the_oldest_failure_leaves_the_window(client: Any, runtime: Platform) -> None:
    for _ in range(attempts.LIMIT - 1):
        _token(client, password="wrong-password")
    _age_attempts(runtime, timedelta(minutes=10))
    _token(client, password="wrong-password")
    refused = _token(client)
    assert refused.status_code == 429 and 4 * 60 < int(refused.headers["retry-after"]) <= 5 * 60


def test_failures_are_counted_per_address_across_e_mails(runtime: Platform) -> None:
    runtime.users.create("rep@example.com", "Rep", PASSWORD)
    app = create_app(runtime)
    with TestClient(app, client=("203.0.113.7", 4000)) as guesser, \
            TestClient(app, client=("198.51.100.1", 4000)) as rep:
        for i in range(attempts.LIMIT):
            assert _token(guesser, email=f"user{i}@example.com").status_code == 401
        assert _token(guesser, "rep@example.com", PASSWORD).status_code == 429
        # From elsewhere, the same account signs in.
        assert _token(rep, "rep@example.com", PASSWORD).status_code == 200


def test_failures_are_counted_per_e_mail_across_addresses_and_reset_by_success(runtime: Platform) -> None:
    app = create_app(runtime)
    clients = [TestClient(app, client=(f"192.0.2.{i}", 4000)) for i in range(attempts.LIMIT + 1)]
    for client in clients[:attempts.LIMIT - 1]:
        assert _token(client, password="wrong-password").status_code == 401
    assert _token(clients[-1]).status_code == 200  # a success clears the e-mail's count
    for client in clients[:attempts.LIMIT]:
        assert _token(client, password="wrong-password").status_code == 401
    assert _token(clients[-1]).status_code == 429


def test_personal_tokens_are_shown_once_listed_used_and_revoked(api: Any, runtime: Platform) -> None:
    response = api.post("/me/tokens", {"name": "nightly export", "expires_in_days": 7})
    made = api.ok(response, 201)
    secret = made.pop("token")
    assert made["name"] == "nightly export" and made["personal"] is True and made["last_used_at"] is None
    listed = api.ok(api.get("/me/tokens"))["data"]
    assert secret not in str(listed)
    assert [t["name"] for t in listed] == ["nightly export", "sign-in"]
    assert [t["current"] for t in listed] == [False, True]
    with runtime.read() as conn:
        stored = conn.execute(sa.select(tokens.c.token_hash).where(tokens.c.id == made["id"])).scalar()
    assert stored != secret and len(stored) == 64
    as_script = type(api)(api.client, secret)
    assert as_script.ok(as_script.get("/me"))["email"] == ADMIN_EMAIL
    used = {t["id"]: t for t in api.ok(api.get("/me/tokens"))["data"]}[made["id"]]
    assert used["last_used_at"] is not None
    assert api.delete(f"/me/tokens/{made['id']}").status_code == 204
    assert as_script.get("/me").status_code == 401
    assert api.delete(f"/me/tokens/{made['id']}").status_code == 404
    assert [t["name"] for t in api.ok(api.get("/me/tokens"))["data"]] == ["sign-in"]


def test_bad_token_requests_and_other_peoples_tokens(api: Any) -> None:
    bad = api.post("/me/tokens", {"name": "", "expires_in_days": 0, "scope": "all"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "expires_in_days", "scope"}
    api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD}), 201)
    rep = type(api)(api.client, _token(api.client, "rep@example.com", PASSWORD).json()["access_token"])
    mine = api.ok(api.post("/me/tokens", {"name": "mine"}), 201)
    assert rep.delete(f"/me/tokens/{mine['id']}").status_code == 404
    assert [t["name"] for t in rep.ok(rep.get("/me/tokens"))["data"]] == ["sign-in"]


def test_revoking_the_token_in_use_signs_out(api: Any) -> None:
    current = next(t for t in api.ok(api.get("/me/tokens"))["data"] if t["current"])
    assert api.delete(f"/me/tokens/{current['id']}").status_code == 204
    assert api.get("/me").status_code == 401
