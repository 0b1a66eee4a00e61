"""Dashboard documents (kind `dashboards`): a grid of widgets, each drawing one report (a
saved one by name, or an inline report document under `source`) as a KPI, a chart, a table
or a pivot, and filters (a date range, an owner, a team, any field) that narrow every
widget on the field each filter names for that widget's object.

    dashboard_schema_problems(doc)                              # against its JSON Schema
    check_dashboard(doc, schema, reports=saved, check_report=report_problems)
    names_in_dashboard(doc, schema, saved)                      # objects and fields it names

Every problem is a FieldProblem at a JSON pointer into the document. Checking an inline
report against the metadata (and a saved report's existence) needs the caller: the saved
reports by name and the report check come in as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from tessera.errors import FieldProblem
from tessera.formula import USER_OBJECT, Schema
from tessera.formula.schema import find_field
from tessera.meta.documents import base_schema, schema_problems
from tessera.meta.model import FieldDef, ObjectDef
from tessera.reports.periods import period

#: Columns of the dashboard grid.
GRID_COLUMNS = 12
CHARTS = ("kpi", "bar", "stacked_bar", "line", "area", "pie", "donut", "funnel", "gauge", "table", "pivot")
#: How the chart types are named to people.
CHART_LABELS = {"kpi": "Number (KPI)", "bar": "Bar chart", "stacked_bar": "Stacked bars", "line": "Line chart",
                "area": "Area chart", "pie": "Pie chart", "donut": "Donut chart", "funnel": "Funnel",
                "gauge": "Gauge", "table": "Table", "pivot": "Pivot table"}
#: Chart types drawn as categories by series (a bar per category, a series per colour).
SERIES_CHARTS = ("bar", "stacked_bar", "line", "area")
#: Chart types drawn as one slice per category.
SLICE_CHARTS = ("pie", "donut", "funnel")
#: Field types (as the formula engine types them) each filter type works on.
FILTER_TYPES = {"date_range": ("date", "datetime"), "owner": ("user",), "team": ("user",)}

#: The saved reports by api_name (None: not known here, so names of reports are not checked).
Reports = Mapping[str, Mapping[str, Any]] | None
#: The metadata check of one report document (valid against its JSON Schema).
ReportCheck = Callable[[Mapping[str, Any], Schema], list[FieldProblem]]


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("dashboards"), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _report_validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("reports"))


def dashboard_schema_problems(doc: Any) -> list[FieldProblem]:
    """Problems of a dashboard document against the JSON Schema of its kind."""
    if not isinstance(doc, Mapping):
        return [FieldProblem("/", "a dashboard must be a JSON object")]
    return schema_problems(_validator(), doc, "")


# -- reading a dashboard ------------------------------------------------------------------

def field_path(filt: Mapping[str, Any], object_name: str) -> str | None:
    """The field a filter narrows on one object (None: the filter leaves that object alone)."""
    given = filt.get("field")
    if isinstance(given, Mapping):
        found = given.get(object_name)
        return str(found) if found else None
    if given:
        return str(given)
    return "owner" if filt.get("type") in ("owner", "team") else None


def resolve_path(schema: Schema, obj: ObjectDef, path: str) -> FieldDef | None:
    """The field at the end of a path through lookups and user fields (None: no such field)."""
    current: ObjectDef | None = obj
    parts = path.split(".")
    for i, part in enumerate(parts):
        if current is None:
            return None
        found = find_field(current, part)
        if found is None or i == len(parts) - 1:
            return found
        if found.type == "lookup":
            current = schema.object(str(found.props.get("target")))
        elif found.type == "user":
            current = USER_OBJECT
        else:
            return None
    return None


def formula_type(fdef: FieldDef) -> str:
    """The type of a field's value as the formula engine sees it (`user`, `record`, `date`…)."""
    if fdef.type == "user":
        return "user"
    if fdef.type == "lookup":
        return "record"
    if fdef.type in ("formula", "rollup"):
        return str(fdef.props.get("formula_type") or "text")
    ftype = getattr(fdef, "ftype", None)
    return str(getattr(ftype, "formula_type", None) or fdef.type)


def follows(widget: Mapping[str, Any], filt: Mapping[str, Any]) -> bool:
    """Whether a widget follows a dashboard filter (a widget that names none follows all)."""
    chosen = (widget.get("options") or {}).get("filters")
    return chosen is None or filt["name"] in chosen


def widget_reports(doc: Mapping[str, Any], reports: Reports) -> list[tuple[int, Mapping[str, Any] | None, str]]:
    """(index, the widget's report document or None when it cannot be found, the JSON
    pointer its problems go to) for every widget."""
    out: list[tuple[int, Mapping[str, Any] | None, str]] = []
    for i, widget in enumerate(doc.get("widgets") or []):
        if isinstance(widget.get("source"), Mapping):
            out.append((i, widget["source"], f"/widgets/{i}/source"))
            continue
        out.append((i, (reports or {}).get(str(widget.get("report"))), f"/widgets/{i}/report"))
    return out


def inline_report(doc: Mapping[str, Any], widget: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report document of a widget with an inline `source`, named after the dashboard
    and the widget (None: the widget draws a saved report)."""
    if not isinstance(widget.get("source"), Mapping):
        return None
    return {"api_name": f"{doc['api_name']}_{widget['id']}"[:63], "label": widget.get("title") or widget["id"],
            **widget["source"]}


# -- checks against the metadata ----------------------------------------------------------

def check_dashboard(doc: Mapping[str, Any], schema: Schema, *, reports: Reports,
                    check_report: ReportCheck) -> list[FieldProblem]:
    """What is wrong with a dashboard (valid against its JSON Schema) given the metadata:
    reports that do not exist or do not check, filters on fields a widget's object lacks or
    of the wrong type, measures a report does not have, widgets off the grid, names used
    twice. `reports` are the saved reports by name (None: their names are not checked);
    `check_report` checks an inline report that passed the reports' JSON Schema."""
    problems: list[FieldProblem] = []
    filters = list(doc.get("filters") or [])
    widgets = list(doc.get("widgets") or [])
    _duplicates(problems, [f["name"] for f in filters], "/filters/{}/name", "filter")
    _duplicates(problems, [w["id"] for w in widgets], "/widgets/{}/id", "widget")
    for j, filt in enumerate(filters):
        problems += _default_problems(filt, f"/filters/{j}/default")
        if filt["type"] == "date_range" and not filt.get("field"):
            problems.append(FieldProblem(f"/filters/{j}/field", "a date range needs the date field it narrows",
                                         "required"))
        if isinstance(filt.get("field"), Mapping):
            for name in filt["field"]:
                if schema.object(name) is None:
                    problems.append(FieldProblem(f"/filters/{j}/field/{name}", f"there is no object named {name!r}",
                                                 "unknown_object"))
    names = {f["name"] for f in filters}
    checking_store = reports is not None
    for i, report, pointer in widget_reports(doc, reports):
        widget = widgets[i]
        if widget.get("x", 0) + widget.get("w", 4) > GRID_COLUMNS:
            problems.append(FieldProblem(f"/widgets/{i}/w", f"reaches past the grid's {GRID_COLUMNS} columns"))
        for k, name in enumerate((widget.get("options") or {}).get("filters") or []):
            if name not in names:
                problems.append(FieldProblem(f"/widgets/{i}/options/filters/{k}",
                                             f"the dashboard has no filter named {name!r}", "unknown_name"))
        if report is None:
            if checking_store:
                problems.append(FieldProblem(pointer, f"there is no report named {widget.get('report')!r}",
                                             "unknown_report"))
            continue
        if "source" in widget:
            body = {"api_name": widget["id"], "label": widget.get("title") or widget["id"], **report}
            found = schema_problems(_report_validator(), body, pointer)
            if found:
                problems += found
                continue
            problems += [FieldProblem(pointer + p.field, p.message, p.code) for p in check_report(body, schema)]
        problems += _measure_problems(widget, report, f"/widgets/{i}/options")
        obj = schema.object(str(report.get("object")))
        if obj is None:
            continue
        for j, filt in enumerate(filters):
            if not follows(widget, filt):
                continue
            path = field_path(filt, obj.api_name)
            if path is None:
                continue
            at = f"/filters/{j}/field" + (f"/{obj.api_name}" if isinstance(filt.get("field"), Mapping) else "")
            fdef = resolve_path(schema, obj, path)
            if fdef is None:
                problems.append(FieldProblem(at, f"{obj.label} has no field {path!r} (widget {widget['id']!r})",
                                             "unknown_field"))
            elif filt["type"] in FILTER_TYPES and formula_type(fdef) not in FILTER_TYPES[filt["type"]]:
                wanted = " or ".join(FILTER_TYPES[filt["type"]])
                problems.append(FieldProblem(at, f"{obj.label}.{path} is a {fdef.type} field; a {filt['type']} "
                                             f"filter needs a {wanted} field", "wrong_type"))
    return problems


def _duplicates(problems: list[FieldProblem], names: list[str], pointer: str, what: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(FieldProblem(pointer.format(i), f"another {what} is named {name!r}", "duplicate"))
        seen.add(name)


def _default_problems(filt: Mapping[str, Any], pointer: str) -> list[FieldProblem]:
    if "default" not in filt:
        return []
    value = filt["default"]
    if filt["type"] == "date_range":
        try:
            period(value, date.today())
        except ValueError as error:
            return [FieldProblem(pointer, str(error))]
    if filt["type"] == "owner" and not (value == "me" or (isinstance(value, int) and not isinstance(value, bool))):
        return [FieldProblem(pointer, 'an owner filter defaults to a user id or "me"')]
    if filt["type"] in ("team", "field") and isinstance(value, Mapping):
        return [FieldProblem(pointer, "must be a single value")]
    return []


#: The measures of a report with a row per stage, by its type.
STAGE_MEASURES = {"funnel": ["reached", "value", "from_previous", "from_first"],
                  "time_in_stage": ["records", "average", "median"]}


def _measure_problems(widget: Mapping[str, Any], report: Mapping[str, Any], pointer: str) -> list[FieldProblem]:
    measures = STAGE_MEASURES.get(str(report.get("type"))) \
        or [str(m.get("name")) for m in report.get("measures") or []] or ["records"]
    if report.get("type") == "funnel" and (report.get("measure") or {}).get("function") != "sum":
        measures = [m for m in measures if m != "value"]
    options = widget.get("options") or {}
    problems = []
    if options.get("measure") and options["measure"] not in measures:
        problems.append(FieldProblem(f"{pointer}/measure", f"the report has no measure {options['measure']!r}; "
                                     f"it has {', '.join(measures)}", "unknown_name"))
    for k, name in enumerate(options.get("measures") or []):
        if name not in measures:
            problems.append(FieldProblem(f"{pointer}/measures/{k}", f"the report has no measure {name!r}",
                                         "unknown_name"))
    return problems


# -- what a dashboard names ---------------------------------------------------------------

@dataclass(frozen=True)
class NameRef:
    """A place in a dashboard (a JSON pointer) naming an object, or a field of it."""

    path: str
    object: str
    field: str | None = None


def names_in_dashboard(doc: Mapping[str, Any], schema: Schema, reports: Reports) -> list[NameRef]:
    """The objects of inline reports and the fields filters narrow (on the objects of the
    widgets' reports), for the dependency graph. System fields are left out: they cannot
    be renamed."""
    found: list[NameRef] = []
    objects: set[str] = set()
    for i, report, pointer in widget_reports(doc, reports):
        if report is None or schema.object(str(report.get("object"))) is None:
            continue
        objects.add(str(report["object"]))
        if pointer.endswith("/source"):
            found.append(NameRef(f"/widgets/{i}/source/object", str(report["object"])))
    for j, filt in enumerate(doc.get("filters") or []):
        given = filt.get("field")
        for name in sorted(objects):
            path = field_path(filt, name)
            if path is None or "." in path or find_field(schema.object(name), path) is None:  # type: ignore[arg-type]
                continue
            if (schema.object(name).field(path)) is None:  # type: ignore[union-attr]
                continue  # system fields cannot be renamed
            at = f"/filters/{j}/field" + (f"/{name}" if isinstance(given, Mapping) else "")
            found.append(NameRef(at, name, path))
    return found
