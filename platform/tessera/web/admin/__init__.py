"""The admin's pages under /admin: the overview, people, teams, roles with their permission
matrix and sharing rules, the audit log, sessions and API tokens, failed events, and the
installed plugins — each through the same service as its API (`/api/v1/users`, `/teams`,
`/roles`, `/audit`, `/events`, `/plugins`), with the service's problems shown beside the
inputs they are about. Every page is an admin's alone (`deps.admin`); every change is a POST
carrying the session's CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tessera.web.admin import audit, events, home, people, plugins, roles, signins, teams

router = APIRouter(prefix="/admin", include_in_schema=False)
router.add_api_route("", home.overview, methods=["GET"], response_class=HTMLResponse)
for area in (people, teams, roles, audit, signins, events, plugins):
    router.include_router(area.router)
