"""`tessera events list|retry`: the outbox of events as an admin sees it — what failed and
why — and putting failed events back in line once the cause is fixed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tessera.cli import common


def add_commands(sub: Any) -> None:
    events = sub.add_parser("events", help="events waiting, failed or done").add_subparsers(
        dest="events_command", required=True)
    listing = events.add_parser("list", help="the newest events and how many are in each state")
    listing.add_argument("--state", help="pending, retrying, done or failed")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=cmd_events_list)
    retry = events.add_parser("retry", help="put failed events back in line (all of them, or the ids given)")
    retry.add_argument("ids", nargs="*", type=int)
    retry.set_defaults(run=cmd_events_retry)


def cmd_events_list(args: argparse.Namespace) -> int:
    from tessera.runtime.kernel.events import STATES

    if args.state is not None and args.state not in STATES:
        print(f"tessera: --state must be one of {', '.join(STATES)}", file=sys.stderr)
        return 2
    runtime = common.build_platform()
    try:
        counts = runtime.events.counts()
        print(", ".join(f"{count:,} {state}" for state, count in counts.items()))
        for event in runtime.events.list(args.state, limit=max(1, min(args.limit, 500))):
            records = ",".join(str(i) for i in event["record_ids"][:5]) + ("…" if len(event["record_ids"]) > 5 else "")
            line = f"{event['id']:>8}  {event['state']:<8}  {event['event']:<20} {event['object'] or '':<16} {records}"
            if event["last_error"]:
                line += f"\n          attempts {event['attempts']}: {event['last_error'].splitlines()[0][:160]}"
            print(line)
    finally:
        runtime.dispose()
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    runtime = common.build_platform()
    try:
        count = runtime.events.retry(args.ids or None)
        print(f"{count:,} failed event{'s' if count != 1 else ''} put back in line")
    finally:
        runtime.dispose()
    return 0
