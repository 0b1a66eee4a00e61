"""Metadata documents of kinds other than objects, through `/api/v1/meta/{kind}`: stored
with versions, history and a trash, checked against the metadata, and part of the
dependency graph — where-used finds forms, renames rewrite them, deletes are refused."""

from __future__ import annotations

import copy
from typing import Any

ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "tier", "label": "Tier", "type": "select", "options": [{"value": "gold"}, {"value": "silver"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "lost_reason", "label": "Lost reason", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
    {"api_name": "partner", "label": "Partner", "type": "lookup", "target": "account"},
]}
FORM = {"api_name": "deal_main", "label": "Deal", "object": "deal", "tabs": [
    {"label": "Main", "sections": [{"label": "Deal", "columns": [
        {"fields": [{"field": "name"}, {"field": "amount"}, {"field": "stage"}]},
        {"fields": [{"field": "lost_reason", "visible_if": 'stage = "lost"', "required_if": 'stage = "lost"'},
                    {"field": "account", "visible_if": 'partner.tier = "gold"'}]}]}]}]}
ACCOUNT_FORM = {"api_name": "account_main", "label": "Account", "object": "account", "sections": [
    {"label": "Account", "columns": [{"fields": [{"field": "name"}, {"field": "tier"}]}]},
    {"label": "Deals", "related": {"relation": "deals", "columns": ["name", "amount"], "sort": "amount",
                                  "descending": True}}]}
LOST = "tabs/0/sections/0/columns/1/fields/0"


def crm(api: Any) -> Any:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    return api


def test_a_form_is_created_read_listed_changed_and_versioned(api: Any) -> None:
    crm(api)
    created = api.post("/meta/forms", FORM)
    form = api.ok(created, 201)
    assert created.headers["Location"] == "/api/v1/meta/forms/deal_main"
    assert form["uid"].startswith("frm_") and form["version"] == 1
    assert api.ok(api.get("/meta/forms/deal_main")) == form
    assert [f["api_name"] for f in api.ok(api.get("/meta/forms"))] == ["deal_main"]
    assert api.ok(api.get("/meta/forms", params={"object": "account"})) == []
    changed = api.ok(api.patch("/meta/forms/deal_main", {"label": "Deal (sales)", "uid": "frm_mine"}))
    assert (changed["version"], changed["label"], changed["uid"]) == (2, "Deal (sales)", form["uid"])
    assert api.ok(api.patch("/meta/forms/deal_main", {"label": "Deal (sales)"}))["version"] == 2  # no change
    stale = api.patch("/meta/forms/deal_main", {"label": "Old"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    history = api.ok(api.get("/meta/forms/deal_main/history"))
    assert [(h["version"], h["action"], h["summary"]) for h in history] == [
        (2, "update", "changed: label"), (1, "create", "created")]
    assert history[0]["before"]["label"] == "Deal" and history[0]["after"]["label"] == "Deal (sales)"
    taken = api.post("/meta/forms", {**FORM, "label": "Again"})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "/api_name"


def test_a_form_goes_to_the_trash_comes_back_and_can_be_purged(api: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    assert api.delete("/meta/forms/deal_main").status_code == 204
    assert api.get("/meta/forms/deal_main").status_code == 404
    assert [f["api_name"] for f in api.ok(api.get("/meta/forms", params={"trash": "true"}))] == ["deal_main"]
    restored = api.ok(api.post("/meta/forms/deal_main/restore"))
    assert restored["version"] == 3
    assert api.post("/meta/forms/deal_main/purge").status_code == 404  # only from the trash
    api.delete("/meta/forms/deal_main")
    assert api.post("/meta/forms/deal_main/purge").status_code == 204
    assert api.get("/meta/forms/deal_main/history").status_code == 404
    api.ok(api.post("/meta/forms", FORM), 201)  # the name is free again


def test_where_used_finds_the_forms_that_place_or_read_a_field(api: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    api.ok(api.post("/meta/forms", ACCOUNT_FORM), 201)
    used = api.ok(api.get("/meta/objects/deal/fields/stage/where-used"))
    assert {(u["kind"], u["api_name"], u["via"], u["path"]) for u in used} == {
        ("forms", "deal_main", "document_field", "tabs/0/sections/0/columns/0/fields/2/field"),
        ("forms", "deal_main", "document_formula", f"{LOST}/visible_if@0.0"),
        ("forms", "deal_main", "document_formula", f"{LOST}/required_if@0.0"),
    }
    tier = api.ok(api.get("/meta/objects/account/fields/tier/where-used"))
    assert {(u["api_name"], u["path"]) for u in tier} == {
        ("account_main", "sections/0/columns/0/fields/1/field"),
        ("deal_main", "tabs/0/sections/0/columns/1/fields/1/visible_if@0.1"),
    }
    lookup = api.ok(api.get("/meta/objects/deal/fields/account/where-used"))
    assert ("account_main", "document_link", "sections/1/related/relation") in {
        (u["api_name"], u["via"], u["path"]) for u in lookup}
    assert {"kind": "forms", "api_name": "deal_main"}.items() <= api.ok(
        api.get("/meta/objects/deal/where-used"))[0].items()


def test_renaming_fields_and_objects_rewrites_the_forms_that_use_them(api: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    api.ok(api.post("/meta/forms", ACCOUNT_FORM), 201)
    api.ok(api.patch("/meta/objects/deal/fields/stage", {"api_name": "phase"}))
    api.ok(api.patch("/meta/objects/deal/fields/partner", {"api_name": "ally"}))
    api.ok(api.patch("/meta/objects/account/fields/tier", {"api_name": "level"}))
    api.ok(api.patch("/meta/objects/deal/fields/amount", {"api_name": "value"}))
    api.ok(api.patch("/meta/objects/account", {"api_name": "company"}))
    form = api.ok(api.get("/meta/forms/deal_main"))
    assert form["object"] == "deal"
    columns = form["tabs"][0]["sections"][0]["columns"]
    assert [p["field"] for p in columns[0]["fields"]] == ["name", "value", "phase"]
    assert columns[1]["fields"][0] == {"field": "lost_reason", "visible_if": 'phase = "lost"',
                                       "required_if": 'phase = "lost"'}
    assert columns[1]["fields"][1] == {"field": "account", "visible_if": 'ally.level = "gold"'}
    account_form = api.ok(api.get("/meta/forms/account_main"))
    assert account_form["object"] == "company"
    assert account_form["sections"][0]["columns"][0]["fields"][1]["field"] == "level"
    assert account_form["sections"][1]["related"] == {"relation": "deals", "columns": ["name", "value"],
                                                      "sort": "value", "descending": True}
    summaries = [h["summary"] for h in api.ok(api.get("/meta/forms/deal_main/history"))]
    assert "references updated: field stage renamed to phase" in summaries
    assert "references updated: object account renamed to company" in [
        h["summary"] for h in api.ok(api.get("/meta/forms/account_main/history"))]
    assert api.ok(api.get("/meta/forms/deal_main/problems")) == []
    assert api.ok(api.get("/meta/forms/account_main/problems")) == []
    # The graph still holds: the renamed fields are still found where they are used.
    used = api.ok(api.get("/meta/objects/deal/fields/phase/where-used"))
    assert len(used) == 3


def test_deleting_a_field_a_form_uses_is_refused_unless_forced(api: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    refused = api.delete("/meta/objects/deal/fields/lost_reason")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "forms/deal_main"
    assert refused.json()["errors"][0]["code"] == "in_use"
    assert api.delete("/meta/objects/deal").status_code == 409  # the whole object, too
    assert api.delete("/meta/objects/deal/fields/lost_reason", params={"force": "true"}).status_code == 204
    problems = api.ok(api.get("/meta/forms/deal_main/problems"))
    assert [(p["field"], p["code"]) for p in problems] == [(f"/{LOST}/field", "unknown_field")]
    # The form keeps working without the field.
    state = api.ok(api.post("/forms/deal/state", {"values": {"stage": "lost"}}))
    assert "lost_reason" not in state["fields"] and state["fields"]["stage"]["visible"]


def test_a_form_in_the_trash_holds_on_to_nothing(api: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    api.delete("/meta/forms/deal_main")
    assert api.ok(api.get("/meta/objects/deal/fields/lost_reason/where-used")) == []
    assert api.delete("/meta/objects/deal/fields/lost_reason").status_code == 204
    refused = api.post("/meta/forms/deal_main/restore")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == f"/{LOST}/field"


def test_a_bad_form_is_refused_with_every_problem_at_its_place(api: Any) -> None:
    crm(api)
    bad = copy.deepcopy(FORM)
    first, second = bad["tabs"][0]["sections"][0]["columns"]
    first["fields"].append({"field": "amont"})
    first["fields"].append({"field": "name", "label": "Again"})
    first["fields"][2]["default"] = "closed"
    second["fields"][0]["visible_if"] = "amount"
    second["fields"][0]["required_if"] = "stage = "
    bad["buttons"] = [{"label": "Go", "action": "go", "visible_if": 'stag = "won"'}]
    refused = api.post("/meta/forms", bad)
    assert refused.status_code == 422
    errors = {e["field"]: e for e in refused.json()["errors"]}
    at = "/tabs/0/sections/0/columns"
    assert set(errors) == {f"{at}/0/fields/2/default", f"{at}/0/fields/3/field", f"{at}/0/fields/4/field",
                           f"{at}/1/fields/0/visible_if", f"{at}/1/fields/0/required_if", "/buttons/0/visible_if"}
    assert errors[f"{at}/0/fields/3/field"]["message"] == "Deal has no field named 'amont'; did you mean 'amount'?"
    assert errors[f"{at}/0/fields/4/field"]["code"] == "duplicate"
    assert errors[f"{at}/1/fields/0/visible_if"]["code"] == "formula"
    assert "boolean" in errors[f"{at}/1/fields/0/visible_if"]["message"]
    assert errors[f"{at}/1/fields/0/required_if"]["formula"]["column"] == 9
    assert "stage" in errors["/buttons/0/visible_if"]["message"]  # the nearest field is suggested
    assert api.ok(api.get("/meta/forms")) == []
    checked = api.ok(api.post("/meta/forms/check", bad))
    assert not checked["valid"] and len(checked["errors"]) == 6
    assert api.ok(api.post("/meta/forms/check", FORM)) == {"valid": True, "errors": []}


def test_the_schema_refuses_malformed_forms_before_any_metadata_check(api: Any) -> None:
    crm(api)
    refused = api.post("/meta/forms", {"api_name": "Bad Name", "object": "deal", "sections": [
        {"columns": [{"fields": [{"field": "name", "colour": "red"}]}]}]})
    assert refused.status_code == 422
    errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert set(errors) == {"/", "/api_name", "/sections/0/columns/0/fields/0"}
    assert "'label' is a required property" in errors["/"]
    assert "colour" in errors["/sections/0/columns/0/fields/0"]
    ghost = api.post("/meta/forms", {**FORM, "object": "ghost"})
    assert ghost.json()["errors"] == [{"field": "/object", "message": "there is no object named 'ghost'",
                                       "code": "unknown_object"}]
    both = api.post("/meta/forms", {**FORM, "sections": ACCOUNT_FORM["sections"]})
    assert both.json()["errors"][0]["field"] == "/sections"


def test_other_kinds_are_stored_versioned_and_tracked_the_same_way(api: Any) -> None:
    crm(api)
    manager = [{"id": "manager", "type": "approval", "approvers": [{"role": "admin"}]}]
    flow = api.ok(api.post("/meta/flows", {"api_name": "approve_deal", "label": "Approve", "object": "account",
                                            "trigger": {"on": "button"}, "steps": manager}), 201)
    assert flow["uid"].startswith("flw_") and flow["steps"] == manager
    ended = [*manager, {"id": "done", "type": "end", "outcome": "approved"}]
    assert api.ok(api.patch("/meta/flows/approve_deal", {"steps": ended}))["version"] == 2
    used = api.ok(api.get("/meta/objects/account/where-used"))
    assert ("flows", "approve_deal", "document_object") in {(u["kind"], u["api_name"], u["via"]) for u in used}
    api.ok(api.patch("/meta/objects/account", {"api_name": "company"}))
    assert api.ok(api.get("/meta/flows/approve_deal"))["object"] == "company"
    ghost = api.post("/meta/reports", {"api_name": "r", "label": "R", "object": "ghost"})
    assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "/object"
    assert api.ok(api.post("/meta/dashboards", {"api_name": "home", "label": "Home"}), 201)["version"] == 1
    assert api.get("/meta/widgets").status_code == 404
    assert api.post("/meta/objects/check", {}).status_code == 404
    kinds = [k["name"] for k in api.ok(api.get("/meta/kinds"))]
    assert kinds == ["objects", "apps", "calendars", "conversions", "dashboards", "flows", "forms", "reports", "rules",
                     "sla_policies"]
    assert api.ok(api.get("/meta/schemas/forms"))["title"] == "Form"
    assert {"api_name", "label", "object", "kind", "trigger"} <= set(api.ok(api.get("/meta/schemas/rules"))["required"])
    # Objects keep their own routes.
    assert [o["api_name"] for o in api.ok(api.get("/meta/objects"))] == ["company", "deal"]


def test_only_builders_change_or_read_documents(api: Any, runtime: Any) -> None:
    crm(api)
    api.ok(api.post("/meta/forms", FORM), 201)
    user = runtime.users.create("rep@example.com", "Rep", "rep-password-1")
    token = runtime.users.issue_token(user, "test")
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in (("GET", "/meta/forms"), ("POST", "/meta/forms"), ("GET", "/meta/forms/deal_main"),
                         ("PATCH", "/meta/forms/deal_main"), ("DELETE", "/meta/forms/deal_main"),
                         ("GET", "/meta/forms/deal_main/history")):
        answer = api.client.request(method, f"/api/v1{path}", headers=headers, json={})
        assert answer.status_code == 403, (method, path, answer.text)
