"""The CRM's rules (R1-R11) at work, on SQLite and PostgreSQL: leads assigned in turns inside
their region and scored, speed-to-lead reminders and escalation, nurturing e-mails, stage
changes on deals, payments kept within the contract value, the stale-deals digest, renewals
90/60/30 days ahead (the daily job run twice adds nothing), overdue installments, contract
activation and expiry, and the High value / To reactivate segments.

Time is never waited for: scheduled rules are fired as their timer would fire them,
date-relative rules are swept at a moment ahead, and dates in records are set relative to
today."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import deliveries, notifications
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

from .conftest import admin, person

SYSTEM = Actor.system()
TODAY = date.today()
STAGES = (("Qualification", 1, "10", "open", 14), ("Needs Analysis", 2, "20", "open", 21),
          ("Proposal", 3, "50", "open", 21), ("Negotiation", 4, "75", "open", 14), ("Won", 5, "100", "won", None),
          ("Lost", 6, "0", "lost", None))


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def ensure_team(rt: Platform, name: str) -> None:
    if name not in {t["api_name"] for t in rt.users.teams.list()}:
        rt.users.teams.create(SYSTEM, {"api_name": name, "label": name.title(), "members": []})


def people(rt: Platform) -> dict[str, Actor]:
    """The demo's sales organisation: a manager over four reps in three regions, finance."""
    for team in ("east", "central", "west", "sales"):
        ensure_team(rt, team)
    found = {"manager": person(rt, "sales.manager@demo.tessera", roles=["sales_manager"])}
    for key, email, team in (("east1", "east.rep1@demo.tessera", "east"), ("east2", "east.rep2@demo.tessera", "east"),
                             ("central", "central.rep@demo.tessera", "central"),
                             ("west", "west.rep@demo.tessera", "west")):
        found[key] = person(rt, email, roles=["sales_rep"], teams=[team, "sales"],
                            manager="sales.manager@demo.tessera")
    found["finance"] = person(rt, "finance@demo.tessera", roles=["finance"])
    return found


def stages(rt: Platform) -> dict[str, int]:
    return {name: int(rt.records.create(SYSTEM, "sales_stage", {
        "name": name, "position": position, "probability": probability, "category": category,
        "rot_days": rot})["id"]) for name, position, probability, category, rot in STAGES}


def rule_named(rt: Platform, conn: Any, name: str) -> Any:
    snap = rt.snapshot(conn)
    for obj in snap.objects:
        for rule in rt.rules.rules(conn, snap, obj):
            if rule.name == name:
                return rule
    raise AssertionError(f"no active rule {name}")


def run_schedule(rt: Platform, *names: str, at: datetime | None = None) -> None:
    """Fire scheduled rules as their timers would (now, or at a given moment), then let the
    after-save work they cause run."""
    for name in names:
        with rt.write() as conn:
            rt.rules.fire_cron(conn, {"rule": rule_named(rt, conn, name).uid}, at or datetime.now(UTC))
    rt.scheduler.drain()


def sweep(rt: Platform, name: str, at: datetime) -> int:
    """Sweep a date-relative rule up to `at` (a moment ahead of now)."""
    with rt.write() as conn:
        fired = rt.rules.sweep_dates(conn, rule_named(rt, conn, name), at)
    rt.scheduler.drain()
    return fired


def titles(rt: Platform, actor: Actor) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.title).where(notifications.c.user_id == actor.user_id)
                                 .order_by(notifications.c.id)).scalars())


def emails(rt: Platform) -> list[dict[str, Any]]:
    with rt.read() as conn:
        return [dict(p) for p in conn.execute(sa.select(deliveries.c.payload).where(deliveries.c.channel == "email")
                                              .order_by(deliveries.c.id)).scalars()]


def records(rt: Platform, obj: str, filter: str | None = None) -> list[dict[str, Any]]:
    return rt.records.list(SYSTEM, obj, limit=500, **({"filter": filter} if filter else {}))["data"]


# -- R1 ---------------------------------------------------------------------------------
def test_new_leads_take_turns_inside_their_region_and_leads_without_one_go_round_the_sales_team(
        crm: Platform) -> None:
    team = people(crm)
    me = admin(crm)
    east = [crm.records.create(me, "lead", {"last_name": f"East {i}", "region": "east"})["owner"] for i in range(4)]
    assert east == [team["east1"].user_id, team["east2"].user_id] * 2
    central = crm.records.create(me, "lead", {"last_name": "Central", "region": "central"})
    assert central["owner"] == team["central"].user_id
    loose = [crm.records.create(me, "lead", {"last_name": f"Nowhere {i}"})["owner"] for i in range(4)]
    reps = {team[k].user_id for k in ("east1", "east2", "central", "west")}
    assert set(loose) == reps  # the whole sales team in turns
    # Moved to the West: a West rep takes it; an ordinary edit never takes a lead from its owner.
    moved = crm.records.update(me, "lead", central["id"], {"region": "west"}, None)
    assert moved["owner"] == team["west"].user_id
    assert crm.records.update(me, "lead", central["id"], {"company": "Acme"}, None)["owner"] == team["west"].user_id
    # A lead created with an owner picked by hand keeps it.
    picked = crm.records.create(me, "lead", {"last_name": "Picked", "region": "east", "owner": team["west"].user_id})
    assert picked["owner"] == team["west"].user_id


# -- R2 ---------------------------------------------------------------------------------
def test_lead_scores_add_up_the_points_table_and_an_a_grade_lead_gets_one_call_task(crm: Platform) -> None:
    team = people(crm)
    me = admin(crm)
    lead = crm.records.create(me, "lead", {"last_name": "Li", "region": "east", "source": "referral",
                                           "title": "销售总监", "employees_band": "501_1000"})
    assert (lead["score"], lead["grade"]) == (45, "C")  # 20 + 15 + 10
    lead = crm.records.update(me, "lead", lead["id"], {"email_opens": 1}, None)
    assert lead["score"] == 50
    lead = crm.records.update(me, "lead", lead["id"], {"email_opens": 4, "website_visits": 6}, None)
    assert (lead["score"], lead["grade"]) == (70, "B")  # opens capped at 15, visits + 10
    assert crm.records.create(me, "lead", {"last_name": "Cold", "title": "Head of IT", "do_not_email": True,
                                           "source": "paid_search"})["score"] == 15
    lead = crm.records.update(me, "lead", lead["id"], {"annual_revenue": "20000000"}, None)
    assert (lead["score"], lead["grade"]) == (80, "A")
    crm.scheduler.drain()
    calls = records(crm, "activity", f"lead.id = {lead['id']}")
    assert [(c["subject"], c["type"], c["owner"]) for c in calls] == [("Call within 24 h", "call",
                                                                       team["east1"].user_id)]
    due = datetime.fromisoformat(calls[0]["due_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) < due - datetime.now(UTC) <= timedelta(hours=24)
    # Scored again while still A: no second task.
    crm.records.update(me, "lead", lead["id"], {"website_visits": 2}, None)
    crm.records.update(me, "lead", lead["id"], {"website_visits": 9}, None)
    crm.scheduler.drain()
    assert len(records(crm, "activity", f"lead.id = {lead['id']}")) == 1


def test_a_lead_quiet_for_30_days_loses_15_points_overnight(crm: Platform) -> None:
    people(crm)
    me = admin(crm)
    quiet = crm.records.create(me, "lead", {"last_name": "Quiet", "source": "webinar",
                                            "last_activity_at": (datetime.now(UTC) - timedelta(days=31)).isoformat()})
    busy = crm.records.create(me, "lead", {"last_name": "Busy", "source": "webinar",
                                           "last_activity_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()})
    assert (quiet["score"], busy["score"]) == (0, 15)
    with crm.write() as conn:  # the quiet lead was scored a while ago, before it went quiet
        conn.execute(sa.text("UPDATE lead SET score = 15 WHERE id = :id"), {"id": quiet["id"]})
    run_schedule(crm, "lead_rescore_inactive")
    assert crm.records.get(me, "lead", quiet["id"])["score"] == 0
    assert crm.records.get(me, "lead", busy["id"])["score"] == 15


# -- R3 ---------------------------------------------------------------------------------
def test_a_new_lead_nobody_works_reminds_its_owner_after_a_day_and_goes_to_the_manager_after_two(
        crm: Platform) -> None:
    team = people(crm)
    me = admin(crm)
    waiting = crm.records.create(me, "lead", {"last_name": "Waiting", "company": "Acme", "region": "west"})
    called = crm.records.create(me, "lead", {"last_name": "Called", "region": "west"})
    done_at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    crm.records.create(team["west"], "activity", {"subject": "First call", "type": "call", "lead": called["id"],
                                                  "status": "done", "completed_at": done_at.isoformat()})
    crm.scheduler.drain()
    worked = crm.records.get(me, "lead", called["id"])["last_activity_at"]
    assert datetime.fromisoformat(worked.replace("Z", "+00:00")) == done_at
    now = datetime.now(UTC)
    assert sweep(crm, "lead_speed_reminder", now + timedelta(hours=12)) == 0
    assert sweep(crm, "lead_speed_reminder", now + timedelta(hours=25)) == 1
    assert titles(crm, team["west"]) == ["New lead waiting 24 h: Waiting"]
    assert sweep(crm, "lead_speed_escalation", now + timedelta(hours=49)) == 1
    assert crm.records.get(me, "lead", waiting["id"])["owner"] == team["manager"].user_id
    assert crm.records.get(me, "lead", called["id"])["owner"] == team["west"].user_id
    assert titles(crm, team["manager"]) == ["Lead reassigned to you after 48 h without contact: Waiting"]
    assert sweep(crm, "lead_speed_escalation", now + timedelta(hours=60)) == 0  # once


# -- R4 ---------------------------------------------------------------------------------
def test_a_nurturing_lead_joins_the_nurture_campaign_once_and_gets_its_emails_until_it_responds(
        crm: Platform) -> None:
    people(crm)
    me = admin(crm)
    nurture = crm.records.create(me, "campaign", {"name": "Nurture", "type": "email", "status": "active"})
    lead = crm.records.create(me, "lead", {"last_name": "Ng", "first_name": "Amy", "email": "amy@customer.example",
                                           "region": "east", "source": "referral", "title": "CEO"})
    crm.scheduler.drain()
    assert records(crm, "campaign_member") == []  # a new lead is the rep's to call first
    crm.records.update(me, "lead", lead["id"], {"status": "nurturing"}, None)
    crm.scheduler.drain()
    crm.records.update(me, "lead", lead["id"], {"email_opens": 1}, None)  # saved again: joins once
    crm.scheduler.drain()
    members = records(crm, "campaign_member")
    assert [(m["campaign"], m["lead"]) for m in members] == [(nurture["id"], lead["id"])]
    assert [(e["to"], e["subject"]) for e in emails(crm)] == [(["amy@customer.example"],
                                                               "Amy Ng, thanks for your interest")]
    now = datetime.now(UTC)
    assert sweep(crm, "nurture_email_day_3", now + timedelta(days=3, hours=1)) == 1
    assert emails(crm)[-1]["subject"] == "How other teams did it"
    # The lead answers: the day-7 e-mail is not sent.
    crm.records.update(me, "campaign_member", members[0]["id"], {"status": "responded"}, None)
    assert sweep(crm, "nurture_email_day_7", now + timedelta(days=7, hours=1)) == 0
    assert len(emails(crm)) == 2
    # A contacted lead still scoring under 40 joins too; one asking for no e-mail does not.
    low = crm.records.create(me, "lead", {"last_name": "Low", "email": "low@customer.example", "region": "west"})
    crm.records.update(me, "lead", low["id"], {"status": "contacted"}, None)
    quiet = crm.records.create(me, "lead", {"last_name": "No mail", "email": "no@customer.example",
                                            "do_not_email": True})
    crm.records.update(me, "lead", quiet["id"], {"status": "nurturing"}, None)
    crm.scheduler.drain()
    assert sorted(m["lead"] for m in records(crm, "campaign_member")) == [lead["id"], low["id"]]


# -- R5 ---------------------------------------------------------------------------------
def test_a_stage_change_stamps_the_date_takes_the_probability_and_acts_on_proposal_and_won(
        crm: Platform) -> None:
    team = people(crm)
    stage = stages(crm)
    rep = team["east1"]
    account = crm.records.create(SYSTEM, "account", {"name": "Northwind", "owner": rep.user_id})
    deal = crm.records.create(rep, "opportunity", {"name": "Northwind seats", "account": account["id"],
                                                   "stage": stage["Qualification"], "close_date": day(60),
                                                   "manual_amount": "50000"})
    assert deal["probability"] == "10" and deal["stage_entered_at"] is not None and deal["closed_at"] is None
    deal = crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Proposal"]}, deal["version"])
    assert deal["probability"] == "50"
    crm.scheduler.drain()
    tasks = records(crm, "activity", f"opportunity.id = {deal['id']}")
    assert [(t["subject"], t["owner"], t["account"]) for t in tasks] == [("Send quote", rep.user_id, account["id"])]
    due = datetime.fromisoformat(tasks[0]["due_at"].replace("Z", "+00:00"))
    assert timedelta(days=1, hours=23) < due - datetime.now(UTC) <= timedelta(days=2)
    # A probability typed in the same save wins over the stage's.
    deal = crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Negotiation"], "probability": "60"},
                              deal["version"])
    assert deal["probability"] == "60"
    crm.scheduler.drain()
    # Lost needs a reason (the opportunity's validation rule).
    with pytest.raises(InvalidInput):
        crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Lost"]}, deal["version"])
    product = crm.records.create(SYSTEM, "product", {"code": "SEAT", "name": "Seat", "list_price": "1000"})
    for primary, discount in ((False, "0"), (True, "10")):
        crm.records.create(rep, "quote", {"opportunity": deal["id"], "is_primary": primary, "lines": [
            {"product": product["id"], "quantity": "50", "discount_pct": discount}]})
    deal = crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Won"]}, None)
    assert (deal["closed_at"], deal["probability"], deal["is_won"]) == (TODAY.isoformat(), "100", True)
    crm.scheduler.drain()
    assert titles(crm, team["finance"]) == ["Deal won: Northwind seats (50,000.00 USD)"]
    # The contract is drafted from the primary quote, once.
    drafted = records(crm, "contract")
    assert [(c["name"], c["status"], c["contract_value"], c["discount_pct"], c["owner"], c["account"])
            for c in drafted] == [("Northwind seats", "draft", "45000.00", "10.00", rep.user_id, account["id"])]
    primary = next(q for q in records(crm, "quote") if q["is_primary"])
    assert drafted[0]["quote"] == primary["id"] and drafted[0]["opportunity"] == deal["id"]
    # Reopened: no longer closed; won again: no second contract.
    deal = crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Negotiation"]}, None)
    assert deal["closed_at"] is None
    crm.scheduler.drain()
    crm.records.update(rep, "opportunity", deal["id"], {"stage": stage["Won"]}, None)
    crm.scheduler.drain()
    assert len(records(crm, "contract")) == 1


# -- R6 ---------------------------------------------------------------------------------
def contract(rt: Platform, owner: Actor, account: dict[str, Any], *, ends_in: int, value: str = "120000",
             status: str = "activated", **more: Any) -> dict[str, Any]:
    """A 12-month contract ending `ends_in` days from today."""
    start = date.fromisoformat(day(ends_in + 1))
    start = start.replace(year=start.year - 1)
    return rt.records.create(SYSTEM, "contract", {
        "name": f"{account['name']} {ends_in}", "account": account["id"], "start_date": start.isoformat(),
        "term_months": 12, "contract_value": value, "status": status, "owner": owner.user_id, **more})


def test_payments_cannot_add_up_to_more_than_the_contract_value(crm: Platform) -> None:
    team = people(crm)
    account = crm.records.create(SYSTEM, "account", {"name": "Contoso"})
    signed = contract(crm, team["east1"], account, ends_in=200, value="1000")
    first = crm.records.create(SYSTEM, "payment", {"contract": signed["id"], "amount": "600", "reference": "A"})
    with pytest.raises(InvalidInput) as refused:
        crm.records.create(SYSTEM, "payment", {"contract": signed["id"], "amount": "500", "reference": "B"})
    assert [p.field for p in refused.value.errors] == ["amount"]
    crm.records.create(SYSTEM, "payment", {"contract": signed["id"], "amount": "400", "reference": "C"})
    # Changing a received payment counts it once, not twice.
    crm.records.update(SYSTEM, "payment", first["id"], {"amount": "550"}, None)
    with pytest.raises(InvalidInput):
        crm.records.update(SYSTEM, "payment", first["id"], {"amount": "650"}, None)
    # An expected payment is no money yet.
    crm.records.create(SYSTEM, "payment", {"contract": signed["id"], "amount": "900", "reference": "D",
                                           "status": "expected"})
    assert crm.records.get(SYSTEM, "contract", signed["id"])["paid_amount"] == "950.00"


# -- R7 ---------------------------------------------------------------------------------
def test_the_monday_digest_tells_each_owner_of_their_stale_deals(crm: Platform) -> None:
    team = people(crm)
    stage = stages(crm)
    account = crm.records.create(SYSTEM, "account", {"name": "Fabrikam"})
    long_ago = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    for name, rep, entered in (("Old east", "east1", long_ago), ("Fresh east", "east1", None),
                               ("Old west", "west", long_ago)):
        crm.records.create(SYSTEM, "opportunity", {
            "name": name, "account": account["id"], "stage": stage["Qualification"], "close_date": day(30),
            "owner": team[rep].user_id, **({"stage_entered_at": entered} if entered else {})})
    run_schedule(crm, "stale_deals_weekly")
    assert titles(crm, team["east1"]) == ["Stale deal: Old east"]
    assert titles(crm, team["west"]) == ["Stale deal: Old west"]


# -- R8 ---------------------------------------------------------------------------------
def test_renewals_90_60_and_30_days_ahead_happen_once_however_often_the_daily_job_runs(crm: Platform) -> None:
    team = people(crm)
    stage = stages(crm)
    rep, owner_of_account = team["east1"], team["east2"]
    acme = crm.records.create(SYSTEM, "account", {"name": "Acme", "owner": owner_of_account.user_id})
    globex = crm.records.create(SYSTEM, "account", {"name": "Globex", "owner": rep.user_id})
    initech = crm.records.create(SYSTEM, "account", {"name": "Initech", "owner": rep.user_id})
    far = contract(crm, rep, acme, ends_in=120)
    at_85 = contract(crm, rep, acme, ends_in=85)
    at_50 = contract(crm, rep, globex, ends_in=50)
    negotiating = contract(crm, rep, initech, ends_in=20)
    renewal = crm.records.create(SYSTEM, "opportunity", {
        "name": "Initech renewal", "account": initech["id"], "stage": stage["Negotiation"], "close_date": day(20),
        "type": "renewal", "renewal_of": negotiating["id"]})
    crm.records.update(SYSTEM, "contract", negotiating["id"], {"renewal_opportunity": renewal["id"]}, None)
    draft = contract(crm, rep, globex, ends_in=40, status="draft")
    daily = ("renewal_90_days", "renewal_60_days", "renewal_30_days", "renewal_at_risk")
    run_schedule(crm, *daily)
    run_schedule(crm, *daily, at=datetime.now(UTC) + timedelta(minutes=5))  # the daily job twice the same day

    opps = records(crm, "opportunity", 'type = "renewal"')
    made = [o for o in opps if o["id"] != renewal["id"]]
    assert sorted(o["renewal_of"] for o in made) == sorted([at_85["id"], at_50["id"]])
    mine = next(o for o in made if o["renewal_of"] == at_85["id"])
    assert (mine["manual_amount"], mine["amount"], mine["close_date"], mine["account"], mine["owner"],
            mine["stage"]) == ("120000.00", "120000.00", at_85["end_date"], acme["id"], owner_of_account.user_id,
                               stage["Qualification"])
    tasks = records(crm, "activity", f"contract.id = {at_85['id']}")
    assert [(t["subject"], t["opportunity"]) for t in tasks] == [(f"Prepare the renewal of {at_85['name']}",
                                                                  mine["id"])]
    got = {c["id"]: c for c in records(crm, "contract")}
    assert got[at_85["id"]]["renewal_opportunity"] == mine["id"]
    assert [(got[c["id"]]["renewal_90_sent"], got[c["id"]]["renewal_60_sent"], got[c["id"]]["renewal_30_sent"])
            for c in (far, at_85, at_50, negotiating, draft)] == [
        (False, False, False), (True, False, False), (True, True, False), (False, True, True), (False, False, False)]
    # -60: the owner e-mailed once per contract; -30: the manager told once.
    assert Counter(e["subject"] for e in emails(crm)) == {
        f"Renewal due: {at_50['name']} ends on {at_50['end_date']}": 1,
        f"Renewal due: {negotiating['name']} ends on {negotiating['end_date']}": 1}
    assert titles(crm, team["manager"]) == [f"Renewal in 30 days: {negotiating['name']}"]
    # The renewal in Negotiation keeps Initech safe; moved back to Proposal, the account is at risk.
    assert crm.records.get(SYSTEM, "account", initech["id"])["renewal_at_risk"] is False
    crm.records.update(SYSTEM, "opportunity", renewal["id"], {"stage": stage["Proposal"]}, None)
    run_schedule(crm, *daily, at=datetime.now(UTC) + timedelta(minutes=10))
    assert crm.records.get(SYSTEM, "account", initech["id"])["renewal_at_risk"] is True
    assert len(records(crm, "opportunity", 'type = "renewal"')) == 3
    assert len(emails(crm)) == 2


# -- R9 ---------------------------------------------------------------------------------
def test_overdue_installments_are_told_to_the_owner_and_finance_once_a_day(crm: Platform) -> None:
    team = people(crm)
    account = crm.records.create(SYSTEM, "account", {"name": "Umbrella"})
    signed = contract(crm, team["central"], account, ends_in=300, value="3000")
    late = crm.records.create(SYSTEM, "payment_plan", {"name": "1 of 2", "contract": signed["id"],
                                                        "due_date": day(-5), "planned_amount": "1000"})
    crm.records.create(SYSTEM, "payment_plan", {"name": "2 of 2", "contract": signed["id"], "due_date": day(25),
                                                "planned_amount": "2000"})
    paid = crm.records.create(SYSTEM, "payment_plan", {"name": "0", "contract": signed["id"], "due_date": day(-9),
                                                        "planned_amount": "100"})
    crm.records.create(SYSTEM, "payment", {"contract": signed["id"], "payment_plan": paid["id"], "amount": "100"})
    assert crm.records.get(SYSTEM, "payment_plan", late["id"])["state"] == "Overdue"
    run_schedule(crm, "payment_plan_overdue")
    run_schedule(crm, "payment_plan_overdue", at=datetime.now(UTC) + timedelta(minutes=5))
    assert titles(crm, team["central"]) == ["Overdue payment: 1 of 2"]
    assert titles(crm, team["finance"]) == ["Overdue payment: 1 of 2"]
    assert crm.records.get(SYSTEM, "payment_plan", late["id"])["overdue_notified_on"] == TODAY.isoformat()
    # The next day it is told again.
    with crm.write() as conn:
        conn.execute(sa.text("UPDATE payment_plan SET overdue_notified_on = :d WHERE id = :id"),
                     {"d": TODAY - timedelta(days=1), "id": late["id"]})
    run_schedule(crm, "payment_plan_overdue", at=datetime.now(UTC) + timedelta(minutes=10))
    assert titles(crm, team["finance"]) == ["Overdue payment: 1 of 2"] * 2


# -- R10 and activation -------------------------------------------------------------------
def test_contracts_activate_once_signed_and_expire_after_their_end_unless_renewed(crm: Platform) -> None:
    team = people(crm)
    stage = stages(crm)
    rep = team["west"]
    account = crm.records.create(SYSTEM, "account", {"name": "Stark"})
    ended = contract(crm, rep, account, ends_in=-3)
    renewed = contract(crm, rep, account, ends_in=-2)
    won = crm.records.create(SYSTEM, "opportunity", {"name": "Stark renewal", "account": account["id"],
                                                     "stage": stage["Won"], "close_date": day(-5),
                                                     "engage_date": day(-60), "type": "renewal",
                                                     "renewal_of": renewed["id"]})
    crm.records.update(SYSTEM, "contract", renewed["id"], {"renewal_opportunity": won["id"]}, None)
    running = contract(crm, rep, account, ends_in=100)
    approved = contract(crm, rep, account, ends_in=300, status="approved")
    future = contract(crm, rep, account, ends_in=300, status="approved", signed_date=day(3))
    crm.records.update(SYSTEM, "contract", approved["id"], {"signed_date": day(0)}, None)
    crm.scheduler.drain()
    run_schedule(crm, "contract_expire", "contract_renewed", "contract_activate_daily")
    status = {c["id"]: c["status"] for c in records(crm, "contract")}
    assert [status[c["id"]] for c in (ended, renewed, running, approved, future)] == [
        "expired", "renewed", "activated", "activated", "approved"]
    with crm.write() as conn:  # three days later
        conn.execute(sa.text("UPDATE contract SET signed_date = :d WHERE id = :id"),
                     {"d": TODAY, "id": future["id"]})
    run_schedule(crm, "contract_activate_daily")
    assert crm.records.get(SYSTEM, "contract", future["id"])["status"] == "activated"


# -- R11 ----------------------------------------------------------------------------------
def test_accounts_are_ticked_high_value_and_to_reactivate(crm: Platform) -> None:
    people(crm)
    stage = stages(crm)
    big = crm.records.create(SYSTEM, "account", {"name": "Big", "type": "customer"})
    small = crm.records.create(SYSTEM, "account", {"name": "Small", "type": "customer"})
    prospect = crm.records.create(SYSTEM, "account", {"name": "Prospect", "type": "prospect"})
    for account, amount in ((big, "80000"), (big, "30000"), (small, "5000")):
        crm.records.create(SYSTEM, "opportunity", {"name": f"{account['name']} {amount}", "account": account["id"],
                                                   "stage": stage["Won"], "close_date": day(-10),
                                                   "engage_date": day(-60), "manual_amount": amount})
    crm.records.create(SYSTEM, "activity", {"subject": "Visit", "account": small["id"], "status": "done",
                                            "completed_at": datetime.now(UTC).isoformat()})
    crm.scheduler.drain()
    run_schedule(crm, "segment_to_reactivate")
    got = {a["id"]: (a["high_value"], a["to_reactivate"]) for a in records(crm, "account")}
    assert got == {big["id"]: (True, True), small["id"]: (False, False), prospect["id"]: (False, False)}


# -- the sample story ----------------------------------------------------------------------
def test_every_rule_runs_over_the_sample_story_without_a_failure_and_the_daily_jobs_twice_add_nothing(
        crm: Platform) -> None:
    from tessera.data.tables import rule_runs
    from tessera.packages import people as demo_people

    from .conftest import crm_package

    me, package = admin(crm), crm_package(crm)
    demo_people.make_people(crm.users, me, package, crm.settings.demo_password)
    crm.packages.applier.load_data(me, package)
    crm.scheduler.drain()
    scheduled = [r.name for r in _rules_on(crm, "schedule")]
    assert len(scheduled) == 11
    run_schedule(crm, *scheduled)

    def made() -> dict[str, int]:
        with crm.read() as conn:
            counts = {name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())
                      for name in ("opportunity", "activity", "contract", "campaign_member")}
            counts["notifications"] = int(conn.execute(sa.select(sa.func.count()).select_from(notifications))
                                          .scalar_one())
            counts["emails"] = int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())
        return counts

    first = made()
    daily = [name for name in scheduled if name != "stale_deals_weekly"]  # a digest tells again each week
    run_schedule(crm, *daily, at=datetime.now(UTC) + timedelta(minutes=30))
    assert made() == first
    with crm.read() as conn:
        bad = conn.execute(sa.select(rule_runs.c.rule, rule_runs.c.outcome, rule_runs.c.error)
                           .where(rule_runs.c.outcome.in_(("failed", "limited")))).all()
    assert bad == []
    # The story is live: the contracts ending within 90 days have their renewals, the overdue
    # installment was told to finance.
    ending = records(crm, "contract", 'status = "activated" AND end_date - TODAY() <= 90 AND end_date >= TODAY()')
    assert ending and all(c["renewal_90_sent"] and c["renewal_opportunity"] for c in ending)
    finance = crm.users.accounts.list(q="finance@demo.tessera")["data"][0]
    with crm.read() as conn:
        told = list(conn.execute(sa.select(notifications.c.title).where(
            notifications.c.user_id == int(finance["id"]))).scalars())
    assert any(t.startswith("Overdue payment") for t in told)


def _rules_on(rt: Platform, trigger: str) -> list[Any]:
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        return [r for obj in snap.objects for r in rt.rules.rules(conn, snap, obj) if r.on == trigger]
