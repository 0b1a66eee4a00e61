"""Celery workers: where jobs run in production, when `TESSERA_REDIS_URL` is set.

Redis carries only job ids; the job itself (parameters, progress, outcome) lives in the
database, claimed there with a conditional UPDATE, so a message delivered twice runs the
job once and a lost message leaves a queued row that the next worker start picks up.
`tessera worker` starts one of these processes; run as many as the work needs, handing
`run_worker` how to build the platform in each worker process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from celery import Celery
from celery.signals import worker_ready

from tessera.settings import Settings

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.scheduler import Scheduler


class WorkerHost(Protocol):
    """What a worker process runs jobs and ticks with: the assembled platform."""

    settings: Settings
    jobs: JobService
    scheduler: Scheduler


log = logging.getLogger("tessera.worker")
RUN_JOB = "tessera.run_job"
TICK = "tessera.tick"
_apps: dict[str, Celery] = {}
_lock = threading.Lock()
_host: WorkerHost | None = None
_build: Callable[[], WorkerHost] | None = None


def celery_app(redis_url: str) -> Celery:
    """The Celery application for a broker URL (one per process and URL)."""
    with _lock:
        app = _apps.get(redis_url)
        if app is None:
            app = _apps[redis_url] = _make(redis_url)
        return app


def queue_name(database_url: str) -> str:
    """The installation's queue: messages carry only job ids, which mean something in one
    database only, so installations sharing a Redis must not share a queue."""
    return "tessera-" + hashlib.sha256(database_url.encode()).hexdigest()[:12]


def _make(redis_url: str) -> Celery:
    app = Celery("tessera", broker=redis_url, set_as_current=False)
    app.conf.update(
        # A job is acknowledged when it ends, so a worker killed mid-way hands it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name=RUN_JOB, ignore_result=True)
    def run_job(job_id: int) -> None:
        worker_runtime().jobs.run(int(job_id))

    @app.task(name=TICK, ignore_result=True)
    def tick() -> None:
        # Work is claimed with row locks, so ticks on several workers share it.
        rt = worker_runtime()
        while rt.scheduler.tick():
            pass

    return app


def worker_runtime() -> WorkerHost:
    """The platform of this worker process, built on first use (after the fork, so every
    process has its own database connections)."""
    global _host
    if _host is None:
        if _build is None:
            raise RuntimeError("this process was not started as a worker (run_worker)")
        _host = _build()
    return _host


def send(settings: Settings, job_id: int) -> None:
    assert settings.redis_url
    celery_app(settings.redis_url).send_task(RUN_JOB, args=[job_id], queue=queue_name(settings.database_url))


def send_tick(settings: Settings) -> None:
    assert settings.redis_url
    celery_app(settings.redis_url).send_task(TICK, queue=queue_name(settings.database_url))


@worker_ready.connect
def _sweep(sender: Any = None, **_kwargs: Any) -> None:
    """On start: put back jobs a dead worker left running, and send every queued job again
    (one whose message was lost stays queued until then; sending twice is harmless)."""
    try:
        runtime = worker_runtime()
        runtime.jobs.requeue_stale()
        if runtime.settings.redis_url:
            for job_id in runtime.jobs.queued():
                send(runtime.settings, job_id)
    except Exception:  # a worker that cannot sweep still runs what it is sent
        log.exception("could not sweep queued jobs at start")


def run_worker(settings: Settings, build: Callable[[], WorkerHost], concurrency: int = 2,
               loglevel: str = "INFO") -> None:
    """Run a Celery worker in the foreground (`tessera worker`); `build` assembles the
    platform each worker process runs jobs with."""
    global _build
    assert settings.redis_url
    _build = build
    app = celery_app(settings.redis_url)
    app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
                     "-Q", queue_name(settings.database_url), "--without-gossip", "--without-mingle"])
