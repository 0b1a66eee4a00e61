"""`tessera import OBJECT FILE` against a database, on SQLite and PostgreSQL: the mapping
printed (suggested, or as --map says), a dry run's counts and refused rows with nothing
written, the job followed to its counts, refused rows written next to the file, exit 0 when
it ran (refused rows included), 1 for a file that is no table or a failed job, 2 on misuse."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "external_id", "label": "External ID", "type": "text", "unique": True},
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "close_date", "label": "Close date", "type": "date"}]}
LINE = {"api_name": "deal_line", "label": "Deal line", "child": True, "fields": [
    {"api_name": "quantity", "label": "Quantity", "type": "decimal"}]}


@pytest.fixture
def sales(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with accounts Acme and Globex and deals to import into; its URL."""
    runtime = _platform(db_url, tmp_path)
    try:
        for doc in (ACCOUNT, DEAL, LINE):
            runtime.metadata.create_object(SYSTEM, doc)
        for name in ("Acme", "Globex"):
            runtime.records.create(SYSTEM, "account", {"name": name})
    finally:
        runtime.dispose()
    yield db_url


def _platform(db_url: str, tmp_path: Path) -> Platform:
    return Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files"))


def _env(db_url: str) -> dict[str, str]:
    # Only this test's settings: no admin to create, no Redis (the job runs in the command itself).
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}, "TESSERA_DATABASE_URL": db_url}


def _tessera(*args: str | Path, db_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli", "import", *map(str, args)], env=_env(db_url),
                          capture_output=True, text=True, timeout=180)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _misuse(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


def _csv(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _deals(db_url: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    runtime = _platform(db_url, tmp_path)
    try:
        return {d["external_id"]: d for d in runtime.records.list(SYSTEM, "deal", limit=1000)["data"]}
    finally:
        runtime.dispose()


def test_an_import_prints_the_mapping_follows_the_job_and_writes_refused_rows_next_to_the_file(
        sales: str, tmp_path: Path) -> None:
    file = _csv(tmp_path / "deals.csv", [["Ref", "Deal name", "Account", "Amount", "Notes"],
                                         ["D-1", "First", "Acme", "$1,200.50", "call back"],
                                         ["D-2", "Second", "Nobody", "10", ""],
                                         ["D-3", "Third", "Globex", "", ""]])
    result = _tessera("deal", file, "--map", "Ref=external_id", "--map", "Amount=", db_url=sales)
    out = _ok(result)
    assert out.startswith("deals.csv: 3 rows into Deals (insert)\n")
    assert "  Ref       → External ID (external_id)  [--map]\n" in out
    assert "  Deal name → Deal name (name)  [same label]\n" in out
    assert "  Amount    → (not imported)\n" in out and "  Notes     → (not imported)\n" in out
    assert "Imported 3 of 3 rows of deals.csv into Deals: 2 created, 0 updated, 0 unchanged, 1 refused" in out
    refused = tmp_path / "deals-refused.csv"
    assert f"1 row was refused: written with their reasons to {refused}" in out
    assert "100%" in result.stderr and "succeeded" in result.stderr  # the job's last progress line
    rows = list(csv.reader(io.StringIO(refused.read_text(encoding="utf-8-sig"))))
    assert rows == [["Ref", "Deal name", "Account", "Amount", "Notes", "error"],
                    ["D-2", "Second", "Nobody", "10", "", "Account: no Account record is named 'Nobody'"]]
    found = _deals(sales, tmp_path)
    assert set(found) == {"D-1", "D-3"} and found["D-1"]["amount"] is None  # the Amount column was left out
    # A field given with --map takes it from the column suggested for it.
    renamed = _ok(_tessera("deal", file, "--map", "Notes=Deal name", "--mode", "update", "--key", "external_id",
                           "--map", "Ref=external_id", "--dry-run", db_url=sales))
    assert "  Notes     → Deal name (name)  [--map]\n" in renamed and "  Deal name → (not imported)\n" in renamed


def test_a_dry_run_prints_counts_and_refused_rows_then_an_upsert_by_a_key_updates(
        sales: str, tmp_path: Path) -> None:
    first = _csv(tmp_path / "first.csv", [["External ID", "Deal name"], ["D-1", "One"], ["D-2", "Two"]])
    assert "2 created, 0 updated, 0 unchanged, 0 refused" in _ok(_tessera("deal", first, db_url=sales))
    assert not (tmp_path / "first-refused.csv").exists()  # nothing refused: no file
    second = _csv(tmp_path / "second.csv", [["External ID", "Deal name", "Account", "Amount"],
                                            ["D-1", "One", "", ""], ["D-2", "Two again", "", ""],
                                            ["D-3", "Three", "", ""], ["D-4", "Four", "Nobody", ""],
                                            ["D-5", "", "Acme", ""], ["D-6", "Six", "", "ten"]])
    upsert = ("--mode", "upsert", "--key", "external_id")
    preview = _ok(_tessera("deal", second, *upsert, "--dry-run", db_url=sales))
    assert "(upsert, key external_id)" in preview
    assert "Dry run, nothing written: 1 to create, 1 to update, 1 unchanged, 3 refused" in preview
    assert "  line 5, column Account: no Account record is named 'Nobody'\n" in preview
    assert "  line 6, column Deal name: Deal name is required\n" in preview
    assert "  line 7, column Amount: 'ten' is not a number\n" in preview
    assert not (tmp_path / "second-refused.csv").exists()
    assert _deals(sales, tmp_path)["D-2"]["name"] == "Two" and "D-3" not in _deals(sales, tmp_path)
    out = _ok(_tessera("deal", second, *upsert, db_url=sales))
    assert "1 created, 1 updated, 1 unchanged, 3 refused" in out and "3 rows were refused" in out
    assert _deals(sales, tmp_path)["D-2"]["name"] == "Two again"
    # A key in a comma list works as a repeated one.
    assert "(update, key external_id, name)" in _ok(
        _tessera("deal", second, "--mode", "update", "--key", "external_id,name", "--dry-run", db_url=sales))


def test_dates_whose_order_no_value_settles_need_date_order(sales: str, tmp_path: Path) -> None:
    file = _csv(tmp_path / "dates.csv", [["External ID", "Deal name", "Close date"], ["D-1", "One", "03/04/2026"]])
    assert "--date-order DMY" in _misuse(_tessera("deal", file, db_url=sales))
    _ok(_tessera("deal", file, "--date-order", "DMY", db_url=sales))
    assert _deals(sales, tmp_path)["D-1"]["close_date"] == "2026-04-03"


def test_a_sheet_of_a_workbook_is_read_by_name(sales: str, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    deals = book.create_sheet("Deals")
    for row in (["External ID", "Deal name"], ["D-1", "From the sheet"]):
        deals.append(row)
    book.save(tmp_path / "book.xlsx")
    out = _ok(_tessera("deal", tmp_path / "book.xlsx", "--sheet", "Deals", db_url=sales))
    assert out.startswith("book.xlsx (sheet Deals): 1 row into Deals")
    assert _deals(sales, tmp_path)["D-1"]["name"] == "From the sheet"
    missing = _tessera("deal", tmp_path / "book.xlsx", "--sheet", "Summary", db_url=sales)
    assert missing.returncode == 1 and "no sheet named 'Summary'" in missing.stderr


def test_misuse_exits_2_and_a_file_that_is_no_table_exits_1(sales: str, tmp_path: Path) -> None:
    file = _csv(tmp_path / "deals.csv", [["External ID", "Deal name"], ["D-1", "One"]])
    assert "there is no such file" in _misuse(_tessera("deal", tmp_path / "nope.csv", db_url=sales))
    assert "There is no object named 'spaceship'" in _misuse(_tessera("spaceship", file, db_url=sales))
    assert "line items" in _misuse(_tessera("deal_line", file, db_url=sales))
    assert "the file has no column 'Ref'" in _misuse(_tessera("deal", file, "--map", "Ref=name", db_url=sales))
    assert "not a field to import into" in _misuse(_tessera("deal", file, "--map", "Deal name=nope", db_url=sales))
    assert "is not COLUMN=FIELD" in _misuse(_tessera("deal", file, "--map", "Deal name", db_url=sales))
    assert "invalid choice" in _misuse(_tessera("deal", file, "--mode", "merge", db_url=sales))
    no_key = _misuse(_tessera("deal", file, "--mode", "upsert", db_url=sales))
    assert "key: an upsert needs a key" in no_key
    twice = _tessera("deal", file, "--map", "External ID=name", "--map", "Deal name=name", db_url=sales)
    assert "mapping.Deal name: " in _misuse(twice) and "fed by column 'External ID'" in twice.stderr
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\x00\x00binary")
    not_a_table = _tessera("deal", tmp_path / "scan.pdf", db_url=sales)
    assert not_a_table.returncode == 1 and "scan.pdf: The file is not text or a spreadsheet" in not_a_table.stderr
    assert _deals(sales, tmp_path) == {}


def test_a_failed_job_exits_1_and_says_why(sales: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tessera.cli import main
    from tessera.runtime.imports.service import ImportService

    def broken(*_: Any) -> dict[str, Any]:
        raise RuntimeError("the disk is full")

    for name in [k for k in os.environ if k.startswith("TESSERA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TESSERA_DATABASE_URL", sales)
    monkeypatch.setattr(ImportService, "_work", broken)
    file = _csv(tmp_path / "deals.csv", [["External ID", "Deal name"], ["D-1", "One"]])
    assert main(["import", "deal", str(file)]) == 1
    printed = capsys.readouterr()
    assert "Import failed after importing 0 of 1 rows" in printed.out
    assert "failed: RuntimeError: the disk is full" in printed.err
