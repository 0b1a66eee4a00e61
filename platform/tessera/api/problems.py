"""RFC 9457 problem details for every error the API returns.

The API never renders HTML: whoever assembles the application (`tessera.app`) may hand
`install` a `render_page` that answers a refusal on a page's path as a page; it answers
None for every other path, which keeps problem+json.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from tessera.data.engine import is_busy, is_conflict, is_too_slow
from tessera.errors import Busy, TesseraError, TooSlow
from tessera.requests.retries import CONFLICTED

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("tessera.api")
#: Seconds a client is asked to wait before trying a busy request again.
RETRY_AFTER = 2

#: `render_page(request, error)`: the refusal as a page, or None to answer problem+json.
PageRenderer = Callable[[Request, TesseraError], Response | None]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                    "row": {"type": "integer"},
                },
            },
        },
    },
}


def problem(status: int, title: str, detail: str, slug: str,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"https://tessera.dev/problems/{slug}", "title": title,
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def allowed_methods(request: Request) -> str:
    """The methods of the routes that serve the request's path most specifically (`/meta/kinds`
    over `/meta/{kind}`), however many routers they come from: Starlette's own `Allow`
    names the methods of the first route matching the path only."""
    methods: dict[int, set[str]] = {}
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.path_format and _pattern(str(route.path)).match(request.url.path):
            literal = sum(1 for part in str(route.path).split("/") if part and not part.startswith("{"))
            methods.setdefault(literal, set()).update(route.methods)
    return ", ".join(sorted(methods[max(methods)])) if methods else ""


@lru_cache(maxsize=1024)
def _pattern(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


def install(app: FastAPI, render_page: PageRenderer | None = None) -> None:
    """The problem handlers; a `TesseraError` on a path `render_page` claims becomes its page."""
    @app.exception_handler(TesseraError)
    async def _tessera(request: Request, error: TesseraError) -> Response:
        if render_page is not None and (page := render_page(request, error)) is not None:
            return page
        headers = ({"WWW-Authenticate": "Bearer"} if error.status == 401
                   else {"Retry-After": str(RETRY_AFTER)} if error.status == 503 else None)
        return problem(error.status, error.title, error.detail, error.type_slug,
                       [p.as_json() for p in error.errors], headers=headers, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or str(e.get("loc", ("",))[0]),
             "message": e.get("msg", "is not valid"), "code": "invalid"}
            for e in error.errors()
        ]
        return problem(400, "Bad request", "The request's parameters are not valid.", "bad-request", errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem(error.status_code, str(error.detail), str(error.detail),
                       str(error.detail).lower().replace(" ", "-"), headers=headers)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, error: OperationalError) -> Response:
        if is_conflict(error):
            # Run again by `RetryConflicts` while it can be: this answer is seen only when not.
            setattr(request.state, CONFLICTED, True)
            log.info("transaction undone by a conflict on %s %s: %s", request.method, request.url.path, error.orig)
            return await _tessera(request, Busy("This change crossed another one made at the same moment and was "
                                                "undone. Try again."))
        if is_busy(error):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, error.orig)
            return await _tessera(request, Busy("The database is busy with other changes; nothing was saved. "
                                                "Try again in a moment."))
        if is_too_slow(error):
            log.warning("statement stopped after its time limit on %s %s", request.method, request.url.path)
            return await _tessera(request, TooSlow(
                "This took longer than the server allows for one request and was stopped; nothing was "
                "changed. Narrow the filter or the report (fewer records, fewer related lists) and try again."))
        return await _unexpected(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "Something went wrong on our side; it was logged.",
                       "internal-error")
