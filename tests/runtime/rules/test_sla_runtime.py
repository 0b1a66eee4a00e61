"""SLA clocks running in the platform, on SQLite and PostgreSQL: the Gold scenario (a
2-business-hour first reply on 09:00-17:00, paused while waiting on the customer, warned
at 75 %, breached and escalated to the team lead, reported in compliance); the policy
chosen by condition in order; priority and calendar changes moving due times; next_reply
restarting; sweeps that never give an event twice. Time is a fixed clock set by each test
(`rt.sla.clock`), never real waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import notifications, outbox, sla_clocks
from tessera.errors import InvalidInput, NotFound
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 3, 2, tzinfo=PARIS)  # a Monday with no holiday near it
TICKET = {"api_name": "ticket", "label": "Ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "tier", "label": "Tier", "type": "text"},
    {"api_name": "priority", "label": "Priority", "type": "select", "options": [
        {"value": v, "label": v.title()} for v in ("normal", "high", "gold")]},
    {"api_name": "status", "label": "Status", "type": "select", "options": [
        {"value": v, "label": v} for v in ("new", "open", "waiting_on_customer", "solved", "spam")]},
    {"api_name": "first_replied_at", "label": "First replied at", "type": "datetime"},
    {"api_name": "awaiting_agent", "label": "Awaiting agent", "type": "boolean"},
    {"api_name": "assignee", "label": "Assignee", "type": "user"},
    {"api_name": "escalated", "label": "Escalated", "type": "boolean"}]}
OFFICE = {"api_name": "office", "label": "Office", "timezone": "Europe/Paris",
          "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
GOLD = {
    "api_name": "gold", "label": "Gold support", "object": "ticket", "calendar": "office", "order": 1,
    "pause_when_status": ["waiting_on_customer"], "cancel_when": 'status = "spam"',
    "metrics": [
        {"metric": "first_reply", "targets": {"gold": "PT2H", "high": "PT4H", "default": "PT8H"}, "warn_at": 0.75,
         "achieved_when": "NOT ISBLANK(first_replied_at)"},
        {"metric": "resolution", "targets": {"default": "PT40H"}, "achieved_when": 'status = "solved"'}],
    "warning_actions": [{"action": "notify", "to": [{"field": "assignee"}],
                         "title": "First reply due soon on {{ subject }}"}],
    "breach_actions": [{"action": "notify", "to": [{"manager": "assignee"}], "title": "SLA breached: {{ subject }}"},
                       {"action": "update_record", "set": {"escalated": "TRUE"}}]}



class Clock:
    """The time the SLA service sees; tests move it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(rt: Platform) -> Clock:
    found = Clock(MONDAY.replace(hour=9))
    rt.sla.clock = found
    return found


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local office time `day` days after Monday."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute)


def desk(rt: Platform, policy: dict[str, Any] | None = None) -> dict[str, int]:
    """The ticket object, the office calendar, a policy, an agent and her team lead."""
    rt.metadata.create_object(SYSTEM, TICKET)
    rt.documents.create(SYSTEM, "calendars", OFFICE)
    rt.documents.create(SYSTEM, "sla_policies", policy or GOLD)
    lead = rt.users.accounts.add(SYSTEM, {"email": "lead@x.com", "name": "Lead", "password": "a-long-password"})
    agent = rt.users.accounts.add(SYSTEM, {"email": "agent@x.com", "name": "Agent", "password": "a-long-password",
                                           "manager": "lead@x.com"})
    return {"lead": int(lead["id"]), "agent": int(agent["id"])}


def clock_of(rt: Platform, ticket_id: int, metric: str = "first_reply") -> dict[str, Any]:
    found = {c["metric"]: c for c in rt.sla.clocks(SYSTEM, "ticket", ticket_id)}
    return found[metric]


def local(iso: str | None) -> datetime | None:
    return None if iso is None else datetime.fromisoformat(iso).astimezone(PARIS)


def titles(rt: Platform, user_id: int) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.title).where(notifications.c.user_id == user_id)
                                 .order_by(notifications.c.id)).scalars())


def all_titles(rt: Platform) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.title)).scalars())


def events(rt: Platform, name: str) -> list[dict[str, Any]]:
    with rt.read() as conn:
        return [dict(p) for p in conn.execute(sa.select(outbox.c.payload).where(outbox.c.event == name)
                                              .order_by(outbox.c.id)).scalars()]


def test_gold_ticket_pauses_warns_breaches_escalates_to_the_lead_and_is_reported(rt: Platform, clock: Clock) -> None:
    people = desk(rt)
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "warn_agent", "label": "Warn the agent", "object": "ticket", "kind": "automation",
        "trigger": {"on": "event", "event": "sla.warning", "source": "gold"},
        "actions": [{"action": "notify", "to": [{"user": "admin@example.com"}],
                     "title": "Rule: {{ subject }} at risk"}]})
    clock.at = at(0, 10)
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "Printer on fire", "priority": "gold", "status": "new",
                                                  "assignee": people["agent"]})
    first = clock_of(rt, ticket["id"])
    assert (local(first["due_at"]), local(first["warn_at"])) == (at(0, 12), at(0, 11, 30))
    assert first["stage"] == "running" and first["remaining_seconds"] == 2 * 3600
    # Waiting on the customer from 10:30 to 16:30: six business hours that do not count.
    clock.at = at(0, 10, 30)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"status": "waiting_on_customer"}, None)
    assert clock_of(rt, ticket["id"])["stage"] == "paused"
    clock.at = at(0, 14)
    assert rt.sla.sweep() == {"claimed": 0, "warning": 0, "breach": 0}  # past 11:30, but paused
    clock.at = at(0, 16, 30)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"status": "open"}, None)
    first = clock_of(rt, ticket["id"])
    assert (local(first["due_at"]), local(first["warn_at"])) == (at(1, 10), at(1, 9, 30))
    assert first["paused_seconds"] == 6 * 3600 and first["stage"] == "running"
    # Tuesday 09:31: the warning, once; the rule triggered by it notifies too.
    assert rt.sla.sweep(at(1, 9, 31))["warning"] == 1
    assert rt.sla.sweep(at(1, 9, 31)) == {"claimed": 0, "warning": 0, "breach": 0}
    rt.scheduler.drain()
    assert titles(rt, people["agent"]) == ["First reply due soon on Printer on fire"]
    assert "Rule: Printer on fire at risk" in all_titles(rt)
    # 10:00: breached; the team lead hears of it and the ticket is marked escalated.
    assert rt.sla.sweep(at(1, 10, 1)) == {"claimed": 1, "warning": 0, "breach": 1}
    assert rt.sla.sweep(at(1, 10, 2))["breach"] == 0
    rt.scheduler.drain()
    assert titles(rt, people["lead"]) == ["SLA breached: Printer on fire"]
    assert rt.records.get(SYSTEM, "ticket", ticket["id"])["escalated"] is True
    assert [(e["source"], e["metric"]) for e in events(rt, "sla.breach")] == [("gold", "first_reply")]
    assert len(events(rt, "sla.warning")) == 1
    # The reply comes late: achieved, but it counts as missed. Another ticket is met in time.
    clock.at = at(1, 11)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"first_replied_at": clock.at.isoformat()}, None)
    late = clock_of(rt, ticket["id"])
    assert (late["stage"], late["met"], late["breached"]) == ("achieved", False, True)
    assert late["remaining_seconds"] == -3600
    quick = rt.records.create(SYSTEM, "ticket", {"subject": "Toner", "priority": "gold", "status": "new"})
    clock.at = at(1, 11, 30)
    rt.records.update(SYSTEM, "ticket", quick["id"], {"first_replied_at": clock.at.isoformat()}, None)
    report = rt.sla.compliance(SYSTEM, "ticket", "metric", now=at(1, 12))
    assert report["groups"] == [
        {"metric": "first_reply", "met": 1, "breached": 1, "open": 0, "total": 2, "compliance": 50.0},
        {"metric": "resolution", "met": 0, "breached": 0, "open": 2, "total": 2, "compliance": None}]
    by_priority = rt.sla.compliance(SYSTEM, "ticket", "priority", now=at(1, 12))["groups"]
    assert [(g["priority"], g["met"], g["breached"]) for g in by_priority] == [("gold", 1, 1)]
    assert rt.sla.compliance(SYSTEM, "ticket", "policy", now=at(1, 12))["groups"][0]["policy"] == "gold"


def test_the_first_policy_whose_condition_holds_applies_in_order(rt: Platform, clock: Clock) -> None:
    desk(rt, {**GOLD, "applies_when": 'tier = "gold"'})
    rt.documents.create(SYSTEM, "sla_policies", {
        "api_name": "standard", "label": "Standard", "object": "ticket", "calendar": "office", "order": 9,
        "metrics": [{"metric": "first_reply", "targets": {"default": "PT8H"},
                     "achieved_when": "NOT ISBLANK(first_replied_at)"}]})
    rt.documents.create(SYSTEM, "sla_policies", {
        "api_name": "vip_also", "label": "Also matches gold, later", "object": "ticket", "calendar": "office",
        "order": 5, "applies_when": 'tier = "gold"',
        "metrics": [{"metric": "first_reply", "targets": {"default": "PT1H"}}]})
    clock.at = at(0, 10)
    gold = rt.records.create(SYSTEM, "ticket", {"subject": "A", "tier": "gold", "priority": "gold"})
    plain = rt.records.create(SYSTEM, "ticket", {"subject": "B", "tier": "silver", "priority": "gold"})
    assert (clock_of(rt, gold["id"])["policy"], local(clock_of(rt, gold["id"])["due_at"])) == ("gold", at(0, 12))
    assert (clock_of(rt, plain["id"])["policy"], local(clock_of(rt, plain["id"])["due_at"])) == ("standard",
                                                                                                 at(1, 10))
    # Upgraded to gold at 11:00: the standard clock is cancelled and gold's counts from 10:00.
    clock.at = at(0, 11)
    rt.records.update(SYSTEM, "ticket", plain["id"], {"tier": "gold"}, None)
    moved = clock_of(rt, plain["id"])
    assert (moved["policy"], local(moved["started_at"]), local(moved["due_at"])) == ("gold", at(0, 10), at(0, 12))
    # cancel_when: spam stops every clock.
    rt.records.update(SYSTEM, "ticket", gold["id"], {"status": "spam"}, None)
    assert {c["stage"] for c in rt.sla.clocks(SYSTEM, "ticket", gold["id"])} == {"cancelled"}


def test_a_priority_change_recomputes_the_due_time_from_the_start(rt: Platform, clock: Clock) -> None:
    desk(rt)
    clock.at = at(0, 10)
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "A", "priority": "normal"})
    assert local(clock_of(rt, ticket["id"])["due_at"]) == at(1, 10)  # 8 business hours
    clock.at = at(0, 11)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"priority": "high"}, None)
    assert local(clock_of(rt, ticket["id"])["due_at"]) == at(0, 14)  # 4 hours from 10:00
    clock.at = at(0, 13)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"priority": "gold"}, None)
    # 2 hours from 10:00 is 12:00, already past: the next sweep breaches it.
    assert local(clock_of(rt, ticket["id"])["due_at"]) == at(0, 12)
    assert rt.sla.sweep(at(0, 13))["breach"] == 1


def test_a_calendar_change_recomputes_open_clocks_in_a_background_job(rt: Platform, clock: Clock) -> None:
    desk(rt)
    clock.at = at(0, 16)
    open_ticket = rt.records.create(SYSTEM, "ticket", {"subject": "open", "priority": "gold"})
    done = rt.records.create(SYSTEM, "ticket", {"subject": "done", "priority": "gold"})
    clock.at = at(0, 16, 30)
    rt.records.update(SYSTEM, "ticket", done["id"], {"first_replied_at": clock.at.isoformat()}, None)
    assert local(clock_of(rt, open_ticket["id"])["due_at"]) == at(1, 10)
    # The office now opens at 08:00: the hour left on Tuesday is due at 09:00.
    rt.documents.update(SYSTEM, "calendars", "office", {
        "hours": {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}})
    with rt.read() as conn:
        job_id = conn.execute(sa.text("SELECT id FROM tessera_jobs WHERE kind = 'sla.recompute'")).scalar_one()
    finished = rt.jobs.wait(job_id, timeout=60)
    assert finished["status"] == "succeeded", finished
    # Open: the first ticket's first reply and both resolutions; all three move.
    assert (finished["result"]["clocks"], finished["result"]["changed"]) == (3, 3)
    assert local(clock_of(rt, open_ticket["id"])["due_at"]) == at(1, 9)
    achieved = clock_of(rt, done["id"])
    assert local(achieved["due_at"]) == at(1, 10) and achieved["stage"] == "achieved"  # closed clocks keep theirs


def test_next_reply_restarts_each_time_the_customer_writes(rt: Platform, clock: Clock) -> None:
    desk(rt, {**GOLD, "metrics": [
        {"metric": "next_reply", "targets": {"default": "PT1H"}, "starts_when": "awaiting_agent = TRUE",
         "achieved_when": "awaiting_agent = FALSE"}]})
    clock.at = at(0, 10)
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "A", "awaiting_agent": True})
    assert local(clock_of(rt, ticket["id"], "next_reply")["due_at"]) == at(0, 11)
    clock.at = at(0, 10, 20)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"subject": "A (edited)"}, None)  # still waiting: same clock
    assert local(clock_of(rt, ticket["id"], "next_reply")["started_at"]) == at(0, 10)
    clock.at = at(0, 10, 30)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"awaiting_agent": False}, None)
    assert clock_of(rt, ticket["id"], "next_reply")["met"] is True
    clock.at = at(0, 15)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"awaiting_agent": True}, None)
    again = clock_of(rt, ticket["id"], "next_reply")
    assert (again["stage"], local(again["started_at"]), local(again["due_at"])) == ("running", at(0, 15), at(0, 16))
    assert rt.sla.sweep(at(0, 16, 5))["breach"] == 1
    rt.scheduler.drain()
    # Each clock's actions are its own: a later next_reply breach notifies the lead again.
    clock.at = at(0, 16, 10)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"awaiting_agent": False}, None)
    clock.at = at(1, 9)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"awaiting_agent": True, "assignee": None}, None)
    assert rt.sla.sweep(at(1, 10, 1))["breach"] == 1
    rt.scheduler.drain()
    assert len(events(rt, "sla.breach")) == 2


def test_sweeping_twice_or_from_the_timer_gives_each_event_once(rt: Platform, clock: Clock) -> None:
    people = desk(rt)
    clock.at = at(0, 10)
    tickets = [rt.records.create(SYSTEM, "ticket", {"subject": f"T{i}", "priority": "gold",
                                                    "assignee": people["agent"]}) for i in range(3)]
    assert rt.sla.sweep(at(0, 11, 40)) == {"claimed": 3, "warning": 3, "breach": 0}
    assert rt.sla.sweep(at(0, 11, 40))["claimed"] == 0
    clock.at = at(0, 12, 30)
    rt.scheduler.drain()  # the sweep timer set when the policy was saved runs at the SLA clock's time
    rt.sla.sweep(at(0, 12, 30))
    rt.scheduler.drain()
    assert len(events(rt, "sla.warning")) == 3 and len(events(rt, "sla.breach")) == 3
    assert titles(rt, people["lead"]) == ["SLA breached: T0", "SLA breached: T1", "SLA breached: T2"]
    with rt.read() as conn:
        stages = conn.execute(sa.select(sla_clocks.c.stage).where(sla_clocks.c.metric == "first_reply")).scalars()
        assert set(stages) == {"breached"}
        timer = conn.execute(sa.text("SELECT due_at FROM tessera_timers WHERE key = 'sla:sweep'")).first()
    assert timer is not None  # it keeps itself going while a policy is active
    assert all(rt.records.get(SYSTEM, "ticket", t["id"])["escalated"] for t in tickets)


def test_clocks_and_compliance_show_only_what_the_caller_may_read(rt: Platform, clock: Clock) -> None:
    people = desk(rt)
    rt.users.roles.create(SYSTEM, {"api_name": "agent", "label": "Agent", "permissions": {
        "ticket": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}, rt.snapshot)
    rep = rt.users.accounts.add(SYSTEM, {"email": "rep@x.com", "name": "Rep", "password": "a-long-password",
                                         "roles": ["agent"]})
    clock.at = at(0, 10)
    mine = rt.records.create(SYSTEM, "ticket", {"subject": "mine", "priority": "gold", "owner": rep["id"]})
    rt.records.create(SYSTEM, "ticket", {"subject": "theirs", "priority": "gold", "owner": people["agent"]})
    actor = rt.users.actor_for_user(int(rep["id"]))
    groups = rt.sla.compliance(actor, "ticket", "metric", now=at(0, 13))["groups"]
    assert [(g["metric"], g["breached"], g["total"]) for g in groups] == [("first_reply", 1, 1), ("resolution", 0, 1)]
    assert [c["metric"] for c in rt.sla.clocks(actor, "ticket", mine["id"])] == ["first_reply", "resolution"]
    with pytest.raises(NotFound):
        rt.sla.clocks(actor, "ticket", mine["id"] + 1)
    with pytest.raises(InvalidInput):
        rt.sla.compliance(actor, "ticket", "colour")


def test_policy_documents_are_refused_with_pointed_problems(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, TICKET)
    rt.documents.create(SYSTEM, "calendars", OFFICE)
    with pytest.raises(InvalidInput) as refused:
        rt.documents.create(SYSTEM, "sla_policies", {
            **GOLD, "calendar": "nowhere", "cancel_when": "status = ",
            "metrics": [{"metric": "first_reply", "targets": {"default": "PT1H"}, "achieved_when": "subject + 1",
                         "starts_when": "awaiting_agent"}],
            "breach_actions": [{"action": "teleport"}]})
    fields = {p.field for p in refused.value.errors}
    assert {"/calendar", "/cancel_when", "/metrics/0/achieved_when", "/metrics/0/starts_when",
            "/breach_actions/0/action"} <= fields, fields


def test_the_api_gives_a_records_clocks_and_compliance(rt: Platform, clock: Clock) -> None:
    from fastapi.testclient import TestClient

    from tessera.app import create_app

    desk(rt)
    clock.at = at(0, 10)
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "A", "priority": "gold"})
    client = TestClient(create_app(rt))
    assert client.get(f"/api/v1/records/ticket/{ticket['id']}/sla").status_code == 401
    token = rt.users.sign_in("admin@example.com", "admin-password")
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.get(f"/api/v1/records/ticket/{ticket['id']}/sla", headers=headers)
    assert answer.status_code == 200, answer.text
    assert [c["metric"] for c in answer.json()["clocks"]] == ["first_reply", "resolution"]
    answer = client.get("/api/v1/sla/compliance?object=ticket&group_by=policy", headers=headers)
    assert answer.status_code == 200 and answer.json()["groups"][0]["policy"] == "gold"
    assert client.get("/api/v1/sla/compliance?object=ticket&group_by=x", headers=headers).status_code in (400, 422)
