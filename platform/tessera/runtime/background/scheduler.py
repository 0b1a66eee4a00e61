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

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform

log = logging.getLogger("tessera.scheduler")
#: Writes wake the workers at most this often (seconds): a bulk load is one wake, not thousands.
WAKE_INTERVAL = 0.2


class Scheduler:
    def __init__(self, runtime: Platform) -> None:
        self.runtime = runtime
        self._last_wake = 0.0
        self._lock = threading.Lock()

    def tick(self) -> int:
        """One round of every kind of background work; returns how much was done."""
        rt = self.runtime
        return rt.events.drain() + rt.timers.fire_due() + rt.deliveries.send_due()

    def due(self) -> bool:
        """Whether anything is waiting (a few indexed counts)."""
        rt = self.runtime
        return bool(rt.events.pending() or rt.timers.due() or rt.deliveries.pending())

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
        if self.runtime.settings.redis_url:
            from tessera.runtime.background.worker import send_tick

            try:
                send_tick(self.runtime.settings)
            except Exception as error:  # the scheduler process will find the work anyway
                log.warning("could not wake a worker (%s)", error)
            return
        self.runtime.jobs.wake_running()

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        """`tessera scheduler`: every `interval`, wake a worker when work is due."""
        while not stop.is_set():
            try:
                if self.due():
                    if self.runtime.settings.redis_url:
                        from tessera.runtime.background.worker import send_tick

                        send_tick(self.runtime.settings)
                    else:
                        self.tick()
                        continue
            except Exception:  # e.g. the database restarting; look again shortly
                log.exception("the scheduler hit an error")
            stop.wait(interval)
