"""Security headers on every response.

Pages get a Content-Security-Policy the UI actually works under: scripts only from Tessera
itself (htmx, Alpine.js, SortableJS and ECharts are served from /static), never inline — so
markup that slipped into a page cannot run a `<script>` or an `onerror=` handler.
`'unsafe-eval'` stays because Alpine.js compiles its `x-data`/`@click` expressions with the
Function constructor (its CSP build cannot run expressions like `items.splice(i, 1)`);
what those attributes hold comes only from our templates, since record text is escaped and
rich text is cleaned of every attribute but a few safe ones. Styles may be inline (ECharts
tooltips and a few templates set them), which can paint but not run anything.

No page may be framed by another site (`frame-ancestors 'none'`, `X-Frame-Options: DENY`):
no clickjacking of an Approve button. Links to other sites carry no address of ours
(`Referrer-Policy: same-origin`): record URLs and ids stay in. JSON and files get
`default-src 'none'`: nothing in them is ever run as a page.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from tessera.requests.middleware import HttpMiddleware

PAGE_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
#: FastAPI's interactive API reference loads Swagger UI from its CDN with an inline start-up script.
DOCS_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "img-src 'self' data: https://fastapi.tiangolo.com",
    "frame-ancestors 'none'",
))
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATH = "/api/v1/docs"


def policy_for(path: str, content_type: str) -> str:
    if path.startswith(DOCS_PATH):
        return DOCS_POLICY
    return PAGE_POLICY if content_type.startswith("text/html") else DATA_POLICY


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware: the headers above on every HTTP response (a route's own win)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy_for(path, headers.get("content-type", "")))
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)
