"""What routes ask for: the runtime, the acting user, a parsed JSON body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from tessera.auth.actor import Actor
from tessera.errors import Forbidden, TesseraError, Unauthorized
from tessera.runtime.platform import Runtime

MAX_BODY = 20 * 1024 * 1024


class MalformedBody(TesseraError):
    status = 400
    title = "Malformed request body"
    type_slug = "malformed-body"


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' "
                           "(POST /api/v1/auth/token gives one).")
    return runtime(request).users.actor_for_token(token.strip())


def builder(request: Request) -> Actor:
    """Someone allowed to change metadata (admins until roles arrive)."""
    who = actor(request)
    if not who.is_admin:
        raise Forbidden("Only builders may change objects and fields.")
    return who


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise MalformedBody("The request body is larger than 20 MB.")
    if not raw.strip():
        raise MalformedBody("The request needs a JSON body.")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise MalformedBody(f"The request body is not valid JSON: {error}.") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def if_match(request: Request) -> int | None:
    """The record version named by an If-Match header: "3", W/"3" or 3."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 18:
        raise MalformedBody(f"If-Match must name a record version like \"3\", not {header!r}.")
    return int(text)


def csv_param(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]
