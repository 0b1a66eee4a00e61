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
    assert installed["crm"]["version"] == "1.0.1"


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


def test_the_accounts_stored_figures_follow_every_change_to_the_records_they_add_up(crm: Platform) -> None:
    """The account's 360° figures that do not read today's date are stored rollups: each
    change to a deal, contract, payment, order or activity updates them in its own save."""
    from .test_rules import contract, people, stages

    me, team, stage = admin(crm), people(crm), stages(crm)
    account = crm.records.create(me, "account", {"name": "Globex"})

    def figures() -> dict[str, object]:
        found = crm.records.get(me, "account", account["id"])
        return {k: found[k] for k in ("open_pipeline", "won_revenue", "paid", "outstanding", "collection_pct",
                                      "customer_since", "next_renewal", "last_activity", "lifetime_orders")}

    assert figures() == {"open_pipeline": "0.00", "won_revenue": "0.00", "paid": "0.00", "outstanding": "0.00",
                         "collection_pct": None, "customer_since": None, "next_renewal": None,
                         "last_activity": None, "lifetime_orders": "0.00"}
    deal = crm.records.create(me, "opportunity", {"name": "Globex seats", "account": account["id"],
                                                  "stage": stage["Proposal"], "close_date": "2030-01-31",
                                                  "manual_amount": "5000"})
    assert figures()["open_pipeline"] == "5000.00"
    crm.records.update(me, "opportunity", deal["id"], {"stage": stage["Won"]}, None)
    assert (figures()["open_pipeline"], figures()["won_revenue"]) == ("0.00", "5000.00")

    signed = contract(crm, team["east1"], account, ends_in=200, value="1000")
    assert (figures()["outstanding"], figures()["next_renewal"]) == ("1000.00", signed["end_date"])
    assert figures()["customer_since"] == signed["start_date"]
    payment = crm.records.create(me, "payment", {"contract": signed["id"], "amount": "250", "reference": "A"})
    assert (figures()["paid"], figures()["outstanding"], figures()["collection_pct"]) == ("250.00", "750.00", "25.0")
    crm.records.delete(me, "payment", payment["id"])
    assert (figures()["paid"], figures()["outstanding"]) == ("0.00", "1000.00")
    crm.records.restore(me, "payment", payment["id"])
    assert figures()["paid"] == "250.00"

    activity = crm.records.create(me, "activity", {"subject": "Call", "type": "call", "account": account["id"],
                                                   "status": "done", "completed_at": "2026-03-04T10:00:00Z"})
    assert figures()["last_activity"] == "2026-03-04T10:00:00Z"
    other = crm.records.create(me, "account", {"name": "Initech"})
    crm.records.update(me, "activity", activity["id"], {"account": other["id"]}, None)
    assert figures()["last_activity"] is None
    assert crm.records.get(me, "account", other["id"])["last_activity"] == "2026-03-04T10:00:00Z"
