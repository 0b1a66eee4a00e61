"""Workflow engine tests: flows run in memory against a fake world — a record, formulas
as Python lambdas keyed by their source, and people looked up in dicts — so every test
drives the executor exactly as the runtime will, one transition at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.formula import SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.workflow import (
    CancelTimer,
    Decision,
    Effect,
    Env,
    Executor,
    History,
    OpenTask,
    ScheduleTimer,
    compile_flow,
    open_tasks,
    task_step,
)

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


class World:
    """What the runtime would know: the record, how formulas evaluate, who is who."""

    def __init__(self, record: dict[str, Any] | None = None,
                 formulas: Mapping[str, Callable[[Mapping[str, Any]], Any]] | None = None,
                 roles: Mapping[str, Sequence[int]] | None = None, teams: Mapping[str, Sequence[int]] | None = None,
                 managers: Mapping[int, int] | None = None, users: Mapping[str, int] | None = None) -> None:
        self.record: dict[str, Any] = record or {}
        self.formulas = dict(formulas or {})
        self.roles = roles or {}
        self.teams = teams or {}
        self.managers = managers or {}
        self.users = users or {}
        self.now = T0
        self.evaluated: list[str] = []

    def evaluate(self, source: str, record: Mapping[str, Any]) -> Any:
        self.evaluated.append(source)
        return self.formulas[source](record)

    def people(self, specs: Sequence[Mapping[str, Any]], record: Mapping[str, Any],
               submitter: int | None) -> list[int]:
        out: list[int] = []
        for spec in specs:
            if "user" in spec:
                out.append(self.users[spec["user"]])
            elif "role" in spec:
                out += self.roles.get(spec["role"], [])
            elif "team" in spec:
                out += self.teams.get(spec["team"], [])
            elif "field" in spec:
                if record.get(spec["field"]) is not None:
                    out.append(record[spec["field"]])
            elif "manager" in spec:
                person = submitter if spec["manager"] == "submitter" else record.get(spec["manager"])
                for _ in range(spec.get("levels", 1)):
                    person = self.managers.get(person) if person is not None else None
                if person is not None:
                    out.append(person)
        return out

    def env(self) -> Env:
        return Env(self.now, dict(self.record), self.evaluate, self.people)


class Instance:
    """One flow instance driven like the runtime drives it: state in, (state, effects) out,
    with every effect kept in `log` and the timers it set in `timers`."""

    def __init__(self, doc: Mapping[str, Any], world: World) -> None:
        self.flow = compile_flow(doc)
        self.executor = Executor(self.flow)
        self.world = world
        self.state: dict[str, Any] = {}
        self.log: list[Effect] = []
        self.last: list[Effect] = []
        self.timers: dict[str, datetime] = {}

    def _apply(self, transition: tuple[dict[str, Any], list[Effect]]) -> list[Effect]:
        self.state, self.last = transition
        self.log += self.last
        for effect in self.last:
            if isinstance(effect, ScheduleTimer):
                self.timers[effect.key] = effect.due_at
            elif isinstance(effect, CancelTimer):
                self.timers.pop(effect.key, None)
        return self.last

    def start(self, submitter: int | None = 1) -> list[Effect]:
        return self._apply(self.executor.start(self.world.env(), submitter))

    def tasks(self, step: str | None = None) -> dict[str, int]:
        return {k: u for k, u in open_tasks(self.state).items() if step is None or task_step(k) == step}

    def task_of(self, user: int, step: str | None = None) -> str:
        found = [k for k, u in self.tasks(step).items() if u == user]
        assert len(found) == 1, f"user {user} has tasks {found} at {step}; open: {self.tasks()}"
        return found[0]

    def decide(self, user: int, action: str, step: str | None = None, **options: Any) -> list[Effect]:
        key = self.task_of(user, step)
        decision = Decision(action, user, options.pop("comment", f"{action} by {user}"), **options)
        return self._apply(self.executor.decide(self.state, self.world.env(), key, decision))

    def approve(self, user: int, step: str | None = None) -> list[Effect]:
        return self.decide(user, "approve", step)

    def resubmit(self, user: int = 1, comment: str = "fixed") -> list[Effect]:
        return self._apply(self.executor.resubmit(self.state, self.world.env(), user, comment))

    def recall(self, user: int = 1) -> list[Effect]:
        return self._apply(self.executor.recall(self.state, self.world.env(), user, "never mind"))

    def change(self, **values: Any) -> list[Effect]:
        self.world.record.update(values)
        return self._apply(self.executor.record_changed(self.state, self.world.env()))

    def advance(self, delta: timedelta) -> list[Effect]:
        """Move the clock on, firing every timer that comes due on the way, in order."""
        until = self.world.now + delta
        fired: list[Effect] = []
        while True:
            due = sorted((at, key) for key, at in self.timers.items() if at <= until)
            if not due:
                break
            at, key = due[0]
            del self.timers[key]
            self.world.now = at
            fired += self._apply(self.executor.timer_fired(self.state, self.world.env(), key))
        self.world.now = until
        return fired

    def history(self, *events: str) -> list[tuple[str, str | None, int | None]]:
        return [(h.event, h.step, h.by) for h in self.log
                if isinstance(h, History) and (not events or h.event in events)]

    def opened(self, effects: Sequence[Effect] | None = None) -> list[tuple[str, int]]:
        return [(e.step, e.user) for e in (self.last if effects is None else effects) if isinstance(e, OpenTask)]

    @property
    def status(self) -> str:
        return str(self.state["status"])


def of(effects: Sequence[Effect], kind: type[Effect]) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]


def make_object(api_name: str, fields: Sequence[tuple[str, str, dict[str, Any]] | tuple[str, str]]) -> ObjectDef:
    docs = []
    for spec in fields:
        name, ftype = spec[0], spec[1]
        extra = spec[2] if len(spec) > 2 else {}  # type: ignore[misc]
        docs.append({"uid": f"{api_name}-{name}", "api_name": name, "label": name.replace("_", " ").title(),
                     "type": ftype, **extra})
    return ObjectDef({"uid": f"obj-{api_name}", "api_name": api_name, "label": api_name.replace("_", " ").title(),
                      "fields": docs})


STAGES = [{"value": v, "label": v} for v in ("requirements_clarification", "technical_proposal", "negotiation")]
CONTRACT = make_object("contract", [("name", "text"), ("amount", "currency"), ("discount", "percent"),
                                    ("notes", "long_text"), ("reviewer", "user"),
                                    ("status", "select", {"options": [{"value": "draft", "label": "Draft"},
                                                                      {"value": "approved", "label": "Approved"}]}),
                                    ("signed_on", "date")])
OPPORTUNITY = make_object("opportunity", [
    ("name", "text"), ("stage", "select", {"options": STAGES}),
    ("customer_response", "select", {"options": [{"value": "accepted", "label": "Accepted"},
                                                 {"value": "rejected", "label": "Rejected"}]})])
PART = make_object("part", [("name", "text"), ("stock", "integer")])
PURCHASE_REQUEST = make_object("purchase_request", [
    ("name", "text"), ("status", "select", {"options": [{"value": "ordered", "label": "Ordered"},
                                                        {"value": "received", "label": "Received"}]})])
SPARE_PART_REQUEST = make_object("spare_part_request", [
    ("part", "lookup", {"target": "part"}), ("quantity", "integer"), ("agent", "user"),
    ("purchase_request", "lookup", {"target": "purchase_request"})])
SCHEMA = SimpleSchema([CONTRACT, OPPORTUNITY, PART, PURCHASE_REQUEST, SPARE_PART_REQUEST])


def approval(step_id: str, *people: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "approval", "approvers": list(people), **options}


def flow(*steps: Mapping[str, Any], object: str = "contract", **extra: Any) -> dict[str, Any]:
    return {"api_name": "test_flow", "label": "Test flow", "object": object, "trigger": {"on": "button"},
            "steps": list(steps), **extra}
