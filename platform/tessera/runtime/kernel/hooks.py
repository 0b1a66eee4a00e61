"""The named hook points of the save pipeline, where engines and plugins plug in.

Every record write passes them in order: before_validate (fill or derive values),
validate (add problems), before_write (last checks, e.g. permissions), after_write (same
transaction: write related rows, enqueue work) and after_commit (outside the transaction:
caches, notifications that must not precede the commit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A hook gets the batch being saved: the save pipeline's `SaveBatch` (runtime/records/save.py).
#: The kernel sits below the pipeline and does not name its type.
Hook = Callable[[Any], None]
HOOK_POINTS = ("before_validate", "validate", "before_write", "after_write", "after_commit")


@dataclass
class SaveHooks:
    points: dict[str, list[Hook]] = field(default_factory=lambda: {p: [] for p in HOOK_POINTS})

    def add(self, point: str, hook: Hook) -> None:
        if point not in self.points:
            raise KeyError(f"unknown hook point {point!r}; one of {', '.join(HOOK_POINTS)}")
        self.points[point].append(hook)

    def remove(self, point: str, hook: Hook) -> None:
        self.points[point].remove(hook)

    def run(self, point: str, batch: Any) -> None:
        for hook in self.points[point]:
            hook(batch)
