"""Approval steps: the four modes, each decision (approve, reject, send back, delegate,
add approvers, recall), due times, reminders and escalations, and the record lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tessera.workflow import (
    CloseTask,
    Decision,
    Finished,
    History,
    LockRecord,
    Notify,
    OpenTask,
    RunAction,
    TransitionError,
    UnlockRecord,
)

from . import T0, Instance, World, approval, flow, of

A, B, C, D, SUBMITTER, BOSS = 11, 12, 13, 14, 1, 99


def world() -> World:
    return World(roles={"board": [A, B, C], "pair": [A, B], "solo": [A]}, users={"d@example.com": D},
                 managers={SUBMITTER: BOSS})


def one_step(**options: Any) -> Instance:
    run = Instance(flow(approval("board", {"role": "board"}, **options)), world())
    run.start(SUBMITTER)
    return run


def closed(effects: list[Any]) -> dict[str, str]:
    return {c.key: c.status for c in of(effects, CloseTask)}


# -- modes ------------------------------------------------------------------------------------
def test_all_mode_needs_every_approver() -> None:
    run = one_step(mode="all")
    run.approve(A)
    run.approve(B)
    assert run.status == "running"
    run.approve(C)
    assert run.status == "approved"


def test_all_mode_is_rejected_by_one_rejection_and_the_other_tasks_are_cancelled() -> None:
    run = one_step(mode="all")
    b_task, c_task = run.task_of(B), run.task_of(C)
    effects = run.decide(A, "reject", comment="too expensive")
    assert run.status == "rejected"
    assert closed(effects)[b_task] == "cancelled" and closed(effects)[c_task] == "cancelled"
    assert of(effects, Finished) == [Finished("rejected")]
    rejected = [h for h in of(effects, History) if h.event == "rejected"]
    assert rejected[0].comment == "too expensive" and rejected[0].by == A


def test_quorum_two_of_three_approves_and_cancels_the_third() -> None:
    run = one_step(mode="quorum", quorum={"count": 2})
    c_task = run.task_of(C)
    run.approve(A)
    effects = run.approve(B)
    assert run.status == "approved"
    assert closed(effects)[c_task] == "cancelled"


def test_quorum_is_rejected_once_it_can_no_longer_be_reached() -> None:
    run = one_step(mode="quorum", quorum={"count": 2})
    run.decide(A, "reject")
    assert run.status == "running"  # B and C could still make two
    run.decide(B, "reject")
    assert run.status == "rejected"


def test_quorum_share_rounds_up() -> None:
    run = one_step(mode="quorum", quorum={"share": 0.5})  # half of three → two
    run.approve(A)
    assert run.status == "running"
    run.approve(C)
    assert run.status == "approved"


def test_any_mode_first_decision_decides() -> None:
    run = one_step(mode="any")
    b_task, c_task = run.task_of(B), run.task_of(C)
    effects = run.approve(A)
    assert run.status == "approved"
    assert closed(effects)[b_task] == "cancelled" and closed(effects)[c_task] == "cancelled"
    run2 = one_step(mode="any")
    run2.decide(C, "reject")
    assert run2.status == "rejected"


def test_sequence_mode_asks_one_after_another_in_order() -> None:
    run = one_step(mode="sequence")
    assert run.opened() == [("board", A)]
    run.approve(A)
    assert run.opened() == [("board", B)]
    run.approve(B)
    assert run.opened() == [("board", C)]
    run.approve(C)
    assert run.status == "approved"


def test_sequence_mode_stops_at_the_first_rejection() -> None:
    run = one_step(mode="sequence")
    run.approve(A)
    run.decide(B, "reject")
    assert run.status == "rejected"
    assert [u for _, u in run.opened(of(run.log, OpenTask))] == [A, B]


def test_on_reject_continue_goes_on_to_the_next_step() -> None:
    doc = flow(approval("advice", {"role": "solo"}, on_reject="continue"), approval("final", {"role": "pair"}))
    run = Instance(doc, world())
    run.start(SUBMITTER)
    run.decide(A, "reject", comment="I would not")
    assert run.status == "running"
    assert sorted(run.opened()) == [("final", A), ("final", B)]
    assert ("step_rejected", "advice", None) in run.history()


def test_people_named_twice_get_one_task() -> None:
    run = Instance(flow(approval("both", {"role": "pair"}, {"role": "solo"})), world())
    run.start(SUBMITTER)
    assert sorted(run.opened()) == [("both", A), ("both", B)]


def test_nobody_to_ask_fails_the_flow_or_skips_the_step() -> None:
    run = Instance(flow(approval("empty", {"role": "nobody"})), world())
    run.start(SUBMITTER)
    assert run.status == "failed"
    assert "resolve to nobody" in next(h for h in of(run.log, History) if h.event == "failed").detail["reason"]
    skipping = Instance(flow(approval("empty", {"role": "nobody"}, if_nobody="skip")), world())
    skipping.start(SUBMITTER)
    assert skipping.status == "approved"


# -- decisions ----------------------------------------------------------------------------------
def test_delegate_moves_the_task_to_another_person() -> None:
    run = one_step(mode="all")
    a_task = run.task_of(A)
    effects = run.decide(A, "delegate", users=(D,), comment="on holiday")
    assert closed(effects) == {a_task: "delegated"}
    assert run.opened() == [("board", D)]
    run.approve(D)
    run.approve(B)
    run.approve(C)
    assert run.status == "approved"
    assert [h.detail["to"] for h in of(run.log, History) if h.event == "delegated"] == [D]


def test_delegate_within_a_sequence_keeps_the_rest_of_the_order() -> None:
    run = one_step(mode="sequence")
    run.decide(A, "delegate", users=(D,))
    run.approve(D)
    assert run.opened() == [("board", B)]


def test_add_approver_before_oneself_returns_the_task_afterwards() -> None:
    run = Instance(flow(approval("solo", {"role": "solo"})), world())
    run.start(SUBMITTER)
    effects = run.decide(A, "add_before", users=(D,), comment="D knows this customer")
    assert list(closed(effects).values()) == ["deferred"]
    assert run.opened() == [("solo", D)]
    run.approve(D)
    assert run.status == "running" and run.opened() == [("solo", A)]
    run.approve(A)
    assert run.status == "approved"


def test_add_approver_after_oneself_approves_and_hands_on() -> None:
    run = Instance(flow(approval("solo", {"role": "solo"})), world())
    run.start(SUBMITTER)
    effects = run.decide(A, "add_after", users=(D, B))
    assert list(closed(effects).values()) == ["approved"]
    assert run.opened() == [("solo", D)]
    run.approve(D)
    assert run.opened() == [("solo", B)]
    run.approve(B)
    assert run.status == "approved"


def test_an_added_approvers_rejection_rejects() -> None:
    run = Instance(flow(approval("solo", {"role": "solo"})), world())
    run.start(SUBMITTER)
    run.decide(A, "add_before", users=(D,))
    run.decide(D, "reject")
    assert run.status == "rejected"


def test_send_back_to_an_earlier_step_starts_it_again() -> None:
    run = Instance(flow(approval("first", {"role": "solo"}), approval("second", {"user": "d@example.com"})), world())
    run.start(SUBMITTER)
    run.approve(A)
    run.decide(D, "send_back", target="first", comment="A should look at the new price")
    assert run.opened() == [("first", A)] and run.status == "running"
    run.approve(A)
    run.approve(D)
    assert run.status == "approved"


def test_send_back_only_to_an_earlier_approval() -> None:
    run = Instance(flow(approval("first", {"role": "solo"}), approval("second", {"user": "d@example.com"})), world())
    run.start(SUBMITTER)
    with pytest.raises(TransitionError) as caught:
        run.decide(A, "send_back", target="second")
    assert caught.value.code == "bad_target"
    assert run.executor.flow.send_back_targets("second") == ["first"]


def test_recall_by_the_submitter_cancels_everything() -> None:
    run = one_step(mode="all", lock_record=True)
    effects = run.recall(SUBMITTER)
    assert run.status == "cancelled"
    assert set(closed(effects).values()) == {"cancelled"} and len(closed(effects)) == 3
    assert of(effects, UnlockRecord) and of(effects, Finished) == [Finished("cancelled")]
    assert ("recalled", None, SUBMITTER) in run.history()


def test_only_the_submitter_recalls_and_nobody_acts_on_a_finished_flow() -> None:
    run = one_step(mode="any")
    with pytest.raises(TransitionError, match="only the submitter"):
        run.recall(A)
    run.approve(A)
    with pytest.raises(TransitionError) as caught:
        run.recall(SUBMITTER)
    assert caught.value.code == "finished"


def test_a_decision_by_someone_else_or_on_a_closed_task_is_refused_and_changes_nothing() -> None:
    run = one_step(mode="all")
    a_task = run.task_of(A)
    before = repr(run.state)
    env = run.world.env()
    with pytest.raises(TransitionError) as caught:
        run.executor.decide(run.state, env, a_task, Decision("approve", by=B))
    assert caught.value.code == "not_assignee"
    run.executor.decide(run.state, env, a_task, Decision("approve", by=B, admin=True))
    assert repr(run.state) == before, "the given state is never changed"
    run.approve(A)
    with pytest.raises(TransitionError) as caught:
        run.executor.decide(run.state, env, a_task, Decision("approve", by=A))
    assert caught.value.code == "not_open"
    with pytest.raises(TransitionError, match="does not apply"):
        run.decide(B, "complete")


def test_disallowed_decisions_are_refused() -> None:
    run = one_step(mode="all", allow_delegate=False, allow_send_back=False, allow_add_approvers=False)
    for action, options in (("delegate", {"users": (D,)}), ("send_back", {}), ("add_before", {"users": (D,)})):
        with pytest.raises(TransitionError, match="does not allow"):
            run.decide(A, action, **options)


# -- time ------------------------------------------------------------------------------------------
def test_reminders_repeat_until_the_step_is_decided() -> None:
    run = one_step(mode="all", remind_every="PT4H", due="P1D")
    due = [e.due_at for e in of(run.log, OpenTask)]
    assert due == [T0 + timedelta(days=1)] * 3
    fired = run.advance(timedelta(hours=9))
    reminders = of(fired, Notify)
    assert [n.reason for n in reminders] == ["reminder", "reminder"]
    assert reminders[0].users == (A, B, C)
    run.approve(A)
    fired = run.advance(timedelta(hours=4))
    assert of(fired, Notify)[0].users == (B, C)
    run.approve(B)
    run.approve(C)
    assert run.timers == {}, "finishing the step cancels its timers"


def test_overdue_step_notifies_its_approvers() -> None:
    run = one_step(mode="all", due="P1D")
    fired = run.advance(timedelta(days=2))
    assert [(n.reason, n.users) for n in of(fired, Notify)] == [("overdue", (A, B, C))]
    assert run.status == "running"


def test_escalation_auto_approves_after_its_delay() -> None:
    run = one_step(mode="all", escalate={"after": "P2D", "do": "auto_approve"})
    run.approve(A)
    assert run.advance(timedelta(days=1)) == []
    fired = run.advance(timedelta(days=1))
    assert run.status == "approved"
    assert set(closed(fired).values()) == {"cancelled"}
    approved = next(h for h in of(fired, History) if h.event == "step_approved")
    assert "automatically" in approved.comment


def test_escalation_auto_reject_and_reassign_and_notify() -> None:
    rejecting = one_step(mode="all", escalate={"after": "P1D", "do": "auto_reject"})
    rejecting.advance(timedelta(days=1))
    assert rejecting.status == "rejected"

    reassigning = one_step(mode="all", escalate={"after": "P1D", "do": "reassign", "to": [{"manager": "submitter"}]})
    reassigning.approve(A)
    fired = reassigning.advance(timedelta(days=1))
    assert set(closed(fired).values()) == {"reassigned"}
    assert sorted(reassigning.tasks().values()) == [BOSS, BOSS]

    notifying = one_step(mode="all", escalate={"after": "P1D", "do": "notify", "to": [{"manager": "submitter"}]})
    fired = notifying.advance(timedelta(days=1))
    assert [(n.reason, n.users) for n in of(fired, Notify)] == [("escalation", (BOSS,))]


def test_escalation_to_the_approvers_manager_moves_each_task_up_one_level() -> None:
    people = World(roles={"pair": [A, B]}, managers={A: C, B: D, SUBMITTER: BOSS})
    run = Instance(flow(approval("pair", {"role": "pair"}, mode="any",
                                 escalate={"after": "P2D", "do": "reassign", "to": [{"manager": "approver"}]})),
                   people)
    run.start(SUBMITTER)
    fired = run.advance(timedelta(days=2))
    assert set(closed(fired).values()) == {"reassigned"}
    assert sorted(run.tasks().values()) == [C, D]
    notifying = Instance(flow(approval("pair", {"role": "pair"}, escalate={
        "after": "P1D", "do": "notify", "to": [{"manager": "approver"}, {"user": "d@example.com"}]})),
        World(roles={"pair": [A, B]}, users={"d@example.com": D}, managers={A: C, B: C}))
    notifying.start(SUBMITTER)
    fired = notifying.advance(timedelta(days=1))
    assert [(n.reason, n.users) for n in of(fired, Notify)] == [("escalation", (C, D))]


def test_a_rejected_or_recalled_request_runs_the_flows_actions_for_that_end() -> None:
    ends = {"on_end": {"rejected": [{"action": "update_record", "set": {"status": '"rejected"'}}],
                       "cancelled": [{"action": "update_record", "set": {"status": '"draft"'}},
                                     {"action": "notify", "to": [{"field": "owner"}], "title": "Recalled"}]}}
    rejected = Instance(flow(approval("board", {"role": "solo"}), **ends), world())
    rejected.start(SUBMITTER)
    effects = rejected.decide(A, "reject")
    assert [(a.step, a.action, dict(a.params)) for a in of(effects, RunAction)] == [
        ("on_end.rejected", "update_record", {"set": {"status": '"rejected"'}})]
    assert effects.index(of(effects, RunAction)[0]) < effects.index(of(effects, Finished)[0])
    recalled = Instance(flow(approval("board", {"role": "solo"}), **ends), world())
    recalled.start(SUBMITTER)
    assert [a.action for a in of(recalled.recall(SUBMITTER), RunAction)] == ["update_record", "notify"]
    approved = Instance(flow(approval("board", {"role": "solo"}), **ends), world())
    approved.start(SUBMITTER)
    assert of(approved.approve(A), RunAction) == []


def test_a_timer_from_an_earlier_visit_changes_nothing() -> None:
    run = Instance(flow(approval("first", {"role": "solo"}, due="P1D"), approval("second", {"user": "d@example.com"})),
                   world())
    run.start(SUBMITTER)
    stale = next(iter(run.timers))
    run.approve(A)
    run.decide(D, "send_back", target="first")
    transition = run.executor.timer_fired(run.state, run.world.env(), stale)
    assert transition.effects == [] and transition.state == run.state


# -- the record lock ------------------------------------------------------------------------------
def test_record_is_locked_while_a_locking_step_is_open() -> None:
    run = Instance(flow(approval("first", {"role": "solo"}, lock_record=True, editable_fields=["notes", "name"]),
                        approval("second", {"user": "d@example.com"})), world())
    effects = run.start(SUBMITTER)
    assert of(effects, LockRecord) == [LockRecord(("name", "notes"))]
    assert run.state["lock"] == ["name", "notes"]
    effects = run.approve(A)
    assert of(effects, UnlockRecord) and "lock" not in run.state
