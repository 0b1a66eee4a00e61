"""The outbox for admins: `/api/v1/events` lists events with their state and last error,
and puts failed ones back in line — an event is never silently dropped."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/events", tags=["events"])
State = Literal["pending", "retrying", "done", "failed"]

_RETRY_BODY = {"requestBody": {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"ids": {"type": "array", "maxItems": 1000,
                           "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}},
}}}}}


@router.get("")
def list_events(state: State | None = None, limit: int = Query(50, ge=1, le=500),
                before: int | None = Query(None, ge=1, le=2**63 - 1),
                _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Events newest first (`before`: the id of the last one of the page before), with how
    many are in each state. `failed`: set aside after ten attempts, with the last error."""
    return {"events": rt.events.list(state, limit=limit, before=before), "counts": rt.events.counts()}


@router.post("/retry", openapi_extra=_RETRY_BODY)
async def retry_events(request: Request, _: Actor = Depends(deps.admin),
                       rt: Platform = Depends(deps.runtime)) -> dict[str, int]:
    """Put failed events back in line: those in `ids`, or every failed one without a body."""
    ids = None
    if (await request.body()).strip():
        body = await deps.json_body(request)
        raw = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(body, dict) or set(body) - {"ids"} or not isinstance(raw, list) or len(raw) > 1000 or any(
                isinstance(i, bool) or not isinstance(i, int) or not 1 <= i < 2**63 for i in raw):
            raise InvalidInput("Send {\"ids\": [event ids]} or nothing (every failed event).",
                               [FieldProblem("ids", "must be a list of up to 1,000 event ids")])
        ids = raw
    return {"retried": await run_in_threadpool(rt.events.retry, ids)}
