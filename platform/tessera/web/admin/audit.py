"""The audit log page (/admin/audit): newest first, filtered by person, by kind (sign-ins,
people, roles, metadata, changes to records…), by object for record changes and by a range
of days in the admin's time zone, a page at a time by the service's cursor. Read from the
same log as `GET /api/v1/audit`; entries in words by tessera.web.admin.audit_words.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.meta.times import time_zone
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin.audit_words import KINDS, reading_for, shown
from tessera.web.admin.page import page

router = APIRouter()
PAGE = 50
FILTERS = ("person", "kind", "object", "from", "to")


def _day(text: str, errors: dict[str, list[str]], key: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.setdefault(key, []).append("is not a date like 2026-12-31")
        return None


def _query(rt: Platform, me: Actor, given: dict[str, str], errors: dict[str, list[str]]) -> dict[str, Any]:
    """The service's filters from the page's: a person by id, a kind, an object (which means
    changes to its records), days from and to (both included) in the admin's time zone."""
    query: dict[str, Any] = {}
    if person := given["person"]:
        if person.isdigit() and len(person) < 19:
            query["actor"] = person
        else:
            errors.setdefault("person", []).append("choose a person from the list")
    kind = given["kind"]
    if given["object"]:
        with rt.read() as conn:
            objects = rt.snapshot(conn).objects
        if given["object"] in objects:
            kind = kind or "record"
            query["target"] = f"record:{given['object']}"
            if kind != "record":
                errors.setdefault("object", []).append("only changes to records are about an object's records")
        else:
            errors.setdefault("object", []).append("choose an object from the list")
    if kind:
        if kind in KINDS:
            query["action"] = kind
        else:
            errors.setdefault("kind", []).append("choose a kind from the list")
    zone = time_zone(getattr(me, "time_zone", None), rt.settings.time_zone)
    since, until = _day(given["from"], errors, "from"), _day(given["to"], errors, "to")
    if since and until and until < since:
        errors.setdefault("to", []).append("is before the first day")
        until = None
    if since:
        query["since"] = datetime.combine(since, datetime.min.time(), zone)
    if until:
        query["until"] = datetime.combine(until + timedelta(days=1), datetime.min.time(), zone)
    return query


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    params = request.query_params
    given = {k: str(params.get(k) or "").strip()[:100] for k in FILTERS}
    errors: dict[str, list[str]] = {}
    query = _query(rt, me, given, errors)
    flash = None
    try:
        found = rt.users.audit.entries(**query, cursor=params.get("cursor") or None, limit=PAGE)
    except TesseraError as error:  # a cursor from elsewhere: start again from the newest
        found = rt.users.audit.entries(**query, limit=PAGE)
        flash = {"kind": "error", "text": f"{error.detail} Showing the newest entries."}
    reading = reading_for(rt, me, found["data"])
    entries = [shown(e, reading, me) for e in found["data"]]
    kept = {k: v for k, v in given.items() if v}
    older = f"/admin/audit?{urlencode({**kept, 'cursor': found['next_cursor']})}" if found["next_cursor"] else None
    with rt.read() as conn:
        objects = sorted(rt.snapshot(conn).objects.values(), key=lambda o: o.label.casefold())
    return page(request, "admin/audit.html", "audit", me=me, entries=entries, given=given, errors=errors,
                flash=flash, kinds=KINDS, people=rt.users.accounts.list(limit=500)["data"], objects=objects,
                older=older, paged=bool(params.get("cursor")), newest=f"/admin/audit?{urlencode(kept)}")
