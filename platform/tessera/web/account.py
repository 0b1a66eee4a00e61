"""Signing in and out of the web UI — the sign-in page sets the session cookie (the same
server-side sessions, rate limits and audit as `POST /api/v1/auth/session`) — and the
person's own settings page (name and time zone, as `PATCH /api/v1/me`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.meta.times import time_zone_names
from tessera.requests import deps
from tessera.requests.cookies import clear_session_cookie, set_session_cookie
from tessera.runtime.platform import Platform
from tessera.web.pages import render
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never send a signed-in user elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return "/app"
    return target


def _login_page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    return templates().TemplateResponse(request, "auth/login.html", {
        "me": None, "nav_objects": [], "csrf": None, "next": _safe_next(request.query_params.get("next")),
        **context}, status_code=status)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    try:
        started = rt.users.sessions.start(email, password, ip=deps.client_ip(request),
                                          user_agent=request.headers.get("user-agent"))
    except TesseraError as error:
        headers = {"Retry-After": str(error.extra["retry_after"])} if "retry_after" in error.extra else None
        page = _login_page(request, status=error.status, email=email, error=error.detail, next=target)
        if headers:
            page.headers.update(headers)
        return page
    if zone := str(form.get("time_zone") or ""):
        rt.users.accounts.adopt_time_zone(started["user_id"], zone)  # the browser's, until they choose
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, rt.settings.secret_key, started["secret"])
    return response


def _settings_page(request: Request, me: Actor, rt: Platform, status: int = 200, **context: Any) -> HTMLResponse:
    mine = rt.users.accounts.me(me)
    if request.query_params.get("saved") and "flash" not in context:
        context["flash"] = {"kind": "ok", "text": "Saved."}
    return render(request, "auth/settings.html", status=status, me=me, mine=mine,
                  zones=time_zone_names(), default_zone=rt.settings.time_zone,
                  values=context.pop("values", mine), errors=context.pop("errors", {}), **context)


@router.get("/account", response_class=HTMLResponse)
def settings_page(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    return _settings_page(request, me, rt)


@router.post("/account", response_class=HTMLResponse)
async def change_settings(request: Request, me: Actor = Depends(deps.actor),
                          rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    changes = {"name": str(form.get("name") or "").strip(), "time_zone": str(form.get("time_zone") or "") or None}
    try:
        rt.users.accounts.change_own(me, changes)
    except TesseraError as error:
        errors: dict[str, list[str]] = {}
        for problem in error.errors:
            errors.setdefault(problem.field.strip("/").split("/")[0] or "form", []).append(problem.message)
        return _settings_page(request, me, rt, status=error.status, values=changes, errors=errors,
                              flash={"kind": "error", "text": error.detail})
    # The page after a save is read by the new actor (its time zone), so go round by GET.
    return RedirectResponse("/account?saved=1", status_code=303)


@router.post("/logout")
def logout(me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    rt.users.sessions.end(me)
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    clear_session_cookie(response)
    return response
