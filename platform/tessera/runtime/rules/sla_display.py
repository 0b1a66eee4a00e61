"""SLA clocks as people read them, on a record's page and in a list's columns.

Each clock is read into a `ClockReading`: the metric's name, the policy, the target (due
time), and its state in words — "3 h 20 min left (business hours)", "Warning: 25 min left
(business hours)", "Paused", "Breached 2 h ago", "Achieved" — with a short form for a
list cell and a tone for its look (the words always say it too: never colour alone).

`SlaColumns` is the list views' column source: the object's lists offer one column per
metric its active policies measure ("SLA: First reply"). The cells of a page of records
are read with one query over the clocks of that page; the column sorts in SQL by the due
time of the open clock (those without one last).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.tables import sla_clocks
from tessera.meta.model import FieldDef, ObjectDef
from tessera.rules import sla
from tessera.rules.calendar import BusinessCalendar
from tessera.rules.sla import METRIC_LABELS, METRICS, MetricClock, SlaPolicy, Stage
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.views import ListColumn

if TYPE_CHECKING:
    from tessera.runtime.rules.sla import SlaService

#: Where a list column's name says it is an SLA clock: `sla:first_reply`.
PREFIX = "sla:"
#: What an SLA column's sort values are: the due time of the open clock.
DUE = FieldDef({"uid": "sys_sla_due", "api_name": "sla_due", "label": "Due", "type": "datetime"})
BUSINESS = "(business hours)"


@dataclass(frozen=True)
class ClockReading:
    """One clock as a person reads it. `tone`: running, warning, paused, breached, achieved
    or cancelled (the look of its cell; the words say the same)."""

    metric: str
    label: str
    policy: str
    tone: str
    #: The state in a sentence, for the record page.
    text: str
    #: The state in a few words, for a list cell.
    short: str
    due_at: datetime | None
    started_at: datetime
    achieved_at: datetime | None


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def span(amount: timedelta) -> str:
    """A length of time in words, to the minute: "3 h 20 min", "45 min", "less than a
    minute". Hours are not turned into days: in business time a day is not 24 hours."""
    minutes = int(abs(amount).total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    if not hours and not minutes:
        return "less than a minute"
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


def ago(amount: timedelta) -> str:
    """How long ago, in real time: "just now", "25 min ago", "2 h ago", "3 days ago"."""
    seconds = int(amount.total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def read_clock(clock: MetricClock, policy: SlaPolicy | None, calendar: BusinessCalendar | None,
               now: datetime) -> ClockReading:
    """A clock's state at `now` in words. Time left is business time on the policy's
    calendar; how long ago a target was missed is real time."""
    left = sla.remaining(clock, now, calendar) if calendar is not None else None
    overdue = clock.breached_at is not None or (clock.is_open and clock.due_at <= _reached(clock, now))
    if clock.stage == Stage.ACHIEVED:
        tone, short = ("breached", "Achieved late") if clock.breached else ("achieved", "Achieved")
        margin = f", {span(left)} {'after' if clock.breached else 'before'} the target" if left is not None else ""
        text = short + margin
    elif clock.stage == Stage.CANCELLED:
        tone, short, text = "cancelled", "Cancelled", "Cancelled: the policy no longer applies"
    elif clock.stage == Stage.PAUSED:
        if overdue:
            tone, short, text = "breached", "Paused, breached", f"Paused; breached {ago(now - clock.due_at)}"
        else:
            tone, short = "paused", "Paused"
            text = "Paused" + (f": {span(left)} left {BUSINESS} when it goes on" if left is not None else "")
    elif overdue:
        tone, short = "breached", f"Breached {ago(now - clock.due_at)}"
        text = short
    else:
        remains = f"{span(left)} left" if left is not None else "running"
        warned = clock.warned or (clock.warn_at is not None and clock.warn_at <= now)
        tone = "warning" if warned else "running"
        short = f"Warning: {remains}" if warned else remains
        text = f"{short} {BUSINESS}" if left is not None else short
    return ClockReading(metric=clock.metric, label=metric_label(clock.metric),
                        policy=policy.label if policy is not None else "", tone=tone, text=text, short=short,
                        due_at=clock.due_at, started_at=clock.started_at, achieved_at=clock.achieved_at)


def _reached(clock: MetricClock, now: datetime) -> datetime:
    """How far a clock has run: a paused one stopped at its pause."""
    if clock.stage == Stage.PAUSED and clock.paused_since is not None:
        return min(now, clock.paused_since)
    return now


class SlaColumns:
    """The list views' SLA columns: one per metric the object's active policies measure."""

    def __init__(self, service: SlaService) -> None:
        self.service = service

    def columns(self, conn: Connection, snap: Snapshot, obj: ObjectDef) -> list[ListColumn]:
        measured = {m.metric for p in self.service.policies(conn, snap, obj.api_name) for m in p.metrics}
        return [ListColumn(f"{PREFIX}{metric}", f"SLA: {metric_label(metric)}", self, _due(obj, metric), DUE)
                for metric in METRICS if metric in measured]

    def fill(self, actor: Actor, obj: ObjectDef, columns: list[ListColumn], records: list[dict[str, Any]]) -> None:
        wanted = {c.api_name: c.api_name.removeprefix(PREFIX) for c in columns}
        found = self.service.readings(obj, [int(r["id"]) for r in records], list(wanted.values()))
        for record in records:
            display, tones = record.setdefault("_display", {}), record.setdefault("_tone", {})
            for name, metric in wanted.items():
                reading = found.get((int(record["id"]), metric))
                display[name] = reading.short if reading is not None else ""
                tones[name] = reading.tone if reading is not None else ""


def _due(obj: ObjectDef, metric: str) -> Any:
    """The sort key of a metric's column: its open clock's due time (a correlated
    subquery over the unique (object, record, metric) index)."""
    open_stages = [str(s) for s in sla.OPEN_STAGES]

    def due(table: sa.Table) -> sa.ColumnElement[Any]:
        c = sla_clocks.c
        return (sa.select(c.due_at).where(c.object_uid == obj.uid, c.record_id == table.c.id, c.metric == metric,
                                          c.stage.in_(open_stages))
                .scalar_subquery())
    return due


__all__ = ["ClockReading", "SlaColumns", "ago", "metric_label", "read_clock", "span"]
