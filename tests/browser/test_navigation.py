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
    # The record says whose it is, by name, as the list's Owner column does.
    expect(page.locator(".record-owner > .muted")).to_have_text("Owner: Admin")
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


FIFTEEN = [("account", "Account"), ("contact", "Contact"), ("lead", "Lead"), ("opportunity", "Opportunity"),
           ("quote", "Quote"), ("product", "Product"), ("ticket", "Ticket"), ("kb_article", "Knowledge article"),
           ("sla_target", "Service target"), ("asset", "Asset"), ("visit", "Visit"), ("invoice", "Invoice"),
           ("payment", "Payment"), ("supplier", "Supplier"), ("warehouse", "Warehouse")]


def _fifteen_objects(runtime: Any) -> Actor:
    system = Actor.system()
    for name, label in FIFTEEN:
        runtime.metadata.create_object(system, {"api_name": name, "label": label, "fields": [
            {"api_name": "name", "label": "Name", "type": "text", "required": True}]})
    return system


def _fits(page: Any) -> None:
    """The top bar is one line and nothing runs off the side of the screen."""
    height = page.locator("header.topbar").bounding_box()["height"]
    assert height <= 56, height
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_with_fifteen_objects_in_two_apps_people_switch_apps_star_and_find_records(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = _fifteen_objects(runtime)
    runtime.documents.create(system, "apps", {"api_name": "service", "label": "Service", "letter": "Sv",
                                              "colour": "teal", "order": 20,
                                              "objects": ["ticket", "kb_article", "sla_target", "asset", "visit"]})
    for name in ("Printer jams", "Screen flickers", "Cannot sign in"):
        runtime.records.create(system, "ticket", {"name": name})
    acme = runtime.records.create(system, "account", {"name": "Acme"})["id"]
    _sign_in(page, base, admin_login)
    # Without a Sales app yet, the objects of no app are under Other; the builder makes Sales.
    page.get_by_role("link", name="Builder", exact=True).click()
    page.get_by_role("navigation", name="Build").get_by_role("link", name="Apps", exact=True).click()
    page.wait_for_url(f"{base}/builder/navigation")
    expect(page.locator("main")).to_contain_text("Objects in no app: Accounts")
    page.get_by_role("link", name="New app").click()
    page.get_by_label("Label", exact=True).fill("Sales")
    page.get_by_label("Name", exact=False).fill("other")
    for plural in ("Accounts", "Contacts", "Leads", "Opportunities", "Quotes", "Products"):
        page.get_by_role("checkbox", name=plural, exact=True).check()
    page.get_by_role("button", name="Create app").click()
    # A name that is taken by Other is refused beside the input, and nothing is lost.
    expect(page.locator(".field-error").first).to_contain_text("kept for the objects in no app")
    expect(page.get_by_label("Label", exact=True)).to_have_value("Sales")
    page.get_by_label("Name", exact=False).fill("")
    # Opportunities first: ticked objects are listed first, and ↑ moves one up.
    for _ in range(3):
        page.get_by_role("button", name="Move Opportunities up").click()
    page.get_by_label("Letter on the tile").fill("S")
    page.get_by_label("Colour of the tile").select_option(label="Orange")
    shot(page, "navigation-app-builder")
    page.get_by_role("button", name="Create app").click()
    page.wait_for_url(f"{base}/builder/navigation")
    expect(page.locator(".app-row h2")).to_have_text(["Service", "Sales", "Other"])
    page.get_by_role("button", name="Move Sales up").click()
    expect(page.locator(".app-row h2")).to_have_text(["Sales", "Service", "Other"])
    shot(page, "navigation-apps")

    # The app menu: Sales first; its objects in its order in the sidebar, nothing wrapping.
    switcher = page.locator(".app-switcher-button")
    switcher.click()
    menu = page.locator("#app-menu")
    expect(menu.get_by_role("list").get_by_role("link")).to_have_count(3)  # Sales, Service, Other
    shot(page, "navigation-app-menu")
    menu.get_by_role("link", name="Sales").click()
    page.wait_for_url(f"{base}/app?app=sales")
    objects = page.get_by_role("navigation", name="Objects")
    expect(objects.get_by_role("link")).to_have_text(["Opportunities", "Accounts", "Contacts", "Leads", "Products",
                                                      "Quotes"])
    _fits(page)
    shot(page, "navigation-sales-app")
    # Switching to Service: its objects, and the choice stays on the next pages.
    switcher.click()
    menu.get_by_role("link", name="Service").click()
    page.wait_for_url(f"{base}/app?app=service")
    expect(objects.get_by_role("link")).to_have_text(["Tickets", "Knowledge articles", "Service targets", "Assets",
                                                      "Visits"])
    page.get_by_role("link", name="Dashboards", exact=True).click()
    page.wait_for_url(f"{base}/dashboards")
    expect(page.locator(".app-switcher-label")).to_contain_text("Service")
    objects.get_by_role("link", name="Tickets").click()
    page.wait_for_url(f"{base}/app/ticket")
    expect(objects.get_by_role("link", name="Tickets")).to_have_attribute("aria-current", "page")

    # Star a record; it is under Favourites by its name, and stays there from page to page.
    page.click("#rows >> text=Screen flickers")
    page.wait_for_url(re.compile(r".*/app/ticket/\d+$"))
    star = page.get_by_role("button", name="Favourite")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(page.get_by_role("button", name="Favourite")).to_have_attribute("aria-pressed", "true")
    favourites = page.get_by_role("navigation", name="Favourites")
    expect(favourites.get_by_role("link")).to_have_text(["Screen flickersTicket"])
    shot(page, "navigation-starred")
    # A record opened is under Recent, the latest first, whatever app it is in.
    switcher.click()
    menu.get_by_role("link", name="Sales").click()
    objects.get_by_role("link", name="Accounts").click()
    page.click("#rows >> text=Acme")
    page.wait_for_url(f"{base}/app/account/{acme}")
    expect(page.locator("h1")).to_have_text("Account: Acme")
    recent = page.get_by_role("navigation", name="Recent")
    expect(recent.get_by_role("link")).to_have_text(["AcmeAccount", "Screen flickersTicket"])
    # A favourite of another app opens in it: the navigation shows where the record is.
    favourites.get_by_role("link", name="Screen flickers").click()
    page.wait_for_url(re.compile(r".*/app/ticket/\d+$"))
    expect(page.locator("h1")).to_have_text("Ticket: Screen flickers")
    expect(page.locator(".app-switcher-label")).to_contain_text("Service")
    # Unstarred, it leaves Favourites.
    page.get_by_role("button", name="Favourite").click()
    expect(page.get_by_role("button", name="Favourite")).to_have_attribute("aria-pressed", "false")
    expect(favourites.get_by_role("link")).to_have_count(0)

    # At phone width the sidebar is behind the menu button; it opens and reaches a list.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(objects).to_be_hidden()
    _fits(page)
    shot(page, "navigation-phone-closed")
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
    expect(objects).to_be_visible()
    shot(page, "navigation-phone-open")
    objects.get_by_role("link", name="Assets").click()
    page.wait_for_url(f"{base}/app/asset")
    expect(page.locator("h1")).to_have_text("Assets")
    expect(objects).to_be_hidden()
    # The account menu holds the e-mail and Sign out.
    page.get_by_role("button", name="Your account").click()
    expect(page.locator("#user-menu")).to_contain_text("admin@example.com")
    shot(page, "navigation-account-menu-phone")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")


def test_fifty_objects_fit_the_sidebar_which_scrolls(page: Any, server: Any, shot: Any,
                                                     admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    for i in range(50):
        runtime.metadata.create_object(system, {"api_name": f"thing_{i:02d}", "label": f"Thing {i:02d}", "fields": [
            {"api_name": "name", "label": "Name", "type": "text"}]})
    _sign_in(page, base, admin_login)
    objects = page.get_by_role("navigation", name="Objects")
    expect(objects.get_by_role("link")).to_have_count(50)
    _fits(page)
    sidebar = page.locator("#sidebar")
    assert sidebar.evaluate("s => s.scrollHeight > s.clientHeight")  # it scrolls inside itself
    objects.get_by_role("link", name="Thing 49").click()
    page.wait_for_url(f"{base}/app/thing_49")
    # The current object is in sight after the page changed.
    expect(objects.get_by_role("link", name="Thing 49")).to_be_in_viewport()
    shot(page, "navigation-fifty-objects")


def test_a_lookup_in_a_list_leads_to_the_record_it_names(page: Any, server: Any, shot: Any,
                                                         admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = _accounts_and_deals(runtime)
    acme = runtime.records.create(system, "account", {"name": "Acme"})["id"]
    runtime.records.create(system, "deal", {"name": "Big one", "amount": 10, "account": acme})
    runtime.records.create(system, "deal", {"name": "No account yet", "amount": 5})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Deals")
    page.wait_for_url(f"{base}/app/deal")
    # The deal's name leads to the deal; its account's name, in the Account column, to the account.
    row = page.locator("#rows tr", has_text="Big one")
    expect(row.get_by_role("link")).to_have_text(["Big one", "Acme"])
    expect(page.locator("#rows tr", has_text="No account yet").get_by_role("link")).to_have_text(["No account yet"])
    shot(page, "list-lookup-link")
    row.get_by_role("link", name="Acme").click()
    page.wait_for_url(f"{base}/app/account/{acme}")
    expect(page.locator("h1")).to_have_text("Account: Acme")
