"""Searching as people do it (#21), in Chromium: a builder makes the account's name
searchable by ticking a box on the field's page; someone presses "/" and types a name into
the top bar, picks a record from the dropdown (by mouse, and by arrow keys and Enter),
presses Enter for every result on /search and narrows them to one object, and narrows a
list with its full-text box. On a phone the box is an icon that opens a field as wide as
the bar. Screenshots at 1280 and 390 px wide."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in

#: The account's name is not searchable yet: the builder ticks it in the test.
ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True},
    {"api_name": "city", "label": "City", "type": "text"}]}
CONTACT = {"api_name": "contact", "label": "Contact", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True, "searchable": True},
    {"api_name": "email", "label": "E-mail", "type": "email", "searchable": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "contacts"}]}


def _setup(runtime: Any) -> None:
    system = Actor.system()
    runtime.metadata.create_object(system, ACCOUNT)
    runtime.metadata.create_object(system, CONTACT)
    acme = runtime.records.create(system, "account", {"name": "Acme Corporation", "city": "Rotterdam"})["id"]
    runtime.records.create(system, "account", {"name": "Acme Logistics", "city": "Hamburg"})
    runtime.records.create(system, "account", {"name": "Globex", "city": "Springfield"})
    for name, email in (("Ann Jones", "ann@acme.com"), ("Bob Stone", "bob@globex.com"),
                        ("Carla Jones", "carla@initech.com")):
        runtime.records.create(system, "contact", {"name": name, "email": email, "account": acme})


def test_a_builder_makes_names_searchable_and_people_find_records_from_the_top_bar(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)

    # The builder: Account → Account name → tick "Searchable", save.
    page.get_by_role("link", name="Builder", exact=True).click()
    page.wait_for_url(f"{base}/builder")
    page.get_by_role("link", name="Account", exact=True).click()
    page.wait_for_url(f"{base}/builder/objects/account")
    page.get_by_role("link", name="Account name").click()
    page.wait_for_url(f"{base}/builder/objects/account/fields/name")
    searchable = page.get_by_label("Searchable (found by the search box)")
    expect(searchable).not_to_be_checked()
    expect(page.get_by_label("Search weight")).to_be_disabled()
    searchable.check()
    weight = page.get_by_label("Search weight")
    expect(weight).to_be_enabled()
    # A record's name counts high unless the builder says otherwise.
    expect(weight.locator("option:checked")).to_have_text("High")
    page.get_by_role("button", name="Save field").click()
    page.wait_for_url(re.compile(r".*/builder/objects/account/fields/name\?index_job=\d+$"))
    note = page.locator("#index-job")
    expect(note).to_contain_text("The search index is")
    expect(note).to_have_text("Saved. The search index is rebuilt and up to date.", timeout=30_000)
    expect(page.get_by_label("Searchable (found by the search box)")).to_be_checked()
    shot(page, "search-field-made-searchable")

    # Anyone: "/" puts the cursor in the top bar's box; the dropdown groups what it finds.
    go(page, f"{base}/app")
    box = page.get_by_role("combobox", name="Search")
    expect(box).to_have_attribute("placeholder", "Search")
    page.keyboard.press("/")
    expect(box).to_be_focused()
    box.press_sequentially("acme", delay=40)
    panel = page.locator("#search-panel")
    expect(panel).to_be_visible()
    # Each object's records under its name (the groups in the order of their best record).
    expect(panel.locator(".search-group-label")).to_have_count(2)
    assert sorted(panel.locator(".search-group-label").all_inner_texts()) == ["ACCOUNTS", "CONTACTS"]
    accounts = panel.get_by_role("group", name="Accounts")
    expect(accounts.get_by_role("option")).to_have_count(2)
    assert sorted(t.strip() for t in accounts.get_by_role("option").all_inner_texts()) == [
        "Acme Corporation", "Acme Logistics"]
    expect(panel.get_by_role("group", name="Contacts").get_by_role("option")).to_have_text(
        [re.compile("Ann Jones")])
    expect(panel.get_by_role("link", name="See all results for acme")).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    shot(page, "search-dropdown")

    # Escape closes it; typing again opens it; a click on a record opens the record.
    box.press("Escape")
    expect(panel).to_be_hidden()
    box.press_sequentially(" corp", delay=40)
    expect(panel.get_by_role("option")).to_have_count(1)
    panel.get_by_role("option", name=re.compile("Acme Corporation")).click()
    page.wait_for_url(re.compile(r".*/app/account/\d+$"))
    expect(page.locator("h1")).to_have_text("Account: Acme Corporation")
    expect(page.get_by_label("City")).to_have_value("Rotterdam")

    # Ctrl+K, then the arrow keys and Enter pick a record without the mouse.
    page.locator("main").click()
    page.keyboard.press("Control+k")
    box = page.get_by_role("combobox", name="Search")
    expect(box).to_be_focused()
    box.press_sequentially("jones", delay=40)
    expect(panel.get_by_role("option")).to_have_count(2)
    second = panel.get_by_role("option").nth(1).locator(".search-title").inner_text()
    assert second in ("Ann Jones", "Carla Jones")
    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(panel.locator(".search-option.active .search-title")).to_have_text(second)
    expect(panel.get_by_role("option", name=re.compile(second))).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    page.wait_for_url(re.compile(r".*/app/contact/\d+$"))
    expect(page.locator("h1")).to_have_text(f"Contact: {second}")

    # "/" typed into a field is just a character there.
    name = page.get_by_role("textbox", name=re.compile(r"^Name"))
    name.press("End")
    name.press("/")
    expect(name).to_have_value(f"{second}/")
    expect(page.get_by_role("combobox", name="Search")).not_to_be_focused()

    # Enter: every result on /search, grouped and counted; then only contacts.
    go(page, f"{base}/app")
    page.keyboard.press("/")
    box = page.get_by_role("combobox", name="Search")
    box.press_sequentially("acme", delay=40)
    expect(panel).to_be_visible()
    box.press("Enter")
    page.wait_for_url(f"{base}/search?q=acme")
    expect(page.locator("h1")).to_have_text("Search")
    expect(page.get_by_role("searchbox", name="Search for")).to_have_value("acme")
    expect(page.locator(".search-results h2")).to_have_count(2)
    headings = [" ".join(t.split()) for t in page.locator(".search-results h2").all_text_contents()]
    assert sorted(headings) == ["Accounts 2", "Contacts 1"]
    expect(page.locator(".search-results mark").first).to_have_text(re.compile("^acme$", re.I))
    shot(page, "search-page")
    filters = page.get_by_role("navigation", name="Search in")
    filters.get_by_role("link", name=re.compile("^Contacts")).click()
    page.wait_for_url(f"{base}/search?q=acme&object=contact")
    expect(page.locator(".search-results h2")).to_have_text(["Contacts 1"])
    expect(page.locator(".search-results li a")).to_have_text(["Ann Jones"])
    expect(page.locator(".search-results .search-snippet")).to_contain_text("ann@acme.com")
    page.locator(".search-results").get_by_role("link", name="Ann Jones").click()
    page.wait_for_url(re.compile(r".*/app/contact/\d+$"))
    expect(page.locator("h1")).to_have_text("Contact: Ann Jones")

    # Nothing found: said in words, with a hint.
    go(page, f"{base}/search?q=zanzibar")
    expect(page.locator(".search-none")).to_contain_text("No results for zanzibar.")
    expect(page.locator(".search-none")).to_contain_text("Check the spelling")

    # The list's full-text box narrows the list; sorting keeps it.
    go(page, f"{base}/app/contact")
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_count(3)
    list_box = page.get_by_role("searchbox", name="Search contacts")
    list_box.fill("jones")
    list_box.press("Enter")
    page.wait_for_url(re.compile(r".*/app/contact\?.*search=jones.*"))
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_text(["Ann Jones", "Carla Jones"])
    expect(page.locator(".list-searched")).to_contain_text("Showing contacts holding jones")
    shot(page, "search-list-box")
    page.get_by_role("columnheader", name="Name").get_by_role("link").click()
    page.wait_for_url(re.compile(r".*sort=.*"))
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_text(["Ann Jones", "Carla Jones"])
    page.get_by_role("columnheader", name="Name").get_by_role("link").click()
    page.wait_for_url(re.compile(r".*sort=-name.*"))
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_text(["Carla Jones", "Ann Jones"])
    expect(page.get_by_role("searchbox", name="Search contacts")).to_have_value("jones")
    page.get_by_role("link", name="Clear search").click()
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_count(3)


def test_on_a_phone_the_search_is_an_icon_that_opens_a_wide_field(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    runtime.metadata.update_field(Actor.system(), "account", "name", {"searchable": True})
    # With an app menu in the top bar too, the bar stays one line at every width.
    runtime.documents.create(Actor.system(), "apps", {"api_name": "customer_care", "label": "Customer care",
                                                      "letter": "C", "colour": "teal", "order": 10,
                                                      "objects": ["account", "contact"]})
    _sign_in(page, base, admin_login)
    for width in (1280, 1024, 900, 700, 480, 390, 360):
        page.set_viewport_size({"width": width, "height": 844})
        bar = page.locator("header.topbar").bounding_box()
        assert bar["height"] <= 56, (width, bar)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        for part in ("[data-search]", ".user-button", ".inbox-link"):
            shown = page.locator(f"header.topbar {part}").bounding_box()
            assert shown and shown["x"] >= 0 and shown["x"] + shown["width"] <= width + 0.5, (width, part, shown)
        if width in (700, 390):
            shot(page, f"search-top-bar-{width}")
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.get_by_role("combobox", name="Search")
    expect(box).to_be_hidden()
    opener = page.get_by_role("button", name="Search")
    expect(opener).to_be_visible()
    opener.click()
    expect(box).to_be_focused()
    width = box.bounding_box()["width"]
    assert width > 280, f"the search field is only {width}px wide on a 390px phone"
    box.press_sequentially("acme", delay=40)
    panel = page.locator("#search-panel")
    expect(panel.get_by_role("option")).to_have_count(3)
    panel_box = panel.bounding_box()
    assert panel_box["x"] >= 0 and panel_box["x"] + panel_box["width"] <= 390
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390, f"the page is {page_width}px wide on a 390px phone"
    shot(page, "search-dropdown-phone")
    box.press("Escape")
    expect(panel).to_be_hidden()
    box.press("Escape")
    expect(box).to_be_hidden()
    expect(opener).to_be_focused()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("acme")  # kept, and selected: typing replaces it
    box.fill("")
    box.press("Enter")  # nothing typed: no empty results page
    expect(page).to_have_url(f"{base}/app")
    box.press_sequentially("jones", delay=40)
    box.press("Enter")
    page.wait_for_url(f"{base}/search?q=jones")
    expect(page.locator(".search-results li a")).to_have_count(2)
    assert sorted(page.locator(".search-results li a").all_inner_texts()) == ["Ann Jones", "Carla Jones"]
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390, f"the search page is {page_width}px wide on a 390px phone"
    shot(page, "search-page-phone")
    go(page, f"{base}/app/contact?search=jones")
    expect(page.locator("#rows a:not(.lookup-link)")).to_have_text(["Ann Jones", "Carla Jones"])
    shot(page, "search-list-box-phone")
