"""The flow executor: one pure function call per transition, `(state, …) → (new state, effects)`.

An instance's whole state is a small JSON-able dict; the runtime stores it in one column
and calls the executor inside the database transaction of each event — a decision on a
task, a timer firing, a record change — then applies the effects (tasks, timers, history,
actions, the record lock) in that same transaction. The executor never reads a database:
the record, the clock, formula evaluation and people resolution come in through `Env`.

The state:

    {"v": 1, "status": "running", "by": 7, "n": 12,
     "at": {"review": {"e": 9, "run": [1], "done": 1},
            "legal": {"e": 10, "open": {"legal#11": 31}, "ok": 0, "no": 0, "of": 1}},
     "lock": ["notes"]}

`by` is the submitter; `n` numbers tasks, timers and step entries; `at` holds one token
per step the instance rests at (open approvals and tasks, waits, running parallel steps,
steps sent back to the submitter); `lock` (present only while the record is locked) lists
the fields that stay editable. History is not kept here: it leaves as History effects.

Approvals follow Camunda's multi-instance model. Each approver is a "slot"; a slot is a
chain of people (sequence mode is one chain of everyone in order, adding an approver
lengthens a chain) and it approves when the last person in its chain approves. After
every decision the step's completion condition is checked — `ok >= need` approves,
`no >= reject_limit` rejects — and the tasks still open are closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial
from typing import Any, NamedTuple

from tessera.workflow.definition import Flow, Step
from tessera.workflow.effects import (
    CancelTimer,
    CloseTask,
    Effect,
    Finished,
    History,
    LockRecord,
    Notify,
    OpenTask,
    RunAction,
    ScheduleTimer,
    UnlockRecord,
)

STATE_VERSION = 1
#: Outcomes: an instance with one of these statuses is over.
FINAL = frozenset({"approved", "rejected", "cancelled", "completed", "failed"})
#: Steps one transition may enter before it is taken for an endless loop. Publishing
#: refuses loops with nothing that waits, so only a runaway flow reaches it.
MAX_STEPS = 1000
DECISIONS = ("approve", "reject", "complete", "send_back", "delegate", "add_before", "add_after")

Record = Mapping[str, Any]
#: `evaluate(formula_source, record)`: the formula's value for the record (the runtime
#: checks and compiles it once per flow version and caches it).
Evaluate = Callable[[str, Record], Any]
#: `people(specs, record, submitter)`: the user ids the people specs name, in order.
ResolvePeople = Callable[[Sequence[Mapping[str, Any]], Record, "int | None"], Sequence[int]]


@dataclass(frozen=True)
class Env:
    """What a transition may know of the world: the moment, the record as it is now,
    and the runtime's formula evaluator and people resolver."""

    now: datetime
    record: Record
    evaluate: Evaluate
    people: ResolvePeople


@dataclass(frozen=True)
class Decision:
    """What someone does with a task.

    approve, reject (approvals) or complete (tasks), with a comment; send_back to
    `target` (an earlier step id) or, with no target, to the submitter for rework;
    delegate to `users[0]`; add_before / add_after `users` (加签). `admin` lets someone
    other than the assignee decide (an administrator acting for them).
    """

    action: str
    by: int
    comment: str = ""
    target: str | None = None
    users: tuple[int, ...] = ()
    admin: bool = False


class Transition(NamedTuple):
    state: dict[str, Any]
    effects: list[Effect]


class TransitionError(Exception):
    """A call the instance cannot take now: its state is unchanged. `code` says why:
    finished, not_open, not_assignee, not_allowed, not_submitter, bad_target, loop."""

    def __init__(self, message: str, code: str = "not_allowed") -> None:
        super().__init__(message)
        self.code = code


class Executor:
    """Runs instances of one compiled flow. Holds no instance data: every method takes a
    state and returns a new one (the given state is never changed)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def start(self, env: Env, submitter: int | None, comment: str = "") -> Transition:
        """A new instance, run until it rests; `submitter` is who started it (None for
        scheduled flows: they cannot be sent back to nobody or recalled)."""
        run = _Run(self.flow, {"v": STATE_VERSION, "status": "running", "by": submitter, "n": 0, "at": {}}, env)
        run.history("started", by=submitter, comment=comment)
        run.enter(self.flow.first)
        return run.done()

    def decide(self, state: Mapping[str, Any], env: Env, task: str, decision: Decision) -> Transition:
        """Someone acts on the open task `task` (see Decision)."""
        run = _Run.resume(self.flow, state, env)
        run.decide(task, decision)
        return run.done()

    def resubmit(self, state: Mapping[str, Any], env: Env, by: int, comment: str = "",
                 admin: bool = False) -> Transition:
        """The submitter sends back the record they were asked to rework; each step that
        sent it back starts again (its approvers decide afresh), the rest of the flow is
        where it was."""
        run = _Run.resume(self.flow, state, env)
        run.resubmit(by, comment, admin)
        return run.done()

    def recall(self, state: Mapping[str, Any], env: Env, by: int, comment: str = "") -> Transition:
        """The submitter withdraws the request while it is pending: the flow ends cancelled."""
        run = _Run.resume(self.flow, state, env)
        if by != run.state.get("by"):
            raise TransitionError("only the submitter can recall the request", "not_submitter")
        run.history("recalled", by=by, comment=comment)
        run.finish("cancelled")
        return run.done()

    def cancel(self, state: Mapping[str, Any], env: Env, by: int | None, comment: str = "") -> Transition:
        """Stop the instance (an administrator, or the runtime when the record is deleted)."""
        run = _Run.resume(self.flow, state, env)
        run.history("cancelled", by=by, comment=comment)
        run.finish("cancelled")
        return run.done()

    def timer_fired(self, state: Mapping[str, Any], env: Env, key: str) -> Transition:
        """A timer set by ScheduleTimer is due. Timers the instance no longer waits for
        (the step finished, or was entered again since) change nothing."""
        run = _Run.resume(self.flow, state, env, strict=False)
        if not run.finished:
            run.timer(key)
        return run.done()

    def record_changed(self, state: Mapping[str, Any], env: Env) -> Transition:
        """The record (or what its formulas read) changed: waits re-check their condition
        or their date."""
        run = _Run.resume(self.flow, state, env, strict=False)
        if not run.finished:
            run.recheck_waits()
        return run.done()


# -- reading a state ---------------------------------------------------------------------
def open_tasks(state: Mapping[str, Any]) -> dict[str, int]:
    """The instance's open tasks: key → user id (rework tasks included)."""
    out: dict[str, int] = {}
    for token in state.get("at", {}).values():
        out.update(token.get("open", {}))
        if "rework" in token:
            out[token["rework"]] = state["by"]
    return out


def is_finished(state: Mapping[str, Any]) -> bool:
    return state.get("status") in FINAL


def locked_fields(state: Mapping[str, Any]) -> list[str] | None:
    """None if the record is not locked, else the fields that stay editable."""
    lock = state.get("lock")
    return None if lock is None else list(lock)


def task_step(task: str) -> str:
    """The step id of a task key (keys are `<step id>#<number>`)."""
    return task.rpartition("#")[0]


# -- the machine ---------------------------------------------------------------------------
def _clone(value: Any) -> Any:
    """A deep copy of a JSON-like value (several times faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


class _Run:
    """One transition in progress: a private copy of the state and the effects so far."""

    def __init__(self, flow: Flow, state: dict[str, Any], env: Env) -> None:
        self.flow = flow
        self.state = state
        self.tokens: dict[str, dict[str, Any]] = state["at"]
        self.env = env
        self.effects: list[Effect] = []
        self.budget = MAX_STEPS
        self.todo: list[Callable[[], None]] = []

    @classmethod
    def resume(cls, flow: Flow, state: Mapping[str, Any], env: Env, strict: bool = True) -> _Run:
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unknown workflow state version {state.get('v')!r}")
        run = cls(flow, _clone(dict(state)), env)
        if strict and run.finished:
            raise TransitionError(f"the flow is over ({state['status']})", "finished")
        return run

    @property
    def finished(self) -> bool:
        return self.state["status"] in FINAL

    def done(self) -> Transition:
        self.drain()
        if not self.finished:
            self.state["status"] = "rework" if any("rework" in t for t in self.tokens.values()) else "running"
        self._refresh_lock()
        return Transition(self.state, self.effects)

    def next_number(self) -> int:
        self.state["n"] += 1
        return int(self.state["n"])

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)

    def history(self, event: str, step: str | None = None, by: int | None = None, comment: str = "",
                **detail: Any) -> None:
        self.effects.append(History(event, step, by, comment, detail))

    # -- moving through the steps ----------------------------------------------------------
    # Entering and leaving steps are queued, not called: a flow of many steps (or a loop)
    # would otherwise recurse once per step. The queue is a stack, so the flow still runs
    # depth first, exactly as nested calls would: a parallel step's first branch runs as
    # far as it can before the second starts.
    def enter(self, step_id: str) -> None:
        self.todo.append(partial(self._enter, step_id))

    def leave(self, step: Step) -> None:
        """The step is done: on to the next one, or out of the list it ends."""
        self.todo.append(partial(self._leave, step))

    def drain(self) -> None:
        while self.todo:
            self.todo.pop()()

    def _enter(self, step_id: str) -> None:
        if self.finished:
            return
        self.budget -= 1
        if self.budget < 0:
            raise TransitionError(f"the flow ran more than {MAX_STEPS} steps without waiting; check its goto steps",
                                  "loop")
        step = self.flow.steps[step_id]
        kind = step.type
        if kind in ("approval", "task"):
            self._enter_people_step(step)
        elif kind == "action":
            self.history("entered", step.id, action=step.action)
            self.emit(RunAction(step.id, step.action or "", step.params))
            self.leave(step)
        elif kind == "branch":
            self._enter_branch(step)
        elif kind == "parallel":
            self._enter_parallel(step)
        elif kind == "wait":
            self._enter_wait(step)
        elif kind == "goto":
            self.history("goto", step.id, target=step.target)
            self.jump(step, step.target or "")
        elif kind == "end":
            self.history("entered", step.id)
            self.finish(step.outcome or "completed")

    def _leave(self, step: Step) -> None:
        if self.finished:
            return
        if step.next is not None:
            self.enter(step.next)
            return
        if step.parent is None:
            self.finish("approved" if self.flow.has_approvals else "completed")
            return
        container = self.flow.steps[step.parent]
        if container.type == "branch":
            self.leave(container)
        else:
            self._lane_done(container, step.lane)

    def jump(self, source: Step, target: str) -> None:
        """Go back to `target`: close what is open between it and `source` (leaving a
        parallel step closes all its branches), then start `target` afresh."""
        t_chain = (*self.flow.steps[target].ancestors, target)
        s_chain = (*source.ancestors, source.id)
        common = 0
        while common < min(len(s_chain), len(t_chain)) and s_chain[common] == t_chain[common]:
            common += 1
        anchor = target if common == len(t_chain) else s_chain[common]
        for step_id in list(self.tokens):
            if step_id == anchor or self.flow.is_descendant(step_id, anchor):
                self._drop(step_id, "cancelled")
        self.enter(target)

    def finish(self, outcome: str, reason: str = "") -> None:
        for step_id in list(self.tokens):
            self._drop(step_id, "cancelled")
        self.state["status"] = outcome
        # The flow's actions for this outcome (`on_end`), in the same transition: a rejected
        # request sets its record's status back, a recalled one returns to draft.
        for action in (self.flow.doc.get("on_end") or {}).get(outcome) or ():
            self.emit(RunAction(f"on_end.{outcome}", str(action["action"]),
                                {k: v for k, v in action.items() if k != "action"}))
        self.history("failed" if outcome == "failed" else "finished", outcome=outcome,
                     **({"reason": reason} if reason else {}))
        self.emit(Finished(outcome))

    def _drop(self, step_id: str, status: str) -> None:
        """Forget the token at `step_id`, closing its tasks and timers."""
        token = self.tokens.pop(step_id)
        for key in token.get("open", {}):
            self.emit(CloseTask(key, status))
        if "rework" in token:
            self.emit(CloseTask(token["rework"], status))
            return
        step = self.flow.steps[step_id]
        for kind in step.timer_kinds:
            self.emit(CancelTimer(_timer_key(step_id, token["e"], kind)))

    # -- containers --------------------------------------------------------------------------
    def _enter_branch(self, step: Step) -> None:
        chosen = len(step.conditions)  # the default lane
        for i, condition in enumerate(step.conditions):
            if self.env.evaluate(condition, self.env.record) is True:
                chosen = i
                break
        self.history("branch", step.id, chosen=step.lane_labels[chosen], lane=chosen)
        lane = step.lanes[chosen]
        if lane:
            self.enter(lane[0])
        else:
            self.leave(step)

    def _enter_parallel(self, step: Step) -> None:
        token: dict[str, Any] = {"e": self.next_number(), "run": list(range(len(step.lanes))), "done": 0}
        self.tokens[step.id] = token
        self.history("entered", step.id)
        for n in reversed(range(len(step.lanes))):
            self.todo.append(partial(self._start_lane, step, token, n))

    def _start_lane(self, step: Step, token: dict[str, Any], lane: int) -> None:
        # A branch that finished at once may have satisfied the join (or ended the flow, or
        # jumped away): then the branches after it do not start.
        if self.tokens.get(step.id) is not token:
            return
        if step.lanes[lane]:
            self._enter(step.lanes[lane][0])
        else:
            self._lane_done(step, lane)

    def _lane_done(self, step: Step, lane: int) -> None:
        token = self.tokens.get(step.id)
        if token is None:
            return
        token["run"].remove(lane)
        token["done"] += 1
        if token["done"] < step.join:
            return
        # Enough branches finished: the rest lose (join any / N) and are closed.
        for step_id in list(self.tokens):
            if self.flow.is_descendant(step_id, step.id):
                self._drop(step_id, "cancelled")
        del self.tokens[step.id]
        self.history("joined", step.id, branches=token["done"])
        self.leave(step)

    # -- waits ---------------------------------------------------------------------------------
    def _enter_wait(self, step: Step) -> None:
        e = self.next_number()
        self.history("entered", step.id)
        if step.wait_for == "duration" and step.wait_duration is not None:
            self.tokens[step.id] = {"e": e}
            self._schedule(step, e, "wait", self.env.now + step.wait_duration)
        elif step.wait_for == "until":
            moment = self._moment(self.env.evaluate(step.wait_formula or "", self.env.record))
            if moment is not None and moment <= self.env.now:
                self.leave(step)
                return
            token: dict[str, Any] = {"e": e}
            self.tokens[step.id] = token
            if moment is not None:
                token["t"] = int(moment.timestamp())
                self._schedule(step, e, "wait", moment)
        else:
            if self.env.evaluate(step.wait_formula or "", self.env.record) is True:
                self.leave(step)
                return
            self.tokens[step.id] = {"e": e}

    def recheck_waits(self) -> None:
        for step_id in [s for s in self.tokens if self.flow.steps[s].type == "wait"]:
            token = self.tokens.get(step_id)
            step = self.flow.steps[step_id]
            if token is None or self.finished:
                continue
            if step.wait_for == "until_condition":
                if self.env.evaluate(step.wait_formula or "", self.env.record) is True:
                    del self.tokens[step_id]
                    self.history("waited", step_id)
                    self.leave(step)
            elif step.wait_for == "until":
                moment = self._moment(self.env.evaluate(step.wait_formula or "", self.env.record))
                stamp = None if moment is None else int(moment.timestamp())
                if stamp == token.get("t"):
                    continue
                if moment is not None and moment <= self.env.now:
                    self._drop(step_id, "cancelled")
                    self.history("waited", step_id)
                    self.leave(step)
                elif moment is None:
                    token.pop("t", None)
                    self.emit(CancelTimer(_timer_key(step_id, token["e"], "wait")))
                else:
                    token["t"] = stamp
                    self._schedule(step, token["e"], "wait", moment)

    def _moment(self, value: Any) -> datetime | None:
        """A wait-until formula's value as a moment (a date is its midnight)."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            if value.tzinfo is None and self.env.now.tzinfo is not None:
                return value.replace(tzinfo=self.env.now.tzinfo)
            return value
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=self.env.now.tzinfo)
        raise TypeError(f"a wait-until formula gave {value!r}, not a date")

    # -- approvals and tasks ---------------------------------------------------------------
    def _enter_people_step(self, step: Step) -> None:
        users = list(dict.fromkeys(self.env.people(step.people, self.env.record, self.state["by"])))
        if not users:
            if step.if_nobody == "skip":
                self.history("skipped", step.id, reason="nobody to ask")
                self.leave(step)
            else:
                self.finish("failed", f"step {step.id!r}: the people it names resolve to nobody")
            return
        e = self.next_number()
        chains = [users] if step.mode == "sequence" else [[u] for u in users]
        token: dict[str, Any] = {"e": e, "open": {}, "ok": 0, "no": 0, "of": len(chains)}
        if step.due is not None:
            token["due"] = int((self.env.now + step.due).timestamp())
        self.tokens[step.id] = token
        self.history("entered", step.id, people=users)
        for chain in chains:
            self._open(step, token, chain[0], chain[1:])
        for kind, delay in (("due", step.due), ("remind", step.remind_every), ("escalate", step.escalate_after)):
            if delay is not None:
                self._schedule(step, e, kind, self.env.now + delay)

    def _open(self, step: Step, token: dict[str, Any], user: int, rest: Sequence[int]) -> str:
        key = f"{step.id}#{self.next_number()}"
        token["open"][key] = user
        if rest:
            token.setdefault("after", {})[key] = list(rest)
        due = token.get("due")
        due_at = None if due is None else datetime.fromtimestamp(due, self.env.now.tzinfo)
        self.emit(OpenTask(key, step.id, user, step.type, step.label, due_at))
        return key

    def _chain_after(self, token: dict[str, Any], key: str) -> list[int]:
        after = token.get("after")
        if not after:
            return []
        rest = after.pop(key, [])
        if not after:
            del token["after"]
        return list(rest)

    def decide(self, key: str, decision: Decision) -> None:
        step_id = task_step(key)
        token = self.tokens.get(step_id)
        if token is None or key not in token.get("open", {}):
            raise TransitionError("this task is no longer open", "not_open")
        holder = token["open"][key]
        if decision.by != holder and not decision.admin:
            raise TransitionError("only the person the task is assigned to can act on it", "not_assignee")
        step = self.flow.steps[step_id]
        action = decision.action
        allowed = {"approval": ("approve", "reject", "send_back", "delegate", "add_before", "add_after"),
                   "task": ("complete", "delegate")}[step.type]
        if action not in allowed:
            article = "an" if step.type == "approval" else "a"
            raise TransitionError(f"{action!r} does not apply to {article} {step.type}; use one of: "
                                  f"{', '.join(allowed)}")
        by, comment = decision.by, decision.comment
        if action in ("approve", "complete", "reject"):
            status = {"approve": "approved", "complete": "done", "reject": "rejected"}[action]
            del token["open"][key]
            self.emit(CloseTask(key, status))
            self.history(status if action != "complete" else "completed", step_id, by, comment, task=key)
            rest = self._chain_after(token, key)
            if action != "reject" and rest:
                self._open(step, token, rest[0], rest[1:])
                return
            token["ok" if action != "reject" else "no"] += 1
            self._check(step, token)
        elif action == "send_back":
            self._send_back(step, token, key, decision)
        elif action == "delegate":
            if not step.allow_delegate:
                raise TransitionError("this step does not allow delegating")
            if len(decision.users) != 1 or decision.users[0] == holder:
                raise TransitionError("delegate to exactly one other person")
            self._move(step, token, key, decision.users[0], "delegated")
            self.history("delegated", step_id, by, comment, task=key, to=decision.users[0])
        else:
            if not step.allow_add_approvers:
                raise TransitionError("this step does not allow adding approvers")
            added = [u for u in dict.fromkeys(decision.users) if u != holder]
            if not added:
                raise TransitionError("name at least one other approver to add")
            del token["open"][key]
            rest = self._chain_after(token, key)
            if action == "add_before":
                # The added people decide first; then the task comes back to its holder.
                self.emit(CloseTask(key, "deferred"))
                self.history("added_before", step_id, by, comment, task=key, users=added)
                self._open(step, token, added[0], [*added[1:], holder, *rest])
            else:
                # Approving and handing on: the slot approves only when the added people have.
                self.emit(CloseTask(key, "approved"))
                self.history("added_after", step_id, by, comment, task=key, users=added)
                self._open(step, token, added[0], [*added[1:], *rest])

    def _move(self, step: Step, token: dict[str, Any], key: str, user: int, status: str) -> str:
        """The open task `key` goes to `user`, with the rest of its chain."""
        del token["open"][key]
        rest = self._chain_after(token, key)
        self.emit(CloseTask(key, status))
        return self._open(step, token, user, rest)

    def _check(self, step: Step, token: dict[str, Any]) -> None:
        """The completion condition, after every decision."""
        slots = token["of"]
        if token["ok"] >= step.need(slots):
            self._complete(step, "approved")
        elif token["no"] >= step.reject_limit(slots):
            self._complete(step, "rejected")

    def _complete(self, step: Step, result: str, by: int | None = None, comment: str = "") -> None:
        self._drop(step.id, "cancelled")
        if step.type == "task":
            self.history("step_done", step.id, by, comment)
            self.leave(step)
        elif result == "approved":
            self.history("step_approved", step.id, by, comment)
            self.leave(step)
        else:
            self.history("step_rejected", step.id, by, comment)
            if step.on_reject == "continue":
                self.leave(step)
            else:
                self.finish("rejected")

    def _send_back(self, step: Step, token: dict[str, Any], key: str, decision: Decision) -> None:
        if not step.allow_send_back:
            raise TransitionError("this step does not allow sending back")
        target = decision.target
        if target is None:
            submitter = self.state["by"]
            if submitter is None:
                raise TransitionError("this flow has no submitter to send the record back to", "bad_target")
            del token["open"][key]
            self.emit(CloseTask(key, "sent_back"))
            self._drop(step.id, "cancelled")
            self.history("sent_back", step.id, decision.by, decision.comment, task=key, to="submitter")
            rework = f"{step.id}#{self.next_number()}"
            self.tokens[step.id] = {"e": self.next_number(), "rework": rework}
            self.emit(OpenTask(rework, step.id, submitter, "rework", step.label))
            return
        if target not in self.flow.send_back_targets(step.id):
            raise TransitionError(f"{target!r} is not an earlier approval or task this step can send back to",
                                  "bad_target")
        del token["open"][key]
        self.emit(CloseTask(key, "sent_back"))
        self.history("sent_back", step.id, decision.by, decision.comment, task=key, to=target)
        self.jump(step, target)

    def resubmit(self, by: int, comment: str, admin: bool) -> None:
        if by != self.state["by"] and not admin:
            raise TransitionError("only the submitter can resubmit", "not_submitter")
        sent_back = [s for s, t in self.tokens.items() if "rework" in t]
        if not sent_back:
            raise TransitionError("nothing was sent back for rework")
        self.history("resubmitted", by=by, comment=comment, steps=sent_back)
        for step_id in sent_back:
            token = self.tokens.pop(step_id)
            self.emit(CloseTask(token["rework"], "resubmitted"))
        for step_id in reversed(sent_back):
            self.enter(step_id)

    # -- timers -----------------------------------------------------------------------------
    def _schedule(self, step: Step, e: int, kind: str, at: datetime) -> None:
        self.emit(ScheduleTimer(_timer_key(step.id, e, kind), at, {"step": step.id, "timer": kind}))

    def timer(self, key: str) -> None:
        step_id, _, rest = key.partition("#")
        entry, _, kind = rest.partition(":")
        token = self.tokens.get(step_id)
        if token is None or str(token.get("e")) != entry or "rework" in token:
            return  # a timer of a step the instance has left (or entered again since)
        step = self.flow.steps[step_id]
        if kind == "wait":
            del self.tokens[step_id]
            self.history("waited", step_id)
            self.leave(step)
            return
        tasks = tuple(token["open"])
        users = tuple(dict.fromkeys(token["open"].values()))
        if kind == "remind":
            self.emit(Notify(step_id, users, "reminder", tasks))
            if step.remind_every is not None:
                self.emit(ScheduleTimer(key, self.env.now + step.remind_every, {"step": step_id, "timer": kind}))
        elif kind == "due":
            self.emit(Notify(step_id, users, "overdue", tasks))
            self.history("overdue", step_id, tasks=list(tasks))
        elif kind == "escalate":
            self._escalate(step, token)

    def _escalate(self, step: Step, token: dict[str, Any]) -> None:
        do = step.escalate_do
        after = step.doc.get("escalate", {}).get("after")
        if do == "auto_approve":
            self._complete(step, "approved", comment=f"approved automatically: no decision within {after}")
            return
        if do == "auto_reject":
            self._complete(step, "rejected", comment=f"rejected automatically: no decision within {after}")
            return
        tasks = tuple(token["open"])
        # Whom each open task escalates to: `{"manager": "approver"}` names its holder's manager.
        each = {key: self._escalation_people(step, token["open"][key]) for key in tasks}
        people = list(dict.fromkeys(u for key in tasks for u in each[key]))
        self.history("escalated", step.id, do=do, to=people, tasks=list(tasks))
        if do == "notify" or not people:
            if people:
                self.emit(Notify(step.id, tuple(people), "escalation", tasks))
            return
        # reassign: every open task goes to the first person the escalation names for it.
        for key in tasks:
            if each[key] and token["open"][key] != each[key][0]:
                self._move(step, token, key, each[key][0], "reassigned")

    def _escalation_people(self, step: Step, holder: int) -> list[int]:
        found: list[int] = []
        for spec in step.escalate_to:
            if spec.get("manager") == "approver":
                manager = {"manager": "submitter", "levels": int(spec.get("levels", 1))}
                found += self.env.people([manager], self.env.record, holder)
            else:
                found += self.env.people([spec], self.env.record, self.state["by"])
        return list(dict.fromkeys(found))

    # -- the record lock ---------------------------------------------------------------------
    def _refresh_lock(self) -> None:
        """Lock the record while a locking step has open tasks; a field stays editable only
        if every locking step open allows it. Rework unlocks it for the submitter."""
        wanted: set[str] | None = None
        if not self.finished:
            for step_id, token in self.tokens.items():
                step = self.flow.steps[step_id]
                if step.lock_record and "open" in token:
                    fields = set(step.editable_fields)
                    wanted = fields if wanted is None else wanted & fields
        current = self.state.get("lock")
        if wanted is None:
            if current is not None:
                del self.state["lock"]
                self.emit(UnlockRecord())
        elif current is None or set(current) != wanted:
            self.state["lock"] = sorted(wanted)
            self.emit(LockRecord(tuple(sorted(wanted))))


def _timer_key(step_id: str, entry: int, kind: str) -> str:
    return f"{step_id}#{entry}:{kind}"


__all__ = [
    "DECISIONS", "FINAL", "MAX_STEPS", "STATE_VERSION", "Decision", "Env", "Evaluate", "Executor", "ResolvePeople",
    "Transition", "TransitionError", "is_finished", "locked_fields", "open_tasks", "task_step",
]
