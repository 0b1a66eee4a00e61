"""The files an import hands out: the refused rows (CSV or xlsx) and an object's template.

Nothing written here can run in a spreadsheet: xlsx cells are typed as text, so "=SUM(…)"
stays words; CSV cells that a spreadsheet would take for a formula are prefixed with an
apostrophe, which the importer drops again when the file comes back.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: What a spreadsheet reads as the start of a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")
_BOLD = Font(bold=True)
_REQUIRED = PatternFill("solid", fgColor="FFF2CC")


def safe_csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as written (a leading =, +, -, @ gets an apostrophe;
    plain numbers like -5 stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def table_csv(headers: list[str], rows: list[list[Any]], *, escape: bool = True) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel reads Chinese and accents right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_csv_cell(h) if escape else h for h in headers])
    for row in rows:
        writer.writerow([safe_csv_cell(c) if escape else c for c in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _text_cell(sheet: Any, row: int, column: int, value: Any) -> Any:
    cell = sheet.cell(row=row, column=column)
    if value is None:
        return cell
    cell.value = value if isinstance(value, int | float | date | datetime) and not isinstance(value, bool) \
        else str(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"  # never a formula, whatever it starts with
    return cell


def table_xlsx(headers: list[str], rows: list[list[Any]], title: str) -> bytes:
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = title[:31]
    for column, name in enumerate(headers, start=1):
        _text_cell(sheet, 1, column, name).font = _BOLD
    for number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            _text_cell(sheet, number, column, value)
    sheet.freeze_panes = "A2"
    for column, name in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = min(60, max(12, len(name) + 4))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def template(obj: ObjectDef, fields: list[FieldDef], snap: Snapshot, lookups: dict[str, str]) -> bytes:
    """A workbook to fill in: a sheet with a column per field (labels as headers, required
    ones shaded), one example row and a drop-down for every choice; a "Fields" sheet saying
    what each column takes; a hidden "Lists" sheet with the choices."""
    book = Workbook()
    sheet = book.active
    sheet.title = obj.plural_label[:31]
    lists = book.create_sheet("Lists")
    lists.sheet_state = "hidden"
    guide = book.create_sheet("Fields")
    for column, title in enumerate(("Column", "Field", "Type", "Required", "Unique", "What to write"), start=1):
        _text_cell(guide, 1, column, title).font = _BOLD
    list_column = 0
    for column, fdef in enumerate(fields, start=1):
        header = _text_cell(sheet, 1, column, fdef.label)
        header.font = _BOLD
        if fdef.required:
            header.fill = _REQUIRED
        if fdef.help_text:
            header.comment = Comment(fdef.help_text[:500], "Tessera")
        letter = get_column_letter(column)
        sheet.column_dimensions[letter].width = min(40, max(14, len(fdef.label) + 4))
        _text_cell(sheet, 2, column, _example(fdef, lookups))
        choices = [str(o.get("label", o.get("value"))) for o in fdef.props.get("options", [])
                   if not o.get("deprecated")]
        if fdef.type == "boolean":
            choices = ["Yes", "No"]
        if choices and fdef.type != "multi_select":
            list_column += 1
            list_letter = get_column_letter(list_column)
            for index, choice in enumerate(choices, start=1):
                _text_cell(lists, index, list_column, choice)
            validation = DataValidation(
                type="list", allow_blank=not fdef.required,
                formula1=f"{quote_sheetname('Lists')}!${list_letter}$1:${list_letter}${len(choices)}",
                showErrorMessage=True, errorTitle=fdef.label, error=f"Choose one of the {fdef.label} options.")
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}100000")
        row = column + 1
        for index, value in enumerate((fdef.label, fdef.api_name, fdef.ftype.label, "yes" if fdef.required else "",
                                       "yes" if fdef.unique else "", _what(fdef, snap, choices)), start=1):
            _text_cell(guide, row, index, value)
    for letter, width in zip("ABCDEF", (28, 24, 14, 10, 10, 70), strict=True):
        guide.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _what(fdef: FieldDef, snap: Snapshot, choices: list[str]) -> str:
    kind = fdef.type
    if kind == "lookup":
        target = snap.objects.get(str(fdef.props.get("target")))
        name = target.name_field if target else None
        what = target.label if target else str(fdef.props.get("target"))
        return f"the {name.label if name else 'name'} of a {what} record"
    if kind == "user":
        return "a user's e-mail address or name"
    if choices and kind == "multi_select":
        return "one or more of (separated by ;): " + "; ".join(choices)
    if choices:
        return "one of: " + ", ".join(choices)
    return {
        "date": "a date, like 2026-03-31 (31/03/2026 and 03/31/2026 are understood too)",
        "datetime": "a date and time, like 2026-03-31 14:30",
        "integer": "a whole number", "decimal": "a number, like 1234.56",
        "currency": "an amount, like 1200.00 (currency signs are allowed)",
        "percent": "a percentage, like 12.5 or 12.5%", "email": "an e-mail address", "phone": "a phone number",
        "url": "a web address", "rating": "a whole number",
    }.get(kind, "any text")


def _example(fdef: FieldDef, lookups: dict[str, str]) -> Any:
    options = [o for o in fdef.props.get("options", []) if not o.get("deprecated")]
    if options:
        return str(options[0].get("label", options[0].get("value")))
    return {
        "text": "Example", "long_text": "A longer text", "email": "name@example.com", "phone": "+1 555 0100",
        "url": "https://example.com", "integer": 1, "rating": 3, "decimal": 1234.5, "currency": 1000,
        "percent": 10, "date": date.today().isoformat(), "datetime": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "boolean": "Yes", "lookup": lookups.get(fdef.api_name) or None,
    }.get(fdef.type)
