"""Reading the table in an uploaded file — pure: bytes in, a header and rows out.

Spreadsheets (.xlsx, .xls, .ods) are read with python-calamine, which is fast and gives
typed cells (numbers, dates, booleans). CSV and text files are decoded from their byte-order
mark, else UTF-8, else the encoding charset-normalizer finds (GB18030, Windows-1252, Shift
JIS… — what spreadsheets saved on other people's machines are in), and their delimiter is
sniffed among `,` `;` tab and `|`. CSV cells stay text: only the mapping decides what a
column is, so leading zeros and phone numbers survive. A file that is not a table (an image,
a binary, an empty sheet) is refused with a problem that says why.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: What a spreadsheet is recognised by: its first bytes.
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (and other old Office files)
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
DELIMITERS = ",;\t|"
#: How much of a text file is looked at to choose its encoding and delimiter.
_SAMPLE = 64 * 1024
#: Among encodings that read a file equally well, the ones office files are most often in.
_LIKELY = {name: rank for rank, name in enumerate(("gb18030", "cp1252", "big5", "shift_jis", "cp949", "cp1251",
                                                    "cp1250", "latin_1"))}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class NotATable(ValueError):
    """The file holds no table to import; the message says why, in the user's words."""


@dataclass
class Table:
    """A file's table: its column headers (as written, trimmed) and its rows, each a list of
    cells as long as the header (missing cells are None), with the line of the file it is
    on (the header's line is the first data row's minus one). Rows are read once."""

    headers: list[str]
    numbered: Iterator[tuple[int, list[Any]]]
    #: What was found out on the way, for the import's page: "encoding": "gb18030", "delimiter": ";",
    #: "sheet": "Deals", "sheets": [...].
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> Iterator[list[Any]]:
        return (cells for _, cells in self.numbered)


def read_table(content: bytes, filename: str = "", *, sheet: str | None = None) -> Table:
    """The table in `content` (its name tells CSV from a spreadsheet when the bytes do not)."""
    if is_spreadsheet(content, filename):
        return sheet_table(open_sheet(content, sheet))
    return _text(content)


def is_spreadsheet(content: bytes, filename: str = "") -> bool:
    return content.startswith((_ZIP, _OLE)) or filename.lower().endswith(SPREADSHEET_SUFFIXES)


@dataclass(frozen=True)
class Sheet:
    """A workbook's sheet as the reader parsed it (its cells in the reader's compact form):
    its rows can be read again and again, each time as a new Table."""

    name: str
    names: list[str]
    cells: Any


def open_sheet(content: bytes, sheet: str | None = None) -> Sheet:
    """Parse a workbook's sheet (by name, else the first with data)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        names = list(book.sheet_names)
        if sheet is not None and sheet not in names:
            raise NotATable(f"The workbook has no sheet named {sheet!r}; its sheets are {', '.join(names)}.")
        found = book.get_sheet_by_name(sheet) if sheet is not None else _first_with_data(book, names)
    except NotATable:
        raise
    except (CalamineError, ValueError, OSError) as error:
        raise NotATable(f"The file cannot be read as a spreadsheet ({_short(error)}). Save it as .xlsx, "
                        ".xls, .ods or .csv and try again.") from None
    except Exception as error:  # the reader's own errors (a password, a broken zip) have other types
        raise NotATable(f"The file cannot be read as a spreadsheet ({_short(error)}).") from None
    return Sheet(found.name, names, found)


def sheet_table(sheet: Sheet) -> Table:
    """The table of a parsed sheet, its rows read one by one (the sheet's cells stay in the
    reader's compact form until used)."""
    found = sheet.cells
    rows = found.iter_rows() if hasattr(found, "iter_rows") else found.to_python(skip_empty_area=False)
    facts: dict[str, Any] = {"sheet": sheet.name, "sheets": list(sheet.names)}
    end = getattr(found, "end", None)
    if isinstance(end, tuple) and end:
        facts["last_line"] = int(end[0]) + 1  # the sheet's last line with a cell in it
    return _table(rows, facts)


def _first_with_data(book: Any, names: list[str]) -> Any:
    for name in names:
        candidate = book.get_sheet_by_name(name)
        if candidate.height:
            return candidate
    raise NotATable("Every sheet of the workbook is empty.")


def _text(content: bytes) -> Table:
    if b"\x00" in content[:_SAMPLE] and not content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotATable("The file is not text or a spreadsheet (it looks like a binary file).")
    encoding = encoding_of(content)
    text = content.decode(encoding, errors="replace")
    if not text.strip():
        raise NotATable("The file is empty.")
    delimiter = delimiter_of(text[:_SAMPLE])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return _table(reader, {"encoding": encoding.removesuffix("-sig"), "delimiter": delimiter})


def encoding_of(content: bytes) -> str:
    """The text encoding: a byte-order mark's, else UTF-8 when it decodes, else the best
    guess of charset-normalizer (GB18030 for Chinese files saved by Excel, cp1252…)."""
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(content[:_SAMPLE * 4]))
    if not matches:
        raise NotATable("The file's text encoding cannot be recognised; save it as UTF-8 CSV and try again.")
    best = min(matches, key=lambda m: (m.chaos, -m.coherence, _LIKELY.get(m.encoding, len(_LIKELY))))
    # GB2312 and GBK are subsets of GB18030: decode with the whole of it.
    return "gb18030" if best.encoding in ("gb2312", "gbk") else str(best.encoding)


def delimiter_of(sample: str) -> str:
    """The delimiter that splits the first lines into the same, largest number of columns."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        steady = sum(1 for w in widths if w == widths[0])
        score = (steady if widths[0] > 1 else 0, widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _table(rows: Any, facts: dict[str, Any]) -> Table:
    iterator = enumerate(rows, start=1)  # rows from the sheet's first line: line numbers as shown
    header: list[Any] | None = None
    for line, row in iterator:
        if any(_filled(c) for c in row):
            header = list(row)
            facts["header_line"] = line
            break
    if header is None:
        raise NotATable("The file has no rows.")
    while header and not _filled(header[-1]):
        header.pop()
    headers = [_header(c, n) for n, c in enumerate(header)]
    seen: dict[str, int] = {}
    for n, name in enumerate(headers):  # "Amount", "Amount" → "Amount", "Amount (2)"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            headers[n] = f"{name} ({seen[name]})"
    width = len(headers)

    def body() -> Iterator[tuple[int, list[Any]]]:
        for line, row in iterator:
            cells = [None if c.__class__ is str and not c.strip() else c for c in row[:width]]
            if len(cells) < width:
                cells += [None] * (width - len(cells))
            if cells.count(None) < width:  # a row with anything in it
                yield line, cells

    return Table(headers, body(), facts)


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _header(cell: Any, index: int) -> str:
    text = str(cell).strip() if _filled(cell) else ""
    return text or f"Column {index + 1}"


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
