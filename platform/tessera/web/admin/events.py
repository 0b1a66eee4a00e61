"""Failed events (/admin/events): how many events are waiting, being retried, done and
failed, and the events in one of those states — what happened, to which record, the last
error and how many attempts — with "Retry" for one failed event and for all of them. Through
the event bus (`EventBus.list`, `counts`, `retry`), as `/api/v1/events`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from tessera.auth.actor import Actor
from tessera.errors import NotFound
from tessera.requests import deps
from tessera.runtime.kernel.events import MAX_ATTEMPTS, STATES
from tessera.runtime.platform import Platform
from tessera.web.admin.page import number, page

router = APIRouter()
PAGE = 50
#: The states of an event in words, in the order the page shows them.
STATE_WORDS = {"failed": "Failed", "retrying": "Being retried", "pending": "Waiting", "done": "Done"}
assert set(STATE_WORDS) == set(STATES)
#: What an event tells, in words: `{object}` is the object's label.
EVENT_WORDS = {"record.created": "{object} created", "record.updated": "{object} changed",
               "record.deleted": "{object} moved to the trash", "record.restored": "{object} restored",
               "flow.finished": "A flow finished", "segment.entered": "A record entered a segment",
               "segment.left": "A record left a segment", "sla.breach": "An SLA target was missed",
               "sla.warning": "An SLA target is close"}


def _shown(rt: Platform, me: Actor, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with their object's label and their records' names."""
    with rt.read() as conn:
        objects = rt.snapshot(conn).objects
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event["object"] in objects:
            wanted.setdefault(event["object"], set()).update(event["record_ids"][:3])
    names: dict[tuple[str, int], str] = {}
    for name, ids in wanted.items():
        name_field = objects[name].name_field
        if name_field is None or not ids:
            continue
        listed = rt.records.list(me, name, fields=[name_field.api_name], limit=len(ids),
                                 filter=" OR ".join(f"id = {int(i)}" for i in sorted(ids)))
        names |= {(name, r["id"]): str(r.get(name_field.api_name) or "") for r in listed["data"]}
    out = []
    for event in events:
        obj = objects.get(event["object"] or "")
        label = obj.label if obj else (event["object"] or "")
        words = EVENT_WORDS.get(event["event"], event["event"].replace(".", " ").replace("_", " ").capitalize())
        records = [{"href": f"/app/{obj.api_name}/{i}" if obj else None,
                    "name": names.get((obj.api_name, i)) or f"#{i}" if obj else f"#{i}"}
                   for i in event["record_ids"][:3]]
        out.append({**event, "what": words.format(object=label or "A record"), "object_label": label,
                    "records": records, "more": max(0, len(event["record_ids"]) - 3)})
    return out


def _page(request: Request, me: Actor, rt: Platform, *, status: int = 200,
          flash: dict[str, str] | None = None) -> HTMLResponse:
    params = request.query_params
    state = params.get("state") or "failed"
    if state not in STATES:
        state = "failed"
        flash = {"kind": "error", "text": "There is no such state; showing the failed events."}
    before = number(params["before"], "There is no such page of events.") if params.get("before") else None
    events = _shown(rt, me, rt.events.list(state, limit=PAGE + 1, before=before))
    older = f"/admin/events?{urlencode({'state': state, 'before': events[PAGE - 1]['id']})}" \
        if len(events) > PAGE else None
    return page(request, "admin/events.html", "events", status=status, me=me, flash=flash, counts=rt.events.counts(),
                state=state, state_words=STATE_WORDS, events=events[:PAGE], older=older, paged=before is not None,
                max_attempts=MAX_ATTEMPTS)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    return _page(request, me, rt)


@router.post("/events", response_class=HTMLResponse)
async def retry(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    """Put one failed event (`event`: its id) or all of them (`all`) back in line."""
    form = await request.form()
    chosen = str(form.get("event") or "")
    try:
        ids = None if chosen == "all" else [number(chosen, "There is no such event.")]
        count = await run_in_threadpool(rt.events.retry, ids)
        if ids and not count:
            raise NotFound("That event has not failed (any more); it may have been retried already.")
    except NotFound as error:
        return _page(request, me, rt, status=error.status, flash={"kind": "error", "text": error.detail})
    text = (f"{count} event{'s are' if count != 1 else ' is'} back in line; each is tried again from the first "
            "attempt." if count else "Nothing had failed.")
    return _page(request, me, rt, flash={"kind": "ok", "text": text})
