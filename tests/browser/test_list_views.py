"""List views in a real browser: the condition builder, saved views, sorting, bulk changes,
CSV export, lookups picked by typing, delete and restore, and an edit that lost a race
(the conflict is shown and nothing typed is lost)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": "new"}, {"value": "won"}]},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]}


def _sign_in(page: Any, base: str, login: tuple[str, str]) -> None:
    go(page, f"{base}/login")
    page.fill("#email", login[0])
    page.fill("#password", login[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def test_a_user_filters_saves_a_view_sorts_changes_in_bulk_and_exports(page: Any, server: Any, shot: Any,
                                                                       admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, DEAL)
    acme = runtime.records.create(system, "account", {"name": "Acme Corporation"})
    runtime.records.create(system, "account", {"name": "Globex"})
    for i, amount in enumerate((500, 2500, 1200, 9000)):
        runtime.records.create(system, "deal", {"name": f"Deal {i}", "amount": amount, "stage": "new"})
    _sign_in(page, base, admin_login)

    go(page, f"{base}/app/deal")
    page.select_option("select[aria-label=Field]", "amount")
    page.select_option("select[aria-label=Operator]", "greater")
    page.fill("input[aria-label=Value]", "1000")
    page.click("text=Add condition")
    # The condition reads in the words the pickers used, not the field's name and the operator's key.
    assert page.locator("form.filters .condition span").first.inner_text().startswith("Amount greater than 1000")
    page.click("button:has-text('Apply')")
    page.wait_for_url(re.compile(r".*[?&]c=.*"))
    assert "amount > 1000" not in page.locator("main").inner_text()  # no formula of internal names
    names = page.locator("#rows a").all_inner_texts()
    assert sorted(names) == ["Deal 1", "Deal 2", "Deal 3"]
    page.fill("input[aria-label='View name']", "Big deals")
    page.click("text=Save view")
    page.wait_for_url(re.compile(r".*view=\d+"))
    go(page, f"{base}/app/deal")
    assert page.locator("#rows a").count() == 4
    page.select_option("#view-choice", label="Big deals")
    page.wait_for_url(re.compile(r".*view=\d+"))
    assert page.locator("#rows a").count() == 3
    shot(page, "list-saved-view")

    page.click("th >> text=Amount")
    page.wait_for_url(re.compile(r".*sort=amount"))
    assert page.locator("#rows a").all_inner_texts()[0] == "Deal 2"

    page.check("input[aria-label='Select record 2']")
    page.check("input[aria-label='Select record 3']")
    page.select_option("select[aria-label='Field to set']", "stage")
    page.fill("input[aria-label='New value']", "won")
    page.click("text=Apply to selected")
    page.wait_for_selector("#bulk-result >> text=2 done")
    assert {r["stage"] for r in runtime.records.list(system, "deal", filter='stage = "won"')["data"]} == {"won"}

    page.get_by_role("button", name="More").click()  # the list's menu holds Export CSV (and Import)
    with page.expect_download() as download:
        page.click("text=Export CSV")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("id,Name") and "Deal 3" in text and "Deal 0" not in text

    # A lookup is picked by typing part of the name.
    go(page, f"{base}/app/deal/1")
    page.locator("[data-field=account] input[type=search]").fill("acme")
    page.wait_for_function("[...document.querySelectorAll('[data-field=account] option')]"
                           ".some(o => o.textContent.includes('Acme'))")
    assert "Globex" not in page.locator("[data-field=account] select").inner_text()
    page.select_option("[data-field=account] select", str(acme["id"]))
    shot(page, "lookup-search")
    with page.expect_response(lambda r: r.url.endswith("/app/deal/save")):
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert runtime.records.get(system, "deal", 1)["account"] == acme["id"]

    # Someone else saves first: the conflict is explained and the typed value is still there.
    go(page, f"{base}/app/deal/1")
    runtime.records.update(system, "deal", 1, {"amount": 777}, None)
    page.fill("[name=name]", "My new name")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert "someone else" in page.locator(".flash.error").inner_text()
    assert page.input_value("[name=name]") == "My new name"
    shot(page, "record-conflict")

    go(page, f"{base}/app/deal/4")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_selector("text=went to the trash")
    page.click("text=Restore it")
    page.wait_for_url(f"{base}/app/deal/4")
    assert runtime.records.get(system, "deal", 4)["name"] == "Deal 3"


def test_a_user_picks_columns_orders_them_saves_the_view_and_gets_them_back(page: Any, server: Any, shot: Any,
                                                                           admin_login: tuple[str, str]) -> None:
    """The Columns control: Owner and the Account lookup added, Account moved first, the
    choice kept in the address (Back returns to it) and in a saved view."""
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, DEAL)
    acme = runtime.records.create(system, "account", {"name": "Acme Corporation"})
    admin = runtime.users.actor_for_user(runtime.users.id_for_email(admin_login[0]))
    runtime.records.create(admin, "deal", {"name": "Deal A", "amount": 500, "stage": "new", "account": acme["id"]})
    runtime.records.create(admin, "deal", {"name": "Deal B", "amount": 700, "stage": "won"})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Deals")
    page.wait_for_url(f"{base}/app/deal")
    headers = page.locator("table.records thead th a")
    expect(headers).to_have_text(["Name", "Amount", "Stage", "Account", "Owner"])

    page.get_by_text("Columns", exact=True).click()
    choices = page.locator(".column-choice")
    expect(choices).to_have_text([re.compile(label) for label in (
        "Name", "Amount", "Stage", "Account", "Owner", "Created", "Updated")])
    page.get_by_role("checkbox", name="Amount").uncheck()
    page.get_by_role("checkbox", name="Stage").uncheck()
    page.get_by_role("checkbox", name="Created").check()
    # Account to the top: up past Name.
    page.get_by_role("button", name="Move Account up").click()
    page.get_by_role("button", name="Move Account up").click()
    page.get_by_role("button", name="Move Account up").click()
    expect(choices.first).to_contain_text("Account")
    shot(page, "list-column-picker")
    page.get_by_role("button", name="Show these columns").click()
    page.wait_for_url(re.compile(r".*columns=account.*"))
    expect(headers).to_have_text(["Account", "Name", "Owner", "Created"])
    deal_a = page.locator("#rows tr", has_text="Acme Corporation")
    expect(deal_a.locator("td").nth(1)).to_have_text("Acme Corporation")
    # The record is opened from its name, wherever the name now stands.
    expect(deal_a.locator("td").nth(2).locator("a")).to_have_text("Deal A")
    expect(deal_a.locator("td").nth(3)).to_have_text("Admin")  # the owner, by name

    # Back returns to the list as it was; Forward to the columns picked.
    page.go_back()
    expect(headers).to_have_text(["Name", "Amount", "Stage", "Account", "Owner"])
    page.go_forward()
    expect(headers).to_have_text(["Account", "Name", "Owner", "Created"])

    page.fill("input[aria-label='View name']", "By account")
    page.click("text=Save view")
    page.wait_for_url(re.compile(r".*view=\d+"))
    page.click("nav >> text=Deals")
    page.wait_for_url(f"{base}/app/deal")
    expect(headers).to_have_text(["Name", "Amount", "Stage", "Account", "Owner"])
    page.select_option("#view-choice", label="By account")
    page.wait_for_url(re.compile(r".*view=\d+"))
    expect(headers).to_have_text(["Account", "Name", "Owner", "Created"])
    shot(page, "list-saved-columns")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("Columns", exact=True).click()
    expect(page.get_by_role("button", name="Show these columns")).to_be_visible()
    shot(page, "list-column-picker-phone")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Show these columns")).to_be_hidden()


def test_on_a_phone_the_records_start_on_the_first_screen(page: Any, server: Any, shot: Any,
                                                          admin_login: tuple[str, str]) -> None:
    """#17 phone list: at 390 px the views bar and the filters fold behind "Filters" and the
    bulk bar waits until a record is ticked, so the first records show without scrolling; on
    a wide screen everything stays in view as before."""
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, DEAL)
    for n in range(12):
        runtime.records.create(system, "deal", {"name": f"Deal {n:02}", "amount": 1000 * n,
                                                "stage": "won" if n % 3 == 0 else "new"})
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, base, admin_login)
    go(page, f"{base}/app/deal")
    toggle = page.get_by_role("button", name="Filters")
    expect(toggle).to_be_visible()
    expect(page.get_by_label("Formula filter")).to_be_hidden()
    expect(page.get_by_label("View name")).to_be_hidden()
    expect(page.get_by_role("button", name="Apply to selected")).to_be_hidden()
    first = page.locator("#rows tr").first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= 844, f"the first record is at {first} on a phone"
    shot(page, "list-phone-first-screen")

    # Ticking a record brings the bulk bar, saying how many are ticked.
    page.locator("#rows tr", has_text="Deal 01").locator("input[name=ids]").check()
    bulk = page.get_by_role("button", name="Apply to selected")
    expect(bulk).to_be_visible()
    expect(page.locator(".bulk-count")).to_have_text("1 selected")
    page.get_by_role("checkbox", name="Select all").check()
    expect(page.locator(".bulk-count")).to_have_text("12 selected")
    shot(page, "list-phone-selected")
    page.get_by_role("checkbox", name="Select all").uncheck()
    expect(bulk).to_be_hidden()

    # Filters open on a tap; a filtered list says how many filters hold on the toggle.
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    formula = page.get_by_label("Formula filter")
    expect(formula).to_be_visible()
    expect(page.get_by_label("View name")).to_be_visible()
    shot(page, "list-phone-filters-open")
    formula.fill('stage = "won"')
    formula.press("Escape")
    formula.press("Enter")
    page.wait_for_url(re.compile(r".*formula=.*"))
    expect(page.locator("#rows tr")).to_have_count(4)
    expect(page.get_by_role("button", name=re.compile(r"^Filters"))).to_have_text(re.compile(r"Filters\s*1"))
    expect(page.get_by_label("Formula filter")).to_be_hidden()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the list is {width}px wide on a 390px phone"

    # A wide screen shows the filters and the bulk bar at once, and no toggle.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("button", name=re.compile(r"^Filters"))).to_be_hidden()
    expect(page.get_by_label("Formula filter")).to_be_visible()
    expect(page.get_by_role("button", name="Apply to selected")).to_be_visible()
    shot(page, "list-desktop-filters")
