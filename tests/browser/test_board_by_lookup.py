"""A board grouped by a lookup to a small master-data object, in a real browser: a person
opens the opportunities list, clicks "Board", picks "Stage" (a lookup to sales stages,
offered beside the select), drags a card to the next stage's lane and reads the lanes'
counts — which follow the card at once and hold after a reload."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_build_and_use_an_app import drag
from .test_list_views import _sign_in

SALES_STAGE = {"api_name": "sales_stage", "label": "Sales stage", "order_field": "position", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "position", "label": "Position", "type": "integer"},
]}
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "priority", "label": "Priority", "type": "select", "options": [{"value": "low"}, {"value": "high"}]},
    {"api_name": "stage", "label": "Stage", "type": "lookup", "target": "sales_stage"},
]}


def lane(page: Any, label: str) -> Any:
    return page.locator(f'section.column[aria-label="{label}"]')


def test_a_person_drags_a_card_between_the_lanes_of_a_board_grouped_by_a_lookup(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, SALES_STAGE)
    runtime.metadata.create_object(system, OPPORTUNITY)
    # Created out of order: the lanes follow the stages' positions, not their ids.
    ids = {name: runtime.records.create(system, "sales_stage", {"name": name, "position": p})["id"]
           for name, p in (("Won", 3), ("Qualification", 1), ("Proposal", 2))}
    for name, stage in (("Acme renewal", "Qualification"), ("Globex pilot", "Qualification"),
                        ("Initech upgrade", "Proposal")):
        runtime.records.create(system, "opportunity", {"name": name, "stage": ids[stage], "priority": "low"})

    _sign_in(page, base, admin_login)
    go(page, f"{base}/app/opportunity")
    page.get_by_role("link", name="Board", exact=True).click()
    page.wait_for_url(re.compile(r".*/app/opportunity/board.*"))
    # Swapped in by the boosted link, the board's cards are draggable all the same.
    expect(page.locator("[data-kanban]")).to_have_attribute("data-kanban-ready", "1")
    picker = page.get_by_label("Group by")
    expect(picker.locator("option")).to_have_text(["Priority", "Stage"])
    picker.select_option("stage")
    page.wait_for_url(re.compile(r".*group_by=stage.*"))
    expect(page.locator("section.column h2 > span:first-child")).to_have_text(
        ["Qualification", "Proposal", "Won", "No stage"])
    expect(lane(page, "Qualification").locator("[data-count]")).to_have_text("2")
    expect(lane(page, "Proposal").locator("[data-count]")).to_have_text("1")
    shot(page, "board-by-lookup")

    card = page.locator(".card[data-id]", has_text="Acme renewal")
    drag(page, card, lane(page, "Proposal").locator(".cards"))
    expect(lane(page, "Proposal").locator("[data-count]")).to_have_text("2")
    expect(lane(page, "Qualification").locator("[data-count]")).to_have_text("1")
    expect(lane(page, "Proposal").locator(".card", has_text="Acme renewal")).to_have_count(1)
    shot(page, "board-by-lookup-moved")

    page.reload()
    expect(lane(page, "Proposal").locator("[data-count]")).to_have_text("2")
    expect(lane(page, "Proposal").locator(".card", has_text="Acme renewal")).to_have_count(1)
    moved = runtime.records.list(system, "opportunity", filter='name = "Acme renewal"')["data"][0]
    assert moved["stage"] == ids["Proposal"]
