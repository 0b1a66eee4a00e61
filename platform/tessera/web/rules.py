"""Builder pages for rules, business calendars and SLA policies (issue #7).

- `/builder/rules`: every rule by object with its kind, trigger, order and an *active*
  switch; `/builder/rules/new?object=` and `/builder/rules/{name}`: the rule builder
  (trigger, a condition built from rows or written as a formula, actions or the kind's
  own section).
- `/builder/calendars[/{name}]`: working hours per weekday, breaks, holidays.
- `/builder/sla[/{name}]`: SLA policies: targets per metric and priority, pauses, warnings.

The pages only render: each one carries a JSON *design* (the document, the objects and
their fields, teams, calendars…) that builder-ui/static/rulebuilder.js edits in the
browser and saves through the metadata API (`/api/v1/meta/{kind}`, POST or PATCH with the
version), whose problems come back as JSON pointers and are shown beside the inputs.
Formulas are checked by the server as they are typed (`/api/v1/formula/check`); the
condition rows are turned into a formula here, by the list filters' own
`condition_formula`, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput, TesseraError
from tessera.formula.checker import field_type
from tessera.meta.documents import base_schema
from tessera.meta.model import SYSTEM_COLUMNS, WRITABLE_SYSTEM_COLUMNS, FieldDef, ObjectDef
from tessera.requests import deps
from tessera.rules import achievement
from tessera.rules.sla import METRIC_LABELS
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import OPERATOR_LABELS, condition_formula
from tessera.web.pages import render

router = APIRouter(prefix="/builder", include_in_schema=False)

KINDS = ("automation", "assignment", "scoring", "segment")
TRIGGER_LABELS = {"before_save": "Before save", "after_save": "After save", "schedule": "On a schedule",
                  "date_relative": "Relative to a date", "event": "On an event"}
WHEN_LABELS = {"created": "created", "updated": "updated", "created_or_updated": "created or updated"}
EVENT_LABELS = {"flow.finished": "a flow finished", "sla.warning": "an SLA warning", "sla.breach": "an SLA breach",
                "segment.entered": "entered a segment", "segment.left": "left a segment"}
#: The condition builder's operators: the list filters' own, plus "changed" on saves.
CONDITION_OPERATORS = {**OPERATOR_LABELS, "changed": "changed"}
#: Properties of an SLA policy (and of one of its metrics) that the SLA form has inputs of;
#: any other the schema gains is rendered as a generic input.
SLA_KNOWN = frozenset({"uid", "version", "api_name", "label", "description", "active", "object", "applies_when",
                       "order", "calendar", "priority_field", "status_field", "pause_when_status", "metrics",
                       "cancel_when", "warning_actions", "breach_actions"})
METRIC_KNOWN = frozenset({"metric", "targets", "warn_at", "achieved_when", "starts_when"})


# -- what the pages carry --------------------------------------------------------------------


def field_entry(fdef: FieldDef) -> dict[str, Any]:
    """A field as the builder's pickers need it: its formula type, options and whether a
    rule may set it."""
    name = fdef.api_name
    writable = not fdef.read_only and (name not in SYSTEM_COLUMNS or name in WRITABLE_SYSTEM_COLUMNS)
    return {"api_name": name, "label": fdef.label, "type": fdef.type, "ftype": field_type(fdef),
            "options": [{"value": o.get("value"), "label": o.get("label") or o.get("value")}
                        for o in fdef.props.get("options", []) if isinstance(o, Mapping)],
            "target": fdef.props.get("target"), "writable": writable}


def object_entries(objects: Iterable[ObjectDef]) -> list[dict[str, Any]]:
    """The app objects with their fields (system objects such as users left out); the
    owner is listed too, being a user field a rule may set and assign."""
    out = []
    for obj in objects:
        if obj.doc.get("system"):
            continue
        fields = [field_entry(f) for f in obj.fields if not f.deprecated]
        if not any(f["api_name"] == "owner" for f in fields):
            fields.append({"api_name": "owner", "label": "Owner", "type": "user", "ftype": "record", "options": [],
                           "target": None, "writable": True})
        out.append({"api_name": obj.api_name, "label": obj.label, "fields": fields})
    return sorted(out, key=lambda o: str(o["label"]).lower())


@cache
def timezones() -> list[str]:
    return [*sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))), "UTC"]


def _names(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"api_name": str(d["api_name"]), "label": str(d.get("label") or d["api_name"])} for d in docs]


def catalog(rt: Platform) -> dict[str, Any]:
    """What every builder page of this module picks from."""
    with rt.read() as conn:
        objects = object_entries(rt.snapshot(conn).objects.values())
    rules = rt.documents.list("rules")
    return {
        "objects": objects,
        "teams": _names(rt.users.teams.list()),
        "calendars": _names(rt.documents.list("calendars")),
        "flows": _names(rt.documents.list("flows")),
        "sla_policies": _names(rt.documents.list("sla_policies")),
        "segments": _names(r for r in rules if r.get("kind") == "segment"),
        "timezones": timezones(),
        "operators": CONDITION_OPERATORS,
        "events": EVENT_LABELS,
    }


def load(rt: Platform, kind: str, name: str | None) -> dict[str, Any] | None:
    """The stored document, or None for a new one (an unknown name is a 404)."""
    return rt.documents.get(kind, name) if name else None


def trigger_summary(trigger: Mapping[str, Any], kind: str | None = None) -> str:
    """A trigger in words, for the rules list: "After save (created) when amount changes"."""
    on = str(trigger.get("on"))
    if kind == "segment":
        # A segment follows its records whatever its trigger; a schedule adds refreshes.
        return "As records change (and every hour)" + (f"; on a schedule: {trigger.get('cron')}"
                                                        if on == "schedule" else "")
    text = TRIGGER_LABELS.get(on, on)
    if on in ("before_save", "after_save"):
        text += f" ({WHEN_LABELS.get(str(trigger.get('when', 'created_or_updated')), '')})"
        if trigger.get("changed"):
            text += " when " + ", ".join(trigger["changed"]) + " change"
    elif on == "schedule":
        text += f": {trigger.get('cron')}" + (f" ({trigger['timezone']})" if trigger.get("timezone") else "")
    elif on == "date_relative":
        offsets = ", ".join(_offset_words(o) for o in trigger.get("offsets", []))
        text += f": {offsets} {trigger.get('field')}" + (f" at {trigger['at']}" if trigger.get("at") else "")
    elif on == "event":
        text += f": {EVENT_LABELS.get(str(trigger.get('event')), trigger.get('event'))}"
        if trigger.get("source"):
            text += f" ({trigger['source']})"
    return text


def _offset_words(offset: Mapping[str, int]) -> str:
    parts = [f"{abs(v)} {unit}" for unit, v in offset.items() if v]
    negative = any(v < 0 for v in offset.values())
    return (" ".join(parts) or "0 days") + (" before" if negative else " after")


def rules_by_object(rt: Platform, only: str | None) -> list[dict[str, Any]]:
    """Rules grouped by object label, each group in running order."""
    labels = {o["api_name"]: o["label"] for o in catalog_objects(rt)}
    groups: dict[str, list[dict[str, Any]]] = {}
    found = rt.documents.list("rules", object_name=only)
    last = rt.rules.last_runs([str(r["uid"]) for r in found])
    for rule in found:
        rule["summary"] = trigger_summary(rule.get("trigger", {}), rule.get("kind"))
        rule["last"] = last.get(str(rule["uid"]))
        groups.setdefault(str(rule.get("object")), []).append(rule)
    for name in ([only] if only else labels):
        groups.setdefault(name, [])
    return [{"object": name, "label": labels.get(name, name),
             "rules": sorted(found, key=lambda r: (r.get("order", 0), r["api_name"]))}
            for name, found in sorted(groups.items(), key=lambda g: str(labels.get(g[0], g[0])).lower())]


def catalog_objects(rt: Platform) -> list[dict[str, Any]]:
    with rt.read() as conn:
        return object_entries(rt.snapshot(conn).objects.values())


def sla_extras() -> dict[str, Any]:
    """Properties the SLA policy schema has beyond those the form knows (a policy's and a
    metric's), to be rendered as generic inputs: name → {type, description, formula}."""
    schema = base_schema("sla_policies")

    def extra(properties: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
        out = {}
        for name, spec in properties.items():
            if name in known or not isinstance(spec, Mapping):
                continue
            kind = spec.get("type", "string")
            out[name] = {"type": kind if isinstance(kind, str) else "string",
                         "description": str(spec.get("description", "")),
                         "formula": name.endswith(("_when", "_if", "condition"))}
        return out

    metric = schema["properties"]["metrics"]["items"].get("properties", {})
    return {"policy": extra(schema["properties"], SLA_KNOWN), "metric": extra(metric, METRIC_KNOWN)}


def rows_formula(obj: ObjectDef, join: str, rows: list[Any]) -> str:
    """Condition rows joined by AND or OR as one formula (the list filters' literals)."""
    if join not in ("AND", "OR"):
        raise InvalidInput("Join conditions with AND or OR.", [FieldProblem("join", "must be AND or OR")])
    parts = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidInput("A condition must be an object.", [FieldProblem(f"rows/{index}", "must be an object")])
        if row.get("op") == "changed":
            if obj.field(str(row.get("field"))) is None:
                raise InvalidInput("A condition names an unknown field.",
                                   [FieldProblem(f"rows/{index}", f"no field {row.get('field')!r}")])
            parts.append(f"ISCHANGED({row['field']})")
            continue
        try:
            parts.append(condition_formula(obj, dict(row)))
        except InvalidInput as error:
            raise InvalidInput(error.detail, [FieldProblem(f"rows/{index}", p.message) for p in error.errors]) from None
    return f" {join} ".join(parts)


# -- pages -----------------------------------------------------------------------------------


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    """Rules by object: kind, trigger, order, and an active switch."""
    only = request.query_params.get("object") or None
    return render(request, "rules/index.html", me=me, groups=rules_by_object(rt, only), only=only)


@router.get("/rules/new", response_class=HTMLResponse)
def new_rule(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return _rule_builder(request, me, rt, None)


@router.get("/rules/{name}", response_class=HTMLResponse)
def rule_page(name: str, request: Request, me: Actor = Depends(deps.builder),
              rt: Platform = Depends(deps.runtime)) -> Any:
    return _rule_builder(request, me, rt, name)


def _rule_builder(request: Request, me: Actor, rt: Platform, name: str | None) -> HTMLResponse:
    doc = load(rt, "rules", name)
    design = {"kind": "rules", "doc": doc, "object": request.query_params.get("object") or None, **catalog(rt)}
    # What the rule did: its last run, its recent runs, when it runs next on its own.
    did = rt.rules.activity(me, name) if name else None
    return render(request, "rules/builder.html", me=me, design=design, doc=doc or {}, activity=did)


@router.post("/rules/condition-formula")
async def condition_to_formula(request: Request, _: Actor = Depends(deps.builder),
                               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """The formula of the condition builder's rows: `{"object", "join", "rows": [{"field",
    "op", "value"}]}` → `{"formula"}`, or the problem of the first row that cannot be one."""
    body = await deps.json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        return _problem(InvalidInput("Send the object, the join and the rows.", [FieldProblem("rows", "required")]))
    try:
        with rt.read() as conn:
            obj = rt.snapshot(conn).object(str(body.get("object")))
        return JSONResponse({"formula": rows_formula(obj, str(body.get("join") or "AND"), body["rows"])})
    except TesseraError as error:
        return _problem(error)


@router.post("/rules/assignment-notes")
async def assignment_notes(request: Request, _: Actor = Depends(deps.builder),
                           rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """What an assignment rule being built will do, in words: `{rule document}` →
    `{"notes": [{"field": JSON pointer, "kind": "info" | "warning", "message"}]}` (who takes
    turns; a team nobody is in; options no team is named after)."""
    body = await deps.json_body(request)
    if not isinstance(body, dict):
        return _problem(InvalidInput("Send the rule being built.", [FieldProblem("/", "must be an object")]))
    return JSONResponse({"notes": rt.rules.assignment_notes(body)})


def _problem(error: TesseraError) -> JSONResponse:
    problems = [p.as_json() for p in error.errors] or [FieldProblem("/", error.detail).as_json()]
    return JSONResponse({"detail": error.detail, "errors": problems}, status_code=error.status)


@router.get("/calendars", response_class=HTMLResponse)
def calendars_page(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return render(request, "rules/calendars.html", me=me, calendars=rt.documents.list("calendars"))


@router.get("/calendars/new", response_class=HTMLResponse)
def new_calendar(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return _calendar(request, me, rt, None)


@router.get("/calendars/{name}", response_class=HTMLResponse)
def calendar_page(name: str, request: Request, me: Actor = Depends(deps.builder),
                  rt: Platform = Depends(deps.runtime)) -> Any:
    return _calendar(request, me, rt, name)


def _calendar(request: Request, me: Actor, rt: Platform, name: str | None) -> HTMLResponse:
    doc = load(rt, "calendars", name)
    design = {"kind": "calendars", "doc": doc, "timezones": timezones()}
    return render(request, "rules/calendar.html", me=me, design=design, doc=doc or {})


@router.get("/sla", response_class=HTMLResponse)
def sla_page(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    policies = sorted(rt.documents.list("sla_policies"), key=lambda p: (str(p.get("object")), p.get("order", 0),
                                                                          p["api_name"]))
    with rt.read() as conn:
        objects = {o.api_name: o.label for o in rt.snapshot(conn).objects.values()}
    calendars = {c["api_name"]: c["label"] for c in _names(rt.documents.list("calendars"))}
    return render(request, "rules/sla_list.html", me=me, policies=policies, object_labels=objects,
                  calendar_labels=calendars, metric_labels=METRIC_LABELS)


@router.get("/sla/new", response_class=HTMLResponse)
def new_sla(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return _sla(request, me, rt, None)


@router.get("/sla/{name}", response_class=HTMLResponse)
def sla_policy_page(name: str, request: Request, me: Actor = Depends(deps.builder),
                    rt: Platform = Depends(deps.runtime)) -> Any:
    return _sla(request, me, rt, name)


def _sla(request: Request, me: Actor, rt: Platform, name: str | None) -> HTMLResponse:
    doc = load(rt, "sla_policies", name)
    design = {"kind": "sla_policies", "doc": doc, "object": request.query_params.get("object") or None,
              "extras": sla_extras(), "metric_labels": METRIC_LABELS, **achievable(rt, doc), **catalog(rt)}
    return render(request, "rules/sla.html", me=me, design=design, doc=doc or {})


def achievable(rt: Platform, doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """What each object's metrics can be achieved by (the *Achieved when* picker), and the
    stored policy's metrics read as picks (a formula the picker cannot say stays one)."""
    with rt.read() as conn:
        objects = rt.snapshot(conn).objects
    offered = {name: achievement.offered(obj) for name, obj in objects.items() if not obj.doc.get("system")}
    obj = objects.get(str((doc or {}).get("object")))
    picked = [achievement.choice_of(obj, m.get("achieved_when")) if obj is not None else
              {"kind": achievement.FORMULA, "formula": m.get("achieved_when") or ""} if m.get("achieved_when")
              else {"kind": ""} for m in (doc or {}).get("metrics", [])]
    return {"achievable": offered, "achieved": picked}


@router.post("/sla/achieved")
async def achieved_formula(request: Request, _: Actor = Depends(deps.builder),
                           rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """The *Achieved when* picker's choice as a formula, and why it cannot work if it cannot:
    `{"object", "metric", "choice": {"kind", "field", "values"}, "status_field",
    "pause_when_status"}` → `{"formula", "problems": [text…]}`, or the problem of a choice
    that is not complete (no status ticked)."""
    body = await deps.json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("choice"), dict):
        return _problem(InvalidInput("Send the object, the metric and the choice.",
                                     [FieldProblem("choice", "required")]))
    try:
        with rt.read() as conn:
            obj = rt.snapshot(conn).object(str(body.get("object")))
    except TesseraError as error:
        return _problem(error)
    choice = body["choice"]
    try:
        formula = achievement.formula_of(obj, choice)
    except ValueError as error:
        return _problem(InvalidInput(str(error), [FieldProblem("choice", str(error))]))
    paused = body.get("pause_when_status")
    problems = achievement.mistakes(obj, str(body.get("metric") or ""), choice,
                                    status_field=str(body.get("status_field") or "status"),
                                    paused=[str(p) for p in paused] if isinstance(paused, list) else [])
    return JSONResponse({"formula": formula, "problems": problems})


__all__ = ["catalog", "object_entries", "router", "rows_formula", "sla_extras", "trigger_summary"]
