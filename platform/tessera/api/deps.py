"""What routes ask for: the runtime, the acting user, a parsed JSON body."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import Request

from tessera.auth.actor import Actor
from tessera.data.files import AttachmentStore
from tessera.errors import Forbidden, TesseraError, Unauthorized
from tessera.runtime.platform import Runtime

MAX_BODY = 20 * 1024 * 1024


class MalformedBody(TesseraError):
    status = 400
    title = "Malformed request body"
    type_slug = "malformed-body"


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def attachments(request: Request) -> AttachmentStore:
    return runtime(request).attachments


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
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
        # Lone surrogates ("\ud800") are valid JSON escapes but no text a database can store.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as error:
        raise MalformedBody(f"The request body is not valid JSON: {error}.") from None
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def if_match(request: Request) -> int | None:
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
