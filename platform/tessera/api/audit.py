"""The audit log for admins: `/api/v1/audit`, sign-ins, identity changes and metadata changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def audit_log(action: str | None = Query(None, max_length=60), actor: str | None = Query(None, max_length=254),
              target: str | None = Query(None, max_length=300),
              since: str | None = Query(None, max_length=40, json_schema_extra={"format": "date-time"}),
              until: str | None = Query(None, max_length=40, json_schema_extra={"format": "date-time"}),
              limit: int = Query(50, ge=1, le=500), cursor: str | None = Query(None, max_length=500),
              _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Newest first. `action`: one action (`role.changed`) or a group (`role`, `sign_in`,
    `meta`, `record` — changes to records, only when asked for); `actor`: a user id or
    e-mail; `target`: the start of a target (`user:`, `record:deal:12`); `since` and `until`
    (not included): ISO 8601 times; `cursor`: `next_cursor` of the page before."""
    return rt.users.audit.entries(action=action, actor=actor, target=target, since=_moment(since, "since"),
                                  until=_moment(until, "until"), cursor=cursor, limit=limit)


def _moment(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone); a number of seconds is not one."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} is not a time.", [FieldProblem(
            name, "must be an ISO 8601 time like 2026-12-01T09:00:00Z")]) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
