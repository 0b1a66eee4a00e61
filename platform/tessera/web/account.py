"""Signing in and out of the web UI: the sign-in page sets the session cookie (the same
server-side sessions, rate limits and audit as `POST /api/v1/auth/session`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.requests import deps
from tessera.requests.cookies import clear_session_cookie, set_session_cookie
from tessera.runtime.platform import Platform
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
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, rt.settings.secret_key, started["secret"])
    return response


@router.post("/logout")
def logout(me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    rt.users.sessions.end(me)
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    clear_session_cookie(response)
    return response
