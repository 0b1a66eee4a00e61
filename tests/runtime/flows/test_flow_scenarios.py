"""Flows running in the platform, persisted transition by transition: the contract
approval with a send-back for rework, the non-linear sale, and the spare-part request that
waits for a purchase — on SQLite and PostgreSQL, through the services and the API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import flow_instances, notifications, outbox, timers
from tessera.errors import Conflict, InvalidInput
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
CONTRACT = {"api_name": "contract", "label": "Contract", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "discount", "label": "Discount", "type": "integer"},
    {"api_name": "status", "label": "Status", "type": "text"},
    {"api_name": "notes", "label": "Notes", "type": "long_text"}]}
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
        {"id": "mark_approved", "type": "action", "action": "update_record", "set": {"status": '"approved"'}},
        {"id": "tell_rep", "type": "action", "action": "send_email", "to": [{"field": "owner"}],
         "subject": "{{ name }} is approved", "body": "Go ahead."},
    ],
}


@pytest.fixture
def rt(db_url: str, tmp_path: Path, smtp: tuple[str, Any]) -> Iterator[Platform]:
    runtime = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", smtp_url=smtp[0]))
    runtime.users.ensure_admin("admin@example.com", "admin-password")
    yield runtime
    runtime.dispose()


def _person(rt: Platform, email: str, *roles: str) -> Actor:
    for role in roles:
        with contextlib.suppress(Conflict):
            rt.users.roles.create(SYSTEM, {"api_name": role, "label": role, "permissions": {
                "contract": {"create": True, "read": "all", "edit": "own", "delete": "none"}}}, rt.snapshot)
    user = rt.users.accounts.add(SYSTEM, {"email": email, "name": email.split("@")[0], "password": "a-long-password",
                                          "roles": list(roles)})
    return rt.users.actor_for_user(int(user["id"]))


def _task(rt: Platform, who: Actor, step: str) -> int:
    found = [t for t in rt.flows.tasks(who) if t["step"] == step]
    assert len(found) == 1, rt.flows.tasks(who)
    return int(found[0]["id"])


@pytest.fixture
def contract_setup(rt: Platform) -> dict[str, Actor]:
    rt.metadata.create_object(SYSTEM, CONTRACT)
    people = {name: _person(rt, f"{name}@example.com", role) for name, role in (
        ("rep", "sales_rep"), ("director", "sales_director"), ("vp", "vp_sales"), ("legal", "legal"),
        ("finance", "finance"))}
    rt.documents.create(SYSTEM, "flows", CONTRACT_FLOW)
    rt.flows.publish(SYSTEM, "contract_approval")
    return people


def test_contract_approval_with_send_back_resumes_at_legal(rt: Platform, contract_setup: dict[str, Actor],
                                                           smtp: tuple[str, Any]) -> None:
    p = contract_setup
    contract = rt.records.create(p["rep"], "contract", {"name": "Acme MSA", "amount": "250000", "discount": 25})
    started = rt.flows.start(p["rep"], "contract_approval", contract["id"], "please approve")
    assert started["status"] == "running" and started["locked"] and started["editable_fields"] == ["notes"]
    # While in approval the record is locked: the rep cannot change the amount.
    with pytest.raises(InvalidInput, match="locked"):
        rt.records.update(p["rep"], "contract", contract["id"], {"amount": "1"}, None)
    rt.flows.act(p["director"], _task(rt, p["director"], "director"), {"action": "approve", "comment": "ok"})
    rt.flows.act(p["vp"], _task(rt, p["vp"], "vp"), {"action": "approve"})
    rt.flows.act(p["finance"], _task(rt, p["finance"], "finance"), {"action": "approve"})
    sent = rt.flows.act(p["legal"], _task(rt, p["legal"], "legal"),
                        {"action": "send_back", "comment": "clause 7 needs the standard wording"})
    assert sent["status"] == "rework" and not sent["locked"]
    # The rep reworks the contract and resubmits; only legal decides again.
    rt.records.update(p["rep"], "contract", contract["id"], {"notes": "clause 7 fixed"}, None)
    instance = rt.flows.resubmit(p["rep"], started["id"], "standard wording now")
    assert instance["status"] == "running"
    assert [t["step"] for t in instance["tasks"] if t["status"] == "open"] == ["legal"]
    done = rt.flows.act(p["legal"], _task(rt, p["legal"], "legal"), {"action": "approve", "comment": "fine"})
    assert done["status"] == "approved" and not done["locked"]
    assert rt.records.get(SYSTEM, "contract", contract["id"])["status"] == "approved"
    asked = [t["step"] for t in done["tasks"] if t["kind"] == "approval"]
    assert [t["assignee_email"] for t in done["tasks"] if t["kind"] == "rework"] == ["rep@example.com"]
    assert asked.count("legal") == 2 and asked.count("director") == 1 and asked.count("finance") == 1
    history = rt.flows.instance(p["rep"], done["id"])["history"]
    events = [(h["event"], h["step"], h["comment"]) for h in history]
    assert ("sent_back", "legal", "clause 7 needs the standard wording") in events
    assert ("resubmitted", None, "standard wording now") in events
    rt.scheduler.drain()
    assert [m["Subject"] for m in smtp[1].inbox] == ["Acme MSA is approved"]
    assert smtp[1].inbox[0]["To"] == "rep@example.com"


def test_a_small_contract_goes_straight_to_legal_and_finance_and_a_reject_ends_it(
        rt: Platform, contract_setup: dict[str, Actor]) -> None:
    p = contract_setup
    contract = rt.records.create(p["rep"], "contract", {"name": "Small", "amount": "5000", "discount": 5})
    started = rt.flows.start(p["rep"], "contract_approval", contract["id"])
    assert sorted(t["step"] for t in started["tasks"]) == ["finance", "legal"]
    with pytest.raises(Conflict, match="already running"):
        rt.flows.start(p["rep"], "contract_approval", contract["id"])
    finished = rt.flows.act(p["finance"], _task(rt, p["finance"], "finance"), {"action": "reject", "comment": "no"})
    assert finished["status"] == "rejected"
    assert {t["status"] for t in finished["tasks"]} == {"rejected", "cancelled"}
    assert rt.records.get(SYSTEM, "contract", contract["id"])["status"] is None
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(timers)).scalar_one() == 0


def test_only_the_assignee_may_decide_and_only_the_submitter_may_recall(
        rt: Platform, contract_setup: dict[str, Actor]) -> None:
    p = contract_setup
    contract = rt.records.create(p["rep"], "contract", {"name": "X", "amount": "5000"})
    started = rt.flows.start(p["rep"], "contract_approval", contract["id"])
    legal_task = _task(rt, p["legal"], "legal")
    from tessera.errors import NotFound

    with pytest.raises(NotFound):
        rt.flows.act(p["finance"], legal_task, {"action": "approve"})
    with pytest.raises(Conflict):
        rt.flows.recall(p["legal"], started["id"])
    recalled = rt.flows.recall(p["rep"], started["id"], "wrong amount")
    assert recalled["status"] == "cancelled" and not recalled["locked"]
    assert rt.flows.tasks(p["legal"]) == []


def test_approvers_follow_role_changes_between_instances(rt: Platform, contract_setup: dict[str, Actor]) -> None:
    """Who holds a role is remembered per auth revision: a user added to a role, or who
    loses it, or is disabled, is asked (or not) from the next step on."""
    p = contract_setup

    def legal_approvers() -> list[str]:
        contract = rt.records.create(p["rep"], "contract", {"name": "Small", "amount": "10"})
        started = rt.flows.start(p["rep"], "contract_approval", contract["id"])
        return sorted(t["assignee_email"] for t in started["tasks"] if t["step"] == "legal")

    assert legal_approvers() == ["legal@example.com"]
    second = _person(rt, "counsel@example.com", "legal")
    assert legal_approvers() == ["counsel@example.com", "legal@example.com"]
    rt.users.accounts.change(SYSTEM, int(p["legal"].user_id or 0), {"roles": ["finance"]})
    assert legal_approvers() == ["counsel@example.com"]
    rt.users.set_active(int(second.user_id or 0), False)
    rt.users.accounts.change(SYSTEM, int(p["legal"].user_id or 0), {"roles": ["legal"]})
    assert legal_approvers() == ["legal@example.com"]


SALE_FLOW: dict[str, Any] = {
    "api_name": "technical_sale", "label": "Technical sale", "object": "opportunity",
    "trigger": {"on": "updated", "changed": ["stage"], "condition": 'stage = "technical_proposal"'},
    "steps": [
        {"id": "technical_proposal", "type": "task", "label": "Write the technical proposal",
         "assignees": [{"team": "technical"}]},
        {"id": "customer_answer", "type": "wait", "until_condition": "NOT(ISBLANK(customer_response))"},
        {"id": "customer_decision", "type": "branch", "branches": [
            {"label": "Customer rejects", "condition": 'customer_response = "rejected"', "steps": [
                {"id": "back_to_requirements", "type": "action", "action": "update_record",
                 "set": {"stage": '"requirements_clarification"', "customer_response": '""'}},
                {"id": "rejected_end", "type": "end", "outcome": "completed"}]}]},
        {"id": "enter_negotiation", "type": "action", "action": "update_record", "set": {"stage": '"negotiation"'}},
    ],
}


def test_a_non_linear_sale_goes_back_to_requirements_with_its_history(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "opportunity", "label": "Opportunity", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "stage", "label": "Stage", "type": "text"},
        {"api_name": "customer_response", "label": "Customer response", "type": "text"}]})
    engineers = [rt.users.accounts.add(SYSTEM, {"email": f"eng{i}@example.com", "name": f"E{i}",
                                                "password": "a-long-password"})["id"] for i in (1, 2)]
    rt.users.teams.create(SYSTEM, {"api_name": "technical", "label": "Technical",
                                   "members": ["eng1@example.com", "eng2@example.com"]})
    rt.documents.create(SYSTEM, "flows", SALE_FLOW)
    rt.flows.publish(SYSTEM, "technical_sale")
    opp = rt.records.create(SYSTEM, "opportunity", {"name": "Big SSO deal", "stage": "requirements_clarification"})
    rt.records.update(SYSTEM, "opportunity", opp["id"], {"stage": "technical_proposal"}, None)
    rt.scheduler.drain()
    eng = rt.users.actor_for_user(int(engineers[0]))
    task = _task(rt, eng, "technical_proposal")
    rt.flows.act(eng, task, {"action": "complete", "comment": "proposal v1"})
    rt.records.update(SYSTEM, "opportunity", opp["id"], {"customer_response": "rejected"}, None)
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "opportunity", opp["id"])["stage"] == "requirements_clarification"
    # Entering the stage again starts the flow again; the first run's history stays.
    rt.records.update(SYSTEM, "opportunity", opp["id"], {"stage": "technical_proposal"}, None)
    rt.scheduler.drain()
    runs = rt.flows.instances(SYSTEM, object_name="opportunity", record_id=opp["id"])
    assert [r["status"] for r in runs] == ["running", "completed"]
    first = runs[1]
    assert ("completed", "technical_proposal", "proposal v1") in {(h["event"], h["step"], h["comment"])
                                                                  for h in first["history"]}
    eng2 = rt.users.actor_for_user(int(engineers[1]))
    rt.flows.act(eng2, _task(rt, eng2, "technical_proposal"), {"action": "complete", "comment": "v2"})
    rt.records.update(SYSTEM, "opportunity", opp["id"], {"customer_response": "accepted"}, None)
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "opportunity", opp["id"])["stage"] == "negotiation"
    assert rt.flows.instances(SYSTEM, object_name="opportunity", record_id=opp["id"])[0]["status"] == "completed"


SPARE_PART_FLOW: dict[str, Any] = {
    "api_name": "spare_part", "label": "Spare part request", "object": "part_request",
    "trigger": {"on": "created"},
    "steps": [
        {"id": "stock_check", "type": "branch", "branches": [
            {"label": "In stock", "condition": "part.stock >= quantity", "steps": [
                {"id": "create_shipment", "type": "action", "action": "create_record", "object": "shipment",
                 "values": {"part": "part", "quantity": "quantity", "request": "id"}},
                {"id": "notify_warehouse", "type": "action", "action": "notify", "to": [{"team": "warehouse"}],
                 "title": "Ship {{ quantity }} for request {{ id }}"}]}],
         "default": [
             {"id": "create_purchase_request", "type": "action", "action": "create_record",
              "object": "purchase_request", "values": {"part": "part", "quantity": "quantity", "request": "id",
                                                       "status": '"ordered"'}},
             {"id": "wait_for_delivery", "type": "wait",
              "until_condition": 'COUNT(purchases, purchases.status = "received") > 0'},
             {"id": "notify_agent", "type": "action", "action": "notify", "to": [{"field": "agent"}],
              "title": "The part for request {{ id }} has arrived"}]},
    ],
}


def _spare_parts(rt: Platform) -> tuple[int, int]:
    rt.metadata.create_object(SYSTEM, {"api_name": "part", "label": "Part", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}, {"api_name": "stock", "label": "Stock",
                                                                "type": "integer"}]})
    rt.metadata.create_object(SYSTEM, {"api_name": "part_request", "label": "Part request", "fields": [
        {"api_name": "part", "label": "Part", "type": "lookup", "target": "part"},
        {"api_name": "quantity", "label": "Quantity", "type": "integer"},
        {"api_name": "agent", "label": "Agent", "type": "user"}]})
    for name in ("shipment", "purchase_request"):
        rt.metadata.create_object(SYSTEM, {"api_name": name, "label": name, "fields": [
            {"api_name": "part", "label": "Part", "type": "lookup", "target": "part"},
            {"api_name": "quantity", "label": "Quantity", "type": "integer"},
            {"api_name": "status", "label": "Status", "type": "text"},
            {"api_name": "request", "label": "Request", "type": "lookup", "target": "part_request",
             "related_name": "shipments" if name == "shipment" else "purchases"}]})
    agent = int(rt.users.accounts.add(SYSTEM, {"email": "agent@example.com", "name": "Agent",
                                               "password": "a-long-password"})["id"])
    keeper = int(rt.users.accounts.add(SYSTEM, {"email": "wh@example.com", "name": "Warehouse",
                                                "password": "a-long-password"})["id"])
    rt.users.teams.create(SYSTEM, {"api_name": "warehouse", "label": "Warehouse", "members": ["wh@example.com"]})
    rt.documents.create(SYSTEM, "flows", SPARE_PART_FLOW)
    rt.flows.publish(SYSTEM, "spare_part")
    return agent, keeper


def _titles(rt: Platform, user_id: int) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.title).where(notifications.c.user_id == user_id)
                                 .order_by(notifications.c.id)).scalars())


def test_a_part_in_stock_is_shipped_and_the_warehouse_told(rt: Platform) -> None:
    agent, keeper = _spare_parts(rt)
    part = rt.records.create(SYSTEM, "part", {"name": "Pump", "stock": 5})
    request = rt.records.create(SYSTEM, "part_request", {"part": part["id"], "quantity": 2, "agent": agent})
    rt.scheduler.drain()
    shipments = rt.records.list(SYSTEM, "shipment")["data"]
    assert [(s["part"], s["quantity"], s["request"]) for s in shipments] == [(part["id"], 2, request["id"])]
    assert _titles(rt, keeper) == [f"Ship 2 for request {request['id']}"]
    assert rt.records.list(SYSTEM, "purchase_request")["data"] == []


def test_a_missing_part_is_purchased_and_the_agent_told_when_it_arrives(rt: Platform) -> None:
    agent, _ = _spare_parts(rt)
    part = rt.records.create(SYSTEM, "part", {"name": "Valve", "stock": 0})
    request = rt.records.create(SYSTEM, "part_request", {"part": part["id"], "quantity": 3, "agent": agent})
    rt.scheduler.drain()
    (purchase,) = rt.records.list(SYSTEM, "purchase_request")["data"]
    assert (purchase["status"], purchase["request"]) == ("ordered", request["id"])
    assert rt.flows.instances(SYSTEM, object_name="part_request", record_id=request["id"])[0]["status"] == "running"
    assert _titles(rt, agent) == []
    rt.records.update(SYSTEM, "purchase_request", purchase["id"], {"status": "received"}, None)
    rt.scheduler.drain()
    assert _titles(rt, agent) == [f"The part for request {request['id']} has arrived"]
    assert rt.flows.instances(SYSTEM, object_name="part_request", record_id=request["id"])[0]["status"] == \
        "completed"
    assert rt.records.list(SYSTEM, "shipment")["data"] == []


def test_publishing_refuses_missing_roles_bad_actions_and_formulas(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, CONTRACT)
    broken = {**CONTRACT_FLOW, "api_name": "broken", "steps": [
        {"id": "a", "type": "approval", "approvers": [{"role": "nobody_has_this"}]},
        {"id": "b", "type": "action", "action": "update_record", "set": {"ghost": "1"}}]}
    rt.documents.create(SYSTEM, "flows", broken)
    with pytest.raises(InvalidInput) as refused:
        rt.flows.publish(SYSTEM, "broken")
    fields = {p.field: p.code for p in refused.value.errors}
    assert fields["/steps/0/approvers/0/role"] == "unknown_role"
    assert fields["/steps/1/set/ghost"] == "unknown_field"
    with pytest.raises(InvalidInput) as bad_formula:
        rt.documents.create(SYSTEM, "flows", {**CONTRACT_FLOW, "api_name": "bad", "steps": [
            {"id": "x", "type": "branch", "branches": [{"label": "?", "condition": "amount >", "steps": []}]}]})
    assert any(p.field.endswith("/condition") for p in bad_formula.value.errors)


def test_a_button_flow_starts_only_while_its_condition_holds_and_its_end_actions_set_the_record(
        rt: Platform, contract_setup: dict[str, Actor]) -> None:
    p = contract_setup
    rt.documents.create(SYSTEM, "flows", {
        "api_name": "submit", "label": "Submit", "object": "contract",
        "trigger": {"on": "button", "condition": 'OR(status = "draft", status = "rejected")'},
        "steps": [{"id": "pending", "type": "action", "action": "update_record", "set": {"status": '"pending"'}},
                  {"id": "legal", "type": "approval", "approvers": [{"role": "legal"}]},
                  {"id": "done", "type": "action", "action": "update_record", "set": {"status": '"approved"'}}],
        "on_end": {"rejected": [{"action": "update_record", "set": {"status": '"rejected"'}}],
                   "cancelled": [{"action": "update_record", "set": {"status": '"draft"'}}]}})
    rt.flows.publish(SYSTEM, "submit")
    contract = rt.records.create(p["rep"], "contract", {"name": "Small", "amount": "10", "status": "new"})
    assert "submit" not in rt.flows.startable(p["rep"], "contract", contract["id"])
    with pytest.raises(Conflict, match="cannot start on this record now") as refused:
        rt.flows.start(p["rep"], "submit", contract["id"])
    assert refused.value.errors[0].code == "not_applicable"
    rt.records.update(p["rep"], "contract", contract["id"], {"status": "draft"}, None)
    assert "submit" in rt.flows.startable(p["rep"], "contract", contract["id"])
    started = rt.flows.start(p["rep"], "submit", contract["id"])
    assert rt.records.get(SYSTEM, "contract", contract["id"])["status"] == "pending"
    assert "submit" not in rt.flows.startable(p["rep"], "contract", contract["id"])
    rt.flows.act(p["legal"], _task(rt, p["legal"], "legal"), {"action": "reject", "comment": "no"})
    assert rt.records.get(SYSTEM, "contract", contract["id"])["status"] == "rejected"
    again = rt.flows.start(p["rep"], "submit", contract["id"])
    rt.flows.recall(p["rep"], again["id"], "later")
    assert rt.records.get(SYSTEM, "contract", contract["id"])["status"] == "draft"
    assert started["id"] != again["id"]
    history = [(h["event"], h["step"]) for h in rt.flows.instance(p["rep"], again["id"])["history"]]
    assert ("action", "on_end.cancelled") in history
    broken = {"api_name": "broken_end", "label": "Broken", "object": "contract", "trigger": {"on": "button"},
              "steps": [{"id": "a", "type": "approval", "approvers": [{"role": "legal"}]}],
              "on_end": {"rejected": [{"action": "update_record", "set": {"ghost": "1"}}]}}
    rt.documents.create(SYSTEM, "flows", broken)
    with pytest.raises(InvalidInput) as refused_publish:
        rt.flows.publish(SYSTEM, "broken_end")
    assert {p.field for p in refused_publish.value.errors} == {"/on_end/rejected/0/set/ghost"}


def test_the_flow_api_starts_lists_and_decides(api: Any, runtime: Platform) -> None:
    runtime.metadata.create_object(SYSTEM, CONTRACT)
    runtime.users.roles.create(SYSTEM, {"api_name": "legal", "label": "Legal", "permissions": {}}, runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "finance", "label": "Finance", "permissions": {}},
                               runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "sales_director", "label": "D", "permissions": {}},
                               runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "vp_sales", "label": "VP", "permissions": {}}, runtime.snapshot)
    runtime.users.accounts.add(SYSTEM, {"email": "admin2@example.com", "name": "A2", "password": "a-long-password",
                                        "roles": ["legal", "finance"]})
    api.ok(api.post("/meta/flows", CONTRACT_FLOW), 201)
    assert api.ok(api.post("/flows/contract_approval/publish"))["version"] == 1
    assert api.ok(api.get("/flows/contract_approval/versions"))["data"][0]["version"] == 1
    record = api.ok(api.post("/records/contract", {"name": "API", "amount": "10"}), 201)
    started = api.ok(api.post("/flows/contract_approval/start", {"record_id": record["id"]}), 201)
    assert started["status"] == "running"
    bad = api.post("/flows/contract_approval/start", {"record_id": "x"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    listed = api.ok(api.get(f"/flows/instances?object=contract&record_id={record['id']}"))["data"]
    assert [i["id"] for i in listed] == [started["id"]]
    legal_task = next(t["id"] for t in started["tasks"] if t["step"] == "legal")
    assert api.post(f"/flows/tasks/{legal_task}/act", {"action": "teleport"}).status_code == 422
    # An admin may decide for the assignee.
    decided = api.ok(api.post(f"/flows/tasks/{legal_task}/act", {"action": "approve", "comment": "for legal"}))
    assert [t["status"] for t in decided["tasks"] if t["step"] == "legal"] == ["approved"]
    assert api.post(f"/flows/tasks/{legal_task}/act", {"action": "approve"}).status_code == 409
    problems = api.ok(api.post("/flows/check", {**CONTRACT_FLOW, "steps": [{"id": "x", "type": "approval",
                                                                             "approvers": [{"team": "ghosts"}]}]}))
    assert problems["problems"][0]["code"] == "unknown_team"
    with runtime.read() as conn:
        assert conn.execute(sa.select(flow_instances.c.status)).scalars().all() == ["running"]


def test_an_approver_decides_from_the_signed_link_in_the_email(rt: Platform, smtp: tuple[str, Any]) -> None:
    import re

    rt.metadata.create_object(SYSTEM, CONTRACT)
    legal = _person(rt, "legal@example.com", "legal")
    flow = {"api_name": "mail_approval", "label": "Legal review", "object": "contract", "trigger": {"on": "button"},
            "steps": [{"id": "legal", "type": "approval", "label": "Legal signs", "email": True,
                       "approvers": [{"role": "legal"}]}]}
    rt.documents.create(SYSTEM, "flows", flow)
    rt.flows.publish(SYSTEM, "mail_approval")
    contract = rt.records.create(SYSTEM, "contract", {"name": "By mail"})
    rt.flows.start(SYSTEM, "mail_approval", contract["id"])
    rt.scheduler.drain()
    (message,) = smtp[1].inbox
    assert message["To"] == "legal@example.com" and message["Subject"] == "Legal review: Legal signs"
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    links = dict(re.findall(r"^(Approve|Reject): \S+/flows/act/(\S+)$", body, re.M))
    done = rt.flows.act_by_link(links["Approve"], "fine by mail")
    assert done["status"] == "approved"
    with pytest.raises(Exception, match="no longer waiting"):
        rt.flows.act_by_link(links["Reject"])  # the task is closed: the other link is void
    forged = links["Approve"][:-3] + ("AAA" if not links["Approve"].endswith("AAA") else "BBB")
    with pytest.raises(Exception, match="not valid"):
        rt.flows.act_by_link(forged)
    assert legal.user_id is not None


def test_reminders_then_escalation_fire_from_the_timers_and_auto_approve(rt: Platform) -> None:
    from datetime import UTC, datetime, timedelta

    rt.metadata.create_object(SYSTEM, CONTRACT)
    legal = _person(rt, "legal@example.com", "legal")
    boss = _person(rt, "boss@example.com", "sales_director")
    rt.documents.create(SYSTEM, "flows", {
        "api_name": "timed", "label": "Timed review", "object": "contract", "trigger": {"on": "button"},
        "steps": [{"id": "legal", "type": "approval", "label": "Legal signs", "approvers": [{"role": "legal"}],
                   "due": "P1D", "remind_every": "PT4H",
                   "escalate": {"after": "P2D", "do": "auto_approve"}},
                  {"id": "tell", "type": "action", "action": "notify", "to": [{"role": "sales_director"}],
                   "title": "{{ name }} went through"}]})
    rt.flows.publish(SYSTEM, "timed")
    contract = rt.records.create(SYSTEM, "contract", {"name": "Slow one"})
    started = rt.flows.start(SYSTEM, "timed", contract["id"])
    with rt.read() as conn:
        due = {k: d for k, d in conn.execute(sa.select(timers.c.key, timers.c.due_at))}
    assert {k.rsplit(":", 1)[-1] for k in due} == {"due", "remind", "escalate"}
    # Four hours later the reminder fires (and is set again); legal hears about it.
    rt.timers.fire_due(now=datetime.now(UTC) + timedelta(hours=4, minutes=1))
    assert [t for t in _titles(rt, int(legal.user_id or 0)) if "reminder" in t]
    # Two days later nobody has decided: the escalation approves for them and the flow goes on.
    for _ in range(20):
        if not rt.timers.fire_due(now=datetime.now(UTC) + timedelta(days=2, minutes=1)):
            break
    rt.scheduler.drain()
    done = rt.flows.instance(SYSTEM, started["id"])
    assert done["status"] == "approved"
    events = [(h["event"], h["step"], h["comment"]) for h in done["history"]]
    assert ("overdue", "legal", "") in events
    assert ("step_approved", "legal", "approved automatically: no decision within P2D") in events
    assert _titles(rt, int(boss.user_id or 0))[-1] == "Slow one went through"
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(timers)).scalar_one() == 0


def test_a_bulk_create_of_a_thousand_records_starts_the_flow_on_every_one(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "shipment", "label": "Shipment", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "status", "label": "Status", "type": "text"}]})
    rt.documents.create(SYSTEM, "flows", {
        "api_name": "intake", "label": "Intake", "object": "shipment", "trigger": {"on": "created"},
        "steps": [{"id": "mark", "type": "action", "action": "update_record", "set": {"status": '"received"'}}]})
    rt.flows.publish(SYSTEM, "intake")
    rt.records.create_many(SYSTEM, "shipment", [{"name": f"s{i}"} for i in range(1000)])
    rt.scheduler.drain()
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(flow_instances)).scalar_one() == 1000
        assert conn.execute(sa.text("SELECT count(*) FROM shipment WHERE status = 'received'")).scalar_one() == 1000
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.last_error.is_not(None))).scalar_one() == 0
