"""Branches, parallel steps and their joins, waits and goto: how a token moves."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tessera.workflow import CloseTask, Executor, Finished, RunAction, ScheduleTimer, TransitionError
from tessera.workflow.definition import Flow, _build

from . import T0, Instance, World, approval, flow, of

A, B, C, SUBMITTER = 11, 12, 13, 1


def world(**formulas: Any) -> World:
    return World(record={"id": 1}, formulas=formulas, roles={"a": [A], "b": [B], "c": [C]})


def parallel(join: Any, *lanes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "together", "type": "parallel", "join": join,
            "branches": [{"label": f"Lane {i}", "steps": steps} for i, steps in enumerate(lanes)]}


def action(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "action", "action": "notify", "message": step_id}


THREE = ([approval("pa", {"role": "a"})], [approval("pb", {"role": "b"})], [approval("pc", {"role": "c"})])


def test_join_any_continues_after_the_first_branch_and_cancels_the_others() -> None:
    run = Instance(flow(parallel("any", *THREE), action("after")), world())
    run.start(SUBMITTER)
    b_task, c_task = run.task_of(B), run.task_of(C)
    effects = run.approve(A)
    closes = {c.key: c.status for c in of(effects, CloseTask)}
    assert closes[b_task] == "cancelled" and closes[c_task] == "cancelled"
    assert [e.step for e in of(effects, RunAction)] == ["after"]
    assert run.status == "approved" and run.state["at"] == {}


def test_join_count_waits_for_n_branches() -> None:
    run = Instance(flow(parallel({"count": 2}, *THREE), action("after")), world())
    run.start(SUBMITTER)
    run.approve(C)
    assert run.status == "running" and run.state["at"]["together"]["done"] == 1
    effects = run.approve(A)
    assert [e.step for e in of(effects, RunAction)] == ["after"]
    assert [c.status for c in of(effects, CloseTask)] == ["approved", "cancelled"]


def test_join_all_waits_for_every_branch_and_empty_branches_count_as_done() -> None:
    run = Instance(flow(parallel("all", [approval("pa", {"role": "a"})], [], [action("quick")]), action("after")),
                   world())
    effects = run.start(SUBMITTER)
    assert [e.step for e in of(effects, RunAction)] == ["quick"]
    effects = run.approve(A)
    assert [e.step for e in of(effects, RunAction)] == ["after"]


def test_a_branch_that_finishes_at_once_can_satisfy_join_any_before_the_others_start() -> None:
    run = Instance(flow(parallel("any", [action("quick")], [approval("pb", {"role": "b"})])), world())
    run.start(SUBMITTER)
    assert run.status == "approved" and run.tasks() == {}
    assert not [e for e in run.log if getattr(e, "task_kind", None)]


def test_end_inside_a_branch_ends_the_whole_flow() -> None:
    stop = {"id": "stop", "type": "end", "outcome": "cancelled"}
    run = Instance(flow(parallel("all", [approval("pa", {"role": "a"})], [approval("pb", {"role": "b"}), stop])),
                   world())
    run.start(SUBMITTER)
    effects = run.approve(B)
    assert run.status == "cancelled" and of(effects, Finished) == [Finished("cancelled")]
    assert [c.status for c in of(effects, CloseTask)] == ["approved", "cancelled"]


def test_exclusive_branch_takes_the_first_true_condition_else_the_default() -> None:
    doc = flow({"id": "size", "type": "branch", "branches": [
        {"label": "Big", "condition": "big", "steps": [action("big_path")]},
        {"label": "Medium", "condition": "medium", "steps": [action("medium_path")]}],
        "default": [action("small_path")]})
    for big, medium, taken in ((True, True, "big_path"), (False, True, "medium_path"), (False, False, "small_path")):
        run = Instance(doc, world(big=lambda r, b=big: b, medium=lambda r, m=medium: m))
        effects = run.start(SUBMITTER)
        assert [e.step for e in of(effects, RunAction)] == [taken]
        assert run.status == "completed"


def test_a_blank_condition_is_not_true() -> None:
    doc = flow({"id": "check", "type": "branch", "branches": [
        {"condition": "flag", "steps": [action("yes")]}], "default": [action("no")]})
    run = Instance(doc, world(flag=lambda r: None))
    assert [e.step for e in of(run.start(SUBMITTER), RunAction)] == ["no"]


def test_goto_out_of_a_parallel_step_closes_all_its_branches() -> None:
    doc = flow(approval("prepare", {"role": "c"}),
               parallel("all", [approval("pa", {"role": "a"}), {"id": "redo", "type": "branch", "branches": [
                   {"condition": "bad", "steps": [{"id": "again", "type": "goto", "target": "prepare"}]}]}],
                        [approval("pb", {"role": "b"})]))
    run = Instance(doc, world(bad=lambda r: True))
    run.start(SUBMITTER)
    run.approve(C)
    b_task = run.task_of(B)
    effects = run.approve(A)
    assert {c.key: c.status for c in of(effects, CloseTask)}[b_task] == "cancelled"
    assert run.opened() == [("prepare", C)] and "together" not in run.state["at"]


def test_wait_for_a_duration() -> None:
    run = Instance(flow({"id": "cool_off", "type": "wait", "duration": "P2D"}, action("after")), world())
    effects = run.start(SUBMITTER)
    assert [t.due_at for t in of(effects, ScheduleTimer)] == [T0 + timedelta(days=2)]
    assert run.advance(timedelta(days=1)) == []
    fired = run.advance(timedelta(days=1))
    assert [e.step for e in of(fired, RunAction)] == ["after"]


def test_wait_until_a_date_follows_the_record_when_it_changes() -> None:
    w = world(**{"follow_up": lambda r: r["follow_up"]})
    w.record["follow_up"] = date(2024, 3, 10)
    run = Instance(flow({"id": "until", "type": "wait", "until": "follow_up"}, action("after")), w)
    run.start(SUBMITTER)
    [key] = run.timers
    assert run.timers[key].date() == date(2024, 3, 10)
    run.change(follow_up=date(2024, 3, 6))
    assert run.timers[key].date() == date(2024, 3, 6)
    fired = run.advance(timedelta(days=3))
    assert [e.step for e in of(fired, RunAction)] == ["after"]


def test_wait_until_a_date_already_past_goes_straight_on() -> None:
    w = world(**{"follow_up": lambda r: date(2024, 1, 1)})
    run = Instance(flow({"id": "until", "type": "wait", "until": "follow_up"}, action("after")), w)
    assert [e.step for e in of(run.start(SUBMITTER), RunAction)] == ["after"]


def test_a_runaway_loop_is_stopped() -> None:
    # Publishing refuses this flow; the executor still guards against it.
    doc = flow(action("spin"), {"id": "back", "type": "goto", "target": "spin"})
    executor = Executor(_unchecked(doc))
    with pytest.raises(TransitionError) as caught:
        executor.start(world().env(), SUBMITTER)
    assert caught.value.code == "loop"


def _unchecked(doc: dict[str, Any]) -> Flow:
    """The flow compiled without its checks (compile_flow would refuse it)."""
    steps, main, _ = _build(doc)
    return Flow(doc=doc, api_name="x", object="contract", trigger=doc["trigger"], steps=steps, main=main,
                has_approvals=False)
