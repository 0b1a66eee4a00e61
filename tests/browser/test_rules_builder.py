"""The rule builder in a real browser: a builder makes a scoring rule and an after-save
automation rule with the condition builder (and sees the formula it writes), sees the
problem of a bad value formula beside it, saves; makes a business calendar with a lunch
break and a holiday and an SLA policy on it; then a record created through the API is
scored by the rule and flagged by the automation; the rule is switched off from the list."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go

LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "budget", "label": "Budget", "type": "integer"},
    {"api_name": "status", "label": "Status", "type": "select",
     "options": [{"value": "new", "label": "New"}, {"value": "waiting", "label": "Waiting"},
                 {"value": "lost", "label": "Lost"}]},
    {"api_name": "priority", "label": "Priority", "type": "select",
     "options": [{"value": "high", "label": "High"}, {"value": "low", "label": "Low"}]},
    {"api_name": "score", "label": "Score", "type": "integer"},
    {"api_name": "hot", "label": "Hot", "type": "boolean"}]}


def _sign_in(page: Any, base: str, login: tuple[str, str]) -> None:
    go(page, f"{base}/login")
    page.fill("#email", login[0])
    page.fill("#password", login[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def _condition_row(editor: Any, index: int, field: str, op: str, value: str | None) -> None:
    row = editor.locator(".condition-row").nth(index)
    row.locator("select[aria-label=Field]").select_option(field)
    row.locator("select[aria-label=Operator]").select_option(op)
    if value is None:
        return
    box = row.locator("[aria-label=Value]")
    if box.evaluate("el => el.tagName") == "SELECT":
        box.select_option(value)
    else:
        box.fill(value)


def test_a_builder_makes_rules_a_calendar_and_an_sla_and_the_rules_act_on_a_new_record(
        server: tuple[str, Any], page: Any, admin_login: tuple[str, str], shot: Any) -> None:
    base, runtime = server
    runtime.metadata.create_object(Actor.system(), LEAD)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, base, admin_login)

    # -- a scoring rule: 20 points when the budget is over 1000 ----------------------------
    go(page, f"{base}/builder/rules")
    page.click("text=New rule for Lead")
    page.wait_for_url(f"{base}/builder/rules/new?object=lead")
    page.fill("#rule-label", "Lead score")
    page.select_option("#rule-kind", "scoring")
    page.select_option("#score-field", "score")
    page.click("#add-points")
    points = page.locator(".scoring-row").first
    editor = points.locator("[data-condition=when]")
    _condition_row(editor, 0, "budget", "greater", "1000")
    expect(editor.locator("code[data-formula]")).to_have_text("budget > 1000")
    expect(editor.locator(".formula-check")).to_contain_text("boolean")
    points.locator("input[aria-label=Points]").fill("20")
    page.click("#save-rule")
    expect(page.locator("#rule-status")).to_have_text("Saved (version 1).")
    shot(page, "rule-builder-scoring")

    # -- an after-save automation with two conditions and a value formula -------------------
    go(page, f"{base}/builder/rules/new?object=lead")
    page.fill("#rule-label", "Flag big leads")
    page.select_option("#trigger-on", "after_save")
    editor = page.locator("#rule-condition [data-condition=condition]")
    _condition_row(editor, 0, "status", "not_equals", "lost")
    editor.locator("text=Add condition").click()
    _condition_row(editor, 1, "budget", "at_least", "5000")
    expect(editor.locator("code[data-formula]")).to_have_text('status <> "lost" AND budget >= 5000')
    page.select_option("#new-action", "set_fields")
    page.click("#add-action")
    action = page.locator(".action[data-index='0']")
    action.locator("select[aria-label='Field to set']").select_option("hot")
    value = action.locator("input[aria-label='Value formula']")
    value.fill('"yes"')
    expect(action.locator(".formula-check")).not_to_be_empty()  # checked as it is typed
    page.click("#save-rule")
    problem = action.locator("[data-problem='/actions/0/set/hot']")
    expect(problem).to_be_visible()
    expect(problem).not_to_be_empty()
    expect(page.locator("#rule-status")).to_have_class("flash error")
    shot(page, "rule-builder-problem")
    value.fill("TRUE")
    expect(action.locator(".formula-check")).to_contain_text("boolean")
    page.click("#save-rule")
    expect(page.locator("#rule-status")).to_have_text("Saved (version 1).")
    expect(problem).to_be_hidden()
    page.wait_for_url(f"{base}/builder/rules/flag_big_leads")
    stored = runtime.documents.get("rules", "flag_big_leads")
    assert stored["condition"] == 'status <> "lost" AND budget >= 5000'
    assert stored["trigger"] == {"on": "after_save"} and stored["actions"] == [
        {"action": "set_fields", "set": {"hot": "TRUE"}}]

    go(page, f"{base}/builder/rules?object=lead")
    expect(page.locator("tr[data-rule=lead_score]")).to_contain_text("scoring")
    expect(page.locator("tr[data-rule=flag_big_leads]")).to_contain_text("After save")

    # -- a business calendar with a lunch break and a holiday ------------------------------
    go(page, f"{base}/builder/calendars/new")
    page.fill("#cal-label", "Paris office")
    page.select_option("#cal-timezone", "Europe/Paris")
    monday = page.locator("[data-day=mon]")
    monday.locator("text=Add lunch break").click()
    expect(monday.locator(".interval")).to_have_count(2)
    monday.locator(".interval").nth(1).locator("[aria-label=To]").fill("18:00")
    page.click("#add-holiday")
    holiday = page.locator(".holiday").first
    holiday.locator("[aria-label='Holiday date']").fill("2026-12-25")
    holiday.locator("[aria-label='Holiday name']").fill("Christmas")
    page.click("#save-calendar")
    expect(page.locator("#calendar-status")).to_have_text("Saved (version 1).")
    shot(page, "calendar-builder")
    calendar = runtime.documents.get("calendars", "paris_office")
    assert calendar["timezone"] == "Europe/Paris"
    assert calendar["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert calendar["hours"]["tue"] == [["09:00", "17:00"]] and "sat" not in calendar["hours"]
    assert calendar["holidays"] == [{"date": "2026-12-25", "label": "Christmas"}]

    # -- an SLA policy on that calendar ------------------------------------------------------
    go(page, f"{base}/builder/sla/new?object=lead")
    page.fill("#sla-label", "Lead response")
    page.select_option("#sla-calendar", "paris_office")
    metric = page.locator(".metric").first
    metric.locator("[aria-label='Target for High']").fill("PT1H")
    page.locator("#sla-builder .checks label", has_text="Waiting").locator("input").check()
    page.click("#save-sla")
    expect(page.locator("#sla-status")).to_have_text("Saved (version 1).")
    policy = runtime.documents.get("sla_policies", "lead_response")
    assert policy["metrics"] == [{"metric": "first_reply", "targets": {"high": "PT1H", "default": "PT4H"},
                                  "warn_at": 0.75}]
    assert policy["pause_when_status"] == ["waiting"] and policy["calendar"] == "paris_office"

    # -- the rules act on a record created through the API ---------------------------------
    with httpx.Client(base_url=base) as api:
        token = api.post("/api/v1/auth/token", json={"email": admin_login[0], "password": admin_login[1]})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = api.post("/api/v1/records/lead", json={"name": "Big one", "budget": 8000, "status": "new"},
                           headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["score"] == 20  # the scoring rule ran inside the save
        record_id = created.json()["id"]
        deadline = time.monotonic() + 15  # the after-save rule runs from the outbox, after commit
        while True:
            record = api.get(f"/api/v1/records/lead/{record_id}", headers=headers).json()
            if record.get("hot") is True or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert record["hot"] is True, record

    # -- a stored rule opens with its condition as a formula; switched off from the list ----
    go(page, f"{base}/builder/rules/lead_score")
    when = page.locator(".scoring-row").first.locator("textarea.formula")
    expect(when).to_have_value("budget > 1000")
    go(page, f"{base}/builder/rules?object=lead")
    page.locator("[data-rule-active=flag_big_leads]").uncheck()
    expect(page.locator("#rules-status")).to_have_text("Flag big leads is switched off.")
    assert runtime.documents.get("rules", "flag_big_leads")["active"] is False
    assert errors == []


REGIONAL_LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "region", "label": "Region", "type": "select",
     "options": [{"value": "east", "label": "East"}, {"value": "west", "label": "West"}]},
    {"api_name": "phone", "label": "Phone", "type": "text"}]}


def _reps(runtime: Any) -> None:
    system = Actor.system()
    for email, name in (("ann@example.com", "Ann East"), ("bob@example.com", "Bob East"),
                        ("cat@example.com", "Cat West"), ("dan@example.com", "Dan West")):
        runtime.users.accounts.add(system, {"email": email, "name": name, "password": "a-long-password"})
    runtime.users.teams.create(system, {"api_name": "east", "label": "East",
                                        "members": ["ann@example.com", "bob@example.com"]})
    runtime.users.teams.create(system, {"api_name": "west", "label": "West",
                                        "members": ["cat@example.com", "dan@example.com"]})
    runtime.users.teams.create(system, {"api_name": "north", "label": "North"})


def _builder_ready(page: Any) -> None:
    """The rule builder has started (its trigger choices are drawn by it): what is typed now
    stays typed."""
    expect(page.locator("#trigger-on option").first).to_be_attached()


def _regional_rule(page: Any, region: str) -> None:
    """A rule as a newcomer builds it: a label, Assignment, "Region is East", the team East;
    everything else as the page offers it. Saved at once, as a person in a hurry would."""
    page.get_by_role("link", name="New rule for Lead").click()
    _builder_ready(page)
    page.fill("#rule-label", f"{region} leads to the {region} team")
    page.select_option("#rule-kind", "assignment")
    row = page.locator("#rule-condition .condition-row").first
    row.locator("select[aria-label=Field]").select_option(label="Region")
    row.locator("select[aria-label=Value]").select_option(label=region)
    page.select_option("#assign-team", label=region)
    page.click("#save-rule")
    expect(page.locator("#rule-status")).to_have_text("Saved (version 1).")


def test_a_builder_sets_up_regional_round_robin_and_new_leads_go_to_east_and_west_reps_in_turn(
        server: tuple[str, Any], page: Any, admin_login: tuple[str, str], shot: Any) -> None:
    base, runtime = server
    runtime.metadata.create_object(Actor.system(), REGIONAL_LEAD)
    _reps(runtime)
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Builder", exact=True).click()
    page.get_by_role("link", name="Rules", exact=True).click()
    page.get_by_role("link", name="New rule for Lead").click()
    _builder_ready(page)
    page.select_option("#rule-kind", "assignment")
    # The trigger says when an assignment happens; a team nobody is in is pointed out.
    expect(page.locator("#assignment-when")).to_contain_text("unless whoever creates it picks someone")
    page.select_option("#assign-team", label="North")
    expect(page.locator("[data-note='/assignment/team']")).to_have_text(
        "North has no active members: records stay as they are until someone joins it.")
    page.select_option("#assign-team", label="East")
    expect(page.locator("[data-note='/assignment/team']")).to_have_text("Ann East and Bob East take turns.")
    page.get_by_role("link", name="All rules").click()
    _regional_rule(page, "East")
    shot(page, "rule-builder-round-robin")
    page.get_by_role("link", name="All rules").click()
    _regional_rule(page, "West")
    stored = runtime.documents.get("rules", "east_leads_to_the_east_team")
    assert stored["condition"] == 'region = "east"', stored  # saved with the row just picked

    # -- an end user (the admin here) creates leads in the app ---------------------------
    for name, region in (("Lead one", "East"), ("Lead two", "East"), ("Lead three", "West"),
                         ("Lead four", "East")):
        page.get_by_role("link", name="Leads", exact=True).click()
        page.get_by_role("link", name="New Lead").click()
        page.wait_for_url(f"{base}/app/lead/new")
        page.fill("[name=name]", name)
        page.select_option("[name=region]", label=region)
        page.get_by_role("button", name="Save").click()
        expect(page.locator("h1")).to_have_text(f"Lead: {name}")
    page.get_by_role("link", name="Leads", exact=True).click()
    for name, owner in (("Lead one", "Ann East"), ("Lead two", "Bob East"), ("Lead three", "Cat West"),
                        ("Lead four", "Ann East")):
        expect(page.locator("table.records tr", has_text=name)).to_contain_text(owner)
    shot(page, "leads-assigned-round-robin")
    # Editing a lead keeps its owner.
    page.get_by_role("link", name="Lead two", exact=True).click()
    page.fill("[name=phone]", "555 0102")
    page.get_by_role("button", name="Save").click()
    history = page.locator("aside", has=page.get_by_role("heading", name="History", exact=True))
    expect(history).to_contain_text("Phone: — → 555 0102")
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(page.locator("table.records tr", has_text="Lead two")).to_contain_text("Bob East")

    # -- the rule says what it did ----------------------------------------------------------
    page.get_by_role("link", name="Builder", exact=True).click()
    page.get_by_role("link", name="Rules", exact=True).click()
    expect(page.locator("tr", has_text="East leads to the East team").locator(".last-run")).to_contain_text(
        "Lead added")
    page.get_by_role("link", name="East leads to the East team").click()
    expect(page.locator("#rule-last-run")).to_contain_text("Lead added")
    expect(page.locator("#rule-activity table")).to_contain_text("Owner: Ann East")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "rule-builder-round-robin-phone")


SHOP = [{"api_name": "customer", "label": "Customer", "fields": [
            {"api_name": "name", "label": "Name", "type": "text", "required": True},
            {"api_name": "high_value", "label": "High value", "type": "boolean"}]},
        {"api_name": "order", "label": "Order", "fields": [
            {"api_name": "name", "label": "Name", "type": "text", "required": True},
            {"api_name": "amount", "label": "Amount", "type": "currency"},
            {"api_name": "customer", "label": "Customer", "type": "lookup", "target": "customer",
             "related_name": "orders"}]}]


def test_a_customer_becomes_high_value_within_seconds_of_large_orders_and_the_rule_page_shows_who_entered(
        server: tuple[str, Any], page: Any, admin_login: tuple[str, str], shot: Any) -> None:
    base, runtime = server
    for doc in SHOP:
        runtime.metadata.create_object(Actor.system(), doc)
    runtime.records.create(Actor.system(), "customer", {"name": "Acme"})
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Builder", exact=True).click()
    page.get_by_role("link", name="Rules", exact=True).click()
    page.get_by_role("link", name="New rule for Customer").click()
    _builder_ready(page)
    page.fill("#rule-label", "High value")
    page.select_option("#rule-kind", "segment")
    expect(page.locator("#segment-when")).to_contain_text("within seconds")
    segment = page.locator("#rule-segment [data-condition=segment]")
    segment.get_by_role("button", name="Edit as formula").click()
    segment.locator("textarea.formula").fill("SUM(orders.amount) > 10000")
    expect(segment.locator(".formula-check")).to_contain_text("boolean")
    page.select_option("#segment-field", label="High value")
    page.click("#save-rule")
    expect(page.locator("#rule-status")).to_have_text("Saved (version 1).")

    # -- four large orders, added from the customer's page ----------------------------------
    page.get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("link", name="Acme").click()
    for number in range(1, 5):
        page.get_by_role("link", name="New Order").click()
        page.wait_for_url(re.compile(r".*/app/order/new\?customer=\d+"))
        page.fill("[name=name]", f"Order {number}")
        page.fill("[name=amount]", "3000")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("h1")).to_have_text(f"Order: Order {number}")
        page.go_back()
        page.go_back()  # back on Acme's page, as a person adding orders one after another
    started = time.monotonic()
    page.get_by_role("link", name="Customers", exact=True).click()
    row = page.locator("table.records tr", has_text="Acme")
    while "Yes" not in row.inner_text() and time.monotonic() - started < 10:
        page.reload()  # a person looking again a moment later
    expect(row).to_contain_text("Yes")
    shot(page, "segment-high-value-list")

    # -- the rule page says when it ran and who entered ---------------------------------------
    page.get_by_role("link", name="Builder", exact=True).click()
    page.get_by_role("link", name="Rules", exact=True).click()
    expect(page.locator("tr", has_text="High value").locator(".last-run")).to_contain_text("Order added")
    shot(page, "rules-list-last-run")
    page.get_by_role("link", name="High value").click()
    expect(page.locator("#rule-last-run")).to_contain_text("Order added")
    expect(page.locator("#segment-members")).to_have_text("1 Customer in the segment now.")
    entered = page.locator("#rule-activity tr", has_text="Order added").first
    expect(entered).to_contain_text("Entered: Acme (High value: Yes)")
    expect(page.locator("#rule-activity")).to_contain_text("Next check of every record")
    shot(page, "segment-rule-activity")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "segment-rule-activity-phone")
