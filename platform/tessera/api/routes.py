"""The JSON API's routers, in the order `tessera.app` mounts them under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from tessera.api import (
    attachments,
    audit,
    auth,
    dashboards,
    events,
    flows,
    forms,
    formula,
    jobs,
    me,
    meta,
    records,
    reports,
    roles,
    sla,
    teams,
    users,
)

PREFIX = "/api/v1"

#: Most frequent first: a request is tried against every route of the routers before its
#: own. No two routers' paths overlap, so their order decides nothing else.
ROUTERS: tuple[APIRouter, ...] = (
    records.router, me.router, flows.router, forms.router, reports.router, dashboards.router,
    attachments.router, formula.router, sla.router, jobs.router, meta.router, auth.router,
    users.router, teams.router, roles.router, audit.router, events.router,
)
