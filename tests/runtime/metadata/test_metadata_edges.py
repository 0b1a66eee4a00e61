"""Edges of object changes: unsetting properties, no-op changes, versions in the body,
and objects whose lookup target was force-deleted."""

from __future__ import annotations

from typing import Any

DEAL = {"api_name": "deal", "label": "Deal", "name_field": "name",
        "fields": [{"api_name": "name", "label": "Name", "type": "text"},
                   {"api_name": "email", "label": "E-mail", "type": "email", "unique": True}]}


def test_null_removes_an_optional_object_property(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    changed = api.ok(api.patch("/meta/objects/deal", {"name_field": None}))
    assert "name_field" not in changed


def test_unchanged_object_patch_makes_no_new_version(api: Any) -> None:
    created = api.ok(api.post("/meta/objects", DEAL), 201)
    again = api.ok(api.patch("/meta/objects/deal", {"name_field": "name", "label": "Deal"}))
    assert again["version"] == created["version"]
    assert len(api.ok(api.get("/meta/objects/deal/history"))) == 1


def test_object_patch_with_a_stale_version_in_the_body_is_refused(api: Any) -> None:
    created = api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.patch("/meta/objects/deal", {"label": "Opportunity"}))
    stale = api.patch("/meta/objects/deal", {"label": "Deal again", "version": created["version"]})
    assert stale.status_code == 412
    assert api.ok(api.get("/meta/objects/deal"))["label"] == "Opportunity"


def test_object_keeps_working_after_its_lookup_target_is_force_deleted(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "account", "label": "Account",
                                      "fields": [{"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    api.ok(api.post("/meta/objects", {**DEAL, "fields": [
        *DEAL["fields"], {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}), 201)
    assert api.delete("/meta/objects/account", params={"force": "true"}).status_code == 204
    changed = api.ok(api.patch("/meta/objects/deal", {"label": "Opportunity"}))
    assert changed["label"] == "Opportunity"
    assert api.ok(api.post("/records/deal", {"name": "Big"}), 201)["account"] is None


def test_unique_email_ignores_letter_case(api: Any) -> None:
    api.ok(api.post("/meta/objects", DEAL), 201)
    first = api.ok(api.post("/records/deal", {"name": "A", "email": "Info@Acme.Example"}), 201)
    assert first["email"] == "info@acme.example"
    assert api.post("/records/deal", {"name": "B", "email": "info@acme.example"}).status_code == 409
