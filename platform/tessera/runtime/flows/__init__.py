"""The flows engine's wiring: versions, instances, tasks, triggers on record events, timers,
and the lock on a record while it is in approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.flows.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.flows.service import FlowService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.hooks import SaveHooks
    from tessera.runtime.metadata.documents import DocumentService


class Host(Protocol):
    hooks: SaveHooks
    events: EventBus
    timers: TimerService
    documents: DocumentService
    flows: FlowService


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
    flows = platform.flows
    for name in ("record.created", "record.updated"):
        platform.events.subscribe(name, flows.on_record, name=f"flows:{name}")
    platform.events.subscribe("record.deleted", flows.on_deleted, name="flows:record.deleted")
    platform.timers.register("flow.timer", flows.fire_timer)
    platform.timers.register("flow.cron", flows.fire_cron)
    platform.hooks.add("validate", flows.check_lock)
