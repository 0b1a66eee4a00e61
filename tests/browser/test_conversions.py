"""A person converts a lead from its page: they open it from the Leads list, press Convert,
and see the account, contact and deal it made by name, each a link; pressing Convert on a
page opened before (another tab) is refused with a message that says what happened."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in

OBJECTS = [
    {"api_name": "account", "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True}]},
    {"api_name": "contact", "label": "Contact", "fields": [
        {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]},
    {"api_name": "opportunity", "label": "Opportunity", "plural_label": "Opportunities", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]},
    {"api_name": "lead", "label": "Lead", "name_field": "last_name", "fields": [
        {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
        {"api_name": "company", "label": "Company", "type": "text"},
        {"api_name": "status", "label": "Status", "type": "select", "options": [
            {"value": "qualified", "label": "Qualified"}, {"value": "converted", "label": "Converted"}]}]},
]
CONVERT_LEAD = {
    "api_name": "convert_lead", "label": "Convert lead", "object": "lead", "button_label": "Convert",
    "targets": [{"key": "account", "object": "account", "match": {"name": "company"}},
                {"key": "contact", "object": "contact"},
                {"key": "deal", "object": "opportunity", "fields": {"name": 'company & " deal"'}}],
    "after": {"status": '"converted"'}}


def test_a_person_converts_a_lead_and_a_second_convert_is_refused(page: Any, server: Any, shot: Any,
                                                                  admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    for doc in OBJECTS:
        runtime.metadata.create_object(system, doc)
    runtime.documents.create(system, "conversions", CONVERT_LEAD)
    runtime.records.create(system, "account", {"name": "Acme"})
    runtime.records.create(system, "lead", {"last_name": "Doe", "company": "Acme", "status": "qualified"})

    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Leads").first.click()
    page.wait_for_url(f"{base}/app/lead")
    page.locator("table.records").get_by_role("link", name="Doe").click()
    page.wait_for_url(re.compile(r".*/app/lead/\d+$"))
    lead_page = page.url

    # The same lead open in a second tab, from before the conversion.
    stale = page.context.new_page()
    go(stale, lead_page)
    expect(stale.get_by_role("button", name="Convert")).to_be_visible()

    page.get_by_role("button", name="Convert").click()
    made = page.locator(".conversion-last")
    expect(made).to_contain_text("Convert lead")
    account = made.get_by_role("link", name="Acme", exact=True)
    expect(account).to_have_attribute("href", re.compile(r"/app/account/\d+$"))
    expect(made.get_by_role("link", name="Doe")).to_have_attribute("href", re.compile(r"/app/contact/\d+$"))
    expect(made.get_by_role("link", name="Acme deal")).to_have_attribute("href", re.compile(r"/app/opportunity/\d+$"))
    expect(made).to_contain_text("Existing")  # the account was there already
    expect(page.get_by_role("button", name="Convert")).to_have_count(0)
    expect(page.locator(".record-layout")).to_contain_text("Converted")  # the lead's status, set afterwards
    shot(page, "conversion-done")

    stale.get_by_role("button", name="Convert").click()
    refusal = stale.get_by_role("alert")
    expect(refusal).to_contain_text("Lead Doe was converted already")
    expect(refusal).to_contain_text("runs once per record")
    expect(stale.locator(".conversion-last").get_by_role("link", name="Acme deal")).to_be_visible()
    expect(stale.get_by_role("button", name="Convert")).to_have_count(0)
    assert "{" not in refusal.inner_text() and "convert_lead" not in refusal.inner_text()
    shot(stale, "conversion-refused")

    made.get_by_role("link", name="Acme deal").click()
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme deal")
    assert runtime.records.list(system, "opportunity")["data"][0]["account"] is not None


def test_a_builder_writes_a_conversion_and_sees_each_problem_at_its_place(page: Any, server: Any, shot: Any,
                                                                          admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    for doc in OBJECTS:
        runtime.metadata.create_object(system, doc)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder")
    page.get_by_role("link", name="Conversions").click()
    page.wait_for_url(f"{base}/builder/conversions")
    expect(page.get_by_text("No conversions yet.")).to_be_visible()
    page.get_by_role("link", name="New conversion").click()
    page.wait_for_url(f"{base}/builder/conversions/new")
    wrong = {**CONVERT_LEAD, "targets": [CONVERT_LEAD["targets"][0],
                                         {"key": "contact", "object": "contact", "fields": {"nickname": "company"}}]}
    page.get_by_label("Document").fill(json.dumps(wrong, indent=2))
    page.get_by_role("button", name="Save").click()
    problems = page.locator(".conversion-problems")
    expect(problems).to_contain_text("1 problem")
    expect(problems).to_contain_text("Target 2 (contact) → fields → nickname: Contact has no field 'nickname'")
    shot(page, "conversion-builder-problem")
    page.get_by_label("Document").fill(json.dumps(CONVERT_LEAD, indent=2))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/builder/conversions/convert_lead?saved=1")
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    page.get_by_role("link", name="All conversions").click()
    row = page.locator("table.records tbody tr").first
    expect(row).to_contain_text("Convert lead")
    expect(row).to_contain_text("Lead")
    expect(row).to_contain_text("Account (found or made), Contact, Opportunity")
    assert runtime.documents.get("conversions", "convert_lead")["targets"][2]["object"] == "opportunity"
