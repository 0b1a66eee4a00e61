"""An import starts as a draft: the file's columns, what their values look like, and a
mapping to start from (by name, label, close name, or the last file with the same columns)."""

from __future__ import annotations

import pytest

from tessera.errors import Forbidden, InvalidInput
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, csv_bytes, run, user


def test_columns_are_matched_to_fields_by_name_label_and_close_names(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "deals.csv", csv_bytes([
        ["external_id", "Deal name", "Acount", "Notes"], ["D-1", "First", "Acme", "x"]]))
    columns = {c["name"]: (c["field"], c["how"]) for c in draft["columns"]}
    assert columns == {"external_id": ("external_id", "name"), "Deal name": ("name", "label"),
                       "Acount": ("account", "close"), "Notes": (None, "")}
    assert draft["rows"] == 1 and draft["status"] == "draft"
    assert draft["columns"][1]["samples"] == ["First"]


def test_a_file_with_the_same_columns_is_mapped_as_the_last_one_was(rt: Platform) -> None:
    rows = [["Ref", "Title"], ["D-1", "First"]]
    first = rt.imports.start(SYSTEM, "deal", "a.csv", csv_bytes(rows))
    rt.imports.change(SYSTEM, first["id"], {"mapping": {"Ref": "external_id", "Title": "name"}})
    assert run(rt, SYSTEM, first["id"])["counts"]["created"] == 1
    second = rt.imports.start(SYSTEM, "deal", "b.csv", csv_bytes([*rows[:1], ["D-2", "Second"]]))
    assert {c["name"]: (c["field"], c["how"]) for c in second["columns"]} == {
        "Ref": ("external_id", "remembered"), "Title": ("name", "remembered")}


def test_a_column_of_day_month_dates_asks_for_the_order_only_when_no_value_settles_it(rt: Platform) -> None:
    settled = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([
        ["Deal name", "Close date"], ["A", "03/04/2026"], ["B", "25/04/2026"]]))
    date_column = settled["columns"][1]
    assert date_column["options"]["date_order"] == "DMY" and date_column["asks"] == []
    open_question = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([
        ["Deal name", "Close date"], ["A", "03/04/2026"]]))
    assert open_question["columns"][1]["asks"] == ["date_order"]


def test_decimal_commas_are_found_from_the_column(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([
        ["Deal name", "Amount"], ["A", "1.234,50"], ["B", "99,9"]], delimiter=";"))
    assert draft["file"]["delimiter"] == ";"
    assert draft["columns"][1]["options"]["decimal"] == ","


def test_a_file_that_is_no_table_is_refused_with_a_reason(rt: Platform) -> None:
    with pytest.raises(InvalidInput) as refused:
        rt.imports.start(SYSTEM, "deal", "notes.pdf", b"%PDF-1.4\x00\x00binary")
    assert refused.value.errors[0].field == "file"
    with pytest.raises(InvalidInput, match="no rows"):
        rt.imports.start(SYSTEM, "deal", "empty.csv", b"Deal name,Amount\n")


def test_settings_that_name_no_field_are_refused_and_nothing_changes(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([["Deal name"], ["A"]]))
    with pytest.raises(InvalidInput) as refused:
        rt.imports.change(SYSTEM, draft["id"], {"mapping": {"Deal name": "nope"}, "mode": "sideways"})
    assert {p.field for p in refused.value.errors} == {"mapping.Deal name", "mode"}
    assert rt.imports.get(SYSTEM, draft["id"])["mapping"] == {"Deal name": "name"}


def test_an_upsert_without_a_key_says_what_is_missing(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([["Deal name"], ["A"]]))
    changed = rt.imports.change(SYSTEM, draft["id"], {"mode": "upsert"})
    assert [p["field"] for p in changed["problems"]] == ["key"]
    with pytest.raises(InvalidInput):
        rt.imports.run(SYSTEM, draft["id"])


def test_line_item_fields_are_offered_with_their_parent(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "quote", "q.csv", csv_bytes([["Quote number", "Quantity"], ["Q-1", "2"]]))
    offered = {f["name"]: f["label"] for f in draft["fields"]}
    assert offered["lines.quantity"] == "Lines \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} Quantity"
    assert draft["mapping"] == {"Quote number": "number", "Quantity": "lines.quantity"}


def test_someone_who_may_not_create_or_change_records_cannot_import(rt: Platform) -> None:
    reader = user(rt, {"deal": {"create": False, "read": "all", "edit": "none", "delete": "none"}})
    with pytest.raises(Forbidden):
        rt.imports.start(reader, "deal", "d.csv", csv_bytes([["Deal name"], ["A"]]))


def test_a_template_has_every_column_a_dropdown_for_choices_and_a_guide(rt: Platform) -> None:
    import io

    import openpyxl

    content, name = rt.imports.template(SYSTEM, "deal")
    assert name == "deal-import-template.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(content))
    sheet = book["Deals"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["External ID", "Deal name", "Account"] and "Close date" in headers
    assert sheet.cell(2, 3).value == "Acme"  # an example account that exists
    stage = headers.index("Stage") + 1
    assert any(f"{sheet.cell(2, stage).coordinate[0]}2" in str(v.sqref) for v in sheet.data_validations.dataValidation)
    assert book["Lists"]["A1"].value == "New"
    guide = [[c.value for c in row] for row in book["Fields"].iter_rows(min_row=2)]
    assert ["Deal name", "name", "Text", "yes", None, "any text"] in guide


def test_another_sheet_of_the_workbook_can_be_chosen_and_is_mapped_afresh(rt: Platform) -> None:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Note"])
    book.active.append(["ignore me"])
    deals_sheet = book.create_sheet("Deals")
    deals_sheet.append(["External ID", "Deal name"])
    deals_sheet.append(["D-1", "First"])
    buffer = io.BytesIO()
    book.save(buffer)
    draft = rt.imports.start(SYSTEM, "deal", "book.xlsx", buffer.getvalue())
    assert draft["sheet"] == "Notes" and draft["file"]["sheets"] == ["Notes", "Deals"]
    changed = rt.imports.change(SYSTEM, draft["id"], {"sheet": "Deals"})
    assert changed["sheet"] == "Deals" and changed["mapping"] == {"External ID": "external_id", "Deal name": "name"}
    assert changed["rows"] == 1


def test_a_date_order_nobody_answered_stops_the_preview_and_the_run(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([["Deal name", "Close date"], ["A", "03/04/2026"]]))
    assert [p["field"] for p in draft["problems"]] == ["options.Close date.date_order"]
    with pytest.raises(InvalidInput):
        rt.imports.preview(SYSTEM, draft["id"])
    answered = rt.imports.change(SYSTEM, draft["id"], {"options": {"Close date": {"date_order": "MDY"}}})
    assert answered["problems"] == []
    assert rt.imports.preview(SYSTEM, draft["id"])["counts"]["create"] == 1


def test_settings_problems_name_fields_by_their_labels(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([["Deal name", "Title"], ["A", "B"]]))
    with pytest.raises(InvalidInput) as refused:
        rt.imports.preview(SYSTEM, rt.imports.change(SYSTEM, draft["id"], {"mapping": {"Title": "name"}})["id"])
    assert refused.value.errors[0].message == "Deal name is fed by column 'Deal name' already"


@pytest.mark.parametrize("options", [{"match": ["name"]}, {"clear": "yes"}, {"create_missing": 1},
                                     {"values": {"a": 1}}, {"yes": "si"}, {"date_order": "YMD"}, {"nope": 1}])
def test_column_options_of_the_wrong_shape_are_refused(rt: Platform, options: dict[str, object]) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "d.csv", csv_bytes([["Deal name", "Account"], ["A", "Acme"]]))
    with pytest.raises(InvalidInput) as refused:
        rt.imports.change(SYSTEM, draft["id"], {"options": {"Account": options}})
    assert refused.value.errors[0].field.startswith("options.Account.")
