"""How every admin page is put together: the admin areas (the sub-navigation every page
shows and the overview lists), the page rendered with them, and a service's problems sorted
to the inputs they are about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from tessera.errors import NotFound, TesseraError
from tessera.web.pages import render


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    href: str
    about: str


#: The admin areas, in the order the sub-navigation shows them.
AREAS = (
    Area("people", "People", "/admin/users", "Invite people; their roles, teams, manager; disable and enable them."),
    Area("teams", "Teams", "/admin/teams", "Group people into teams, add and remove members, set their manager."),
    Area("roles", "Roles", "/admin/roles", "What each role may do with each object's records and fields, and "
                                           "sharing rules that open more records."),
    Area("audit", "Audit log", "/admin/audit", "Who signed in, who changed people, roles, objects and records."),
    Area("signins", "Sessions & tokens", "/admin/signins", "Who is signed in where; API tokens; sign someone "
                                                           "out, revoke a token."),
    Area("events", "Failed events", "/admin/events", "Automation that could not run (flows, rules, webhooks), "
                                                     "with the error; try it again."),
    Area("plugins", "Plugins", "/admin/plugins", "The installed plugins: version, whether they loaded and what "
                                                 "they add; metadata that needs one that is missing."),
)


def page(request: Request, template: str, area: str, status: int = 200, **context: Any) -> HTMLResponse:
    """An admin page: `area` is the key of the area it belongs to (marked in the navigation)."""
    return render(request, template, status=status, admin_areas=AREAS, admin_area=area, **context)


def problems(error: TesseraError, inputs: Callable[[str], str | None] | None = None) -> dict[str, list[str]]:
    """A service's problems by the input they are about: `/label` → `label`, `email` →
    `email`; `inputs` names the input of a longer pointer (`/permissions/deal/read` →
    `p.deal.read`) where the first part alone would not say. A problem about nothing in
    particular goes under `form`."""
    out: dict[str, list[str]] = {}
    for problem in error.errors:
        pointer = problem.field or ""
        key = (inputs(pointer) if inputs else None) or pointer.strip("/").split("/")[0] or "form"
        out.setdefault(key, []).append(problem.message)
    return out


def number(text: str, missing: str) -> int:
    """An id from an address or a form; anything else is the `missing` page, never a 500."""
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise NotFound(missing)
    return int(text)
