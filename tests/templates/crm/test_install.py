"""Installing the CRM template: every object is there, with its formulas working."""

from __future__ import annotations

from tessera.runtime.platform import Platform

from .conftest import admin

OBJECTS = {"account", "contact", "lead", "opportunity", "opportunity_line", "product", "quote", "quote_line",
           "contract", "order", "order_line", "payment_plan", "payment", "campaign", "campaign_member",
           "activity", "sales_stage", "lost_reason"}


def test_the_crm_installs_every_object_it_promises(crm: Platform) -> None:
    names = {o["api_name"] for o in crm.metadata.list_objects()}
    assert names >= OBJECTS
    installed = {p["name"]: p for p in crm.packages.installed()}
    assert installed["crm"]["version"] == "1.0.0"


def test_an_opportunity_amount_follows_its_lines_and_the_account_sums_it(crm: Platform) -> None:
    me = admin(crm)
    stage = crm.records.create(me, "sales_stage", {"name": "Proposal", "position": 3, "probability": "50"})
    product = crm.records.create(me, "product", {"code": "P1", "name": "Seat", "list_price": "100"})
    account = crm.records.create(me, "account", {"name": "Northwind"})
    deal = crm.records.create(me, "opportunity", {
        "name": "Northwind seats", "account": account["id"], "stage": stage["id"], "close_date": "2030-01-31",
        "lines": [{"product": product["id"], "quantity": "3", "discount_pct": "10"}]})
    assert deal["lines"][0]["unit_price"] == "100.00"
    assert deal["amount"] == "270.00"
    assert deal["weighted_amount"] == "135.00"
    assert deal["probability"] == "50"
    assert crm.records.get(me, "account", account["id"])["open_pipeline"] == "270.00"
