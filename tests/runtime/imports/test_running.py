"""Running an import: rows through the save pipeline in chunks, good rows landing when some
are bad, lookups by name, upserts that leave unchanged records alone, line items from
continuation rows, refused rows to download and retry — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from tessera.errors import Conflict
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, csv_bytes, deals, run, user, xlsx_bytes

HEADERS = ["External ID", "Deal name", "Account", "Stage", "Amount", "Close date", "Signed", "Phone", "Code"]


def _draft(rt: Platform, rows: list[list[object]], **settings: object) -> int:
    draft = rt.imports.start(SYSTEM, "deal", "deals.csv", csv_bytes([HEADERS, *rows]))
    if settings:
        rt.imports.change(SYSTEM, draft["id"], settings)
    return int(draft["id"])


def test_an_import_creates_records_with_values_read_as_people_write_them(rt: Platform) -> None:
    import_id = _draft(rt, [
        ["D-1", "First", "acme ", "closed won", "$1,200.50", "2026-03-31", "Yes", "+86 138 0013 8000", "007"],
        ["D-2", "Second", "Globex", "New", "99", "31/03/2026", "否", "", ""]])
    done = run(rt, SYSTEM, import_id)
    assert done["status"] == "succeeded" and done["counts"] == {
        "created": 2, "updated": 0, "unchanged": 0, "refused": 0}
    found = deals(rt)
    acme = rt.records.list(SYSTEM, "account", filter='name = "Acme"')["data"][0]["id"]
    assert found["D-1"]["account"] == acme and found["D-1"]["stage"] == "won"
    assert found["D-1"]["amount"] == "1200.50" and found["D-1"]["close_date"] == "2026-03-31"
    assert found["D-1"]["signed"] is True and found["D-2"]["signed"] is False
    assert found["D-1"]["phone"] == "+86 138 0013 8000" and found["D-1"]["code"] == "007"  # text stays as written
    assert found["D-2"]["close_date"] == "2026-03-31"


def test_bad_rows_are_refused_with_their_reasons_and_good_rows_land(rt: Platform) -> None:
    import_id = _draft(rt, [
        ["D-1", "Good", "Acme", "New", "10", "2026-01-02", "", "", ""],
        ["D-2", "Misspelt account", "Acmee", "New", "10", "", "", "", ""],
        ["D-3", "", "Acme", "New", "10", "", "", "", ""],
        ["D-4", "Bad amount", "", "New", "ten", "", "", "", ""],
        ["D-5", "Too big", "", "", "5000000", "", "", "", ""],
        ["D-1", "Repeated id", "", "", "", "", "", "", ""],
        ["D-6", "Good too", "", "Nope", "", "", "", "", ""]])
    done = run(rt, SYSTEM, import_id)
    assert done["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "refused": 6}
    assert set(deals(rt)) == {"D-1"}
    errors = {e["row"]: e["problems"] for e in rt.imports.errors(SYSTEM, import_id)}
    assert errors[3] == [{"column": "Account", "field": "account", "value": "Acmee",
                          "reason": "no Account record is named 'Acmee'"}]
    assert errors[4][0]["reason"] == "Deal name is required"
    assert errors[5][0]["column"] == "Amount" and "not a number" in errors[5][0]["reason"]
    assert errors[6][0] == {"column": "Amount", "field": "amount", "value": "5000000", "reason": "Too big a deal"}
    assert errors[7][0]["reason"] == "repeats the External ID of line 2"
    assert errors[8][0]["column"] == "Stage" and "not one of the Stage options" in errors[8][0]["reason"]


def test_refused_rows_download_as_they_came_with_an_error_column_and_no_live_formula(rt: Platform) -> None:
    import_id = _draft(rt, [["D-1", "=HYPERLINK(\"http://evil\")", "Nobody", "", "", "", "", "", ""]])
    run(rt, SYSTEM, import_id)
    content, name, media = rt.imports.errors_file(SYSTEM, import_id, "csv")
    assert name == "deals-refused.csv" and media.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == [*HEADERS, "error"]
    assert rows[1][1] == "'=HYPERLINK(\"http://evil\")"
    assert rows[1][-1] == "Account: no Account record is named 'Nobody'"
    content, name, _ = rt.imports.errors_file(SYSTEM, import_id, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet["B2"].data_type == "s" and sheet["B2"].value == "=HYPERLINK(\"http://evil\")"


def test_retrying_refused_rows_imports_only_them_once_their_lookup_exists(rt: Platform) -> None:
    import_id = _draft(rt, [["D-1", "Good", "Acme", "", "", "", "", "", ""],
                            ["D-2", "Waits for its account", "Umbrella", "", "", "", "", "", ""]])
    assert run(rt, SYSTEM, import_id)["counts"]["refused"] == 1
    rt.records.create(SYSTEM, "account", {"name": "Umbrella"})
    retry = rt.imports.retry(SYSTEM, import_id)
    assert retry["rows"] == 1 and retry["retry_of"] == import_id and retry["mapping"]["Account"] == "account"
    assert run(rt, SYSTEM, retry["id"])["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "refused": 0}
    assert set(deals(rt)) == {"D-1", "D-2"}


def test_an_upsert_updates_changed_rows_creates_new_ones_and_leaves_the_rest_alone(rt: Platform) -> None:
    first = _draft(rt, [["D-1", "One", "Acme", "New", "10", "", "", "", ""],
                        ["D-2", "Two", "Globex", "New", "20", "", "", "", ""]])
    run(rt, SYSTEM, first)
    before = deals(rt)
    upsert = _draft(rt, [[" D-1 ", "One", "Acme", "New", "10.00", "", "", "", ""],
                         ["D-2", "Two", "Globex", "Closed won", "", "", "", "", ""],
                         ["D-3", "Three", "", "", "", "", "", "", ""]],
                    mode="upsert", key=["external_id"])
    done = run(rt, SYSTEM, upsert)
    assert done["counts"] == {"created": 1, "updated": 1, "unchanged": 1, "refused": 0}
    after = deals(rt)
    assert after["D-1"]["version"] == before["D-1"]["version"]  # unchanged: not written at all
    assert len(rt.records.history(SYSTEM, "deal", after["D-1"]["id"])) == 1
    assert after["D-2"]["stage"] == "won" and after["D-2"]["amount"] == "20.00"  # a blank leaves a value alone


def test_records_are_found_by_keys_with_an_index_without_one_and_of_two_fields(rt: Platform) -> None:
    run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Acme", "New", "10", "", "", "", "C-1"],
                                ["D-2", "Two", "Globex", "New", "20", "", "", "", "C-2"],
                                ["D-3", "Three", "Globex", "New", "30", "", "", "", "C-3"]]))
    # Code has no index; Account is a lookup (indexed, two deals share Globex); name + code: two fields.
    by_code = run(rt, SYSTEM, _draft(rt, [["", "One", "Acme", "Closed won", "10", "", "", "", "C-1"],
                                          ["", "Two", "Globex", "New", "20", "", "", "", "C-2"]],
                                     mapping={"External ID": None}, mode="update", key=["code"]))
    assert by_code["counts"] == {"created": 0, "updated": 1, "unchanged": 1, "refused": 0}
    by_account = run(rt, SYSTEM, _draft(rt, [["", "One", "Acme", "Closed won", "11", "", "", "", "C-1"],
                                             ["", "Two", "Globex", "New", "20", "", "", "", "C-2"]],
                                        mapping={"External ID": None}, mode="update", key=["account"]))
    assert by_account["counts"] == {"created": 0, "updated": 1, "unchanged": 0, "refused": 1}
    assert "the key matches 2 records" in rt.imports.errors(SYSTEM, by_account["id"])[0]["problems"][0]["reason"]
    by_two = run(rt, SYSTEM, _draft(rt, [["", "Two", "Globex", "New", "20", "", "", "", "C-2"],
                                         ["", "Three", "Globex", "New", "33", "", "", "", "C-3"],
                                         ["", "Three", "Globex", "New", "33", "", "", "", "C-2"]],
                                    mapping={"External ID": None}, mode="update", key=["name", "code"]))
    assert by_two["counts"] == {"created": 0, "updated": 1, "unchanged": 1, "refused": 1}
    found = deals(rt)
    assert (found["D-1"]["stage"], found["D-1"]["amount"], found["D-3"]["amount"]) == ("won", "11.00", "33.00")


def test_a_column_can_say_its_blanks_clear_the_field(rt: Platform) -> None:
    run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Acme", "New", "10", "", "", "", ""]]))
    cleared = _draft(rt, [["D-1", "One", "Acme", "New", "", "", "", "", ""]],
                     mode="update", key=["external_id"], options={"Amount": {"clear": True}})
    assert run(rt, SYSTEM, cleared)["counts"]["updated"] == 1
    assert deals(rt)["D-1"]["amount"] is None


def test_an_update_refuses_rows_whose_key_finds_no_record(rt: Platform) -> None:
    done = run(rt, SYSTEM, _draft(rt, [["D-9", "Nobody", "", "", "", "", "", "", ""]],
                                  mode="update", key=["external_id"]))
    assert done["counts"]["refused"] == 1 and deals(rt) == {}
    assert rt.imports.errors(SYSTEM, done["id"])[0]["problems"][0]["reason"] == "no Deal record has External ID 'D-9'"


def test_a_value_map_and_yes_no_words_of_the_column_apply(rt: Platform) -> None:
    done = run(rt, SYSTEM, _draft(rt, [["D-1", "One", "", "Won it", "", "", "Signed", "", ""],
                                       ["D-2", "Two", "", "Select", "", "", "Open", "", ""]],
                                  options={"Stage": {"values": {"won it": "Closed won", "Select": ""}},
                                           "Signed": {"yes": ["signed"], "no": ["open"]}}))
    assert done["counts"]["created"] == 2
    found = deals(rt)
    assert (found["D-1"]["stage"], found["D-1"]["signed"]) == ("won", True)
    assert (found["D-2"]["stage"], found["D-2"]["signed"]) == (None, False)


def test_missing_accounts_can_be_created_from_their_names(rt: Platform) -> None:
    done = run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Umbrella", "", "", "", "", "", ""],
                                       ["D-2", "Two", "umbrella", "", "", "", "", "", ""]],
                                  options={"Account": {"create_missing": True}}))
    assert done["counts"]["created"] == 2
    made = rt.records.list(SYSTEM, "account", filter='name = "Umbrella"')["data"]
    assert len(made) == 1 and {d["account"] for d in deals(rt).values()} == {made[0]["id"]}


def test_a_name_two_accounts_share_is_refused_as_ambiguous(rt: Platform) -> None:
    rt.records.create(SYSTEM, "account", {"name": "Acme"})
    done = run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Acme", "", "", "", "", "", ""]]))
    reason = rt.imports.errors(SYSTEM, done["id"])[0]["problems"][0]["reason"]
    assert reason.startswith("2 Account records are named 'Acme'")


def test_a_preview_counts_every_outcome_and_shows_red_cells_writing_nothing(rt: Platform) -> None:
    run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Acme", "New", "10", "", "", "", ""]]))
    import_id = _draft(rt, [["D-1", "One", "Acme", "New", "10", "", "", "", ""],
                            ["D-2", "Two", "Acme", "Closed won", "5", "", "", "", ""],
                            ["D-3", "Three", "Acmee", "", "", "", "", "", ""],
                            ["D-4", "Huge", "", "", "2000000", "", "", "", ""],
                            ["D-2", "Again", "", "", "", "", "", "", ""]],
                       mode="upsert", key=["external_id"])
    preview = rt.imports.preview(SYSTEM, import_id)
    assert preview["counts"] == {"create": 1, "update": 0, "unchanged": 1, "refuse": 3}
    rows = {r["row"]: r for r in preview["rows"]}
    assert rows[2]["outcome"] == "unchanged" and rows[3]["outcome"] == "create"
    account = next(c for c in rows[4]["cells"] if c["column"] == "Account")
    assert account == {"column": "Account", "value": "Acmee", "error": "no Account record is named 'Acmee'"}
    assert next(c for c in rows[5]["cells"] if c["column"] == "Amount")["error"] == "Too big a deal"
    assert "repeats the key of line 3" in rows[6]["problems"][0]["reason"]
    assert set(deals(rt)) == {"D-1"} and rt.imports.get(SYSTEM, import_id)["status"] == "draft"


def test_a_quote_imports_with_its_lines_from_continuation_rows(rt: Platform) -> None:
    content = xlsx_bytes([["Quote number", "Account", "Product", "Quantity", "Unit price"],
                          ["Q-1", "Acme", "Widget", 2, 10],
                          [None, None, "Gadget", 1, 25],
                          ["Q-2", "Globex", "Gadget", 4, 25]], title="Quotes")
    draft = rt.imports.start(SYSTEM, "quote", "quotes.xlsx", content)
    assert draft["mapping"]["Product"] == "lines.product" and draft["rows"] == 3
    done = run(rt, SYSTEM, draft["id"])
    assert done["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "refused": 0}
    quotes = {q["number"]: rt.records.get(SYSTEM, "quote", q["id"])
              for q in rt.records.list(SYSTEM, "quote")["data"]}
    assert [Decimal(line["quantity"]) for line in quotes["Q-1"]["lines"]] == [2, 1]
    assert Decimal(quotes["Q-1"]["total"]) == 45 and len(quotes["Q-2"]["lines"]) == 1


def test_a_bad_line_refuses_its_quote_and_says_which_line(rt: Platform) -> None:
    content = xlsx_bytes([["Quote number", "Product", "Quantity"], ["Q-1", "Widget", 2], [None, "Gadget", -1],
                          ["Q-2", "Widget", 1]])
    draft = rt.imports.start(SYSTEM, "quote", "quotes.xlsx", content)
    done = run(rt, SYSTEM, draft["id"])
    assert done["counts"]["created"] == 1 and done["counts"]["refused"] == 1
    problem = rt.imports.errors(SYSTEM, draft["id"])[0]["problems"][0]
    assert problem["column"] == "Quantity" and "line item 2" in problem["reason"]


def test_an_xlsx_with_typed_cells_imports_its_dates_and_numbers(rt: Platform) -> None:
    content = xlsx_bytes([["External ID", "Deal name", "Close date", "Amount", "Probability", "Code"],
                          ["D-1", "Typed", date(2026, 5, 1), 1234.5, 0.25, 7]])
    draft = rt.imports.start(SYSTEM, "deal", "typed.xlsx", content)
    assert run(rt, SYSTEM, draft["id"])["counts"]["created"] == 1
    found = deals(rt)["D-1"]
    assert (found["close_date"], found["amount"], found["probability"], found["code"]) == \
        ("2026-05-01", "1234.50", "25.00", "7")


def test_a_gb18030_csv_imports_its_chinese_names(rt: Platform) -> None:
    content = csv_bytes([["External ID", "Deal name", "Account"], ["D-1", "华东大单", "Acme"]], encoding="gb18030")
    draft = rt.imports.start(SYSTEM, "deal", "中文.csv", content)
    assert draft["file"]["encoding"] == "gb18030"
    run(rt, SYSTEM, draft["id"])
    assert deals(rt)["D-1"]["name"] == "华东大单"


def test_an_import_runs_once(rt: Platform) -> None:
    import_id = _draft(rt, [["D-1", "One", "", "", "", "", "", "", ""]])
    run(rt, SYSTEM, import_id)
    with pytest.raises(Conflict):
        rt.imports.run(SYSTEM, import_id)


def test_a_user_imports_only_into_fields_they_may_write_and_records_they_may_change(rt: Platform) -> None:
    rep = user(rt, {"deal": {"create": True, "read": "all", "edit": "own", "delete": "none",
                             "fields": {"code": "read"}},
                    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}})
    run(rt, SYSTEM, _draft(rt, [["D-1", "Someone else's", "", "", "", "", "", "", ""]]))
    draft = rt.imports.start(rep, "deal", "d.csv", csv_bytes([["External ID", "Deal name", "Code"],
                                                              ["D-1", "Mine now", "x"]]))
    assert "code" not in {f["name"] for f in draft["fields"]}
    assert draft["problems"][0]["field"] == "code"
    rt.imports.change(rep, draft["id"], {"mapping": {"Code": None}, "mode": "upsert", "key": ["external_id"]})
    done = run(rt, rep, draft["id"])
    assert done["counts"]["refused"] == 1
    assert "may not change Deal record" in rt.imports.errors(rep, draft["id"])[0]["problems"][0]["reason"]
    assert deals(rt)["D-1"]["name"] == "Someone else's"


def test_imported_records_notify_nobody_unless_the_import_asks_to(rt: Platform) -> None:
    import sqlalchemy as sa

    from tessera.data.tables import notifications

    rt.documents.create(SYSTEM, "rules", {
        "api_name": "tell", "label": "Tell", "object": "deal", "kind": "automation",
        "trigger": {"on": "after_save", "when": "created"},
        "actions": [{"action": "update_record", "set": {"code": '"seen"'}},
                    {"action": "notify", "to": [{"user": "admin@example.com"}], "title": "{{ name }} arrived"}]})

    def told() -> int:
        rt.scheduler.drain()
        with rt.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(notifications)).scalar_one())

    run(rt, SYSTEM, _draft(rt, [["D-1", "Quiet", "", "", "", "", "", "", ""]]))
    assert told() == 0 and deals(rt)["D-1"]["code"] == "seen"  # the rule ran; only its notice was muted
    run(rt, SYSTEM, _draft(rt, [["D-2", "Loud", "", "", "", "", "", "", ""]], notify=True))
    assert told() == 1


def test_lines_from_a_file_of_their_own_are_added_to_the_records_their_key_names(rt: Platform) -> None:
    quote = rt.records.create(SYSTEM, "quote", {"number": "Q-7", "lines": [{"quantity": "1", "unit_price": "5"}]})
    content = csv_bytes([["Quote", "Product", "Quantity", "Unit price"],
                         ["Q-7", "Widget", "2", "10"], ["q-7", "Gadget", "1", "25"],
                         ["Q-8", "Widget", "1", "10"], ["Q-7", "Widget", "-3", "10"]])
    draft = rt.imports.start(SYSTEM, "quote_line", "lines.csv", content)
    assert draft["mapping"]["Quote"] == "quote"
    rt.imports.change(SYSTEM, draft["id"], {"options": {"Quote": {"match": "number"}}})
    preview = rt.imports.preview(SYSTEM, draft["id"])
    assert preview["counts"]["refuse"] >= 1
    done = run(rt, SYSTEM, draft["id"])
    # Q-8 does not exist; the line of -3 is refused, and so the other new lines of Q-7 with it.
    assert done["counts"]["refused"] == 4 and done["counts"]["created"] == 0
    reasons = {e["row"]: e["problems"][0]["reason"] for e in rt.imports.errors(SYSTEM, draft["id"])}
    assert reasons[4] == "no Quote record is named 'Q-8'" and "at least 0" in reasons[5]
    assert len(rt.records.get(SYSTEM, "quote", quote["id"])["lines"]) == 1

    fixed = rt.imports.start(SYSTEM, "quote_line", "lines.csv", csv_bytes([
        ["Quote", "Product", "Quantity", "Unit price"], ["Q-7", "Widget", "2", "10"], ["q-7", "Gadget", "1", "25"]]))
    rt.imports.change(SYSTEM, fixed["id"], {"options": {"Quote": {"match": "number"}}})
    assert run(rt, SYSTEM, fixed["id"])["counts"]["created"] == 2
    lines = rt.records.get(SYSTEM, "quote", quote["id"])["lines"]
    assert [Decimal(line["quantity"]) for line in lines] == [1, 2, 1]
    assert Decimal(rt.records.get(SYSTEM, "quote", quote["id"])["total"]) == 50


def test_a_cancelled_import_goes_on_from_where_it_stopped(rt: Platform) -> None:
    import sqlalchemy as sa

    from tessera.data.tables import imports

    rows = [[f"D-{n}", f"Deal {n}", "", "", "", "", "", "", ""] for n in range(2500)]
    import_id = _draft(rt, rows)
    # As if its job wrote the first chunk and was cancelled: those records and the checkpoint.
    rt.records.create_many(SYSTEM, "deal", [{"external_id": f"D-{n}", "name": f"Deal {n}"} for n in range(1000)])
    with rt.write() as conn:
        conn.execute(sa.update(imports).where(imports.c.id == import_id).values(
            status="cancelled", done_rows=1000,
            counts={"created": 1000, "updated": 0, "unchanged": 0, "refused": 0}))
    with pytest.raises(Conflict):
        rt.imports.change(SYSTEM, import_id, {"mode": "upsert"})
    again = run(rt, SYSTEM, import_id)
    assert again["status"] == "succeeded" and again["done"] == 2500
    assert again["counts"] == {"created": 2500, "updated": 0, "unchanged": 0, "refused": 0}
    assert len(rt.records.list(SYSTEM, "deal", limit=1000, total=True)["data"]) == 1000
    assert rt.records.list(SYSTEM, "deal", limit=1, total=True)["total"] == 2500


def test_accounts_with_accents_and_chinese_names_are_found(rt: Platform) -> None:
    for name in ("Électricité Lyon", "华为技术"):
        rt.records.create(SYSTEM, "account", {"name": name})
    done = run(rt, SYSTEM, _draft(rt, [["D-1", "One", "Électricité Lyon", "", "", "", "", "", ""],
                                       ["D-2", "Two", " 华为技术 ", "", "", "", "", "", ""]]))
    assert done["counts"]["created"] == 2
    names = {a["id"]: a["name"] for a in rt.records.list(SYSTEM, "account")["data"]}
    assert {d: names[r["account"]] for d, r in deals(rt).items()} == {"D-1": "Électricité Lyon", "D-2": "华为技术"}


def test_a_preview_shows_every_problem_of_a_row_at_once(rt: Platform) -> None:
    preview = rt.imports.preview(SYSTEM, _draft(rt, [["D-1", "", "", "Nope", "ten", "", "", "", ""]]))
    reasons = {p["column"]: p["reason"] for p in preview["rows"][0]["problems"]}
    assert reasons == {"Stage": "'Nope' is not one of the Stage options (New, Closed won, Closed lost)",
                       "Amount": "'ten' is not a number", "Deal name": "Deal name is required"}


def test_cancelling_an_import_before_it_starts_leaves_it_ready_to_run_again(rt: Platform) -> None:
    import_id = _draft(rt, [["D-1", "One", "", "", "", "", "", "", ""]])
    rt.jobs.dispatch = lambda job_id: None  # type: ignore[method-assign]  # nobody picks the job up
    rt.imports.run(SYSTEM, import_id)
    assert rt.imports.cancel(SYSTEM, import_id)["status"] == "cancelled"
    del rt.jobs.dispatch
    assert run(rt, SYSTEM, import_id)["counts"]["created"] == 1


def test_a_preview_of_lines_in_a_file_of_their_own_checks_them_as_the_run_adds_them(rt: Platform) -> None:
    rt.records.create(SYSTEM, "quote", {"number": "Q-7"})
    draft = rt.imports.start(SYSTEM, "quote_line", "lines.csv", csv_bytes([
        ["Quote", "Product", "Quantity"], ["Q-7", "Widget", "2"], ["Q-7", "Widget", "-1"]]))
    rt.imports.change(SYSTEM, draft["id"], {"options": {"Quote": {"match": "number"}}})
    preview = rt.imports.preview(SYSTEM, draft["id"])
    assert preview["counts"] == {"create": 1, "update": 0, "unchanged": 0, "refuse": 1}
    assert "at least 0" in preview["rows"][1]["problems"][0]["reason"]


def test_decimal_commas_and_us_dates_are_read_as_the_column_writes_them(rt: Platform) -> None:
    content = csv_bytes([["External ID", "Deal name", "Amount", "Close date"],
                         ["D-1", "Komma", "1.234,50", "12/31/2026"], ["D-2", "Klein", "99,9", "01/02/2026"]],
                        delimiter=";")
    draft = rt.imports.start(SYSTEM, "deal", "de.csv", content)
    assert run(rt, SYSTEM, draft["id"])["counts"]["created"] == 2
    found = deals(rt)
    assert (found["D-1"]["amount"], found["D-1"]["close_date"]) == ("1234.50", "2026-12-31")
    assert (found["D-2"]["amount"], found["D-2"]["close_date"]) == ("99.90", "2026-01-02")  # MDY, from 12/31


def test_a_unique_value_already_in_the_database_refuses_the_row_on_insert(rt: Platform) -> None:
    run(rt, SYSTEM, _draft(rt, [["D-1", "First", "", "", "", "", "", "", ""]]))
    done = run(rt, SYSTEM, _draft(rt, [["D-1", "Again", "", "", "", "", "", "", ""],
                                       ["D-2", "New", "", "", "", "", "", "", ""]]))
    assert done["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "refused": 1}
    problem = rt.imports.errors(SYSTEM, done["id"])[0]["problems"][0]
    assert problem["column"] == "External ID" and "already used by record" in problem["reason"]
    assert deals(rt)["D-1"]["name"] == "First"


def test_a_finished_import_keeps_its_refused_rows_but_not_the_file(rt: Platform) -> None:
    import sqlalchemy as sa

    from tessera.data.tables import imports

    import_id = _draft(rt, [["D-1", "One", "Nobody", "", "", "", "", "", ""]])
    run(rt, SYSTEM, import_id)
    with rt.read() as conn:
        assert conn.execute(sa.select(imports.c.content).where(imports.c.id == import_id)).scalar_one() == b""
    assert len(rt.imports.errors(SYSTEM, import_id)) == 1
    assert rt.imports.retry(SYSTEM, import_id)["rows"] == 1
