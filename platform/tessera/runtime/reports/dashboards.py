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
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from tessera.auth.actor import Actor
from tessera.data.tables import team_members, teams, users
from tessera.errors import FieldProblem, InvalidInput, NotFound, TesseraError
from tessera.formula import USER_OBJECT, Schema
from tessera.formula.schema import find_field
from tessera.meta import dependencies as deps
from tessera.meta.documents import base_schema, schema_problems
from tessera.meta.model import FieldDef, ObjectDef

GRID_COLUMNS = 12
CHARTS = ("kpi", "bar", "stacked_bar", "line", "area", "pie", "donut", "funnel", "gauge", "table", "pivot")
#: Chart types drawn as categories by series (a bar per category, a series per colour).
SERIES_CHARTS = ("bar", "stacked_bar", "line", "area")
#: Chart types drawn as one slice per category.
SLICE_CHARTS = ("pie", "donut", "funnel")
PRESETS = {
    "today": "Today", "this_week": "This week", "last_week": "Last week", "this_month": "This month",
    "last_month": "Last month", "this_quarter": "This quarter", "last_quarter": "Last quarter",
    "this_year": "This year", "last_year": "Last year", "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days", "last_90_days": "Last 90 days", "last_365_days": "Last 365 days",
}
#: Field types (as the formula engine types them) each filter type works on.
_FILTER_TYPES = {"date_range": ("date", "datetime"), "owner": ("user",), "team": ("user",)}
_BLANK = "(blank)"


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("dashboards"), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _report_validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("reports"))


# -- periods ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Dates from `start` to `end`, both included (either may be open). `unit` says how to
    step to the previous period: a calendar month, quarter, year or week, else its length."""

    start: date | None
    end: date | None
    unit: str | None = None

    def previous(self) -> Period | None:
        if self.start is None or self.end is None:
            return None
        if self.unit in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.unit]
            return Period(_add_months(self.start, -months), self.start - timedelta(days=1), self.unit)
        length = (self.end - self.start).days + 1
        return Period(self.start - timedelta(days=length), self.start - timedelta(days=1), self.unit)

    def text(self) -> str:
        return f"{self.start.isoformat() if self.start else ''}..{self.end.isoformat() if self.end else ''}"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def period(value: Any, today: date) -> Period | None:
    """A date-range filter's value as dates: a preset name, `YYYY-MM-DD..YYYY-MM-DD` (either
    side may be left out) or {"from", "to"}; blank or `all` is no filter. Raises ValueError."""
    if value is None or value == "" or value == "all":
        return None
    if isinstance(value, Mapping):
        start, end = value.get("from"), value.get("to")
        return Period(date.fromisoformat(start) if start else None, date.fromisoformat(end) if end else None)
    text = str(value).strip()
    if ".." in text:
        left, _, right = text.partition("..")
        found = Period(date.fromisoformat(left) if left else None, date.fromisoformat(right) if right else None)
        if found.start and found.end and found.start > found.end:
            raise ValueError("the range ends before it starts")
        return found
    month = date(today.year, today.month, 1)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    year = date(today.year, 1, 1)
    monday = today - timedelta(days=today.weekday())
    presets: dict[str, Callable[[], Period]] = {
        "today": lambda: Period(today, today),
        "this_week": lambda: Period(monday, monday + timedelta(days=6), "week"),
        "last_week": lambda: Period(monday - timedelta(days=7), monday - timedelta(days=1), "week"),
        "this_month": lambda: Period(month, _month_end(month), "month"),
        "last_month": lambda: Period(_add_months(month, -1), month - timedelta(days=1), "month"),
        "this_quarter": lambda: Period(quarter, _add_months(quarter, 3) - timedelta(days=1), "quarter"),
        "last_quarter": lambda: Period(_add_months(quarter, -3), quarter - timedelta(days=1), "quarter"),
        "this_year": lambda: Period(year, date(today.year, 12, 31), "year"),
        "last_year": lambda: Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), "year"),
    }
    if text in presets:
        return presets[text]()
    if text.startswith("last_") and text.endswith("_days") and text[5:-5].isdigit():
        days = int(text[5:-5])
        if 1 <= days <= 3660:
            return Period(today - timedelta(days=days - 1), today)
    raise ValueError(f"{text!r} is not a date range: use a preset ({', '.join(PRESETS)}) or FROM..TO dates")


# -- the document kind ------------------------------------------------------------------

def _field_path(filt: Mapping[str, Any], object_name: str) -> str | None:
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


def _formula_type(fdef: FieldDef) -> str:
    if fdef.type == "user":
        return "user"
    if fdef.type == "lookup":
        return "record"
    if fdef.type in ("formula", "rollup"):
        return str(fdef.props.get("formula_type") or "text")
    ftype = getattr(fdef, "ftype", None)
    return str(getattr(ftype, "formula_type", None) or fdef.type)


def _widget_reports(doc: Mapping[str, Any],
                    reports: Mapping[str, Mapping[str, Any]] | None) -> list[tuple[int, Mapping[str, Any] | None, str]]:
    """(index, the widget's report document or None when it cannot be found, the JSON
    pointer its problems go to) for every widget."""
    out: list[tuple[int, Mapping[str, Any] | None, str]] = []
    for i, widget in enumerate(doc.get("widgets") or []):
        if isinstance(widget.get("source"), Mapping):
            out.append((i, widget["source"], f"/widgets/{i}/source"))
            continue
        out.append((i, (reports or {}).get(str(widget.get("report"))), f"/widgets/{i}/report"))
    return out


def dashboard_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """What is wrong with a dashboard (valid against its JSON Schema) given the metadata:
    reports that do not exist or do not check, filters on fields a widget's object lacks or
    of the wrong type, measures a report does not have, widgets off the grid."""
    from tessera.runtime.reports.service import report_problems
    from tessera.runtime.reports.subscriptions import subscription_problems

    problems: list[FieldProblem] = subscription_problems(doc)
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
    reports = schema.documents("reports") if hasattr(schema, "documents") else None
    checking_store = reports is not None
    for i, report, pointer in _widget_reports(doc, reports):
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
            problems += [FieldProblem(pointer + p.field, p.message, p.code) for p in report_problems(body, schema)]
        problems += _measure_problems(widget, report, f"/widgets/{i}/options")
        obj = schema.object(str(report.get("object")))
        if obj is None:
            continue
        for j, filt in enumerate(filters):
            if not _follows(widget, filt):
                continue
            path = _field_path(filt, obj.api_name)
            if path is None:
                continue
            at = f"/filters/{j}/field" + (f"/{obj.api_name}" if isinstance(filt.get("field"), Mapping) else "")
            fdef = resolve_path(schema, obj, path)
            if fdef is None:
                problems.append(FieldProblem(at, f"{obj.label} has no field {path!r} (widget {widget['id']!r})",
                                             "unknown_field"))
            elif filt["type"] in _FILTER_TYPES and _formula_type(fdef) not in _FILTER_TYPES[filt["type"]]:
                wanted = " or ".join(_FILTER_TYPES[filt["type"]])
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


def _measure_problems(widget: Mapping[str, Any], report: Mapping[str, Any], pointer: str) -> list[FieldProblem]:
    measures = [str(m.get("name")) for m in report.get("measures") or []] or ["records"]
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


def _follows(widget: Mapping[str, Any], filt: Mapping[str, Any]) -> bool:
    chosen = (widget.get("options") or {}).get("filters")
    return chosen is None or filt["name"] in chosen


def dashboard_names(doc: Mapping[str, Any], schema: Schema) -> Iterable[deps.Reference]:
    """Objects of inline reports and the fields filters narrow, for the dependency graph."""
    from tessera.runtime.metadata.documents import FIELD_VIA, OBJECT_VIA

    found: list[deps.Reference] = []
    objects: set[str] = set()
    reports = schema.documents("reports") if hasattr(schema, "documents") else None
    for i, report, pointer in _widget_reports(doc, reports):
        if report is None or schema.object(str(report.get("object"))) is None:
            continue
        objects.add(str(report["object"]))
        if pointer.endswith("/source"):
            found.append(deps.Reference(OBJECT_VIA, f"widgets/{i}/source/object", str(report["object"])))
    for j, filt in enumerate(doc.get("filters") or []):
        given = filt.get("field")
        for name in sorted(objects):
            path = _field_path(filt, name)
            if path is None or "." in path or find_field(schema.object(name), path) is None:  # type: ignore[arg-type]
                continue
            if (schema.object(name).field(path)) is None:  # type: ignore[union-attr]
                continue  # system fields cannot be renamed
            at = f"filters/{j}/field" + (f"/{name}" if isinstance(given, Mapping) else "")
            found.append(deps.Reference(FIELD_VIA, at, name, path))
    return found


def dashboard_kind() -> Any:
    """The `dashboards` kind for the document service (runtime/documents.py registers it)."""
    from tessera.runtime.metadata.documents import DocumentKind

    return DocumentKind("dashboards", "Dashboard", "dsh", lambda: base_schema("dashboards"),
                        check=dashboard_problems, names=dashboard_names)


# -- loading ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ActiveFilter:
    """A dashboard filter with the value it has in this load."""

    spec: Mapping[str, Any]
    value: Any
    period: Period | None = None
    members: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def type(self) -> str:
        return str(self.spec["type"])


class DashboardService:
    """The data of a dashboard's widgets as one user sees them."""

    def __init__(self, runtime: Any, today: Callable[[], date] | None = None) -> None:
        self.runtime = runtime
        self.today = today or date.today

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        """Every dashboard by name and label (what each shows depends on who opens it)."""
        return [{"api_name": d["api_name"], "label": d["label"], "description": d.get("description", "")}
                for d in self.runtime.documents.list("dashboards")]

    def load(self, actor: Actor, name: str, filter_values: Mapping[str, Any] | None = None,
             only: str | None = None) -> dict[str, Any]:
        """The dashboard with each widget's data shaped for its chart (or the widget's
        problem: a report the user may not run does not stop the others). `filter_values`
        maps filter names to values as typed in an address (missing: the default);
        `only` loads one widget."""
        doc = self.runtime.documents.get("dashboards", name)
        widgets = list(doc.get("widgets") or [])
        if only is not None:
            widgets = [w for w in widgets if w["id"] == only]
            if not widgets:
                raise NotFound(f"The dashboard {name!r} has no widget {only!r}.")
        with self.runtime.read() as conn:
            snap = self.runtime.snapshot(conn)
            active = self._filters(conn, actor, doc, filter_values or {})
            out = [self._widget(actor, snap, doc, w, active) for w in widgets]
            described = self._describe_filters(conn, snap, doc, active)
        return {"api_name": doc["api_name"], "label": doc["label"], "description": doc.get("description", ""),
                "version": doc.get("version"), "filters": described, "widgets": out}

    def widget(self, actor: Actor, name: str, widget_id: str,
               filter_values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.load(actor, name, filter_values, only=widget_id)["widgets"][0]

    # -- what the builders start from ----------------------------------------------------
    def design(self, name: str | None) -> dict[str, Any]:
        """The dashboard builder's start: the stored dashboard (a blank one for a new
        dashboard), the reports to choose from and the chart types."""
        doc = self.runtime.documents.get("dashboards", name) if name else {
            "api_name": "", "label": "", "filters": [], "widgets": []}
        reports = [{"api_name": r["api_name"], "label": r["label"], "object": r.get("object"),
                    "measures": [m["name"] for m in r.get("measures") or []] or ["records"]}
                   for r in self.runtime.documents.list("reports")]
        return {"dashboard": doc, "reports": reports, "charts": CHARTS, "presets": PRESETS}

    def report_design(self, name: str | None, object_name: str | None) -> dict[str, Any]:
        """The report builder's start: the stored report (or a blank one on `object_name`)
        and every object's fields to drag, system fields included."""
        report = self.runtime.documents.get("reports", name) if name else {
            "api_name": "", "label": "", "object": object_name or "", "group_by": [], "measures": []}
        objects = []
        for obj in self.runtime.metadata.list_objects():
            fields = [{"api_name": f["api_name"], "label": f["label"], "type": f["type"]} for f in obj["fields"]
                      if f["type"] not in ("attachment", "rich_text", "json")]
            fields += [{"api_name": "owner", "label": "Owner", "type": "user"},
                       {"api_name": "created_at", "label": "Created at", "type": "datetime"}]
            objects.append({"api_name": obj["api_name"], "label": obj["label"], "fields": fields})
        if not report.get("object") and objects:
            report["object"] = objects[0]["api_name"]
        return {"report": report, "objects": objects}

    # -- filters -----------------------------------------------------------------------
    def _filters(self, conn: Any, actor: Actor, doc: Mapping[str, Any],
                 given: Mapping[str, Any]) -> list[ActiveFilter]:
        known = {f["name"]: f for f in doc.get("filters") or []}
        unknown = sorted(set(given) - set(known))
        problems = [FieldProblem(f"filter.{n}", "the dashboard has no such filter", "unknown_name") for n in unknown]
        active: list[ActiveFilter] = []
        for name, spec in known.items():
            value = given[name] if name in given else spec.get("default")
            if value is None or value == "":
                continue
            try:
                active.append(self._activate(conn, actor, spec, value))
            except ValueError as error:
                problems.append(FieldProblem(f"filter.{name}", str(error)))
        if problems:
            raise InvalidInput("The dashboard's filter values are not valid.", problems)
        return active

    def _activate(self, conn: Any, actor: Actor, spec: Mapping[str, Any], value: Any) -> ActiveFilter:
        kind = spec["type"]
        if kind == "date_range":
            found = period(value, self.today())
            return ActiveFilter(spec, found.text() if found else "all", found)
        if kind == "owner":
            if value == "me":
                if actor.user_id is None:
                    raise ValueError('"me" needs a signed-in user')
                return ActiveFilter(spec, "me", members=(actor.user_id,))
            text = str(value)
            if not text.isdigit():
                raise ValueError(f'{text!r} is not a user id (or "me")')
            return ActiveFilter(spec, int(text), members=(int(text),))
        if kind == "team":
            team = conn.execute(sa.select(teams.c.id).where(teams.c.api_name == str(value))).scalar()
            if team is None:
                raise ValueError(f"there is no team named {value!r}")
            ids = conn.execute(sa.select(team_members.c.user_id).where(team_members.c.team_id == team)
                               .order_by(team_members.c.user_id)).scalars().all()
            return ActiveFilter(spec, str(value), members=tuple(int(i) for i in ids))
        return ActiveFilter(spec, value)

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
                item["choices"] = self._field_choices(snap, doc, spec)
            out.append(item)
        return out

    def _field_choices(self, snap: Any, doc: Mapping[str, Any], spec: Mapping[str, Any]) -> list[dict[str, Any]]:
        from tessera.runtime.records.formulas import SnapshotSchema

        given = spec.get("field")
        pairs = list(given.items()) if isinstance(given, Mapping) else [(o, given) for o in snap.objects]
        for object_name, path in pairs:
            obj = snap.objects.get(object_name)
            fdef = resolve_path(SnapshotSchema(snap), obj, str(path)) if obj is not None else None
            if fdef is not None and fdef.props.get("options"):
                return [{"value": o["value"], "label": o.get("label") or o["value"]} for o in fdef.props["options"]]
            if fdef is not None and fdef.type == "boolean":
                return [{"value": "true", "label": "Yes"}, {"value": "false", "label": "No"}]
        return []

    def _condition(self, snap: Any, obj: ObjectDef, filt: ActiveFilter, at: Period | None = None) -> str | None:
        """The formula a filter adds to a widget on `obj` (None: it leaves the widget alone)."""
        from tessera.runtime.records.formulas import SnapshotSchema

        path = _field_path(filt.spec, obj.api_name)
        if path is None:
            return None
        fdef = resolve_path(SnapshotSchema(snap), obj, path)
        if fdef is None:
            raise InvalidInput(f"The filter {filt.name!r} narrows {path!r}, which {obj.label} does not have.",
                               [FieldProblem(f"filter.{filt.name}", f"{obj.label} has no field {path!r}",
                                             "unknown_field")])
        kind = _formula_type(fdef)
        if filt.type == "date_range":
            span = at or filt.period
            if span is None:
                return None
            subject = f"DATEVALUE({path})" if kind == "datetime" else path
            parts = ([f"{subject} >= {_date(span.start)}"] if span.start else []) + (
                [f"{subject} <= {_date(span.end)}"] if span.end else [])
            return " AND ".join(parts) or None
        if filt.type in ("owner", "team"):
            if not filt.members:
                return "FALSE"
            return "(" + " OR ".join(f"{path}.id = {m}" for m in filt.members) + ")"
        return _equals(path, kind, filt.value, filt.name)

    def filter_formula(self, snap: Any, obj: ObjectDef, widget: Mapping[str, Any], active: list[ActiveFilter],
                       at: Period | None = None) -> str | None:
        """The dashboard filters of one widget as one formula (None: nothing to narrow);
        `at` replaces the date range (the previous period of a KPI)."""
        parts = []
        for filt in active:
            if not _follows(widget, filt.spec):
                continue
            found = self._condition(snap, obj, filt, at if filt.type == "date_range" else None)
            if found:
                parts.append(found)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)

    # -- widgets -----------------------------------------------------------------------
    def _report(self, doc: Mapping[str, Any], widget: Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(widget.get("source"), Mapping):
            return {"api_name": f"{doc['api_name']}_{widget['id']}"[:63], "label": widget.get("title") or widget["id"],
                    **widget["source"]}
        return self.runtime.documents.get("reports", str(widget["report"]))

    def _widget(self, actor: Actor, snap: Any, doc: Mapping[str, Any], widget: Mapping[str, Any],
                active: list[ActiveFilter]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": widget["id"], "title": widget.get("title") or "", "type": widget["type"],
                               "x": widget.get("x", 0), "y": widget.get("y", 0), "w": widget.get("w", 4),
                               "h": widget.get("h", 3), "report": widget.get("report"), "object": None,
                               "data": None, "error": None}
        try:
            report = self._report(doc, widget)
            obj = snap.object(str(report["object"]))
            out["object"] = obj.api_name
            out["title"] = out["title"] or report.get("label") or widget["id"]
            narrowed = self.filter_formula(snap, obj, widget, active)
            options = widget.get("options") or {}
            result = self.runtime.reports.run(actor, report, filter=narrowed, limit=options.get("limit"))
            shaper = _Shaper(self, actor, snap, obj, report, widget, result, narrowed)
            out["data"] = shaper.shape()
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
        ranged = next((f for f in active if f.type == "date_range" and f.period is not None and _follows(widget, f.spec)
                       and _field_path(f.spec, obj.api_name)), None)
        before = ranged.period.previous() if ranged is not None and ranged.period is not None else None
        if before is None:
            return {"previous": None, "change": None, "previous_period": None}
        narrowed = self.filter_formula(snap, obj, widget, active, at=before)
        result = self.runtime.reports.run(actor, report, filter=narrowed)
        previous = (result.get("totals") or {}).get(data["measure"])
        return {"previous": previous, "change": _change(data["value"], previous), "previous_period": before.text()}

    def drill(self, actor: Actor, report: Mapping[str, Any], cell: Mapping[str, Any], narrowed: str | None) -> str:
        """The record list behind one data point: the report's drill filter and the
        dashboard's filters, as a link to the list page."""
        found = self.runtime.reports.drill(actor, report, dict(cell))
        formula = found["filter"]
        if narrowed:
            formula = narrowed if formula == "TRUE" else f"({formula}) AND ({narrowed})"
        if formula == "TRUE":
            return f"/app/{found['object']}"
        return f"/app/{found['object']}?formula={quote(formula, safe='')}"


def _date(day: date | None) -> str:
    assert day is not None
    return f"DATE({day.year}, {day.month}, {day.day})"


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _equals(path: str, kind: str, value: Any, name: str) -> str:
    """`path = value` with the value written as a literal of the field's formula type."""
    text = str(value).strip()
    if kind in ("number", "duration"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"The filter {name!r} needs a number.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a number")]) from None
        return f"{path} = {format(number, 'f')}" if kind == "number" else f"SECONDS({path}) = {int(number)}"
    if kind == "boolean":
        truth = text.lower() in ("true", "yes", "1")
        return path if truth else f"NOT({path})"
    if kind in ("record", "user"):
        if not text.isdigit():
            raise InvalidInput(f"The filter {name!r} needs a record id.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a record id")])
        return f"{path}.id = {int(text)}"
    if kind == "date":
        try:
            return f"{path} = {_date(date.fromisoformat(text))}"
        except ValueError:
            raise InvalidInput(f"The filter {name!r} needs a date.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a date (YYYY-MM-DD)")]) from None
    return f"{path} = {_text(text)}"


def _change(value: Any, previous: Any) -> str | None:
    """(value - previous) / |previous| as a decimal text to 4 places (None without a base)."""
    try:
        now, before = Decimal(str(value)), Decimal(str(previous))
    except (InvalidOperation, TypeError):
        return None
    if previous is None or value is None or before == 0:
        return None
    change = ((now - before) / abs(before)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return format(change.normalize(), "f") if change else "0"


class _Shaper:
    """One widget's report result shaped for its chart, with labels for the grouping
    values and a drill link on every data point."""

    def __init__(self, service: DashboardService, actor: Actor, snap: Any, obj: ObjectDef,
                 report: Mapping[str, Any], widget: Mapping[str, Any], result: dict[str, Any],
                 narrowed: str | None) -> None:
        self.service, self.actor, self.snap, self.obj = service, actor, snap, obj
        self.report, self.widget, self.result, self.narrowed = report, widget, result, narrowed
        self.options = widget.get("options") or {}
        self.groupings = [c for c in result["columns"] if c["kind"] == "grouping"]
        self.measures = [c for c in result["columns"] if c["kind"] == "measure"]
        self.labels = self._labels()

    def shape(self) -> dict[str, Any]:
        kind = self.widget["type"]
        if kind in ("kpi", "gauge"):
            return self._single()
        if kind in SLICE_CHARTS:
            return self._slices()
        if kind == "table":
            return self._table()
        if kind == "pivot":
            return self._pivot()
        return self._series()

    # -- pieces --------------------------------------------------------------------------
    def measure(self) -> dict[str, Any]:
        wanted = self.options.get("measure")
        return next((m for m in self.measures if m["name"] == wanted), self.measures[0])

    def link(self, cell: Mapping[str, Any]) -> str:
        return self.service.drill(self.actor, self.report, cell, self.narrowed)

    def label(self, grouping: str, value: Any) -> str:
        if value is None:
            return _BLANK
        return self.labels.get(grouping, {}).get(value, str(value))

    def _labels(self) -> dict[str, dict[Any, str]]:
        """Readable names of grouping values: select options' labels, users' and records'
        names (only records the user may see are named), Yes/No."""
        from tessera.runtime.records.formulas import SnapshotSchema

        schema = SnapshotSchema(self.snap)
        specs = [*(self.report.get("group_by") or []), *([self.report["columns_by"]]
                                                         if self.report.get("columns_by") else [])]
        out: dict[str, dict[Any, str]] = {}
        rows = self.result["rows"]
        for spec, column in zip(specs, self.groupings, strict=False):
            if spec.get("bucket"):
                continue
            fdef = resolve_path(schema, self.obj, str(spec["field"]))
            if fdef is None:
                continue
            values = {r.get(column["name"]) for r in rows} - {None}
            if fdef.props.get("options"):
                out[column["name"]] = {o["value"]: o.get("label") or o["value"] for o in fdef.props["options"]}
            elif fdef.type == "boolean":
                out[column["name"]] = {True: "Yes", False: "No"}
            elif fdef.type == "user" and values:
                with self.service.runtime.read() as conn:
                    found = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(values))).all()
                out[column["name"]] = {r.id: r.name for r in found}
            elif fdef.type == "lookup" and values:
                out[column["name"]] = self._record_names(str(fdef.props.get("target")), values)
        return out

    def _record_names(self, target: str, ids: set[Any]) -> dict[Any, str]:
        obj = self.snap.objects.get(target)
        named = obj.name_field if obj is not None else None
        if named is None:
            return {}
        wanted = sorted(int(i) for i in ids)[:200]
        try:
            found = self.service.runtime.records.list(
                self.actor, target, fields=[named.api_name], limit=len(wanted),
                filter=" OR ".join(f"id = {i}" for i in wanted))
        except TesseraError:
            return {}
        return {r["id"]: str(r.get(named.api_name) or f"#{r['id']}") for r in found["data"]}

    # -- shapes --------------------------------------------------------------------------
    def _single(self) -> dict[str, Any]:
        m = self.measure()
        totals = self.result.get("totals") or {}
        value = totals.get(m["name"])
        target = self.options.get("target")
        out: dict[str, Any] = {"value": value, "measure": m["name"], "label": m["label"], "type": m["type"],
                               "target": None if target is None else str(target), "progress": None,
                               "drill": self.link({})}
        if target is not None and value is not None and Decimal(str(target)) != 0:
            out["progress"] = format((Decimal(str(value)) / Decimal(str(target))).quantize(Decimal("0.0001")), "f")
        if self.widget["type"] == "gauge":
            top = self.options.get("max", target)
            out["min"] = "0"
            out["max"] = str(top) if top is not None else (value if value not in (None, "0") else "1")
        return out

    def _categories(self) -> tuple[dict[str, Any] | None, list[Any]]:
        if not self.groupings:
            return None, []
        first = self.groupings[0]
        seen: dict[Any, None] = {}
        for row in self.result["rows"]:
            seen.setdefault(row.get(first["name"]), None)
        return first, list(seen)

    def _series(self) -> dict[str, Any]:
        first, categories = self._categories()
        if first is None:
            totals = self.result.get("totals") or {}
            chosen = self._chosen_measures()
            return {"categories": [{"value": None, "label": "Total"}],
                    "series": [{"name": m["name"], "label": m["label"],
                                "data": [{"value": totals.get(m["name"]), "drill": self.link({})}]}
                               for m in chosen], "x_label": "", "stacked": self.widget["type"] == "stacked_bar"}
        second = self.groupings[1] if len(self.groupings) > 1 else None
        cats = [{"value": c, "label": self.label(first["name"], c)} for c in categories]
        series: list[dict[str, Any]] = []
        if second is not None:
            m = self.measure()
            keys: dict[Any, None] = {}
            for row in self.result["rows"]:
                keys.setdefault(row.get(second["name"]), None)
            cells = {(r.get(first["name"]), r.get(second["name"])): r for r in self.result["rows"]}
            for key in keys:
                data = []
                for c in categories:
                    row = cells.get((c, key))
                    data.append({"value": row.get(m["name"]) if row else None,
                                 "drill": self.link({first["name"]: c, second["name"]: key}) if row else None})
                series.append({"name": str(key), "label": self.label(second["name"], key), "data": data})
        else:
            by_cat = {r.get(first["name"]): r for r in self.result["rows"]}
            links = {c: self.link({first["name"]: c}) for c in categories}
            for m in self._chosen_measures():
                series.append({"name": m["name"], "label": m["label"],
                               "data": [{"value": by_cat[c].get(m["name"]), "drill": links[c]} for c in categories]})
        return {"categories": cats, "series": series, "x_label": first["label"],
                "stacked": self.widget["type"] == "stacked_bar"}

    def _chosen_measures(self) -> list[dict[str, Any]]:
        wanted = self.options.get("measures")
        if wanted:
            return [m for m in self.measures if m["name"] in wanted]
        if self.options.get("measure"):
            return [self.measure()]
        return self.measures

    def _slices(self) -> dict[str, Any]:
        first, categories = self._categories()
        m = self.measure()
        if first is None:
            total = (self.result.get("totals") or {}).get(m["name"])
            return {"measure": m["name"], "label": m["label"],
                    "items": [{"key": None, "name": m["label"], "value": total, "drill": self.link({})}]}
        # A second grouping is summed away: slices come from the first grouping's subtotals.
        if len(self.groupings) > 1:
            rows = [s for s in self.result["subtotals"] if s.get("group_by") == [first["name"]]]
        else:
            rows = self.result["rows"]
        by_cat = {r.get(first["name"]): r for r in rows}
        items = [{"key": c, "name": self.label(first["name"], c), "value": by_cat.get(c, {}).get(m["name"]),
                  "drill": self.link({first["name"]: c})} for c in categories]
        return {"measure": m["name"], "label": m["label"], "items": items}

    def _table(self) -> dict[str, Any]:
        names = [g["name"] for g in self.groupings]
        rows = []
        for row in self.result["rows"]:
            cell = {n: row.get(n) for n in names}
            rows.append({"values": row, "labels": {n: self.label(n, row.get(n)) for n in names},
                         "drill": self.link(cell)})
        return {"columns": self.result["columns"], "rows": rows, "totals": self.result.get("totals")}

    def _pivot(self) -> dict[str, Any]:
        """Rows by the first grouping, columns by the last (the report's columns_by or its
        second grouping), the chosen measure in the cells, with row, column and grand totals."""
        if len(self.groupings) < 2:
            return self._table() | {"pivot": False}
        row_g, col_g = self.groupings[0], self.groupings[-1]
        m = self.measure()
        rows_seen: dict[Any, None] = {}
        cols_seen: dict[Any, None] = {}
        cells: dict[tuple[Any, Any], Any] = {}
        for r in self.result["rows"]:
            key, col = r.get(row_g["name"]), r.get(col_g["name"])
            rows_seen.setdefault(key, None)
            cols_seen.setdefault(col, None)
            cells[(key, col)] = r.get(m["name"])
        subtotals = self.result["subtotals"]
        row_totals = {s.get(row_g["name"]): s.get(m["name"]) for s in subtotals if s.get("group_by") == [row_g["name"]]}
        col_totals = {s.get(col_g["name"]): s.get(m["name"]) for s in subtotals if s.get("group_by") == [col_g["name"]]}
        return {
            "pivot": True, "measure": m["name"], "label": m["label"], "row_label": row_g["label"],
            "column_label": col_g["label"],
            "columns": [{"key": c, "label": self.label(col_g["name"], c)} for c in cols_seen],
            "rows": [{"key": k, "label": self.label(row_g["name"], k), "total": row_totals.get(k),
                      "cells": [{"value": cells.get((k, c)),
                                 "drill": self.link({row_g["name"]: k, col_g["name"]: c}) if (k, c) in cells else None}
                                for c in cols_seen]}
                     for k in rows_seen],
            "column_totals": [col_totals.get(c) for c in cols_seen],
            "total": (self.result.get("totals") or {}).get(m["name"]),
        }


__all__ = ["CHARTS", "PRESETS", "DashboardService", "Period", "dashboard_kind", "dashboard_problems", "period"]
