"""Exports carry no live spreadsheet formulas, on SQLite and PostgreSQL: text that a
spreadsheet program would run (`=`, `+`, `-`, `@`, tab, carriage return first) is written
with a leading apostrophe in the list CSV, the report CSV and the report XLSX, while numbers,
negative ones included, stay numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from tessera.auth.actor import Actor
from tessera.data.spreadsheets import csv_text, xlsx_value
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import ListQuery

SYSTEM = Actor.system()
# (Text fields trim the tab and carriage return a value starts with; the cell tests below
# cover them.)
HOSTILE = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")', "+1+1", "@SUM(A1:A9)", "-2+3"]
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"}]}


@pytest.fixture
def deals(runtime: Platform) -> Platform:
    runtime.metadata.create_object(SYSTEM, DEAL)
    runtime.records.create_many(SYSTEM, "deal", [{"name": name, "amount": "-50.25"} for name in HOSTILE])
    runtime.records.create(SYSTEM, "deal", {"name": "Plain", "amount": "1200.50"})
    return runtime


def test_the_list_csv_writes_formula_like_text_inert_and_numbers_as_they_are(deals: Platform) -> None:
    text = "".join(deals.views.export_csv(SYSTEM, "deal", ListQuery(columns=["name", "amount"], sort="id")))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "Name", "Amount"]
    assert [r[1] for r in rows[1:]] == ["'" + h for h in HOSTILE] + ["Plain"]
    assert [r[2] for r in rows[1:]] == ["-50.25"] * len(HOSTILE) + ["1200.50"]


def test_the_report_csv_and_xlsx_hold_no_formula(deals: Platform) -> None:
    report = {"api_name": "by_name", "label": "By name", "object": "deal", "group_by": [{"field": "name"}],
              "measures": [{"name": "total", "label": "Total", "function": "sum", "field": "amount"}],
              "sort": [{"by": "name"}]}
    rows = list(csv.reader(io.StringIO(deals.reports.export(SYSTEM, report, "csv").decode())))
    by_name = {r[0]: r[1] for r in rows[1:-1]}
    assert by_name == {"'" + h: "-50.25" for h in HOSTILE} | {"Plain": "1200.5"}
    sheet = load_workbook(io.BytesIO(deals.reports.export(SYSTEM, report, "xlsx"))).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    names = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2, max_row=len(HOSTILE) + 2)}
    assert names == {"'" + h: -50.25 for h in HOSTILE} | {"Plain": 1200.5}


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+49 30 123", "'+49 30 123"), ("\tTab", "'\tTab"), ("\r=1", "'\r=1"),
    ("-", "'-"), ("@me", "'@me"), ("-12.5", "-12.5"),
    ("12", "12"), ("", ""), (None, ""), (-3, "-3"), ("Acme", "Acme")])
def test_a_csv_cell_is_inert_text_or_a_number(value: Any, cell: str) -> None:
    assert csv_text(value) == cell


def test_an_xlsx_cell_keeps_numbers_numbers_and_no_text_starts_a_formula() -> None:
    assert xlsx_value("-1200.50") == pytest.approx(-1200.5)
    assert xlsx_value("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert xlsx_value(7) == 7 and xlsx_value(None) is None
