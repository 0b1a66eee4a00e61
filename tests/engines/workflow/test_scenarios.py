"""The three flows of issue #6, run end to end in memory: a contract approval with a send
back for rework, a non-linear sale that goes back a stage, and a spare-part request that
ships from stock or waits for a purchase."""

from __future__ import annotations

from typing import Any

from tessera.workflow import CloseTask, Finished, LockRecord, OpenTask, RunAction, UnlockRecord, flow_problems

from . import SCHEMA, Instance, World, of

REP, DIRECTOR, VP, LEGAL, FINANCE = 1, 2, 3, 4, 5

CONTRACT_FLOW: dict[str, Any] = {
    "api_name": "contract_approval", "label": "Contract approval", "object": "contract",
    "trigger": {"on": "button"},
    "steps": [
        {"id": "big_deal", "type": "branch", "branches": [
            {"label": "Over 100,000", "condition": "amount > 100000", "steps": [
                {"id": "director", "type": "approval", "label": "Sales director",
                 "approvers": [{"role": "sales_director"}], "lock_record": True, "editable_fields": ["notes"]}]}]},
        {"id": "deep_discount", "type": "branch", "branches": [
            {"label": "Discount over 20%", "condition": "discount > 20", "steps": [
                {"id": "vp", "type": "approval", "label": "VP of sales", "approvers": [{"role": "vp_sales"}]}]}]},
        {"id": "review", "type": "parallel", "join": "all", "branches": [
            {"label": "Legal", "steps": [
                {"id": "legal", "type": "approval", "approvers": [{"role": "legal"}],
                 "lock_record": True, "editable_fields": ["notes"]}]},
            {"label": "Finance", "steps": [
                {"id": "finance", "type": "approval", "approvers": [{"role": "finance"}]}]}]},
        {"id": "mark_approved", "type": "action", "action": "update_record", "values": {"status": "approved"}},
    ],
}


def contract_world(amount: int, discount: int) -> World:
    return World(record={"id": 10, "amount": amount, "discount": discount},
                 formulas={"amount > 100000": lambda r: r["amount"] > 100000,
                           "discount > 20": lambda r: r["discount"] > 20},
                 roles={"sales_director": [DIRECTOR], "vp_sales": [VP], "legal": [LEGAL], "finance": [FINANCE]})


def test_contract_flow_is_publishable() -> None:
    assert flow_problems(CONTRACT_FLOW, SCHEMA) == []


def test_big_contract_goes_to_director_then_legal_and_finance_together() -> None:
    run = Instance(CONTRACT_FLOW, contract_world(250_000, 10))
    run.start(REP)
    assert run.opened() == [("director", DIRECTOR)]
    assert of(run.last, LockRecord) == [LockRecord(("notes",))]
    run.approve(DIRECTOR)
    assert sorted(run.opened()) == [("finance", FINANCE), ("legal", LEGAL)]
    run.approve(FINANCE)
    assert run.status == "running" and not of(run.last, RunAction)
    run.approve(LEGAL)
    assert run.status == "approved"
    assert [e.action for e in of(run.last, RunAction)] == ["update_record"]
    assert of(run.last, UnlockRecord) and of(run.last, Finished) == [Finished("approved")]
    assert "vp" not in {step for _, step, _ in run.history()}


def test_small_contract_skips_the_director_and_a_deep_discount_needs_the_vp() -> None:
    run = Instance(CONTRACT_FLOW, contract_world(50_000, 25))
    run.start(REP)
    assert run.opened() == [("vp", VP)]
    run.approve(VP)
    assert sorted(run.opened()) == [("finance", FINANCE), ("legal", LEGAL)]


def test_legal_sends_back_to_the_rep_and_the_flow_resumes_at_legal() -> None:
    run = Instance(CONTRACT_FLOW, contract_world(250_000, 25))
    run.start(REP)
    run.approve(DIRECTOR)
    run.approve(VP)
    run.approve(FINANCE)
    run.decide(LEGAL, "send_back", comment="clause 7 needs the standard wording")
    assert run.status == "rework"
    assert run.opened() == [("legal", REP)]
    assert of(run.last, OpenTask)[0].task_kind == "rework"
    assert of(run.last, UnlockRecord), "the rep must be able to edit the contract"
    assert ("sent_back", "legal", LEGAL) in run.history()

    run.world.record["notes"] = "clause 7 fixed"
    run.resubmit(REP, "standard wording now")
    # Legal decides again; the director, the VP and finance are not asked again.
    assert run.opened() == [("legal", LEGAL)]
    assert run.status == "running" and run.state["lock"] == ["notes"]
    run.approve(LEGAL)
    assert run.status == "approved"
    asked = [(e.step, e.user) for e in of(run.log, OpenTask)]
    assert asked.count(("director", DIRECTOR)) == 1 and asked.count(("finance", FINANCE)) == 1
    assert asked.count(("legal", LEGAL)) == 2
    assert ("resubmitted", None, REP) in run.history()


def test_sending_back_is_rework_not_rejection() -> None:
    run = Instance(CONTRACT_FLOW, contract_world(250_000, 0))
    run.start(REP)
    run.approve(DIRECTOR)
    run.decide(LEGAL, "send_back")
    assert run.status == "rework" and not of(run.log, Finished)
    # Finance may still decide while the rep reworks the contract.
    run.approve(FINANCE)
    assert run.status == "rework"
    run.resubmit(REP)
    run.decide(LEGAL, "reject", comment="still not acceptable")
    assert run.status == "rejected"


# -- 2. a non-linear sale -------------------------------------------------------------------
REP_USER, ENGINEER_A, ENGINEER_B = 1, 21, 22
SALE_FLOW: dict[str, Any] = {
    "api_name": "technical_sale", "label": "Technical sale", "object": "opportunity",
    "trigger": {"on": "created"},
    "steps": [
        {"id": "requirements_clarification", "type": "task", "label": "Clarify the requirements",
         "assignees": [{"field": "owner"}]},
        {"id": "enter_technical_proposal", "type": "action", "action": "update_record",
         "values": {"stage": "technical_proposal"}},
        {"id": "technical_proposal", "type": "task", "label": "Write the technical proposal",
         "assignees": [{"team": "technical"}]},
        {"id": "customer_answer", "type": "wait", "until_condition": "NOT(ISBLANK(customer_response))"},
        {"id": "customer_decision", "type": "branch", "branches": [
            {"label": "Customer rejects", "condition": 'customer_response = "rejected"', "steps": [
                {"id": "back_to_requirements", "type": "action", "action": "update_record",
                 "values": {"stage": "requirements_clarification", "customer_response": None}},
                {"id": "clarify_again", "type": "goto", "target": "requirements_clarification"}]}]},
        {"id": "enter_negotiation", "type": "action", "action": "update_record", "values": {"stage": "negotiation"}},
    ],
}


def sale_world() -> World:
    return World(record={"id": 5, "owner": REP_USER, "customer_response": None},
                 formulas={"NOT(ISBLANK(customer_response))": lambda r: r["customer_response"] is not None,
                           'customer_response = "rejected"': lambda r: r["customer_response"] == "rejected"},
                 teams={"technical": [ENGINEER_A, ENGINEER_B]})


def test_sale_flow_is_publishable() -> None:
    assert flow_problems(SALE_FLOW, SCHEMA) == []


def test_entering_technical_proposal_gives_the_technical_team_a_task() -> None:
    run = Instance(SALE_FLOW, sale_world())
    run.start(REP_USER)
    assert run.opened() == [("requirements_clarification", REP_USER)]
    effects = run.decide(REP_USER, "complete")
    assert [e.params["values"] for e in of(effects, RunAction)] == [{"stage": "technical_proposal"}]
    assert sorted(run.opened()) == [("technical_proposal", ENGINEER_A), ("technical_proposal", ENGINEER_B)]
    # One engineer completes it for the team: the other's task is closed.
    effects = run.decide(ENGINEER_B, "complete")
    assert {(c.status) for c in of(effects, CloseTask)} == {"done", "cancelled"}
    assert run.tasks() == {} and run.state["at"].keys() == {"customer_answer"}


def test_customer_rejection_goes_back_to_requirements_and_keeps_the_history() -> None:
    run = Instance(SALE_FLOW, sale_world())
    run.start(REP_USER)
    run.decide(REP_USER, "complete", comment="needs SSO")
    run.decide(ENGINEER_A, "complete", comment="proposal v1")
    assert run.change(customer_response=None) == []  # no answer yet: still waiting
    effects = run.change(customer_response="rejected")
    assert [e.params["values"]["stage"] for e in of(effects, RunAction)] == ["requirements_clarification"]
    assert run.opened() == [("requirements_clarification", REP_USER)]
    assert ("goto", "clarify_again", None) in run.history()
    run.world.record["customer_response"] = None  # the runtime applied the action
    run.decide(REP_USER, "complete", comment="SSO via SAML")
    run.decide(ENGINEER_B, "complete", comment="proposal v2")
    effects = run.change(customer_response="accepted")
    assert [e.params["values"]["stage"] for e in of(effects, RunAction)] == ["negotiation"]
    assert run.status == "completed"
    comments = [h.comment for h in run.log if getattr(h, "event", None) == "completed"]
    assert comments == ["needs SSO", "proposal v1", "SSO via SAML", "proposal v2"]


# -- 3. a spare part ---------------------------------------------------------------------------
AGENT, WAREHOUSE = 31, 41
SPARE_PART_FLOW: dict[str, Any] = {
    "api_name": "spare_part", "label": "Spare part request", "object": "spare_part_request",
    "trigger": {"on": "created"},
    "steps": [
        {"id": "stock_check", "type": "branch", "branches": [
            {"label": "In stock", "condition": "part.stock >= quantity", "steps": [
                {"id": "create_shipment", "type": "action", "action": "create_record", "object": "shipment",
                 "values": {"part": "=part", "quantity": "=quantity"}},
                {"id": "notify_warehouse", "type": "action", "action": "notify", "to": [{"team": "warehouse"}],
                 "message": "Ship the part"}]}],
         "default": [
             {"id": "create_purchase_request", "type": "action", "action": "create_record",
              "object": "purchase_request", "link_as": "purchase_request"},
             {"id": "wait_for_delivery", "type": "wait", "until_condition": 'purchase_request.status = "received"'},
             {"id": "notify_agent", "type": "action", "action": "notify", "to": [{"field": "agent"}],
              "message": "The part has arrived"}]},
    ],
}


def spare_world(stock: int) -> World:
    return World(record={"id": 3, "quantity": 2, "agent": AGENT, "stock": stock, "pr_status": None},
                 formulas={"part.stock >= quantity": lambda r: r["stock"] >= r["quantity"],
                           'purchase_request.status = "received"': lambda r: r["pr_status"] == "received"})


def test_spare_part_flow_is_publishable() -> None:
    assert flow_problems(SPARE_PART_FLOW, SCHEMA) == []


def test_part_in_stock_ships_and_tells_the_warehouse_at_once() -> None:
    run = Instance(SPARE_PART_FLOW, spare_world(stock=5))
    effects = run.start(AGENT)
    assert [(e.step, e.action) for e in of(effects, RunAction)] == [
        ("create_shipment", "create_record"), ("notify_warehouse", "notify")]
    assert run.status == "completed" and run.state["at"] == {}


def test_part_out_of_stock_is_purchased_then_the_agent_is_told_when_it_arrives() -> None:
    run = Instance(SPARE_PART_FLOW, spare_world(stock=0))
    effects = run.start(AGENT)
    assert [e.step for e in of(effects, RunAction)] == ["create_purchase_request"]
    assert run.status == "running" and list(run.state["at"]) == ["wait_for_delivery"]
    assert run.change(pr_status="ordered") == []
    effects = run.change(pr_status="received")
    assert [e.step for e in of(effects, RunAction)] == ["notify_agent"]
    assert run.status == "completed"
