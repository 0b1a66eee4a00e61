"""The scheduler: the loop that moves background work along — events from the outbox to
their subscribers, due timers to their handlers, queued e-mail and webhooks out.

One `tick` does a round of each. In the embedded default the in-process worker ticks
whenever it has no job to run and whenever a write commits; with Redis, `tessera
scheduler` watches for due work and sends Celery workers a tick (any number of workers
share the work: everything is claimed with row locks), and writes wake them too.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from tessera.runtime.background.worker import send_tick

if TYPE_CHECKING:
    from tessera.runtime.background.deliveries import DeliveryService
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.settings import Settings

log = logging.getLogger("tessera.scheduler")
#: Writes wake the workers at most this often (seconds): a bulk load is one wake, not thousands.
WAKE_INTERVAL = 0.2


class Scheduler:
    def __init__(self, settings: Settings, events: EventBus, timers: TimerService, deliveries: DeliveryService,
                 jobs: JobService) -> None:
        self.settings = settings
        self.events = events
        self.timers = timers
        self.deliveries = deliveries
        self.jobs = jobs
        self._last_wake = 0.0
        self._lock = threading.Lock()

    def tick(self) -> int:
        """One round of every kind of background work; returns how much was done."""
        return self.events.drain() + self.timers.fire_due() + self.deliveries.send_due()

    def due(self) -> bool:
        """Whether anything is waiting (a few indexed counts)."""
        return bool(self.events.pending() or self.timers.due() or self.deliveries.pending())

    def drain(self, rounds: int = 1000, settle: float = 0.01) -> None:
        """Tick until nothing is due (tests, and `tessera scheduler --once`). Work another
        worker has claimed counts as due until it commits, so this waits for it too."""
        for _ in range(rounds):
            if not self.tick() and not self.due():
                return
            time.sleep(0 if self.due() else settle)
        raise RuntimeError("background work did not settle; a rule or flow may be looping")

    def wake(self) -> None:
        """Something was written: have a worker look soon."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_wake < WAKE_INTERVAL:
                return
            self._last_wake = now
        if self.settings.redis_url:
            try:
                send_tick(self.settings)
            except Exception as error:  # the scheduler process will find the work anyway
                log.warning("could not wake a worker (%s)", error)
            return
        self.jobs.wake_running()

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        """`tessera scheduler`: every `interval`, wake a worker when work is due."""
        while not stop.is_set():
            try:
                self.jobs.sweep()
                if self.due():
                    if self.settings.redis_url:
                        send_tick(self.settings)
                    else:
                        self.tick()
                        continue
            except Exception:  # e.g. the database restarting; look again shortly
                log.exception("the scheduler hit an error")
            stop.wait(interval)
