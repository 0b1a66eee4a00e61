"""The CRM's contract approval, on SQLite and PostgreSQL: the ladder takes its steps from the
contract's discount, value and payment terms; legal and finance must both approve; a
rejection sends the contract back to Rejected and a resubmission starts over; the submitter
may recall; legal may send it back to the sales director; reminders after a day and the
task moves to the approver's manager after two; the final approval makes one order with
the quote's lines and the payment plan of the payment terms, and tells the owner and
finance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import notifications
from tessera.errors import Conflict, InvalidInput
from tessera.runtime.platform import Platform

from .conftest import admin, person

FLOW = "contract_approval"


@dataclass
class Team:
    rt: Platform
    by_email: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.by_email[f"{name}@demo.tessera"]


@pytest.fixture
def team(crm: Platform) -> Team:
    people: dict[str, Actor] = {}

    def add(name: str, roles: list[str], manager: str | None = None, teams: list[str] | None = None) -> None:
        email = f"{name}@demo.tessera"
        people[email] = person(crm, email, roles=roles, teams=teams or [],
                               manager=f"{manager}@demo.tessera" if manager else None)

    add("gm", ["general_manager"])
    add("director", ["sales_director"], "gm")
    add("sales.manager", ["sales_manager"], "director", ["east", "central", "west"])
    add("east.rep1", ["sales_rep"], "sales.manager", ["east"])
    add("legal.head", ["legal"], "gm")
    add("legal", ["legal"], "legal.head")
    add("finance", ["finance"], "gm")
    return Team(crm, people)


def _quote(rt: Platform, rep: Actor, discount: str) -> dict[str, Any]:
    me = admin(rt)
    stage = rt.records.create(me, "sales_stage", {"name": "Negotiation", "position": 4, "probability": "75"})
    seat = rt.records.create(me, "product", {"code": f"S{discount}", "name": "Seat", "list_price": "1000"})
    setup = rt.records.create(me, "product", {"code": f"O{discount}", "name": "Onboarding", "list_price": "5000"})
    account = rt.records.create(rep, "account", {"name": f"Globex {discount}"})
    deal = rt.records.create(rep, "opportunity", {"name": "Globex seats", "account": account["id"],
                                                 "stage": stage["id"], "close_date": "2031-06-30"})
    return rt.records.create(rep, "quote", {"opportunity": deal["id"], "status": "accepted", "lines": [
        {"product": seat["id"], "quantity": "100", "discount_pct": discount, "description": "Seats"},
        {"product": setup["id"], "quantity": "2", "discount_pct": discount}]})


def _contract(team: Team, *, discount: str = "5", value: str = "100000", terms: str = "net_30",
              quote: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    rt, rep = team.rt, team["east.rep1"]
    account = quote["account"] if quote else rt.records.create(rep, "account", {"name": "Initech"})["id"]
    values = {"name": "Initech MSA", "account": account, "start_date": "2030-01-01", "term_months": 12,
              "contract_value": value, "discount_pct": discount, "payment_terms": terms, "owner": rep.user_id,
              **({"quote": quote["id"], "opportunity": quote["opportunity"]} if quote else {}), **more}
    return rt.records.create(admin(rt), "contract", values)


def _open(rt: Platform, instance_id: int) -> list[dict[str, Any]]:
    return [t for t in rt.flows.instance(admin(rt), instance_id)["tasks"] if t["status"] == "open"]


def _decide(team: Team, instance_id: int, step: str, action: str = "approve", **body: Any) -> dict[str, Any]:
    tasks = [t for t in _open(team.rt, instance_id) if t["step"] == step]
    assert tasks, f"no open task at {step}: {_open(team.rt, instance_id)}"
    who = team.by_email[tasks[0]["assignee_email"]]
    return team.rt.flows.act(who, tasks[0]["id"], {"action": action, "comment": f"{action} at {step}", **body})


def _approve_all(team: Team, instance_id: int) -> list[str]:
    """Approve every open task until the request is decided; the steps asked, in order."""
    asked: list[str] = []
    while (tasks := _open(team.rt, instance_id)):
        asked = list(dict.fromkeys([*asked, *(t["step"] for t in tasks)]))
        _decide(team, instance_id, tasks[0]["step"])
    return asked


def _status(rt: Platform, contract_id: int) -> str:
    return str(rt.records.get(admin(rt), "contract", contract_id)["status"])


def _submit(team: Team, contract_id: int) -> dict[str, Any]:
    return team.rt.flows.start(team["east.rep1"], FLOW, contract_id, "please approve")


@pytest.mark.parametrize(("discount", "steps"), [
    ("5", ["manager"]),
    ("15", ["manager", "sales_director"]),
    ("25", ["manager", "sales_director", "legal", "finance"]),
    ("35", ["manager", "sales_director", "legal", "finance", "general_manager"])])
def test_the_discount_ladder_decides_the_steps(team: Team, discount: str, steps: list[str]) -> None:
    contract = _contract(team, discount=discount)
    started = _submit(team, contract["id"])
    assert started["status"] == "running" and started["locked"]
    assert _status(team.rt, contract["id"]) == "in_approval"
    assert [t["assignee_email"] for t in _open(team.rt, started["id"])] == ["sales.manager@demo.tessera"]
    assert _approve_all(team, started["id"]) == steps
    assert team.rt.flows.instance(admin(team.rt), started["id"])["status"] == "approved"
    assert _status(team.rt, contract["id"]) == "approved"


@pytest.mark.parametrize(("value", "terms", "steps"), [
    ("500000", "net_30", ["manager", "sales_director"]),
    ("1000000", "prepaid", ["manager", "sales_director", "legal", "finance"]),
    ("1000", "net_60", ["manager", "legal", "finance"])])
def test_value_and_payment_terms_add_steps_too(team: Team, value: str, terms: str, steps: list[str]) -> None:
    contract = _contract(team, value=value, terms=terms)
    assert _approve_all(team, _submit(team, contract["id"])["id"]) == steps


def test_legal_and_finance_must_both_approve_and_the_record_is_locked_meanwhile(team: Team) -> None:
    rt = team.rt
    contract = _contract(team, discount="25")
    instance = _submit(team, contract["id"])["id"]
    _decide(team, instance, "manager")
    _decide(team, instance, "sales_director")
    assert sorted(t["step"] for t in _open(rt, instance)) == ["finance", "legal", "legal"]
    # Either legal person may approve for legal (any one of the role).
    assert sorted(t["assignee_email"] for t in _open(rt, instance) if t["step"] == "legal") == [
        "legal.head@demo.tessera", "legal@demo.tessera"]
    with pytest.raises(InvalidInput, match="locked"):
        rt.records.update(team["sales.manager"], "contract", contract["id"], {"contract_value": "1"}, None)
    _decide(team, instance, "legal")
    assert [t["step"] for t in _open(rt, instance)] == ["finance"]
    assert _status(rt, contract["id"]) == "in_approval"
    _decide(team, instance, "finance")
    assert _status(rt, contract["id"]) == "approved"


def test_a_rejection_makes_the_contract_rejected_editable_and_a_resubmission_starts_over(team: Team) -> None:
    rt = team.rt
    contract = _contract(team, discount="15")
    first = _submit(team, contract["id"])["id"]
    _decide(team, first, "manager")
    done = _decide(team, first, "sales_director", "reject")
    assert done["status"] == "rejected" and not done["locked"]
    assert _status(rt, contract["id"]) == "rejected"
    rt.records.update(team["sales.manager"], "contract", contract["id"], {"discount_pct": "8"}, None)
    second = _submit(team, contract["id"])["id"]
    assert second != first
    assert [t["step"] for t in _open(rt, second)] == ["manager"]
    assert _approve_all(team, second) == ["manager"]
    assert _status(rt, contract["id"]) == "approved"
    # An approved contract is not submitted again.
    with pytest.raises(Conflict, match="cannot start"):
        _submit(team, contract["id"])


def test_the_submitter_recalls_a_pending_request_and_the_contract_is_a_draft_again(team: Team) -> None:
    rt = team.rt
    contract = _contract(team, discount="15")
    instance = _submit(team, contract["id"])["id"]
    with pytest.raises(Conflict):
        rt.flows.recall(team["sales.manager"], instance, "not mine to recall")
    recalled = rt.flows.recall(team["east.rep1"], instance, "wrong price")
    assert recalled["status"] == "cancelled" and not _open(rt, instance)
    assert _status(rt, contract["id"]) == "draft"
    rt.records.update(team["sales.manager"], "contract", contract["id"], {"contract_value": "90000"}, None)


def test_legal_sends_the_contract_back_to_the_sales_director(team: Team) -> None:
    rt = team.rt
    contract = _contract(team, discount="25")
    instance = _submit(team, contract["id"])["id"]
    _decide(team, instance, "manager")
    _decide(team, instance, "sales_director")
    _decide(team, instance, "finance")
    back = _decide(team, instance, "legal", "send_back", target="sales_director")
    assert back["status"] == "running"
    assert [t["step"] for t in _open(rt, instance)] == ["sales_director"]
    assert _status(rt, contract["id"]) == "in_approval"
    assert _approve_all(team, instance) == ["sales_director", "legal", "finance"]
    assert _status(rt, contract["id"]) == "approved"


def _notes(rt: Platform, who: Actor) -> list[str]:
    with rt.read() as conn:
        return [str(t) for t in conn.execute(sa.select(notifications.c.title).where(
            notifications.c.user_id == who.user_id).order_by(notifications.c.id)).scalars()]


def test_a_reminder_after_a_day_and_the_task_goes_to_the_approvers_manager_after_two(team: Team) -> None:
    rt = team.rt
    contract = _contract(team)
    instance = _submit(team, contract["id"])["id"]
    rt.timers.fire_due(now=datetime.now(UTC) + timedelta(hours=24, minutes=1))
    assert any("reminder" in title for title in _notes(rt, team["sales.manager"]))
    assert [t["assignee_email"] for t in _open(rt, instance)] == ["sales.manager@demo.tessera"]
    for _ in range(3):
        rt.timers.fire_due(now=datetime.now(UTC) + timedelta(hours=48, minutes=1))
    assert [t["assignee_email"] for t in _open(rt, instance)] == ["director@demo.tessera"]
    _decide(team, instance, "manager")
    assert _status(rt, contract["id"]) == "approved"


def _orders(rt: Platform, contract_id: int) -> list[dict[str, Any]]:
    return [o for o in rt.records.list(admin(rt), "order", limit=100)["data"] if o["contract"] == contract_id]


def _plan(rt: Platform, contract_id: int) -> list[tuple[Any, ...]]:
    rows = [p for p in rt.records.list(admin(rt), "payment_plan", limit=100, sort="installment_no")["data"]
            if p["contract"] == contract_id]
    return [(p["installment_no"], p["due_date"], p["planned_amount"]) for p in rows]


def _line(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["product"], line["quantity"], line["unit_price"], line["discount_pct"], line["net_amount"])


def test_final_approval_orders_the_quote_lines_and_plans_net_30_once(team: Team) -> None:
    rt = team.rt
    quote = _quote(rt, team["east.rep1"], "15")
    contract = _contract(team, discount="15", value=quote["total"], quote=quote, signed_date=date.today().isoformat())
    instance = _submit(team, contract["id"])["id"]
    _approve_all(team, instance)
    # Signed already: approval activates it.
    assert _status(rt, contract["id"]) == "activated"
    orders = _orders(rt, contract["id"])
    assert len(orders) == 1
    order = rt.records.get(admin(rt), "order", orders[0]["id"])
    assert (order["status"], order["quote"], order["account"]) == ("draft", quote["id"], quote["account"])
    assert [_line(o) for o in order["lines"]] == [_line(q) for q in quote["lines"]]
    assert order["total"] == quote["total"] == "93500.00"
    assert _plan(rt, contract["id"]) == [(1, "2030-01-31", "93500.00")]
    assert any("is approved" in t for t in _notes(rt, team["finance"]))
    assert any("is approved" in t for t in _notes(rt, team["east.rep1"]))
    # The completion again adds nothing: the order is made once per contract ...
    with pytest.raises(Conflict, match="converted already"):
        rt.conversions.convert(admin(rt), "contract", contract["id"], "order_from_contract")
    # ... and an approval run again on the same contract (an admin set it back to draft) neither
    # orders nor plans a second time.
    rt.records.update(admin(rt), "contract", contract["id"], {"status": "draft"}, None)
    again = _submit(team, contract["id"])["id"]
    _approve_all(team, again)
    assert rt.flows.instance(admin(rt), again)["status"] == "approved"
    assert len(_orders(rt, contract["id"])) == 1
    assert _plan(rt, contract["id"]) == [(1, "2030-01-31", "93500.00")]


@pytest.mark.parametrize(("terms", "plan"), [
    ("milestones", [(1, "2030-01-01", "30000.00"), (2, "2030-07-02", "40000.00"), (3, "2030-12-31", "30000.00")]),
    ("net_60", [(1, "2030-03-02", "100000.00")]),
    ("prepaid", [(1, "2030-01-01", "100000.00")])])
def test_the_payment_plan_follows_the_payment_terms(team: Team, terms: str, plan: list[tuple[Any, ...]]) -> None:
    rt = team.rt
    contract = _contract(team, terms=terms)
    _approve_all(team, _submit(team, contract["id"])["id"])
    assert _status(rt, contract["id"]) == "approved"
    assert _plan(rt, contract["id"]) == plan
    assert sum(Decimal(p[2]) for p in plan) == Decimal("100000.00")
    assert len(_orders(rt, contract["id"])) == 1  # no quote: an order without lines
