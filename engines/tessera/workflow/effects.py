"""What a transition asks the runtime to do: the executor's only way to touch the world.

Each transition returns its effects in order; the runtime applies them in the same
database transaction that stores the new state (task rows, timer rows, history rows, the
record lock) or hands them to the outbox (actions, notifications), so a state and its
effects are committed together or not at all. Every effect is a small frozen dataclass
with `as_json()` for the outbox and for logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class Effect:
    kind: ClassVar[str] = "effect"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            out[f.name] = _json(getattr(self, f.name))
        return out


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class OpenTask(Effect):
    """Give `user` a task: an approval to decide, a to-do to complete, or (kind "rework")
    the submitter's record sent back to them. `key` names it in later calls."""

    kind: ClassVar[str] = "open_task"
    key: str
    step: str
    user: int
    task_kind: str
    label: str
    due_at: datetime | None = None


@dataclass(frozen=True)
class CloseTask(Effect):
    """The task is over: `status` is approved, rejected, done, sent_back, delegated,
    deferred (an approver was added before its holder), reassigned, resubmitted or
    cancelled (the step or the flow finished without it)."""

    kind: ClassVar[str] = "close_task"
    key: str
    status: str


@dataclass(frozen=True)
class ScheduleTimer(Effect):
    """Call `timer_fired(state, env, key)` at `due_at`; a timer with the same key is replaced."""

    kind: ClassVar[str] = "schedule_timer"
    key: str
    due_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelTimer(Effect):
    """Forget the timer `key` (it may have fired or never been set: nothing happens then)."""

    kind: ClassVar[str] = "cancel_timer"
    key: str


@dataclass(frozen=True)
class RunAction(Effect):
    """Run the action `action` with `params` (checked by tessera.actions when published)."""

    kind: ClassVar[str] = "run_action"
    step: str
    action: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Notify(Effect):
    """Tell `users` about the open `tasks` of a step: reason is reminder, overdue or escalation."""

    kind: ClassVar[str] = "notify"
    step: str
    users: tuple[int, ...]
    reason: str
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockRecord(Effect):
    """Only `editable_fields` of the record may change until UnlockRecord (replaces an earlier lock)."""

    kind: ClassVar[str] = "lock_record"
    editable_fields: tuple[str, ...]


@dataclass(frozen=True)
class UnlockRecord(Effect):
    kind: ClassVar[str] = "unlock_record"


@dataclass(frozen=True)
class History(Effect):
    """One line of the instance's history: `event` at `step`, by a user or (None) the flow itself.

    Events: started, entered, branch, joined, approved, rejected, completed, sent_back,
    delegated, added_before, added_after, resubmitted, recalled, cancelled, skipped,
    overdue, escalated, step_approved, step_rejected, step_done, goto, waited, finished,
    failed.
    """

    kind: ClassVar[str] = "history"
    event: str
    step: str | None = None
    by: int | None = None
    comment: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished(Effect):
    """The instance is over: approved, rejected, cancelled, completed or failed."""

    kind: ClassVar[str] = "finished"
    outcome: str


__all__ = [
    "CancelTimer", "CloseTask", "Effect", "Finished", "History", "LockRecord", "Notify", "OpenTask", "RunAction",
    "ScheduleTimer", "UnlockRecord",
]
