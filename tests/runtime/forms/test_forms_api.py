"""Forms at work, through `/api/v1/forms/{object}`: the server works out which fields are
visible and required as values change, checks a submission against the form, saves it
through the save pipeline, and describes what the form accepts as JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from tessera.auth.actor import Actor
from tessera.errors import StaleVersion

ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "tier", "label": "Tier", "type": "select", "options": [{"value": "gold"}, {"value": "silver"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "kind", "label": "Kind", "type": "select", "options": [{"value": "new"}, {"value": "renewal"}]},
    {"api_name": "lost_reason", "label": "Lost reason", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
    {"api_name": "close_date", "label": "Close", "type": "date"},
    {"api_name": "notes", "label": "Notes", "type": "long_text"},
    {"api_name": "big", "label": "Big", "type": "formula", "expression": "amount > 10000"},
], "validation_rules": [
    {"name": "no_negative", "error_if": "amount < 0", "message": "Amount cannot be negative", "field": "amount"}]}
FORM = {"api_name": "deal_main", "label": "Deal", "object": "deal", "default": True, "sections": [
    {"label": "Deal", "columns": [
        {"fields": [{"field": "name"}, {"field": "amount"}, {"field": "stage", "default": "new"},
                    {"field": "kind"}]},
        {"fields": [
            {"field": "lost_reason", "visible_if": 'stage = "lost"', "required_if": 'stage = "lost"'},
            {"field": "account", "required_if": "big"},
            {"field": "close_date", "default_formula": "DATE(2030, 1, 31)", "read_only": True},
            {"field": "notes", "visible_if": 'account.tier = "gold"'},
        ]}]}],
    "buttons": [{"label": "Escalate", "action": "escalate", "visible_if": "big"}]}
RENEWAL = {"api_name": "renewal", "label": "Renewal", "object": "deal", "applies_if": 'kind = "renewal"',
           "sections": [{"label": "Renewal", "columns": [{"fields": [
               {"field": "name"}, {"field": "kind"}, {"field": "account", "required": True}]}]}]}
SUPPORT = {"api_name": "support", "label": "Support view", "object": "deal", "roles": ["support"], "priority": -1,
           "sections": [{"label": "Deal", "columns": [{"fields": [{"field": "name"}, {"field": "notes"}]}]}]}


@pytest.fixture
def crm(api: Any, client: Any) -> Any:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/meta/forms", FORM), 201)
    return api


def fields(answer: dict[str, Any], *names: str) -> dict[str, tuple[bool, bool, bool]]:
    return {n: tuple(answer["fields"][n].values()) for n in names}  # (visible, required, read_only)


def test_visible_and_required_follow_the_values_being_typed(crm: Any) -> None:
    new = crm.ok(crm.post("/forms/deal/state", {}))
    assert new["form"] == "deal_main" and new["record_id"] is None
    assert fields(new, "lost_reason", "account", "close_date") == {
        "lost_reason": (False, False, False), "account": (True, False, False), "close_date": (True, False, True)}
    assert new["defaults"] == {"stage": "new", "close_date": "2030-01-31"}
    lost = crm.ok(crm.post("/forms/deal/state", {"values": {"stage": "lost"}}))
    assert fields(lost, "lost_reason")["lost_reason"] == (True, True, False)
    big = crm.ok(crm.post("/forms/deal/state", {"values": {"amount": "20000"}}))
    assert big["fields"]["account"]["required"] and big["buttons"] == {"escalate": True}
    assert crm.ok(crm.post("/forms/deal/state", {"values": {"amount": "20"}}))["buttons"] == {"escalate": False}


def test_conditions_read_related_records_and_the_stored_record(crm: Any) -> None:
    gold = crm.ok(crm.post("/records/account", {"name": "Acme", "tier": "gold"}), 201)
    silver = crm.ok(crm.post("/records/account", {"name": "Initech", "tier": "silver"}), 201)
    assert crm.ok(crm.post("/forms/deal/state", {"values": {"account": gold["id"]}}))["fields"]["notes"]["visible"]
    assert not crm.ok(crm.post("/forms/deal/state", {"values": {"account": silver["id"]}}))["fields"]["notes"][
        "visible"]
    deal = crm.ok(crm.post("/records/deal", {"name": "D", "stage": "lost", "lost_reason": "price",
                                             "account": gold["id"]}), 201)
    stored = crm.ok(crm.post("/forms/deal/state", {"record_id": deal["id"]}))
    assert stored["record_id"] == deal["id"] and stored["defaults"] == {}
    assert fields(stored, "lost_reason", "notes") == {"lost_reason": (True, True, False),
                                                      "notes": (True, False, False)}
    moved = crm.ok(crm.post("/forms/deal/state", {"record_id": deal["id"], "values": {"stage": "won"}}))
    assert not moved["fields"]["lost_reason"]["visible"]
    assert crm.post("/forms/deal/state", {"record_id": 999}).status_code == 404


def test_values_that_do_not_fit_are_reported_and_the_state_still_comes(crm: Any) -> None:
    answer = crm.ok(crm.post("/forms/deal/state", {"values": {"amount": "lots", "stage": "lost"}}))
    assert answer["errors"] == [{"field": "amount", "message": "must be a number", "code": "invalid_value"}]
    assert answer["fields"]["lost_reason"]["visible"]
    bad = crm.post("/forms/deal/state", {"values": [1], "record_id": "x", "extra": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"values", "record_id", "extra"}


def test_a_submission_creates_and_changes_records_through_the_save_pipeline(crm: Any) -> None:
    created = crm.post("/forms/deal/submit", {"values": {"name": "First", "amount": "500"}})
    record = crm.ok(created, 201)
    assert created.headers["Location"] == f"/api/v1/records/deal/{record['id']}"
    assert (record["stage"], record["close_date"], record["amount"]) == ("new", "2030-01-31", "500.00")
    changed = crm.ok(crm.post("/forms/deal/submit", {"record_id": record["id"], "version": record["version"],
                                                     "values": {"stage": "lost", "lost_reason": "price"}}))
    assert (changed["stage"], changed["lost_reason"], changed["version"]) == ("lost", "price", 2)
    stale = crm.post("/forms/deal/submit", {"record_id": record["id"], "version": 1, "values": {"name": "x"}})
    assert stale.status_code == 412
    history = crm.ok(crm.get(f"/records/deal/{record['id']}/history"))
    assert {h["field"] for h in history if h["action"] == "update"} == {"stage", "lost_reason"}
    rule = crm.post("/forms/deal/submit", {"values": {"name": "Neg", "amount": "-1"}})
    assert rule.status_code == 422  # the object's validation rules apply as to any write
    assert rule.json()["errors"] == [{"field": "amount", "message": "Amount cannot be negative",
                                      "code": "validation_rule"}]


def test_a_submission_may_not_write_hidden_read_only_or_unplaced_fields(crm: Any) -> None:
    refused = crm.post("/forms/deal/submit", {"values": {
        "name": "x", "lost_reason": "secret", "close_date": "2020-01-01", "big": True, "owner": 1, "amount": "abc"}})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "The form is not valid; nothing was saved."
    assert {e["field"]: e["code"] for e in refused.json()["errors"]} == {
        "lost_reason": "hidden", "close_date": "read_only", "big": "not_on_form", "owner": "not_on_form",
        "amount": "invalid_value"}
    assert crm.ok(crm.get("/records/deal"))["data"] == []


def test_required_if_is_enforced_on_the_record_as_it_would_be_saved(crm: Any) -> None:
    refused = crm.post("/forms/deal/submit", {"values": {"name": "x", "stage": "lost", "amount": "50000"}})
    assert {e["field"]: e["code"] for e in refused.json()["errors"]} == {"lost_reason": "required",
                                                                         "account": "required"}
    deal = crm.ok(crm.post("/records/deal", {"name": "y"}), 201)
    # The stored record is blank where the change makes the field required.
    refused = crm.post("/forms/deal/submit", {"record_id": deal["id"], "values": {"stage": "lost"}})
    assert [e["field"] for e in refused.json()["errors"]] == ["lost_reason"]
    crm.ok(crm.post("/forms/deal/submit", {"record_id": deal["id"], "values": {"stage": "lost",
                                                                                "lost_reason": "timing"}}))


def test_inputs_posted_back_unchanged_are_ignored_rather_than_refused(crm: Any) -> None:
    record = crm.ok(crm.post("/forms/deal/submit", {"values": {
        "name": "x", "lost_reason": "", "close_date": "2030-01-31"}}), 201)
    assert record["lost_reason"] is None and record["close_date"] == "2030-01-31"
    again = crm.ok(crm.post("/forms/deal/submit", {"record_id": record["id"], "values": {
        "name": "y", "close_date": "2030-01-31", "lost_reason": None}}))
    assert again["name"] == "y"
    changed = crm.post("/forms/deal/submit", {"record_id": record["id"], "values": {"close_date": "2031-01-01"}})
    assert changed.json()["errors"] == [{"field": "close_date", "message": "is read-only on this form",
                                         "code": "read_only"}]


def test_the_json_schema_validates_a_good_submission_and_rejects_a_bad_one(crm: Any) -> None:
    schema = crm.ok(crm.get("/forms/deal/schema"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["x-form"] == "deal_main"
    assert set(schema["properties"]) == {"name", "amount", "stage", "kind", "lost_reason", "account", "notes"}
    assert schema["required"] == ["name"]
    assert schema["properties"]["lost_reason"]["x-visible-if"] == 'stage = "lost"'
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    good = {"name": "Good", "amount": "1200.50", "stage": "won", "kind": "renewal", "notes": None}
    assert list(validator.iter_errors(good)) == []
    assert crm.post("/forms/deal/submit", {"form": "deal_main", "values": good}).status_code == 201
    bad = {"amount": True, "stage": "closed", "close_date": "2024-01-01"}
    complaints = sorted(e.validator for e in validator.iter_errors(bad))
    assert complaints == ["additionalProperties", "anyOf", "anyOf", "required"]
    assert crm.post("/forms/deal/submit", {"form": "deal_main", "values": bad}).status_code == 422
    generated = crm.ok(crm.get("/forms/account/schema"))
    assert generated["x-form"] is None and set(generated["properties"]) == {"name", "tier"}
    assert crm.get("/forms/deal/schema", params={"form": "nope"}).status_code == 404


def test_an_object_without_forms_gets_a_form_of_all_its_fields(crm: Any) -> None:
    state = crm.ok(crm.post("/forms/account/state", {"values": {"name": "A"}}))
    assert state["form"] is None
    assert fields(state, "name", "tier") == {"name": (True, True, False), "tier": (True, False, False)}
    record = crm.ok(crm.post("/forms/account/submit", {"values": {"name": "A", "tier": "gold"}}), 201)
    assert record["tier"] == "gold"


def test_the_form_is_chosen_by_applies_if_role_and_priority(crm: Any, runtime: Any) -> None:
    crm.ok(crm.post("/meta/forms", RENEWAL), 201)
    crm.ok(crm.post("/meta/forms", SUPPORT), 201)
    assert crm.ok(crm.post("/forms/deal/state", {"values": {"kind": "renewal"}}))["form"] == "renewal"
    assert crm.ok(crm.post("/forms/deal/state", {"values": {"kind": "new"}}))["form"] == "deal_main"
    refused = crm.post("/forms/deal/submit", {"values": {"name": "R", "kind": "renewal"}})
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("account", "required")]
    named = crm.ok(crm.post("/forms/deal/state", {"form": "support", "values": {"kind": "renewal"}}))
    assert named["form"] == "support" and set(named["fields"]) == {"name", "notes"}

    @dataclass(frozen=True)
    class Agent(Actor):
        roles: tuple[str, ...] = ()

    agent = Agent(user_id=1, email="admin@example.com", is_admin=True, roles=("support",))
    assert runtime.forms.state(agent, "deal", values={"kind": "renewal"})["form"] == "support"


def test_a_condition_broken_by_a_forced_delete_shows_its_field_and_says_so(crm: Any) -> None:
    assert crm.delete("/meta/objects/account/fields/tier").status_code == 409  # the form reads it
    assert crm.delete("/meta/objects/account/fields/tier", params={"force": "true"}).status_code == 204
    state = crm.ok(crm.post("/forms/deal/state", {}))
    assert state["fields"]["notes"] == {"visible": True, "required": False, "read_only": False}
    assert state["broken"] == ["/sections/0/columns/1/fields/3/visible_if"]
    [problem] = crm.ok(crm.get("/meta/forms/deal_main/problems"))
    assert (problem["field"], problem["code"]) == ("/sections/0/columns/1/fields/3/visible_if", "formula")
    assert crm.post("/forms/deal/submit", {"values": {"name": "still works"}}).status_code == 201


def test_the_designer_starts_from_a_generated_form_and_saves_a_document(crm: Any, runtime: Any) -> None:
    forms, me = runtime.forms, Actor(user_id=1, email="admin@example.com", is_admin=True)
    start = forms.design(me, "account")
    assert start["api_name"] == "account_form" and "version" not in start and start["palette"] == []
    assert [p["field"] for p in start["sections"][0]["columns"][0]["fields"]] == ["name", "tier"]
    start["sections"][0]["columns"][0]["fields"].pop()
    saved = forms.save_design(me, "account", {k: v for k, v in start.items() if k != "palette"})
    assert saved["version"] == 1 and saved["object"] == "account"
    again = forms.design(me, "account")
    assert again["version"] == 1 and [f["api_name"] for f in again["palette"]] == ["tier"]
    again["sections"][0]["columns"].append({"fields": [{"field": "tier", "visible_if": 'name = "x"'}]})
    assert forms.save_design(me, "account", {**again, "palette": None})["version"] == 2
    with pytest.raises(StaleVersion):
        forms.save_design(me, "account", {**again, "palette": None, "label": "Old"})
    tabbed = forms.design(me, "deal", "deal_main")
    assert tabbed["api_name"] == "deal_main" and len(tabbed["sections"]) == 1
    crm.ok(crm.patch("/meta/forms/deal_main", {"sections": None, "tabs": [
        {"label": "One", "sections": FORM["sections"]}, {"label": "Two", "sections": [
            {"label": "More", "columns": [{"fields": [{"field": "big"}]}]}]}]}))
    flat = forms.design(me, "deal", "deal_main")
    assert [s["label"] for s in flat["sections"]] == ["Deal", "More"]
    flat["sections"][0]["columns"][0]["fields"] = [{"field": "name"}]
    flat["sections"][1]["columns"][0]["fields"].append({"field": "amount"})
    kept = forms.save_design(me, "deal", {k: v for k, v in flat.items() if k not in ("palette", "tabs")})
    assert "tabs" not in kept and [s["label"] for s in kept["sections"]] == ["Deal", "More"]


def test_a_users_permissions_hide_fields_and_lock_them_on_every_form(crm: Any, client: Any) -> None:
    crm.ok(crm.post("/meta/forms", SUPPORT), 201)
    crm.ok(crm.post("/roles", {"api_name": "sales", "label": "Sales", "permissions": {"deal": {
        "create": True, "read": "all", "edit": "all", "delete": "none",
        "fields": {"amount": "read", "notes": "hidden"}}}}), 201)
    crm.ok(crm.post("/users", {"email": "rep@example.com", "name": "Rep", "password": "rep-password-1",
                               "roles": ["sales"]}), 201)
    token = client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": "rep-password-1"})
    rep = type(crm)(client, token.json()["access_token"])
    state = rep.ok(rep.post("/forms/deal/state", {"values": {"stage": "lost"}}))
    assert state["form"] == "deal_main" and "notes" not in state["fields"]
    assert state["fields"]["amount"]["read_only"]
    schema = rep.ok(rep.get("/forms/deal/schema"))
    assert "amount" not in schema["properties"] and "notes" not in schema["properties"]
    refused = rep.post("/forms/deal/submit", {"values": {"name": "x", "amount": "5", "notes": "n"}})
    assert {e["field"]: e["code"] for e in refused.json()["errors"]} == {"amount": "read_only",
                                                                         "notes": "not_on_form"}
    assert rep.post("/forms/deal/state", {"form": "support"}).status_code == 403  # a form for other roles
    assert rep.ok(rep.post("/forms/deal/submit", {"values": {"name": "Mine", "kind": "new"}}), 201)["name"] == "Mine"
    assert rep.get("/meta/forms").status_code == 403
