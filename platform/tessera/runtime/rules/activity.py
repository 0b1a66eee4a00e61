"""What rules did, for the rules list and a rule's page: each rule's latest run summed up
(when, why, how many records it looked at, how many it changed), a rule's recent runs —
a segment's checks with who entered and who left, another rule's firings on records with
what they set —, a segment's member count and when a rule will next run on its own.

Summaries live in `tessera_rule_state` under "{rule uid}:last" (one row per rule, written
by the run); runs are `tessera_rule_runs` rows: per record, and for a segment's check one
row for the whole check (no record) when it changed something or looked at every record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.tables import rule_runs, rule_state, segment_members, timers, users

#: When a rule runs next on its own, by the key of its timer.
TIMER_WORDS = {"segment": "next check of every record", "cron": "next scheduled run", "dates": "next look at the dates"}


def last_runs(conn: Connection, uids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per rule uid: its latest run summed up (rules that never ran are left out)."""
    keys = {f"{uid}:last": uid for uid in uids}
    if not keys:
        return {}
    rows = conn.execute(sa.select(rule_state.c.rule_uid, rule_state.c.value).where(rule_state.c.rule_uid.in_(keys)))
    return {keys[key]: dict(value or {}) for key, value in rows}


def recent_runs(conn: Connection, uid: str, *, segment: bool, limit: int = 10) -> list[dict[str, Any]]:
    """A rule's latest runs, newest first: a segment's checks, or firings on records."""
    query = sa.select(rule_runs).where(rule_runs.c.rule_uid == uid)
    if segment:
        query = query.where(rule_runs.c.record_id.is_(None))
    rows = conn.execute(query.order_by(rule_runs.c.id.desc()).limit(limit)).mappings().all()
    return [{"at": _iso(r["at"]), "record_id": r["record_id"], "trigger": r["trigger"], "outcome": r["outcome"],
             "changes": r["changes"] or {}, "error": r["error"]} for r in rows]


def member_count(conn: Connection, uid: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(segment_members)
                            .where(segment_members.c.rule_uid == uid)).scalar_one())


def next_runs(conn: Connection, uid: str) -> list[dict[str, str]]:
    """When the rule will run next on its own (a segment's hourly check, a schedule)."""
    out = []
    for key, due in conn.execute(sa.select(timers.c.key, timers.c.due_at).where(
            timers.c.key.startswith(f"rule:{uid}:", autoescape=True)).order_by(timers.c.due_at)):
        what = TIMER_WORDS.get(str(key).rsplit(":", 1)[-1])
        if what:
            out.append({"what": what, "at": _iso(due)})
    return out


def user_names(conn: Connection, ids: Iterable[Any]) -> dict[int, str]:
    wanted = sorted({int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool)})
    if not wanted:
        return {}
    return {int(i): str(n) for i, n in conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(wanted)))}


def record_ids(runs: Iterable[Mapping[str, Any]]) -> set[int]:
    """Every record a list of runs names (the records fired on, entered, left)."""
    found: set[int] = set()
    for run in runs:
        if run.get("record_id") is not None:
            found.add(int(run["record_id"]))
        changes = run.get("changes") or {}
        for key in ("entered", "left"):
            if isinstance(changes.get(key), list):
                found.update(int(i) for i in changes[key])
    return found


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["last_runs", "member_count", "next_runs", "recent_runs", "record_ids", "user_names"]
