"""A worker killed half-way through an import (kill -9, mid-chunk) leaves the chunks that
committed, with the checkpoint that says so; the job run again resumes after them and ends
with exactly one record per row — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tessera.data.tables import imports, jobs
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, csv_bytes

ROWS = 8000
_WORKER = """
import sys
from pathlib import Path
from tessera.runtime.platform import Platform
from tessera.settings import Settings

platform = Platform(Settings(database_url=sys.argv[1], attachments_dir=Path(sys.argv[2])))
platform.jobs.run(int(sys.argv[3]))
"""


def test_an_import_killed_half_way_resumes_without_a_row_twice(rt: Platform, tmp_path: object) -> None:
    rows = [["External ID", "Deal name", "Account", "Amount"]]
    rows += [[f"D-{n}", f"Deal {n}", ("Acme", "Globex", "Initech")[n % 3], str(n)] for n in range(ROWS)]
    draft = rt.imports.start(SYSTEM, "deal", "deals.csv", csv_bytes(rows))
    rt.jobs.dispatch = lambda job_id: None  # type: ignore[method-assign]  # this process runs no job itself
    job_id = int(rt.imports.run(SYSTEM, draft["id"])["job"])

    worker = subprocess.Popen([sys.executable, "-c", _WORKER, rt.settings.database_url,
                               str(rt.settings.attachments_dir), str(job_id)])
    try:
        done = _wait_for(rt, draft["id"], lambda n: n >= 1000, worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert 1000 <= done < ROWS, "the worker was to be killed half-way"
    with rt.read() as conn:
        landed = conn.execute(sa.select(imports.c.done_rows)).scalar_one()
        assert conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one() == "running"
    assert _count(rt) == landed  # what the checkpoint says landed is exactly what is there

    # Its worker silent for long enough, the job is put back in line and runs again.
    with rt.write() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id)
                     .values(heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    assert rt.jobs.requeue_stale() == [job_id]
    assert rt.jobs.run(job_id)
    finished = rt.imports.get(SYSTEM, draft["id"])
    assert finished["status"] == "succeeded" and finished["done"] == ROWS
    assert finished["counts"] == {"created": ROWS, "updated": 0, "unchanged": 0, "refused": 0}
    assert _count(rt) == ROWS
    with rt.read() as conn:
        table = rt.snapshot(conn).table(rt.snapshot(conn).object("deal"))
        distinct = conn.execute(sa.select(sa.func.count(sa.distinct(table.c.external_id)))).scalar_one()
    assert distinct == ROWS


def _wait_for(rt: Platform, import_id: int, enough: object, worker: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with rt.read() as conn:
            done = int(conn.execute(sa.select(imports.c.done_rows).where(imports.c.id == import_id)).scalar_one())
        if enough(done) or worker.poll() is not None:  # type: ignore[operator]
            return done
        time.sleep(0.005)
    raise AssertionError("the import made no progress")


def _count(rt: Platform) -> int:
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        table = snap.table(snap.object("deal"))
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
