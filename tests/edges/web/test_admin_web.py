"""The admin pages at the edge, on SQLite and PostgreSQL: only admins get them (others a
refusal, the signed-out the sign-in page), every change needs the session's CSRF token, and
bad input — odd ids, unknown names, hand-made values — is answered with a message, never a
500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.auth import sessions
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

PASSWORD = "a-long-password"
PAGES = ("/admin", "/admin/users", "/admin/users/1", "/admin/teams", "/admin/teams/east", "/admin/roles",
         "/admin/roles/sales", "/admin/roles/sales?share=deal", "/admin/audit", "/admin/audit?kind=record",
         "/admin/signins", "/admin/events", "/admin/events?state=done", "/admin/plugins")


def _session(client: TestClient, email: str, password: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/session", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Cookie": f"{sessions.COOKIE}={answer.cookies[sessions.COOKIE]}",
            "X-CSRF-Token": answer.json()["csrf_token"]}


@pytest.fixture
def site(runtime: Platform) -> Iterator[TestClient]:
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "amount", "label": "Amount", "type": "integer"}]})
    runtime.users.roles.create(system, {"api_name": "sales", "label": "Sales rep"}, runtime.snapshot)
    runtime.users.teams.create(system, {"api_name": "east", "label": "East"})
    runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rita Rep", "password": PASSWORD,
                                        "roles": ["sales"]})
    with TestClient(create_app(runtime)) as client:
        yield client


def test_only_admins_get_the_admin_pages(site: TestClient) -> None:
    rep = _session(site, "rep@example.com", PASSWORD)
    admin = _session(site, "admin@example.com", "admin-password")
    for path in PAGES:
        assert site.get(path, headers=admin).status_code == 200, path
        refused = site.get(path, headers=rep)
        assert refused.status_code == 403 and "Only admins" in refused.text, path
        signed_out = site.get(path, follow_redirects=False)
        assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login"), path
    for path, form in (("/admin/teams", {"label": "West"}), ("/admin/roles/sales", {"action": "save", "label": "X"}),
                       ("/admin/signins", {"action": "token", "name": "x"}), ("/admin/events", {"event": "all"})):
        assert site.post(path, data=form, headers=rep).status_code == 403, path
        no_token = {"Cookie": admin["Cookie"]}
        assert site.post(path, data=form, headers=no_token).status_code == 403, path
    assert site.get("/admin/teams/west", headers=admin).status_code == 404  # nothing was made


@pytest.mark.parametrize(("method", "path", "form", "status", "says"), [
    ("get", "/admin/users/abc", None, 404, "no such person"),
    ("get", "/admin/users/99999999999999999999999", None, 404, "no such person"),
    ("get", "/admin/teams/nope", None, 404, "no team"),
    ("get", "/admin/roles/nope", None, 404, "no role"),
    ("get", "/admin/audit?person=x&kind=zz&object=nope&from=2026-13-01&to=bad&cursor=zzz", None, 200,
     "choose a person from the list"),
    ("get", "/admin/events?state=bogus", None, 200, "no such state"),
    ("get", "/admin/events?before=x", None, 404, "no such page"),
    ("post", "/admin/teams", {"label": ""}, 422, "must not be blank"),
    ("post", "/admin/teams/east", {"action": "add", "email": "ghost@example.com"}, 422, "there is no user"),
    ("post", "/admin/teams/east", {"action": "manager", "email": "ghost@example.com"}, 422, "there is no user"),
    ("post", "/admin/teams/east", {"action": "share", "object": "nope"}, 422, "choose an object"),
    ("post", "/admin/teams/east", {"action": "share", "object": "deal", "field": "amount", "op": "greater",
                                   "value": "abc", "teams": "east"}, 422, "is not a number"),
    ("post", "/admin/teams/east", {"action": "share", "object": "deal", "formula": "amount >", "teams": "east"},
     422, "line 1"),
    ("post", "/admin/teams/east", {"action": "share", "object": "deal", "formula": "amount > 3"}, 422,
     "name the roles or teams"),
    ("post", "/admin/teams/east", {"action": "unshare", "object": "deal", "rule": "nope"}, 404,
     "no such sharing rule"),
    ("post", "/admin/roles/sales", {"action": "permissions", "p.deal.read": "everything"}, 422,
     "is not one of"),
    ("post", "/admin/roles/admin", {"action": "permissions", "p.deal.read": "all"}, 422, "nothing was saved"),
    ("post", "/admin/signins", {"action": "revoke", "token": "99999999999999999999999"}, 404, "no such token"),
    ("post", "/admin/signins", {"action": "sign_out", "session": "zz"}, 404, "no such session"),
    ("post", "/admin/signins", {"action": "token", "name": "x", "expires_in_days": "forever"}, 422,
     "whole number of days"),
    ("post", "/admin/signins", {"action": "other"}, 404, "no such change"),
    ("post", "/admin/events", {"event": "x"}, 404, "no such event"),
    ("post", "/admin/events", {"event": "12"}, 404, "has not failed"),
])
def test_bad_input_gets_a_message_never_a_500(site: TestClient, method: str, path: str, form: Any, status: int,
                                              says: str) -> None:
    admin = _session(site, "admin@example.com", "admin-password")
    answer = site.get(path, headers=admin) if method == "get" else site.post(path, data=form, headers=admin)
    assert answer.status_code == status, answer.text[:500]
    assert says in answer.text.replace("&#39;", "'")
