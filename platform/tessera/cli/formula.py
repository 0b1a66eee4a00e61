"""`tessera formula recompute OBJECT [FIELD …] [--wait]`: recompute an object's stored
formula fields as a job (after a formula changed outside the builder, or to repair)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tessera.cli import common
from tessera.cli.jobs import show_job


def add_commands(sub: Any) -> None:
    formula = sub.add_parser("formula", help="formulas").add_subparsers(dest="formula_command", required=True)
    recompute = formula.add_parser("recompute", help="recompute stored formula fields of an object as a job")
    recompute.add_argument("object")
    recompute.add_argument("fields", nargs="*", help="stored formula fields (all of the object's if left out)")
    recompute.add_argument("--wait", action="store_true", help="show progress until the job ends")
    recompute.set_defaults(run=cmd_formula_recompute)


def cmd_formula_recompute(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    runtime = common.build_platform()
    try:
        job_id = runtime.stored_formulas.request(Actor.system(), args.object, args.fields or None)
        print(f"job {job_id} queued", file=sys.stderr)
        return show_job(runtime, job_id, follow=args.wait)
    finally:
        runtime.dispose()
