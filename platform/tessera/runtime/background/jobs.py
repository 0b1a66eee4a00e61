"""Background jobs: long work (formula recomputes, imports, template installs) that runs
outside the request, reports its progress and is never lost.

A job is a row in `tessera_jobs`; its work is a function registered under the job's kind.
Submitting writes the row in the caller's transaction and hands the job id to a worker
once that commits: an in-process worker thread by default, or Celery over Redis when
`TESSERA_REDIS_URL` is set (`tessera worker`). Whoever runs it first claims the row
(queued → running) in one conditional UPDATE, so a job runs once however many workers see
it; progress and the outcome are written to the row, where the API and the CLI read them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.engine import after_commit, is_conflict
from tessera.data.tables import jobs
from tessera.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TesseraError
from tessera.registry import Registry
from tessera.runtime.background.worker import send

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel

log = logging.getLogger("tessera.jobs")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
#: A running job whose worker has not reported for this long is taken to have died with it.
STALE_AFTER = timedelta(minutes=5)
#: Progress is written at most this often (seconds), so reporting never slows the work.
PROGRESS_INTERVAL = 0.5
#: How often (seconds) a running worker or scheduler looks for jobs whose worker died.
SWEEP_INTERVAL = 60.0
#: How many times a job is run when PostgreSQL undoes its work for crossing another
#: transaction (a deadlock): it is queued again, as a job whose worker died is, and resumes.
CONFLICT_TRIES = 5


class JobCancelled(Exception):
    """Raised inside a job's work when someone asked for it to stop."""


@dataclass
class JobContext:
    """What a job's work gets: its parameters and a way to report progress."""

    service: JobService
    id: int
    params: dict[str, Any]
    created_by: int | None
    _last: float = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None, *,
                 force: bool = False) -> None:
        """Report how far the job is; raises JobCancelled if it was asked to stop."""
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        values: dict[str, Any] = {"done": done, "heartbeat_at": datetime.now(UTC)}
        if total is not None:
            values["total"] = total
        if message is not None:
            values["message"] = message[:500]
        # Apart from the work's own transaction, so progress shows while that one is open.
        with self.service.kernel.apart() as conn:
            if conn is None:
                return
            stop = conn.execute(sa.update(jobs).where(jobs.c.id == self.id).values(values)
                                .returning(jobs.c.cancel_requested)).scalar_one()
        if stop:
            raise JobCancelled()


#: A job kind's work: it reports progress through its context and returns its result.
Work = Callable[[JobContext], dict[str, Any] | None]


class JobService:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._work: Registry[Work] = Registry("job kind")
        self._worker: InProcessWorker | None = None
        self._lock = threading.Lock()
        #: Signalled when a job run in this process ends, so `wait` returns at once.
        self._ended = threading.Condition()
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        #: What the in-process worker does when no job waits (the assembly hands it the
        #: scheduler's tick); returns how much it did.
        self.idle: Callable[[], int] = lambda: 0
        self._last_sweep = 0.0

    def register(self, kind: str, work: Work) -> None:
        """Make a job kind runnable in this process (each package's `install` registers its own)."""
        self._work.register(kind, work)

    # -- submitting ---------------------------------------------------------------------
    def submit(self, conn: Connection, kind: str, params: dict[str, Any], *, title: str,
               actor: Actor | None = None) -> int:
        """Queue a job inside the caller's write transaction; it starts once that commits."""
        if kind not in self._work:
            raise KeyError(f"no job kind {kind!r}")
        job_id = int(conn.execute(sa.insert(jobs).values(
            kind=kind, title=title[:300], params=params, status="queued",
            created_by=actor.user_id if actor else None, created_at=datetime.now(UTC),
        ).returning(jobs.c.id)).scalar_one())
        after_commit(conn, lambda: self.dispatch(job_id))
        return job_id

    def dispatch(self, job_id: int) -> None:
        """Hand a committed job to whoever runs jobs in this installation."""
        if self.kernel.settings.redis_url:
            try:
                send(self.kernel.settings, job_id)
            except Exception as error:  # the job stays queued; a worker's start sweeps it up
                log.warning("could not hand job %s to Celery (%s); it stays queued", job_id, error)
            return
        self.in_process().wake()

    def stop(self) -> None:
        """Stop this process's job worker (the job it is running finishes first)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
            worker.join(timeout=30)

    def wake_running(self) -> None:
        """Wake this process's worker if it runs (a service, not a script or a test)."""
        with self._lock:
            worker = self._worker
        if worker is not None and worker.is_alive():
            worker.wake()

    def in_process(self) -> InProcessWorker:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = InProcessWorker(self)
                self._worker.start()
            return self._worker

    # -- running ------------------------------------------------------------------------
    def run(self, job_id: int) -> bool:
        """Claim and run one job; False if it was not there to claim (done or taken)."""
        at = datetime.now(UTC)
        with self.kernel.write() as conn:
            claimed = conn.execute(
                sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="running", started_at=at, heartbeat_at=at, worker=self.worker_name,
                        attempts=jobs.c.attempts + 1)
                .returning(jobs.c.kind, jobs.c.params, jobs.c.created_by, jobs.c.attempts)).first()
        if claimed is None:
            return False
        work = self._work.get(claimed.kind)
        ctx = JobContext(self, job_id, dict(claimed.params or {}), claimed.created_by)
        outcome: dict[str, Any]
        try:
            if work is None:
                raise RuntimeError(f"this installation has no job kind {claimed.kind!r} (a plugin missing?)")
            result = work(ctx)
            outcome = {"status": "succeeded", "result": result or {}}
        except JobCancelled:
            outcome = {"status": "cancelled", "message": "cancelled on request"}
        except TesseraError as error:
            outcome = {"status": "failed", "error": error.detail}
        except Exception as error:  # a failing job is recorded, never crashes the worker
            if is_conflict(error) and claimed.attempts < CONFLICT_TRIES:
                log.warning("job %s (%s) crossed another transaction and runs again: %s", job_id, claimed.kind, error)
                outcome = {"status": "queued", "message": "running again: it crossed another change made at the "
                                                          "same moment"}
            else:
                log.exception("job %s (%s) failed", job_id, claimed.kind)
                outcome = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
        if outcome["status"] != "queued":
            outcome["finished_at"] = datetime.now(UTC)
        with self.kernel.write() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(heartbeat_at=datetime.now(UTC), **outcome))
        if outcome["status"] == "queued":
            time.sleep(0.05 * claimed.attempts)  # let what it crossed finish first
            self.dispatch(job_id)
        with self._ended:
            self._ended.notify_all()
        return True

    def next_queued(self) -> int | None:
        with self.kernel.read() as conn:
            return conn.execute(sa.select(sa.func.min(jobs.c.id)).where(jobs.c.status == "queued")).scalar()

    def requeue_stale(self) -> list[int]:
        """Put back jobs whose worker died mid-way (no heartbeat for STALE_AFTER)."""
        cutoff = datetime.now(UTC) - STALE_AFTER
        with self.kernel.write() as conn:
            return list(conn.execute(
                sa.update(jobs).where(jobs.c.status == "running", jobs.c.heartbeat_at < cutoff)
                .values(status="queued", message="restarted: its worker stopped").returning(jobs.c.id)
            ).scalars())

    def sweep(self) -> list[int]:
        """At most once per SWEEP_INTERVAL: put back the jobs of dead workers and hand them
        out again (a worker killed mid-job is noticed while the others keep running, not
        only when one restarts)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep < SWEEP_INTERVAL:
                return []
            self._last_sweep = now
        requeued = self.requeue_stale()
        for job_id in requeued:
            log.warning("job %s lost its worker; it runs again", job_id)
            self.dispatch(job_id)
        return requeued

    def queued(self) -> list[int]:
        with self.kernel.read() as conn:
            return list(conn.execute(sa.select(jobs.c.id).where(jobs.c.status == "queued").order_by(jobs.c.id))
                        .scalars())

    # -- reading and cancelling ---------------------------------------------------------
    def get(self, actor: Actor, job_id: int) -> dict[str, Any]:
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None or not _may_see(actor, row):
            raise NotFound(f"There is no job {job_id}.")
        return _out(row)

    def list(self, actor: Actor, *, status: str | None = None, kind: str | None = None,
             limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        if status is not None and status not in STATES:
            raise InvalidInput("Unknown job status.", [FieldProblem("status", f"must be one of {', '.join(STATES)}")])
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(max(1, min(limit, 500)))
        if status:
            query = query.where(jobs.c.status == status)
        if kind:
            query = query.where(jobs.c.kind == kind)
        if before:
            query = query.where(jobs.c.id < before)
        if not (actor.is_admin or actor.is_builder):
            query = query.where(jobs.c.created_by == actor.user_id)
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            return [_out(r) for r in conn.execute(query).mappings()]

    def cancel(self, actor: Actor, job_id: int) -> dict[str, Any]:
        with self.kernel.write() as conn:
            self.kernel.snapshot(conn)
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
            if row is None or not _may_see(actor, row):
                raise NotFound(f"There is no job {job_id}.")
            if row["created_by"] != actor.user_id and not actor.is_admin:
                raise Forbidden("Only whoever started a job, or an admin, may cancel it.")
            if row["status"] == "queued":
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued").values(
                    status="cancelled", cancel_requested=True, finished_at=datetime.now(UTC),
                    message="cancelled before it started"))
            elif row["status"] == "running":
                conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(cancel_requested=True))
        return self.get(actor, job_id)

    def wait(self, job_id: int, timeout: float = 600.0, poll: float = 0.05) -> dict[str, Any]:
        """Block until the job has finished (for the CLI and tests); returns its row."""
        deadline = time.monotonic() + timeout
        while True:
            with self.kernel.read() as conn:
                row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
            if row is None:
                raise NotFound(f"There is no job {job_id}.")
            if row["status"] in FINISHED or time.monotonic() > deadline:
                return _out(row)
            with self._ended:  # a job this process runs wakes it as it ends; others are polled
                self._ended.wait(poll)


class InProcessWorker(threading.Thread):
    """Runs queued jobs one at a time in this process (the embedded default), and between
    jobs the scheduler's background work (events, timers, deliveries)."""

    IDLE_POLL = 1.0

    def __init__(self, service: JobService) -> None:
        super().__init__(name="tessera-jobs", daemon=True)
        self.service = service
        self._wake = threading.Event()
        self._halt = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        try:
            self.service.requeue_stale()
        except Exception:  # a worker that cannot sweep still runs new jobs
            log.exception("could not requeue stale jobs")
        while not self._halt.is_set():
            self._wake.clear()
            try:
                job_id = self.service.next_queued()
                if job_id is not None:
                    self.service.run(job_id)
                    continue
                # No job waiting: move events, timers and deliveries along.
                if self.service.idle():
                    continue
                if self.service.sweep():
                    continue
            except Exception:  # e.g. the database restarting; try again shortly
                log.exception("the job worker hit an error")
            self._wake.wait(self.IDLE_POLL)


def _may_see(actor: Actor, row: Any) -> bool:
    return actor.is_admin or actor.is_builder or row["created_by"] == actor.user_id


def _out(row: Any) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    total = row["total"]
    return {
        "id": row["id"], "kind": row["kind"], "title": row["title"], "status": row["status"],
        "done": row["done"], "total": total,
        "percent": None if not total else min(100, round(100 * row["done"] / total)),
        "message": row["message"], "params": row["params"], "result": row["result"], "error": row["error"],
        "attempts": row["attempts"], "created_by": row["created_by"], "created_at": at(row["created_at"]),
        "started_at": at(row["started_at"]), "finished_at": at(row["finished_at"]),
        "cancel_requested": row["cancel_requested"],
    }
