"""Reports in the running platform: a report document checked against the current
metadata, run as the caller (their row scope is part of the one SQL statement, fields they
may not see are unknown to them), drilled into, and exported as CSV or XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.formula import Schema
from tessera.meta.documents import base_schema, schema_problems
from tessera.meta.model import FieldDef, ObjectDef
from tessera.reports import LEVEL, Plan, ReportError, compile_report, drill_filter, plan
from tessera.runtime.formulas import SnapshotSchema

MAX_ROWS = 10_000


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("reports"))


def report_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """What is wrong with a report document (valid against its JSON Schema) given the
    metadata: the object, fields, paths and formulas it names."""
    obj = schema.object(str(doc.get("object")))
    if obj is None:
        return [FieldProblem("/object", f"there is no object named {doc.get('object')!r}", "unknown_object")]
    try:
        plan(doc, obj, schema)
    except ReportError as error:
        return [FieldProblem(p.path, p.message, p.code) for p in error.problems]
    return []


def _invalid(problems: list[FieldProblem]) -> InvalidInput:
    return InvalidInput("The report is not valid.", problems)


class ReportService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def _doc(self, report: str | Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(report, str):
            return self.runtime.documents.get("reports", report)
        problems = schema_problems(_validator(), report, "")
        if problems:
            raise _invalid(problems)
        return report

    def _plan(self, conn: Any, snap: Any, actor: Actor, doc: Mapping[str, Any], filter: str | None = None,
              limit: int | None = None) -> Plan:
        obj = snap.objects.get(str(doc["object"]))
        if obj is None:
            raise _invalid([FieldProblem("/object", f"there is no object named {doc['object']!r}",
                                         "unknown_object")])
        access = self.runtime.access.object(actor, snap, obj)
        access.refuse("read")

        def visible(o: ObjectDef, f: FieldDef) -> bool:
            if o.api_name not in snap.objects:
                return True
            return f.api_name not in self.runtime.access.object(actor, snap, o).hidden

        try:
            return plan(doc, obj, SnapshotSchema(snap), visible, filter, limit)
        except ReportError as error:
            raise _invalid([FieldProblem(p.path, p.message, p.code) for p in error.problems]) from None

    def run(self, actor: Actor, report: str | Mapping[str, Any], *, filter: str | None = None,
            limit: int | None = None) -> dict[str, Any]:
        """Run a saved report (by api_name) or a report document: columns, the detail rows,
        subtotals (each naming the groupings it is grouped by) and the grand totals."""
        doc = self._doc(report)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ROWS):
            raise InvalidInput(f"limit must be between 1 and {MAX_ROWS}.",
                               [FieldProblem("limit", f"must be between 1 and {MAX_ROWS}")])
        with self.runtime.read() as conn:
            snap = self.runtime.snapshot(conn)
            p = self._plan(conn, snap, actor, doc, filter, limit)
            dialect = conn.dialect.name
            formulas = self.runtime.formulas
            ctx = formulas.context(conn, snap, actor)
            table = snap.table(p.object)
            access = self.runtime.access.object(actor, snap, p.object)
            allowed = access.where("read", table, self.runtime.access.condition(snap, p.object, dialect, ctx))
            query = compile_report(p, dialect, formulas.table_for(snap), ctx, formulas.column_for(snap, dialect, ctx),
                                   where=[allowed] if allowed is not None else [])
            result = conn.execute(query.statement.limit(MAX_ROWS * 2)).mappings().all()
        return _shape(p, result, query.all_levels)

    def drill(self, actor: Actor, report: str | Mapping[str, Any], cell: Any) -> dict[str, Any]:
        """The record-list filter selecting the records behind a cell ({grouping: value})."""
        if not isinstance(cell, dict):
            raise InvalidInput("A cell is an object of grouping names and values.",
                               [FieldProblem("/cell", "must be an object")])
        doc = self._doc(report)
        with self.runtime.read() as conn:
            snap = self.runtime.snapshot(conn)
            p = self._plan(conn, snap, actor, doc)
        try:
            return {"object": p.object.api_name, "filter": drill_filter(p, cell)}
        except ReportError as error:
            raise _invalid([FieldProblem(e.path, e.message, e.code) for e in error.problems]) from None

    def export(self, actor: Actor, report: str | Mapping[str, Any], fmt: str) -> bytes:
        """The report as CSV or XLSX: a header, the detail rows, then subtotals and totals."""
        data = self.run(actor, report)
        header = [c["label"] for c in data["columns"]]
        names = [c["name"] for c in data["columns"]]
        lines = [[row.get(n) for n in names] for row in data["rows"]]
        lines += [[row.get(n) for n in names] for row in data["subtotals"]]
        if data["totals"] is not None:
            lines.append([data["totals"].get(n, "Total" if i == 0 else None) for i, n in enumerate(names)])
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([["" if v is None else v for v in line] for line in lines])
            return out.getvalue().encode("utf-8")
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "Report"
        sheet.append(header)
        for line in lines:
            sheet.append([_cell(v) for v in line])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


def _shape(p: Plan, result: list[Mapping[str, Any]], all_levels: int) -> dict[str, Any]:
    groupings = p.groupings
    columns = [{"name": g.name, "label": g.label, "kind": "grouping", "type": g.type} for g in groupings]
    columns += [{"name": m.name, "label": m.label, "kind": "measure", "type": m.type} for m in p.measures]
    rows, subtotals, totals = [], [], None
    for record in result:
        level = record[LEVEL]
        values = {c["name"]: _json(record[c["name"]]) for c in columns}
        if level == 0 and groupings:
            rows.append(values)
        elif level == all_levels:
            totals = {m.name: values[m.name] for m in p.measures}
            if not groupings:
                rows.append(values)
        else:
            by = [g.name for i, g in enumerate(groupings) if not level & (1 << (len(groupings) - 1 - i))]
            subtotals.append({"group_by": by, **{k: v for k, v in values.items()
                                                 if k in by or k in {m.name for m in p.measures}}})
    return {"object": p.object.api_name, "columns": columns, "rows": rows, "subtotals": subtotals,
            "totals": totals}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value else None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Decimal(value) if value.lstrip("-").replace(".", "", 1).isdigit() else value
        except ArithmeticError:
            return value
    return value
