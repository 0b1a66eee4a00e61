"""The CRM's conversions, on SQLite and PostgreSQL: a qualified lead becomes an account (found
by name or made), a contact and an opportunity in the Qualification stage, once; an
opportunity becomes a quote with its lines; an accepted quote becomes a contract; an
approved contract becomes an order with its quote's lines."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import Conflict
from tessera.runtime.platform import Platform

from .conftest import admin, person


@pytest.fixture
def stages(crm: Platform) -> dict[str, int]:
    me = admin(crm)
    return {name: crm.records.create(me, "sales_stage", {"name": name, "position": n, "probability": str(p)})["id"]
            for n, (name, p) in enumerate((("Qualification", 10), ("Needs Analysis", 20), ("Proposal", 50)))}


@pytest.fixture
def rep(crm: Platform) -> Actor:
    return person(crm, "east.rep1@demo.tessera", roles=["sales_rep"], teams=["east"])


def _lead(crm: Platform, who: Actor, **values: Any) -> dict[str, Any]:
    campaign = crm.records.create(admin(crm), "campaign", {"name": "Spring webinar"})
    return crm.records.create(who, "lead", {
        "first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics", "title": "VP Operations",
        "email": "jane@acme.test", "phone": "+1 555 0100", "source": "webinar", "campaign": campaign["id"],
        "region": "east", "industry": "manufacturing", "status": "qualified", **values})


def test_a_qualified_lead_becomes_a_new_account_contact_and_opportunity(crm: Platform, stages: dict[str, int],
                                                                          rep: Actor) -> None:
    lead = _lead(crm, rep)
    result = crm.conversions.convert(rep, "lead", lead["id"], "convert_lead")
    outcomes = {r["key"]: r["outcome"] for r in result["records"]}
    assert outcomes == {"account": "created", "contact": "created", "stage": "matched", "opportunity": "created"}
    made = {r["key"]: r["id"] for r in result["records"]}
    account = crm.records.get(rep, "account", made["account"])
    assert (account["name"], account["region"], account["industry"], account["source"]) == (
        "Acme Robotics", "east", "manufacturing", "webinar")
    contact = crm.records.get(rep, "contact", made["contact"])
    assert (contact["first_name"], contact["last_name"], contact["email"], contact["phone"], contact["title"]) == (
        "Jane", "Doe", "jane@acme.test", "+1 555 0100", "VP Operations")
    assert contact["account"] == account["id"]
    deal = crm.records.get(rep, "opportunity", made["opportunity"])
    assert deal["account"] == account["id"] and deal["primary_contact"] == contact["id"]
    assert deal["lead"] == lead["id"] and deal["campaign"] == lead["campaign"] and deal["source"] == "webinar"
    assert deal["stage"] == stages["Qualification"] and deal["probability"] == "10"
    assert deal["close_date"] == (date.today() + timedelta(days=60)).isoformat()
    after = crm.records.get(rep, "lead", lead["id"])
    assert after["status"] == "converted" and after["converted"] is True and after["converted_at"]
    assert (after["converted_account"], after["converted_contact"], after["converted_opportunity"]) == (
        account["id"], contact["id"], deal["id"])


def test_a_lead_joins_the_account_of_its_company_by_name_and_converts_only_once(
        crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    existing = crm.records.create(rep, "account", {"name": "ACME ROBOTICS", "region": "west"})
    lead = _lead(crm, rep)
    result = crm.conversions.convert(rep, "lead", lead["id"], "convert_lead")
    account = next(r for r in result["records"] if r["key"] == "account")
    assert (account["id"], account["outcome"]) == (existing["id"], "matched")
    assert crm.records.get(rep, "account", existing["id"])["region"] == "west"  # a match is used as it is
    assert len(crm.records.list(rep, "account", limit=10)["data"]) == 1
    with pytest.raises(Conflict, match="converted already") as refused:
        crm.conversions.convert(rep, "lead", lead["id"], "convert_lead")
    assert refused.value.status == 409 and refused.value.errors[0].code == "converted_already"
    assert len(crm.records.list(rep, "opportunity", limit=10)["data"]) == 1
    assert len(crm.records.list(rep, "contact", limit=10)["data"]) == 1


def test_only_a_qualified_lead_is_offered_convert(crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    lead = _lead(crm, rep, status="contacted")
    offered = {c["api_name"]: c for c in crm.conversions.offered(rep, "lead", lead["id"])}
    assert offered["convert_lead"]["button_label"] == "Convert" and not offered["convert_lead"]["available"]
    with pytest.raises(Conflict, match="cannot be converted now"):
        crm.conversions.convert(rep, "lead", lead["id"], "convert_lead")
    crm.records.update(rep, "lead", lead["id"], {"status": "qualified"}, None)
    assert {c["api_name"]: c for c in crm.conversions.offered(rep, "lead", lead["id"])}["convert_lead"]["available"]


def _products(crm: Platform) -> tuple[int, int]:
    me = admin(crm)
    seat = crm.records.create(me, "product", {"code": "SEAT", "name": "Seat licence", "list_price": "100"})
    setup = crm.records.create(me, "product", {"code": "SETUP", "name": "Onboarding", "list_price": "2000"})
    return seat["id"], setup["id"]


def _deal(crm: Platform, who: Actor, stages: dict[str, int]) -> dict[str, Any]:
    seat, setup = _products(crm)
    account = crm.records.create(who, "account", {"name": "Northwind"})
    contact = crm.records.create(who, "contact", {"first_name": "Ann", "last_name": "Lee", "account": account["id"]})
    return crm.records.create(who, "opportunity", {
        "name": "Northwind seats", "account": account["id"], "primary_contact": contact["id"],
        "stage": stages["Proposal"], "close_date": "2031-01-31",
        "lines": [{"product": seat, "quantity": "50", "unit_price": "90", "discount_pct": "10",
                   "description": "Annual seats"},
                  {"product": setup, "quantity": "1", "discount_pct": "0"}]})


def _line(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["product"], line["quantity"], line["list_price"], line["unit_price"], line["discount_pct"],
            line["description"], line["net_amount"])


def test_a_quote_copies_the_opportunity_lines_and_an_opportunity_may_have_several(
        crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    deal = _deal(crm, rep, stages)
    result = crm.conversions.convert(rep, "opportunity", deal["id"], "quote_from_opportunity")
    made = result["records"][0]
    assert (made["object"], made["outcome"], made["lines"]) == ("quote", "created", 2)
    quote = crm.records.get(rep, "quote", made["id"])
    assert quote["opportunity"] == deal["id"] and quote["contact"] == deal["primary_contact"]
    assert quote["account"] == deal["account"] and quote["status"] == "draft"
    assert [_line(q) for q in quote["lines"]] == [_line(d) for d in deal["lines"]]
    assert quote["total"] == deal["amount"] == "6050.00"
    again = crm.conversions.convert(rep, "opportunity", deal["id"], "quote_from_opportunity")
    assert again["records"][0]["id"] != quote["id"]


def test_an_accepted_quote_becomes_a_draft_contract_once(crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    deal = _deal(crm, rep, stages)
    quote_id = crm.conversions.convert(rep, "opportunity", deal["id"], "quote_from_opportunity")["records"][0]["id"]
    me = admin(crm)
    with pytest.raises(Conflict, match="cannot be converted now"):
        crm.conversions.convert(me, "quote", quote_id, "contract_from_quote")
    crm.records.update(rep, "quote", quote_id, {"status": "accepted"}, None)
    quote = crm.records.get(rep, "quote", quote_id)
    made = crm.conversions.convert(me, "quote", quote_id, "contract_from_quote")["records"][0]
    contract = crm.records.get(me, "contract", made["id"])
    assert (contract["account"], contract["opportunity"], contract["quote"]) == (deal["account"], deal["id"], quote_id)
    assert contract["contract_value"] == quote["total"] == "6050.00"
    assert contract["discount_pct"] == quote["discount_pct"]
    assert contract["name"].startswith("Northwind seats")
    assert (contract["status"], contract["term_months"], contract["payment_terms"]) == ("draft", 12, "net_30")
    assert contract["start_date"] == date.today().isoformat()
    with pytest.raises(Conflict, match="converted already"):
        crm.conversions.convert(me, "quote", quote_id, "contract_from_quote")


def test_an_approved_contract_orders_its_quote_lines_once(crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    deal = _deal(crm, rep, stages)
    quote_id = crm.conversions.convert(rep, "opportunity", deal["id"], "quote_from_opportunity")["records"][0]["id"]
    crm.records.update(rep, "quote", quote_id, {"status": "accepted"}, None)
    me = admin(crm)
    contract_id = crm.conversions.convert(me, "quote", quote_id, "contract_from_quote")["records"][0]["id"]
    with pytest.raises(Conflict, match="cannot be converted now"):
        crm.conversions.convert(me, "contract", contract_id, "order_from_contract")
    crm.records.update(me, "contract", contract_id, {"status": "approved"}, None)
    made = crm.conversions.convert(me, "contract", contract_id, "order_from_contract")["records"][0]
    assert made["lines"] == 2
    order = crm.records.get(me, "order", made["id"])
    quote = crm.records.get(me, "quote", quote_id)
    assert (order["status"], order["contract"], order["quote"], order["account"]) == (
        "draft", contract_id, quote_id, deal["account"])
    assert [_line(o) for o in order["lines"]] == [_line(q) for q in quote["lines"]]
    assert order["total"] == quote["total"]
    with pytest.raises(Conflict, match="converted already"):
        crm.conversions.convert(me, "contract", contract_id, "order_from_contract")
    assert len(crm.records.list(me, "order", limit=10)["data"]) == 1


def test_a_quote_or_contract_that_already_has_its_contract_or_order_offers_none_again(
        crm: Platform, stages: dict[str, int], rep: Actor) -> None:
    """Records made by hand or loaded as samples count too, not only those a conversion made."""
    deal = _deal(crm, rep, stages)
    me = admin(crm)
    quote_id = crm.conversions.convert(rep, "opportunity", deal["id"], "quote_from_opportunity")["records"][0]["id"]
    crm.records.update(rep, "quote", quote_id, {"status": "accepted"}, None)
    contract = crm.records.create(me, "contract", {"name": "Typed in", "account": deal["account"], "quote": quote_id,
                                                   "start_date": "2030-01-01", "contract_value": "100",
                                                   "status": "approved"})
    offered = {c["api_name"]: c for c in crm.conversions.offered(me, "quote", quote_id)}
    assert not offered["contract_from_quote"]["available"]
    assert {c["api_name"]: c for c in crm.conversions.offered(me, "contract", contract["id"])}[
        "order_from_contract"]["available"]
    crm.records.create(me, "order", {"account": deal["account"], "contract": contract["id"]})
    offered = {c["api_name"]: c for c in crm.conversions.offered(me, "contract", contract["id"])}
    assert not offered["order_from_contract"]["available"]
    with pytest.raises(Conflict, match="cannot be converted now"):
        crm.conversions.convert(me, "contract", contract["id"], "order_from_contract")
