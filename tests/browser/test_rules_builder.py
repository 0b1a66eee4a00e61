"""The rule builder in a real browser: a builder makes a scoring rule and an after-save
automation rule with the condition builder (and sees the formula it writes), sees the
problem of a bad value formula beside it, saves; makes a business calendar with a lunch
break and a holiday and an SLA policy on it; then a record created through the API is
scored by the rule and flagged by the automation; the rule is switched off from the list."""

from __future__ import annotations

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
