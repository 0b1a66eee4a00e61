"""The `tessera` command: serve, worker, scheduler, db upgrade, user create/disable/enable, jobs, formula recompute."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from tessera.errors import TesseraError
from tessera.settings import Settings, SettingsError

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        print(f"tessera: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _prepare(settings: Settings) -> None:
    """Bring the database up to date and make sure the configured admin exists."""
    from tessera.data.engine import make_engine
    from tessera.data.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        if settings.admin_email and settings.admin_password:
            from tessera.auth.users import UserService

            UserService(engine).ensure_admin(settings.admin_email, settings.admin_password)
    finally:
        engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    _prepare(settings)
    print(f"database at {settings.url.render_as_string(hide_password=True)} is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    _prepare(settings)
    print(f"Tessera on http://{settings.host}:{args.port or settings.port} "
          f"(database {settings.backend}, jobs {'Celery' if settings.redis_url else 'in-process'})")
    uvicorn.run("tessera.api.app:create_app", factory=True, host=settings.host,
                port=args.port or settings.port, workers=args.workers, log_level="info")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from tessera.auth.users import UserService
    from tessera.data.engine import make_engine

    settings = _settings()
    _prepare(settings)
    password = args.password or getpass.getpass("Password: ")
    engine = make_engine(settings.database_url)
    try:
        user_id = UserService(engine).create(args.email, args.name or args.email.split("@")[0],
                                             password, is_admin=args.admin, roles=args.role or [])
    finally:
        engine.dispose()
    roles = sorted({*(args.role or []), *(["admin"] if args.admin else [])})
    print(f"user {args.email} created (id {user_id}{', ' + ', '.join(roles) if roles else ''})")
    return 0


def cmd_user_active(args: argparse.Namespace) -> int:
    """`tessera user disable EMAIL` / `enable EMAIL`: disabling ends the user's sessions and
    revokes their tokens at once."""
    import sqlalchemy as sa

    from tessera.auth.users import UserService
    from tessera.data.engine import make_engine
    from tessera.data.tables import users

    settings = _settings()
    _prepare(settings)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            user_id = conn.execute(sa.select(users.c.id).where(users.c.email == args.email.strip().lower())).scalar()
        if user_id is None:
            print(f"tessera: there is no user {args.email}", file=sys.stderr)
            return 1
        UserService(engine).set_active(int(user_id), args.active)
    finally:
        engine.dispose()
    print(f"user {args.email} {'enabled' if args.active else 'disabled'}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.redis_url:
        print("tessera: `tessera worker` runs Celery jobs and needs TESSERA_REDIS_URL; without it, "
              "`tessera serve` runs jobs in its own process", file=sys.stderr)
        return 2
    _prepare(settings)
    from tessera.runtime.background.worker import run_worker

    run_worker(settings, concurrency=args.concurrency, loglevel=args.loglevel)
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    import signal
    import threading

    runtime = _runtime()
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


def _runtime() -> Platform:
    from tessera.runtime.platform import Platform

    settings = _settings()
    _prepare(settings)
    return Platform(settings)


def _follow(runtime: Platform, job_id: int, *, follow: bool) -> int:
    """Print a job, and with `follow` its progress until it ends; exit 0 if it succeeded."""
    from tessera.auth.actor import Actor
    from tessera.runtime.background.jobs import FINISHED

    system = Actor.system()
    job = runtime.jobs.get(system, job_id)
    while follow and job["status"] not in FINISHED:
        print("\r" + _progress_line(job), end="", file=sys.stderr, flush=True)
        time.sleep(0.2)
        job = runtime.jobs.get(system, job_id)
    if follow:
        print("\r" + _progress_line(job), file=sys.stderr)
    print(json.dumps(job, indent=2))
    return 0 if job["status"] == "succeeded" or (not follow and job["status"] not in ("failed", "cancelled")) else 1


def _progress_line(job: dict[str, Any]) -> str:
    total, done = job["total"], job["done"]
    share = (done / total) if total else 0.0
    bar = "#" * int(share * 30)
    counts = f"{done:,}/{total:,}" if total is not None else f"{done:,}"
    return f"job {job['id']} {job['status']:<9} [{bar:<30}] {share:4.0%} {counts} {job['message'][:40]:<40}"


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    runtime = _runtime()
    try:
        for job in runtime.jobs.list(Actor.system(), status=args.status, limit=args.limit):
            print(_progress_line(job) + f"  {job['title']}")
    finally:
        runtime.dispose()
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    runtime = _runtime()
    try:
        return _follow(runtime, args.job_id, follow=args.follow)
    finally:
        runtime.dispose()


def cmd_formula_recompute(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    runtime = _runtime()
    try:
        job_id = runtime.stored_formulas.request(Actor.system(), args.object, args.fields or None)
        print(f"job {job_id} queued", file=sys.stderr)
        return _follow(runtime, job_id, follow=args.wait)
    finally:
        runtime.dispose()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tessera", description="Tessera no-code platform")
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and UI (upgrades the database first)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the platform's Alembic revisions").set_defaults(run=cmd_db_upgrade)
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("email")
    create.add_argument("--name")
    create.add_argument("--password", help="read from a prompt when left out")
    create.add_argument("--admin", action="store_true", help="give the admin role")
    create.add_argument("--role", action="append", metavar="NAME", help="give a role (repeat for more)")
    create.set_defaults(run=cmd_user_create)
    disable = user.add_parser("disable", help="disable a user: their sessions and tokens stop at once")
    disable.add_argument("email")
    disable.set_defaults(run=cmd_user_active, active=False)
    enable = user.add_parser("enable", help="enable a disabled user (they sign in anew)")
    enable.add_argument("email")
    enable.set_defaults(run=cmd_user_active, active=True)
    worker = sub.add_parser("worker", help="run a Celery worker for jobs (needs TESSERA_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(run=cmd_worker)
    scheduler = sub.add_parser("scheduler", help="move events, timers (approvals' due times, waits, SLA "
                               "clocks) and outgoing mail along; with Redis, wakes Celery workers to do it")
    scheduler.add_argument("--once", action="store_true", help="do what is due now and stop")
    scheduler.set_defaults(run=cmd_scheduler)
    jobs = sub.add_parser("jobs", help="background jobs").add_subparsers(dest="jobs_command", required=True)
    listing = jobs.add_parser("list", help="the newest jobs")
    listing.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=cmd_jobs_list)
    show = jobs.add_parser("show", help="one job; --follow shows its progress until it ends")
    show.add_argument("job_id", type=int)
    show.add_argument("--follow", action="store_true")
    show.set_defaults(run=cmd_jobs_show)
    formula = sub.add_parser("formula", help="formulas").add_subparsers(dest="formula_command", required=True)
    recompute = formula.add_parser("recompute", help="recompute stored formula fields of an object as a job")
    recompute.add_argument("object")
    recompute.add_argument("fields", nargs="*", help="stored formula fields (all of the object's if left out)")
    recompute.add_argument("--wait", action="store_true", help="show progress until the job ends")
    recompute.set_defaults(run=cmd_formula_recompute)
    return top


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TesseraError as error:
        print(f"tessera: {error}", file=sys.stderr)
        return 1
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"tessera: cannot use the database in TESSERA_DATABASE_URL: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
