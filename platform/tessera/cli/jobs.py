"""`tessera jobs list|show`: background jobs and their progress; `show_job` draws the progress
bar every long command shows on the terminal while its job runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from tessera.cli import common

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform


def add_commands(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="background jobs").add_subparsers(dest="jobs_command", required=True)
    listing = jobs.add_parser("list", help="the newest jobs")
    listing.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=cmd_jobs_list)
    show = jobs.add_parser("show", help="one job; --follow shows its progress until it ends")
    show.add_argument("job_id", type=int)
    show.add_argument("--follow", action="store_true")
    show.set_defaults(run=cmd_jobs_show)


def show_job(runtime: Platform, job_id: int, *, follow: bool) -> int:
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

    runtime = common.build_platform()
    try:
        for job in runtime.jobs.list(Actor.system(), status=args.status, limit=args.limit):
            print(_progress_line(job) + f"  {job['title']}")
    finally:
        runtime.dispose()
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    runtime = common.build_platform()
    try:
        return show_job(runtime, args.job_id, follow=args.follow)
    finally:
        runtime.dispose()
