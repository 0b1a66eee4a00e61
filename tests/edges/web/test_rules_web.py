"""The rule, business calendar and SLA policy builder pages over HTTP (no browser), on
SQLite and PostgreSQL: they render for builders and are refused to everyone else, a rule
saved through the metadata API comes back in its page, condition rows become a formula,
and the active switch is an ordinary versioned PATCH."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.web import rules as rule_pages

LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "budget", "label": "Budget", "type": "integer"},
    {"api_name": "status", "label": "Status", "type": "select",
     "options": [{"value": "new", "label": "New"}, {"value": "waiting", "label": "Waiting"},
                 {"value": "lost", "label": "Lost"}]},
    {"api_name": "priority", "label": "Priority", "type": "select",
     "options": [{"value": "high", "label": "High"}, {"value": "low", "label": "Low"}]},
    {"api_name": "score", "label": "Score", "type": "integer"},
    {"api_name": "hot", "label": "Hot", "type": "boolean"},
    {"api_name": "close_date", "label": "Close date", "type": "date"}]}
SCORING = {"api_name": "lead_score", "label": "Lead score", "object": "lead", "kind": "scoring",
           "trigger": {"on": "before_save"}, "order": 5,
           "scoring": {"field": "score", "rules": [{"when": "budget > 1000", "points": 20},
                                                   {"when": "ISBLANK(close_date)", "points": -5}]}}
CALENDAR = {"api_name": "paris", "label": "Paris", "timezone": "Europe/Paris",
            "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]},
            "holidays": [{"date": "2026-12-25", "label": "Christmas"}]}




def design_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="rules-design">(.*?)</script>', html, re.S)
    assert found, "the page carries its design"
    return json.loads(found.group(1))


@pytest.fixture
def site(runtime: Any) -> Any:
    system = Actor.system()
    runtime.metadata.create_object(system, LEAD)
    runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rep", "password": "rep-password"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def builder(site: TestClient) -> SignedIn:
    return SignedIn(site, "admin@example.com", "admin-password")


def test_every_rules_page_renders_for_a_builder(builder: SignedIn) -> None:
    for path in ("/builder/rules", "/builder/rules/new?object=lead", "/builder/calendars", "/builder/calendars/new",
                 "/builder/sla", "/builder/sla/new?object=lead"):
        answer = builder.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
    new_rule = design_of(builder.get("/builder/rules/new?object=lead").text)
    assert new_rule["object"] == "lead" and new_rule["doc"] is None
    lead = next(o for o in new_rule["objects"] if o["api_name"] == "lead")
    fields = {f["api_name"]: f for f in lead["fields"]}
    assert fields["budget"]["ftype"] == "number" and fields["hot"]["ftype"] == "boolean"
    assert fields["owner"]["writable"] and [o["value"] for o in fields["status"]["options"]] == ["new", "waiting",
                                                                                                  "lost"]
    assert "Europe/Paris" in design_of(builder.get("/builder/calendars/new").text)["timezones"]


def test_someone_without_the_builder_role_gets_a_refusal_page(site: TestClient) -> None:
    rep = SignedIn(site, "rep@example.com", "rep-password")
    for path in ("/builder/rules", "/builder/rules/new", "/builder/calendars/new", "/builder/sla"):
        answer = rep.get(path)
        assert answer.status_code == 403 and "text/html" in answer.headers["content-type"], path
        assert "builder" in answer.text.lower()
    refused = rep.send("POST", "/builder/rules/condition-formula", {"object": "lead", "rows": []})
    assert refused.status_code == 403


def test_a_rule_saved_through_the_meta_api_comes_back_in_its_page_and_the_list(builder: SignedIn) -> None:
    created = builder.send("POST", "/api/v1/meta/rules", SCORING)
    assert created.status_code == 201, created.text
    page = builder.get("/builder/rules/lead_score")
    assert page.status_code == 200
    stored = design_of(page.text)["doc"]
    assert {k: v for k, v in stored.items() if k not in ("uid", "version")} == SCORING
    listing = builder.get("/builder/rules?object=lead").text
    assert "Lead score" in listing and "Before save (created or updated)" in listing
    assert 'data-rule-active="lead_score"' in listing and 'data-version="1"' in listing


def test_the_active_switch_is_a_versioned_patch_that_a_stale_version_cannot_make(builder: SignedIn) -> None:
    builder.send("POST", "/api/v1/meta/rules", SCORING)
    off = builder.send("PATCH", "/api/v1/meta/rules/lead_score", {"active": False, "version": 1})
    assert off.status_code == 200 and off.json()["active"] is False and off.json()["version"] == 2
    stale = builder.send("PATCH", "/api/v1/meta/rules/lead_score", {"active": True, "version": 1})
    assert stale.status_code == 409 or stale.status_code == 412, stale.text
    listing = builder.get("/builder/rules").text
    row = re.search(r'data-rule-active="lead_score"[^>]*>', listing)
    assert row and "checked" not in row.group(0)


def test_condition_rows_become_one_formula_joined_by_and_or_or(builder: SignedIn) -> None:
    rows = [{"field": "budget", "op": "greater", "value": "1000"},
            {"field": "status", "op": "not_equals", "value": "lost"},
            {"field": "close_date", "op": "blank"}]
    answer = builder.send("POST", "/builder/rules/condition-formula", {"object": "lead", "join": "AND", "rows": rows})
    assert answer.json() == {"formula": 'budget > 1000 AND status <> "lost" AND ISBLANK(close_date)'}
    either = builder.send("POST", "/builder/rules/condition-formula",
                          {"object": "lead", "join": "OR", "rows": [rows[0], {"field": "hot", "op": "changed"}]})
    assert either.json()["formula"] == "budget > 1000 OR ISCHANGED(hot)"
    checked = builder.send("POST", "/api/v1/formula/check",
                           {"object": "lead", "expression": answer.json()["formula"], "expect": "boolean"})
    assert checked.json()["valid"], checked.text


def test_a_condition_row_that_cannot_be_a_formula_says_which_row(builder: SignedIn) -> None:
    answer = builder.send("POST", "/builder/rules/condition-formula", {"object": "lead", "join": "AND", "rows": [
        {"field": "budget", "op": "equals", "value": "12"}, {"field": "budget", "op": "greater", "value": "lots"}]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "rows/1" and "number" in answer.json()["errors"][0]["message"]


def test_rule_problems_come_back_as_pointers_the_page_can_place(builder: SignedIn) -> None:
    bad = {"api_name": "flag", "label": "Flag", "object": "lead", "kind": "automation",
           "trigger": {"on": "before_save"}, "actions": [{"action": "set_fields", "set": {"budget": '"lots"'}}]}
    answer = builder.send("POST", "/api/v1/meta/rules", bad)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["/actions/0/set/budget"]
    page = html.unescape(builder.get("/builder/rules/new?object=lead").text)
    assert ":data-problem=\"'/actions/' + i + '/set/' + row.field\"" in page


def test_a_calendar_and_an_sla_policy_round_trip_through_their_pages(builder: SignedIn) -> None:
    assert builder.send("POST", "/api/v1/meta/calendars", CALENDAR).status_code == 201
    calendar = design_of(builder.get("/builder/calendars/paris").text)["doc"]
    assert calendar["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    policy = {"api_name": "gold", "label": "Gold", "object": "lead", "calendar": "paris", "order": 10,
              "pause_when_status": ["waiting"],
              "metrics": [{"metric": "first_reply", "targets": {"high": "PT1H", "default": 240}, "warn_at": 0.75}],
              "warning_actions": [{"action": "notify", "to": [{"field": "owner"}], "title": "SLA about to breach"}]}
    saved = builder.send("POST", "/api/v1/meta/sla_policies", policy)
    assert saved.status_code == 201, saved.text
    design = design_of(builder.get("/builder/sla/gold").text)
    assert design["doc"]["metrics"] == policy["metrics"] and design["calendars"] == [
        {"api_name": "paris", "label": "Paris"}]
    assert "Gold" in builder.get("/builder/sla").text and "Paris" in builder.get("/builder/calendars").text


def test_an_unknown_rule_is_a_not_found_page(builder: SignedIn) -> None:
    answer = builder.get("/builder/rules/nothing_here")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]


def test_sla_properties_the_form_does_not_know_are_offered_as_generic_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = rule_pages.base_schema("sla_policies")
    schema["properties"]["metrics"]["items"]["properties"]["breached_when"] = {
        "type": "string", "description": "when the metric is breached"}
    schema["properties"]["escalate_to"] = {"type": "string"}
    monkeypatch.setattr(rule_pages, "base_schema", lambda kind: schema)
    extras = rule_pages.sla_extras()
    assert extras["metric"]["breached_when"] == {"type": "string", "description": "when the metric is breached",
                                                 "formula": True}
    assert "achieved_when" not in extras["metric"]  # the page has its own picker for it
    assert extras["policy"]["escalate_to"]["formula"] is False


def test_a_trigger_reads_as_words_in_the_list() -> None:
    assert rule_pages.trigger_summary({"on": "after_save", "when": "updated", "changed": ["status"]}) == \
        "After save (updated) when status change"
    assert rule_pages.trigger_summary({"on": "date_relative", "field": "close_date", "offsets": [{"days": -90}],
                                       "at": "09:00"}) == "Relative to a date: 90 days before close_date at 09:00"
    assert rule_pages.trigger_summary({"on": "event", "event": "sla.breach", "source": "gold"}) == \
        "On an event: an SLA breach (gold)"
