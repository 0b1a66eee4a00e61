"""The reports engine's wiring: reports run as the caller, drilled into and exported;
dashboards; reports and dashboards e-mailed on a schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.reports.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.reports.subscriptions import SubscriptionService


class Host(Protocol):
    timers: TimerService
    documents: DocumentService
    subscriptions: SubscriptionService


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
    subscriptions = platform.subscriptions
    platform.timers.register("subscription.send", subscriptions.fire_schedule)
    for kind in ("reports", "dashboards"):
        platform.documents.observe(kind, subscriptions.schedule_changed)
