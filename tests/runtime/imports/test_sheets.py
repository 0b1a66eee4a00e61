"""A draft's workbook is parsed once per process for its upload, preview and run: the parsed
sheet kept must only ever stand for the draft's own bytes and sheet."""

from __future__ import annotations

from tessera.runtime.imports.sheets import Sheets
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, run, xlsx_bytes


def _rows(sheets: Sheets, import_id: int, content: bytes, sheet: str | None = None) -> list[list[object]]:
    return [cells for _, cells in sheets.table(import_id, content, "deals.xlsx", sheet).numbered]


def test_a_kept_sheet_is_read_again_only_for_the_same_draft_bytes_and_sheet() -> None:
    sheets = Sheets(kept=2)
    first = xlsx_bytes([["External ID"], ["A-1"]])
    other = xlsx_bytes([["External ID"], ["B-1"]])
    assert _rows(sheets, 1, first) == [["A-1"]]
    assert _rows(sheets, 1, first) == [["A-1"]]  # read again from the kept sheet, from its start
    assert _rows(sheets, 1, other) == [["B-1"]]  # same draft id (another database), other bytes
    assert _rows(sheets, 1, first, "Deals") == [["A-1"]]  # kept under the sheet's own name too
    _rows(sheets, 2, other)
    _rows(sheets, 3, other)
    assert {key[0] for key in sheets._sheets} == {2, 3}  # the least recently used draft let go
    sheets.forget(2)
    assert {key[0] for key in sheets._sheets} == {3}


def test_previews_of_two_drafts_each_read_their_own_file_and_a_run_lets_its_sheet_go(rt: Platform) -> None:
    mapping = {"External ID": "external_id", "Deal name": "name"}
    one = rt.imports.start(SYSTEM, "deal", "one.xlsx", xlsx_bytes([["External ID", "Deal name"], ["O-1", "One"]]))
    two = rt.imports.start(SYSTEM, "deal", "two.xlsx", xlsx_bytes(
        [["External ID", "Deal name"], ["T-1", "Two"], ["T-2", "Two again"]]))
    for draft in (one, two):
        rt.imports.change(SYSTEM, draft["id"], {"mapping": mapping})
    for draft, ids in ((one, ["O-1"]), (two, ["T-1", "T-2"]), (one, ["O-1"])):
        shown = rt.imports.preview(SYSTEM, draft["id"])
        assert [r["cells"][0]["value"] for r in shown["rows"]] == ids
    done = run(rt, SYSTEM, one["id"])
    assert done["counts"]["created"] == 1
    assert all(key[0] != one["id"] for key in rt.imports.sheets._sheets)
