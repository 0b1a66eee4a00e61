"""Background work: jobs, timers, deliveries (e-mail, webhooks), notifications, the scheduler
that moves them along, and the Celery worker that runs them in production."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.scheduler import Scheduler
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.hooks import SaveHooks


class Host(Protocol):
    hooks: SaveHooks
    jobs: JobService
    scheduler: Scheduler
    events: EventBus


def install(platform: Host) -> None:
    # A committed write has an event waiting in the outbox: have a worker look.
    platform.hooks.add("after_commit", lambda _batch: platform.scheduler.wake())
    # With no job waiting, the in-process worker moves events, timers and deliveries along.
    platform.jobs.idle = platform.scheduler.tick
    # Failed events put back in line: the same.
    platform.events.requeued = platform.scheduler.wake
