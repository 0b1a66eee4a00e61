"""Dashboard pages: the dashboards list, a dashboard drawn with ECharts (filters reload it
through htmx; a click on a data point opens the filtered record list), the dashboard
builder (widgets dragged and resized on a grid) and the report builder (fields dragged into
rows, columns and values, or a funnel's stages picked, with a live preview rendered here;
*Add to a dashboard* opens the dashboard builder with the report on it). Builders save through the metadata API
(`/api/v1/meta/dashboards`, `/api/v1/meta/reports`) from the page, with the session's CSRF
token, as the form designer does.

`/dashboards` is not one of the site's page prefixes, so this router's routes render
refusals as pages themselves (a signed-out visitor goes to the sign-in page).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render


class PageRoute(APIRoute):
    """A route whose refusals are pages (sign-in, or the message in the layout), not
    problem+json, wherever its path is."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except TesseraError as error:
                from tessera.web import site

                return site.error_page(request, error)

        return page


router = APIRouter(include_in_schema=False, route_class=PageRoute)
#: Where in the report builder a problem at a JSON pointer of the report document is.
_PLACES = {"filter": "Filter", "group_by": "Rows", "columns_by": "Columns", "measures": "Values",
           "field": "Stage field", "stages": "Stages", "measure": "Measure", "created": "Created",
           "object": "Object", "sort": "Sort", "label": "Label", "api_name": "Name"}


def _in_words(pointer: str, message: str, detail: str) -> str:
    """A problem at a JSON pointer, said by the place in the builder it is about (the whole
    document's problem is the error's own sentence)."""
    place = _PLACES.get(pointer.strip("/").split("/")[0])
    if place:
        return f"{place}: {message}"
    return detail if pointer.strip("/") == "" else message


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    return render(request, "dashboards/index.html", me=me, dashboards=rt.dashboards.list(me))


@router.get("/dashboards/{name}", response_class=HTMLResponse)
def dashboard(name: str, request: Request, me: Actor = Depends(deps.actor),
              rt: Platform = Depends(deps.runtime)) -> Any:
    """The dashboard; an htmx request from the filters bar gets only the widgets back."""
    board = rt.dashboards.load(me, name, deps.filter_values(request))
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "dashboard-body"
    return render(request, "dashboards/body.html" if fragment else "dashboards/dashboard.html", me=me, board=board)


@router.get("/builder/dashboards/new", response_class=HTMLResponse)
def new_dashboard(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    design = rt.dashboards.design(None, request.query_params.get("add"))
    return render(request, "dashboards/builder.html", me=me, design=design)


@router.get("/builder/dashboards/{name}", response_class=HTMLResponse)
def dashboard_builder(name: str, request: Request, me: Actor = Depends(deps.builder),
                      rt: Platform = Depends(deps.runtime)) -> Any:
    """Widgets on the grid: drag to move, drag the corner to resize, add and remove;
    `?add=<report>` puts that report on it as a new widget, to place and save."""
    design = rt.dashboards.design(name, request.query_params.get("add"))
    return render(request, "dashboards/builder.html", me=me, design=design)


@router.get("/builder/reports/{name}/add-to-dashboard")
def add_to_dashboard(name: str, request: Request, _: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> RedirectResponse:
    """The report builder's *Add to a dashboard*: the dashboard chosen (or a new one) opens
    in its builder with the report on it as a new widget."""
    rt.documents.get("reports", name)  # a report that is not there is a page saying so
    chosen = request.query_params.get("dashboard") or ""
    target = f"/builder/dashboards/{quote(chosen, safe='')}" if chosen else "/builder/dashboards/new"
    return RedirectResponse(f"{target}?add={quote(name, safe='')}", status_code=303)


@router.post("/builder/reports/preview", response_class=HTMLResponse)
async def report_preview(request: Request, me: Actor = Depends(deps.builder),
                         rt: Platform = Depends(deps.runtime)) -> Any:
    """The report builder's live preview of the unsaved report (a JSON document): the
    table, or the funnel's steps, with labels and drill links; its problems in words
    (422) when it cannot run."""
    try:
        preview = rt.dashboards.preview(me, await deps.json_body(request))
    except TesseraError as error:
        return render(request, "reports/preview.html", status=error.status, preview=None,
                      problems=[_in_words(p.field, p.message, error.detail) for p in error.errors]
                      or [error.detail])
    return render(request, "reports/preview.html", preview=preview, problems=[])


@router.get("/builder/reports/new", response_class=HTMLResponse)
def new_report(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    design = rt.dashboards.report_design(None, request.query_params.get("object"))
    return render(request, "reports/builder.html", me=me, design=design)


@router.get("/builder/reports/{name}", response_class=HTMLResponse)
def report_builder(name: str, request: Request, me: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> Any:
    """Fields dragged into rows, columns and values; the preview runs the unsaved report."""
    return render(request, "reports/builder.html", me=me, design=rt.dashboards.report_design(name, None))
