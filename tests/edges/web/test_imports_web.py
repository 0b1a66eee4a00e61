"""The import wizard's pages over HTTP (no browser), on SQLite and PostgreSQL: Import in the
list's menu only for who may create or change records (refused in words otherwise, never a
500); the upload with the template and a file that is no table refused beside its input;
the columns in words (how each was matched, the field picked by label, the options that
apply to it) saved on every change; the service's refusals beside what they concern; the
preview waiting for a date order, then counts and red cells with their reasons; the run's
progress, cancel, the counts, the refused rows as CSV and Excel and their retry; someone
else's import not found."""

from __future__ import annotations

import csv
import html
import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.imports.service import JOB_KIND
from tessera.runtime.platform import Platform
from tessera.web.imports import eta_words

SYSTEM = Actor.system()
ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "external_id", "label": "External ID", "type": "text", "unique": True},
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "won", "label": "Closed won"}]},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "signed", "label": "Signed", "type": "boolean"}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "quantity", "label": "Quantity", "type": "decimal"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "number", "label": "Quote number", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}
PASSWORDS = {"rep@example.com": "rep-password", "viewer@example.com": "viewer-password",
             "other@example.com": "other-password", "admin@example.com": "admin-password",
             "editor@example.com": "editor-password"}
#: The file a sales rep brings: "Deal name" matches a label, "Sign" is a close name, "Acct"
#: and "Closing" match nothing, the dates could be day or month first, one amount is no number.
HEADERS = ["Deal name", "Acct", "Stage", "Amount", "Closing", "Sign"]
ROWS = [["Alpha", "Acme", "New", "1,200.50", "03/04/2026", "yes"],
        ["Beta", "Acme", "Negotiation", "abc", "04/05/2026", "no"]]


def csv_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def words(page: Any) -> str:
    """The words of a page, without its markup."""
    inline = re.sub(r"</?(?:strong|em|a|span)\b[^>]*>", "", page.text)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline)))


def visitor(app: Any, email: str) -> SignedIn:
    return SignedIn(TestClient(app, base_url="http://127.0.0.1"), email, PASSWORDS[email])


@pytest.fixture
def app(runtime: Platform) -> Any:
    for doc in (ACCOUNT, DEAL, QUOTE_LINE, QUOTE):
        runtime.metadata.create_object(SYSTEM, doc)
    runtime.records.create(SYSTEM, "account", {"name": "Acme"})
    runtime.users.roles.create(SYSTEM, {"api_name": "sales", "label": "Sales", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "own", "delete": "none"},
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"},
        "quote": {"create": True, "read": "all", "edit": "own", "delete": "none"}}}, runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "viewer", "label": "Viewer", "permissions": {
        "deal": {"create": False, "read": "all", "edit": "none", "delete": "none"},
        "quote": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "editor", "label": "Editor", "permissions": {
        "deal": {"create": False, "read": "all", "edit": "all", "delete": "none"},
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    for email, role in (("rep@example.com", "sales"), ("viewer@example.com", "viewer"),
                        ("other@example.com", "sales"), ("editor@example.com", "editor")):
        runtime.users.accounts.add(SYSTEM, {"email": email, "name": email.split("@")[0].title(),
                                            "password": PASSWORDS[email], "roles": [role]})
    return create_app(runtime)


@pytest.fixture
def rep(app: Any) -> SignedIn:
    return visitor(app, "rep@example.com")


def upload(person: SignedIn, rows: Sequence[Sequence[Any]] = (HEADERS, *ROWS), name: str = "deals.csv") -> str:
    """Upload a file on the import page; returns the address of its draft."""
    answer = person.post("/app/deal/import", files={"file": (name, csv_bytes(rows), "text/csv")})
    assert answer.status_code == 204, answer.text
    return str(answer.headers["HX-Redirect"])


def column_row(page: Any, index: int) -> str:
    """The markup of one column's row on the columns page."""
    found = re.search(rf'<tr id="column-{index}".*?(?=<tr id="column-|</section>)', page.text, re.S)
    assert found, f"no row for column {index}"
    return found.group(0)


def ready(person: SignedIn, draft: str) -> None:
    """Acct into Account, Closing into Close date, day first: what the rep would pick."""
    answer = person.post(draft, data={"field-1": "account", "field-4": "close_date", "mode": "insert"})
    assert answer.status_code == 200, answer.text
    answer = person.post(draft, data={"shown-4": "date_order", "date_order-4": "DMY", "mode": "insert"})
    assert answer.status_code == 200, answer.text


@contextmanager
def held(runtime: Platform) -> Iterator[threading.Event]:
    """Import jobs wait at their start until the event is set (the page is seen meanwhile)."""
    gate = threading.Event()
    work = runtime.jobs._work[JOB_KIND]

    def waiting(ctx: Any) -> Any:
        ctx.progress(0, 2, "starting", force=True)
        gate.wait(30)
        return work(ctx)

    runtime.jobs._work.register(JOB_KIND, waiting, replace=True)
    try:
        yield gate
    finally:
        gate.set()
        runtime.jobs._work.register(JOB_KIND, work, replace=True)


def test_the_list_menu_offers_import_only_to_who_may_create_or_change_records(app: Any, rep: SignedIn) -> None:
    listed = rep.get("/app/deal")
    assert listed.status_code == 200 and 'href="/app/deal/import">Import</a>' in listed.text
    assert 'aria-controls="list-menu"' in listed.text and "Export CSV" in listed.text
    viewer = visitor(app, "viewer@example.com")
    assert 'href="/app/deal/import"' not in viewer.get("/app/deal").text
    refused = viewer.get("/app/deal/import")
    assert refused.status_code == 403
    assert "You may not import Deals: you can neither create nor change them." in words(refused)
    posted = viewer.post("/app/deal/import", files={"file": ("deals.csv", csv_bytes([HEADERS, *ROWS]), "text/csv")})
    assert posted.status_code == 403 and "You may not import Deals" in words(posted)
    # Line items come with their records, or in a file of their own that names each one's record.
    assert 'href="/app/quote/import">Import</a>' in rep.get("/app/quote").text
    assert 'href="/app/quote_line/import">Import</a>' in rep.get("/app/quote_line").text
    viewed = viewer.get("/app/quote_line")
    assert viewed.status_code == 200 and 'href="/app/quote_line/import"' not in viewed.text


def test_the_upload_page_offers_the_template_and_refuses_a_file_that_is_no_table_beside_its_input(
        rep: SignedIn, runtime: Platform) -> None:
    page = rep.get("/app/deal/import")
    assert page.status_code == 200
    assert 'accept=".xlsx,.xls,.ods,.csv,.tsv,.txt"' in page.text and 'name="file"' in page.text
    assert 'href="/app/deal/import/template.xlsx"' in page.text and "Download the template" in page.text
    assert 'aria-current="step"' in page.text and "Your recent imports None yet." in words(page)

    template = rep.get("/app/deal/import/template.xlsx")
    assert template.status_code == 200 and "deal-import-template.xlsx" in template.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(template.content)).worksheets[0]
    assert "Deal name" in [c.value for c in sheet[1]]

    junk = rep.post("/app/deal/import", files={"file": ("deals.xlsx", b"\x00\x01 not a workbook", "text/csv")})
    assert junk.status_code == 422
    assert 'aria-invalid="true" aria-describedby="import-file-problems"' in junk.text
    assert "deals.xlsx: The file cannot be read as a spreadsheet" in words(junk)
    empty = rep.post("/app/deal/import", files={"file": ("deals.csv", b"", "text/csv")})
    assert empty.status_code == 422 and "Choose a file to import." in words(empty)
    headers_only = rep.post("/app/deal/import", files={"file": ("deals.csv", csv_bytes([HEADERS]), "text/csv")})
    assert headers_only.status_code == 422 and "no rows to import" in words(headers_only)
    assert runtime.imports.list(SYSTEM, "deal") == []


def test_the_columns_page_says_how_each_column_was_matched_and_saves_each_change(
        rep: SignedIn, runtime: Platform) -> None:
    draft = upload(rep)
    page = rep.get(draft)
    assert page.status_code == 200
    text = words(page)
    assert "deals.csv · 2 rows" in text and "4 of 6 columns are imported" in text
    name = column_row(page, 0)
    assert '<option value="name" selected>Deal name (required)</option>' in name and "matched by label" in name
    assert "close name — check it" in column_row(page, 5)  # Sign → Signed
    acct = column_row(page, 1)
    assert '<option value="" selected>Don\'t import</option>' in acct and "Acct goes into" in acct
    assert ">Close date</option>" in acct and ">close_date<" not in acct  # fields by label
    amount = column_row(page, 3)
    assert "Decimal mark" in amount and '<option value="." selected>Point: 1,234.56</option>' in amount
    stage = column_row(page, 2)  # a value that is no option is offered in the value map
    assert 'value="Negotiation"' in stage and "not an option" in stage
    assert "Date order" not in column_row(page, 4)  # not a date field yet

    # Picking fields: their options appear, the service keeps the choice.
    changed = rep.post(draft, data={"field-1": "account", "field-4": "close_date", "mode": "insert"})
    assert changed.status_code == 200
    assert "Create missing records" in column_row(changed, 1) and "chosen by you" in column_row(changed, 1)
    closing = column_row(changed, 4)
    assert "Date order" in closing and "Choose the date order: 03/04/2026 could be day first or month first." in closing
    import_id = int(draft.rsplit("/", 1)[1])
    assert runtime.imports.get(SYSTEM, import_id)["mapping"]["Acct"] == "account"

    # The options of a row: a date order, a value map, missing accounts created.
    changed = rep.post(draft, data={
        "shown-1": "values,match,create_missing", "create_missing-1": "1", "from-1": "", "to-1": "",
        "shown-2": "values", "from-2": ["Negotiation", ""], "to-2": ["new", "( as written )"],
        "shown-4": "date_order", "date_order-4": "DMY", "mode": "insert"})
    assert changed.status_code == 200
    saved = {c["name"]: c["options"] for c in runtime.imports.get(SYSTEM, import_id)["columns"]}
    assert saved["Closing"]["date_order"] == "DMY" and saved["Acct"]["create_missing"] is True
    assert saved["Stage"]["values"] == {"Negotiation": "new"}
    assert '<option value="DMY" selected>Day first (31/12/2026)</option>' in column_row(changed, 4)
    assert "Choose the date order" not in column_row(changed, 4)
    assert '<option value="new" selected>New</option>' in column_row(changed, 2)
    # Don't import: the column is left out.
    left = rep.post(draft, data={"field-5": "", "mode": "insert"})
    assert "Not imported" in column_row(left, 5)
    assert runtime.imports.get(SYSTEM, import_id)["mapping"]["Sign"] is None


def test_the_services_refusals_are_shown_beside_what_they_concern_in_labels(rep: SignedIn) -> None:
    draft = upload(rep)
    twice = rep.post(draft, data={"field-1": "name", "mode": "insert"})
    assert twice.status_code == 200
    acct = column_row(twice, 1)
    assert "Deal name is fed by column" in html.unescape(acct) and "'name'" not in html.unescape(acct)
    assert 'aria-invalid="true"' in acct

    update = rep.post(draft, data={"field-1": "", "mode": "update"})
    assert update.status_code == 200
    text = words(update)
    assert "Find existing deals by" in text and "An update needs a key" in text
    assert "Blank cells clear the field" in column_row(update, 0)
    preview = rep.post(draft, data={"action": "preview", "mode": "update", "key-shown": "1"})
    assert preview.status_code == 422 and "Fix what is marked below, then preview." in words(preview)
    keyed = rep.post(draft, data={"mode": "update", "key-shown": "1", "key": "name"})
    assert keyed.status_code == 200 and "needs a key" not in words(keyed)
    assert 'name="key" value="name" checked' in keyed.text

    # Required fields no column feeds are said before anything runs.
    missing = rep.post(draft, data={"field-0": "", "mode": "insert"})
    assert "Every new deal needs Deal name, and no column goes into it" in words(missing)


def test_who_may_only_change_records_is_told_beside_the_mode_and_may_update(app: Any, runtime: Platform) -> None:
    editor = visitor(app, "editor@example.com")
    assert 'href="/app/deal/import">Import</a>' in editor.get("/app/deal").text
    draft = upload(editor)
    page = editor.get(draft)
    mode = page.text.split('id="mode-title"')[1]
    assert "You may not create Deal records." in html.unescape(mode)
    blocked = editor.post(draft, data={"action": "preview", "mode": "insert"})
    assert blocked.status_code == 422
    editor.post(draft, data={"field-1": "account", "field-4": "close_date", "mode": "update", "key-shown": "1",
                             "key": "name"})
    go = editor.post(draft, data={"action": "preview", "shown-4": "date_order", "date_order-4": "DMY",
                                  "mode": "update", "key-shown": "1", "key": "name"})
    assert go.status_code == 204, words(go)
    preview = editor.get(f"{draft}/preview")
    assert preview.status_code == 200 and "No Deal record has Deal name" in words(preview)


def test_the_preview_waits_for_the_date_order_then_shows_counts_and_refused_cells_with_reasons(
        rep: SignedIn, runtime: Platform) -> None:
    draft = upload(rep)
    rep.post(draft, data={"field-1": "account", "field-4": "close_date", "mode": "insert"})
    asked = rep.post(draft, data={"action": "preview", "mode": "insert"})
    assert asked.status_code == 422
    closing = column_row(asked, 4)
    assert '<p class="field-error" role="alert">Choose the date order: 03/04/2026' in closing

    go = rep.post(draft, data={"action": "preview", "shown-4": "date_order", "date_order-4": "DMY", "mode": "insert"})
    assert go.status_code == 204 and go.headers["HX-Redirect"] == f"{draft}/preview"
    preview = rep.get(f"{draft}/preview")
    assert preview.status_code == 200
    text = words(preview)
    assert "1 will be created 0 will be updated 0 unchanged 1 refused" in text
    assert "Every row" in text and "Closing → Close date" in text
    bad = re.search(r'<td class="im-bad" data-label="Amount" title="([^"]+)"><span class="im-value">abc</span>'
                    r'<span class="im-reason">([^<]+)</span>', preview.text)
    assert bad and html.unescape(bad.group(1)) == html.unescape(bad.group(2)) == "'abc' is not a number"
    assert 'class="badge im-outcome-refuse">Refused' in preview.text
    assert runtime.records.list(SYSTEM, "deal")["data"] == []  # a dry run writes nothing


def test_running_shows_progress_then_counts_refused_rows_to_download_and_their_retry(
        rep: SignedIn, runtime: Platform) -> None:
    draft = upload(rep)
    ready(rep, draft)
    import_id = int(draft.rsplit("/", 1)[1])
    with held(runtime) as gate:
        started = rep.post(f"{draft}/run")
        assert started.status_code == 204 and started.headers["HX-Redirect"] == draft
        running = rep.get(draft)
        assert running.status_code == 200
        assert f'hx-get="{draft}/progress"' in running.text and 'aria-label="Rows imported"' in running.text
        assert "0 of 2 rows" in words(running) and "Cancel the import" in running.text
        fragment = rep.get(f"{draft}/progress", headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and 'id="import-progress"' in fragment.text
        assert "<html" not in fragment.text
        gate.set()
        job = runtime.jobs.wait(int(runtime.imports.get(SYSTEM, import_id)["job"]))
    assert job["status"] == "succeeded"
    finished = rep.get(f"{draft}/progress", headers={"HX-Request": "true"})
    assert finished.headers.get("HX-Refresh") == "true"

    done = rep.get(draft)
    text = words(done)
    assert "Done Every row of the file was read; the refused one is below." in text
    assert "1 created 0 updated 0 unchanged 1 refused" in text
    assert 'href="/app/deal">Open the deals list</a>' in done.text
    assert "Row 3: Stage: 'Negotiation' is not one of the Stage options" in text
    assert "Amount: 'abc' is not a number" in text
    assert f'href="{draft}/refused.csv"' in done.text and f'href="{draft}/refused.xlsx"' in done.text
    assert [d["name"] for d in runtime.records.list(SYSTEM, "deal")["data"]] == ["Alpha"]

    refused_csv = rep.get(f"{draft}/refused.csv")
    assert refused_csv.status_code == 200 and "deals-refused.csv" in refused_csv.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(refused_csv.content.decode("utf-8-sig"))))
    assert lines[0] == [*HEADERS, "error"] and lines[1][:2] == ["Beta", "Acme"] and "not a number" in lines[1][-1]
    refused_xlsx = rep.get(f"{draft}/refused.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(refused_xlsx.content)).worksheets[0]
    assert sheet.cell(2, 1).value == "Beta"

    # A draft that ran takes no more changes: the page says where it is instead.
    late = rep.post(draft, data={"mode": "update"})
    assert late.status_code == 204 and late.headers["HX-Redirect"] == draft

    retried = rep.post(f"{draft}/retry")
    assert retried.status_code == 204
    again = rep.get(retried.headers["HX-Redirect"])
    assert again.status_code == 200 and "deals-retry.csv · 1 row" in words(again)
    assert '<option value="account" selected>' in column_row(again, 1) and "chosen by you" in column_row(again, 1)
    said = words(rep.get(draft))
    assert "You retried these rows already: deals-retry.csv (not run yet)." in said


def test_cancel_stops_the_import_and_the_page_says_so(rep: SignedIn, runtime: Platform) -> None:
    first, second = upload(rep), upload(rep, name="more.csv")
    ready(rep, first)
    ready(rep, second)
    ids = [int(d.rsplit("/", 1)[1]) for d in (first, second)]
    with held(runtime) as gate:
        rep.post(f"{first}/run")
        job = int(runtime.imports.get(SYSTEM, ids[0])["job"])
        for _ in range(200):  # the worker has taken it (and holds it): the second waits behind it
            if runtime.jobs.get(SYSTEM, job)["status"] == "running":
                break
            threading.Event().wait(0.05)
        rep.post(f"{second}/run")
        waiting = words(rep.get(second))
        assert "Waiting to start…" in waiting and "0 of 2 rows Other jobs run first" in waiting
        cancelled = rep.post(f"{first}/cancel")
        assert cancelled.status_code == 204 and cancelled.headers["HX-Redirect"] == first
        assert "Stopping after the rows being written now" in words(rep.get(first))
        rep.post(f"{second}/cancel")  # cancelled before it started
        gate.set()
        assert runtime.jobs.wait(job)["status"] == "cancelled"
    for draft in (first, second):
        page = rep.get(draft)
        assert "The import was cancelled after 0 of 2 rows." in words(page), draft
        assert 'hx-get="' not in page.text.split('id="import-progress"')[1][:200]  # no more polling
    assert runtime.records.list(SYSTEM, "deal")["data"] == []
    assert "Resume the import" in rep.get(second).text  # its job never ran: it can start again

    # The stopped one goes on from where it stopped.
    page = rep.get(first)
    assert f'action="{first}/run"' in page.text and "Resume the import" in page.text
    resumed = rep.post(f"{first}/run")
    assert resumed.status_code == 204 and resumed.headers["HX-Redirect"] == first
    assert runtime.jobs.wait(int(runtime.imports.get(SYSTEM, ids[0])["job"]))["status"] == "succeeded"
    assert "1 created 0 updated 0 unchanged 1 refused" in words(rep.get(first))
    assert [d["name"] for d in runtime.records.list(SYSTEM, "deal")["data"]] == ["Alpha"]


def test_recent_imports_are_the_persons_own_and_another_persons_import_is_not_found(
        app: Any, rep: SignedIn) -> None:
    draft = upload(rep, name="mine.csv")
    listed = rep.get("/app/deal/import")
    assert f'href="{draft}">mine.csv</a>' in listed.text and "Not run yet" in words(listed)
    other = visitor(app, "other@example.com")
    assert "mine.csv" not in other.get("/app/deal/import").text
    assert other.get(draft).status_code == 404
    assert other.get(f"{draft}/preview").status_code == 404
    assert other.post(f"{draft}/run").status_code == 404
    assert rep.get(draft.replace("/app/deal/", "/app/account/")).status_code == 404
    assert rep.get("/app/deal/import/99999").status_code == 404
    stranger = TestClient(app, base_url="http://127.0.0.1")  # signed out: to the sign-in page
    for path in ("/app/deal/import", draft, f"{draft}/preview"):
        answer = stranger.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path




def _lines_draft(admin: SignedIn, runtime: Platform) -> str:
    runtime.records.create(SYSTEM, "quote", {"number": "Q-7"})
    answer = admin.post("/app/quote_line/import", files={"file": ("lines.csv", csv_bytes(
        [["Quote", "Quantity"], ["Q-7", "2"], ["Q-7", "1.5"], ["Q-9", "1"]]), "text/csv")})
    assert answer.status_code == 204
    return str(answer.headers["HX-Redirect"])


def test_lines_in_a_file_of_their_own_are_only_added_to_the_records_they_name(app: Any, runtime: Platform) -> None:
    admin = visitor(app, "admin@example.com")
    draft = _lines_draft(admin, runtime)
    page = admin.get(draft)
    assert page.status_code == 200
    assert '<option value="quote" selected>' in column_row(page, 0)
    assert "Add new records" in page.text and "Update existing records" not in page.text
    go = admin.post(draft, data={"action": "preview", "mode": "insert"})
    assert go.status_code == 204, words(go)
    preview = admin.get(f"{draft}/preview")
    assert "No Quote record is named 'Q-9'" in words(preview)
    assert f'action="{draft}/run"' in preview.text
    admin.post(f"{draft}/run")
    import_id = int(draft.rsplit("/", 1)[1])
    assert runtime.jobs.wait(int(runtime.imports.get(SYSTEM, import_id)["job"]))["status"] == "succeeded"
    assert "2 created 0 updated 0 unchanged 1 refused" in words(admin.get(draft))
    quote = runtime.records.list(SYSTEM, "quote")["data"][0]
    lines = runtime.records.get(SYSTEM, "quote", quote["id"])["lines"]
    assert [Decimal(line["quantity"]) for line in lines] == [2, Decimal("1.5")]


def test_the_preview_of_lines_in_a_file_of_their_own_says_what_the_run_does(app: Any, runtime: Platform) -> None:
    admin = visitor(app, "admin@example.com")
    draft = _lines_draft(admin, runtime)
    admin.post(draft, data={"action": "preview", "mode": "insert"})
    text = words(admin.get(f"{draft}/preview"))
    assert "2 will be created" in text and "1 refused" in text and "read-only" not in text


def test_the_time_left_is_said_in_words() -> None:
    assert [eta_words(s) for s in (None, 3, 40, 90, 3600, 3900 + 1800)] == [
        "", "a few seconds left", "about 40 seconds left", "about 2 minutes left", "about 1 hour left",
        "about 1 hour 35 minutes left"]
