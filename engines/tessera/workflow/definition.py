"""Flow documents (kind `flows`) compiled once into a `Flow` the executor runs, and every
problem a flow can have before it is published, at JSON pointers into the document.

A flow's steps are a tree: a list run in order, where `branch` and `parallel` steps hold
lists of their own (their "lanes"). Compiling walks the tree once and answers, for every
step, the questions the executor asks on each transition — what comes next, which
container it sits in, which lane, which steps enclose it — so running a step never walks
the document again.

    flow = compile_flow(doc)                       # FlowError(problems) if its shape is broken
    problems = flow_problems(doc, schema)          # everything, formulas included, for publishing
    people_references(doc)                         # [(pointer, {"role": "legal"}), …] for the runtime

Pure (layer 4 over 1): it reads tessera.meta and tessera.formula only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache
from itertools import pairwise
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tessera.errors import FieldProblem
from tessera.formula import FormulaError, Schema, check
from tessera.meta.documents import base_schema, schema_problems
from tessera.meta.model import ObjectDef

#: Steps that stop and wait for someone or something: the only places a flow rests.
WAITING_TYPES = ("approval", "task", "wait")
#: Steps that hold lists of steps.
CONTAINER_TYPES = ("branch", "parallel")
#: How a flow ends when it runs off the end of its steps.
OUTCOMES = ("approved", "rejected", "cancelled", "completed")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_PEOPLE_KEYS = ("approvers", "assignees")
#: `{"manager": "approver"}` in an escalation: the manager of each person whose task is open.
APPROVER = "approver"


class FlowError(Exception):
    """A flow document that cannot be compiled, with every problem found."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration in weeks, days, hours, minutes and seconds (`P2D`, `PT4H`,
    `P1DT12H`). Months and years are refused: their length depends on the calendar."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not a duration like P2D or PT4H")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _duration(value: Any) -> timedelta | None:
    return parse_duration(value) if isinstance(value, str) else None


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a compiled flow, with its place in the tree worked out.

    `lanes` are a container's lists of step ids: a branch's branches in order and then its
    default; a parallel's branches. `lane` and `index` place this step in its parent's
    lanes (or the flow's own list when `parent` is None).
    """

    id: str
    type: str
    label: str
    path: str
    doc: Mapping[str, Any] = field(repr=False)
    parent: str | None = None
    lane: int = 0
    index: int = 0
    next: str | None = None
    ancestors: tuple[str, ...] = ()
    lanes: tuple[tuple[str, ...], ...] = ()
    # approval and task
    people: tuple[Mapping[str, Any], ...] = ()
    mode: str = "all"
    quorum: Mapping[str, Any] | None = None
    on_reject: str = "end"
    due: timedelta | None = None
    remind_every: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_do: str | None = None
    escalate_to: tuple[Mapping[str, Any], ...] = ()
    lock_record: bool = False
    editable_fields: tuple[str, ...] = ()
    if_nobody: str = "fail"
    allow_delegate: bool = True
    allow_send_back: bool = True
    allow_add_approvers: bool = True
    # action
    action: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # branch (one per branch; the default lane has none) and parallel
    conditions: tuple[str, ...] = ()
    lane_labels: tuple[str, ...] = ()
    join: int = 0
    # wait
    wait_for: str | None = None
    wait_duration: timedelta | None = None
    wait_formula: str | None = None
    # goto and end
    target: str | None = None
    outcome: str | None = None

    def need(self, slots: int) -> int:
        """How many of `slots` approvals complete the step (Camunda's completion condition)."""
        if self.mode == "all":
            return slots
        if self.mode == "quorum" and self.quorum is not None:
            if "count" in self.quorum:
                return max(1, min(int(self.quorum["count"]), slots))
            # The smallest whole number of people that is at least the share (0.5 of 3 → 2);
            # the epsilon keeps 0.3 * 10 from becoming 4 through float rounding.
            return max(1, min(slots, math.ceil(float(self.quorum["share"]) * slots - 1e-9)))
        return 1

    def reject_limit(self, slots: int) -> int:
        """How many rejections reject the step: one, except a quorum, which is rejected only
        once it can no longer be reached."""
        if self.mode == "quorum":
            return slots - self.need(slots) + 1
        return 1

    @property
    def timer_kinds(self) -> tuple[str, ...]:
        """The timers this step sets while it is open."""
        if self.type == "wait":
            return ("wait",) if self.wait_for in ("duration", "until") else ()
        kinds = []
        if self.due is not None:
            kinds.append("due")
        if self.remind_every is not None:
            kinds.append("remind")
        if self.escalate_after is not None:
            kinds.append("escalate")
        return tuple(kinds)


@dataclass(frozen=True, eq=False)
class Flow:
    """A compiled flow: parse once per published version, run many instances on it."""

    doc: Mapping[str, Any] = field(repr=False)
    api_name: str
    object: str
    trigger: Mapping[str, Any]
    steps: Mapping[str, Step]
    #: The flow's own list of step ids, in order.
    main: tuple[str, ...]
    #: Whether the flow asks for approvals: it then ends "approved" when it runs off its end.
    has_approvals: bool

    @property
    def first(self) -> str:
        return self.main[0]

    def lane_of(self, step: Step) -> tuple[str, ...]:
        """The list the step sits in."""
        return self.main if step.parent is None else self.steps[step.parent].lanes[step.lane]

    def is_earlier(self, source: str, target: str) -> bool:
        """Whether `target` comes before `source` on a path the flow can go back along: a
        step before it in its own list or a list enclosing it, an enclosing step, or a step
        inside an earlier branch step — but not into an earlier parallel step's lanes,
        whose other branches would have nobody to join them."""
        if source == target or source not in self.steps or target not in self.steps:
            return False
        s_chain = (*self.steps[source].ancestors, source)
        t_chain = (*self.steps[target].ancestors, target)
        common = 0
        while common < min(len(s_chain), len(t_chain)) and s_chain[common] == t_chain[common]:
            common += 1
        if common == len(t_chain):
            return True  # the target encloses the source: go back to the top of it
        if common == len(s_chain):
            return False  # the target is inside the source
        s_top, t_top = self.steps[s_chain[common]], self.steps[t_chain[common]]
        if t_top.index >= s_top.index:
            return False
        return all(self.steps[a].type == "branch" for a in t_chain[common:-1])

    def loop_span(self, source: str, target: str) -> list[Step]:
        """The steps a jump from `source` back to `target` goes round again (with what they hold)."""
        s_chain = (*self.steps[source].ancestors, source)
        t_chain = (*self.steps[target].ancestors, target)
        common = 0
        while common < min(len(s_chain), len(t_chain)) and s_chain[common] == t_chain[common]:
            common += 1
        if common == len(t_chain):
            tops = [self.steps[target]]
        else:
            s_top, t_top = self.steps[s_chain[common]], self.steps[t_chain[common]]
            lane = self.lane_of(t_top)
            tops = [self.steps[i] for i in lane[t_top.index : s_top.index + 1]]
        return [s for s in self.steps.values() if any(s.id == t.id or t.id in s.ancestors for t in tops)]

    def send_back_targets(self, step_id: str) -> list[str]:
        """The approval and task steps the step may send its record back to, in order. The
        runtime may narrow them to the steps the instance's history shows ran."""
        return [s.id for s in self.steps.values()
                if s.type in ("approval", "task") and self.is_earlier(step_id, s.id)]

    def is_descendant(self, step_id: str, container: str) -> bool:
        return container in self.steps[step_id].ancestors


# -- compiling ----------------------------------------------------------------------------
_COMMON = ("id", "type", "label", "description", "action")


def _lists(doc: Mapping[str, Any]) -> list[tuple[str, Sequence[Any], Mapping[str, Any] | None]]:
    """A container's lanes as (pointer suffix, steps, branch document)."""
    out: list[tuple[str, Sequence[Any], Mapping[str, Any] | None]] = []
    if doc.get("type") in CONTAINER_TYPES:
        for i, branch in enumerate(doc.get("branches") or []):
            if isinstance(branch, Mapping):
                out.append((f"/branches/{i}/steps", branch.get("steps") or [], branch))
        if doc.get("type") == "branch":
            out.append(("/default", doc.get("default") or [], None))
    return out


def _walk_docs(steps: Any, prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every step document with its pointer, depth first, in document order."""
    for i, sdoc in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(sdoc, Mapping):
            continue
        path = f"{prefix}/{i}"
        yield path, sdoc
        for suffix, inner, _ in _lists(sdoc):
            yield from _walk_docs(inner, path + suffix)


def _build(doc: Mapping[str, Any]) -> tuple[dict[str, Step], tuple[str, ...], list[FieldProblem]]:
    steps: dict[str, Step] = {}
    problems: list[FieldProblem] = []
    first_seen: dict[str, str] = {}

    def walk(items: Sequence[Any], prefix: str, parent: str | None, lane: int,
             ancestors: tuple[str, ...]) -> tuple[str, ...]:
        ids: list[str] = []
        for i, sdoc in enumerate(items):
            path = f"{prefix}/{i}"
            sid = str(sdoc["id"])
            if sid in first_seen:
                problems.append(FieldProblem(f"{path}/id", f"another step already has the id {sid!r} "
                                                           f"(at {first_seen[sid]})", "duplicate"))
                continue
            first_seen[sid] = path
            lanes = tuple(walk(inner, path + suffix, sid, n, (*ancestors, sid))
                          for n, (suffix, inner, _) in enumerate(_lists(sdoc)))
            steps[sid] = _step(sdoc, path, parent, lane, len(ids), ancestors, lanes)
            ids.append(sid)
        for before, after in pairwise(ids):
            steps[before] = _replace(steps[before], next=after)
        return tuple(ids)

    main = walk(doc.get("steps") or [], "/steps", None, 0, ())
    return steps, main, problems


def _replace(step: Step, **changes: Any) -> Step:
    return replace(step, **changes)


def _step(sdoc: Mapping[str, Any], path: str, parent: str | None, lane: int, index: int,
          ancestors: tuple[str, ...], lanes: tuple[tuple[str, ...], ...]) -> Step:
    kind = str(sdoc["type"])
    common: dict[str, Any] = dict(
        id=str(sdoc["id"]), type=kind, label=str(sdoc.get("label") or sdoc["id"]), path=path, doc=sdoc,
        parent=parent, lane=lane, index=index, ancestors=ancestors, lanes=lanes,
    )
    if kind in ("approval", "task"):
        escalate = sdoc.get("escalate") or {}
        common.update(
            people=tuple(sdoc.get("approvers" if kind == "approval" else "assignees") or ()),
            mode=str(sdoc.get("mode") or ("all" if kind == "approval" else "any")),
            quorum=sdoc.get("quorum"),
            on_reject=str(sdoc.get("on_reject", "end")),
            due=_duration(sdoc.get("due")),
            remind_every=_duration(sdoc.get("remind_every")),
            escalate_after=_duration(escalate.get("after")),
            escalate_do=escalate.get("do"),
            escalate_to=tuple(escalate.get("to") or ()),
            lock_record=bool(sdoc.get("lock_record", False)),
            editable_fields=tuple(sdoc.get("editable_fields") or ()),
            if_nobody=str(sdoc.get("if_nobody", "fail")),
            allow_delegate=bool(sdoc.get("allow_delegate", True)),
            allow_send_back=bool(sdoc.get("allow_send_back", True)),
            allow_add_approvers=bool(sdoc.get("allow_add_approvers", True)),
        )
    elif kind == "action":
        common.update(action=str(sdoc["action"]),
                      params={k: v for k, v in sdoc.items() if k not in _COMMON})
    elif kind in CONTAINER_TYPES:
        branches = [b for b in sdoc.get("branches") or [] if isinstance(b, Mapping)]
        labels = [str(b.get("label") or f"Branch {i + 1}") for i, b in enumerate(branches)]
        if kind == "branch":
            common.update(conditions=tuple(str(b["condition"]) for b in branches),
                          lane_labels=(*labels, "Default"))
        else:
            join = sdoc.get("join", "all")
            need = len(branches) if join == "all" else 1 if join == "any" else int(join["count"])
            common.update(lane_labels=tuple(labels), join=min(need, len(branches)))
    elif kind == "wait":
        for key in ("duration", "until", "until_condition"):
            if key in sdoc:
                common.update(wait_for=key)
                if key == "duration":
                    common.update(wait_duration=parse_duration(str(sdoc[key])))
                else:
                    common.update(wait_formula=str(sdoc[key]))
                break
    elif kind == "goto":
        common.update(target=str(sdoc["target"]))
    elif kind == "end":
        common.update(outcome=str(sdoc.get("outcome", "completed")))
    return Step(**common)


def compile_flow(doc: Mapping[str, Any]) -> Flow:
    """The flow `doc` compiled for the executor; raises FlowError listing every problem of
    its shape (schema, ids, goto targets, unreachable steps). Formulas and fields are
    checked against the metadata by `flow_problems`, before publishing."""
    problems = structure_problems(doc)
    if problems:
        raise FlowError(problems)
    steps, main, _ = _build(doc)
    return Flow(doc=doc, api_name=str(doc["api_name"]), object=str(doc["object"]), trigger=doc["trigger"],
                steps=steps, main=main, has_approvals=any(s.type == "approval" for s in steps.values()))


# -- validation ---------------------------------------------------------------------------
@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("flows"), format_checker=Draft202012Validator.FORMAT_CHECKER)


class _ClearerErrors:
    """The flow validator, minus errors that only repeat another one in vaguer words.

    When a step property breaks its rule (a bad `due`), the step's subschema fails and
    JSON Schema stops counting its properties as known, so it also reports "'due' was
    unexpected" one level up; that echo is dropped. A `oneOf` (a person, a wait) is
    described in the words of its schema's description.
    """

    def __init__(self, validator: Draft202012Validator) -> None:
        self.validator = validator

    def iter_errors(self, doc: Any) -> Iterator[ValidationError]:
        errors = list(self.validator.iter_errors(doc))
        broken = {tuple(e.absolute_path) for e in errors}
        for error in errors:
            where = tuple(error.absolute_path)
            if error.validator == "unevaluatedProperties" and isinstance(error.instance, Mapping) \
                    and any((*where, key) in broken for key in error.instance):
                continue
            if error.validator == "oneOf" and isinstance(error.schema, Mapping) and error.schema.get("description"):
                error.message = f"give {error.schema['description']}"
            yield error


def _schema_problems(doc: Any) -> list[FieldProblem]:
    return schema_problems(_ClearerErrors(_validator()), doc, "")  # type: ignore[arg-type]


def structure_problems(doc: Any) -> list[FieldProblem]:
    """Problems found without the metadata: the JSON Schema, then duplicate step ids, goto
    targets, steps that can never run and loops that would never stop."""
    if not isinstance(doc, Mapping):
        return [FieldProblem("/", "a flow must be a JSON object")]
    problems = _schema_problems(doc)
    if problems:
        return problems
    steps, main, problems = _build(doc)
    if problems:
        return problems
    flow = Flow(doc=doc, api_name=str(doc["api_name"]), object=str(doc["object"]), trigger=doc["trigger"],
                steps=steps, main=main, has_approvals=False)
    for step in steps.values():
        if step.type == "goto" and step.target is not None:
            problems += _target_problems(flow, step, step.target, f"{step.path}/target", "a goto")
        elif step.type == "parallel" and step.join > len(step.lanes):
            problems.append(FieldProblem(f"{step.path}/join", "more branches must finish than there are"))
        elif step.type == "task" and step.escalate_do == "auto_reject":
            problems.append(FieldProblem(f"{step.path}/escalate/do", "a task cannot be rejected: use notify, "
                                                                     "reassign or auto_approve"))
        elif step.type == "task" and step.doc.get("on_reject"):
            problems.append(FieldProblem(f"{step.path}/on_reject", "a task cannot be rejected"))
        if step.type == "parallel" and isinstance(step.doc.get("join"), Mapping) \
                and int(step.doc["join"]["count"]) > len(step.lanes):
            problems.append(FieldProblem(f"{step.path}/join/count", f"the parallel step has only {len(step.lanes)} "
                                                                    "branches"))
    problems += _unreachable(flow, main, "/steps")
    for step in steps.values():
        for n, (suffix, _, _) in enumerate(_lists(step.doc)):
            problems += _unreachable(flow, step.lanes[n], step.path + suffix)
    return problems


def _target_problems(flow: Flow, step: Step, target: str, pointer: str, what: str) -> list[FieldProblem]:
    if target not in flow.steps:
        return [FieldProblem(pointer, f"no step has the id {target!r}", "unknown_step")]
    if not flow.is_earlier(step.id, target):
        return [FieldProblem(pointer, f"{what} can only go back to an earlier step: {target!r} is not before "
                                      f"{step.id!r} in its list or a list around it (nor inside an earlier "
                                      "branch step)", "not_earlier")]
    if not any(s.type in WAITING_TYPES for s in flow.loop_span(step.id, target)):
        return [FieldProblem(pointer, f"going back to {target!r} would loop forever: nothing between it and "
                                      f"{step.id!r} waits (an approval, a task or a wait), so the record cannot "
                                      "change in between", "endless_loop")]
    return []


def _falls_through(flow: Flow, ids: Sequence[str]) -> bool:
    """Whether running the list can reach its end (rather than always ending or jumping)."""
    return all(_step_falls_through(flow, flow.steps[i]) for i in ids)


def _step_falls_through(flow: Flow, step: Step) -> bool:
    if step.type in ("end", "goto"):
        return False
    if step.type == "branch":
        return any(_falls_through(flow, lane) for lane in step.lanes)
    if step.type == "parallel":
        return sum(_falls_through(flow, lane) for lane in step.lanes) >= step.join
    return True


def _unreachable(flow: Flow, ids: Sequence[str], prefix: str) -> list[FieldProblem]:
    for n, sid in enumerate(ids[:-1]):
        step = flow.steps[sid]
        if not _step_falls_through(flow, step):
            why = {"end": "ends the flow", "goto": f"goes back to {step.target!r}"}.get(
                step.type, "always ends the flow or goes back")
            after = flow.steps[ids[n + 1]]
            return [FieldProblem(after.path, f"this step can never run: the step before it, {sid!r}, {why}",
                                 "unreachable")]
    return []


@dataclass(frozen=True)
class FlowFormula:
    """A formula in a flow at JSON pointer `path`: `expect` is the type it must give
    ("boolean"), "date" for a date or a date-time, "person" for a user or an e-mail."""

    path: str
    source: str
    expect: str


def flow_formulas(doc: Mapping[str, Any]) -> list[FlowFormula]:
    """Every formula of a (schema-valid) flow, for type checks and the dependency graph."""
    out: list[FlowFormula] = []
    trigger = doc.get("trigger") or {}
    if trigger.get("condition"):
        out.append(FlowFormula("/trigger/condition", str(trigger["condition"]), "boolean"))
    for path, sdoc in _walk_docs(doc.get("steps"), "/steps"):
        if sdoc.get("type") == "branch":
            for i, branch in enumerate(sdoc.get("branches") or []):
                out.append(FlowFormula(f"{path}/branches/{i}/condition", str(branch["condition"]), "boolean"))
        elif sdoc.get("type") == "wait":
            if "until" in sdoc:
                out.append(FlowFormula(f"{path}/until", str(sdoc["until"]), "date"))
            if "until_condition" in sdoc:
                out.append(FlowFormula(f"{path}/until_condition", str(sdoc["until_condition"]), "boolean"))
    for pointer, spec in people_references(doc):
        if "formula" in spec:
            out.append(FlowFormula(f"{pointer}/formula", str(spec["formula"]), "person"))
    return out


def people_references(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every people spec of a flow (approvers, assignees, escalation targets) with its JSON
    pointer, so the runtime can check that the users, roles and teams named exist."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    for path, sdoc in _walk_docs(doc.get("steps"), "/steps"):
        for key in _PEOPLE_KEYS:
            for i, spec in enumerate(sdoc.get(key) or []):
                out.append((f"{path}/{key}/{i}", spec))
        escalate = sdoc.get("escalate")
        if isinstance(escalate, Mapping):
            for i, spec in enumerate(escalate.get("to") or []):
                out.append((f"{path}/escalate/to/{i}", spec))
    return out


def flow_problems(doc: Any, schema: Schema) -> list[FieldProblem]:
    """Everything wrong with a flow before it is published, all at once: its shape (see
    `structure_problems`), then against the metadata — the object, the trigger's fields and
    cron, each condition a boolean, each wait-until a date, each people field a user field,
    each editable field a field. Users, roles and teams are the runtime's to check
    (`people_references`)."""
    problems = structure_problems(doc)
    if problems:
        return problems
    obj = schema.object(str(doc["object"]))
    if obj is None:
        return [FieldProblem("/object", f"no object is named {doc['object']!r}", "unknown_object")]
    trigger = doc["trigger"]
    for i, name in enumerate(trigger.get("changed") or []):
        if _field_exists(obj, schema, name) is not None:
            problems.append(FieldProblem(f"/trigger/changed/{i}", f"{obj.label} has no field named {name!r}",
                                         "unknown_field"))
    if trigger.get("cron"):
        from croniter import croniter

        if not croniter.is_valid(str(trigger["cron"])):
            problems.append(FieldProblem("/trigger/cron", f"{trigger['cron']!r} is not a cron schedule: five fields, "
                                                          "minute hour day month weekday, like 0 8 * * 1"))
    for formula in flow_formulas(doc):
        message = _formula_problem(formula, obj, schema)
        if message:
            problems.append(FieldProblem(formula.path, message, "formula"))
    for pointer, spec in people_references(doc):
        for key in ("field", "manager"):
            value = spec.get(key)
            if isinstance(value, str) and not (key == "manager" and (
                    value == "submitter" or (value == APPROVER and "/escalate/to/" in pointer))):
                message = _user_field_problem(value, obj, schema)
                if message:
                    problems.append(FieldProblem(f"{pointer}/{key}", message, "unknown_field"))
    for path, sdoc in _walk_docs(doc["steps"], "/steps"):
        for i, name in enumerate(sdoc.get("editable_fields") or []):
            message = _field_exists(obj, schema, name)
            if message:
                problems.append(FieldProblem(f"{path}/editable_fields/{i}", message, "unknown_field"))
        if sdoc.get("editable_fields") and not sdoc.get("lock_record"):
            problems.append(FieldProblem(f"{path}/editable_fields", "editable fields only apply to a locked record: "
                                                                    "set \"lock_record\": true"))
    return problems


def _formula_problem(formula: FlowFormula, obj: ObjectDef, schema: Schema) -> str | None:
    try:
        checked = check(formula.source, obj, schema, "boolean" if formula.expect == "boolean" else None)
    except FormulaError as error:
        return _render(error)
    if formula.expect == "date" and checked.type not in ("date", "datetime", "blank"):
        return f"the formula must give a date or a date-time, but it gives {_article(checked.type)}"
    if formula.expect == "person":
        last = checked.references[-1].field if checked.references else None
        is_user = checked.type == "record" and (last is None or last.type == "user")
        if not is_user and checked.type not in ("text", "blank"):
            return f"the formula must give a user or an e-mail address, but it gives {_article(checked.type)}"
    return None


def _field_exists(obj: ObjectDef, schema: Schema, name: str) -> str | None:
    try:
        check(name, obj, schema)
    except FormulaError:
        return f"{obj.label} has no field named {name!r}"
    return None


def _user_field_problem(path: str, obj: ObjectDef, schema: Schema) -> str | None:
    try:
        checked = check(path, obj, schema)
    except FormulaError as error:
        return _render(error).splitlines()[0]
    last = checked.references[-1].field if checked.references else None
    if last is None or last.type != "user":
        kind = last.type if last is not None else checked.type
        return f"{path!r} is {_article(kind)} field, not a user field: people come from user fields"
    return None


def _article(type_name: str) -> str:
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name


def _render(error: FormulaError) -> str:
    first = error.errors[0] if getattr(error, "errors", None) else error
    return first.render()


# -- triggers -----------------------------------------------------------------------------
def trigger_matches(flow: Flow, event: str, record: Mapping[str, Any], changed: Iterable[str],
                    evaluate: Callable[[str, Mapping[str, Any]], Any]) -> bool:
    """Whether `event` ("created", "updated", "button", "schedule", "api") on `record`, with
    the fields in `changed`, starts the flow: the event is the trigger's, an update touched
    one of the trigger's `changed` fields (when it names any), and its condition holds."""
    trigger = flow.trigger
    if trigger.get("on") != event:
        return False
    watched = trigger.get("changed")
    if event == "updated" and watched and not set(watched) & set(changed):
        return False
    condition = trigger.get("condition")
    return not condition or evaluate(str(condition), record) is True


__all__ = [
    "CONTAINER_TYPES", "OUTCOMES", "WAITING_TYPES", "Flow", "FlowError", "FlowFormula", "Step", "compile_flow",
    "flow_formulas", "flow_problems", "parse_duration", "people_references", "structure_problems",
    "trigger_matches",
]
