"""SLA clocks in the running platform: started, paused, achieved and cancelled with the
records they measure, swept for warnings and breaches, recomputed when a calendar changes,
and read back per record and as compliance figures.

- On every save (the pipeline's after_write hook, in the write's own transaction, so a
  clock never disagrees with its record): the record's policy is chosen (the first active
  one of its object, by order, whose applies_when holds); its missing clocks start
  (first_reply and resolution when the record is created or the policy first applies,
  next_reply each time starts_when becomes true); clocks pause and resume with the status,
  are achieved when achieved_when holds, get a new due time when the priority changes, and
  are cancelled when the policy stops applying or cancel_when holds. A record moving to
  another policy keeps what it achieved; its open clocks restart under the new policy from
  when they began (the customer has been waiting since then).
- A sweep (timer kind `sla.sweep`, every SWEEP_EVERY while a policy is active) claims the
  clocks whose warning or due time has passed, with row locks (SKIP LOCKED on PostgreSQL)
  over the (stage, due_at) index, applies `sla.check`, stores the clock, emits
  `sla.warning` / `sla.breach` and runs the policy's warning_actions / breach_actions.
  `check` marks each event given on the clock, so a sweep that runs twice (or two workers)
  gives each event once; actions are keyed by the clock, so their messages go once too.
- A calendar change recomputes the due times of every open clock counted on it, as a
  background job in batches (one executemany UPDATE each), with progress.

The clock arithmetic is the rules engine's (tessera.rules.sla), pure; this module only
stores clocks in `tessera_sla_clocks` (one row per record and metric: a restarted
next_reply clock replaces the one before it) and decides when each transition happens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.actions import ActionError
from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.data.engine import is_sqlite
from tessera.data.metastore import StoredDocument
from tessera.data.tables import sla_clocks
from tessera.errors import FieldProblem, Forbidden, InvalidInput
from tessera.formula import FormulaError, evaluate
from tessera.meta.model import ObjectDef
from tessera.rules import sla
from tessera.rules.calendar import BusinessCalendar, CalendarError, add_business_time, calendar_from_document
from tessera.rules.sla import MetricClock, SlaPolicy, Stage
from tessera.runtime.background.jobs import JobContext
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import caused_by
from tessera.runtime.rules.sla_display import ClockReading, read_clock

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.actions import ActionRunner
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.save import RecordChange, SaveBatch
    from tessera.runtime.records.service import RecordService

log = logging.getLogger("tessera.sla")
#: How often the sweep looks for warnings and breaches while any policy is active.
SWEEP_EVERY = timedelta(seconds=30)
SWEEP_KEY = "sla:sweep"
#: Clocks claimed per sweep; a sweep that fills it runs again at once for the rest.
SWEEP_BATCH = 500
#: Clocks recomputed per transaction by the calendar job (and the benchmark).
RECOMPUTE_BATCH = 5000
GROUPS = ("policy", "metric", "priority")
EVENTS = {sla.WARNING: "sla.warning", sla.BREACH: "sla.breach"}
_OPEN = [str(s) for s in sla.OPEN_STAGES]
#: The columns a clock is stored in (all but the identity ones).
_CLOCK_COLUMNS = ("policy_uid", "metric", "stage", "target_seconds", "started_at", "due_at", "warn_at",
                  "paused_seconds", "paused_since", "achieved_at", "breached_at", "warned")


@dataclass(frozen=True)
class Stored:
    """A clock as stored: its row id and policy with the engine's clock."""

    id: int
    policy_uid: str
    clock: MetricClock
    row: Mapping[str, Any]


class SlaService:
    def __init__(self, kernel: Kernel, events: EventBus, timers: TimerService, jobs: JobService,
                 documents: DocumentService, formulas: FormulaService, access: AccessService, records: RecordService,
                 actions: ActionRunner) -> None:
        self.kernel = kernel
        self.events = events
        self.timers = timers
        self.jobs = jobs
        self.documents = documents
        self.formulas = formulas
        self.access = access
        self.records = records
        self.actions = actions
        #: What time it is for SLA clocks (None: the real time). Tests set a fixed clock so
        #: that saves and sweeps happen "on Monday at 10:00" without waiting.
        self.clock: Callable[[], datetime] | None = None
        self._policies: tuple[int, dict[str, list[SlaPolicy]], dict[str, SlaPolicy]] = (-1, {}, {})
        self._calendars: dict[tuple[str, int], BusinessCalendar] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        # Whole seconds: paused time is stored in seconds, so every instant a clock is
        # computed from is too, and a recompute from the stored row gives the same due time.
        return (self.clock() if self.clock is not None else datetime.now(UTC)).replace(microsecond=0)

    # -- the policies and calendars of the moment ---------------------------------------
    def policies(self, conn: Connection, snap: Snapshot, object_name: str | None = None) -> list[SlaPolicy]:
        """The active policies of an object (all objects: None), parsed once per revision."""
        revision, by_object, _by_uid = self._policies
        if revision != snap.revision:
            by_object, by_uid = {}, {}
            for stored in self.documents.active(conn, snap, "sla_policies"):
                try:
                    policy = sla.parse_sla_policy({**stored.body, "uid": stored.uid})
                except (KeyError, ValueError) as error:  # kept valid by the document service
                    log.warning("SLA policy %s cannot be used: %s", stored.api_name, error)
                    continue
                by_uid[stored.uid] = policy
                if policy.active:
                    by_object.setdefault(policy.object, []).append(policy)
            for found in by_object.values():
                found.sort(key=lambda p: (p.order, p.api_name))
            self._policies = (snap.revision, by_object, by_uid)
        if object_name is None:
            return [p for found in self._policies[1].values() for p in found]
        return self._policies[1].get(object_name, [])

    def policy(self, conn: Connection, snap: Snapshot, uid: str) -> SlaPolicy | None:
        """A policy by uid (inactive ones too, for clocks they started)."""
        self.policies(conn, snap)
        return self._policies[2].get(uid)

    def calendar(self, conn: Connection, snap: Snapshot, name: str) -> BusinessCalendar | None:
        """The business calendar of that api_name. Parsed calendars are kept per document
        version rather than per metadata revision, so the day spans they cache stay warm
        while unrelated metadata changes."""
        for stored in self.documents.active(conn, snap, "calendars"):
            if stored.api_name == name:
                return self._parsed(stored)
        return None

    def _parsed(self, stored: StoredDocument) -> BusinessCalendar | None:
        key = (stored.uid, stored.version)
        found = self._calendars.get(key)
        if found is None:
            try:
                found = calendar_from_document(stored.body)
            except CalendarError as error:
                log.warning("calendar %s cannot be used: %s", stored.api_name, error)
                return None
            with self._lock:
                self._calendars = {k: v for k, v in self._calendars.items() if k[0] != stored.uid}
                self._calendars[key] = found
        return found

    def _holds(self, snap: Snapshot, obj: ObjectDef, source: str | None, record: Mapping[str, Any] | None,
               ctx: Any) -> bool:
        """Whether a policy's condition is TRUE for a record (blank is not)."""
        if not source or record is None:
            return False
        try:
            # evaluate() compiles a checked formula once and keeps it (this runs in every save).
            checked = self.formulas.checked(snap, obj, source, "boolean")
            return evaluate(checked, record, ctx) is True
        except FormulaError as error:
            # A field the policy reads was deleted with force: the save goes on, the clock waits.
            log.warning("SLA condition %r failed on %s %s: %s", source, obj.api_name, record.get("id"), error)
            return False

    # -- on saves -----------------------------------------------------------------------
    def after_write(self, batch: SaveBatch) -> None:
        """after_write hook: bring the saved records' clocks up to date."""
        policies = self.policies(batch.conn, batch.snapshot, batch.obj.api_name)
        if not policies:
            return
        changes = [c for c in batch.changes if c.record_id is not None and not c.problems]
        if not changes:
            return
        conn, snap, obj = batch.conn, batch.snapshot, batch.obj
        at = self.now()
        existing = {} if batch.creating else self._load(conn, snap, obj, [c.record_id for c in changes if c.record_id])
        ctx = self.formulas.context(conn, snap, batch.actor)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for change in changes:
            assert change.record_id is not None
            found = existing.get(change.record_id, {})
            for metric, (policy_uid, clock) in self._transitions(conn, snap, obj, policies, change, found, at,
                                                                 ctx).items():
                row = _row(clock, policy_uid)
                stored = found.get(metric)
                if stored is None:
                    inserts.append({**row, "object_uid": obj.uid, "record_id": change.record_id})
                elif any(stored.row[k] != row[k] for k in _CLOCK_COLUMNS):
                    updates.append({**{f"b_{k}": v for k, v in row.items()}, "b_id": stored.id})
        if inserts:
            conn.execute(sa.insert(sla_clocks), inserts)
        if updates:
            conn.execute(_UPDATE_ALL, updates)

    def _load(self, conn: Connection, snap: Snapshot, obj: ObjectDef,
              record_ids: list[int]) -> dict[int, dict[str, Stored]]:
        query = sa.select(sla_clocks).where(sla_clocks.c.object_uid == obj.uid,
                                            sla_clocks.c.record_id.in_(record_ids))
        if not is_sqlite(conn):
            # The sweep may be marking one of these clocks warned right now: wait for it,
            # rather than write back the clock as it was and warn twice.
            query = query.with_for_update()
        out: dict[int, dict[str, Stored]] = {}
        for row in conn.execute(query).mappings():
            policy = self.policy(conn, snap, row["policy_uid"])
            out.setdefault(row["record_id"], {})[row["metric"]] = Stored(
                row["id"], row["policy_uid"], _clock(row, _warn_fraction(policy, row["metric"])), row)
        return out

    def _transitions(self, conn: Connection, snap: Snapshot, obj: ObjectDef, policies: list[SlaPolicy],
                     change: RecordChange, found: dict[str, Stored], at: datetime,
                     ctx: Any) -> dict[str, tuple[str, MetricClock]]:
        """The record's clocks after this save: (policy uid, clock) per metric."""
        record = {**(change.before or {}), **change.values, "id": change.record_id}
        before = change.before
        out = {metric: (s.policy_uid, s.clock) for metric, s in found.items()}
        chosen = sla.choose_policy(policies, lambda p: self._holds(snap, obj, p.applies_when, record, ctx))
        calendar = self.calendar(conn, snap, chosen.calendar) if chosen is not None else None
        if chosen is not None and calendar is None:
            log.warning("SLA policy %s counts on the calendar %r, which does not exist; its clocks wait",
                        chosen.api_name, chosen.calendar)
            return out
        cancelled = chosen is None or self._holds(snap, obj, chosen.cancel_when, record, ctx)
        # Clocks of another policy (or of none, now) stop here; the new policy restarts them below.
        for metric, (policy_uid, clock) in list(out.items()):
            if clock.is_open and (cancelled or chosen is None or policy_uid != chosen.uid):
                out[metric] = (policy_uid, sla.cancel(clock, at))
        if cancelled or chosen is None or calendar is None:
            return out
        priority = record.get(chosen.priority_field)
        paused = chosen.pauses(record.get(chosen.status_field))
        for mp in chosen.metrics:
            target = mp.target(priority)
            uid, clock = out.get(mp.metric, (chosen.uid, None))
            if clock is not None and clock.is_open:
                if target is None:  # the new priority has no target for this metric
                    out[mp.metric] = (uid, sla.cancel(clock, at))
                    continue
                if target != clock.target:
                    clock = sla.recompute(clock, calendar, target)
            elif target is not None and self._starts(snap, obj, mp, clock, record, before, ctx):
                fresh = sla.start(mp.metric, target, calendar, at, mp.warn_at)
                if clock is not None and clock.stage == Stage.CANCELLED:
                    # Restarted (under another policy, or applying again): counted from when
                    # it first began, as the customer has been waiting since then.
                    fresh = sla.recompute(replace(fresh, started_at=clock.started_at,
                                                  paused_total=clock.paused_total), calendar)
                uid, clock = chosen.uid, fresh
            if clock is None or not clock.is_open:
                continue
            if self._holds(snap, obj, mp.achieved_when, record, ctx):
                clock = sla.achieve(clock, at, calendar)
            elif paused:
                clock = sla.pause(clock, at)
            else:
                clock = sla.resume(clock, at, calendar)
            out[mp.metric] = (uid, clock)
        return out

    def _starts(self, snap: Snapshot, obj: ObjectDef, mp: sla.MetricPolicy, current: MetricClock | None,
                record: Mapping[str, Any], before: Mapping[str, Any] | None, ctx: Any) -> bool:
        """Whether a metric without an open clock (`current` is closed, or None) starts one now."""
        again = current is None or current.stage == Stage.CANCELLED
        if mp.metric == "next_reply" and mp.starts_when:
            if not self._holds(snap, obj, mp.starts_when, record, ctx):
                return False
            # Each time it *becomes* true: a save that leaves it true starts nothing new.
            return again or not self._holds(snap, obj, mp.starts_when, before, ctx)
        # first_reply and resolution run once per record; a cancelled one may start again.
        return again

    # -- policies and calendars changing ------------------------------------------------
    def policy_changed(self, conn: Connection, stored: StoredDocument) -> None:
        """A policy was saved, trashed or restored: stop its clocks if it no longer runs,
        and make sure the sweep runs while any policy does."""
        if stored.state != "active" or not stored.body.get("active", True):
            conn.execute(sa.update(sla_clocks).where(sla_clocks.c.policy_uid == stored.uid,
                                                     sla_clocks.c.stage.in_(_OPEN))
                         .values(stage=str(Stage.CANCELLED), paused_since=None))
            return
        self.timers.schedule(conn, "sla.sweep", SWEEP_KEY, datetime.now(UTC), {})

    def calendar_changed(self, conn: Connection, stored: StoredDocument) -> None:
        """A calendar was saved: recompute the due times of the open clocks counted on it,
        in the background (there may be a hundred thousand)."""
        if stored.state != "active" or stored.version <= 1:
            return
        uids = _policies_on(conn, stored.api_name)
        if not uids:
            return
        pending = conn.execute(sa.select(sla_clocks.c.id).where(sla_clocks.c.policy_uid.in_(uids),
                                                                sla_clocks.c.stage.in_(_OPEN)).limit(1)).first()
        if pending is not None:
            self.jobs.submit(conn, "sla.recompute", {"calendar": stored.api_name},
                             title=f"Recompute SLA due times on {stored.body.get('label') or stored.api_name}")

    def recompute_all(self, ctx: JobContext) -> dict[str, Any]:
        """The calendar job: every open clock of the policies counting on the calendar,
        RECOMPUTE_BATCH per transaction, in id order, with progress."""
        name = str(ctx.params["calendar"])
        with self.kernel.read() as conn:
            uids = _policies_on(conn, name)
            total = int(conn.execute(sa.select(sa.func.count()).select_from(sla_clocks).where(
                sla_clocks.c.policy_uid.in_(uids), sla_clocks.c.stage.in_(_OPEN))).scalar_one()) if uids else 0
        ctx.progress(0, total, "starting", force=True)
        done, changed, last = 0, 0, 0
        while uids:
            with self.kernel.write() as conn:
                snap = self.kernel.snapshot(conn)
                calendar = self.calendar(conn, snap, name)
                if calendar is None:
                    break  # trashed meanwhile: the clocks keep the due times they have
                count, moved, last = self.recompute_batch(conn, snap, calendar, uids, last)
            if not count:
                break
            done, changed = done + count, changed + moved
            ctx.progress(done, total, f"{done:,} of {total:,} clocks")
        ctx.progress(done, total, "done", force=True)
        return {"calendar": name, "clocks": done, "changed": changed}

    def recompute_batch(self, conn: Connection, snap: Snapshot, calendar: BusinessCalendar, policy_uids: list[str],
                        after_id: int = 0, limit: int = RECOMPUTE_BATCH) -> tuple[int, int, int]:
        """Recompute one batch of open clocks (ids above `after_id`) on `calendar`: one
        SELECT, the engine's due times per clock (as `recompute` gives them), one
        executemany UPDATE of those whose times moved. Returns (clocks read, clocks
        changed, last id)."""
        fractions = {uid: {m.metric: m.warn_at for m in p.metrics}
                     for uid in policy_uids if (p := self.policy(conn, snap, uid)) is not None}
        c = sla_clocks.c
        query = (sa.select(c.id, c.policy_uid, c.metric, c.target_seconds, c.started_at, c.due_at, c.warn_at,
                           c.paused_seconds, c.warned)
                 .where(c.policy_uid.in_(policy_uids), c.stage.in_(_OPEN), c.id > after_id)
                 .order_by(c.id).limit(limit))
        if not is_sqlite(conn):
            query = query.with_for_update()
        rows = conn.execute(query).all()
        params = []
        due_times, seconds = sla.due_times, timedelta
        # What sla.recompute does to an open clock, without building a MetricClock per row:
        # this loop is most of the job's time.
        for id_, uid, metric, target, started, due, warn, paused, warned in rows:
            new_due, new_warn = due_times(started, seconds(seconds=target), seconds(seconds=paused), calendar,
                                          fractions.get(uid, {}).get(metric), warned, warn)
            if new_due != due or new_warn != warn:
                params.append({"b_id": id_, "b_due_at": new_due, "b_warn_at": new_warn})
        if params:
            conn.execute(_UPDATE_DUE, params)
        return len(rows), len(params), (rows[-1][0] if rows else after_id)

    # -- warnings and breaches ----------------------------------------------------------
    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Give the warnings and breaches due by `now` (default: the SLA clock's now), each
        once, with their actions; returns how many of each, and how many clocks it claimed."""
        with self.kernel.write() as conn:
            return self._sweep(conn, now or self.now())

    def fire_sweep(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        found = self._sweep(conn, self.now())
        if not self.policies(conn, self.kernel.snapshot(conn)):
            return  # no policy is active: the next policy saved starts the sweep again
        # A full batch means more are waiting: go again at once.
        later = datetime.now(UTC) + (timedelta(0) if found["claimed"] >= SWEEP_BATCH else SWEEP_EVERY)
        self.timers.schedule(conn, "sla.sweep", SWEEP_KEY, later, {})

    def _sweep(self, conn: Connection, now: datetime) -> dict[str, int]:
        snap = self.kernel.snapshot(conn)
        counts = {"claimed": 0, "warning": 0, "breach": 0}
        c = sla_clocks.c
        # A warning is due before its clock is: for an unwarned clock, due_at lies at most the
        # (target - warning) share of business time after warn_at <= now, so `due_at <=
        # horizon` keeps the claim on the (stage, due_at) index for warnings too.
        horizon = self._horizon(conn, snap, now)
        running = sa.and_(c.stage == str(Stage.RUNNING),
                          sa.or_(c.due_at <= now, sa.and_(c.warned.is_(False), c.warn_at <= now)))
        # A paused clock crossed only if it did so before its pause (check reads it then).
        paused = sa.and_(c.stage == str(Stage.PAUSED),
                         sa.or_(c.paused_since >= c.due_at, sa.and_(c.warned.is_(False), c.warn_at <= c.paused_since)))
        query = (sa.select(sla_clocks)
                 .where(c.stage.in_([str(Stage.RUNNING), str(Stage.PAUSED)]), c.due_at <= horizon,
                        c.breached_at.is_(None), sa.or_(running, paused))
                 .order_by(c.due_at).limit(SWEEP_BATCH))
        if not is_sqlite(conn):
            query = query.with_for_update(skip_locked=True)
        for row in conn.execute(query).mappings().all():
            counts["claimed"] += 1
            for event in self._check(conn, snap, row, now):
                counts[event] += 1
        return counts

    def _horizon(self, conn: Connection, snap: Snapshot, now: datetime) -> datetime:
        horizon = now
        for policy in self.policies(conn, snap):
            calendar = self.calendar(conn, snap, policy.calendar)
            for mp in policy.metrics:
                if mp.warn_at is None or calendar is None or not mp.targets:
                    continue
                gap = max(mp.targets.values()) * (1 - mp.warn_at)
                horizon = max(horizon, add_business_time(now, gap, calendar) + timedelta(seconds=1))
        return horizon

    def _check(self, conn: Connection, snap: Snapshot, row: Mapping[str, Any], now: datetime) -> list[str]:
        """One claimed clock: check it, store it, and announce and act on what it crossed."""
        policy = self.policy(conn, snap, row["policy_uid"])
        obj = snap.by_uid.get(row["object_uid"])
        record = self.actions.load(conn, obj.api_name, row["record_id"]) if obj is not None else None
        clock = _clock(row, _warn_fraction(policy, row["metric"]))
        if policy is None or obj is None or record is None or obj.api_name not in snap.objects:
            # Its record was deleted or its policy purged: nothing is owed any more.
            conn.execute(_UPDATE_ALL, [{**{f"b_{k}": v for k, v in _row(sla.cancel(clock, now), row["policy_uid"])
                                           .items()}, "b_id": row["id"]}])
            return []
        checked, events = sla.check(clock, now)
        if checked != clock:
            conn.execute(_UPDATE_ALL, [{**{f"b_{k}": v for k, v in _row(checked, row["policy_uid"]).items()},
                                        "b_id": row["id"]}])
        for event in events:
            with caused_by(f"sla:{policy.uid}"):
                self.events.emit(conn, EVENTS[event], {
                    "object": obj.api_name, "source": policy.api_name, "metric": clock.metric,
                    "clock": row["id"], "due_at": _iso(clock.due_at)}, object_uid=obj.uid,
                    record_ids=[row["record_id"]])
                self._act(conn, obj, record, policy, row["id"], clock, event)
        return events

    def _act(self, conn: Connection, obj: ObjectDef, record: Mapping[str, Any], policy: SlaPolicy, clock_id: int,
             clock: MetricClock, event: str) -> None:
        """Run the policy's actions for an event, all or none (a failing one is logged: the
        event itself stands)."""
        steps = policy.warning_actions if event == sla.WARNING else policy.breach_actions
        if not steps:
            return
        # The row of a next_reply clock is reused by the next one: its start tells them apart.
        instance = f"{clock_id}.{int(clock.started_at.timestamp())}"
        savepoint = conn.begin_nested()
        try:
            for i, step in enumerate(steps):
                ctx = self.actions.context(conn, obj.api_name, record, key=f"sla:{instance}:{event}:{i}")
                self.actions.run(ctx, step)
            savepoint.commit()
        except (ActionError, FormulaError) as error:
            savepoint.rollback()
            log.warning("SLA %s %s actions on %s %s failed: %s", policy.api_name, event, obj.api_name,
                        record.get("id"), error)

    # -- reading ------------------------------------------------------------------------
    def clocks(self, actor: Actor, object_name: str, record_id: int,
               now: datetime | None = None) -> list[dict[str, Any]]:
        """A record's clocks with the business time left (negative: overdue), for someone
        who may read the record."""
        self.records.get(actor, object_name, record_id)
        now = now or self.now()
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            rows = conn.execute(sa.select(sla_clocks).where(sla_clocks.c.object_uid == obj.uid,
                                                            sla_clocks.c.record_id == record_id)
                                .order_by(sla_clocks.c.id)).mappings().all()
            out = []
            for row in rows:
                policy = self.policy(conn, snap, row["policy_uid"])
                calendar = self.calendar(conn, snap, policy.calendar) if policy is not None else None
                clock = _clock(row, _warn_fraction(policy, row["metric"]))
                left = sla.remaining(clock, now, calendar) if calendar is not None else None
                spent = sla.elapsed(clock, now, calendar) if calendar is not None else None
                out.append({
                    "id": row["id"], "metric": clock.metric, "policy": policy.api_name if policy else None,
                    "stage": str(clock.stage), "met": clock.met, "breached": clock.breached or (
                        clock.stage == Stage.RUNNING and clock.due_at <= now),
                    "target_seconds": int(clock.target.total_seconds()),
                    "elapsed_seconds": None if spent is None else int(spent.total_seconds()),
                    "remaining_seconds": None if left is None else int(left.total_seconds()),
                    "paused_seconds": int(clock.paused_total.total_seconds()),
                    **{k: _iso(getattr(clock, k)) for k in ("started_at", "due_at", "warn_at", "paused_since",
                                                            "achieved_at", "breached_at")}})
        return out

    def readings(self, obj: ObjectDef, record_ids: list[int],
                 metrics: list[str] | None = None) -> dict[tuple[int, str], ClockReading]:
        """The clocks of some records, as people read them, in one query: (record id,
        metric) → reading (only `metrics`, when given). The caller has read the records."""
        if not record_ids:
            return {}
        c = sla_clocks.c
        query = sa.select(sla_clocks).where(c.object_uid == obj.uid, c.record_id.in_(record_ids))
        if metrics is not None:
            query = query.where(c.metric.in_(metrics))
        now = self.now()
        out: dict[tuple[int, str], ClockReading] = {}
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            for row in conn.execute(query.order_by(c.id)).mappings():
                policy = self.policy(conn, snap, row["policy_uid"])
                calendar = self.calendar(conn, snap, policy.calendar) if policy is not None else None
                clock = _clock(row, _warn_fraction(policy, row["metric"]))
                out[(row["record_id"], row["metric"])] = read_clock(clock, policy, calendar, now)
        return out

    def shown(self, actor: Actor, object_name: str, record_id: int) -> list[ClockReading]:
        """A record's clocks for its page, in the order of the metrics (for someone who may
        read the record)."""
        record = self.records.get(actor, object_name, record_id, fields=["id"])
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
        found = self.readings(obj, [int(record["id"])])
        order = {m: i for i, m in enumerate(sla.METRICS)}
        return sorted(found.values(), key=lambda r: order.get(r.metric, len(order)))

    def compliance(self, actor: Actor, object_name: str, group_by: str = "metric",
                   now: datetime | None = None) -> dict[str, Any]:
        """Per policy, metric or priority: clocks met in time, breached, still open, and the
        share met of those decided — over the records the caller may read, in SQL."""
        if group_by not in GROUPS:
            raise InvalidInput(f"group_by must be one of {', '.join(GROUPS)}.",
                               [FieldProblem("group_by", f"must be one of {', '.join(GROUPS)}")])
        now = now or self.now()
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            access = self.access.object(actor, snap, obj)
            access.refuse("read")
            table = snap.table(obj)
            c = sla_clocks.c
            key: Any
            if group_by == "priority":
                names = {p.priority_field for p in self.policies(conn, snap, obj.api_name)} or {"priority"}
                name = sorted(names)[0]
                fdef = obj.field(name)
                if fdef is None or name in access.hidden:
                    raise Forbidden(f"You may not see the {name} of {obj.label} records.")
                key = table.c[fdef.column]
            else:
                key = c.policy_uid if group_by == "policy" else c.metric
            breached = sa.or_(c.breached_at.is_not(None), sa.and_(c.stage == str(Stage.RUNNING), c.due_at <= now))
            met = sa.and_(c.stage == str(Stage.ACHIEVED), c.breached_at.is_(None))
            pending = sa.and_(c.stage.in_([str(Stage.RUNNING), str(Stage.PAUSED)]), sa.not_(breached))

            def count(condition: Any) -> Any:
                return sa.func.sum(sa.case((condition, 1), else_=0))

            query = (sa.select(key.label("key"), count(met).label("met"), count(breached).label("breached"),
                               count(pending).label("open"), sa.func.count().label("total"))
                     .select_from(sla_clocks.join(table, table.c.id == c.record_id))
                     .where(c.object_uid == obj.uid, c.stage != str(Stage.CANCELLED), table.c.deleted_at.is_(None))
                     .group_by(key).order_by(key))
            if not (access.unrestricted or access.scopes.get("read") == "all"):
                ctx = self.formulas.context(conn, snap, actor) if access.sharing else None
                allowed = access.where("read", table, self.access.condition(snap, obj, conn.dialect.name, ctx))
                if allowed is not None:
                    query = query.where(allowed)
            rows = conn.execute(query).all()
            names = {p.uid: p.api_name for p in self.policies(conn, snap, obj.api_name)}
            if group_by == "policy":
                for uid in {r.key for r in rows} - set(names):
                    found = self.policy(conn, snap, uid)
                    names[uid] = found.api_name if found else uid
        groups = []
        for r in rows:
            decided = int(r.met or 0) + int(r.breached or 0)
            groups.append({group_by: names.get(r.key, r.key) if group_by == "policy" else r.key,
                           "met": int(r.met or 0), "breached": int(r.breached or 0), "open": int(r.open or 0),
                           "total": int(r.total), "compliance": round(100 * int(r.met or 0) / decided, 1)
                           if decided else None})
        return {"object": obj.api_name, "group_by": group_by, "groups": groups}


# -- rows and clocks ------------------------------------------------------------------------


def _clock(row: Mapping[str, Any], warn_fraction: float | None) -> MetricClock:
    return MetricClock(
        metric=row["metric"], stage=Stage(row["stage"]), started_at=row["started_at"], due_at=row["due_at"],
        target=timedelta(seconds=row["target_seconds"]), warn_at=row["warn_at"], warn_fraction=warn_fraction,
        paused_total=timedelta(seconds=row["paused_seconds"]), paused_since=row["paused_since"],
        achieved_at=row["achieved_at"], breached_at=row["breached_at"], warned=bool(row["warned"]))


def _row(clock: MetricClock, policy_uid: str) -> dict[str, Any]:
    return {"policy_uid": policy_uid, "metric": clock.metric, "stage": str(clock.stage),
            "target_seconds": round(clock.target.total_seconds()), "started_at": clock.started_at,
            "due_at": clock.due_at, "warn_at": clock.warn_at,
            "paused_seconds": round(clock.paused_total.total_seconds()), "paused_since": clock.paused_since,
            "achieved_at": clock.achieved_at, "breached_at": clock.breached_at, "warned": clock.warned}


def _warn_fraction(policy: SlaPolicy | None, metric: str) -> float | None:
    found = policy.metric(metric) if policy is not None else None
    return found.warn_at if found is not None else None


def _policies_on(conn: Connection, calendar: str) -> list[str]:
    """The uids of the policies counting on a calendar (read from the store: called inside
    the transaction that is changing documents)."""
    return sorted(d.uid for d in metastore.all_documents(conn, "sla_policies") if d.body.get("calendar") == calendar)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _bound(columns: Iterable[str]) -> dict[str, Any]:
    return {k: sa.bindparam(f"b_{k}", type_=sla_clocks.c[k].type) for k in columns}


_UPDATE_ALL = sa.update(sla_clocks).where(sla_clocks.c.id == sa.bindparam("b_id")).values(_bound(_CLOCK_COLUMNS))
_UPDATE_DUE = sa.update(sla_clocks).where(sla_clocks.c.id == sa.bindparam("b_id")).values(
    _bound(("due_at", "warn_at")))



__all__ = ["EVENTS", "GROUPS", "SWEEP_EVERY", "SlaService"]
