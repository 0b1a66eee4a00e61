"""The CRM's sample data: a story a newcomer can work in on the first day — enough records of
every kind, dated from the install so renewals, overdue installments and stale deals are live,
owned by the demo's people by region — and loading it again adds nothing."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.packages import people
from tessera.runtime.platform import Platform

from .conftest import admin, crm_package

#: The demo's people the sample records name as owners (templates/crm/demo/people.json).
PEOPLE = {"sales.manager@demo.tessera": [], "east.rep1@demo.tessera": ["east"], "east.rep2@demo.tessera": ["east"],
          "central.rep@demo.tessera": ["central"], "west.rep@demo.tessera": ["west"]}
AT_LEAST = {"account": 25, "contact": 60, "lead": 120, "opportunity": 60, "quote": 10, "contract": 8, "campaign": 5,
            "campaign_member": 20, "activity": 60, "payment_plan": 8, "payment": 5, "order": 5, "product": 12,
            "sales_stage": 6, "lost_reason": 7}


def every(rt: Platform, actor: Actor, name: str, **options: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = rt.records.list(actor, name, limit=1000, cursor=cursor, **options)
        out += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


@pytest.fixture
def loaded(crm: Platform) -> tuple[Platform, Actor, dict[str, Any]]:
    """The CRM with the demo's people (demo/people.json) and the sample data loaded, as
    `tessera demo` loads them, and what the load said."""
    me, package = admin(crm), crm_package(crm)
    people.make_people(crm.users, me, package, crm.settings.demo_password)
    return crm, me, crm.packages.applier.load_data(me, package)


def count(rt: Platform, actor: Actor, name: str) -> int:
    return int(rt.records.list(actor, name, limit=1, total=True)["total"])


def test_the_sample_data_has_enough_of_every_kind_and_a_second_load_adds_nothing(loaded: Any) -> None:
    rt, me, first = loaded
    counts = {name: count(rt, me, name) for name in AT_LEAST}
    assert {n: c for n, c in counts.items() if c < AT_LEAST[n]} == {}
    assert first["records"] >= sum(AT_LEAST.values())

    again = rt.packages.applier.load_data(me, crm_package(rt))
    assert again == {"records": 0}
    assert {name: count(rt, me, name) for name in AT_LEAST} == counts


def test_the_stages_are_the_pipeline_and_the_deals_run_through_all_of_them(loaded: Any) -> None:
    rt, me, _ = loaded
    stages = {s["name"]: s for s in every(rt, me, "sales_stage")}
    assert {n: (s["position"], s["probability"], s["category"], s["forecast_category"], s["rot_days"])
            for n, s in stages.items()} == {
        "Qualification": (1, "10", "open", "pipeline", 14), "Needs Analysis": (2, "20", "open", "pipeline", 21),
        "Proposal": (3, "50", "open", "best_case", 21), "Negotiation": (4, "75", "open", "commit", 14),
        "Won": (5, "100", "won", "closed", None), "Lost": (6, "0", "lost", "omitted", None)}
    by_id = {s["id"]: n for n, s in stages.items()}
    deals = every(rt, me, "opportunity")
    per_stage = Counter(by_id[d["stage"]] for d in deals)
    assert set(per_stage) == set(stages) and min(per_stage.values()) >= 5
    today = date.today()
    for deal in deals:
        if deal["is_closed"]:
            assert deal["closed_at"] and date.fromisoformat(deal["closed_at"]) <= today, deal["name"]
        if by_id[deal["stage"]] == "Lost":
            assert deal["lost_reason"], deal["name"]
        assert deal["probability"] == stages[by_id[deal["stage"]]]["probability"]
    assert sum(1 for d in deals if d["is_stale"]) >= 3
    assert any(not d["is_stale"] and not d["is_closed"] for d in deals)


def test_an_opportunity_with_lines_amounts_to_its_lines_and_one_without_to_its_manual_amount(loaded: Any) -> None:
    rt, me, _ = loaded
    deals = every(rt, me, "opportunity")
    with_lines = without = 0
    for listed in deals:
        deal = rt.records.get(me, "opportunity", listed["id"])
        if deal["lines"]:
            with_lines += 1
            assert Decimal(deal["amount"]) == sum(Decimal(line["net_amount"]) for line in deal["lines"]), deal["name"]
        else:
            without += 1
            assert deal["amount"] == deal["manual_amount"], deal["name"]
    assert with_lines >= 40 and without >= 5


def test_contracts_are_in_every_state_with_renewals_due_and_an_installment_overdue(loaded: Any) -> None:
    rt, me, _ = loaded
    contracts = every(rt, me, "contract")
    states = Counter(c["status"] for c in contracts)
    assert {"draft", "approved", "activated", "expired", "renewed"} <= set(states)
    ending = sorted(int(c["days_to_expiry"]) for c in contracts if c["status"] == "activated"
                    and 0 <= int(c["days_to_expiry"]) <= 90)
    # One renewal in each window: 90, 60 and 30 days before the end.
    assert [d // 30 for d in ending] == [0, 1, 2], ending
    expired = [c for c in contracts if c["status"] == "expired"]
    assert all(date.fromisoformat(c["end_date"]) < date.today() for c in expired)

    plans = every(rt, me, "payment_plan")
    by_state = Counter(p["state"] for p in plans)
    assert by_state["Overdue"] >= 1 and by_state["Paid"] >= 3 and by_state["Open"] >= 1
    collected = {c["id"]: c for c in contracts}
    for contract in collected.values():
        planned = sum(Decimal(p["planned_amount"]) for p in plans if p["contract"] == contract["id"])
        if contract["status"] in ("approved", "activated", "expired", "renewed"):
            assert planned == Decimal(contract["contract_value"]), contract["name"]
        assert Decimal(contract["paid_amount"]) <= Decimal(contract["contract_value"])
    assert any(Decimal(c["outstanding"]) > 0 and c["status"] == "activated" for c in contracts)
    orders = every(rt, me, "order")
    assert {o["contract"] for o in orders} >= {c["id"] for c in contracts
                                               if c["status"] in ("approved", "activated")}


def test_leads_campaigns_and_activities_tell_the_story(loaded: Any) -> None:
    rt, me, _ = loaded
    leads = every(rt, me, "lead")
    statuses = Counter(lead["status"] for lead in leads)
    assert set(statuses) == {"new", "contacted", "nurturing", "qualified", "converted", "unqualified", "junk"}
    assert len({lead["source"] for lead in leads}) >= 10 and {lead["region"] for lead in leads} == {
        "east", "central", "west"}
    assert sum(1 for lead in leads if lead["grade"] == "A") >= 3
    converted = [lead for lead in leads if lead["converted"]]
    assert len(converted) >= 10 and all(lead["status"] == "converted" for lead in converted)
    for lead in converted:
        deal = rt.records.get(me, "opportunity", lead["converted_opportunity"])
        assert deal["lead"] == lead["id"] and lead["converted_account"] == deal["account"]

    campaigns = every(rt, me, "campaign")
    assert all(int(c["leads_count"]) > 0 or c["status"] == "planned" for c in campaigns)
    assert any(Decimal(c["actual_cost"] or 0) > 0 and int(c["won_count"]) > 0 for c in campaigns)

    activities = every(rt, me, "activity")
    assert {a["type"] for a in activities} >= {"call", "meeting", "task"}
    assert Counter(a["status"] for a in activities).keys() >= {"done", "planned"}
    assert sum(1 for a in activities if a["is_overdue"]) >= 3
    assert all(a["lead"] or a["account"] or a["opportunity"] or a["contact"] or a["contract"] for a in activities)


def test_records_are_owned_by_the_demo_people_of_their_region(loaded: Any) -> None:
    rt, me, _ = loaded
    emails = {u["id"]: u["email"] for u in rt.users.accounts.list(limit=200)["data"]}
    accounts = every(rt, me, "account")
    assert {emails[a["owner"]] for a in accounts} == set(PEOPLE)
    for account in accounts:
        owner = emails[account["owner"]]
        assert owner == "sales.manager@demo.tessera" or account["region"] in PEOPLE[owner], account["name"]
    children = [a for a in accounts if a["parent_account"]]
    assert len(children) >= 3

    window = date.today() + timedelta(days=90)
    soon = [c for c in every(rt, me, "contract") if c["status"] == "activated"
            and date.fromisoformat(c["end_date"]) <= window]
    account_owner = {a["id"]: a["owner"] for a in accounts}
    assert all(c["owner"] == account_owner[c["account"]] for c in soon)
