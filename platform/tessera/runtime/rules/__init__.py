"""The rules engine's wiring: rules before and after saves, on schedules, dates and events,
segments; business calendars; SLA policies and their clocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.rules.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.hooks import SaveHooks
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.rules.service import RuleService
    from tessera.runtime.rules.sla import SlaService

#: Events other engines emit that rules can be triggered by.
RULE_EVENTS = ("flow.finished", "sla.warning", "sla.breach", "segment.entered", "segment.left")


class Host(Protocol):
    hooks: SaveHooks
    events: EventBus
    timers: TimerService
    jobs: JobService
    documents: DocumentService
    rules: RuleService
    sla: SlaService


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
    rules, sla = platform.rules, platform.sla
    platform.hooks.add("before_validate", rules.before_save)
    platform.hooks.add("after_write", rules.log_before_save)
    for event in ("record.created", "record.updated"):
        platform.events.subscribe(event, rules.after_save, name=f"rules:{event}")
    for event in RULE_EVENTS:
        platform.events.subscribe(event, rules.on_event, name=f"rules:{event}")
    platform.timers.register("rule.cron", rules.fire_cron)
    platform.timers.register("rule.dates", rules.fire_dates)
    platform.timers.register("segment.refresh", rules.fire_segment_refresh)
    platform.documents.observe("rules", rules.rule_changed)

    platform.hooks.add("after_write", sla.after_write)
    platform.timers.register("sla.sweep", sla.fire_sweep)
    platform.documents.observe("sla_policies", sla.policy_changed)
    platform.documents.observe("calendars", sla.calendar_changed)
    platform.jobs.register("sla.recompute", sla.recompute_all)
