"""The kernel's main path through the API, on both backends."""

from __future__ import annotations

from typing import Any

ACCOUNT = {"api_name": "account", "label": "Account",
           "fields": [{"api_name": "name", "label": "Name", "type": "text", "required": True}]}


def test_object_record_roundtrip_on_both_backends(api: Any) -> None:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    created = api.ok(api.post("/records/account", {"name": "Acme"}), 201)
    assert created["name"] == "Acme" and created["version"] == 1
    fetched = api.ok(api.get(f"/records/account/{created['id']}"))
    assert fetched == created
