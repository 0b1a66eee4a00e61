"""What a business user reads and types is in their words and their time zone: a person
in Paris reads a meeting time in CET and types it so, and picks another zone in their
settings; a duration is typed and shown as "4 hours"; a builder gives an amount field its
currency and decimal places from pickers, and lists show grouped amounts with the code."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in

VISIT = {"api_name": "visit", "label": "Visit", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "meeting_at", "label": "Meeting at", "type": "datetime"},
    {"api_name": "travel", "label": "Travel time", "type": "duration"}]}


@pytest.mark.browser_time_zone("Europe/Paris")
def test_a_person_in_paris_reads_and_types_times_in_their_zone_and_can_choose_another(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, VISIT)
    visit = runtime.records.create(system, "visit", {"name": "Acme kickoff", "meeting_at": "2026-12-07T13:30:00Z",
                                                     "travel": 5400})
    _sign_in(page, base, admin_login)  # the browser says Europe/Paris: taken at the first sign-in

    page.get_by_role("link", name="Visits").first.click()
    row = page.locator("#rows tr", has_text="Acme kickoff")
    expect(row).to_contain_text("2026-12-07 14:30 CET")
    expect(row).to_contain_text("1 hour 30 minutes")
    row.get_by_role("link", name="Acme kickoff").click()
    page.wait_for_url(f"{base}/app/visit/{visit['id']}")
    meeting = page.get_by_label("Meeting at")
    expect(meeting).to_have_value("2026-12-07T14:30")
    expect(page.locator("[data-field=meeting_at]")).to_contain_text("Europe/Paris")
    meeting.fill("2026-12-07T16:00")
    page.get_by_label("Travel time").fill("4 hours")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    stored = runtime.records.get(system, "visit", visit["id"])
    assert (stored["meeting_at"], stored["travel"]) == ("2026-12-07T15:00:00Z", 14400)
    expect(page.get_by_label("Travel time")).to_have_value("4 hours")
    history = page.locator(".timeline").first
    expect(history).to_contain_text("Meeting at: 2026-12-07 14:30 CET → 2026-12-07 16:00 CET")
    expect(history).to_contain_text("Travel time: 1 hour 30 minutes → 4 hours")
    expect(history.locator("time").first).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d CET$"))
    shot(page, "formats-record-paris")

    page.get_by_role("button", name=re.compile("^Your account")).click()
    page.get_by_role("link", name="Your settings").click()
    page.wait_for_url(f"{base}/account")
    expect(page.get_by_label(re.compile("^Time zone"))).to_have_value("Europe/Paris")
    page.get_by_label(re.compile("^Time zone")).select_option("Asia/Shanghai")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_role("link", name="Visits").first.click()
    expect(page.locator("#rows tr", has_text="Acme kickoff")).to_contain_text("2026-12-07 23:00 CST")
    page.get_by_role("button", name=re.compile("^Your account")).click()
    page.get_by_role("link", name="Your settings").click()
    page.get_by_label(re.compile("^Time zone")).select_option(label="The company's (UTC)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_role("link", name="Visits").first.click()
    expect(page.locator("#rows tr", has_text="Acme kickoff")).to_contain_text("2026-12-07 15:00 UTC")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Acme kickoff").click()
    shot(page, "formats-record-phone")


def test_a_builder_gives_an_amount_its_currency_and_lists_show_grouped_amounts_with_the_code(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True}]})
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder")
    page.locator("main").get_by_role("link", name="Deal", exact=True).click()
    page.wait_for_url(f"{base}/builder/objects/deal")
    page.get_by_label("Label", exact=True).fill("Amount")
    page.get_by_label("Type").select_option(label="Currency")
    page.get_by_label("Currency", exact=True).select_option(label="EUR — Euro")
    page.get_by_label("Decimal places").select_option("2")
    page.get_by_role("button", name="Add field").click()
    fields = page.locator("#fields")
    expect(fields.locator("tr", has_text="Amount")).to_contain_text("Currency (EUR)")
    runtime.records.create(system, "deal", {"name": "Big one", "amount": "1234567.5"})
    page.get_by_role("link", name="Open records").click()
    expect(page.locator("#rows tr", has_text="Big one")).to_contain_text("1,234,567.50 EUR")
    fields_page = f"{base}/builder/objects/deal"
    go(page, fields_page)
    page.get_by_role("link", name="Amount").click()
    expect(page.get_by_text("Type: Currency, 2 decimal places")).to_be_visible()
    page.get_by_label("Currency", exact=True).select_option(label="GBP — Pound sterling")
    page.get_by_role("button", name="Save field").click()
    page.wait_for_load_state("networkidle")
    assert runtime.metadata.get_field("deal", "amount")["currency"] == "GBP"
    shot(page, "formats-currency-field")


def test_percentages_read_alike_in_fields_history_and_report_conversions(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    """#17 formats: one house style for percentages — a percent field in the list, on the
    record and in its history, and a funnel's conversions in the report builder all read
    "75 %" (the field's places, trailing zeros trimmed, a narrow no-break space)."""
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "probability", "label": "Probability", "type": "percent"},
        {"api_name": "stage", "label": "Stage", "type": "select",
         "options": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"}]}]})
    for n in range(7):
        deal = runtime.records.create(system, "deal", {"name": f"Deal {n}", "stage": "open",
                                                       "probability": "75" if n == 0 else "12.5"})
        if n < 6:
            runtime.records.update(system, "deal", deal["id"], {"stage": "won"}, deal["version"])
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Deals").first.click()
    row = page.locator("#rows tr", has_text="Deal 0")
    expect(row).to_contain_text("75\u202f%")
    expect(row).not_to_contain_text("75.00")
    expect(page.locator("#rows tr", has_text="Deal 1")).to_contain_text("12.5\u202f%")
    shot(page, "formats-percent-list")
    row.get_by_role("link", name="Deal 0").click()
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    page.get_by_label("Probability", exact=True).fill("80.5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".timeline").first).to_contain_text("Probability: 75\u202f% → 80.5\u202f%")

    go(page, f"{base}/builder/reports/new")
    page.get_by_label("Object", exact=True).select_option(label="Deal")
    page.get_by_role("radio", name=re.compile("Funnel")).check()
    page.get_by_label("Stage field").select_option("stage")
    # Six of the seven open deals were won: 85.7 %, written as the percent field writes it.
    expect(page.locator("#r-funnel .funnel-step").nth(1)).to_contain_text("85.7\u202f% of Open")
    shot(page, "formats-percent-report")
