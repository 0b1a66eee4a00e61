"""The audit log: who signed in (or failed to), who changed users, teams, roles and tokens,
and, read from the metadata history, who changed objects and fields.

Entries are written in the same transaction as the change they tell of, so the log never
shows a change that did not happen, nor misses one that did. `GET /api/v1/audit` merges the
log with the metadata history, newest first, with a cursor over (time, source, id).

Changes to records are read from the field history when asked for (`action` `record` or
`record.update`, `record.delete`, `record.restore`): one entry per field changed, with the
target `record:<object>:<id>`. They are not in the unfiltered log, which would otherwise
drown in an import's rows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tessera.data.engine import read_transaction
from tessera.data.tables import audit, document_history, documents, record_history, users
from tessera.errors import FieldProblem, InvalidInput

#: The client address of the request being served, for entries written while serving it.
client_ip: ContextVar[str | None] = ContextVar("tessera_client_ip", default=None)

#: Where an entry comes from; also its place among entries of the same instant.
SOURCES = ("audit", "metadata", "record")
MAX_LIMIT = 500


def record(conn: Connection, action: str, *, actor_id: int | None = None, target: str = "",
           detail: dict[str, Any] | None = None, ip: str | None = None) -> None:
    """Write one entry, within the caller's transaction."""
    ip = ip or client_ip.get()
    conn.execute(sa.insert(audit).values(
        at=datetime.now(UTC), actor_id=actor_id, action=action[:60], target=target[:300], detail=detail,
        ip=ip[:64] if ip else None))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _encode(at: datetime, source: str, entry_id: int) -> str:
    raw = json.dumps([_iso(at), source, entry_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int, int]:
    try:
        at, source, entry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at.replace("Z", "+00:00")), SOURCES.index(source), int(entry_id)
    except (ValueError, TypeError):
        raise InvalidInput("The cursor is not one this API returned.",
                           [FieldProblem("cursor", "is not a cursor of the audit log")]) from None


def _before(at_column: Any, id_column: Any, rank: int, cursor: tuple[datetime, int, int] | None) -> Any:
    """Entries of one source (`rank`) that come after the cursor, newest first."""
    if cursor is None:
        return sa.true()
    at, cursor_rank, entry_id = cursor
    if rank < cursor_rank:
        return at_column <= at
    if rank > cursor_rank:
        return at_column < at
    return sa.or_(at_column < at, sa.and_(at_column == at, id_column < entry_id))


class AuditLog:
    """Reading the audit log (GET /api/v1/audit)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(self, *, action: str | None = None, actor: str | None = None, target: str | None = None,
                since: datetime | None = None, until: datetime | None = None, cursor: str | None = None,
                limit: int = 50) -> dict[str, Any]:
        """Newest first. `action` is an action (`role.changed`) or a group (`role`); `actor` a
        user id or e-mail; `target` the start of a target (`role:`, `user:rep@example.com`,
        `record:deal:12`); `since` and `until` (not included) bound the time."""
        limit = max(1, min(limit, MAX_LIMIT))
        position = _decode(cursor) if cursor else None
        window = (since, until)
        with read_transaction(self.engine) as conn:
            actor_id = self._actor_id(conn, actor) if actor else None
            rows = self._log(conn, action, actor, actor_id, target, window, position, limit + 1)
            rows += self._metadata(conn, action, actor, actor_id, target, window, position, limit + 1)
            rows += self._records(conn, action, actor, actor_id, target, window, position, limit + 1)
            rows.sort(key=lambda r: (r["at"], SOURCES.index(r["source"]), r["id"]), reverse=True)
            page, more = rows[:limit], len(rows) > limit
            emails = dict(conn.execute(sa.select(users.c.id, users.c.email).where(
                users.c.id.in_({r["actor_id"] for r in page if r["actor_id"] is not None}))).all())
        data = [{
            "id": r["id"], "source": r["source"], "at": _iso(r["at"]),
            "actor": {"id": r["actor_id"], "email": emails.get(r["actor_id"])} if r["actor_id"] is not None else None,
            "action": r["action"], "target": r["target"], "detail": r["detail"], "ip": r["ip"],
        } for r in page]
        last = page[-1] if page else None
        return {"data": data,
                "next_cursor": _encode(last["at"], last["source"], last["id"]) if more and last else None}

    def names(self, emails: Iterable[str]) -> dict[str, str]:
        """The names of the people with these e-mails, for pages that say who in words
        (e-mails of nobody are left out)."""
        wanted = sorted({e.strip().lower() for e in emails if isinstance(e, str) and e.strip()})[:2 * MAX_LIMIT]
        if not wanted:
            return {}
        with read_transaction(self.engine) as conn:
            return {r.email: r.name for r in conn.execute(
                sa.select(users.c.email, users.c.name).where(users.c.email.in_(wanted)))}

    @staticmethod
    def _actor_id(conn: Connection, actor: str) -> int:
        if actor.isdigit():
            return int(actor)
        found = conn.execute(sa.select(users.c.id).where(users.c.email == actor.strip().lower())).scalar()
        return int(found) if found is not None else -1

    @staticmethod
    def _log(conn: Connection, action: str | None, actor: str | None, actor_id: int | None, target: str | None,
             window: Window, position: tuple[datetime, int, int] | None, limit: int) -> list[dict[str, Any]]:
        where = [_before(audit.c.at, audit.c.id, 0, position), *_within(audit.c.at, window)]
        if action and action.partition(".")[0] in ("meta", "record"):
            return []
        if action:
            where.append(audit.c.action == action if "." in action else audit.c.action.startswith(f"{action}.",
                                                                                             autoescape=True))
        if actor:
            where.append(audit.c.actor_id == actor_id)
        if target:
            where.append(audit.c.target.startswith(target, autoescape=True))
        query = sa.select(audit).where(*where).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
        return [{"source": "audit", **r} for r in conn.execute(query).mappings()]

    @staticmethod
    def _metadata(conn: Connection, action: str | None, actor: str | None, actor_id: int | None,
                  target: str | None, window: Window, position: tuple[datetime, int, int] | None,
                  limit: int) -> list[dict[str, Any]]:
        """Metadata changes, from the history every metadata document keeps."""
        h = document_history
        where = [_before(h.c.at, h.c.id, 1, position), *_within(h.c.at, window)]
        if action:
            group, _, verb = action.partition(".")
            if group != "meta":
                return []
            if verb:
                where.append(h.c.action == verb)
        if actor:
            where.append(h.c.actor_id == actor_id)
        name = sa.func.coalesce(h.c.after["api_name"].as_string(), h.c.before["api_name"].as_string())
        if target:
            kind, _, prefix = target.partition(":")
            if kind == "record":
                return []
            where.append(h.c.kind == f"{kind}s")
            if prefix:
                where.append(name.startswith(prefix, autoescape=True))
        query = (sa.select(h.c.id, h.c.at, h.c.actor_id, h.c.action, h.c.kind, h.c.doc_uid, h.c.version, h.c.summary,
                           name.label("api_name"))
                 .where(*where).order_by(h.c.at.desc(), h.c.id.desc()).limit(limit))
        return [{"source": "metadata", "id": r.id, "at": r.at, "actor_id": r.actor_id, "action": f"meta.{r.action}",
                 "target": f"{r.kind.removesuffix('s')}:{r.api_name or ''}",
                 "detail": {"uid": r.doc_uid, "version": r.version, "summary": r.summary}, "ip": None}
                for r in conn.execute(query)]

    @staticmethod
    def _records(conn: Connection, action: str | None, actor: str | None, actor_id: int | None,
                 target: str | None, window: Window, position: tuple[datetime, int, int] | None,
                 limit: int) -> list[dict[str, Any]]:
        """Changes to records, from their field history; only when asked for by `action`."""
        group, _, verb = (action or "").partition(".")
        if group != "record":
            return []
        h = record_history
        objects = documents.alias("objects")
        where = [_before(h.c.at, h.c.id, 2, position), *_within(h.c.at, window)]
        if verb:
            where.append(h.c.action == verb)
        if actor:
            where.append(h.c.actor_id == actor_id)
        if target:
            kind, _, rest = target.partition(":")
            if kind != "record":
                return []
            name, _, record = rest.partition(":")
            if name:
                where.append(h.c.object_uid == sa.select(objects.c.uid).where(
                    objects.c.kind == "objects", objects.c.api_name == name).scalar_subquery())
            if record:
                if not record.isdigit() or len(record) > 18:
                    return []
                where.append(h.c.record_id == int(record))
        query = (sa.select(h, objects.c.api_name)
                 .select_from(h.outerjoin(objects, sa.and_(objects.c.uid == h.c.object_uid,
                                                           objects.c.kind == "objects")))
                 .where(*where).order_by(h.c.at.desc(), h.c.id.desc()).limit(limit))
        return [{"source": "record", "id": r.id, "at": r.at, "actor_id": r.actor_id, "action": f"record.{r.action}",
                 "target": f"record:{r.api_name or ''}:{r.record_id}",
                 "detail": {"object_uid": r.object_uid, "record_id": r.record_id, "field_uid": r.field_uid,
                            "old": r.old, "new": r.new}, "ip": None}
                for r in conn.execute(query)]


#: The time an entry must be at or after, and before.
Window = tuple[datetime | None, datetime | None]


def _within(at_column: Any, window: Window) -> list[Any]:
    since, until = window
    return [*([at_column >= since] if since else []), *([at_column < until] if until else [])]
