"""Formula boxes' suggestions through the API, on SQLite and PostgreSQL (#17 defect 5): a
field found by a word of its label inserts its name, a select's options after `=` are
offered by label and insert the stored value quoted, functions come with their signatures
— and a field hidden from the caller is never offered, by name, through a lookup or as a
child list of an object they may not read."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "rating", "label": "Credit rating", "type": "select",
     "options": [{"value": "aaa", "label": "Top"}, {"value": "junk", "label": "Risky"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "prospecting", "label": "Prospecting"}, {"value": "closed_won", "label": "Closed won"},
        {"value": "closed_lost", "label": "Closed lost"}]},
    {"api_name": "margin", "label": "Margin", "type": "currency"},
    {"api_name": "close_on", "label": "Expected close date", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none", "fields": {"margin": "hidden"}},
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none",
                "fields": {"rating": "hidden"}}}}
STRANGER = {"api_name": "stranger", "label": "Stranger", "permissions": {
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}


def _person(api: Any, email: str, role: str) -> Any:
    api.ok(api.post("/users", {"email": email, "name": email.split("@")[0], "password": "a-long-password",
                               "roles": [role]}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"})
    assert token.status_code == 200, token.text
    return type(api)(api.client, token.json()["access_token"])


@pytest.fixture
def office(api: Any) -> dict[str, Any]:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/roles", REP), 201)
    api.ok(api.post("/roles", STRANGER), 201)
    return {"admin": api, "rep": _person(api, "rep@example.com", "rep"),
            "stranger": _person(api, "stranger@example.com", "stranger")}


def complete(client: Any, obj: str, text: str, cursor: int | None = None) -> list[dict[str, Any]]:
    body = {"object": obj, "expression": text, "cursor": len(text) if cursor is None else cursor}
    return client.ok(client.post("/formula/complete", body))["completions"]


def test_fields_by_label_options_by_label_and_functions_with_signatures(office: dict[str, Any]) -> None:
    admin = office["admin"]
    stage = complete(admin, "deal", "Sta")[0]
    assert stage == {"label": "Stage", "kind": "field", "detail": "stage · choice", "insert": "stage", "replace": 3}
    assert complete(admin, "deal", "date")[0]["insert"] == "close_on"
    options = complete(admin, "deal", "stage =")
    assert [(o["label"], o["insert"]) for o in options] == [
        ("Prospecting", ' "prospecting"'), ("Closed won", ' "closed_won"'), ("Closed lost", ' "closed_lost"')]
    typed = complete(admin, "deal", 'stage = "closed w')
    assert [(o["label"], o["insert"], o["replace"]) for o in typed] == [("Closed won", '"closed_won"', 9)]
    # In the middle of a formula: what is before the cursor counts.
    middle = complete(admin, "deal", "stage = AND margin > 0", cursor=len("stage = "))
    assert [o["label"] for o in middle][:1] == ["Prospecting"]
    functions = [c for c in complete(admin, "deal", "DATEA") if c["kind"] == "function"]
    assert functions[0]["insert"] == "DATEADD(" and functions[0]["detail"].startswith("DATEADD(")
    assert "deals" in {c["insert"] for c in complete(admin, "account", "Dea")}


def test_hidden_fields_are_never_offered(office: dict[str, Any]) -> None:
    rep, admin = office["rep"], office["admin"]
    assert "margin" in {c["insert"] for c in complete(admin, "deal", "mar")}
    assert "margin" not in {c["insert"] for c in complete(rep, "deal", "mar")}
    assert "margin" not in {c["insert"] for c in complete(rep, "deal", "")}
    # Through a lookup: the target's hidden field, and its options.
    assert "rating" in {c["insert"] for c in complete(admin, "deal", "account.")}
    assert "rating" not in {c["insert"] for c in complete(rep, "deal", "account.")}
    assert complete(rep, "deal", "account.rating = ") == []
    assert [o["label"] for o in complete(admin, "deal", "account.rating = ")] == ["Top", "Risky"]
    # A child list of records the caller may not read is not offered; its object is refused.
    assert "deals" in {c["insert"] for c in complete(rep, "account", "dea")}
    assert "deals" not in {c["insert"] for c in complete(office["stranger"], "account", "dea")}
    refused = office["stranger"].post("/formula/complete", {"object": "deal", "expression": "s", "cursor": 1})
    assert refused.status_code == 403, refused.text


def test_bad_requests_are_refused_in_words(office: dict[str, Any]) -> None:
    admin = office["admin"]
    assert admin.post("/formula/complete", {"object": "deal", "expression": "x", "cursor": 9}).status_code == 422
    assert admin.post("/formula/complete", {"object": "deal", "expression": 1, "cursor": 0}).status_code == 422
    assert admin.post("/formula/complete", {"expression": "x", "cursor": 0}).status_code == 422
    assert admin.post("/formula/complete", {"object": "nope", "expression": "x", "cursor": 1}).status_code == 404
