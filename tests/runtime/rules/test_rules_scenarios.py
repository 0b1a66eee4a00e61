"""Rules running in the platform: lead scoring and regional round-robin assignment,
automation after save with loop protection, renewal reminders at 90/60/30 days, and
High-value / To-reactivate segments over orders — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import notifications, outbox, rule_runs
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "region", "label": "Region", "type": "text"},
    {"api_name": "industry", "label": "Industry", "type": "text"},
    {"api_name": "employees", "label": "Employees", "type": "integer"},
    {"api_name": "score", "label": "Score", "type": "integer"},
    {"api_name": "status", "label": "Status", "type": "text"},
    {"api_name": "assigned", "label": "Assigned", "type": "user"}]}



def _users(rt: Platform, team: str, emails: list[str], also: str | None = None) -> list[int]:
    ids = [int(rt.users.accounts.add(SYSTEM, {"email": e, "name": e, "password": "a-long-password"})["id"])
           for e in emails]
    rt.users.teams.create(SYSTEM, {"api_name": team, "label": team, "members": emails})
    return ids


def test_lead_scoring_then_regional_round_robin_assignment(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    emea = _users(rt, "emea", ["e1@x.com", "e2@x.com"])
    apac = _users(rt, "apac", ["a1@x.com"])
    rt.users.teams.create(SYSTEM, {"api_name": "sales", "label": "Sales",
                                   "members": ["e1@x.com", "e2@x.com", "a1@x.com"]})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "lead_score", "label": "Lead score", "object": "lead", "kind": "scoring", "order": 1,
        "trigger": {"on": "before_save"},
        "scoring": {"field": "score", "rules": [
            {"when": 'industry = "Retail"', "points": 30},
            {"when": "employees > 500", "points": 40},
            {"when": 'ISBLANK(region)', "points": -10}]}})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "assign_hot", "label": "Assign hot leads", "object": "lead", "kind": "assignment", "order": 2,
        "trigger": {"on": "before_save"}, "condition": "score > 60 AND ISBLANK(assigned)",
        "assignment": {"field": "assigned", "team": "sales", "strategy": "by_attribute", "attribute": "region"}})
    made = [rt.records.create(SYSTEM, "lead", {"name": f"L{i}", "region": region, "industry": "Retail",
                                                "employees": 1000}) for i, region in
            enumerate(["emea", "emea", "apac", "emea", "emea"])]
    cold = rt.records.create(SYSTEM, "lead", {"name": "cold", "region": "emea", "industry": "Bank"})
    assert [m["score"] for m in made] == [70] * 5 and cold["score"] == 0 and cold["assigned"] is None
    assert [m["assigned"] for m in made] == [emea[0], emea[1], apac[0], emea[0], emea[1]]
    # An update that raises the score past 60 assigns too, and the log says why.
    warmed = rt.records.update(SYSTEM, "lead", cold["id"], {"employees": 900, "industry": "Retail"}, None)
    assert (warmed["score"], warmed["assigned"]) == (70, emea[0])
    runs = rt.rules.runs(SYSTEM, "lead", cold["id"])
    assert [(r["rule"], r["outcome"]) for r in runs[:2]] == [("assign_hot", "fired"), ("lead_score", "fired")]
    assert runs[0]["changes"] == {"set": {"assigned": emea[0]}}


def test_a_before_save_rule_can_refuse_a_save_with_its_message(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "no_lost_without_reason", "label": "Reason", "object": "lead", "kind": "automation",
        "trigger": {"on": "before_save", "changed": ["status"]}, "condition": 'status = "lost" AND ISBLANK(industry)',
        "actions": [{"action": "refuse", "message": "Say which industry before closing as lost", "field": "industry"}]})
    lead = rt.records.create(SYSTEM, "lead", {"name": "A"})
    with pytest.raises(InvalidInput) as refused:
        rt.records.update(SYSTEM, "lead", lead["id"], {"status": "lost"}, None)
    assert [(p.field, p.message) for p in refused.value.errors] == [
        ("industry", "Say which industry before closing as lost")]
    assert rt.records.get(SYSTEM, "lead", lead["id"])["status"] is None


def test_round_robin_stays_fair_under_concurrent_creators(rt: Platform) -> None:
    import threading

    rt.metadata.create_object(SYSTEM, LEAD)
    members = _users(rt, "desk", [f"m{i}@x.com" for i in range(3)])
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "spread", "label": "Spread", "object": "lead", "kind": "assignment",
        "trigger": {"on": "before_save", "when": "created"},
        "assignment": {"field": "assigned", "team": "desk", "strategy": "round_robin"}})

    def create(n: int) -> None:
        for i in range(n):
            rt.records.create(SYSTEM, "lead", {"name": f"c{i}"})

    threads = [threading.Thread(target=create, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(r["assigned"] for r in rt.records.list(SYSTEM, "lead", limit=1000)["data"])
    assert set(counts) == set(members) and max(counts.values()) - min(counts.values()) <= 1


def test_after_save_automation_runs_actions_once_and_stops_its_own_loop(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "bump", "label": "Bump", "object": "lead", "kind": "automation",
        "trigger": {"on": "after_save", "when": "created_or_updated"},
        "actions": [{"action": "update_record", "set": {"employees": "employees + 1"}},
                    {"action": "notify", "to": [{"user": "admin@example.com"}], "title": "{{ name }} changed"}]})
    lead = rt.records.create(SYSTEM, "lead", {"name": "A", "employees": 1})
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "lead", lead["id"])["employees"] == 2  # once, not forever
    outcomes = [(r["outcome"], r["depth"]) for r in rt.rules.runs(SYSTEM, "lead", lead["id"])]
    assert outcomes == [("limited", 1), ("fired", 0)]
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(notifications)).scalar_one() == 1
        assert "own change" in conn.execute(sa.select(rule_runs.c.error).where(
            rule_runs.c.outcome == "limited")).scalar_one()


def test_a_bulk_create_of_a_thousand_records_runs_after_save_rules_on_every_one(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "welcome", "label": "Welcome", "object": "lead", "kind": "automation",
        "trigger": {"on": "after_save", "when": "created"},
        "actions": [{"action": "update_record", "set": {"status": '"welcomed"'}}]})
    rt.records.create_many(SYSTEM, "lead", [{"name": f"l{i}"} for i in range(1000)])
    rt.scheduler.drain()
    with rt.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM lead WHERE status = 'welcomed'")).scalar_one() == 1000
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.last_error.is_not(None))).scalar_one() == 0


def test_renewal_reminders_fire_90_60_and_30_days_before_the_end(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "contract", "label": "Contract", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "end_date", "label": "End", "type": "date"}]})
    rt.metadata.create_object(SYSTEM, {"api_name": "task", "label": "Task", "fields": [
        {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
        {"api_name": "contract", "label": "Contract", "type": "lookup", "target": "contract"}]})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "renewal", "label": "Renewal reminders", "object": "contract", "kind": "automation",
        "trigger": {"on": "date_relative", "field": "end_date", "offsets": [{"days": -90}, {"days": -60},
                                                                             {"days": -30}], "at": "08:00"},
        "actions": [{"action": "create_record", "object": "task",
                     "values": {"subject": '"Renew " & name & " (ends " & TEXT(end_date) & ")"', "contract": "id"}}]})
    today = datetime.now(UTC).date()
    ending = {n: rt.records.create(SYSTEM, "contract", {"name": f"C{n}", "end_date": (today + timedelta(days=n))
                                                          .isoformat()}) for n in (95, 120)}
    start = datetime.combine(today, datetime.min.time(), UTC)
    with rt.write() as conn:
        rule = next(r for r in rt.rules.rules(conn, rt.snapshot(conn), "contract"))
        fired = [rt.rules.sweep_dates(conn, rule, start + timedelta(days=d, hours=9)) for d in range(0, 100)]
        # A second sweep of the same moment fires nothing again.
        assert rt.rules.sweep_dates(conn, rule, start + timedelta(days=99, hours=9)) == 0
    assert sum(fired) == 6  # each contract 90, 60 and 30 days before its end
    subjects = Counter(t["subject"].split(" (")[0] for t in rt.records.list(SYSTEM, "task", limit=100)["data"])
    assert subjects == {"Renew C95": 3, "Renew C120": 3}
    assert [day for day, count in enumerate(fired) if count] == [5, 30, 35, 60, 65, 90]
    assert ending[95]["id"] in {t["contract"] for t in rt.records.list(SYSTEM, "task", limit=100)["data"]}


def test_segments_keep_membership_current_and_announce_entries(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "customer", "label": "Customer", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "high_value", "label": "High value", "type": "boolean"}]})
    rt.metadata.create_object(SYSTEM, {"api_name": "order", "label": "Order", "fields": [
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "order_date", "label": "Date", "type": "date"},
        {"api_name": "customer", "label": "Customer", "type": "lookup", "target": "customer",
         "related_name": "orders"}]})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "high_value", "label": "High value", "object": "customer", "kind": "segment",
        "trigger": {"on": "after_save"},
        "segment": {"condition": "COUNT(orders, orders.order_date > TODAY() - 90) >= 3 AND "
                                 "AVG(orders.amount, orders.order_date > TODAY() - 90) > 1000", "field": "high_value"}})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "to_reactivate", "label": "To reactivate", "object": "customer", "kind": "segment",
        "trigger": {"on": "schedule", "cron": "0 6 * * *"},
        "segment": {"condition": "COUNT(orders) > 0 AND COUNT(orders, orders.order_date > TODAY() - 180) = 0"}})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "welcome_vip", "label": "Welcome", "object": "customer", "kind": "automation",
        "trigger": {"on": "event", "event": "segment.entered", "source": "high_value"},
        "actions": [{"action": "notify", "to": [{"user": "admin@example.com"}], "title": "{{ name }} is now VIP"}]})
    big, old = (rt.records.create(SYSTEM, "customer", {"name": n}) for n in ("Big", "Old"))
    recent = date.today() - timedelta(days=10)
    for amount in ("1500", "2000", "900"):
        rt.records.create(SYSTEM, "order", {"amount": amount, "order_date": recent.isoformat(),
                                            "customer": big["id"]})
    rt.records.create(SYSTEM, "order", {"amount": "50", "order_date": (date.today() - timedelta(days=400))
                                        .isoformat(), "customer": old["id"]})
    rt.scheduler.drain()  # the customer rows did not change, so the timers' refresh catches up
    with rt.write() as conn:
        for rule in rt.rules.rules(conn, rt.snapshot(conn), "customer"):
            if rule.kind == "segment":
                rt.rules.refresh_segment(conn, rule)
    rt.scheduler.drain()
    with rt.read() as conn:
        assert rt.rules.members(conn, "high_value") == [big["id"]]
        assert rt.rules.members(conn, "to_reactivate") == [old["id"]]
        titles = list(conn.execute(sa.select(notifications.c.title)).scalars())
    assert rt.records.get(SYSTEM, "customer", big["id"])["high_value"] is True
    assert titles == ["Big is now VIP"]
    # Big's orders age out of the window: a refresh lets it leave, and the checkbox follows.
    with rt.write() as conn:
        conn.execute(sa.text('UPDATE "order" SET order_date = :d'), {"d": date.today() - timedelta(days=200)})
        rule = next(r for r in rt.rules.rules(conn, rt.snapshot(conn), "customer") if r.name == "high_value")
        assert rt.rules.refresh_segment(conn, rule) == {"entered": 0, "left": 1}
    assert rt.records.get(SYSTEM, "customer", big["id"])["high_value"] is False


def test_rule_documents_are_refused_with_pointed_problems(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    with pytest.raises(InvalidInput) as refused:
        rt.documents.create(SYSTEM, "rules", {
            "api_name": "bad", "label": "Bad", "object": "lead", "kind": "automation",
            "trigger": {"on": "after_save"}, "condition": "score >",
            "actions": [{"action": "update_record", "set": {"nope": "1"}}, {"action": "teleport"}]})
    fields = {p.field for p in refused.value.errors}
    assert {"/condition", "/actions/0/set/nope", "/actions/1/action"} <= fields
