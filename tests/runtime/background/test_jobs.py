"""Background jobs: the in-process worker, a real Celery worker over Redis, progress and
cancelling through the API and the command line, and jobs left behind by a dead worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import jobs
from tessera.runtime.background.jobs import JobContext
from tessera.runtime.platform import Platform
from tessera.settings import Settings

RELEASE = threading.Event()


def _count(ctx: JobContext) -> dict[str, Any]:
    total = int(ctx.params["to"])
    for i in range(1, total + 1):
        ctx.progress(i, total, f"at {i}", force=True)
    return {"counted": total}


def _fail(ctx: JobContext) -> None:
    raise ValueError("the input file has no header row")


def _until_cancelled(ctx: JobContext) -> None:
    i = 0
    while True:
        i += 1
        ctx.progress(i, None, "working", force=True)
        time.sleep(0.01)


def _held(ctx: JobContext) -> None:
    RELEASE.wait(30)


@pytest.fixture(autouse=True)
def test_kinds(request: pytest.FixtureRequest) -> None:
    """The job kinds of these tests, registered on the test's platform like any package's."""
    if "runtime" in request.fixturenames:
        runtime: Platform = request.getfixturevalue("runtime")
        for kind, work in (("test.count", _count), ("test.fail", _fail), ("test.until_cancelled", _until_cancelled),
                           ("test.held", _held)):
            runtime.jobs.register(kind, work)


def _submit(runtime: Platform, kind: str, params: dict[str, Any] | None = None, actor: Actor | None = None) -> int:
    with runtime.write() as conn:
        return runtime.jobs.submit(conn, kind, params or {}, title=kind, actor=actor)


def test_a_job_runs_after_its_transaction_commits_and_reports_progress(runtime: Platform) -> None:
    job_id = _submit(runtime, "test.count", {"to": 5})
    done = runtime.jobs.wait(job_id)
    assert (done["status"], done["done"], done["total"], done["percent"]) == ("succeeded", 5, 5, 100)
    assert done["result"] == {"counted": 5} and done["attempts"] == 1 and done["finished_at"]


def test_a_job_submitted_in_a_transaction_that_rolls_back_never_exists(runtime: Platform) -> None:
    with pytest.raises(RuntimeError), runtime.write() as conn:
        runtime.jobs.submit(conn, "test.count", {"to": 1}, title="t")
        raise RuntimeError("the metadata change failed")
    with runtime.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one() == 0


def test_a_failing_job_is_recorded_with_its_reason_and_the_worker_goes_on(runtime: Platform) -> None:
    failed = runtime.jobs.wait(_submit(runtime, "test.fail"))
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: the input file has no header row"
    assert runtime.jobs.wait(_submit(runtime, "test.count", {"to": 2}))["status"] == "succeeded"


def test_jobs_can_be_cancelled_queued_or_running(runtime: Platform) -> None:
    admin = Actor(user_id=1, email="admin@example.com", is_admin=True)
    RELEASE.clear()
    held = _submit(runtime, "test.held", actor=admin)
    queued = _submit(runtime, "test.count", {"to": 3}, actor=admin)
    assert runtime.jobs.cancel(admin, queued)["status"] == "cancelled"
    RELEASE.set()
    assert runtime.jobs.wait(held)["status"] == "succeeded"
    assert runtime.jobs.wait(queued)["done"] == 0
    running = _submit(runtime, "test.until_cancelled", actor=admin)
    while runtime.jobs.get(admin, running)["done"] < 3:
        time.sleep(0.01)
    runtime.jobs.cancel(admin, running)
    stopped = runtime.jobs.wait(running)
    assert (stopped["status"], stopped["message"]) == ("cancelled", "cancelled on request")


def test_a_job_whose_worker_died_is_run_again(runtime: Platform) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with runtime.write() as conn:
        job_id = conn.execute(sa.insert(jobs).values(
            kind="test.count", title="t", params={"to": 1}, status="running", worker="gone:1", attempts=1,
            created_at=long_ago, started_at=long_ago, heartbeat_at=long_ago).returning(jobs.c.id)).scalar_one()
    assert runtime.jobs.requeue_stale() == [job_id]
    runtime.jobs.in_process().wake()
    done = runtime.jobs.wait(job_id)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)


def test_a_running_worker_notices_a_job_whose_worker_died_and_runs_it_again(runtime: Platform) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with runtime.write() as conn:
        job_id = conn.execute(sa.insert(jobs).values(
            kind="test.count", title="t", params={"to": 1}, status="running", worker="gone:1", attempts=1,
            created_at=long_ago, started_at=long_ago, heartbeat_at=long_ago).returning(jobs.c.id)).scalar_one()
    assert runtime.jobs.sweep() == [job_id]  # put back and handed out again, no restart needed
    done = runtime.jobs.wait(job_id)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert runtime.jobs.sweep() == []  # sweeps are spaced out: at most one a minute


def test_the_jobs_api_shows_people_their_own_jobs_only(api: Any, runtime: Platform) -> None:
    clerk_id = runtime.users.create("clerk@example.com", "Clerk", "clerk-password")
    clerk = Actor(user_id=clerk_id, email="clerk@example.com")
    theirs = _submit(runtime, "test.count", {"to": 1}, actor=clerk)
    mine = _submit(runtime, "test.count", {"to": 1}, actor=Actor(user_id=1, email="admin@example.com", is_admin=True))
    runtime.jobs.wait(theirs)
    token = api.client.post("/api/v1/auth/token", json={"email": "clerk@example.com",
                                                        "password": "clerk-password"}).json()["access_token"]
    as_clerk = {"Authorization": f"Bearer {token}"}
    listed = api.client.get("/api/v1/jobs", headers=as_clerk).json()["jobs"]
    assert [j["id"] for j in listed] == [theirs]
    assert api.client.get(f"/api/v1/jobs/{mine}", headers=as_clerk).status_code == 404
    assert api.client.post(f"/api/v1/jobs/{mine}/cancel", headers=as_clerk).status_code == 404
    assert {j["id"] for j in api.ok(api.get("/jobs"))["jobs"]} == {theirs, mine}
    bad = api.get("/jobs", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    assert api.get("/jobs/999999").status_code == 404


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_command_line_recomputes_stored_formulas_with_progress(api: Any, db_url: str, tmp_path: Path) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "amount", "label": "Amount", "type": "integer"},
        {"api_name": "double", "label": "Double", "type": "formula", "expression": "amount * 2", "store": True}]}), 201)
    api.ok(api.post("/records/deal", [{"amount": i} for i in range(50)]), 201)
    env = {"TESSERA_DATABASE_URL": db_url}
    done = _cli(["formula", "recompute", "deal", "--wait"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and '"status": "succeeded"' in done.stdout
    assert '"records": 50' in done.stdout
    wrong = _cli(["formula", "recompute", "deal", "amount"], env, tmp_path)
    assert wrong.returncode == 1 and "'amount' is not a stored formula field" not in wrong.stdout
    assert "Not stored formula fields of Deal: amount" in wrong.stderr
    listed = _cli(["jobs", "list"], env, tmp_path)
    assert listed.returncode == 0 and "succeeded" in listed.stdout
    no_redis = _cli(["worker"], env, tmp_path)
    assert no_redis.returncode == 2 and "TESSERA_REDIS_URL" in no_redis.stderr


@pytest.fixture
def celery_worker(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Path]:
    """A real `tessera worker` process (Celery, prefork) for this test's database; yields its log."""
    log_path = tmp_path / "worker.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tessera.cli", "worker", "--concurrency", "1", "--loglevel", "INFO"],
        env={**os.environ, "TESSERA_DATABASE_URL": pg_url, "TESSERA_REDIS_URL": redis_url},
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True)
    yield log_path
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


@pytest.mark.postgres
def test_a_celery_worker_runs_jobs_sent_over_redis(pg_url: str, redis_url: str, tmp_path: Path,
                                                   celery_worker: Path) -> None:
    runtime = Platform(Settings(database_url=pg_url, redis_url=redis_url, attachments_dir=tmp_path / "files"))
    try:
        runtime.users.ensure_admin("admin@example.com", "admin-password")
        admin = Actor(user_id=1, email="admin@example.com", is_admin=True)
        runtime.metadata.create_object(admin, {"api_name": "deal", "label": "Deal", "fields": [
            {"api_name": "amount", "label": "Amount", "type": "integer"}]})
        runtime.records.create_many(admin, "deal", [{"amount": i} for i in range(3000)])
        field = runtime.metadata.add_field(admin, "deal", {"api_name": "double", "label": "Double", "type": "formula",
                                                           "expression": "amount * 2", "store": True})
        done = runtime.jobs.wait(field["jobs"][0]["id"], timeout=120)
        assert done["status"] == "succeeded", (done, celery_worker.read_text()[-3000:])
        assert done["total"] == 3000 and done["done"] == 3000
        with runtime.read() as conn:
            worker = conn.execute(sa.select(jobs.c.worker).where(jobs.c.id == done["id"])).scalar_one()
            top = conn.execute(sa.text("SELECT max(double) FROM deal")).scalar_one()
        assert worker != runtime.jobs.worker_name  # run by the Celery process, not this one
        assert int(top) == 5998
        assert runtime.jobs._worker is None  # and nothing started a worker thread here
    finally:
        runtime.dispose()


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_job_undone_by_a_deadlock_is_queued_again_and_then_succeeds(runtime: Platform, db_url: str) -> None:
    from crossing import Crossing

    with runtime.write() as conn:
        conn.exec_driver_sql("CREATE TABLE crossing (id integer PRIMARY KEY, n integer NOT NULL)")
        conn.exec_driver_sql("INSERT INTO crossing VALUES (1, 0), (2, 0)")
    other = Crossing(db_url, "UPDATE crossing SET n = n + 10 WHERE id = 2",
                     "UPDATE crossing SET n = n + 10 WHERE id = 1")

    def cross(ctx: JobContext) -> dict[str, Any]:
        with runtime.write() as conn:
            conn.exec_driver_sql("UPDATE crossing SET n = n + 1 WHERE id = 1")
            if not other.is_alive() and other.error is None and not other.locked.is_set():
                other.start()  # the first run only: it meets the other session
                other.locked.wait(10)
            conn.exec_driver_sql("UPDATE crossing SET n = n + 1 WHERE id = 2")
        return {"crossed": True}

    runtime.jobs.register("test.cross", cross)
    done = runtime.jobs.wait(_submit(runtime, "test.cross"))
    other.join(30)
    assert other.error is None, other.error
    assert (done["status"], done["attempts"], done["result"]) == ("succeeded", 2, {"crossed": True})
    with runtime.read() as conn:  # the other session's change and the job's, once each
        assert sorted(tuple(r) for r in conn.exec_driver_sql("SELECT id, n FROM crossing")) == [(1, 11), (2, 11)]
