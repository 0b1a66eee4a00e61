"""The CRM's record pages and navigation over HTTP, on SQLite and PostgreSQL: the account's
360° page shows its figures, its contacts, opportunities, quotes (through its deals),
contracts, orders and payments (through its contracts) as related lists and its activities,
deals, contracts and payments on one timeline, newest first — each only as the reader may
see it; the opportunity, quote, contract and lead pages show their lines, totals,
collections and conversion links; the apps group the objects and dashboards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD  # the suite's (tests/conftest.py)
from signed_in import SignedIn
from tessera.app import create_app
from tessera.runtime.platform import Platform

from .conftest import PASSWORD, admin, person


@pytest.fixture
def site(crm: Platform) -> Iterator[Any]:
    with TestClient(create_app(crm), base_url="http://127.0.0.1") as client:
        yield client.app


def visit(app: Any, email: str) -> SignedIn:
    password = ADMIN_PASSWORD if email == ADMIN_EMAIL else PASSWORD
    return SignedIn(TestClient(app, base_url="http://127.0.0.1"), email, password)


@pytest.fixture
def northwind(crm: Platform) -> dict[str, Any]:
    me = admin(crm)
    make = crm.records.create
    person(crm, "ann@demo.tessera", roles=["sales_rep"], teams=["east"], name="Ann Archer")
    person(crm, "bob@demo.tessera", roles=["sales_rep"], teams=["west"], name="Bob Baker")
    ann = crm.users.id_for_email("ann@demo.tessera")
    bob = crm.users.id_for_email("bob@demo.tessera")
    stage = {name: make(me, "sales_stage", {"name": name, "position": i + 1, "probability": p, "category": c,
                                             "forecast_category": "pipeline"})["id"]
             for i, (name, p, c) in enumerate([("Qualification", "10", "open"), ("Proposal", "50", "open"),
                                               ("Won", "100", "won")])}
    seat = make(me, "product", {"code": "SEAT", "name": "Seat licence", "list_price": "100"})["id"]
    account = make(me, "account", {"name": "Northwind", "region": "east", "owner": ann})["id"]
    make(me, "contact", {"first_name": "Nina", "last_name": "North", "account": account, "title": "CFO",
                         "owner": ann})
    won = make(me, "opportunity", {"name": "Northwind seats", "account": account, "stage": stage["Won"],
                                   "close_date": "2026-03-31", "closed_at": "2026-03-31", "engage_date": "2026-01-05",
                                   "owner": ann,
                                   "lines": [{"product": seat, "quantity": "10", "discount_pct": "10"}]})["id"]
    make(me, "opportunity", {"name": "Northwind secret expansion", "account": account, "stage": stage["Proposal"],
                             "close_date": "2026-09-30", "engage_date": "2026-01-05", "manual_amount": "5000",
                             "owner": bob})
    make(me, "quote", {"opportunity": won, "title": "Seats offer", "status": "accepted",
                       "lines": [{"product": seat, "quantity": "10", "unit_price": "100", "discount_pct": "10"}]})
    contract = make(me, "contract", {"name": "Northwind 2026", "account": account, "opportunity": won,
                                     "status": "activated", "start_date": "2026-04-01", "term_months": 12,
                                     "contract_value": "900", "payment_terms": "net_30", "owner": ann})["id"]
    make(me, "payment_plan", {"name": "Installment 1", "contract": contract, "installment_no": 1,
                              "due_date": "2026-05-01", "planned_amount": "900"})
    make(me, "payment", {"contract": contract, "received_date": "2026-05-03", "amount": "600", "status": "received",
                         "method": "bank_transfer", "reference": "NW-1"})
    make(me, "order", {"account": account, "contract": contract, "status": "confirmed", "order_date": "2026-04-02"})
    make(me, "activity", {"subject": "Kick-off meeting", "type": "meeting", "status": "done", "account": account,
                          "completed_at": "2026-04-03T09:00:00Z", "owner": ann})
    make(me, "activity", {"subject": "Renewal call", "type": "call", "status": "planned", "account": account,
                          "due_at": "2027-02-15T10:00:00Z", "owner": ann})
    crm.scheduler.drain()  # the after-save automation (the Proposal stage's task) runs in the background
    return {"account": account, "won": won, "contract": contract, "ann": ann, "bob": bob}


def section(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</section>", 1)[0]


def timeline(html: str) -> list[str]:
    """The timeline's entries as read: each item's kind and name."""
    items = section(html, "data-timeline").split("<li")[1:]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item.split("</a>", 1)[0].split("</time>", 1)[1])).strip()
            for item in items]


def test_the_account_page_shows_its_related_lists_and_timeline(site: Any, northwind: dict[str, Any]) -> None:
    page = visit(site, ADMIN_EMAIL).get(f"/app/account/{northwind['account']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<legend>360°</legend>" in html and "Open pipeline" in html and "Won revenue" in html
    assert "<title>Northwind · Account · Tessera</title>" in html  # the tab names the record
    for relation, shown in (("contacts", "Nina North"), ("opportunities", "Northwind seats"),
                            ("quotes", "Seats offer"), ("contracts", "Northwind 2026"),
                            ("orders", "ORD-"), ("payments", "PAY-")):
        assert shown in section(html, f'data-relation="{relation}"'), relation
    assert "600.00" in section(html, 'data-relation="payments"')
    # Newest first: the call planned for next year, the task the Proposal stage gave (due in
    # two days), the deal closing in September, the payment, the kick-off meeting, the
    # contract's start, the deal won in March.
    assert timeline(html) == ["Activity Renewal call", "Activity Send quote", "Opportunity Northwind secret expansion",
                              "Payment PAY-00001", "Activity Kick-off meeting", "Contract Northwind 2026",
                              "Opportunity Northwind seats"]
    assert "Type: Meeting · Status: Done" in section(html, "data-timeline")
    assert "Stage: Won · Amount: 900.00" in section(html, "data-timeline")  # the stage by its name
    # The form lists contacts, so the automatic card below does not repeat them; activities keep theirs.
    assert 'id="related-contact-account"' not in html and 'id="related-activity-account"' in html
    # The accounts below this one are titled by their relation, not as "Accounts".
    assert "Subsidiaries <span" in section(html, 'id="related-account-parent_account"')
    assert "No subsidiaries yet." in section(html, 'id="related-account-parent_account"')


def test_a_rep_sees_on_the_account_page_only_what_they_may_read(site: Any, northwind: dict[str, Any]) -> None:
    html = visit(site, "ann@demo.tessera").get(f"/app/account/{northwind['account']}").text
    assert "Northwind seats" in html and "Nina North" in html and "Kick-off meeting" in html
    # Bob's deal in the west team is neither listed nor on the timeline.
    assert "Northwind secret expansion" not in html
    assert "Northwind secret expansion" not in " ".join(timeline(html))


def test_the_deal_quote_contract_and_lead_pages_show_lines_totals_collections_and_links(
        crm: Platform, site: Any, northwind: dict[str, Any]) -> None:
    me = admin(crm)
    browser = visit(site, ADMIN_EMAIL)
    deal = browser.get(f"/app/opportunity/{northwind['won']}").text
    assert "<legend>Products</legend>" in deal and "Seat licence" in deal and "Weighted amount" in deal
    assert 'data-relation="quotes"' in deal and "Seats offer" in deal
    quote_id = crm.records.list(me, "quote", limit=1)["data"][0]["id"]
    quote = browser.get(f"/app/quote/{quote_id}").text
    assert "<legend>Totals</legend>" in quote and "Grand total" in quote and "900.00" in quote
    contract = browser.get(f"/app/contract/{northwind['contract']}").text
    assert "<legend>Collections</legend>" in contract and "Outstanding" in contract
    assert "Installment 1" in section(contract, 'data-relation="payment_plans"')
    assert "NW-1" not in section(contract, 'data-relation="payments"')  # the reference is no column
    assert "600.00" in section(contract, 'data-relation="payments"')
    lead = crm.records.create(me, "lead", {"last_name": "Lee", "company": "Leeway", "status": "converted",
                                           "converted": True, "converted_account": northwind["account"]})
    page = browser.get(f"/app/lead/{lead['id']}").text
    assert "<legend>Scoring and follow-up</legend>" in page and "Grade" in page
    assert "<legend>Conversion</legend>" in page and "Northwind" in page


def test_the_apps_group_the_objects_and_dashboards(crm: Platform, site: Any) -> None:
    apps = {a["api_name"]: a for a in crm.documents.list("apps")}
    assert apps["sales"]["objects"][:4] == ["lead", "account", "contact", "opportunity"]
    assert apps["sales"]["dashboards"] == ["pipeline_funnel", "revenue_contracts_marketing"]
    assert set(apps["finance"]["objects"]) == {"contract", "payment_plan", "payment", "order"}
    assert apps["sales_setup"]["objects"] == ["product", "sales_stage", "lost_reason"]
    person(crm, "boss@demo.tessera", roles=["sales_manager"], teams=["east"])
    home = visit(site, "boss@demo.tessera").get("/app").text
    assert "Sales" in home and "Pipeline &amp; funnel" in home


def test_the_opportunity_board_opens_on_the_stages_in_their_order_with_amounts_on_the_cards(
        site: Any, northwind: dict[str, Any]) -> None:
    page = visit(site, ADMIN_EMAIL).get("/app/opportunity/board").text
    assert "Opportunities by Stage" in page
    lanes = re.findall(r'<section class="column" aria-label="([^"]+)">', page)
    assert [lane for lane in lanes if lane in ("Qualification", "Proposal", "Won")] == ["Qualification", "Proposal",
                                                                                        "Won"]
    assert "900.00 USD" in page  # the won deal's amount, from its lines
