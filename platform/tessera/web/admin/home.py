"""The admin's overview (/admin): every admin area with what it is for and how things
stand there (people active, failed events waiting, plugins not loaded), and the first steps
of a new admin."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin import plugins
from tessera.web.admin.page import page


def _figures(rt: Platform, me: Actor) -> dict[str, dict[str, Any]]:
    """One line per area saying how things stand, and whether it needs the admin's eye."""
    people = rt.users.accounts.list(active=True, limit=500)
    active = f"{len(people['data'])}{'+' if people['next_cursor'] else ''}"
    teams, roles = rt.users.teams.list(), rt.users.roles.list(rt.snapshot)
    sessions, tokens = rt.users.sessions.active(limit=1000), rt.users.tokens.everyone(limit=1000)
    failed = rt.events.counts()["failed"]
    return {
        "people": {"text": f"{active} active"},
        "teams": {"text": f"{len(teams)} team{'s' if len(teams) != 1 else ''}"},
        "roles": {"text": f"{len(roles)} role{'s' if len(roles) != 1 else ''}"},
        "audit": {"text": "Newest first, by person, kind and date"},
        "signins": {"text": f"{len(sessions)} signed in, {len(tokens)} API token{'s' if len(tokens) != 1 else ''}"},
        "events": {"text": f"{failed} failed" if failed else "Nothing failed", "alert": bool(failed)},
        "plugins": plugins.figure(rt, me),
    }


def overview(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    """/admin (the admin router adds it: a sub-router cannot have an empty path)."""
    return page(request, "admin/index.html", "home", me=me, figures=_figures(rt, me))
