"""Rule documents (kind `rules`): what is wrong with one against the metadata, and the
parsed `Rule` the runtime runs.

A rule is a trigger (before or after a save, a cron schedule, a date relative to a field,
or an event), an optional condition, and what it does by kind: automation runs actions,
assignment picks an owner from a team, scoring adds up points, segment keeps a membership.
Every formula is type-checked against the rule's object, every named field must exist and
be of a kind that fits; problems come back all at once, each at a JSON pointer. Pure: no
database; the metadata arrives as a `tessera.formula.Schema`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from tessera.errors import FieldProblem, formula_problem
from tessera.formula import USER_OBJECT, Checked, FormulaError, Schema, check
from tessera.formula.ast import Literal, Path
from tessera.formula.checker import field_type
from tessera.formula.schema import find_field
from tessera.meta.model import SYSTEM_COLUMNS, WRITABLE_SYSTEM_COLUMNS, FieldDef, ObjectDef

KINDS = ("automation", "assignment", "scoring", "segment")
SAVE_TRIGGERS = ("before_save", "after_save")
TRIGGERS = (*SAVE_TRIGGERS, "schedule", "date_relative", "event")
EVENTS = ("flow.finished", "sla.warning", "sla.breach", "segment.entered", "segment.left")
#: What may run inside the save, before the write: only changes to the record being saved.
BEFORE_SAVE_ACTIONS = ("set_fields", "refuse")
STRATEGIES = ("round_robin", "least_open", "by_attribute")
#: Formula types a value formula can be checked against exactly (others: untyped).
_EXPECTABLE = ("text", "number", "boolean", "date", "datetime", "duration", "list", "record")


# -- the parsed rule -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """When a rule runs. Save triggers use `when` and `changed`; schedule `cron` (in
    `timezone`); date_relative `field`, `offsets` and `at`; event `event` and `source`."""

    on: str
    when: str = "created_or_updated"
    changed: frozenset[str] = frozenset()
    cron: str | None = None
    timezone: str = "UTC"
    field: str | None = None
    offsets: tuple[timedelta, ...] = ()
    at: time | None = None
    event: str | None = None
    source: str | None = None

    @property
    def on_save(self) -> bool:
        return self.on in SAVE_TRIGGERS


@dataclass(frozen=True, eq=False)
class Action:
    """One action: `name` ("set_fields", "refuse", or an action of the registry) and the
    whole action dict as `params` (opaque here beyond set_fields and refuse)."""

    name: str
    params: Mapping[str, Any]

    @property
    def set(self) -> Mapping[str, str]:
        """set_fields: field → formula."""
        return dict(self.params.get("set", {}))


@dataclass(frozen=True)
class Assignment:
    field: str
    team: str
    strategy: str
    attribute: str | None = None
    member_attribute: str | None = None
    open_condition: str | None = None


@dataclass(frozen=True)
class ScoringRule:
    when: str
    points: int
    label: str | None = None


@dataclass(frozen=True)
class Scoring:
    field: str
    rules: tuple[ScoringRule, ...]

    def total(self, matched: Iterable[bool]) -> int:
        """The score: the points of every rule whose `when` is TRUE (in the order of rules)."""
        return sum(rule.points for rule, hit in zip(self.rules, matched, strict=True) if hit)


@dataclass(frozen=True)
class Segment:
    condition: str
    field: str | None = None


@dataclass(frozen=True, eq=False)
class Rule:
    api_name: str
    label: str
    object: str
    kind: str
    trigger: Trigger
    active: bool = True
    order: int = 0
    condition: str | None = None
    actions: tuple[Action, ...] = ()
    assignment: Assignment | None = None
    scoring: Scoring | None = None
    segment: Segment | None = None
    uid: str | None = None


@dataclass(frozen=True)
class RuleFormula:
    """A formula of a rule document: at JSON pointer `path`, over records of `object`, of
    formula type `expect` (None: any). For the dependency graph and for callers that
    type-check formulas themselves (with their own cache)."""

    path: str
    object: str
    source: str
    expect: str | None = "boolean"


def parse_rule(doc: Mapping[str, Any]) -> Rule:
    """The rule a (valid) rule document describes."""
    t = doc["trigger"]
    trigger = Trigger(
        on=str(t["on"]),
        when=str(t.get("when", "created_or_updated")),
        changed=frozenset(t.get("changed", ())),
        cron=t.get("cron"),
        timezone=str(t.get("timezone") or "UTC"),
        field=t.get("field"),
        offsets=tuple(offset_delta(o) for o in t.get("offsets", ())),
        at=time.fromisoformat(t["at"]) if t.get("at") else None,
        event=t.get("event"),
        source=t.get("source"),
    )
    a = doc.get("assignment")
    assignment = Assignment(
        field=str(a.get("field") or "owner"), team=str(a["team"]), strategy=str(a["strategy"]),
        attribute=a.get("attribute"),
        member_attribute=a.get("member_attribute") or a.get("attribute"),
        open_condition=a.get("open_condition"),
    ) if a else None
    s = doc.get("scoring")
    scoring = Scoring(str(s["field"]), tuple(ScoringRule(str(r["when"]), int(r["points"]), r.get("label"))
                                             for r in s["rules"])) if s else None
    g = doc.get("segment")
    segment = Segment(str(g["condition"]), g.get("field")) if g else None
    return Rule(
        api_name=str(doc["api_name"]), label=str(doc.get("label") or doc["api_name"]), object=str(doc["object"]),
        kind=str(doc["kind"]), trigger=trigger, active=bool(doc.get("active", True)), order=int(doc.get("order", 0)),
        condition=doc.get("condition") or None,
        actions=tuple(Action(str(x["action"]), dict(x)) for x in doc.get("actions", ())),
        assignment=assignment, scoring=scoring, segment=segment, uid=doc.get("uid"),
    )


def offset_delta(offset: Mapping[str, int]) -> timedelta:
    return timedelta(days=offset.get("days", 0), hours=offset.get("hours", 0), minutes=offset.get("minutes", 0))


def matches_trigger(rule: Rule, event: str, changed_fields: Iterable[str]) -> bool:
    """Whether an active save-triggered rule runs for this save.

    `event` is "created" or "updated"; `changed_fields` are the fields whose value the save
    changed. A creation counts as changing every field, so `changed` filters updates only.
    Rules with schedule, date_relative or event triggers never match a save.
    """
    if event not in ("created", "updated"):
        raise ValueError(f"event must be 'created' or 'updated', not {event!r}")
    trigger = rule.trigger
    if not rule.active or not trigger.on_save:
        return False
    if trigger.when != "created_or_updated" and trigger.when != event:
        return False
    if event == "updated" and trigger.changed:
        return not trigger.changed.isdisjoint(changed_fields)
    return True


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules in the order they run: by `order`, then by api_name (so the order is stable)."""
    return sorted(rules, key=lambda r: (r.order, r.api_name))


def next_run(trigger: Trigger, after: datetime) -> datetime:
    """The first time a schedule trigger fires strictly after `after` (aware), in UTC.

    The cron expression is read in the trigger's time zone, so "0 8 * * *" is 08:00 local
    on both sides of a clock change.
    """
    if trigger.cron is None:
        raise ValueError("only schedule triggers have a next run")
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    zone = ZoneInfo(trigger.timezone)
    found = croniter(trigger.cron, after.astimezone(zone)).get_next(datetime)
    return found.astimezone(UTC)


def date_relative_runs(trigger: Trigger, value: date | datetime | None) -> list[datetime]:
    """When a date_relative trigger fires for a record whose field holds `value`: one
    instant (UTC) per offset, in order. A date is read as `at` (or 00:00) local time in the
    trigger's time zone; a date-time is an instant already."""
    if value is None:
        return []
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return sorted((value + offset).astimezone(UTC) for offset in trigger.offsets)
    zone = ZoneInfo(trigger.timezone)
    out = []
    for offset in trigger.offsets:
        # Days move the local date (so -90 days is the same clock time even across a clock
        # change); hours and minutes are real time after that.
        local = datetime.combine(value + timedelta(days=offset.days), trigger.at or time(), tzinfo=zone)
        out.append(local.astimezone(UTC) + timedelta(seconds=offset.seconds))
    return sorted(out)


# -- formulas and problems -------------------------------------------------------------------


class Checker:
    """Type-checks formulas of one document against one object, collecting problems.

    With `report_formulas=False` formula errors are left to a caller that checks the same
    formulas itself (listed by rule_formulas); the checks that need a formula's result type
    still run on the formulas that pass.
    """

    def __init__(self, obj: ObjectDef, schema: Schema, problems: list[FieldProblem],
                 report_formulas: bool = True) -> None:
        self.obj = obj
        self.schema = schema
        self.problems = problems
        self.report_formulas = report_formulas

    def formula(self, source: str, path: str, expect: str | None = "boolean") -> Checked | None:
        try:
            return check(source, self.obj, self.schema, expect)
        except FormulaError as error:
            if self.report_formulas:
                self.problems.append(formula_problem(path, error))
            return None

    def field(self, name: str, path: str) -> FieldDef | None:
        found = find_field(self.obj, name)
        if found is None:
            self.problems.append(unknown_field(path, self.obj, name))
        return found

    def writable(self, name: str, path: str) -> FieldDef | None:
        """A field a rule may set: it exists, and neither the platform nor a formula sets it."""
        found = self.field(name, path)
        if found is None:
            return None
        if (name in SYSTEM_COLUMNS and name not in WRITABLE_SYSTEM_COLUMNS) or found.read_only:
            self.problems.append(FieldProblem(path, f"{found.label} is set by the platform or computed; a rule "
                                              "cannot set it", "read_only"))
            return None
        return found

    def value(self, fdef: FieldDef, source: str, path: str) -> None:
        """A formula whose value goes into `fdef`: of the field's type, and for a lookup
        or user field a record of the right object, for a select one of its options."""
        t = field_type(fdef)
        checked = self.formula(source, path, t if t in _EXPECTABLE else None)
        if checked is None:
            return
        tree = checked.tree
        if t == "record" and isinstance(tree, Path) and tree.resolved is not None and tree.resolved.target:
            want = record_target(fdef, self.schema)
            got = tree.resolved.target
            if want is not None and got.api_name != want.api_name:
                self.problems.append(FieldProblem(path, f"{fdef.label} takes a record of {want.label}; the "
                                                  f"formula gives a record of {got.label}", "formula"))
        options = [o.get("value") for o in fdef.props.get("options", [])]
        if fdef.type == "select" and isinstance(tree, Literal) and tree.kind == "text" and tree.value not in options:
            self.problems.append(FieldProblem(path, f"{tree.value!r} is not an option of {fdef.label} "
                                              f"({', '.join(map(str, options)) or 'none'})", "formula"))


def record_target(fdef: FieldDef, schema: Schema) -> ObjectDef | None:
    if fdef.type == "lookup":
        return schema.object(str(fdef.props.get("target", "")))
    if fdef.type == "user":
        return USER_OBJECT
    return None


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def unknown_field(path: str, obj: ObjectDef, name: str) -> FieldProblem:
    import difflib

    close = difflib.get_close_matches(name, [f.api_name for f in obj.fields], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return FieldProblem(path, f"{obj.label} has no field named {name!r}{hint}", "unknown_field")


def object_of(doc: Mapping[str, Any], schema: Schema) -> tuple[ObjectDef | None, list[FieldProblem]]:
    name = str(doc.get("object"))
    obj = schema.object(name)
    if obj is None:
        return None, [FieldProblem("/object", f"there is no object named {name!r}", "unknown_object")]
    return obj, []


@cache
def _validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator

    from tessera.meta.documents import base_schema

    return Draft202012Validator(base_schema(kind), format_checker=Draft202012Validator.FORMAT_CHECKER)


def document_schema_problems(kind: str, doc: Any, label: str) -> list[FieldProblem]:
    """Problems of a document against the JSON Schema of its kind."""
    from tessera.meta.documents import schema_problems

    if not isinstance(doc, dict):
        return [FieldProblem("/", f"a {label} must be a JSON object")]
    return schema_problems(_validator(kind), doc, "")


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# -- rule documents ----------------------------------------------------------------------------


def rule_formulas(doc: Mapping[str, Any], schema: Schema | None = None) -> list[RuleFormula]:
    """Every formula of a (schema-valid) rule document with the type it must have. Value
    formulas of set_fields take their field's type when `schema` is given (else any)."""
    obj_name = str(doc["object"])
    obj = schema.object(obj_name) if schema is not None else None
    out: list[RuleFormula] = []
    if doc.get("condition"):
        out.append(RuleFormula("/condition", obj_name, doc["condition"]))
    for i, action in enumerate(doc.get("actions", ())):
        if action.get("action") == "set_fields":
            for name, source in dict(action.get("set", {})).items():
                fdef = find_field(obj, name) if obj is not None else None
                t = field_type(fdef) if fdef is not None else None
                out.append(RuleFormula(f"/actions/{i}/set/{name}", obj_name, source,
                                       t if t in _EXPECTABLE else None))
    if (a := doc.get("assignment")) and a.get("open_condition"):
        out.append(RuleFormula("/assignment/open_condition", obj_name, a["open_condition"]))
    for i, r in enumerate((doc.get("scoring") or {}).get("rules", ())):
        out.append(RuleFormula(f"/scoring/rules/{i}/when", obj_name, r["when"]))
    if g := doc.get("segment"):
        out.append(RuleFormula("/segment/condition", obj_name, g["condition"]))
    return out


def rule_fields(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, field api_name) of every field of the rule's object that a (valid)
    rule document names outside its formulas, for the dependency graph and renames."""
    out: list[tuple[str, str]] = []
    trigger = doc["trigger"]
    out += [(f"/trigger/changed/{i}", name) for i, name in enumerate(trigger.get("changed", ()))]
    if trigger.get("field"):
        out.append(("/trigger/field", trigger["field"]))
    for i, action in enumerate(doc.get("actions", ())):
        if action.get("action") == "set_fields":
            out += [(f"/actions/{i}/set/{name}", name) for name in action.get("set", {})]
        elif action.get("action") == "refuse" and action.get("field"):
            out.append((f"/actions/{i}/field", action["field"]))
    if a := doc.get("assignment"):
        out.append(("/assignment/field", a.get("field") or "owner"))
        if a.get("attribute"):
            out.append(("/assignment/attribute", a["attribute"]))
    if s := doc.get("scoring"):
        out.append(("/scoring/field", s["field"]))
    if (g := doc.get("segment")) and g.get("field"):
        out.append(("/segment/field", g["field"]))
    return out


def rule_problems(doc: Any, schema: Schema, *, check_formulas: bool = True) -> list[FieldProblem]:
    """Every problem of a rule document, all at once: its JSON Schema first (and only, if
    that fails), then the object, fields, formulas, trigger and kind against the metadata.

    `check_formulas=False`: formula errors are not reported (a caller that type-checks
    `rule_formulas(doc)` itself reports them); everything else still is.
    """
    problems = document_schema_problems("rules", doc, "rule")
    if problems:
        return problems
    obj, problems = object_of(doc, schema)
    problems += _kind_problems(doc)
    if obj is None:
        return problems
    c = Checker(obj, schema, problems, check_formulas)
    trigger = doc["trigger"]
    on = trigger["on"]
    problems += _trigger_problems(trigger, c)
    condition = c.formula(doc["condition"], "/condition") if doc.get("condition") else None
    if condition is not None and condition.change_context and on not in SAVE_TRIGGERS:
        problems.append(FieldProblem("/condition", "ISNEW, ISCHANGED and PRIORVALUE only have a meaning when a "
                                     "record is saved; this rule runs on " + on.replace("_", " "), "formula"))
    for i, action in enumerate(doc.get("actions", ())):
        name = action["action"]
        path = f"/actions/{i}"
        if on == "before_save" and name not in BEFORE_SAVE_ACTIONS:
            problems.append(FieldProblem(f"{path}/action", f"a before-save rule can only set fields of the record or "
                                         f"refuse the save; run {name!r} after the save (\"on\": \"after_save\")"))
        if name == "refuse" and on != "before_save":
            problems.append(FieldProblem(f"{path}/action", "only a before-save rule can refuse a save"))
            continue
        if name == "refuse" and action.get("field"):
            c.field(action["field"], f"{path}/field")
        if name == "set_fields":
            for fname, source in action["set"].items():
                fdef = c.writable(fname, f"{path}/set/{fname}")
                if fdef is not None:
                    c.value(fdef, source, f"{path}/set/{fname}")
    if doc["kind"] == "assignment" and "assignment" in doc:
        problems += _assignment_problems(doc["assignment"], c)
    if doc["kind"] == "scoring" and "scoring" in doc:
        scoring = doc["scoring"]
        fdef = c.writable(scoring["field"], "/scoring/field")
        if fdef is not None and field_type(fdef) != "number":
            problems.append(FieldProblem("/scoring/field", f"{fdef.label} is {article(fdef.type)} field; a score "
                                         "goes into a number field (integer or decimal)"))
        for i, r in enumerate(scoring["rules"]):
            c.formula(r["when"], f"/scoring/rules/{i}/when")
    if doc["kind"] == "segment" and doc.get("condition"):
        problems.append(FieldProblem("/condition", "a segment's members are the records its own condition "
                                     "picks (/segment/condition); put the whole condition there"))
    if doc["kind"] == "segment" and on not in ("after_save", "schedule"):
        problems.append(FieldProblem("/trigger/on", "a segment follows its records and their related records "
                                     "as they change (after_save), and may be refreshed on a schedule as well "
                                     f"(schedule); it does not run {on.replace('_', ' ')}"))
    if doc["kind"] == "segment" and "segment" in doc:
        segment = doc["segment"]
        checked = c.formula(segment["condition"], "/segment/condition")
        if checked is not None and checked.change_context:
            problems.append(FieldProblem("/segment/condition", "a segment is who belongs now: ISNEW, ISCHANGED and "
                                         "PRIORVALUE do not apply", "formula"))
        if segment.get("field"):
            fdef = c.writable(segment["field"], "/segment/field")
            if fdef is not None and fdef.type != "boolean":
                problems.append(FieldProblem("/segment/field", f"{fdef.label} is {article(fdef.type)} field; the "
                                             "membership is kept in a checkbox (boolean) field"))
    return problems


def _kind_problems(doc: Mapping[str, Any]) -> list[FieldProblem]:
    kind = doc["kind"]
    problems = []
    for section in ("assignment", "scoring", "segment"):
        if section in doc and section != kind:
            problems.append(FieldProblem(f"/{section}", f"only {article(section)} rule has {article(section)} "
                                         f"section; this rule is {article(kind)} rule"))
    if kind == "automation" and not doc.get("actions"):
        problems.append(FieldProblem("/actions", "an automation rule needs at least one action"))
    return problems


def _trigger_problems(trigger: Mapping[str, Any], c: Checker) -> list[FieldProblem]:
    on = trigger["on"]
    problems: list[FieldProblem] = []
    allowed = {"on", "when", "changed"} if on in SAVE_TRIGGERS else {
        "schedule": {"on", "cron", "timezone"},
        "date_relative": {"on", "field", "offsets", "at", "timezone"},
        "event": {"on", "event", "source"},
    }[on]
    for key in sorted(set(trigger) - allowed):
        problems.append(FieldProblem(f"/trigger/{key}", f"{key!r} does not apply to a {on.replace('_', ' ')} "
                                     f"trigger (it takes {', '.join(sorted(allowed - {'on'}))})"))
    if trigger.get("timezone") and not valid_timezone(trigger["timezone"]):
        problems.append(FieldProblem("/trigger/timezone", f"unknown time zone {trigger['timezone']!r}; use an "
                                     "IANA name like Europe/Paris"))
    if on in SAVE_TRIGGERS:
        if trigger.get("changed") and trigger.get("when") == "created":
            problems.append(FieldProblem("/trigger/changed", "a rule for created records runs on every creation; "
                                         "changed applies to updates"))
        for i, name in enumerate(trigger.get("changed", ())):
            c.field(name, f"/trigger/changed/{i}")
    elif on == "schedule":
        cron = str(trigger["cron"])
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            problems.append(FieldProblem("/trigger/cron", f"{cron!r} is not a schedule of five cron fields: minute "
                                         "hour day-of-month month day-of-week, like \"0 8 * * 1-5\""))
    elif on == "date_relative":
        fdef = c.field(trigger["field"], "/trigger/field")
        if fdef is not None and field_type(fdef) not in ("date", "datetime"):
            problems.append(FieldProblem("/trigger/field", f"{fdef.label} is {article(fdef.type)} field; a "
                                         "date-relative rule needs a date or date-time field"))
        elif fdef is not None and trigger.get("at") and field_type(fdef) == "datetime":
            problems.append(FieldProblem("/trigger/at", f"{fdef.label} has its own time of day; \"at\" is for "
                                         "date fields"))
        deltas = [offset_delta(o) for o in trigger["offsets"]]
        if len(set(deltas)) != len(deltas):
            problems.append(FieldProblem("/trigger/offsets", "the same offset is listed twice"))
    return problems


def _assignment_problems(a: Mapping[str, Any], c: Checker) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    fdef = c.writable(str(a.get("field") or "owner"), "/assignment/field")
    if fdef is not None and fdef.type != "user":
        problems.append(FieldProblem("/assignment/field", f"{fdef.label} is {article(fdef.type)} field; assignment "
                                     "fills a user field (like owner)"))
    strategy = a["strategy"]
    if a.get("attribute"):
        if strategy != "by_attribute":
            problems.append(FieldProblem("/assignment/attribute", "attribute is for the by_attribute strategy"))
        else:
            c.field(a["attribute"], "/assignment/attribute")
    if a.get("member_attribute") and strategy != "by_attribute":
        problems.append(FieldProblem("/assignment/member_attribute", "member_attribute is for the by_attribute "
                                     "strategy"))
    if a.get("open_condition"):
        if strategy != "least_open":
            problems.append(FieldProblem("/assignment/open_condition", "open_condition is for the least_open "
                                         "strategy"))
        else:
            c.formula(a["open_condition"], "/assignment/open_condition")
    return problems


def parse_rules(docs: Sequence[Mapping[str, Any]]) -> list[Rule]:
    """Parsed rules in the order they run."""
    return ordered(parse_rule(d) for d in docs)


__all__ = [
    "BEFORE_SAVE_ACTIONS", "EVENTS", "KINDS", "SAVE_TRIGGERS", "STRATEGIES", "TRIGGERS", "Action", "Assignment",
    "Checker", "Rule", "RuleFormula", "Scoring", "ScoringRule", "Segment", "Trigger", "date_relative_runs",
    "formula_problem", "matches_trigger", "next_run", "offset_delta", "ordered", "parse_rule", "parse_rules",
    "rule_fields", "rule_formulas", "rule_problems",
]
