"""The import endpoints (`/api/v1/imports`): a file uploaded, mapped, previewed, run as a job
followed through `/api/v1/jobs/{id}`, its refused rows downloaded and retried; nobody sees
another's import; uploads over the limit, missing parts and malformed bodies answered with
problem+json; the template opens as a workbook — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tessera.runtime.platform import Platform
from tessera.settings import Settings

#: Small enough to refuse a file of a few hundred kilobytes.
UPLOAD_LIMIT = 64 * 1024
PROBLEM = "application/problem+json"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password"  # the suite's admin (tests/conftest.py)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The suite's signed-in client (tests/conftest.py: Api).
Api = Any

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "external_id", "label": "External ID", "type": "text", "unique": True},
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "won", "label": "Closed won"}]},
    {"api_name": "amount", "label": "Amount", "type": "currency"}]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "deal": {"create": True, "read": "own", "edit": "own"}, "account": {"read": "all"}}}
READER = {"api_name": "reader", "label": "Reader", "permissions": {"deal": {"read": "all"}}}
HEADERS = ["External ID", "Deal name", "Account", "Amount", "Notes"]


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The suite's runtime with a small upload limit."""
    rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "attachments",
                           max_upload_bytes=UPLOAD_LIMIT))
    rt.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    yield rt
    rt.dispose()


@pytest.fixture
def sales(api: Api) -> Api:
    """Accounts Acme and Globex, and deals to import into."""
    for doc in (ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    for name in ("Acme", "Globex"):
        api.ok(api.post("/records/account", {"name": name}), 201)
    return api


def _csv(rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _xlsx(sheets: dict[str, Sequence[Sequence[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(api: Api, content: bytes, name: str = "deals.csv", **fields: str) -> Any:
    return api.request("POST", "/imports", files={"file": (name, content, "application/octet-stream")},
                       data={"object": "deal", **fields})


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return response.json()


def _fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


def _finished(api: Api, runtime: Platform, response: Any) -> dict[str, Any]:
    """A run's 202, its job followed through the job endpoint to its end; the import then."""
    started = api.ok(response, 202)
    assert response.headers["location"] == f"/api/v1/jobs/{started['job']}"
    assert started["status"] == "queued"
    runtime.jobs.wait(started["job"], timeout=120)
    job = api.ok(api.get(response.headers["location"].removeprefix("/api/v1")))
    assert (job["kind"], job["status"]) == ("import.run", "succeeded"), job
    return api.ok(api.get(f"/imports/{started['id']}"))


def _sign_in(api: Api, email: str, role: dict[str, Any]) -> Api:
    api.ok(api.post("/roles", role), 201)
    api.ok(api.post("/users", {"email": email, "name": role["label"], "password": "a-long-password",
                               "roles": [role["api_name"]]}), 201)
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": "a-long-password"})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def _deals(api: Api) -> dict[str, dict[str, Any]]:
    return {d["external_id"]: d for d in api.ok(api.get("/records/deal", params={"limit": 1000}))["data"]}


# -- the whole way through ----------------------------------------------------------------------
def test_an_upload_is_mapped_previewed_run_as_a_job_and_its_refused_rows_download_and_retry(
        sales: Api, runtime: Platform) -> None:
    api = sales
    response = _upload(api, _csv([HEADERS, ["D-1", "First", "Acme", "$1,200.50", "call back"],
                                  ["D-2", "Second", "Umbrella", "10", ""],
                                  ["D-3", "Third", "Globex", "ten", ""]]))
    draft = api.ok(response, 201)
    assert response.headers["location"] == f"/api/v1/imports/{draft['id']}"
    assert (draft["object"], draft["filename"], draft["status"], draft["rows"]) == ("deal", "deals.csv", "draft", 3)
    assert draft["mapping"] == {"External ID": "external_id", "Deal name": "name", "Account": "account",
                                "Amount": "amount", "Notes": None}
    assert draft["columns"][0]["samples"] == ["D-1", "D-2", "D-3"]

    changed = api.ok(api.patch(f"/imports/{draft['id']}", {"mode": "upsert", "key": ["external_id"],
                                                             "mapping": {"Amount": None}}))
    assert (changed["mode"], changed["key"], changed["mapping"]["Amount"], changed["problems"]) == (
        "upsert", ["external_id"], None, [])
    changed = api.ok(api.patch(f"/imports/{draft['id']}", {"mapping": {"Amount": "amount"}}))
    assert changed["mapping"]["Amount"] == "amount" and changed["mapping"]["Deal name"] == "name"

    preview = api.ok(api.post(f"/imports/{draft['id']}/preview", params={"limit": 2}))
    assert preview["counts"] == {"create": 1, "update": 0, "unchanged": 0, "refuse": 2}
    assert [r["row"] for r in preview["rows"]] == [2, 3]
    assert {(e["row"], e["column"]) for e in preview["errors"]} == {(3, "Account"), (4, "Amount")}
    assert _deals(api) == {}  # a preview writes nothing
    assert api.ok(api.get(f"/imports/{draft['id']}"))["status"] == "draft"

    done = _finished(api, runtime, api.post(f"/imports/{draft['id']}/run"))
    assert done["status"] == "succeeded"
    assert done["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "refused": 2}
    assert _deals(api)["D-1"]["amount"] == "1200.50"

    refused = api.ok(api.get(f"/imports/{draft['id']}/errors"))
    assert (refused[0]["row"], refused[0]["cells"]["Account"], refused[0]["problems"][0]["reason"]) == (
        3, "Umbrella", "no Account record is named 'Umbrella'")
    assert [e["row"] for e in api.ok(api.get(f"/imports/{draft['id']}/errors", params={"after": 3}))] == [4]
    download = api.get(f"/imports/{draft['id']}/errors.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == 'attachment; filename="deals-refused.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == [*HEADERS, "error"] and [r[0] for r in rows[1:]] == ["D-2", "D-3"]
    assert rows[1][-1] == "Account: no Account record is named 'Umbrella'"
    workbook = api.get(f"/imports/{draft['id']}/errors.xlsx")
    assert workbook.headers["content-type"] == XLSX
    assert workbook.headers["content-disposition"] == 'attachment; filename="deals-refused.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert [c.value for c in sheet[1]] == [*HEADERS, "error"] and sheet.max_row == 3

    # Once run, the import is what it was: no second run, no changing it; cancelling does nothing.
    assert "started already" in _problem(api.post(f"/imports/{draft['id']}/run"), 409)["detail"]
    _problem(api.patch(f"/imports/{draft['id']}", {"mode": "insert"}), 409)
    assert api.ok(api.post(f"/imports/{draft['id']}/cancel"))["status"] == "succeeded"

    # The missing account exists now: the retry imports the refused rows, mapped as before.
    api.ok(api.post("/records/account", {"name": "Umbrella"}), 201)
    response = api.post(f"/imports/{draft['id']}/retry")
    retry = api.ok(response, 201)
    assert response.headers["location"] == f"/api/v1/imports/{retry['id']}"
    assert (retry["retry_of"], retry["rows"], retry["mode"], retry["key"]) == (
        draft["id"], 2, "upsert", ["external_id"])
    api.ok(api.patch(f"/imports/{retry['id']}", {"options": {"Amount": {"values": {"ten": "10"}}}}))
    again = _finished(api, runtime, api.post(f"/imports/{retry['id']}/run"))
    assert again["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "refused": 0}
    assert set(_deals(api)) == {"D-1", "D-2", "D-3"} and _deals(api)["D-3"]["amount"] == "10.00"

    listed = api.ok(api.get("/imports"))["imports"]
    assert [(i["id"], i["status"]) for i in listed] == [(retry["id"], "succeeded"), (draft["id"], "succeeded")]
    assert api.ok(api.get("/imports", params={"object": "deal", "limit": 1}))["imports"][0]["id"] == retry["id"]
    assert api.ok(api.get("/imports", params={"object": "account"}))["imports"] == []


def test_a_sheet_of_a_workbook_with_a_chinese_name_imports_and_its_refused_rows_keep_the_name(
        sales: Api, runtime: Platform) -> None:
    workbook = _xlsx({"Notes": [["nothing here"]],
                      "Deals": [["External ID", "Deal name", "Amount"], ["D-1", "First", 5], ["D-2", "", 6]],
                      "Old deals": [["Ref", "Title"], ["O-1", "Old"]]})
    draft = sales.ok(_upload(sales, workbook, "客户 交易.xlsx", sheet="Old deals"), 201)
    assert (draft["sheet"], draft["filename"], draft["rows"]) == ("Old deals", "客户 交易.xlsx", 1)
    # Another sheet: its own columns, mapped afresh.
    draft = sales.ok(sales.patch(f"/imports/{draft['id']}", {"sheet": "Deals"}))
    assert (draft["sheet"], draft["rows"], [c["name"] for c in draft["columns"]]) == (
        "Deals", 2, ["External ID", "Deal name", "Amount"])
    done = _finished(sales, runtime, sales.post(f"/imports/{draft['id']}/run"))
    assert done["counts"]["created"] == 1 and done["counts"]["refused"] == 1
    download = sales.get(f"/imports/{draft['id']}/errors.csv")
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"__ __-refused.csv\"; "
        "filename*=UTF-8''%E5%AE%A2%E6%88%B7%20%E4%BA%A4%E6%98%93-refused.csv")
    missing = _problem(_upload(sales, workbook, "deals.xlsx", sheet="Summary"), 422)
    assert "no sheet named 'Summary'" in missing["detail"] and _fields(missing) == {"file"}


# -- who sees what ------------------------------------------------------------------------------
def test_another_users_import_is_not_found_and_someone_who_may_not_write_cannot_upload(
        sales: Api, runtime: Platform) -> None:
    api = sales
    mine = api.ok(_upload(api, _csv([HEADERS, ["D-1", "First", "Acme", "", ""]])), 201)["id"]
    rep = _sign_in(api, "rep@example.com", REP)
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/preview"), ("POST", "/run"), ("POST", "/cancel"),
                         ("GET", "/errors"), ("GET", "/errors.csv"), ("GET", "/errors.xlsx"), ("POST", "/retry")):
        answer = rep.request(method, f"/imports/{mine}{path}", json={"mode": "insert"} if method == "PATCH" else None)
        assert f"There is no import {mine}" in _problem(answer, 404)["detail"], (method, path)
    assert rep.ok(rep.get("/imports"))["imports"] == []
    # The rep's own import is theirs to run, and the admin sees it too.
    theirs = rep.ok(_upload(rep, _csv([["Deal name"], ["Rep's deal"]])), 201)["id"]
    assert [i["id"] for i in rep.ok(rep.get("/imports"))["imports"]] == [theirs]
    assert rep.get("/imports/template/deal").headers["content-type"] == XLSX
    done = _finished(rep, runtime, rep.post(f"/imports/{theirs}/run"))
    assert done["counts"]["created"] == 1
    assert {i["id"] for i in api.ok(api.get("/imports"))["imports"]} == {mine, theirs}
    # Someone who may neither create nor change deals imports none, nor gets their template.
    reader = _sign_in(api, "reader@example.com", READER)
    assert "You may not import Deals" in _problem(_upload(reader, _csv([["Deal name"], ["X"]])), 403)["detail"]
    _problem(reader.get("/imports/template/deal"), 403)
    # Signed out: refused before the body is read.
    signed_out = api.client.post("/api/v1/imports", files={"file": ("a.csv", b"a\n1\n")}, data={"object": "deal"})
    assert _problem(signed_out, 401)["status"] == 401


# -- bad input ----------------------------------------------------------------------------------
def test_uploads_without_a_file_or_object_or_naming_an_unknown_object_are_problems(sales: Api) -> None:
    api = sales
    table = _csv([["Deal name"], ["A"]])
    no_file = api.request("POST", "/imports", data={"object": "deal"},
                          files={"other": ("x.csv", table, "text/csv")})
    assert _fields(_problem(no_file, 422)) == {"file", "other"}
    no_object = api.request("POST", "/imports", files={"file": ("d.csv", table, "text/csv")})
    assert _fields(_problem(no_object, 422)) == {"object"}
    blank_object = _upload(api, table, object=" ")
    assert _fields(_problem(blank_object, 422)) == {"object"}
    as_json = api.post("/imports", {"object": "deal", "file": "Deal name\nA\n"})
    assert _fields(_problem(as_json, 422)) == {"file"}
    unknown = _problem(_upload(api, table, object="spaceship"), 404)
    assert unknown["detail"] == "There is no object named 'spaceship'."
    not_a_table = _problem(_upload(api, b"%PDF-1.4\x00\x00binary", "scan.pdf"), 422)
    assert _fields(not_a_table) == {"file"}
    only_headers = _problem(_upload(api, b"Deal name,Amount\n"), 422)
    assert "no rows" in only_headers["detail"]
    assert api.ok(api.get("/imports"))["imports"] == []  # none of these made a draft


def test_an_upload_over_the_size_limit_is_refused_with_413(sales: Api) -> None:
    header = b"Deal name\n"
    just_over = header + b"x" * (UPLOAD_LIMIT - len(header)) + b"\n"
    far_over = header + b"x\n" * (2 * UPLOAD_LIMIT)
    for content in (just_over, far_over):
        problem = _problem(_upload(sales, content), 413)
        assert problem["detail"] == f"The file is larger than the limit of {UPLOAD_LIMIT:,} bytes."
    assert sales.ok(sales.get("/imports"))["imports"] == []


def test_malformed_changes_and_requests_of_imports_that_are_not_there_are_problems(sales: Api) -> None:
    api = sales
    draft = api.ok(_upload(api, _csv([HEADERS, ["D-1", "First", "Acme", "", ""]])), 201)["id"]
    not_json = api.request("PATCH", f"/imports/{draft}", content=b"{mode: upsert",
                           headers={"Content-Type": "application/json"})
    assert "not valid JSON" in _problem(not_json, 400)["detail"]
    assert _fields(_problem(api.patch(f"/imports/{draft}", ["mode"]), 422)) == {"/"}
    unknown = _problem(api.patch(f"/imports/{draft}", {"speed": "fast", "mode": "sideways"}), 422)
    assert _fields(unknown) == {"speed"}
    wrong = _problem(api.patch(f"/imports/{draft}", {"mode": "sideways", "mapping": {"Nope": "name",
                                                                                     "Notes": "spaceship"}}), 422)
    assert _fields(wrong) == {"mode", "mapping.Nope", "mapping.Notes"}
    upsert = api.ok(api.patch(f"/imports/{draft}", {"mode": "upsert"}))
    assert [p["field"] for p in upsert["problems"]] == ["key"]
    assert _fields(_problem(api.post(f"/imports/{draft}/run"), 422)) == {"key"}
    _problem(api.post(f"/imports/{draft}/preview", params={"limit": 5000}), 400)
    assert "has not been started" in _problem(api.post(f"/imports/{draft}/cancel"), 409)["detail"]
    assert "nothing to retry" in _problem(api.post(f"/imports/{draft}/retry"), 409)["detail"]
    assert api.ok(api.get(f"/imports/{draft}/errors")) == []
    for method, path in (("GET", "/imports/999"), ("PATCH", "/imports/999"), ("POST", "/imports/999/run"),
                         ("GET", "/imports/999/errors.csv"), ("GET", "/imports/template/spaceship"),
                         ("GET", "/imports/abc"), ("GET", f"/imports/{draft}/errors.pdf")):
        _problem(api.request(method, path, json={"mode": "insert"} if method == "PATCH" else None), 404)
    _problem(api.get("/imports/0"), 400)
    _problem(api.get("/imports", params={"limit": 0}), 400)
    assert api.ok(api.get(f"/imports/{draft}"))["mode"] == "upsert"  # the refused changes changed nothing


# -- the template and the description -------------------------------------------------------------
def test_the_template_downloads_as_a_workbook_with_a_column_per_field(sales: Api) -> None:
    response = sales.get("/imports/template/deal")
    assert response.status_code == 200 and response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == 'attachment; filename="deal-import-template.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    headers = [c.value for c in book["Deals"][1]]
    assert headers == ["External ID", "Deal name", "Account", "Stage", "Amount"]
    assert book["Deals"].cell(2, 3).value == "Acme"


def test_openapi_describes_the_import_endpoints(sales: Api, client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = {p: set(item) for p, item in spec["paths"].items() if p.startswith("/api/v1/imports")}
    assert paths == {
        "/api/v1/imports": {"get", "post"}, "/api/v1/imports/template/{object}": {"get"},
        "/api/v1/imports/{import_id}": {"get", "patch"}, "/api/v1/imports/{import_id}/preview": {"post"},
        "/api/v1/imports/{import_id}/run": {"post"}, "/api/v1/imports/{import_id}/cancel": {"post"},
        "/api/v1/imports/{import_id}/errors": {"get"}, "/api/v1/imports/{import_id}/errors.csv": {"get"},
        "/api/v1/imports/{import_id}/errors.xlsx": {"get"}, "/api/v1/imports/{import_id}/retry": {"post"}}
    upload = spec["paths"]["/api/v1/imports"]["post"]
    assert upload["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == ["file", "object"]
    assert {"201", "413", "422"} <= set(upload["responses"])
    run = spec["paths"]["/api/v1/imports/{import_id}/run"]["post"]["responses"]["202"]
    assert "Location" in run["headers"]
    assert XLSX in spec["paths"]["/api/v1/imports/template/{object}"]["get"]["responses"]["200"]["content"]
