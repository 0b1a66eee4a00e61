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
from tessera.meta.model import ObjectDef

#: Why a rule ran, in words, by the event that ran it.
EVENT_WORDS = {"flow.finished": "A flow finished", "sla.warning": "An SLA warning", "sla.breach": "An SLA breach",
               "segment.entered": "Entered a segment", "segment.left": "Left a segment"}
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


def shown(runs: list[dict[str, Any]], sets: list[dict[str, Any]], obj: ObjectDef | None, names: Mapping[int, str],
          people: Mapping[int, str], *, segment: bool) -> list[dict[str, Any]]:
    """Runs as the rule's page lists them: a segment's why, how many it looked at, who
    entered and left (by name); another rule's record, why, and the fields it set."""

    def record(record_id: int) -> dict[str, Any]:
        return {"id": record_id, "name": names.get(record_id) or f"#{record_id}"}

    def value(name: str, raw: Any) -> Any:
        if _is_user(obj, name) and isinstance(raw, int) and not isinstance(raw, bool):
            return people.get(raw, raw)
        return raw

    out = []
    for run, values in zip(runs, sets, strict=True):
        changes = run["changes"]
        entry: dict[str, Any] = {"at": run["at"], "outcome": run["outcome"], "error": run["error"]}
        if segment:
            field = obj.field(str(changes.get("field"))) if obj is not None and changes.get("field") else None
            entry.update(why=changes.get("why") or "", evaluated=changes.get("evaluated"),
                         field=field.label if field is not None else None)
            for side in ("entered", "left"):
                ids = list(changes.get(side, []))
                entry[side] = [record(int(i)) for i in ids]
                entry[f"{side}_more"] = max(0, int(changes.get(f"{side}_count", 0)) - len(ids))
        else:
            entry.update(why=TRIGGER_WORDS.get(run["trigger"], run["trigger"]),
                         record=record(int(run["record_id"])) if run["record_id"] is not None else None,
                         set=[{"field": _label(obj, k), "value": value(k, v)} for k, v in values.items()])
        out.append(entry)
    return out


#: What ran a rule on a record, in words (the log's trigger).
TRIGGER_WORDS = {"before_save": "Saved", "after_save": "Saved", "schedule": "On its schedule",
                 "date_relative": "A date came due", "segment": "Segment", **EVENT_WORDS}


def set_of(changes: Any) -> dict[str, Any]:
    """The fields a firing set: {"set": …} before save, or the update among its actions."""
    if not isinstance(changes, Mapping):
        return {}
    if isinstance(changes.get("set"), Mapping):
        return dict(changes["set"])
    out: dict[str, Any] = {}
    for action in changes.get("actions") or []:
        if isinstance(action, Mapping) and isinstance(action.get("set"), Mapping):
            out.update(action["set"])
    return out


def _label(obj: ObjectDef | None, name: str) -> str:
    fdef = obj.field(name) if obj is not None else None
    return fdef.label if fdef is not None else ("Owner" if name == "owner" else name)


def _is_user(obj: ObjectDef | None, name: str) -> bool:
    fdef = obj.field(name) if obj is not None else None
    return name == "owner" if fdef is None else fdef.type == "user"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["EVENT_WORDS", "TRIGGER_WORDS", "last_runs", "member_count", "next_runs", "recent_runs", "record_ids",
           "set_of", "shown", "user_names"]
