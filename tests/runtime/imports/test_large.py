"""A 100,000-row workbook imports every row exactly once, through the same job as any file,
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, timedelta

import openpyxl
import sqlalchemy as sa

from tessera.runtime.platform import Platform

from .conftest import SYSTEM, run

ROWS = 100_000


def _workbook() -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Deals")
    sheet.append(["External ID", "Deal name", "Account", "Stage", "Amount", "Close date"])
    start = date(2026, 1, 1)
    for n in range(ROWS):
        sheet.append([f"X-{n:06d}", f"Deal {n}", ("Acme", "Globex", "Initech")[n % 3],
                      ("New", "Closed won", "Closed lost")[n % 3], f"{n % 5000},{n % 100:02d}" if n % 2 else n % 5000,
                      start + timedelta(days=n % 365)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_workbook_of_a_hundred_thousand_rows_imports_every_row_once(rt: Platform) -> None:
    draft = rt.imports.start(SYSTEM, "deal", "big.xlsx", _workbook())
    assert draft["rows"] == ROWS
    rt.imports.change(SYSTEM, draft["id"], {"options": {"Amount": {"decimal": ","}}})
    done = run(rt, SYSTEM, draft["id"])
    assert done["status"] == "succeeded" and done["done"] == ROWS
    assert done["counts"] == {"created": ROWS, "updated": 0, "unchanged": 0, "refused": 0}
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        table = snap.table(snap.object("deal"))
        count, distinct, total = conn.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(table.c.external_id)), sa.func.sum(table.c.amount))).one()
    assert count == distinct == ROWS
    expected = sum((n % 5000) + ((n % 100) / 100 if n % 2 else 0) for n in range(ROWS))
    assert abs(float(total) - expected) < 0.01
