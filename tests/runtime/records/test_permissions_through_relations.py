"""Row scope through related records: what someone writes (a list filter, an ad-hoc report,
its filter and groupings) reaches only the records they may read — through every lookup
path and every related list — on both databases; a builder's formula and rollup fields
compute over every record unless they say `"scope": "viewer"`. Hidden fields stay unknown
however they are reached."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "note", "label": "Note", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
]}
TICKET = {"api_name": "ticket", "label": "Ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "deal", "label": "Deal", "type": "lookup", "target": "deal", "related_name": "tickets"},
]}
#: The builder's fields over related records: one computed over everything, one per viewer.
ACCOUNT_ROLLUPS = [
    {"api_name": "total_all", "label": "Total (all deals)", "type": "rollup", "relation": "deals",
     "function": "sum", "field": "amount"},
    {"api_name": "total_seen", "label": "Total (deals I see)", "type": "rollup", "relation": "deals",
     "function": "sum", "field": "amount", "scope": "viewer"},
]
TICKET_FORMULAS = [
    {"api_name": "deal_name", "label": "Deal name", "type": "formula", "expression": "deal.name"},
    {"api_name": "deal_name_seen", "label": "Deal name (if I see it)", "type": "formula", "expression": "deal.name",
     "scope": "viewer"},
]


@pytest.fixture
def office(api: Any) -> dict[str, Any]:
    """`me` may read every account and ticket but only their own deals. Acme has my small
    deal and the admin's big one; a ticket points at the big one."""
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/meta/objects", TICKET), 201)
    for field in ACCOUNT_ROLLUPS:
        api.ok(api.post("/meta/objects/account/fields", field), 201)
    for field in TICKET_FORMULAS:
        api.ok(api.post("/meta/objects/ticket/fields", field), 201)
    api.ok(api.post("/roles", {"api_name": "base", "label": "Base", "permissions": {
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"},
        "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"},
        "ticket": {"create": False, "read": "all", "edit": "none", "delete": "none"},
    }}), 201)
    api.ok(api.post("/teams", {"api_name": "east", "label": "East"}), 201)
    me_id = api.ok(api.post("/users", {"email": "me@example.com", "name": "Me", "password": "a-long-password",
                                       "roles": ["base"], "teams": ["east"]}), 201)["id"]
    token = api.client.post("/api/v1/auth/token", json={"email": "me@example.com", "password": "a-long-password"})
    me = type(api)(api.client, token.json()["access_token"])
    acme = api.ok(api.post("/records/account", {"name": "Acme"}), 201)["id"]
    mine = api.ok(api.post("/records/deal", {"name": "small deal", "amount": "100", "account": acme,
                                             "owner": me_id}), 201)["id"]
    hidden = api.ok(api.post("/records/deal", {"name": "big deal", "amount": "2000", "note": "secret",
                                               "account": acme}), 201)["id"]
    ticket = api.ok(api.post("/records/ticket", {"subject": "help", "deal": hidden}), 201)["id"]
    return {"api": api, "me": me, "acme": acme, "mine": mine, "hidden": hidden, "ticket": ticket}


def _listed(client: Any, object_name: str, condition: str) -> list[dict[str, Any]]:
    return client.ok(client.get(f"/records/{object_name}", params={"filter": condition}))["data"]


def test_a_record_one_cannot_read_is_out_of_reach_of_their_own_filters(office: dict[str, Any]) -> None:
    me, api, hidden, mine = office["me"], office["api"], office["hidden"], office["mine"]
    assert me.get(f"/records/deal/{hidden}").status_code == 404
    probes = [f"COUNT(deals, deals.id = {hidden} AND deals.amount > 1999) > 0",
              "SUM(deals.amount) > 150", "MAX(deals.amount) > 100", 'COUNT(deals, deals.name = "big deal") = 1',
              "AVG(deals.amount) > 100", f"MAX(deals.id) = {hidden}"]
    for probe in probes:
        assert _listed(me, "account", probe) == [], probe
        # The admin's view of the same filters: each probe does find Acme there.
        assert [r["name"] for r in _listed(api, "account", probe)] == ["Acme"], probe
    # What one may read counts as usual.
    assert [r["name"] for r in _listed(me, "account", f"COUNT(deals, deals.id = {mine}) = 1")] == ["Acme"]
    assert [r["name"] for r in _listed(me, "account", "SUM(deals.amount) = 100")] == ["Acme"]


def test_a_lookup_to_a_record_one_cannot_read_reads_as_blank_in_their_filters(office: dict[str, Any]) -> None:
    me, api = office["me"], office["api"]
    assert _listed(me, "ticket", 'deal.name = "big deal"') == []
    assert _listed(me, "ticket", "deal.amount > 1999") == []
    assert _listed(me, "ticket", 'deal.account.name = "Acme"') == []
    assert [r["subject"] for r in _listed(me, "ticket", "ISBLANK(deal.name)")] == ["help"]
    assert [r["subject"] for r in _listed(api, "ticket", 'deal.name = "big deal"')] == ["help"]
    # Sorting and paging over the same filter does not tell either.
    page = me.ok(me.get("/records/ticket", params={"filter": "deal.amount > 0", "sort": "-subject", "total": "true"}))
    assert page["data"] == [] and page["total"] == 0


def test_a_sharing_rule_opens_records_reached_through_related_lists_too(office: dict[str, Any]) -> None:
    api, me, hidden = office["api"], office["me"], office["hidden"]
    api.ok(api.patch("/meta/objects/deal", {"sharing_rules": [
        {"name": "big_for_east", "condition": "amount > 1000", "access": "read", "teams": ["east"]}]}))
    assert me.ok(me.get(f"/records/deal/{hidden}"))["name"] == "big deal"
    assert [r["name"] for r in _listed(me, "account", f"COUNT(deals, deals.id = {hidden}) = 1")] == ["Acme"]
    assert [r["subject"] for r in _listed(me, "ticket", 'deal.name = "big deal"')] == ["help"]
    assert me.ok(me.get(f"/records/account/{office['acme']}"))["total_seen"] == "2100"


def test_builder_fields_compute_over_all_records_unless_they_follow_the_viewer(office: dict[str, Any]) -> None:
    me, api = office["me"], office["api"]
    acme = me.ok(me.get(f"/records/account/{office['acme']}"))
    assert (acme["total_all"], acme["total_seen"]) == ("2100", "100")
    assert api.ok(api.get(f"/records/account/{office['acme']}"))["total_seen"] == "2100"
    ticket = me.ok(me.get(f"/records/ticket/{office['ticket']}"))
    assert (ticket["deal_name"], ticket["deal_name_seen"]) == ("big deal", None)
    listed = me.ok(me.get("/records/ticket", params={"fields": "subject,deal_name,deal_name_seen"}))["data"]
    assert [(r["deal_name"], r["deal_name_seen"]) for r in listed] == [("big deal", None)]
    # Filtering on a field shows no more than the field itself shows.
    assert [r["name"] for r in _listed(me, "account", "total_all = 2100")] == ["Acme"]
    assert _listed(me, "account", "total_seen > 100") == []
    assert _listed(me, "ticket", 'deal_name_seen = "big deal"') == []
    # A stored value is worked out once for everyone: it cannot follow the viewer.
    refused = api.post("/meta/objects/account/fields", {
        "api_name": "stored_seen", "label": "Stored seen", "type": "rollup", "relation": "deals",
        "function": "count", "scope": "viewer", "store": True})
    assert refused.status_code == 422
    assert "each viewer" in refused.text


def test_hidden_fields_are_unknown_through_related_lists_and_lookups(office: dict[str, Any]) -> None:
    api, me = office["api"], office["me"]
    permissions = api.ok(api.get("/roles/base"))["permissions"]
    permissions["deal"] = {**permissions["deal"], "read": "all", "fields": {"note": "hidden"}}
    api.ok(api.patch("/roles/base", {"permissions": permissions}))
    for object_name, probe in (("account", 'COUNT(deals, deals.note = "secret") > 0'),
                               ("ticket", 'deal.note = "secret"')):
        refused = me.get(f"/records/{object_name}", params={"filter": probe})
        assert refused.status_code == 422, refused.text
        assert 'unknown field "note"' in refused.json()["errors"][0]["message"]


def test_an_ad_hoc_report_reaches_only_readable_records_through_its_paths(office: dict[str, Any]) -> None:
    me, api = office["me"], office["api"]
    by_deal = {"object": "ticket", "group_by": [{"field": "deal.name", "name": "deal_name"}],
               "measures": [{"name": "tickets", "function": "count"},
                            {"name": "amount", "function": "sum", "field": "deal.amount"}]}
    mine = me.ok(me.post("/reports/run", by_deal))
    assert [(r["deal_name"], r["tickets"], r["amount"]) for r in mine["rows"]] == [(None, "1", "0")]
    everyone = api.ok(api.post("/reports/run", by_deal))
    assert [(r["deal_name"], r["amount"]) for r in everyone["rows"]] == [("big deal", "2000")]
    oracle = {"object": "account", "filter": f"COUNT(deals, deals.id = {office['hidden']} AND deals.amount > 1999) > 0",
              "measures": [{"name": "accounts", "function": "count"}]}
    assert me.ok(me.post("/reports/run", oracle))["totals"]["accounts"] == "0"
    assert api.ok(api.post("/reports/run", oracle))["totals"]["accounts"] == "1"
