"""Requests refused before any route sees them.

A NUL character (`%00`) in a path or a query string can be held by no text in Tessera:
PostgreSQL refuses it in every text parameter, so a NUL that reached a query would fail
there as a server error. Every edge is spared that by one check at the door, which answers
400 with a problem (RFC 9457) naming what was wrong.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

MEDIA_TYPE = "application/problem+json"


def _has_nul(scope: Scope) -> str | None:
    """Which part of the request holds a NUL character, if any."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if b"\x00" in unquote_to_bytes(raw_path) or "\x00" in scope.get("path", ""):
        return "path"
    if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        return "query"
    return None


class RefuseNul:
    """ASGI middleware: a request with a NUL in its path or query is answered 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = _has_nul(scope) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({
            "type": "https://tessera.dev/problems/bad-request", "title": "Bad request", "status": 400,
            "detail": "The request's address holds a NUL character (%00), which no text can hold.",
            "errors": [{"field": where, "message": "must not contain a NUL character (%00)", "code": "invalid"}],
        }).encode()
        await send({"type": "http.response.start", "status": 400,
                    "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
