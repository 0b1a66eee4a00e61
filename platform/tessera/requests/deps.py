"""What routes of every edge ask for: the platform, the acting user (any, builder or admin)
with the session's CSRF check, and the parsed parts of a request (JSON body, If-Match,
comma lists, dashboard filters).

Shared by `tessera.api` and `tessera.web` (and the portal), which never import each other;
see the package's docstring for where this sits in the layers. The platform is the one
`tessera.app` put on `request.app.state.runtime`.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tessera.auth import audit, sessions
from tessera.auth.actor import Actor, acting
from tessera.data.files import AttachmentStore
from tessera.errors import FieldProblem, Forbidden, InvalidInput, TesseraError, Unauthorized
from tessera.runtime.platform import Platform

MAX_BODY = 20 * 1024 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class MalformedBody(TesseraError):
    status = 400
    title = "Malformed request body"
    type_slug = "malformed-body"


# Dependencies that do no I/O are `async`: a sync one costs a hop to the thread pool.
async def runtime(request: Request) -> Platform:
    return request.app.state.runtime


async def attachments(request: Request) -> AttachmentStore:
    return request.app.state.runtime.attachments


def client_ip(request: Request) -> str:
    """The peer's address ("" when there is none, e.g. on a unix socket: then sign-in
    failures are counted per e-mail only, not for everyone behind one empty address)."""
    return request.client.host if request.client else ""


async def actor(request: Request) -> Actor:
    """The signed-in user: by `Authorization: Bearer <token>`, or by the session cookie of the
    web UI, which must send the session's CSRF token in `X-CSRF-Token` with every request
    that changes something. A sign-in verified before comes from memory; the request's first
    transaction confirms it is still valid (Platform.snapshot), so only a sign-in not seen
    before (or since access changed) costs a look-up here."""
    audit.client_ip.set(client_ip(request))
    users = request.app.state.runtime.users
    header = request.headers.get("authorization")
    cookie = request.cookies.get(sessions.COOKIE)
    if header is not None or not cookie:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' "
                               "(POST /api/v1/auth/token gives one).")
        who = users.cached(token.strip()) or await run_in_threadpool(users.actor_for_token, token.strip())
    else:
        secret = sessions.read_cookie(request.app.state.runtime.settings.secret_key, cookie)
        if secret is None:
            raise Unauthorized(sessions.ENDED)
        who, csrf = users.sessions.cached(secret) or await run_in_threadpool(users.sessions.actor_for_session, secret)
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(sessions.CSRF_HEADER, "").encode(), csrf.encode()):
            raise Forbidden(f"Send the session's CSRF token in the {sessions.CSRF_HEADER} header "
                            "(POST or GET /api/v1/auth/session gives it).")
    acting.set(who)
    return who


async def confirmed_actor(request: Request) -> Actor:
    """The signed-in user as of now, for routes that decide about identity (users, roles,
    tokens, metadata) or read no metadata: the sign-in is checked against the current auth
    revision (one indexed read) before the request goes on."""
    who = await actor(request)
    if who.token_digest is not None and who.user_id is not None:
        who = await run_in_threadpool(request.app.state.runtime.users.current, who)
        acting.set(who)
    return who


async def builder(request: Request) -> Actor:
    """Someone allowed to change metadata: the builder role, or an admin."""
    who = await confirmed_actor(request)
    if not (who.is_builder or who.is_admin):
        raise Forbidden("Only builders may change objects and fields, or see their history, "
                        "trash and uses.")
    return who


async def admin(request: Request) -> Actor:
    """An admin: users, teams, roles and the audit log are theirs alone."""
    who = await confirmed_actor(request)
    if not who.is_admin:
        raise Forbidden("Only admins may manage users, teams and roles, or read the audit log and the events.")
    return who


async def optional_json_body(request: Request) -> Any:
    """The JSON body, or None when there is none (bodies that only carry options)."""
    if not (await request.body()).strip():
        return None
    return await json_body(request)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise MalformedBody("The request body is larger than 20 MB.")
    if not raw.strip():
        raise MalformedBody("The request needs a JSON body.")
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
        # Lone surrogates ("\ud800") are valid JSON escapes but no text a database can store.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as error:
        raise MalformedBody(f"The request body is not valid JSON: {error}.") from None
    if "\\u0000" in raw.decode("utf-8", "replace") and (where := _nul_at(body, "")) is not None:
        # No text Tessera keeps can hold one (PostgreSQL refuses it in text and JSONB alike).
        raise InvalidInput("The body holds a NUL character (\\u0000), which no text can hold; nothing was saved.",
                           [FieldProblem(where or "/", "must not contain a NUL character (\\u0000)", "invalid")])
    return body


def _nul_at(value: Any, pointer: str) -> str | None:
    """The JSON pointer of the first text (a value or a key) holding a NUL character."""
    if isinstance(value, str):
        return pointer if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return pointer or "/"
            if (found := _nul_at(item, f"{pointer}/{key}")) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_at(item, f"{pointer}/{index}")) is not None:
                return found
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


async def if_match(request: Request) -> int | None:
    """The record version named by an If-Match header: "3", W/"3" or 3."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    found = _IF_MATCH.fullmatch(header.strip())
    if found is None:
        raise MalformedBody(f"If-Match must name a record version like \"3\", not {header[:40]!r}.")
    return int(found.group(1) or found.group(2))


#: What If-Match accepts, as documented in the OpenAPI description.
IF_MATCH_PATTERN = r'^(\*|(W/)?"\d{1,18}"|\d{1,18})$'
_IF_MATCH = re.compile(r'(?:W/)?"(\d{1,18})"|(\d{1,18})')


def csv_param(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


FILTER_PREFIX = "filter."


def filter_values(request: Request) -> dict[str, str]:
    """A dashboard's filters: `?filter.period=this_quarter&filter.owner=me` →
    {"period": "this_quarter", "owner": "me"} (the dashboard API and its page)."""
    return {key[len(FILTER_PREFIX):]: value for key, value in request.query_params.items()
            if key.startswith(FILTER_PREFIX)}
