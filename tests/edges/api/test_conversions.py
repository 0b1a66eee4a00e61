"""Conversions through the JSON API, on both databases: the document at /meta/conversions,
`POST /records/{object}/{id}/convert/{conversion}` and a record's conversions — every
refusal a problem+json with its reason, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
CONTACT = {"api_name": "contact", "label": "Contact", "fields": [
    {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}
LEAD = {"api_name": "lead", "label": "Lead", "name_field": "last_name", "fields": [
    {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
    {"api_name": "company", "label": "Company", "type": "text"},
    {"api_name": "status", "label": "Status", "type": "text"},
    {"api_name": "converted_account", "label": "Converted account", "type": "lookup", "target": "account"}]}
CONVERSION = {"api_name": "convert_lead", "label": "Convert lead", "object": "lead", "when": 'status <> "lost"',
              "targets": [{"key": "account", "object": "account", "match": {"name": "company"}},
                          {"key": "contact", "object": "contact"},
                          {"key": "deal", "object": "deal", "fields": {"name": 'company & " deal"'}}],
              "after": {"status": '"converted"', "converted_account": "account.id"}}


@pytest.fixture
def crm(api: Any) -> Any:
    for doc in (ACCOUNT, CONTACT, DEAL, LEAD):
        api.ok(api.post("/meta/objects", doc), 201)
    created = api.ok(api.post("/meta/conversions", CONVERSION), 201)
    assert created["uid"].startswith("cnv_") and created["version"] == 1
    return api


def _lead(api: Any, **values: Any) -> dict[str, Any]:
    return api.ok(api.post("/records/lead", {"last_name": "Doe", "company": "Acme", **values}), 201)


def test_convert_answers_what_it_created_or_matched(crm: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "acme"}), 201)
    lead = _lead(crm)
    result = crm.ok(crm.post(f"/records/lead/{lead['id']}/convert/convert_lead"))
    assert [(r["key"], r["object"], r["outcome"]) for r in result["records"]] == [
        ("account", "account", "matched"), ("contact", "contact", "created"), ("deal", "deal", "created")]
    assert result["records"][0]["id"] == acme["id"] and result["records"][2]["name"] == "Acme deal"
    assert result["source"] == {"object": "lead", "id": lead["id"], "name": "Doe", "version": 2}
    contact = crm.ok(crm.get(f"/records/contact/{result['records'][1]['id']}"))
    assert (contact["last_name"], contact["account"]) == ("Doe", acme["id"])
    assert crm.ok(crm.get(f"/records/lead/{lead['id']}"))["converted_account"] == acme["id"]
    listed = crm.ok(crm.get(f"/records/lead/{lead['id']}/conversions"))
    assert listed["offered"][0]["available"] is False and listed["offered"][0]["last"]["result"] == result
    assert [r["result"] for r in listed["runs"]] == [result]


def test_a_second_convert_is_a_409_problem_naming_the_first(crm: Any) -> None:
    lead = _lead(crm)
    first = crm.ok(crm.post(f"/records/lead/{lead['id']}/convert/convert_lead"))
    again = crm.post(f"/records/lead/{lead['id']}/convert/convert_lead")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    body = again.json()
    assert "converted already" in body["detail"] and "Deal Acme deal" in body["detail"]
    assert body["previous"]["result"] == first and body["errors"][0]["code"] == "converted_already"
    crm.ok(crm.patch("/meta/conversions/convert_lead", {"allow_again": True}))
    assert crm.ok(crm.post(f"/records/lead/{lead['id']}/convert/convert_lead"))["records"][0]["outcome"] == "matched"


def test_refusals_are_problems(crm: Any) -> None:
    lead = _lead(crm)
    lost = _lead(crm, status="lost")
    cases = [
        (f"/records/lead/{lead['id']}/convert/nope", 404),
        (f"/records/lead/{lead['id']}/convert/Not-A-Name", 400),
        ("/records/lead/999999/convert/convert_lead", 404),
        (f"/records/nothing/{lead['id']}/convert/convert_lead", 404),
        (f"/records/lead/{lost['id']}/convert/convert_lead", 409),
    ]
    for path, status in cases:
        response = crm.post(path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    stale = crm.post(f"/records/lead/{lead['id']}/convert/convert_lead", headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert crm.ok(crm.get("/records/account"))["data"] == []
    fresh = crm.post(f"/records/lead/{lead['id']}/convert/convert_lead", headers={"If-Match": f'"{lead["version"]}"'})
    assert fresh.status_code == 200, fresh.text


def test_a_bad_document_is_refused_with_its_problems_at_their_place(crm: Any) -> None:
    bad = {**CONVERSION, "api_name": "bad", "targets": [
        {"key": "contact", "object": "contact", "fields": {"account": "account.id", "nickname": "company"}},
        {"key": "account", "object": "acount"}]}
    refused = crm.post("/meta/conversions", bad)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {"/targets/0/fields/account", "/targets/0/fields/nickname", "/targets/1/object"} <= fields
    checked = crm.ok(crm.post("/meta/conversions/check", bad))
    assert checked["valid"] is False and {e["field"] for e in checked["errors"]} == fields
    assert [d["api_name"] for d in crm.ok(crm.get("/meta/conversions"))] == ["convert_lead"]
    schema = crm.ok(crm.get("/meta/schemas/conversions"))
    assert schema["title"] == "Conversion"


def test_a_user_without_create_on_a_target_gets_a_403_and_nothing_is_made(crm: Any) -> None:
    crm.ok(crm.post("/roles", {"api_name": "rep", "label": "Rep", "permissions": {
        "lead": {"create": True, "read": "all", "edit": "all", "delete": "none"},
        "account": {"create": True, "read": "all", "edit": "all", "delete": "none"},
        "contact": {"create": True, "read": "all", "edit": "all", "delete": "none"},
        "deal": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}), 201)
    crm.ok(crm.post("/users", {"email": "rep@x.com", "name": "Rep", "password": "a-long-password",
                               "roles": ["rep"]}), 201)
    token = crm.client.post("/api/v1/auth/token", json={"email": "rep@x.com", "password": "a-long-password"})
    rep = type(crm)(crm.client, token.json()["access_token"])
    lead = _lead(rep)
    refused = rep.post(f"/records/lead/{lead['id']}/convert/convert_lead")
    assert refused.status_code == 403 and "Deal" in refused.json()["detail"]
    assert crm.ok(crm.get("/records/account"))["data"] == [] and crm.ok(crm.get("/records/contact"))["data"] == []
    offered = rep.ok(rep.get(f"/records/lead/{lead['id']}/conversions"))["offered"]
    assert offered[0]["available"] is False


def test_the_conversion_endpoints_are_in_the_openapi_document(crm: Any) -> None:
    paths = crm.ok(crm.get("/openapi.json"))["paths"]
    convert = paths["/api/v1/records/{object}/{record_id}/convert/{conversion}"]["post"]
    assert "conversion" in convert["description"] and {"404", "409", "412"} <= set(convert["responses"])
    assert "get" in paths["/api/v1/records/{object}/{record_id}/conversions"]
    assert "/api/v1/records/{object}/{record_id}" not in paths  # written out per object instead
    assert "/api/v1/records/lead/{record_id}" in paths
