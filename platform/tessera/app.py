"""The ASGI application: the one place that assembles the edges.

`create_app` builds the Platform (or takes one), builds FastAPI, and mounts the JSON API
(`tessera.api`) under /api/v1 and the pages (`tessera.web`, later `tessera.portal`) beside
it. The edges never import each other; what joins them happens here: refusals on a page's
path are rendered by the web's error page, handed to the API's problem handlers as a
callback. Layer 7: this module imports the edges, and nothing imports it (`tessera serve`
names it to uvicorn as the string "tessera.app:create_app").
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from tessera.api import openapi, problems, routes
from tessera.requests import deps
from tessera.requests.guards import RefuseNul
from tessera.requests.headers import SecurityHeaders
from tessera.requests.limits import LimitStatementTime
from tessera.requests.retries import RetryConflicts
from tessera.runtime.platform import Platform
from tessera.settings import Settings
from tessera.web import site


def create_app(runtime: Platform | None = None) -> FastAPI:
    runtime = runtime or Platform(Settings.from_env())
    app = FastAPI(title="Tessera", version="0.1.0", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None)
    app.state.runtime = runtime
    app.add_middleware(RetryConflicts)
    app.add_middleware(LimitStatementTime)
    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders)
    problems.install(app, render_page=site.render_error)
    # In the order of routes.ROUTERS, tuned for speed (most frequent first); the pages after.
    signed_in = [Depends(deps.actor)]
    for router in routes.ROUTERS:
        app.include_router(router, prefix=routes.PREFIX, dependencies=[] if router in routes.OPEN else signed_in)
    # Plugins' routes, each under its plugin's own prefix.
    for plugin, router in runtime.plugin_host.api_routes:
        app.include_router(router, prefix=f"{routes.PREFIX}/plugins/{plugin}", dependencies=signed_in)
    for plugin, router in runtime.plugin_host.pages:
        app.include_router(router, prefix=f"/plugins/{plugin}")
    openapi.install(app, runtime)
    site.install(app)

    @app.on_event("startup")
    def start_jobs() -> None:
        # Without Redis this process runs the jobs: pick up those queued while it was down.
        if not runtime.settings.redis_url:
            runtime.jobs.in_process().wake()

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        with runtime.read() as conn:
            runtime.snapshot(conn)
        return {"status": "ok"}

    return app
