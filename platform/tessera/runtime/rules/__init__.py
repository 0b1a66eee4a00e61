"""The rules engine's wiring: rules before and after saves, on schedules, dates and events,
segments; business calendars; SLA policies and their clocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.rules.kinds import KINDS, RULES, rules_kind
from tessera.runtime.rules.sla_display import SlaColumns

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.hooks import SaveHooks
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.views import ViewService
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
    views: ViewService


def install(platform: Host) -> None:
    rules, sla = platform.rules, platform.sla
    for kind in KINDS:
        platform.documents.register(rules_kind(rules.assignment_problems) if kind is RULES else kind)
    platform.hooks.add("before_validate", rules.before_save)
    platform.hooks.add("after_write", rules.log_before_save)
    platform.hooks.add("after_write", rules.note_moves)
    for event in ("record.created", "record.updated"):
        platform.events.subscribe(event, rules.after_save, name=f"rules:{event}")
    # Segments follow their records and the related records their conditions read.
    for event in ("record.created", "record.updated", "record.deleted", "record.restored"):
        platform.events.subscribe(event, rules.related_changed, name=f"rules:segments:{event}")
    platform.events.subscribe("segment.recheck", rules.recheck, name="rules:segment.recheck")
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
    platform.views.add_columns(SlaColumns(sla))  # "SLA: First reply" in the objects' lists
