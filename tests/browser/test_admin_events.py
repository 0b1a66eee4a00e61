"""An admin retries a failed delivery: the overview says events failed, the events page shows
what happened to which record with the error and the attempts; once the cause is fixed,
Retry puts one event back in line (it is then done) and Retry all the rest."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from tessera.auth.actor import Actor
from tessera.data.tables import outbox
from tessera.runtime.kernel.events import MAX_ATTEMPTS

from .test_admin_home import admin_area, open_admin

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}


def _until(check: Any, runtime: Any, what: str) -> None:
    """Let the outbox run (as the worker does) until `check()` holds."""
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        runtime.events.drain()
        time.sleep(0.05)


def test_an_admin_retries_a_failed_delivery(page: Any, server: Any, shot: Any,
                                            admin_login: tuple[str, str]) -> None:
    base, runtime = server
    runtime.metadata.create_object(Actor.system(), DEAL)
    mirror = {"down": True, "got": []}

    def to_crm_mirror(_conn: Any, event: Any) -> None:
        if mirror["down"]:
            raise ConnectionError("The CRM mirror at crm.example.com did not answer")
        mirror["got"].append(event.record_ids[0])

    runtime.events.subscribe("record.created", to_crm_mirror, name="test.crm_mirror")
    acme = runtime.records.create(Actor.system(), "deal", {"name": "Acme renewal"})
    globex = runtime.records.create(Actor.system(), "deal", {"name": "Globex expansion"})
    # Nine failed attempts are behind them already: the next one sets them aside.
    _until(lambda: runtime.events.counts()["retrying"] + runtime.events.counts()["failed"] == 2, runtime,
           "both events failed once")
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(outbox).where(outbox.c.processed_at.is_(None), outbox.c.attempts > 0)
                     .values(attempts=MAX_ATTEMPTS - 1, available_at=datetime.now(UTC)))
    _until(lambda: runtime.events.counts()["failed"] == 2, runtime, "both events are set aside")
    open_admin(page, base, admin_login)
    alert = page.locator(".admin-areas li.alert")
    expect(alert).to_contain_text("2 failed")
    alert.get_by_role("link", name="Failed events").click()
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Events by state").get_by_role("link", name="Failed 2")).to_be_visible()
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(2)
    acme_row = rows.filter(has_text="Acme renewal")
    expect(acme_row).to_contain_text("Deal created")
    expect(acme_row).to_contain_text("ConnectionError: The CRM mirror at crm.example.com did not answer")
    expect(acme_row).to_contain_text(str(MAX_ATTEMPTS))
    shot(page, "admin-events")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(acme_row.get_by_role("button", name="Retry")).to_be_visible()  # in reach on a phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the events page is {width}px wide on a 390px phone"
    shot(page, "admin-events-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    # The mirror is back: one event is retried, and goes through.
    mirror["down"] = False
    acme_row.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash")).to_contain_text("1 event is back in line")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Globex expansion")
    _until(lambda: acme["id"] in mirror["got"], runtime, "the retried event went through")
    page.get_by_role("link", name="Done").click()
    expect(page.locator("table.events")).to_contain_text("Acme renewal")
    # The rest, all at once.
    page.get_by_role("link", name="Failed 1").click()
    page.get_by_role("button", name="Retry all 1 failed").click()
    expect(page.locator(".flash")).to_contain_text("1 event is back in line")
    expect(page.locator("table.events")).to_contain_text("Nothing has failed.")
    _until(lambda: globex["id"] in mirror["got"], runtime, "every retried event went through")
    admin_area(page, "Overview")
    expect(page.locator(".admin-areas")).to_contain_text("Nothing failed")
