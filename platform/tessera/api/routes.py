"""The JSON API's routers, in the order `tessera.app` mounts them under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from tessera.api import (
    attachments,
    audit,
    auth,
    conversions,
    dashboards,
    events,
    flows,
    forms,
    formula,
    imports,
    jobs,
    me,
    meta,
    navigation,
    packages,
    plugins,
    records,
    reports,
    roles,
    search,
    sla,
    teams,
    users,
)

PREFIX = "/api/v1"

#: Routers whose every route needs a sign-in: it is checked before anything else of the
#: request (its body, If-Match), so a request without one is always 401. The auth router
#: checks its own (signing in needs none).
OPEN: tuple[APIRouter, ...] = (auth.router,)

#: Most frequent first: a request is tried against every route of the routers before its
#: own. No two routers' paths overlap, so their order decides nothing else.
ROUTERS: tuple[APIRouter, ...] = (
    records.router, me.router, flows.router, forms.router, reports.router, dashboards.router,
    attachments.router, formula.router, sla.router, jobs.router, meta.router, auth.router,
    users.router, teams.router, roles.router, audit.router, events.router, navigation.router, conversions.router,
    packages.router, imports.router, search.router, plugins.router,
)
