"""The FastAPI application: routers, problem handlers and the metadata-driven OpenAPI."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

from tessera.api import (
    attachments,
    audit,
    auth,
    dashboards,
    flows,
    forms,
    formula,
    jobs,
    me,
    meta,
    openapi,
    problems,
    records,
    reports,
    roles,
    sla,
    teams,
    users,
)
from tessera.runtime.platform import Platform
from tessera.settings import Settings
from tessera.web import site


def create_app(runtime: Platform | None = None) -> FastAPI:
    runtime = runtime or Platform(Settings.from_env())
    app = FastAPI(title="Tessera", version="0.1.0", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None)
    app.state.runtime = runtime
    problems.install(app)
    # Most frequent first: a request is tried against every route of the routers before its
    # own. No two routers' paths overlap, so their order decides nothing else.
    for router in (records.router, me.router, flows.router, forms.router, reports.router, dashboards.router,
                   attachments.router, formula.router, sla.router, jobs.router, meta.router, auth.router,
                   users.router, teams.router, roles.router, audit.router):
        app.include_router(router, prefix="/api/v1")

    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def current_openapi() -> dict[str, Any]:
        with runtime.read() as conn:
            snap = runtime.snapshot(conn)
        with lock:
            if cache.get("revision") != snap.revision:
                cache["spec"] = openapi.build(app, list(snap.objects.values()))
                cache["revision"] = snap.revision
            return cache["spec"]

    app.openapi = current_openapi  # type: ignore[method-assign]

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
