"""SLA policies and the pure SLA clock.

A policy (kind `sla_policies`) gives the records of one object targets in business time
per metric (first reply, next reply, resolution) and priority, on a business calendar;
statuses that pause the clocks; and actions for warnings and breaches (run by the runtime,
opaque here).

A `MetricClock` is one metric's clock on one record. Its transitions are pure functions
returning a new clock; the runtime stores clocks, calls `check` from a timer at
`next_check_at`, and runs the policy's actions for the events `check` returns. `check` is
the only source of events, so call it before pause, resume, achieve or cancel to collect
crossings that happened before; each transition still records a breach that happened
(breached_at) even if no check saw it. All transitions are idempotent (a message handled
twice by the at-least-once outbox changes nothing the second time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.rules import achievement
from tessera.rules.calendar import BusinessCalendar, add_business_time, business_time_between
from tessera.rules.definition import Checker, article, document_schema_problems, object_of

METRICS = ("first_reply", "next_reply", "resolution")
#: What each metric is called where people read it (record pages, list columns, the builder).
METRIC_LABELS = {"first_reply": "First reply", "next_reply": "Next reply", "resolution": "Resolution"}
#: The targets key used for a priority the policy does not name (or no priority).
DEFAULT_TARGET = "default"
_DURATION = re.compile(r"^PT(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def parse_duration(value: int | str) -> timedelta:
    """A target: minutes as an integer, or an ISO 8601 duration of hours, minutes and
    seconds ("PT2H", "PT1H30M"). Days are refused: in business time "a day" could mean 24
    business hours or one working day."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        return timedelta(minutes=value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration like PT2H or PT1H30M (or a number of minutes)")
    h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(hours=h, minutes=m, seconds=s)


# -- policies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPolicy:
    metric: str
    targets: Mapping[str, timedelta]
    warn_at: float | None = None
    #: A condition over the record: while it holds, the metric is met (the clock achieved).
    achieved_when: str | None = None
    #: next_reply only: a clock starts each time this becomes true (a customer wrote).
    starts_when: str | None = None

    def target(self, priority: str | None) -> timedelta | None:
        """The target for a priority value: its own, else the "default" one, else None (the
        metric does not apply to records of that priority)."""
        if priority is not None and str(priority) in self.targets:
            return self.targets[str(priority)]
        return self.targets.get(DEFAULT_TARGET)


@dataclass(frozen=True, eq=False)
class SlaPolicy:
    api_name: str
    label: str
    object: str
    calendar: str
    metrics: tuple[MetricPolicy, ...]
    applies_when: str | None = None
    order: int = 0
    active: bool = True
    priority_field: str = "priority"
    status_field: str = "status"
    pause_when_status: frozenset[str] = frozenset()
    warning_actions: tuple[Mapping[str, Any], ...] = ()
    breach_actions: tuple[Mapping[str, Any], ...] = ()
    uid: str | None = None
    #: A condition over the record: while it holds, open clocks are cancelled and none start.
    cancel_when: str | None = None

    def metric(self, name: str) -> MetricPolicy | None:
        return next((m for m in self.metrics if m.metric == name), None)

    def target(self, metric: str, priority: str | None) -> timedelta | None:
        found = self.metric(metric)
        return found.target(priority) if found is not None else None

    def pauses(self, status: Any) -> bool:
        """Whether a record in this status has its clocks stopped."""
        return status is not None and str(status) in self.pause_when_status


def parse_sla_policy(doc: Mapping[str, Any]) -> SlaPolicy:
    """The policy a (valid) SLA policy document describes."""
    metrics = tuple(
        MetricPolicy(str(m["metric"]), {str(k): parse_duration(v) for k, v in m["targets"].items()},
                     float(m["warn_at"]) if m.get("warn_at") is not None else None,
                     m.get("achieved_when") or None, m.get("starts_when") or None)
        for m in doc["metrics"]
    )
    return SlaPolicy(
        api_name=str(doc["api_name"]), label=str(doc.get("label") or doc["api_name"]), object=str(doc["object"]),
        calendar=str(doc["calendar"]), metrics=metrics, applies_when=doc.get("applies_when") or None,
        order=int(doc.get("order", 0)), active=bool(doc.get("active", True)),
        priority_field=str(doc.get("priority_field") or "priority"),
        status_field=str(doc.get("status_field") or "status"),
        pause_when_status=frozenset(str(s) for s in doc.get("pause_when_status", ())),
        warning_actions=tuple(dict(a) for a in doc.get("warning_actions", ())),
        breach_actions=tuple(dict(a) for a in doc.get("breach_actions", ())),
        uid=doc.get("uid"), cancel_when=doc.get("cancel_when") or None,
    )


def choose_policy(policies: Iterable[SlaPolicy], applies: Callable[[SlaPolicy], bool]) -> SlaPolicy | None:
    """The first active policy, by order then api_name, for which `applies(policy)` (the
    caller evaluates applies_when on the record) is true."""
    for policy in sorted(policies, key=lambda p: (p.order, p.api_name)):
        if policy.active and (policy.applies_when is None or applies(policy)):
            return policy
    return None


def sla_policy_formulas(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, source) of the formulas of a (valid) policy: conditions (boolean)
    over its object."""
    out = [(f"/{key}", str(doc[key])) for key in ("applies_when", "cancel_when") if doc.get(key)]
    for i, m in enumerate(doc.get("metrics", ())):
        out += [(f"/metrics/{i}/{key}", str(m[key])) for key in ("achieved_when", "starts_when") if m.get(key)]
    return out


def sla_policy_fields(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, field api_name) of the object's fields a (valid) policy names."""
    return [("/priority_field", str(doc.get("priority_field") or "priority")),
            ("/status_field", str(doc.get("status_field") or "status"))]


def sla_policy_problems(doc: Any, schema: Schema, *, calendars: Collection[str] | None = None,
                        check_formulas: bool = True) -> list[FieldProblem]:
    """Every problem of an SLA policy document: its JSON Schema first (and only, if that
    fails), then the object, fields, priorities, statuses, targets and applies_when.
    `calendars`: the api_names of existing calendars, to check the one named."""
    problems = document_schema_problems("sla_policies", doc, "SLA policy")
    if problems:
        return problems
    if calendars is not None and doc["calendar"] not in calendars:
        problems.append(FieldProblem("/calendar", f"there is no calendar named {doc['calendar']!r}",
                                     "unknown_calendar"))
    seen: set[str] = set()
    for i, m in enumerate(doc["metrics"]):
        if m["metric"] in seen:
            problems.append(FieldProblem(f"/metrics/{i}/metric", f"{m['metric']} has targets twice in this policy"))
        seen.add(m["metric"])
    obj, found = object_of(doc, schema)
    problems += found
    if obj is None:
        return problems
    c = Checker(obj, schema, problems, check_formulas)
    for path, source in sla_policy_formulas(doc):
        c.formula(source, path)
    status_name = str(doc.get("status_field") or "status")
    for i, m in enumerate(doc["metrics"]):
        pointer = f"/metrics/{i}/achieved_when"
        if m.get("achieved_when") and not any(p.field == pointer for p in problems):
            # A condition that checks may still be met the moment the clock starts.
            choice = achievement.choice_of(obj, str(m["achieved_when"]))
            problems += [FieldProblem(pointer, text, "achieved_at_once") for text in achievement.mistakes(
                obj, m["metric"], choice, status_field=status_name, paused=doc.get("pause_when_status", ()))]
        if m.get("starts_when") and m["metric"] != "next_reply":
            problems.append(FieldProblem(f"/metrics/{i}/starts_when", f"only next_reply has starts_when: "
                                         f"{m['metric']} starts when the record is created (or the policy "
                                         "first applies to it)"))
    priority = c.field(str(doc.get("priority_field") or "priority"), "/priority_field")
    priorities = _options(priority)
    if priority is not None and priority.type not in ("select", "text", "integer"):
        problems.append(FieldProblem("/priority_field", f"{priority.label} is {article(priority.type)} field; the "
                                     "priority is a select (or text or integer) field"))
    for i, m in enumerate(doc["metrics"]):
        for key in m["targets"]:
            if priorities is not None and key != DEFAULT_TARGET and key not in priorities:
                problems.append(FieldProblem(f"/metrics/{i}/targets/{key}", f"{key!r} is not a value of "
                                             f"{priority.label if priority else 'the priority'} (one of "
                                             f"{', '.join(priorities)}, or \"default\")"))
    status = c.field(str(doc.get("status_field") or "status"), "/status_field")
    statuses = _options(status)
    for i, value in enumerate(doc.get("pause_when_status", ())):
        if statuses is not None and value not in statuses:
            problems.append(FieldProblem(f"/pause_when_status/{i}", f"{value!r} is not a value of {status.label}"  # type: ignore[union-attr]
                                         f" (one of {', '.join(statuses)})"))
    return problems


def _options(fdef: Any) -> list[str] | None:
    if fdef is None or fdef.type != "select":
        return None
    return [str(o.get("value")) for o in fdef.props.get("options", [])]


# -- the clock -------------------------------------------------------------------------------


class Stage(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    #: Past due and not yet achieved (still open).
    BREACHED = "breached"
    ACHIEVED = "achieved"
    CANCELLED = "cancelled"


OPEN_STAGES = (Stage.RUNNING, Stage.PAUSED, Stage.BREACHED)
WARNING = "warning"
BREACH = "breach"


@dataclass(frozen=True)
class MetricClock:
    """One metric's clock on one record.

    `due_at` = started_at + target + paused_total in business time; `warn_at` likewise
    with warn_fraction * target (None: no warning). A clock achieved late keeps its
    breached_at: `breached` tells whether the target was missed, `stage` where it is now.
    `warned` and breached_at make each event happen once.
    """

    metric: str
    stage: Stage
    started_at: datetime
    due_at: datetime
    target: timedelta
    warn_at: datetime | None = None
    warn_fraction: float | None = None
    paused_total: timedelta = timedelta(0)
    paused_since: datetime | None = None
    achieved_at: datetime | None = None
    breached_at: datetime | None = None
    cancelled_at: datetime | None = None
    warned: bool = False

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    @property
    def met(self) -> bool:
        """Achieved in time."""
        return self.stage == Stage.ACHIEVED and self.breached_at is None

    def as_json(self) -> dict[str, Any]:
        """The clock as JSON (for a JSON column or an event): instants ISO 8601, durations
        in seconds."""
        out: dict[str, Any] = {"metric": self.metric, "stage": str(self.stage), "target": self.target.total_seconds(),
                               "warn_fraction": self.warn_fraction,
                               "paused_total": self.paused_total.total_seconds(), "warned": self.warned}
        for key in ("started_at", "due_at", "warn_at", "paused_since", "achieved_at", "breached_at", "cancelled_at"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricClock:
        def instant(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            metric=str(data["metric"]), stage=Stage(data["stage"]), started_at=instant("started_at"),  # type: ignore[arg-type]
            due_at=instant("due_at"), target=timedelta(seconds=data["target"]),  # type: ignore[arg-type]
            warn_at=instant("warn_at"), warn_fraction=data.get("warn_fraction"),
            paused_total=timedelta(seconds=data.get("paused_total") or 0), paused_since=instant("paused_since"),
            achieved_at=instant("achieved_at"), breached_at=instant("breached_at"),
            cancelled_at=instant("cancelled_at"), warned=bool(data.get("warned")),
        )


def start(metric: str, target: timedelta, calendar: BusinessCalendar, at: datetime,
          warn_fraction: float | None = None) -> MetricClock:
    """A running clock from `at` (a start outside working time counts from the next
    working interval, as add_business_time does)."""
    if target < timedelta(0):
        raise ValueError("a target cannot be negative")
    if warn_fraction is not None and not 0 < warn_fraction < 1:
        raise ValueError("warn_fraction is a share of the target between 0 and 1, like 0.75")
    return _timed(MetricClock(metric, Stage.RUNNING, at, at, target, warn_fraction=warn_fraction), calendar)


def due_times(started_at: datetime, target: timedelta, paused_total: timedelta, calendar: BusinessCalendar,
              warn_fraction: float | None = None, warned: bool = False,
              warn_at: datetime | None = None) -> tuple[datetime, datetime | None]:
    """(due_at, warn_at) of a clock with these parts: due after target + paused_total of
    business time from started_at; the warning likewise after warn_fraction of the target,
    until it was sent (then `warn_at` stays). What `recompute` gives an open clock, for
    callers that recompute many stored clocks without building each one."""
    due = add_business_time(started_at, target + paused_total, calendar)
    if warn_fraction is not None and not warned:
        warn_at = add_business_time(started_at, target * warn_fraction + paused_total, calendar)
    return due, warn_at


def _timed(clock: MetricClock, calendar: BusinessCalendar) -> MetricClock:
    """The clock with due_at (and warn_at, until the warning is sent) from its target."""
    due, warn = due_times(clock.started_at, clock.target, clock.paused_total, calendar, clock.warn_fraction,
                          clock.warned, clock.warn_at)
    return replace(clock, due_at=due, warn_at=warn)


def _reached(clock: MetricClock, at: datetime) -> datetime:
    """How far the clock has run by `at`: a paused clock stopped at its pause."""
    if clock.stage == Stage.PAUSED and clock.paused_since is not None:
        return min(at, clock.paused_since)
    return at


def _late(clock: MetricClock, at: datetime) -> MetricClock:
    """Record a breach that happened by `at` (without an event: that is check's)."""
    if clock.breached_at is None and _reached(clock, at) >= clock.due_at:
        return replace(clock, breached_at=clock.due_at, warned=True)
    return clock


def pause(clock: MetricClock, at: datetime, calendar: BusinessCalendar | None = None) -> MetricClock:
    """Stop a running (or breached) clock at `at`; the time until resume does not count.
    `calendar` is accepted for symmetry with resume; stopping needs none."""
    if clock.stage not in (Stage.RUNNING, Stage.BREACHED):
        return clock
    # No breach is recorded here: check() on the paused clock still finds a crossing that
    # happened before the pause (it reads the clock as of paused_since) and gives its event.
    return replace(clock, stage=Stage.PAUSED, paused_since=max(at, clock.started_at))


def resume(clock: MetricClock, at: datetime, calendar: BusinessCalendar) -> MetricClock:
    """Restart a paused clock: due (and warn, if not sent) move later by the business time
    it was paused. A clock breached before its pause stays breached."""
    if clock.stage != Stage.PAUSED or clock.paused_since is None:
        return clock
    clock = _late(clock, at)
    paused = max(business_time_between(clock.paused_since, at, calendar), timedelta(0))
    clock = replace(clock, paused_total=clock.paused_total + paused, paused_since=None,
                    stage=Stage.BREACHED if clock.breached_at is not None else Stage.RUNNING)
    return _timed(clock, calendar)


def achieve(clock: MetricClock, at: datetime, calendar: BusinessCalendar | None = None) -> MetricClock:
    """The metric is met at `at` (the reply was sent, the ticket solved). Late: breached_at
    is set (to due_at) as well. With `calendar`, a pause still running is added to
    paused_total, for reports of time spent waiting."""
    if not clock.is_open:
        return clock
    clock = _late(clock, at)
    if clock.stage == Stage.PAUSED and clock.paused_since is not None and calendar is not None:
        paused = max(business_time_between(clock.paused_since, at, calendar), timedelta(0))
        clock = replace(clock, paused_total=clock.paused_total + paused)
    return replace(clock, stage=Stage.ACHIEVED, achieved_at=at, paused_since=None)


def cancel(clock: MetricClock, at: datetime) -> MetricClock:
    """The metric no longer applies (the policy changed, the record was deleted)."""
    if not clock.is_open:
        return clock
    return replace(_late(clock, at), stage=Stage.CANCELLED, cancelled_at=at, paused_since=None)


def check(clock: MetricClock, now: datetime) -> tuple[MetricClock, list[str]]:
    """The clock at `now` and the events crossed since the last check: "warning" when warn
    time passed, "breach" when due time passed, each at most once per clock. A paused
    clock is checked as of its pause. When both are crossed at once (the timer ran late)
    only "breach" is given: a warning that the target is about to be missed is no use then.
    """
    if not clock.is_open:
        return clock, []
    reached = _reached(clock, now)
    if clock.breached_at is None and reached >= clock.due_at:
        stage = Stage.BREACHED if clock.stage == Stage.RUNNING else clock.stage
        return replace(clock, stage=stage, breached_at=clock.due_at, warned=True), [BREACH]
    if not clock.warned and clock.warn_at is not None and reached >= clock.warn_at:
        return replace(clock, warned=True), [WARNING]
    return clock, []


def recompute(clock: MetricClock, calendar: BusinessCalendar, target: timedelta | None = None) -> MetricClock:
    """An open clock after its calendar or target changed (a new priority): due from
    started_at + target + paused business time on `calendar`. Events already given stay
    given: a breached clock stays breached, a sent warning is not sent again."""
    if not clock.is_open:
        return clock
    if target is not None and target < timedelta(0):
        raise ValueError("a target cannot be negative")
    return _timed(replace(clock, target=clock.target if target is None else target), calendar)


def next_check_at(clock: MetricClock) -> datetime | None:
    """When `check` can next give an event: the warning, else the due time; None for a
    clock that is paused, closed or already breached."""
    if clock.stage != Stage.RUNNING:
        return None
    if not clock.warned and clock.warn_at is not None and clock.warn_at < clock.due_at:
        return clock.warn_at
    return clock.due_at if clock.breached_at is None else None


def elapsed(clock: MetricClock, now: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time counted against the target by `now` (pauses left out)."""
    end = clock.achieved_at or clock.cancelled_at or _reached(clock, now)
    return business_time_between(clock.started_at, end, calendar) - clock.paused_total


def remaining(clock: MetricClock, now: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time left until due at `now` (negative: how long overdue). For a closed
    clock, the margin it was closed with."""
    end = clock.achieved_at or clock.cancelled_at or _reached(clock, now)
    return business_time_between(end, clock.due_at, calendar)


def clocks_by_metric(clocks: Sequence[MetricClock]) -> dict[str, MetricClock]:
    """The latest clock of each metric (next_reply has one per customer message)."""
    out: dict[str, MetricClock] = {}
    for clock in sorted(clocks, key=lambda c: c.started_at):
        out[clock.metric] = clock
    return out


__all__ = [
    "BREACH", "DEFAULT_TARGET", "METRICS", "METRIC_LABELS", "OPEN_STAGES", "WARNING", "MetricClock", "MetricPolicy",
    "SlaPolicy", "Stage", "achieve", "cancel", "check", "choose_policy", "clocks_by_metric", "due_times", "elapsed",
    "next_check_at", "parse_duration", "parse_sla_policy", "pause", "recompute", "remaining", "resume",
    "sla_policy_fields", "sla_policy_formulas", "sla_policy_problems", "start",
]
