"""The web pages over HTTP (no browser): signing in and out, pages refused or redirected,
the preview of a form as a role, CSV exports, board moves and lookup searches, each
through the same services and permissions as the API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "margin", "label": "Margin", "type": "integer"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": "new"}, {"value": "won"}]},
], "validation_rules": [{"name": "won_needs_margin", "error_if": 'AND(stage = "won", ISBLANK(margin))',
                         "message": "A won deal needs its margin", "field": "margin"}]}




@pytest.fixture
def site(runtime: Any) -> Any:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    runtime.users.roles.create(system, {"api_name": "viewer", "label": "Viewer", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "all", "delete": "none",
                 "fields": {"margin": "hidden"}}}}, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": "viewer@example.com", "name": "Viewer",
                                        "password": "viewer-password", "roles": ["viewer"]})
    for i in range(3):
        runtime.records.create(system, "deal", {"name": f"Deal {i}", "margin": 10 * i, "stage": "new"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def test_signed_out_pages_lead_to_the_sign_in_page_and_back(site: TestClient) -> None:
    answer = site.get("/app/deal", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/app/deal"
    wrong = site.post("/login", data={"email": "admin@example.com", "password": "nope", "next": "/app/deal"})
    assert wrong.status_code == 401 and "Sign in" in wrong.text
    right = site.post("/login", data={"email": "admin@example.com", "password": "admin-password",
                                      "next": "https://evil.example/"}, follow_redirects=False)
    assert right.headers["location"] == "/app"  # never sent off the site


def test_a_user_without_the_builder_role_cannot_open_the_builder(site: TestClient) -> None:
    viewer = SignedIn(site, "viewer@example.com", "viewer-password")
    answer = viewer.get("/builder")
    assert answer.status_code == 403 and "builder" in answer.text.lower()


def test_a_changing_page_post_without_the_csrf_token_is_refused(site: TestClient) -> None:
    viewer = SignedIn(site, "viewer@example.com", "viewer-password")
    refused = viewer.client.post("/app/deal/bulk", data={"ids": ["1"], "action": "delete"})
    assert refused.status_code == 403
    assert viewer.post("/app/deal/bulk", data={"ids": ["1"], "action": "update", "field": "name",
                                               "value": "x"}).status_code == 200


def test_the_builder_previews_a_form_as_a_role_sees_it(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    mine = admin.get("/builder/objects/deal/preview").text
    theirs = admin.get("/builder/objects/deal/preview", params={"role": "viewer"}).text
    assert 'name="margin"' in mine and 'name="margin"' not in theirs and 'name="name"' in theirs


def test_exports_and_lists_leave_out_what_a_user_may_not_see(site: TestClient) -> None:
    viewer = SignedIn(site, "viewer@example.com", "viewer-password")
    csv = viewer.get("/app/deal/export.csv", params={"formula": 'name <> "Deal 0"'})
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "id,Name,Stage,Owner" and len(lines) == 3
    page = viewer.get("/app/deal").text
    assert "Margin" not in page and "Deal 2" in page


def test_a_board_move_goes_through_the_save_pipeline(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    refused = admin.post("/app/deal/1/move", params={"field": "stage"}, data={"value": "won", "version": "1"})
    assert refused.status_code == 200  # Deal 0 has a margin of 0: not blank
    stale = admin.post("/app/deal/2/move", params={"field": "stage"}, data={"value": "won", "version": "9"})
    assert stale.status_code == 412 and "someone else" in stale.json()["detail"]


def test_lookups_search_records_and_users_by_what_was_typed(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    found = admin.get("/app/deal/lookup/options", params={"q": "deal 2"}).text
    assert "Deal 2" in found and "Deal 1" not in found
    people = admin.get("/app/user/lookup/options", params={"q": "view"}).text
    assert "viewer@example.com" in people and "admin@example.com" not in people
