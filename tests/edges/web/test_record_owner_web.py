"""A record's owner changed on its page (#17), over HTTP on SQLite and PostgreSQL: who may
edit the record gets "Change owner" and the people picker; the change goes through the
records service (as PATCH {"owner": id}), the history names both people, and whoever may
not edit the record gets no control and is refused by the server all the same."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
PEOPLE = {"ann@example.com": ("Ann Archer", "sales"), "bob@example.com": ("Bob Baker", "sales"),
          "vic@example.com": ("Vic Viewer", "viewer")}


@pytest.fixture
def site(runtime: Platform) -> Any:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for role, edit in (("sales", "own"), ("viewer", "none")):
        runtime.users.roles.create(system, {"api_name": role, "label": role.title(), "permissions": {
            "deal": {"create": True, "read": "all", "edit": edit, "delete": "none"}}}, runtime.snapshot)
    for email, (name, role) in PEOPLE.items():
        runtime.users.accounts.add(system, {"email": email, "name": name, "password": "pass-" + email,
                                            "roles": [role]})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client.app


def visitor(app: Any, email: str) -> SignedIn:
    password = "admin-password" if email == "admin@example.com" else "pass-" + email
    return SignedIn(TestClient(app, base_url="http://127.0.0.1"), email, password)


def _id(runtime: Platform, email: str) -> int:
    found = runtime.users.id_for_email(email)
    assert found is not None
    return found


def test_the_owner_is_changed_by_name_and_the_history_names_both_people(site: Any, runtime: Platform) -> None:
    ann, bob = _id(runtime, "ann@example.com"), _id(runtime, "bob@example.com")
    deal = runtime.records.create(Actor.system(), "deal", {"name": "Big", "owner": ann})
    admin = visitor(site, "admin@example.com")
    page = admin.get(f"/app/deal/{deal['id']}").text
    assert "Owner: <strong>Ann Archer</strong>" in page and "Change owner" in page
    # "Change owner" brings the picker in place; it searches people by name, as a user field's does.
    picker = admin.get(f"/app/deal/{deal['id']}/owner").text
    assert 'id="record-owner"' in picker and 'hx-get="/app/user/lookup/options"' in picker
    assert '<select name="owner" id="owner-choice"' in picker and "Save owner" in picker
    found = admin.get("/app/user/lookup/options", params={"q": "bob"}).text
    assert f'<option value="{bob}">Bob Baker &lt;bob@example.com&gt;</option>' in found

    moved = admin.post(f"/app/deal/{deal['id']}/owner", data={"owner": str(bob), "version": str(deal["version"])})
    assert moved.status_code == 204 and moved.headers["HX-Redirect"] == f"/app/deal/{deal['id']}"
    assert runtime.records.get(Actor.system(), "deal", deal["id"])["owner"] == bob
    page = admin.get(f"/app/deal/{deal['id']}").text
    assert "Owner: <strong>Bob Baker</strong>" in page
    timeline = re.sub(r"\s+", " ", page.split('class="timeline"', 1)[1].split("</ol>", 1)[0])
    assert "<strong>Owner</strong>: Ann Archer → Bob Baker" in timeline


def test_who_may_edit_their_own_records_changes_only_those(site: Any, runtime: Platform) -> None:
    ann, bob = _id(runtime, "ann@example.com"), _id(runtime, "bob@example.com")
    mine = runtime.records.create(Actor.system(), "deal", {"name": "Ann's", "owner": ann})
    theirs = runtime.records.create(Actor.system(), "deal", {"name": "Bob's", "owner": bob})
    seller = visitor(site, "ann@example.com")
    assert "Change owner" in seller.get(f"/app/deal/{mine['id']}").text
    other = seller.get(f"/app/deal/{theirs['id']}").text
    assert "Owner: <strong>Bob Baker</strong>" in other and "Change owner" not in other
    # The server refuses what the page does not offer, beside where the control would be.
    refused = seller.post(f"/app/deal/{theirs['id']}/owner", data={"owner": str(ann)})
    assert refused.status_code == 403 and "You may not change this Deal record." in refused.text
    assert 'id="record-owner"' in refused.text and "Change owner" not in refused.text
    assert runtime.records.get(Actor.system(), "deal", theirs["id"])["owner"] == bob
    # Handing her own record to Bob works; after that it is no longer hers to change.
    assert seller.post(f"/app/deal/{mine['id']}/owner", data={"owner": str(bob)}).status_code == 204
    assert "Change owner" not in seller.get(f"/app/deal/{mine['id']}").text


def test_a_reader_gets_no_control_and_the_server_refuses_them(site: Any, runtime: Platform) -> None:
    ann, vic = _id(runtime, "ann@example.com"), _id(runtime, "vic@example.com")
    deal = runtime.records.create(Actor.system(), "deal", {"name": "Big", "owner": ann})
    reader = visitor(site, "vic@example.com")
    page = reader.get(f"/app/deal/{deal['id']}").text
    assert "Owner: <strong>Ann Archer</strong>" in page and "Change owner" not in page
    assert "Save owner" not in reader.get(f"/app/deal/{deal['id']}/owner").text
    assert reader.post(f"/app/deal/{deal['id']}/owner", data={"owner": str(vic)}).status_code == 403
    assert runtime.records.get(Actor.system(), "deal", deal["id"])["owner"] == ann


def test_a_blank_choice_an_unknown_person_or_a_stale_page_is_explained(site: Any, runtime: Platform) -> None:
    ann = _id(runtime, "ann@example.com")
    deal = runtime.records.create(Actor.system(), "deal", {"name": "Big", "owner": ann})
    admin = visitor(site, "admin@example.com")
    blank = admin.post(f"/app/deal/{deal['id']}/owner", data={"owner": ""})
    assert blank.status_code == 422 and "Pick the person who should own the record." in blank.text
    assert 'role="alert"' in blank.text and 'class="owner-form"' in blank.text  # the picker stays open
    nobody = admin.post(f"/app/deal/{deal['id']}/owner", data={"owner": "99999"})
    assert nobody.status_code == 422 and "The owner was not changed: no active user with id 99999." in nobody.text
    runtime.records.update(Actor.system(), "deal", deal["id"], {"name": "Bigger"}, None)
    stale = admin.post(f"/app/deal/{deal['id']}/owner", data={"owner": str(ann), "version": str(deal["version"])})
    assert stale.status_code == 412 and "Reload the page" in stale.text
    assert runtime.records.get(Actor.system(), "deal", deal["id"])["owner"] == ann


def test_the_api_writes_the_owner_under_the_same_rule(site: Any, runtime: Platform) -> None:
    ann, bob = _id(runtime, "ann@example.com"), _id(runtime, "bob@example.com")
    deal = runtime.records.create(Actor.system(), "deal", {"name": "Big", "owner": bob})
    seller = visitor(site, "ann@example.com")
    refused = seller.send("PATCH", f"/api/v1/records/deal/{deal['id']}", {"owner": ann})
    assert refused.status_code == 403
    admin = visitor(site, "admin@example.com")
    moved = admin.send("PATCH", f"/api/v1/records/deal/{deal['id']}", {"owner": ann})
    assert moved.status_code == 200 and moved.json()["owner"] == ann
