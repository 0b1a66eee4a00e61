"""The UI attached to the FastAPI application: browser files, the pages, and errors shown
as pages (a signed-out visitor is sent to the sign-in page) rather than problem+json."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tessera.errors import TesseraError
from tessera.web import account, admin, apps, builder, conversions, dashboards, flows, imports, navigation, pages
from tessera.web.templates import VENDOR_FILES, templates, ui_dir

#: Paths served as pages; everything else keeps the API's problem+json.
PAGE_PREFIXES = ("/app", "/builder", "/admin", "/login", "/logout", "/inbox", "/notifications", "/flows",
                 "/navigation", "/search")


def install(app: FastAPI) -> None:
    root = ui_dir()
    app.mount("/static/app", StaticFiles(directory=str(root / "static")), name="static-app")
    modules = root / "node_modules"

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        relative = VENDOR_FILES.get(name)
        path = modules / relative if relative else None
        if path is None or not path.is_file():
            return Response(f"{name} is not installed: run `make` (npm ci in builder-ui)", status_code=404,
                            media_type="text/plain")
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})

    # The import wizard before the record pages: `/app/{object}/import` is no record id.
    for router in (account.router, navigation.router, imports.router, pages.router, apps.router, builder.router,
                   dashboards.router, flows.router, admin.router, conversions.router):
        app.include_router(router)
    from tessera.web import rules as rule_pages  # the rule, calendar and SLA builders
    app.include_router(rule_pages.router)
    from tessera.web import packages as template_pages  # app templates: install, upgrade, customizations
    app.include_router(template_pages.router)
    from tessera.web import search  # the top bar's dropdown and the /search page
    app.include_router(search.router)


def render_error(request: Request, error: TesseraError) -> Response | None:
    """A refusal on a page's path as a page (`tessera.app` hands this to the API's problem
    handlers); None elsewhere, which keeps the API's problem+json."""
    return error_page(request, error) if is_page(request) else None


def is_page(request: Request) -> bool:
    path = request.url.path
    if path.endswith(".csv"):
        return False
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def error_page(request: Request, error: TesseraError) -> Response:
    """A refused page: to sign-in when signed out, otherwise the message in the layout."""
    if error.status == 401:
        target = f"/login?next={quote(request.url.path)}"
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    return templates().TemplateResponse(request, "error.html", {
        "me": None, "nav_objects": [], "csrf": None, "error": error}, status_code=error.status)
