"""Flow documents: the problems publishing reports (each at its JSON pointer, in words a
builder understands), the people references the runtime checks, triggers, durations,
and the size of an instance's state."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tessera.workflow import (
    FlowError,
    compile_flow,
    flow_problems,
    parse_duration,
    people_references,
    trigger_matches,
)

from . import SCHEMA, Instance, World, approval, flow
from .test_scenarios import CONTRACT_FLOW


def problems(doc: dict[str, Any]) -> dict[str, str]:
    return {p.field: p.message for p in flow_problems(doc, SCHEMA)}


def task(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "task", "assignees": [{"role": "ops"}]}


def goto(step_id: str, target: str) -> dict[str, Any]:
    return {"id": step_id, "type": "goto", "target": target}


def test_schema_problems_name_the_place_and_the_rule() -> None:
    found = problems(flow({"id": "a", "type": "wait", "duration": "2 days"}, {"id": "b", "type": "teleport"},
                          {"id": "c", "type": "approval", "approvers": [{"role": "x", "team": "y"}], "due": "P1D"},
                          {"id": "d", "type": "wait"}, {"id": "e", "type": "action", "action": "notify", "x": 1}))
    assert "is not allowed: an ISO 8601 duration" in found["/steps/0/duration"]
    assert "'teleport' is not one of" in found["/steps/1/type"]
    assert found["/steps/2/approvers/0"].startswith("give exactly one of user, role, team")
    assert "/steps/2" not in found, "a bad property is not reported again as unexpected"
    assert found["/steps/3"] == "give exactly one of duration, until or until_condition"
    assert "/steps/4" not in found, "an action's parameters are the actions module's to check"


def test_unknown_step_property_is_named() -> None:
    found = problems(flow({"id": "a", "type": "task", "assignees": [{"role": "x"}], "approvers": []}))
    assert "'approvers' was unexpected" in found["/steps/0"]


def test_duplicate_step_ids() -> None:
    found = problems(flow(task("a"), {"id": "b", "type": "branch", "branches": [
        {"condition": "amount > 1", "steps": [task("a")]}]}))
    assert found == {"/steps/1/branches/0/steps/0/id": "another step already has the id 'a' (at /steps/0)"}


def test_goto_to_a_missing_or_later_step() -> None:
    assert problems(flow(task("a"), goto("back", "nowhere"))) == {"/steps/1/target": "no step has the id 'nowhere'"}
    found = problems(flow(goto("jump", "later"), task("later")))
    assert "a goto can only go back to an earlier step: 'later' is not before 'jump'" in found["/steps/0/target"]


def test_goto_into_an_earlier_parallel_branch_is_refused_but_into_a_branch_step_is_fine() -> None:
    para = {"id": "p", "type": "parallel", "branches": [{"steps": [task("in_parallel")]}, {"steps": [task("other")]}]}
    found = problems(flow(para, goto("back", "in_parallel")))
    assert "not before 'back'" in found["/steps/1/target"]
    chosen = {"id": "c", "type": "branch", "branches": [{"condition": "amount > 1", "steps": [task("in_branch")]}]}
    assert problems(flow(chosen, goto("back", "in_branch"))) == {}


def test_goto_loop_that_never_waits() -> None:
    found = problems(flow({"id": "note", "type": "action", "action": "notify"}, goto("again", "note")))
    assert found["/steps/1/target"].startswith("going back to 'note' would loop forever: nothing between it and "
                                               "'again' waits")


def test_steps_after_an_end_or_a_goto_can_never_run() -> None:
    found = problems(flow(task("a"), {"id": "stop", "type": "end", "outcome": "rejected"}, task("b")))
    assert found == {"/steps/2": "this step can never run: the step before it, 'stop', ends the flow"}
    found = problems(flow(task("a"), goto("back", "a"), task("b")))
    assert found == {"/steps/2": "this step can never run: the step before it, 'back', goes back to 'a'"}
    every_way_ends = {"id": "br", "type": "branch", "branches": [
        {"condition": "amount > 1", "steps": [{"id": "e1", "type": "end"}]}], "default": [{"id": "e2", "type": "end"}]}
    assert "/steps/1" in problems(flow(every_way_ends, task("b")))


def test_conditions_must_be_boolean_and_known() -> None:
    found = problems(flow({"id": "br", "type": "branch", "branches": [
        {"condition": "amount", "steps": [task("a")]}, {"condition": "amont > 5", "steps": [task("b")]}]}))
    assert found["/steps/0/branches/0/condition"].startswith("the formula must give a boolean, but it gives a number")
    assert 'did you mean "amount"' in found["/steps/0/branches/1/condition"]
    found = problems(flow(task("a"), trigger={"on": "updated", "condition": "name", "changed": ["amount", "nope"]}))
    assert "must give a boolean" in found["/trigger/condition"]
    assert found["/trigger/changed/1"] == "Contract has no field named 'nope'"


def test_wait_until_must_be_a_date_and_until_condition_a_boolean() -> None:
    found = problems(flow({"id": "w1", "type": "wait", "until": "amount"},
                          {"id": "w2", "type": "wait", "until_condition": "signed_on"},
                          {"id": "w3", "type": "wait", "until": "DATEADD(signed_on, 30, \"day\")"}))
    assert found["/steps/0/until"] == "the formula must give a date or a date-time, but it gives a number"
    assert "must give a boolean, but it gives a date" in found["/steps/1/until_condition"]
    assert "/steps/2/until" not in found


def test_people_fields_must_be_user_fields() -> None:
    found = problems(flow(approval("a", {"field": "amount"}, {"field": "nobody"}, {"field": "reviewer"},
                                   {"manager": "name"}, {"manager": "submitter"}, {"formula": "amount * 2"},
                                   {"formula": "reviewer"})))
    assert found["/steps/0/approvers/0/field"] == ("'amount' is a currency field, not a user field: people come "
                                                   "from user fields")
    assert found["/steps/0/approvers/1/field"].startswith('unknown field "nobody"')
    assert "/steps/0/approvers/2/field" not in found
    assert "not a user field" in found["/steps/0/approvers/3/manager"]
    assert found["/steps/0/approvers/5/formula"] == ("the formula must give a user or an e-mail address, but it "
                                                     "gives a number")
    assert len(found) == 4


def test_editable_fields_must_exist_and_need_a_lock() -> None:
    found = problems(flow(approval("a", {"role": "x"}, lock_record=True, editable_fields=["notes", "colour"]),
                          approval("b", {"role": "x"}, editable_fields=["notes"])))
    assert found == {"/steps/0/editable_fields/1": "Contract has no field named 'colour'",
                     "/steps/1/editable_fields": 'editable fields only apply to a locked record: set "lock_record": '
                                                 "true"}


def test_object_trigger_and_join_problems() -> None:
    assert problems(flow(task("a"), object="spaceship")) == {"/object": "no object is named 'spaceship'"}
    found = problems(flow(task("a"), trigger={"on": "schedule", "cron": "every morning"}))
    assert found["/trigger/cron"].startswith("'every morning' is not a cron schedule")
    assert "required" in problems(flow(task("a"), trigger={"on": "schedule"}))["/trigger"]
    para = {"id": "p", "type": "parallel", "join": {"count": 3}, "branches": [{"steps": []}, {"steps": []}]}
    assert problems(flow(para)) == {"/steps/0/join/count": "the parallel step has only 2 branches"}
    found = problems(flow({**task("t"), "escalate": {"after": "P1D", "do": "auto_reject"}}))
    assert found == {"/steps/0/escalate/do": "a task cannot be rejected: use notify, reassign or auto_approve"}


def test_compile_refuses_a_broken_flow_with_its_problems() -> None:
    with pytest.raises(FlowError) as caught:
        compile_flow(flow(task("a"), task("a")))
    assert caught.value.problems[0].field == "/steps/1/id"


def test_people_references_list_every_spec_with_its_pointer() -> None:
    refs = people_references(CONTRACT_FLOW)
    assert ("/steps/0/branches/0/steps/0/approvers/0", {"role": "sales_director"}) in refs
    assert ("/steps/2/branches/1/steps/0/approvers/0", {"role": "finance"}) in refs
    esc = flow({**task("t"), "escalate": {"after": "P1D", "do": "notify", "to": [{"team": "leads"}]}})
    assert people_references(esc) == [("/steps/0/assignees/0", {"role": "ops"}),
                                      ("/steps/0/escalate/to/0", {"team": "leads"})]


def test_trigger_matches_event_changed_fields_and_condition() -> None:
    doc = flow(task("a"), trigger={"on": "updated", "changed": ["stage"], "condition": "big"})
    compiled = compile_flow(doc)

    def evaluate(source: str, record: Any) -> Any:
        return record["amount"] > 10

    assert trigger_matches(compiled, "updated", {"amount": 20}, ["stage", "name"], evaluate)
    assert not trigger_matches(compiled, "updated", {"amount": 20}, ["name"], evaluate)
    assert not trigger_matches(compiled, "updated", {"amount": 5}, ["stage"], evaluate)
    assert not trigger_matches(compiled, "created", {"amount": 20}, ["stage"], evaluate)


def test_durations() -> None:
    assert parse_duration("P2D") == timedelta(days=2)
    assert parse_duration("PT4H") == timedelta(hours=4)
    assert parse_duration("P1W2DT3H4M5S") == timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)
    for bad in ("P", "PT", "P1M", "2D", "P1DT"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_state_of_a_two_step_approval_with_a_parallel_pair_is_under_a_kilobyte() -> None:
    doc = flow(approval("manager_approval", {"role": "managers"}, lock_record=True, editable_fields=["notes"],
                        due="P1D", remind_every="PT4H"),
               {"id": "review", "type": "parallel", "branches": [
                   {"steps": [approval("legal_review", {"role": "legal"}, mode="quorum", quorum={"count": 2})]},
                   {"steps": [approval("finance_review", {"role": "finance"}, mode="sequence")]}]})
    world = World(roles={"managers": [100001, 100002], "legal": [200001, 200002, 200003],
                         "finance": [300001, 300002, 300003]})
    run = Instance(doc, world)
    run.start(123456)
    sizes = [len(json.dumps(run.state, separators=(",", ":")))]
    run.approve(100001)
    run.approve(100002)
    sizes.append(len(json.dumps(run.state, separators=(",", ":"))))
    run.approve(200001)
    run.decide(300001, "add_after", users=(400001,))
    sizes.append(len(json.dumps(run.state, separators=(",", ":"))))
    assert max(sizes) < 1024, sizes
    assert json.loads(json.dumps(run.state)) == run.state


def test_the_approvers_manager_is_named_in_an_escalation_only() -> None:
    escalate = {"after": "P2D", "do": "reassign", "to": [{"manager": "approver"}]}
    assert problems(flow(approval("a", {"role": "legal"}, escalate=escalate))) == {}
    found = problems(flow(approval("a", {"manager": "approver"}, escalate=escalate)))
    assert list(found) == ["/steps/0/approvers/0/manager"]


def test_the_end_actions_are_checked_by_the_schema() -> None:
    ends = {"rejected": [{"action": "update_record", "set": {"status": '"rejected"'}}]}
    assert problems(flow(approval("a", {"role": "legal"}), on_end=ends)) == {}
    found = problems(flow(approval("a", {"role": "legal"}), on_end={"refused": [], "cancelled": [{"set": {}}]}))
    assert set(found) == {"/on_end", "/on_end/cancelled/0"}
