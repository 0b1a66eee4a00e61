"""Reading the table in an uploaded file: spreadsheets with typed cells, CSV in any common
encoding and delimiter with its text kept as written, and files that are no table refused."""

from __future__ import annotations

import codecs
import io
from datetime import date, datetime

import openpyxl
import pytest

from tessera.imports.files import NotATable, read_table

CHINESE = "客户名称,电话,金额\n北京科技有限公司,010-12345678,1200.50\n上海贸易公司,021-87654321,980\n"


def rows(table: object) -> list[list[object]]:
    return list(table.rows)  # type: ignore[attr-defined]


def xlsx(*sheets: tuple[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, data in sheets:
        sheet = book.create_sheet(title)
        for row in data:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_spreadsheet_gives_its_header_and_typed_cells_from_the_first_sheet_with_data() -> None:
    content = xlsx(("Empty", []), ("Deals", [["Name", "Amount", "Close date", "Won"],
                                             ["Acme", 1200.5, datetime(2026, 3, 1), True],
                                             [None, None, None, None],
                                             ["Globex", 80, date(2026, 4, 2), False]]))
    table = read_table(content, "deals.xlsx")
    assert table.headers == ["Name", "Amount", "Close date", "Won"]
    assert table.facts["sheet"] == "Deals" and table.facts["sheets"] == ["Empty", "Deals"]
    found = rows(table)
    assert [r[0] for r in found] == ["Acme", "Globex"]  # the blank row is skipped
    assert found[0][1] == 1200.5 and found[0][3] is True
    assert isinstance(found[0][2], date | datetime)


def test_a_named_sheet_is_read_and_a_missing_one_is_refused_naming_the_sheets_there() -> None:
    content = xlsx(("A", [["x"], [1]]), ("B", [["y"], [2]]))
    assert read_table(content, "book.xlsx", sheet="B").headers == ["y"]
    with pytest.raises(NotATable, match="its sheets are A, B"):
        read_table(content, "book.xlsx", sheet="C")


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_the_delimiter_of_a_csv_is_sniffed(delimiter: str, name: str) -> None:
    text = delimiter.join(["Name", "City", "Amount"]) + "\n" + delimiter.join(["Acme", "Paris", "1,5"]) + "\n"
    if delimiter == ",":
        text = 'Name,City,Amount\nAcme,Paris,"1,5"\n'
    table = read_table(text.encode(), f"{name}.csv")
    assert (table.headers, rows(table), table.facts["delimiter"]) == (["Name", "City", "Amount"],
                                                                       [["Acme", "Paris", "1,5"]], delimiter)


def test_csv_text_is_kept_as_written_leading_zeros_and_phone_numbers_included() -> None:
    table = read_table(b"Code,Phone\n00123,+33 1 23 45 67 89\n", "codes.csv")
    assert rows(table) == [["00123", "+33 1 23 45 67 89"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_chinese_csv_reads_in_utf8_with_or_without_bom_gb18030_and_utf16(encoding: str) -> None:
    table = read_table(CHINESE.encode(encoding), "客户.csv")
    assert table.headers == ["客户名称", "电话", "金额"]
    assert rows(table)[0] == ["北京科技有限公司", "010-12345678", "1200.50"]


def test_a_legacy_western_encoding_is_recognised() -> None:
    text = "Nom;Ville;Société\nDupont;Orléans;Café Crème\nMüller;Köln;Bäckerei Groß\n" * 20
    table = read_table(text.encode("cp1252"), "clients.csv")
    assert table.headers == ["Nom", "Ville", "Société"]
    assert rows(table)[0] == ["Dupont", "Orléans", "Café Crème"]


def test_short_rows_are_padded_long_ones_cut_and_headers_made_unique_and_named() -> None:
    table = read_table(b"Name,Amount,Amount,\nAcme,1\nGlobex,2,3,4,5\n", "x.csv")
    assert table.headers == ["Name", "Amount", "Amount (2)"]
    assert rows(table) == [["Acme", "1", None], ["Globex", "2", "3"]]
    assert read_table(b"Name,,City\nA,b,c\n", "x.csv").headers == ["Name", "Column 2", "City"]


@pytest.mark.parametrize(("content", "filename", "reason"), [
    (b"", "empty.csv", "empty"),
    (b"\n\n  \n", "blank.csv", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.png", "binary"),
    (b"PK\x03\x04 not really a workbook", "broken.xlsx", "spreadsheet"),
    (codecs.BOM_UTF8, "bom-only.csv", "empty"),
])
def test_a_file_that_is_not_a_table_is_refused_with_a_reason(content: bytes, filename: str, reason: str) -> None:
    with pytest.raises(NotATable, match=reason):
        read_table(content, filename)


def test_an_empty_workbook_is_refused() -> None:
    with pytest.raises(NotATable, match="empty"):
        read_table(xlsx(("Sheet", [])), "empty.xlsx")
