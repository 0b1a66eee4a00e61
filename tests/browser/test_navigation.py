"""Moving between pages as a person does: a record opened from a list, from a board and from
the record page it is linked to replaces the page it was clicked on (htmx boosting), the
address follows, and the browser's Back button returns to the list."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_list_views import ACCOUNT, DEAL, _sign_in


def _accounts_and_deals(runtime: Any) -> Actor:
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, DEAL)
    return system


def test_a_record_clicked_in_a_list_or_a_board_replaces_the_page(page: Any, server: Any, shot: Any,
                                                                 admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = _accounts_and_deals(runtime)
    for i in range(3):
        runtime.records.create(system, "deal", {"name": f"Deal {i}", "amount": 100 * i, "stage": "new"})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Deals")
    page.wait_for_url(f"{base}/app/deal")
    page.click("#rows >> text=Deal 1")
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    expect(page.locator("h1")).to_have_text("Deal: Deal 1")
    # The list is gone, not left on screen under the record's panels.
    expect(page.locator("table.records")).to_have_count(0)
    expect(page.locator("#bulk")).to_have_count(0)
    shot(page, "navigation-record-from-list")
    page.go_back()
    page.wait_for_url(f"{base}/app/deal")
    expect(page.locator("#rows a")).to_have_count(3)
    # From the board, the same.
    page.get_by_role("link", name="Board", exact=True).click()
    page.wait_for_url(re.compile(r".*/app/deal/board.*"))
    page.click(".cards >> text=Deal 2")
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    expect(page.locator("h1")).to_have_text("Deal: Deal 2")
    expect(page.locator(".cards")).to_have_count(0)


def test_a_record_shows_its_related_lists_and_adds_to_them(page: Any, server: Any, shot: Any,
                                                           admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = _accounts_and_deals(runtime)
    acme = runtime.records.create(system, "account", {"name": "Acme"})["id"]
    runtime.records.create(system, "account", {"name": "Globex"})
    for name in ("Big one", "Small one"):
        runtime.records.create(system, "deal", {"name": name, "amount": 10, "account": acme})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Accounts")
    page.click("#rows >> text=Acme")
    page.wait_for_url(f"{base}/app/account/{acme}")
    related = page.locator("section.related-list")
    expect(related.locator("h2")).to_have_text("Deals (2)")
    expect(related.locator("tbody a")).to_have_text(["Big one", "Small one"])
    shot(page, "record-related-list")
    related.get_by_role("link", name="New Deal").click()
    page.wait_for_url(re.compile(r".*/app/deal/new\?account=\d+"))
    page.get_by_label("Name").fill("Third one")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    page.go_back()
    page.go_back()
    page.reload()
    expect(page.locator("section.related-list h2")).to_have_text("Deals (3)")
    related.locator("tbody a", has_text="Big one").click()
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    expect(page.locator("h1")).to_have_text("Deal: Big one")


def test_lists_read_as_people_write_them(page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "stage", "label": "Stage", "type": "select",
         "options": [{"value": "on_site", "label": "On site"}, {"value": "closed_won", "label": "Closed won"}]},
        {"api_name": "hot", "label": "Hot", "type": "boolean"},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]})
    acme = runtime.records.create(system, "account", {"name": "Acme"})["id"]
    admin_id = 1  # the first user: the admin the server was started with
    runtime.records.create(system, "deal", {"name": "Big", "amount": "1234567.5", "stage": "closed_won", "hot": True,
                                            "account": acme, "owner": admin_id})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Deals")
    page.wait_for_url(f"{base}/app/deal")
    row = page.locator("#rows tr").first
    expect(row).to_contain_text("Big")
    cells = row.locator("td").all_inner_texts()
    assert "Closed won" in cells and "closed_won" not in cells
    assert "Acme" in cells and "Yes" in cells and "1,234,567.50" in cells
    expect(page.locator("table.records thead")).to_contain_text("Owner")
    assert any("admin" in c.lower() for c in cells), cells
    shot(page, "list-with-labels")
    # The record's history reads the same way: labels, names, the person who changed it.
    page.click("#rows >> text=Big")
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    page.get_by_label("Stage").select_option(label="On site")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    history = page.locator("ol.timeline")
    expect(history).to_contain_text("Stage: Closed won → On site")
    expect(history).to_contain_text("by Admin")
    expect(history).not_to_contain_text("closed_won")
    page.click("nav >> text=Accounts")
    page.click("#rows >> text=Acme")
    related = page.locator("section.related-list")
    expect(related).to_contain_text("On site")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "record-related-list-phone")
