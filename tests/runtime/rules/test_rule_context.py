"""What a rule sees and may do, on SQLite and PostgreSQL: a before-save rule knows what the
save changes (ISNEW, ISCHANGED, PRIORVALUE); conditions, values and templates see formula
fields computed when read; a date-relative rule counts from when a record was created;
actions and conversions set a record's owner; an e-mail goes to the address a formula gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import deliveries, notifications
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "text"},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "email", "label": "E-mail", "type": "email"},
    {"api_name": "note", "label": "Note", "type": "text"},
    {"api_name": "big", "label": "Big", "type": "formula", "expression": "amount >= 1000"},
    {"api_name": "size", "label": "Size", "type": "formula", "expression": 'IF(amount >= 1000, "big", "small")'}]}


def _rule(rt: Platform, name: str, **doc: object) -> None:
    rt.documents.create(SYSTEM, "rules", {"api_name": name, "label": name, "object": "deal", "kind": "automation",
                                          **doc})


def _user(rt: Platform, email: str) -> int:
    return int(rt.users.accounts.add(SYSTEM, {"email": email, "name": email, "password": "a-long-password"})["id"])


def test_a_before_save_rule_knows_what_the_save_changes(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, DEAL)
    _rule(rt, "note_changes", trigger={"on": "before_save"}, actions=[{"action": "set_fields", "set": {
        "note": 'IF(ISNEW(), "new", IF(ISCHANGED(stage), PRIORVALUE(stage) & " to " & stage, "same stage"))'}}])
    deal = rt.records.create(SYSTEM, "deal", {"name": "A", "stage": "lead"})
    assert deal["note"] == "new"
    assert rt.records.update(SYSTEM, "deal", deal["id"], {"stage": "won"}, None)["note"] == "lead to won"
    assert rt.records.update(SYSTEM, "deal", deal["id"], {"amount": "5"}, None)["note"] == "same stage"


def test_conditions_values_and_templates_see_formula_fields_computed_when_read(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, DEAL)
    boss = _user(rt, "boss@x.com")
    _rule(rt, "big_deals", trigger={"on": "after_save"}, condition="big",
          actions=[{"action": "update_record", "set": {"note": 'size & " deal"'}},
                   {"action": "notify", "to": [{"user": "boss@x.com"}], "title": "{{ name }} is {{ size }}"}])
    big = rt.records.create(SYSTEM, "deal", {"name": "Big", "amount": "5000"})
    small = rt.records.create(SYSTEM, "deal", {"name": "Small", "amount": "10"})
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "deal", big["id"])["note"] == "big deal"
    assert rt.records.get(SYSTEM, "deal", small["id"])["note"] is None
    with rt.read() as conn:
        assert list(conn.execute(sa.select(notifications.c.title).where(notifications.c.user_id == boss))
                    .scalars()) == ["Big is big"]


def test_a_date_relative_rule_counts_from_when_a_record_was_created(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, DEAL)
    _rule(rt, "chase", trigger={"on": "date_relative", "field": "created_at", "offsets": [{"hours": 24}]},
          condition="ISBLANK(stage)", actions=[{"action": "update_record", "set": {"note": '"chased"'}}])
    waiting = rt.records.create(SYSTEM, "deal", {"name": "Waiting"})
    moving = rt.records.create(SYSTEM, "deal", {"name": "Moving", "stage": "demo"})
    now = datetime.now(UTC)
    with rt.write() as conn:
        rule = next(r for r in rt.rules.rules(conn, rt.snapshot(conn), "deal") if r.name == "chase")
        assert rt.rules.sweep_dates(conn, rule, now + timedelta(hours=12)) == 0
        assert rt.rules.sweep_dates(conn, rule, now + timedelta(hours=25)) == 1
        assert rt.rules.sweep_dates(conn, rule, now + timedelta(hours=30)) == 0
    assert rt.records.get(SYSTEM, "deal", waiting["id"])["note"] == "chased"
    assert rt.records.get(SYSTEM, "deal", moving["id"])["note"] is None


def test_actions_and_conversions_set_the_owner_and_email_the_address_a_formula_gives(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, DEAL)
    rt.metadata.create_object(SYSTEM, {"api_name": "task", "label": "Task", "fields": [
        {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
        {"api_name": "deal", "label": "Deal", "type": "lookup", "target": "deal", "related_name": "tasks"}]})
    ann, bob = _user(rt, "ann@x.com"), _user(rt, "bob@x.com")
    _rule(rt, "hand_over", trigger={"on": "after_save", "when": "created"}, condition="big", actions=[
        {"action": "create_record", "object": "task", "values": {"subject": '"Call " & name', "deal": "id",
                                                                  "owner": "owner"}},
        {"action": "update_record", "set": {"owner": str(bob)}},
        {"action": "send_email", "to": [{"formula": "email"}, {"user": "ann@x.com"}], "subject": "Hello {{ name }}",
         "body": "Thanks."}])
    rt.documents.create(SYSTEM, "conversions", {
        "api_name": "follow_up", "label": "Follow up", "object": "deal",
        "targets": [{"key": "task", "object": "task", "fields": {"subject": '"Follow up " & name', "deal": "id",
                                                                 "owner": "owner"}}]})
    deal = rt.records.create(SYSTEM, "deal", {"name": "Big", "amount": "5000", "owner": ann,
                                              "email": "buyer@customer.example"})
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "deal", deal["id"])["owner"] == bob
    task = rt.records.list(SYSTEM, "task")["data"][0]
    assert (task["subject"], task["owner"]) == ("Call Big", ann)
    with rt.read() as conn:
        sent = [dict(p) for p in conn.execute(sa.select(deliveries.c.payload)).scalars()]
    assert [(p["to"], p["subject"]) for p in sent] == [(["ann@x.com", "buyer@customer.example"], "Hello Big")]
    made = rt.conversions.convert(SYSTEM, "deal", deal["id"], "follow_up")
    follow = rt.records.get(SYSTEM, "task", made["records"][0]["id"])
    assert (follow["subject"], follow["owner"]) == ("Follow up Big", bob)


def test_a_template_writes_values_as_a_person_reads_them_and_decides_with_the_values(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "order", "label": "Order", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "total", "label": "Total", "type": "currency", "currency": "USD"},
        {"api_name": "status", "label": "Status", "type": "select",
         "options": [{"value": "closed_won", "label": "Closed won"}, {"value": "open", "label": "Open"}]},
        {"api_name": "rush", "label": "Rush", "type": "boolean"},
        {"api_name": "due", "label": "Due", "type": "date"}]})
    boss = _user(rt, "boss@x.com")
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "tell", "label": "Tell", "object": "order", "kind": "automation", "trigger": {"on": "after_save"},
        "actions": [{"action": "notify", "to": [{"user": "boss@x.com"}],
                     "title": "{{ name }}: {{ total }}, {{ status }}, rush {{ rush }}"
                              "{% if total > 10000 and status == 'closed_won' %} (big win){% endif %}"
                              "{% if not due %}, no date{% endif %}, twice {{ total * 2 }}"}]})
    rt.records.create(SYSTEM, "order", {"name": "A", "total": "53360", "status": "closed_won", "rush": True})
    rt.records.create(SYSTEM, "order", {"name": "B", "total": "950.5", "status": "open", "rush": False,
                                        "due": "2027-01-31"})
    rt.scheduler.drain()
    with rt.read() as conn:
        titles = sorted(conn.execute(sa.select(notifications.c.title).where(notifications.c.user_id == boss))
                        .scalars())
    assert titles == ["A: 53,360.00 USD, Closed won, rush Yes (big win), no date, twice 106720.00",
                      "B: 950.50 USD, Open, rush No, twice 1901.00"]
