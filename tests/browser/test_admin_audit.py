"""An admin finds who changed a record in the audit log: reads the log newest first in words,
pages back and forth, narrows it to changes to records by one person, opens the details
(from what to what), narrows it by object and days, and sees a backwards range refused
beside its input."""

from __future__ import annotations

from datetime import date
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_admin_home import admin_area, open_admin

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"}]}


def test_an_admin_finds_who_changed_a_record_in_the_audit_log(page: Any, server: Any, shot: Any,
                                                              admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    runtime.users.roles.create(system, {"api_name": "sales", "label": "Sales rep", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "all"}}}, runtime.snapshot)
    rita = runtime.users.accounts.add(system, {"email": "rita@example.com", "name": "Rita Rep",
                                               "password": "a-long-password", "roles": ["sales"]})
    deal = runtime.records.create(system, "deal", {"name": "Acme renewal", "amount": 1000})
    other = runtime.records.create(system, "deal", {"name": "Globex", "amount": 10})
    runtime.records.update(runtime.users.actor_for_user(rita["id"]), "deal", deal["id"], {"amount": 2000}, None)
    runtime.records.update(runtime.users.actor_for_user(1), "deal", other["id"], {"amount": 20}, None)
    for i in range(55):  # more than a page of the log
        runtime.users.teams.create(system, {"api_name": f"region_{i}", "label": f"Region {i}"})
    open_admin(page, base, admin_login)
    admin_area(page, "Audit log")
    log = page.locator(".audit-log > li")
    expect(log).to_have_count(50)
    expect(log.first).to_contain_text("Admin signed in")
    expect(log.nth(1)).to_contain_text("Tessera created the team Region 54")
    expect(page.locator(".audit-log")).not_to_contain_text("changed Amount")  # record changes are their own kind
    page.get_by_role("link", name="Older entries").click()
    expect(page.locator(".audit-log")).to_contain_text("Tessera added Rita Rep")
    expect(page.locator(".audit-log")).to_contain_text("Tessera created the role Sales rep")
    page.get_by_role("link", name="Back to the newest").click()
    expect(log.first).to_contain_text("Admin signed in")
    shot(page, "admin-audit")
    # Who changed the Acme renewal? Changes to records, by Rita.
    page.get_by_label("What").select_option(label="Changes to records")
    page.get_by_label("Person").select_option(label="Rita Rep")
    page.get_by_role("button", name="Show").click()
    expect(log).to_have_count(1)
    expect(log.first).to_contain_text("Rita Rep changed Amount of Deal “Acme renewal”")
    log.first.get_by_text("Details").click()
    details = log.first.locator("dl")
    expect(details).to_contain_text("From")
    expect(details).to_contain_text("1,000")
    expect(details).to_contain_text("2,000")
    shot(page, "admin-audit-record")
    # Every change to deals, today: Rita's and the admin's.
    today = date.today().isoformat()
    page.get_by_label("Person").select_option(label="Anyone")
    page.get_by_label("Records of").select_option(label="Deals")
    page.get_by_label("From").fill(today)
    page.get_by_label("To", exact=True).fill(today)
    page.get_by_role("button", name="Show").click()
    expect(log).to_have_count(2)
    expect(log.first).to_contain_text("Admin changed Amount of Deal “Globex”")
    # A range that ends before it begins is refused beside its input.
    page.get_by_label("From").fill("2026-12-31")
    page.get_by_label("To", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#audit-to + .field-error")).to_have_text("is before the first day")
    page.get_by_role("link", name="Clear").click()
    expect(log).to_have_count(50)
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the audit log is {width}px wide on a 390px phone"
    shot(page, "admin-audit-phone")
