"""A sales rep imports deals from a spreadsheet in the browser, as a person does: the Deals
list, *Import* in its *More* menu, a CSV chosen in the file input, the suggested fields
read (matched by label, a close name to check), a field picked for a column nothing
matched, the date order picked, the preview with a refused cell in red and its reason,
*Import* with the progress bar to its end, the counts, the refused rows downloaded, and the
imported deals in the list. Then at phone width (375 px): the refused row retried, its
columns and preview, where nothing may stick out sideways.

Screenshots go to /tmp/import-shots/ (and the suite's artifacts)."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor
from tessera.runtime.imports.service import JOB_KIND

from .test_list_views import _sign_in

SHOTS = Path("/tmp/import-shots")
PHONE = {"width": 375, "height": 812}
SYSTEM = Actor.system()
ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "won", "label": "Closed won"}]},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "signed", "label": "Signed", "type": "boolean"}]}
ROWS = [["Deal name", "Acct", "Stage", "Amount", "Closing", "Sign"],
        ["Alpha rollout", "Acme", "New", "1,200.50", "03/04/2026", "yes"],
        ["Beta renewal", "Globex", "Closed won", "lots", "04/05/2026", "no"],
        ["Gamma pilot", "Acme", "New", "980", "06/07/2026", "no"]]


def _csv() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(ROWS)
    return out.getvalue().encode()


def _snap(page: Any, shot: Any, name: str) -> None:
    """A screenshot for the suite's artifacts and one in /tmp/import-shots/ to look at."""
    shot(page, f"import-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fits(page: Any) -> None:
    """Nothing sticks out sideways (the preview grid scrolls inside its own box)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def test_a_sales_rep_imports_deals_from_a_csv_and_fixes_the_refused_row_on_a_phone(
        page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    runtime.metadata.create_object(SYSTEM, ACCOUNT)
    runtime.metadata.create_object(SYSTEM, DEAL)
    for name in ("Acme", "Globex"):
        runtime.records.create(SYSTEM, "account", {"name": name})
    runtime.users.roles.create(SYSTEM, {"api_name": "sales", "label": "Sales rep", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "own", "delete": "none"},
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    runtime.users.accounts.add(SYSTEM, {"email": "rita@example.com", "name": "Rita Rep", "password": "rita-password",
                                        "roles": ["sales"]})
    _sign_in(page, base, ("rita@example.com", "rita-password"))

    # The Deals list, Import in its menu.
    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Deals").click()
    page.wait_for_url(f"{base}/app/deal")
    page.get_by_role("button", name="More").click()
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    _snap(page, shot, "01-list-menu")
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_url(f"{base}/app/deal/import")
    expect(page.get_by_role("heading", name="Import Deals", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Download the template")).to_be_visible()
    _snap(page, shot, "02-upload")

    # Upload the file.
    page.get_by_label("File to import").set_input_files(
        {"name": "deals.csv", "mimeType": "text/csv", "buffer": _csv()})
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/app/deal/import/\d+$"))
    draft = page.url
    expect(page.get_by_text("deals.csv")).to_be_visible()

    # The suggestions, in words.
    name_row = page.get_by_role("row", name="Column Deal name")
    expect(name_row.get_by_label("Deal name goes into")).to_have_value("name")
    expect(name_row).to_contain_text("matched by label")
    expect(page.get_by_role("row", name="Column Sign")).to_contain_text("close name — check it")
    acct_row = page.get_by_role("row", name="Column Acct")
    expect(acct_row.get_by_label("Acct goes into")).to_have_value("")
    expect(acct_row).to_contain_text("Not imported")
    _snap(page, shot, "03-columns-suggested")

    # A field picked for the column nothing matched, then the other one, then its date order.
    acct_row.get_by_label("Acct goes into").select_option(label="Account")
    expect(acct_row).to_contain_text("chosen by you")
    expect(acct_row).to_contain_text("Create missing records")
    closing_row = page.get_by_role("row", name="Column Closing")
    closing_row.get_by_label("Closing goes into").select_option(label="Close date")
    expect(closing_row).to_contain_text("Choose the date order: 03/04/2026 could be day first or month first.")
    _snap(page, shot, "04-columns-date-order-asked")
    closing_row.get_by_label("Date order").select_option(label="Day first (31/12/2026)")
    expect(closing_row).not_to_contain_text("Choose the date order")
    expect(closing_row.get_by_label("Date order")).to_have_value("DMY")

    # The preview: the counts and a red cell with its reason.
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(f"{draft}/preview")
    counts = page.locator(".im-counts")
    expect(counts).to_contain_text("2 will be created")
    expect(counts).to_contain_text("1 refused")
    bad = page.locator("td.im-bad")
    expect(bad).to_have_count(1)
    expect(bad).to_have_attribute("title", "'lots' is not a number")
    expect(bad).to_contain_text("'lots' is not a number")
    expect(bad).to_have_css("background-color", "rgb(253, 236, 234)")
    expect(page.get_by_role("row", name=re.compile(r"^3 Refused"))).to_be_visible()
    _snap(page, shot, "05-preview")
    assert runtime.records.list(SYSTEM, "deal")["data"] == []

    # Import: the progress bar while the job runs (held at its start), then the counts.
    gate = threading.Event()
    work = runtime.jobs._work[JOB_KIND]

    def held(ctx: Any) -> Any:
        ctx.progress(0, 3, "starting", force=True)
        gate.wait(30)
        return work(ctx)

    runtime.jobs._work.register(JOB_KIND, held, replace=True)
    try:
        page.get_by_role("button", name="Import", exact=True).click()
        page.wait_for_url(draft)
        progress = page.locator("#import-progress")
        expect(progress.get_by_role("progressbar", name="Rows imported")).to_be_visible()
        expect(progress).to_contain_text("0 of 3 rows")
        expect(progress.get_by_role("button", name="Cancel the import")).to_be_visible()
        _snap(page, shot, "06-progress")
        gate.set()
        expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=30_000)
    finally:
        gate.set()
        runtime.jobs._work.register(JOB_KIND, work, replace=True)
    result = page.locator("#import-progress")
    expect(result).to_contain_text("Every row of the file was read; the refused one is below.")
    expect(result.locator(".im-count-created")).to_contain_text("2 created")
    expect(result.locator(".im-count-refused")).to_contain_text("1 refused")
    expect(result).to_contain_text("Row 3: Amount: 'lots' is not a number")
    _snap(page, shot, "07-result")

    # The refused row downloaded, with its reason.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download refused rows (CSV)").click()
    assert download.value.suggested_filename == "deals-refused.csv"
    lines = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert lines == [[*ROWS[0], "error"], [*ROWS[2], "Amount: 'lots' is not a number"]]

    # The records list shows what came in.
    page.get_by_role("link", name="Open the deals list").click()
    page.wait_for_url(f"{base}/app/deal")
    table = page.locator("table.records")
    expect(table).to_contain_text("Alpha rollout")
    expect(table).to_contain_text("Gamma pilot")
    expect(table).not_to_contain_text("Beta renewal")
    _snap(page, shot, "08-list-after")

    # On a phone: the refused row retried without its amount (the column left out; the rep
    # fills it in on the record later).
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Deals").click()
    page.wait_for_url(f"{base}/app/deal")
    page.get_by_role("button", name="More").click()
    _snap(page, shot, "09-phone-list-menu")
    _fits(page)
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_url(f"{base}/app/deal/import")
    _fits(page)
    _snap(page, shot, "10-phone-upload")
    page.get_by_role("link", name="deals.csv").click()
    page.wait_for_url(draft)
    _fits(page)
    _snap(page, shot, "11-phone-result")
    page.get_by_role("button", name="Retry refused rows").click()
    page.wait_for_url(re.compile(r".*/app/deal/import/\d+$"))
    expect(page.get_by_text("deals-retry.csv")).to_be_visible()
    page.get_by_role("button", name="Preview").click()  # as it was: refused again, said on its card
    page.wait_for_url(re.compile(r".*/preview$"))
    expect(page.locator("td.im-bad")).to_contain_text("'lots' is not a number")
    _fits(page)
    _snap(page, shot, "12-phone-preview-refused")
    page.get_by_role("link", name="Back to the columns").click()
    page.wait_for_url(re.compile(r".*/app/deal/import/\d+$"))
    amount_row = page.get_by_role("row", name="Column Amount")
    amount_row.get_by_label("Amount goes into").select_option(label="Don't import")
    expect(amount_row).to_contain_text("Not imported")
    _fits(page)
    _snap(page, shot, "13-phone-columns")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r".*/preview$"))
    expect(page.locator(".im-counts")).to_contain_text("1 will be created")
    _fits(page)
    _snap(page, shot, "14-phone-preview")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=30_000)
    expect(page.locator(".im-count-created")).to_contain_text("1 created")
    _fits(page)
    _snap(page, shot, "15-phone-result")
    assert sorted(d["name"] for d in runtime.records.list(SYSTEM, "deal")["data"]) == [
        "Alpha rollout", "Beta renewal", "Gamma pilot"]
