"""A record changes hands on its page (#17): a sales manager opens a deal, clicks "Change
owner", types part of a colleague's name, picks her and saves; the page says whose it is
now and the history reads "Owner: Ann Archer → Bob Baker". A rep who may change only her
own deals sees whose a colleague's deal is, and no control to take it."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency", "currency": "EUR"}]}
MANAGER = ("maria@example.com", "a-long-password")
ANN = ("ann@example.com", "ann-long-password")


def _setup(runtime: Any) -> dict[str, int]:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for role, edit in (("sales_manager", "all"), ("sales", "own")):
        runtime.users.roles.create(system, {"api_name": role, "label": role.replace("_", " ").title(), "permissions": {
            "deal": {"create": True, "read": "all", "edit": edit, "delete": "none"}}}, runtime.snapshot)
    people = {}
    for (email, password), name, role in ((MANAGER, "Maria Manager", "sales_manager"), (ANN, "Ann Archer", "sales"),
                                          (("bob@example.com", "bob-long-password"), "Bob Baker", "sales")):
        people[name] = runtime.users.accounts.add(system, {"email": email, "name": name, "password": password,
                                                            "roles": [role]})["id"]
    return people


def test_a_manager_hands_a_deal_to_a_colleague_picked_by_name(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    people = _setup(runtime)
    deal = runtime.records.create(Actor.system(), "deal", {"name": "Acme renewal", "amount": "12000",
                                                            "owner": people["Ann Archer"]})
    _sign_in(page, base, MANAGER)
    page.get_by_role("link", name="Deals").first.click()
    page.get_by_role("link", name="Acme renewal").click()
    page.wait_for_url(f"{base}/app/deal/{deal['id']}")
    owner = page.locator("#record-owner")
    expect(owner).to_contain_text("Owner: Ann Archer")

    owner.get_by_role("button", name="Change owner").click()
    search = page.get_by_role("searchbox", name="Search people by name")
    expect(search).to_be_visible()
    search.press_sequentially("bob", delay=30)
    choice = page.get_by_label("New owner")
    expect(choice.locator("option", has_text="Bob Baker")).to_have_count(1)
    # People are offered by name (their address beside it tells two Bobs apart), never an id.
    expect(choice.locator("optgroup option")).to_have_text(["Bob Baker <bob@example.com>"])
    choice.select_option(label="Bob Baker <bob@example.com>")
    shot(page, "record-owner-picker")
    owner.get_by_role("button", name="Save owner").click()

    expect(page.locator("#record-owner")).to_contain_text("Owner: Bob Baker")
    history = page.locator("ol.timeline")
    expect(history).to_contain_text("Owner: Ann Archer → Bob Baker")
    expect(history).to_contain_text("by Maria Manager")
    assert runtime.records.get(Actor.system(), "deal", deal["id"])["owner"] == people["Bob Baker"]
    shot(page, "record-owner-changed")
    # On a phone the owner line and its control fit the width.
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#record-owner").get_by_role("button", name="Change owner").click()
    expect(page.get_by_role("searchbox", name="Search people by name")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the record page is {width}px wide on a 390px phone"
    shot(page, "record-owner-phone")


def test_a_rep_sees_whose_a_deal_is_but_cannot_take_a_colleagues(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    people = _setup(runtime)
    theirs = runtime.records.create(Actor.system(), "deal", {"name": "Globex rollout", "owner": people["Bob Baker"]})
    mine = runtime.records.create(Actor.system(), "deal", {"name": "Initech pilot", "owner": people["Ann Archer"]})
    _sign_in(page, base, ANN)
    go(page, f"{base}/app/deal/{theirs['id']}")
    expect(page.locator("#record-owner")).to_have_text(re.compile(r"^\s*Owner: Bob Baker\s*$"))
    expect(page.get_by_text("Change owner")).to_have_count(0)
    shot(page, "record-owner-read-only")
    go(page, f"{base}/app/deal/{mine['id']}")
    expect(page.locator("#record-owner").get_by_role("button", name="Change owner")).to_be_visible()
