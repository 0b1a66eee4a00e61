"""`tessera worker` and `tessera scheduler`: the processes that move background work.

The worker runs Celery jobs and needs TESSERA_REDIS_URL (without Redis, `tessera serve`
runs jobs in its own process). The scheduler moves events, timers and deliveries along; with
Redis it wakes Celery workers to do the work, without it does the work itself.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from tessera.cli import common


def add_commands(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run a Celery worker for jobs (needs TESSERA_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(run=cmd_worker)
    scheduler = sub.add_parser("scheduler", help="move events, timers (approvals' due times, waits, SLA "
                               "clocks) and outgoing mail along; with Redis, wakes Celery workers to do it")
    scheduler.add_argument("--once", action="store_true", help="do what is due now and stop")
    scheduler.set_defaults(run=cmd_scheduler)


def cmd_worker(args: argparse.Namespace) -> int:
    settings = common.settings()
    if not settings.redis_url:
        print("tessera: `tessera worker` runs Celery jobs and needs TESSERA_REDIS_URL; without it, "
              "`tessera serve` runs jobs in its own process", file=sys.stderr)
        return 2
    common.prepare(settings)
    from functools import partial

    from tessera.runtime.background.worker import run_worker
    from tessera.runtime.platform import Platform

    # Each worker process builds its own platform on first use, after the fork.
    run_worker(settings, partial(Platform, settings), concurrency=args.concurrency, loglevel=args.loglevel)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    import signal
    import threading

    runtime = common.build_platform()
    if args.once:
        runtime.scheduler.drain()
        print("background work done")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    mode = "waking Celery workers" if runtime.settings.redis_url else "running the work itself"
    print(f"tessera scheduler: events, timers and deliveries ({mode}); Ctrl-C stops", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        runtime.scheduler.run_forever(stop)
    return 0
