"""Dashboards in the running platform: the `dashboards` document kind (its JSON Schema and a
check against the metadata) and the data of every widget, loaded as the person looking.

A dashboard is a grid of widgets; each widget draws one report (a saved one by name, or an
inline report document) as a KPI, a chart, a table or a pivot. Dashboard filters (a date
range, an owner, a team, any field) become one formula ANDed into each widget's report
filter, on the field the filter names for that widget's object. Every report runs as the
caller through the report service, so their row scope and hidden fields apply: the same
dashboard shows a salesperson their own numbers and their manager the team's.

Each data point carries a drill link: the record list (`/app/{object}?formula=…`) filtered
to exactly the records behind it — the report's filter, the point's groupings (the report
engine's drill-down) and the dashboard filters.

What needs no database — the checks of a dashboard document, periods, filter formulas and
the shapes of the charts — is the report engine's (`tessera.reports`); this module gives
it the saved reports, the teams, the names of users and records, and runs the reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import team_members, teams, users
from tessera.errors import FieldProblem, InvalidInput, NotFound, TesseraError
from tessera.formula import Schema
from tessera.meta import dependencies as deps
from tessera.meta.documents import base_schema
from tessera.meta.durations import in_words
from tessera.meta.model import ObjectDef
from tessera.reports import (
    CHART_LABELS,
    CHARTS,
    PRESETS,
    ActiveFilter,
    Period,
    activate_filters,
    chart_data,
    check_dashboard,
    compared_period,
    drill_link,
    field_choices,
    formula_type,
    grouping_labels,
    inline_report,
    names_in_dashboard,
    relative_change,
    widget_filter,
)
from tessera.runtime.records.choices import ordered_choices

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.metadata.objects import MetadataService
    from tessera.runtime.records.service import RecordService
    from tessera.runtime.reports.service import ReportService

#: Rows the report builder's preview shows (the saved report has them all).
PREVIEW_ROWS = 200

# -- the document kind ------------------------------------------------------------------


def _saved_reports(schema: Schema) -> Mapping[str, Mapping[str, Any]] | None:
    return schema.documents("reports") if hasattr(schema, "documents") else None


def dashboard_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """What is wrong with a dashboard (valid against its JSON Schema) given the metadata:
    reports that do not exist or do not check, filters on fields a widget's object lacks or
    of the wrong type, measures a report does not have, widgets off the grid."""
    from tessera.runtime.reports.service import report_problems
    from tessera.runtime.reports.subscriptions import subscription_problems

    problems: list[FieldProblem] = subscription_problems(doc)
    return problems + check_dashboard(doc, schema, reports=_saved_reports(schema), check_report=report_problems)


def dashboard_names(doc: Mapping[str, Any], schema: Schema) -> Iterable[deps.Reference]:
    """Objects of inline reports and the fields filters narrow, for the dependency graph."""
    from tessera.runtime.metadata.documents import FIELD_VIA, OBJECT_VIA

    return [deps.Reference(OBJECT_VIA if name.field is None else FIELD_VIA, name.path.lstrip("/"), name.object,
                           name.field)
            for name in names_in_dashboard(doc, schema, _saved_reports(schema))]


def dashboard_kind() -> Any:
    """The `dashboards` kind for the document service (registered by the package's install)."""
    from tessera.runtime.metadata.documents import DocumentKind

    return DocumentKind("dashboards", "Dashboard", "dsh", lambda: base_schema("dashboards"),
                        check=dashboard_problems, names=dashboard_names)


# -- loading ----------------------------------------------------------------------------

def _schema(snap: Any) -> Schema:
    from tessera.runtime.records.formulas import SnapshotSchema

    return SnapshotSchema(snap)


def _team_members(conn: Any, name: str) -> tuple[int, ...] | None:
    """The user ids of a team's members (None: there is no such team)."""
    team = conn.execute(sa.select(teams.c.id).where(teams.c.api_name == name)).scalar()
    if team is None:
        return None
    ids = conn.execute(sa.select(team_members.c.user_id).where(team_members.c.team_id == team)
                       .order_by(team_members.c.user_id)).scalars().all()
    return tuple(int(i) for i in ids)


class DashboardService:
    """The data of a dashboard's widgets as one user sees them."""

    def __init__(self, kernel: Kernel, documents: DocumentService, metadata: MetadataService, records: RecordService,
                 reports: ReportService, today: Callable[[], date] | None = None) -> None:
        self.kernel = kernel
        self.documents = documents
        self.metadata = metadata
        self.records = records
        self.reports = reports
        self.today = today or date.today

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        """Every dashboard by name and label (what each shows depends on who opens it)."""
        return [{"api_name": d["api_name"], "label": d["label"], "description": d.get("description", "")}
                for d in self.documents.list("dashboards")]

    def load(self, actor: Actor, name: str, filter_values: Mapping[str, Any] | None = None,
             only: str | None = None) -> dict[str, Any]:
        """The dashboard with each widget's data shaped for its chart (or the widget's
        problem: a report the user may not run does not stop the others). `filter_values`
        maps filter names to values as typed in an address (missing: the default);
        `only` loads one widget."""
        doc = self.documents.get("dashboards", name)
        widgets = list(doc.get("widgets") or [])
        if only is not None:
            widgets = [w for w in widgets if w["id"] == only]
            if not widgets:
                raise NotFound(f"The dashboard {name!r} has no widget {only!r}.")
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            active = self._filters(conn, actor, doc, filter_values or {})
            out = [self._widget(actor, snap, doc, w, active) for w in widgets]
            described = self._describe_filters(conn, snap, doc, active)
        return {"api_name": doc["api_name"], "label": doc["label"], "description": doc.get("description", ""),
                "version": doc.get("version"), "filters": described, "widgets": out}

    def widget(self, actor: Actor, name: str, widget_id: str,
               filter_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.load(actor, name, filter_values, only=widget_id)["widgets"][0]

    # -- what the builders start from ----------------------------------------------------
    def design(self, name: str | None, add: str | None = None) -> dict[str, Any]:
        """The dashboard builder's start: the stored dashboard (a blank one for a new
        dashboard), the reports to choose from (with their objects' labels) and the chart
        types. `add` names a report to put on it as a new widget (the report builder's
        *Add to a dashboard*): a funnel report as a funnel, any other as a bar chart."""
        doc = self.documents.get("dashboards", name) if name else {
            "api_name": "", "label": "", "filters": [], "widgets": []}
        with self.kernel.read() as conn:
            objects = self.kernel.snapshot(conn).objects
        saved = self.documents.list("reports")
        reports = [{"api_name": r["api_name"], "label": r["label"], "object": r.get("object"),
                    "object_label": objects[r["object"]].label if r.get("object") in objects else r.get("object"),
                    "type": r.get("type") or "summary",
                    "measures": [m["name"] for m in r.get("measures") or []] or ["records"]}
                   for r in saved]
        adding = None
        if add:
            found = next((r for r in reports if r["api_name"] == add), None)
            if found is None:
                raise NotFound(f"There is no report named {add!r}.")
            adding = {"report": add, "title": found["label"], "type": "funnel" if found["type"] == "funnel" else "bar"}
        charts = [{"value": c, "label": CHART_LABELS[c]} for c in CHARTS]
        return {"dashboard": doc, "reports": reports, "charts": charts, "presets": PRESETS, "add": adding}

    def report_design(self, name: str | None, object_name: str | None) -> dict[str, Any]:
        """The report builder's start: the stored report (or a blank one on `object_name`),
        every object's fields to drag (system fields included; a select's options in their
        order, and a lookup's records by name when it points at a small object, for a
        funnel's stages; whether a field is a number, for a funnel's sum) and the dashboards
        it may be added to."""
        report = self.documents.get("reports", name) if name else {
            "api_name": "", "label": "", "object": object_name or "", "group_by": [], "measures": []}
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            # A lookup to a small object (a sales stage) offers its records as stages, by name.
            targets = {str(f.props.get("target")) for o in snap.objects.values() for f in o.fields
                       if f.type == "lookup"} & set(snap.objects)
            stages = {name: found for name in sorted(targets)
                      if (found := ordered_choices(conn, snap.objects[name], snap.table(snap.objects[name])))
                      is not None}
        objects = []
        for obj in self.metadata.list_objects():
            known = snap.objects.get(obj["api_name"])
            fields = []
            for f in obj["fields"]:
                if f["type"] in ("attachment", "rich_text", "json"):
                    continue
                fdef = known.field(f["api_name"]) if known is not None else None
                item = {"api_name": f["api_name"], "label": f["label"], "type": f["type"],
                        "number": fdef is not None and formula_type(fdef) == "number"}
                if f["type"] == "select":
                    item["options"] = [{"value": o["value"], "label": o.get("label") or o["value"]}
                                       for o in f.get("options") or []]
                elif f["type"] == "lookup" and f.get("target") in stages:
                    names = dict.fromkeys(n for _i, n in stages[f["target"]])
                    item["options"] = [{"value": n, "label": n} for n in names]
                fields.append(item)
            fields += [{"api_name": "owner", "label": "Owner", "type": "user", "number": False},
                       {"api_name": "created_at", "label": "Created at", "type": "datetime", "number": False}]
            objects.append({"api_name": obj["api_name"], "label": obj["label"], "fields": fields})
        if not report.get("object") and objects:
            report["object"] = objects[0]["api_name"]
        dashboards = [{"api_name": d["api_name"], "label": d["label"]} for d in self.documents.list("dashboards")]
        return {"report": report, "objects": objects, "dashboards": dashboards}

    def preview(self, actor: Actor, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The report builder's preview of an unsaved report, run as the builder: the table
        with the groupings' labels (options, names of people and records) and a drill link
        per row; for a funnel, its steps with their share of the widest one."""
        if not isinstance(doc, Mapping):
            raise InvalidInput("Send the report being built.", [FieldProblem("/", "must be an object")])
        report = {**doc, "api_name": "preview", "label": str(doc.get("label") or "Preview")}
        result = self.reports.run(actor, report)
        shown = result["rows"][:PREVIEW_ROWS]
        more = len(result["rows"]) - len(shown)
        result = {**result, "rows": shown}
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
        obj = snap.object(str(report["object"]))
        labels = grouping_labels(_schema(snap), obj, report, result,
                                 lambda fdef, values: self.reports.names(actor, snap, fdef, values))
        table = chart_data({"id": "preview", "type": "table"}, result, labels,
                           lambda cell: self.drill(actor, report, cell, None))
        durations = [c["name"] for c in table["columns"] if c["type"] == "duration"]
        for row in table["rows"]:  # lengths of time in words ("2 hours 30 minutes"), not seconds
            row["durations"] = {n: in_words(int(row["values"][n])) for n in durations
                                if row["values"].get(n) is not None}
        out: dict[str, Any] = {"type": result.get("type") or "summary", "table": table, "steps": [], "more": more}
        if result.get("type") == "funnel":
            basis = "value" if any(c["name"] == "value" for c in result["columns"]) else "reached"
            widest = max((Decimal(str(r[basis] or 0)) for r in result["rows"]), default=Decimal(0))
            out["measure"] = next(c["label"] for c in result["columns"] if c["name"] == basis)
            out["steps"] = [{**r, "basis": r[basis], "drill": row["drill"],
                             "share": float(Decimal(str(r[basis] or 0)) / widest) if widest else 0.0}
                            for r, row in zip(result["rows"], table["rows"], strict=True)]
        return out

    # -- filters -----------------------------------------------------------------------
    def _filters(self, conn: Any, actor: Actor, doc: Mapping[str, Any],
                 given: Mapping[str, Any]) -> list[ActiveFilter]:
        return activate_filters(doc, given, self.today(), actor.user_id, lambda team: _team_members(conn, team))

    def _describe_filters(self, conn: Any, snap: Any, doc: Mapping[str, Any],
                          active: list[ActiveFilter]) -> list[dict[str, Any]]:
        """The filters bar: each filter with its current value and the choices to offer."""
        values = {a.name: a.value for a in active}
        out = []
        for spec in doc.get("filters") or []:
            kind = spec["type"]
            item = {"name": spec["name"], "label": spec.get("label") or spec["name"].replace("_", " ").capitalize(),
                    "type": kind, "value": values.get(spec["name"], ""), "choices": []}
            if kind == "date_range":
                item["choices"] = [{"value": "all", "label": "All time"}] + [
                    {"value": k, "label": v} for k, v in PRESETS.items()]
            elif kind == "owner":
                rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.is_active.is_(True))
                                    .order_by(users.c.name)).all()
                item["choices"] = [{"value": "me", "label": "Me"}] + [{"value": r.id, "label": r.name} for r in rows]
            elif kind == "team":
                rows = conn.execute(sa.select(teams.c.api_name, teams.c.label).order_by(teams.c.label)).all()
                item["choices"] = [{"value": r.api_name, "label": r.label} for r in rows]
            else:
                item["choices"] = field_choices(_schema(snap), spec, snap.objects)
            out.append(item)
        return out

    def filter_formula(self, snap: Any, obj: ObjectDef, widget: Mapping[str, Any], active: list[ActiveFilter],
                       at: Period | None = None) -> str | None:
        """The dashboard filters of one widget as one formula (None: nothing to narrow);
        `at` replaces the date range (the previous period of a KPI)."""
        return widget_filter(_schema(snap), obj, widget, active, at)

    # -- widgets -----------------------------------------------------------------------
    def _report(self, doc: Mapping[str, Any], widget: Mapping[str, Any]) -> Mapping[str, Any]:
        inline = inline_report(doc, widget)
        return inline if inline is not None else self.documents.get("reports", str(widget["report"]))

    def _widget(self, actor: Actor, snap: Any, doc: Mapping[str, Any], widget: Mapping[str, Any],
                active: list[ActiveFilter]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": widget["id"], "title": widget.get("title") or "", "type": widget["type"],
                               "x": widget.get("x", 0), "y": widget.get("y", 0), "w": widget.get("w", 4),
                               "h": widget.get("h", 3), "report": widget.get("report"), "object": None,
                               "data": None, "error": None, "drill": None, "empty": False}
        try:
            report = self._report(doc, widget)
            obj = snap.object(str(report["object"]))
            out["object"] = obj.api_name
            out["title"] = out["title"] or report.get("label") or widget["id"]
            narrowed = self.filter_formula(snap, obj, widget, active)
            options = widget.get("options") or {}
            result = self.reports.run(actor, report, filter=narrowed, limit=options.get("limit"))
            labels = grouping_labels(_schema(snap), obj, report, result,
                                     lambda fdef, values: self.reports.names(actor, snap, fdef, values))
            out["data"] = chart_data(widget, result, labels, lambda cell: self.drill(actor, report, cell, narrowed))
            # Every widget links to all the records behind it, and says when it has nothing to draw.
            out["drill"] = self._all_records(actor, report, narrowed)
            out["empty"] = _empty(result)
            if widget["type"] == "kpi" and options.get("compare") == "previous_period":
                out["data"].update(self._compare(actor, snap, obj, report, widget, active, out["data"]))
        except TesseraError as error:
            reason = "; ".join(p.message for p in error.errors) if error.errors else error.detail
            out["error"] = reason if reason == error.detail else f"{error.detail} {reason}"
            out["error_status"] = error.status
        return out

    def _compare(self, actor: Actor, snap: Any, obj: ObjectDef, report: Mapping[str, Any],
                 widget: Mapping[str, Any], active: list[ActiveFilter], data: dict[str, Any]) -> dict[str, Any]:
        """A KPI against the previous period of the dashboard's date range: the same report
        with the range shifted back (a calendar unit for presets, else its own length)."""
        before = compared_period(widget, active, obj.api_name)
        if before is None:
            return {"previous": None, "change": None, "previous_period": None}
        narrowed = self.filter_formula(snap, obj, widget, active, at=before)
        result = self.reports.run(actor, report, filter=narrowed)
        previous = (result.get("totals") or {}).get(data["measure"])
        return {"previous": previous, "change": relative_change(data["value"], previous),
                "previous_period": before.text()}

    def _all_records(self, actor: Actor, report: Mapping[str, Any], narrowed: str | None) -> str:
        """The record list behind a whole widget: its report's filter (a funnel's or a time in
        stage's records under the report's filter, whatever stage they are in) and the
        dashboard's filters."""
        if report.get("type") in ("funnel", "time_in_stage"):
            return drill_link(str(report["object"]), str(report.get("filter") or "TRUE"), narrowed)
        return self.drill(actor, report, {}, narrowed)

    def drill(self, actor: Actor, report: Mapping[str, Any], cell: Mapping[str, Any], narrowed: str | None) -> str:
        """The record list behind one data point: the report's drill filter and the
        dashboard's filters, as a link to the list page."""
        found = self.reports.drill(actor, report, dict(cell))
        return drill_link(found["object"], found["filter"], narrowed)


def _empty(result: Mapping[str, Any]) -> bool:
    """Whether a report's result has nothing to draw: no rows, or every step of a funnel or
    time-in-stage report reached by no record."""
    rows = result.get("rows") or []
    if result.get("type") == "funnel":
        return all(str(r.get("reached") or "0") == "0" for r in rows)
    if result.get("type") == "time_in_stage":
        return all(str(r.get("records") or "0") == "0" for r in rows)
    if not any(c["kind"] == "grouping" for c in result.get("columns") or []):
        return all(v is None for v in (result.get("totals") or {}).values())
    return not rows


__all__ = ["DashboardService", "dashboard_kind", "dashboard_problems"]
