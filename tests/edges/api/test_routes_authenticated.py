"""Every route of the application refuses a request without credentials, except the few on
the PUBLIC list: a route added without `deps.actor` (or builder, admin) fails this test.

Each route is called with every method it has, path parameters filled in with plausible
values and an empty JSON body, so that nothing but the missing sign-in can refuse it. API
routes must answer 401 problem+json; pages (outside /api) may instead send the visitor,
through any number of redirects, to /login.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.runtime.platform import Platform

PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/session"),
    ("GET", "/healthz"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    # The web UI's sign-in page and the browser libraries it loads (tessera.web), once installed.
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/static/vendor/{name}"),
    # Deciding a task from a signed e-mail link: the signature is the authority (tests/test_flows_web.py).
    ("GET", "/flows/act/{token}"),
    ("POST", "/flows/act/{token}"),
}
#: Plausible values of path parameters, by name; anything else gets "1".
VALUES = {"object": "deal", "field": "name", "kind": "objects", "api_name": "sales", "name": "x"}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, those of included routers too (mounts have no methods)."""
    return sorted({(method, str(route.path)) for route in iter_route_contexts(app.routes)
                   for method in route.methods or () if method not in ("HEAD", "OPTIONS")})


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: VALUES.get(m.group(1), "1"), path)


def _unprotected(client: TestClient) -> list[str]:
    """Routes that answered a request without credentials with something other than a refusal."""
    found = []
    for method, path in _routes(client.app):  # type: ignore[arg-type]
        if (method, path) in PUBLIC:
            continue
        page = not path.startswith("/api/")
        response = client.request(method, _url(path), json={}, follow_redirects=page)
        refused = response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer" \
            and response.headers["content-type"] == "application/problem+json"
        if page:  # however many redirects, a signed-out visitor ends on the sign-in page
            refused = refused or (bool(response.history) and response.url.path == "/login")
        if not refused:
            found.append(f"{method} {path} → {response.status_code} {response.text[:120]}")
    return found


def test_every_route_but_the_public_ones_needs_a_sign_in(client: Any) -> None:
    routes = _routes(client.app)
    assert len(routes) > 50, routes  # the enumeration sees the whole application
    assert {("GET", "/api/v1/users"), ("DELETE", "/api/v1/records/{object}/{record_id:int}")} <= set(routes)
    assert not _unprotected(client), "\n".join(_unprotected(client))


def test_the_public_api_routes_exist(client: Any) -> None:
    routes = set(_routes(client.app))
    assert {r for r in PUBLIC if r[1].startswith("/api/") or r[1] == "/healthz"} <= routes


def test_an_unauthenticated_route_is_caught(runtime: Platform) -> None:
    app = create_app(runtime)

    @app.get("/api/v1/leak/{object}")
    def leak(object: str) -> dict[str, str]:
        return {"object": object}

    with TestClient(app) as client:
        assert _unprotected(client) == ["GET /api/v1/leak/{object} → 200 {\"object\":\"deal\"}"]
