"""The conversions' pages on both databases: the record page's fragment (nothing for an
object without conversions, the button, a refusal in words — a target's validation, a
second run) and the builder's pages (list, editor with problems in words, not JSON;
builders only; bad JSON is a message, never a 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor

SYSTEM = Actor.system()
OBJECTS = [
    {"api_name": "account", "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True}],
     "validation_rules": [{"name": "no_x", "error_if": 'name = "X"', "message": "X is not a company name",
                           "field": "name"}]},
    {"api_name": "lead", "label": "Lead", "name_field": "last_name", "fields": [
        {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
        {"api_name": "company", "label": "Company", "type": "text"}]},
    {"api_name": "note", "label": "Note", "fields": [{"api_name": "name", "label": "Name", "type": "text"}]},
]
CONVERSION = {"api_name": "convert_lead", "label": "Convert lead", "object": "lead", "button_label": "Convert",
              "targets": [{"key": "account", "object": "account", "fields": {"name": "company"}}]}


@pytest.fixture
def site(runtime: Any) -> Any:
    for doc in OBJECTS:
        runtime.metadata.create_object(SYSTEM, doc)
    runtime.documents.create(SYSTEM, "conversions", CONVERSION)
    runtime.users.accounts.add(SYSTEM, {"email": "rep@example.com", "name": "Rep", "password": "rep-password"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def admin(site: TestClient) -> SignedIn:
    return SignedIn(site, "admin@example.com", "admin-password")


def test_the_record_fragment_offers_the_button_and_says_why_a_run_is_refused(admin: SignedIn, runtime: Any) -> None:
    note = runtime.records.create(SYSTEM, "note", {"name": "n"})
    assert admin.get(f"/app/note/{note['id']}/conversions").text == ""
    bad = runtime.records.create(SYSTEM, "lead", {"last_name": "Doe", "company": "X"})
    fragment = admin.get(f"/app/lead/{bad['id']}/conversions").text
    assert 'data-convert="convert_lead"' in fragment and ">Convert</button>" in fragment
    refused = admin.post(f"/app/lead/{bad['id']}/convert/convert_lead")
    assert refused.status_code == 422
    assert "The Account could not be created" in refused.text and "X is not a company name." in refused.text
    good = runtime.records.create(SYSTEM, "lead", {"last_name": "Roe", "company": "Acme"})
    done = admin.post(f"/app/lead/{good['id']}/convert/convert_lead")
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/app/lead/{good['id']}"
    shown = admin.get(f"/app/lead/{good['id']}/conversions").text
    assert "Convert lead" in shown and 'href="/app/account/' in shown and ">Convert</button>" not in shown
    again = admin.post(f"/app/lead/{good['id']}/convert/convert_lead")
    assert again.status_code == 409 and "Lead Roe was converted already" in again.text
    assert admin.post(f"/app/lead/{good['id']}/convert/nope").status_code == 404


def test_the_builder_pages_list_edit_and_refuse_in_words(admin: SignedIn, site: TestClient) -> None:
    listed = admin.get("/builder/conversions")
    assert listed.status_code == 200 and "Convert lead" in listed.text and "once per record" in listed.text
    page = admin.get("/builder/conversions/convert_lead")
    assert page.status_code == 200 and "&#34;targets&#34;" in page.text
    broken = admin.post("/builder/conversions", data={"document": "{not json"})
    assert broken.status_code == 422 and "line 1, column 2" in broken.text
    wrong = {**CONVERSION, "api_name": "other", "targets": [{"key": "account", "object": "acount"}]}
    refused = admin.post("/builder/conversions", data={"document": json.dumps(wrong)})
    assert refused.status_code == 422 and "Target 1 (account) → object" in refused.text
    changed = {**CONVERSION, "label": "Make an account"}
    saved = admin.post("/builder/conversions", data={"name": "convert_lead", "document": json.dumps(changed)})
    assert saved.status_code == 204 and saved.headers["HX-Redirect"] == "/builder/conversions/convert_lead?saved=1"
    assert "Make an account" in admin.get("/builder/conversions").text
    assert admin.post("/builder/conversions/convert_lead/delete").status_code == 204
    assert "No conversions yet." in admin.get("/builder/conversions").text
    rep = SignedIn(site, "rep@example.com", "rep-password")
    assert rep.get("/builder/conversions").status_code == 403
