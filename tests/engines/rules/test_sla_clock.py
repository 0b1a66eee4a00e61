"""The SLA clock, pure: the Gold scenario (2 business hours to first reply on a 09:00-17:00
calendar, paused while waiting on the customer, warned at 75 %, breached, achieved before
or after the breach), each event once, idempotent transitions, recomputing after a
priority or calendar change; and SLA policy documents checked against the ticket object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tessera.formula import SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.rules import sla
from tessera.rules.calendar import calendar_from_document
from tessera.rules.sla import (
    BREACH,
    WARNING,
    MetricClock,
    Stage,
    achieve,
    cancel,
    check,
    next_check_at,
    parse_duration,
    parse_sla_policy,
    pause,
    recompute,
    resume,
    sla_policy_problems,
    start,
)

PARIS = ZoneInfo("Europe/Paris")
CAL = calendar_from_document({"api_name": "office", "label": "Office", "timezone": "Europe/Paris",
                              "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}})
TWO_HOURS = timedelta(hours=2)


def monday(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 1, hour, minute, tzinfo=PARIS)


def tuesday(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 2, hour, minute, tzinfo=PARIS)


def gold(at: datetime = monday(10)) -> MetricClock:
    return start("first_reply", TWO_HOURS, CAL, at, warn_fraction=0.75)


# -- the Gold scenario -------------------------------------------------------------------------


def test_a_started_clock_is_due_after_the_target_and_warns_at_75_percent() -> None:
    clock = gold()
    assert clock.stage == Stage.RUNNING
    assert (clock.due_at, clock.warn_at) == (monday(12), monday(11, 30))
    assert next_check_at(clock) == monday(11, 30)


def test_a_clock_started_in_the_evening_runs_from_the_next_opening() -> None:
    clock = gold(monday(18))
    assert (clock.due_at, clock.warn_at) == (tuesday(11), tuesday(10, 30))


def test_reply_before_the_warning_meets_the_target_without_events() -> None:
    clock, events = check(gold(), monday(11))
    assert events == []
    clock = achieve(clock, monday(11, 15))
    assert clock.stage == Stage.ACHIEVED and clock.met and not clock.breached
    assert check(clock, tuesday(9)) == (clock, [])
    assert next_check_at(clock) is None


def test_the_warning_is_given_once_then_the_breach_once() -> None:
    clock, events = check(gold(), monday(11, 30))
    assert events == [WARNING] and clock.warned
    clock, events = check(clock, monday(11, 45))
    assert events == []
    assert next_check_at(clock) == monday(12)
    clock, events = check(clock, monday(12))
    assert events == [BREACH]
    assert clock.stage == Stage.BREACHED and clock.breached_at == monday(12)
    assert check(clock, monday(16)) == (clock, [])
    assert next_check_at(clock) is None


def test_reply_after_the_warning_but_before_due_is_met() -> None:
    clock, _ = check(gold(), monday(11, 40))
    clock = achieve(clock, monday(11, 50))
    assert clock.met and clock.achieved_at == monday(11, 50)


def test_reply_after_the_breach_is_achieved_but_missed() -> None:
    clock, _ = check(gold(), monday(12, 5))
    clock = achieve(clock, monday(13))
    assert clock.stage == Stage.ACHIEVED and clock.breached and not clock.met


def test_reply_after_due_without_a_check_still_counts_as_breached() -> None:
    clock = achieve(gold(), monday(12, 30))
    assert clock.breached_at == monday(12) and not clock.met


def test_a_late_timer_gives_only_the_breach() -> None:
    clock, events = check(gold(), monday(15))
    assert events == [BREACH] and clock.warned


def test_waiting_on_the_customer_pauses_the_clock_and_moves_due_later() -> None:
    policy = parse_sla_policy(POLICY)
    assert policy.pauses("waiting_on_customer") and not policy.pauses("open")
    clock = pause(gold(), monday(10, 30))
    assert clock.stage == Stage.PAUSED and clock.paused_since == monday(10, 30)
    assert next_check_at(clock) is None
    # Paused, the clock does not run out, however late it is checked.
    assert check(clock, monday(16)) == (clock, [])
    clock = resume(clock, monday(16, 30), CAL)
    assert clock.stage == Stage.RUNNING and clock.paused_total == timedelta(hours=6)
    # 2 h target + 6 h paused from Monday 10:00: 7 h on Monday, 1 h on Tuesday.
    assert (clock.due_at, clock.warn_at) == (tuesday(10), tuesday(9, 30))
    clock, events = check(clock, tuesday(9, 30))
    assert events == [WARNING]
    clock, events = check(clock, tuesday(10))
    assert events == [BREACH]


def test_a_pause_over_the_night_counts_only_business_time() -> None:
    clock = resume(pause(gold(monday(15)), monday(16)), tuesday(10), CAL)
    assert clock.paused_total == TWO_HOURS
    assert clock.due_at == tuesday(11)  # 1 h Monday before the pause, 1 h Tuesday after it


def test_a_reply_while_paused_meets_the_target_and_counts_the_pause() -> None:
    clock = achieve(pause(gold(), monday(10, 30)), monday(14), CAL)
    assert clock.met and clock.paused_total == timedelta(hours=3, minutes=30)
    assert sla.elapsed(clock, tuesday(9), CAL) == timedelta(minutes=30)


def test_a_due_time_passed_before_the_pause_is_a_breach_found_while_paused() -> None:
    clock = pause(gold(), monday(12, 30))  # nobody checked at 12:00
    clock, events = check(clock, monday(15))
    assert events == [BREACH] and clock.breached_at == monday(12)
    assert clock.stage == Stage.PAUSED
    clock = resume(clock, monday(16), CAL)
    assert clock.stage == Stage.BREACHED
    assert check(clock, tuesday(12)) == (clock, [])


def test_resume_records_a_breach_before_the_pause_that_no_check_saw() -> None:
    clock = resume(pause(gold(), monday(12, 30)), monday(13), CAL)
    assert clock.stage == Stage.BREACHED and clock.breached_at == monday(12)


def test_transitions_are_idempotent() -> None:
    paused = pause(gold(), monday(10, 30))
    assert pause(paused, monday(11)) == paused
    running = gold()
    assert resume(running, monday(11), CAL) == running
    done = achieve(running, monday(11))
    assert achieve(done, monday(12)) == done
    assert cancel(done, monday(12)) == done
    assert pause(done, monday(12)) == done
    assert recompute(done, CAL, timedelta(hours=8)) == done


def test_cancel_closes_an_open_clock() -> None:
    clock = cancel(gold(), monday(11))
    assert clock.stage == Stage.CANCELLED and clock.cancelled_at == monday(11) and not clock.is_open
    assert check(clock, tuesday(12)) == (clock, [])


def test_a_priority_change_recomputes_due_from_the_start_with_the_new_target() -> None:
    clock = resume(pause(gold(), monday(10, 30)), monday(11, 30), CAL)  # paused 1 h
    assert clock.due_at == monday(13)
    urgent = recompute(clock, CAL, timedelta(minutes=30))
    assert urgent.due_at == monday(11, 30) and urgent.warn_at == monday(11, 22) + timedelta(seconds=30)
    assert urgent.target == timedelta(minutes=30)
    assert check(urgent, monday(11, 31))[1] == [BREACH]


def test_a_calendar_change_recomputes_due_on_the_new_calendar() -> None:
    late_shift = calendar_from_document({"api_name": "late", "label": "Late", "timezone": "Europe/Paris",
                                         "hours": {"mon": [["11:00", "20:00"]], "tue": [["11:00", "20:00"]]}})
    clock = recompute(gold(), late_shift)
    assert clock.due_at == monday(13) and clock.warn_at == monday(12, 30)


def test_a_sent_warning_is_not_moved_or_sent_again_after_a_recompute() -> None:
    clock, _ = check(gold(), monday(11, 30))
    longer = recompute(clock, CAL, timedelta(hours=4))
    assert longer.warn_at == monday(11, 30) and longer.due_at == monday(14)
    assert check(longer, monday(13))[1] == []


def test_remaining_and_elapsed_business_time() -> None:
    clock = gold(monday(16))
    assert sla.remaining(clock, monday(16, 30), CAL) == timedelta(minutes=90)
    assert sla.elapsed(clock, tuesday(9, 15), CAL) == timedelta(hours=1, minutes=15)
    assert sla.remaining(clock, tuesday(11), CAL) == -timedelta(hours=1)


def test_a_clock_survives_a_json_round_trip() -> None:
    clock, _ = check(pause(gold(), monday(11, 40)), monday(12))
    assert MetricClock.from_json(clock.as_json()) == clock
    assert clock.as_json()["stage"] == "paused"


def test_start_refuses_a_negative_target_or_a_bad_warning_share() -> None:
    with pytest.raises(ValueError, match="negative"):
        start("first_reply", -TWO_HOURS, CAL, monday(10))
    with pytest.raises(ValueError, match="between 0 and 1"):
        start("first_reply", TWO_HOURS, CAL, monday(10), warn_fraction=1.5)


def test_clocks_in_utc_give_the_same_instants() -> None:
    clock = gold(monday(10).astimezone(UTC))
    assert clock.due_at == monday(12) and clock.due_at.tzinfo is UTC


# -- policies ---------------------------------------------------------------------------------

TICKET = ObjectDef({"uid": "obj_ticket", "api_name": "ticket", "label": "Ticket", "fields": [
    {"uid": "f1", "api_name": "subject", "label": "Subject", "type": "text"},
    {"uid": "f2", "api_name": "priority", "label": "Priority", "type": "select",
     "options": [{"value": v} for v in ("urgent", "high", "normal", "low")]},
    {"uid": "f3", "api_name": "status", "label": "Status", "type": "select",
     "options": [{"value": v} for v in ("new", "open", "waiting_on_customer", "solved")]},
    {"uid": "f4", "api_name": "tier", "label": "Tier", "type": "text"},
    {"uid": "f5", "api_name": "opened", "label": "Opened", "type": "datetime"},
]})
SCHEMA = SimpleSchema([TICKET])
POLICY: dict[str, Any] = {
    "api_name": "gold", "label": "Gold", "object": "ticket", "applies_when": 'tier = "gold"', "order": 10,
    "calendar": "office",
    "metrics": [{"metric": "first_reply", "targets": {"urgent": "PT30M", "high": "PT1H", "default": "PT2H"},
                 "warn_at": 0.75},
                {"metric": "resolution", "targets": {"urgent": 480, "high": "PT24H"}}],
    "pause_when_status": ["waiting_on_customer"],
    "warning_actions": [{"action": "notify", "to": "owner"}],
    "breach_actions": [{"action": "update_record", "set": {"priority": "\"urgent\""}}],
}


def test_a_policy_gives_targets_by_priority_with_a_default() -> None:
    assert sla_policy_problems(POLICY, SCHEMA, calendars={"office"}) == []
    policy = parse_sla_policy(POLICY)
    assert policy.target("first_reply", "urgent") == timedelta(minutes=30)
    assert policy.target("first_reply", "low") == TWO_HOURS
    assert policy.target("first_reply", None) == TWO_HOURS
    assert policy.target("resolution", "urgent") == timedelta(hours=8)
    assert policy.target("resolution", "low") is None  # no target, no clock
    assert policy.target("next_reply", "high") is None
    assert policy.metric("first_reply").warn_at == 0.75  # type: ignore[union-attr]
    assert policy.breach_actions[0]["action"] == "update_record"


def test_the_first_applying_policy_by_order_wins() -> None:
    gold_policy = parse_sla_policy(POLICY)
    standard = parse_sla_policy({**POLICY, "api_name": "standard", "order": 20, "applies_when": None})
    inactive = parse_sla_policy({**POLICY, "api_name": "first", "order": 1, "active": False})
    assert sla.choose_policy([standard, gold_policy, inactive], lambda p: True) is gold_policy
    assert sla.choose_policy([standard, gold_policy], lambda p: False) is standard


@pytest.mark.parametrize(("value", "expected"), [
    ("PT2H", timedelta(hours=2)), ("PT1H30M", timedelta(minutes=90)), ("PT45S", timedelta(seconds=45)),
    (90, timedelta(minutes=90)),
])
def test_targets_are_minutes_or_iso_durations(value: int | str, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["P1D", "PT", "2h", True])
def test_targets_in_days_or_other_shapes_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_policy_problems_name_every_bad_place() -> None:
    doc = {**POLICY, "applies_when": "tier = 3", "priority_field": "priority",
           "metrics": [{"metric": "first_reply", "targets": {"critical": "PT1H"}},
                       {"metric": "first_reply", "targets": {"high": "PT2H"}}],
           "pause_when_status": ["waiting"], "calendar": "night"}
    by_path = {p.field: p.message for p in sla_policy_problems(doc, SCHEMA, calendars={"office"})}
    assert set(by_path) == {"/calendar", "/metrics/1/metric", "/applies_when", "/metrics/0/targets/critical",
                            "/pause_when_status/0"}
    assert "'critical' is not a value of Priority" in by_path["/metrics/0/targets/critical"]
    assert "cannot compare" in by_path["/applies_when"]


def test_policy_fields_must_exist_and_suit() -> None:
    problems = sla_policy_problems({**POLICY, "priority_field": "opened", "status_field": "stage"}, SCHEMA)
    by_path = {p.field: p.message for p in problems}
    assert "datetime field" in by_path["/priority_field"]
    assert "no field named 'stage'" in by_path["/status_field"]


def test_policy_schema_problems_come_first() -> None:
    problems = sla_policy_problems({**POLICY, "metrics": [{"metric": "first_reply", "targets": {"high": "P1D"},
                                                           "warn_at": 1}]}, SCHEMA)
    assert {p.field for p in problems} == {"/metrics/0/targets/high", "/metrics/0/warn_at"}


def test_a_policy_on_an_unknown_object_says_so() -> None:
    problems = sla_policy_problems({**POLICY, "object": "case"}, SCHEMA)
    assert [(p.field, p.code) for p in problems] == [("/object", "unknown_object")]
