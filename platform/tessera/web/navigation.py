"""Moving around the app: the navigation every page draws (the app menu, the current app's
objects and dashboards, the person's favourite and recent records), the star on a record
page, and the app a person picked, kept in a cookie.

`menu(...)` is what the page layout asks for on every page; it reads nothing the page's
snapshot does not already hold (see `tessera.runtime.navigation.apps`). The favourites and
recent records are a fragment the sidebar loads after the page (and again when a star
changes), so a page costs no more to draw with them.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import Busy, NotFound
from tessera.requests import deps
from tessera.runtime.navigation.apps import Menu
from tessera.runtime.platform import Platform
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)

#: The app a person picked, for the pages that do not show one of its objects.
COOKIE = "tessera_app"
#: A page address may pick the app (`/app?app=sales`, the app menu's links).
PARAMETER = "app"


def menu(request: Request, runtime: Platform, me: Actor, showing: str | None) -> Menu:
    """The navigation for a page showing object `showing` (or none)."""
    chosen = request.query_params.get(PARAMETER) or request.cookies.get(COOKIE)
    return runtime.app_menu.menu(me, chosen, showing)


def remember(request: Request, response: Response, navigation: Menu) -> None:
    """Keep the app picked in the address (if it is one the person may use) for the next pages."""
    picked = request.query_params.get(PARAMETER)
    if picked and picked == navigation.current.api_name and picked != request.cookies.get(COOKIE):
        response.set_cookie(COOKIE, picked, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")


def opened(runtime: Platform, me: Actor, object_name: str, record_id: int) -> bool:
    """A record page was shown: the visit goes to the top of Recent. Whether the record is
    one of the person's favourites (the star's state)."""
    # An embedded database busy with a long write: the page matters, this visit does not.
    with contextlib.suppress(Busy):
        runtime.recent.visit(me, object_name, record_id)
    return runtime.favourites.contains(me, object_name, record_id)


@router.get("/navigation/shortcuts", response_class=HTMLResponse)
def shortcuts(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    """The sidebar's Favourites and Recent: records by name, only those the person may read."""
    return templates().TemplateResponse(request, "navigation/_shortcuts.html", {
        "favourites": rt.favourites.list(me), "recent": rt.recent.list(me)})


@router.post("/app/{object}/{record_id}/favourite", response_class=HTMLResponse)
async def star(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> Response:
    """The star on a record page: `starred=1` adds the record to the person's favourites,
    `starred=0` takes it out (so a double click cannot undo itself)."""
    form = await request.form()
    wanted = str(form.get("starred") or "") == "1"
    if wanted:
        rt.favourites.add(me, object, record_id)
    else:
        with contextlib.suppress(NotFound):  # not starred: already as asked
            rt.favourites.remove(me, object, record_id)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/app/{object}/{record_id}", status_code=303)
    with rt.read() as conn:
        obj = rt.snapshot(conn).object(object)
    return templates().TemplateResponse(request, "navigation/_star.html", {
        "obj": obj, "record": {"id": record_id}, "starred": wanted}, headers={"HX-Trigger": "favourites-changed"})
