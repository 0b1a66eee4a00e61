"""The CRM's pipeline in a browser: a sales rep opens the Opportunities board, which comes
grouped by stage in the stages' order; dragging a deal to Proposal takes the stage's
probability and gives the rep a "Send quote" task; dragging one to Lost without a reason is
refused with the reason on the card."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import expect

from templates.crm.conftest import PASSWORD, install, person  # tests/ is on the path (the suite's conftest)
from tessera.auth.actor import Actor

from .conftest import go
from .test_build_and_use_an_app import drag
from .test_flows import _sign_in

STAGES = (("Qualification", 1, "10", "open"), ("Needs Analysis", 2, "20", "open"), ("Proposal", 3, "50", "open"),
          ("Negotiation", 4, "75", "open"), ("Won", 5, "100", "won"), ("Lost", 6, "0", "lost"))


def lane(page: Any, label: str) -> Any:
    return page.locator(f'section.column[aria-label="{label}"]')


def test_a_rep_works_the_pipeline_on_the_board_by_stage(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    install(runtime, sample_data=False)
    system = Actor.system()
    stage = {name: runtime.records.create(system, "sales_stage", {
        "name": name, "position": position, "probability": probability, "category": category})["id"]
        for name, position, probability, category in reversed(STAGES)}  # made out of order on purpose
    rep = person(runtime, "east.rep1@demo.tessera", roles=["sales_rep"], teams=["east"], name="Daniel Okafor")
    account = runtime.records.create(rep, "account", {"name": "Harbor Bank", "region": "east"})
    close = (date.today() + timedelta(days=45)).isoformat()
    for name in ("Harbor Bank: CRM rollout", "Harbor Bank: Data migration"):
        runtime.records.create(rep, "opportunity", {"name": name, "account": account["id"],
                                                    "stage": stage["Qualification"], "close_date": close,
                                                    "manual_amount": "25000"})

    _sign_in(page, base, "east.rep1@demo.tessera", PASSWORD)
    page.get_by_role("link", name="Opportunities").first.click()
    page.wait_for_url(re.compile(r".*/app/opportunity$"))
    page.get_by_role("link", name="Board", exact=True).click()
    page.wait_for_url(re.compile(r".*/app/opportunity/board.*"))
    expect(page.locator("[data-kanban]")).to_have_attribute("data-kanban-ready", "1")
    expect(page.get_by_role("heading", level=1)).to_have_text("Opportunities by Stage")
    expect(page.locator("section.column h2 > span:first-child")).to_have_text(
        [name for name, *_ in STAGES] + ["No stage"])
    expect(lane(page, "Qualification").locator("[data-count]")).to_have_text("2")
    expect(lane(page, "Qualification")).to_contain_text("25,000.00 USD")
    shot(page, "crm-board")

    drag(page, page.locator(".card[data-id]", has_text="CRM rollout"), lane(page, "Proposal").locator(".cards"))
    expect(lane(page, "Proposal").locator("[data-count]")).to_have_text("1")
    drag(page, page.locator(".card[data-id]", has_text="Data migration"), lane(page, "Lost").locator(".cards"))
    expect(page.locator(".card", has_text="Data migration")).to_contain_text("Say why the deal was lost")
    expect(lane(page, "Qualification").locator(".card", has_text="Data migration")).to_have_count(1)
    shot(page, "crm-board-lost-refused")

    lane(page, "Proposal").get_by_role("link", name="Harbor Bank: CRM rollout").click()
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    expect(page.locator(".record-layout")).to_contain_text("50")
    go(page, page.url)  # the task comes from an after-save rule: read the page as it is now
    expect(page.get_by_role("link", name="Send quote").first).to_be_visible()
