"""Benchmark: SLA clocks recomputed after a calendar change.

`tessera_sla_clocks` holds N open clocks (first-reply clocks of N tickets started over six
weeks, 8 business hours, a warning at 75 %, one in ten paused, some already warned) on a
09:00-17:00 calendar. The office then opens an hour earlier.

- Product: the calendar job's batch function, `SlaService.recompute_batch`, run directly
  batch after batch (RECOMPUTE_BATCH clocks per transaction) until every clock is done:
  per batch one SELECT of the open clocks, the rules engine's `recompute` for each (due and
  warning times in business time on the new calendar), one executemany UPDATE.
- Floor: the same rows updated by hand with the same new due and warning times, computed
  beforehand outside the timing: one executemany UPDATE per batch of the same size, in a
  transaction each, through a plain engine.

Both sides alternate the calendar (the product moves the clocks to the new hours, the floor
puts them back, with precomputed values for the old hours) so every run writes every row.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from benchmarks.common import OBJECT, Result, Setup, at_most, bulk_load, timed
from tessera.data.tables import sla_clocks
from tessera.rules import sla
from tessera.rules.calendar import BusinessCalendar, calendar_from_document
from tessera.runtime.rules.sla import RECOMPUTE_BATCH

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OLD = {"api_name": "bench_office", "label": "Bench office", "timezone": "Europe/Paris",
       "hours": {d: [["09:00", "17:00"]] for d in WEEKDAYS}, "holidays": ["2026-04-06"]}
NEW = {**OLD, "hours": {d: [["08:00", "17:00"]] for d in WEEKDAYS}}
POLICY = {"api_name": "bench_sla", "label": "Bench SLA", "object": OBJECT, "calendar": "bench_office",
          "priority_field": "stage", "status_field": "stage", "pause_when_status": ["lost"],
          "metrics": [{"metric": "first_reply", "targets": {"default": "PT8H"}, "warn_at": 0.75}]}
TARGET = timedelta(hours=8)
COLUMNS = ("id", "object_uid", "record_id", "policy_uid", "metric", "stage", "target_seconds", "started_at", "due_at",
           "warn_at", "paused_seconds", "paused_since", "achieved_at", "breached_at", "warned")


def _clocks(count: int, policy_uid: str, calendar: BusinessCalendar) -> list[dict[str, Any]]:
    """N open clocks as rows, due on `calendar`, reproducibly."""
    rng = random.Random(11)
    first = datetime(2026, 3, 2, 7, tzinfo=UTC)
    rows = []
    for i in range(1, count + 1):
        started = first + timedelta(seconds=rng.randrange(42 * 86_400))
        clock = sla.start("first_reply", TARGET, calendar, started, 0.75)
        clock = sla.recompute(replace(clock, paused_total=timedelta(minutes=rng.choice((0, 0, 0, 15, 90)))),
                              calendar)
        if i % 10 == 0:
            clock = sla.pause(clock, started + timedelta(hours=1))
        warned = i % 4 == 0
        rows.append({"id": i, "object_uid": "bench", "record_id": i, "policy_uid": policy_uid,
                     "metric": "first_reply", "stage": str(clock.stage), "target_seconds": 8 * 3600,
                     "started_at": clock.started_at, "due_at": clock.due_at, "warn_at": clock.warn_at,
                     "paused_seconds": int(clock.paused_total.total_seconds()), "paused_since": clock.paused_since,
                     "achieved_at": None, "breached_at": None, "warned": warned})
    return rows


def _due(rows: list[dict[str, Any]], calendar: BusinessCalendar) -> list[dict[str, Any]]:
    """The floor's input: each row's due and warning times on `calendar`, computed ahead."""
    out = []
    for r in rows:
        clock = sla.MetricClock("first_reply", sla.Stage(r["stage"]), r["started_at"], r["due_at"], TARGET,
                                r["warn_at"], 0.75, timedelta(seconds=r["paused_seconds"]), r["paused_since"],
                                warned=r["warned"])
        new = sla.recompute(clock, calendar)
        out.append({"b_id": r["id"], "b_due_at": new.due_at, "b_warn_at": new.warn_at})
    return out


def run(setup: Setup, count: int, repeat: int) -> list[Result]:
    rt = setup.runtime
    old, new = calendar_from_document(OLD), calendar_from_document(NEW)
    rt.documents.create(setup.actor, "calendars", OLD)
    policy = rt.documents.create(setup.actor, "sla_policies", POLICY)
    uids = [policy["uid"]]
    setup.truncate(sla_clocks.name)
    rows = _clocks(count, policy["uid"], old)
    bulk_load(setup.engine, setup.backend, sla_clocks, list(COLUMNS), [rows])
    to_old = _due(rows, old)
    # The clocks whose times the new hours move (nearly all; a few land on the same instant).
    moving = sum(1 for r, n in zip(rows, _due(rows, new), strict=True)
                 if (r["due_at"], r["warn_at"]) != (n["b_due_at"], n["b_warn_at"]))
    update = (sa.update(sla_clocks).where(sla_clocks.c.id == sa.bindparam("b_id"))
              .values(due_at=sa.bindparam("b_due_at", type_=sla_clocks.c.due_at.type),
                      warn_at=sa.bindparam("b_warn_at", type_=sla_clocks.c.warn_at.type)))

    def product() -> None:
        last, changed = 0, 0
        while True:
            with rt.write() as conn:
                snap = rt.snapshot(conn)
                read, moved, last = rt.sla.recompute_batch(conn, snap, new, uids, last)
            changed += moved
            if not read:
                break
        if changed != moving:
            raise RuntimeError(f"the recompute changed {changed} clocks, not {moving}")

    def floor() -> None:
        for start in range(0, count, RECOMPUTE_BATCH):
            with setup.engine.begin() as conn:
                conn.execute(update, to_old[start:start + RECOMPUTE_BATCH])

    product_times, floor_times = [], []
    for _ in range(repeat):
        product_times.append(timed(product))
        floor_times.append(timed(floor))
    _check(setup, count, to_old)
    setup.truncate(sla_clocks.name)
    rt.documents.delete(setup.actor, "sla_policies", POLICY["api_name"])
    rt.documents.delete(setup.actor, "calendars", OLD["api_name"])
    rt.documents.purge(setup.actor, "sla_policies", POLICY["api_name"])
    rt.documents.purge(setup.actor, "calendars", OLD["api_name"])
    return [at_most(f"sla: recompute {count:,} open clocks after a calendar change", setup.backend,
                    statistics.median(product_times), statistics.median(floor_times), 3.0)]


def _check(setup: Setup, count: int, expected: list[dict[str, Any]]) -> None:
    """The floor ran last: every clock is back on the old hours exactly."""
    with setup.engine.connect() as conn:
        found = {r.id: r.due_at for r in conn.execute(sa.select(sla_clocks.c.id, sla_clocks.c.due_at))}
    wrong = sum(1 for e in expected if found.get(e["b_id"]) != e["b_due_at"])
    if len(found) != count or wrong:
        raise RuntimeError(f"{wrong} of {count} due times differ from the hand-computed ones")
