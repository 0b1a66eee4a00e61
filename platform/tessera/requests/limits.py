"""The time limit of the statements a request runs.

Whatever someone asks for — a filter over a million records, a report grouped five ways —
each statement it runs stops after the settings' `query_timeout` seconds (see
tessera.data.engine.statement_time_limit). The request then gets a problem saying it was
too slow, and every other request, health checks included, goes on being answered.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from tessera.data.engine import statement_time_limit
from tessera.requests.middleware import HttpMiddleware


class LimitStatementTime(HttpMiddleware):
    """ASGI middleware: each HTTP request's statements run under the time limit."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = scope["app"].state.runtime.settings.query_timeout
        with statement_time_limit(seconds):
            await self.app(scope, receive, send)
