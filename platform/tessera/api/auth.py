"""Signing in: bearer tokens for API clients, cookie sessions for the web UI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from tessera.api import problems
from tessera.auth.actor import Actor
from tessera.auth.attempts import TooManyAttempts
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.requests.cookies import clear_session_cookie, set_session_cookie
from tessera.runtime.platform import Platform

router = APIRouter(tags=["auth"])
_CREDENTIALS = {"type": "object", "required": ["email", "password"],
                "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}


def _credentials(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) \
            or not isinstance(body.get("password"), str):
        raise InvalidInput("Send {\"email\": …, \"password\": …}.",
                           [FieldProblem("email", "is required"), FieldProblem("password", "is required")])
    return body["email"], body["password"]


def _throttled(sign_in: Callable[[], Any]) -> Any:
    """Run a sign-in; too many failures answer 429 with Retry-After."""
    try:
        return sign_in()
    except TooManyAttempts as error:
        wait = int(error.extra["retry_after"])
        return problems.problem(error.status, error.title, error.detail, error.type_slug,
                                headers={"Retry-After": str(wait)}, retry_after=wait)


@router.post("/auth/token", openapi_extra={"security": []})
def token(request: Request, body: Any = Depends(deps.json_body),
          runtime: Platform = Depends(deps.runtime)) -> Any:
    email, password = _credentials(body)

    def sign_in() -> dict[str, str]:
        access = runtime.users.sign_in(email, password, ip=deps.client_ip(request))
        return {"access_token": access, "token_type": "bearer"}

    return _throttled(sign_in)


@router.post("/auth/session", openapi_extra={"security": [], "requestBody": {
    "required": True, "content": {"application/json": {"schema": _CREDENTIALS}}}})
def start_session(request: Request, body: Any = Depends(deps.json_body),
                  runtime: Platform = Depends(deps.runtime)) -> Any:
    """Sign in to the web UI: sets the session cookie and answers the CSRF token that requests
    which change something must send in `X-CSRF-Token`."""
    email, password = _credentials(body)

    def sign_in() -> JSONResponse:
        started = runtime.users.sessions.start(email, password, ip=deps.client_ip(request),
                                               user_agent=request.headers.get("user-agent"))
        expires: datetime = started["expires_at"]
        response = JSONResponse({"csrf_token": started["csrf_token"],
                                 "expires_at": expires.isoformat().replace("+00:00", "Z"),
                                 "user": runtime.users.accounts.get(started["user_id"])})
        set_session_cookie(response, request, runtime.settings.secret_key, started["secret"])
        return response

    return _throttled(sign_in)


@router.get("/auth/session")
def current_session(who: Actor = Depends(deps.confirmed_actor),
                    runtime: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The session of the cookie: its CSRF token (for a page that was reloaded) and when it ends."""
    return runtime.users.sessions.details(who) | {"user": runtime.users.accounts.me(who)}


@router.delete("/auth/session", status_code=204)
def end_session(who: Actor = Depends(deps.confirmed_actor), runtime: Platform = Depends(deps.runtime)) -> Response:
    """Sign out: the session stops working at once and the cookie is cleared."""
    runtime.users.sessions.end(who)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response
