"""The builder's page for apps: list them in menu order, make one, change its label, tile,
objects (ticked and put in order) and dashboards, move it up or down the menu, delete it.
An app is saved as an `apps` metadata document through the document service, exactly as
`/api/v1/meta/apps` saves it, and its problems are shown beside the inputs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.meta.model import english_plural
from tessera.requests import deps
from tessera.runtime.navigation.apps import COLOURS
from tessera.runtime.navigation.kinds import OTHER
from tessera.runtime.platform import Platform
from tessera.web.builder import api_name
from tessera.web.pages import render

router = APIRouter(prefix="/builder/navigation", include_in_schema=False)
#: The inputs of the form (what each problem is shown beside is the first part of its path).
TEXTS = ("label", "letter", "colour", "description")


def app_document(form: Any) -> dict[str, Any]:
    """An app document from the form: blank inputs are left out; the objects and dashboards
    ticked, in the order they stand on the page."""
    doc: dict[str, Any] = {}
    for key in TEXTS:
        value = str(form.get(key) or "").strip()
        if value:
            doc[key] = value
    doc["label"] = doc.get("label", "")
    doc["objects"] = [str(v) for v in form.getlist("objects")]
    doc["dashboards"] = [str(v) for v in form.getlist("dashboards")]
    return doc


def _problems(error: TesseraError) -> dict[str, list[str]]:
    """A document's problems by input: /objects/3 → objects, / → the form as a whole."""
    out: dict[str, list[str]] = {}
    for problem in error.errors:
        key = (problem.field or "/").strip("/").split("/")[0] or "/"
        out.setdefault(key, []).append(problem.message)
    return out


def _go(request: Request, target: str) -> Response:
    return Response(status_code=204, headers={"HX-Redirect": target})


@router.get("", response_class=HTMLResponse)
def apps_page(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    apps = rt.app_menu.apps()
    labels = _object_labels(rt)
    grouped = {name for app in apps for name in app.get("objects", [])}
    problems = {a["api_name"]: rt.documents.stored_problems("apps", a["api_name"]) for a in apps}
    return render(request, "builder/apps.html", me=me, apps=apps, labels=labels, problems=problems,
                  other=[label for name, label in labels.items() if name not in grouped], colours=COLOURS)


@router.get("/new", response_class=HTMLResponse)
def new_app(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return _editor(request, me, rt, None, {"objects": [], "dashboards": []})


@router.post("", response_class=HTMLResponse)
async def create_app(request: Request, me: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    doc = app_document(form)
    doc["api_name"] = str(form.get("api_name") or "").strip() or api_name(doc["label"])
    # A new app goes to the end of the menu.
    doc["order"] = max((int(a.get("order", 0)) for a in rt.app_menu.apps()), default=0) + 10
    try:
        rt.documents.create(me, "apps", doc)
    except TesseraError as error:
        return _editor(request, me, rt, None, doc, error)
    return _go(request, "/builder/navigation")


@router.get("/{name}", response_class=HTMLResponse)
def app_page(name: str, request: Request, me: Actor = Depends(deps.builder),
             rt: Platform = Depends(deps.runtime)) -> Any:
    doc = rt.documents.get("apps", name)
    return _editor(request, me, rt, name, doc)


@router.post("/{name}", response_class=HTMLResponse)
async def change_app(name: str, request: Request, me: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    doc = app_document(form)
    # An input left blank takes its property away (the tile's letter, the colour).
    changes: dict[str, Any] = {key: None for key in TEXTS if key != "label"} | doc
    version = str(form.get("version") or "")
    try:
        rt.documents.update(me, "apps", name, changes, expected_version=int(version) if version.isdigit() else None)
    except TesseraError as error:
        return _editor(request, me, rt, name, {**doc, "api_name": name, "version": version}, error)
    return _go(request, "/builder/navigation")


@router.post("/{name}/move")
async def move_app(name: str, request: Request, me: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    rt.app_menu.move(me, name, -1 if form.get("direction") == "up" else 1)
    return _go(request, "/builder/navigation")


@router.post("/{name}/delete")
def delete_app(name: str, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Response:
    rt.documents.delete(me, "apps", name)
    return Response(status_code=204, headers={"HX-Redirect": "/builder/navigation"})


def _object_labels(rt: Platform) -> dict[str, str]:
    """The objects an app may list, by name: all but child objects, whose records are lines
    reached through their parent."""
    return {o["api_name"]: o.get("plural_label") or english_plural(o["label"]) for o in rt.metadata.list_objects()
            if not o.get("child")}


def _child_labels(rt: Platform) -> dict[str, str]:
    return {o["api_name"]: o.get("plural_label") or english_plural(o["label"]) for o in rt.metadata.list_objects()
            if o.get("child")}


def _editor(request: Request, me: Actor, rt: Platform, name: str | None, doc: dict[str, Any],
            error: TesseraError | None = None) -> HTMLResponse:
    """The app's form: every object, those of the app ticked and first in their order, the
    others after them by label; the same for dashboards."""
    labels = _object_labels(rt)
    boards = {d["api_name"]: d.get("label") or d["api_name"] for d in rt.documents.list("dashboards")}
    objects = _choices(doc.get("objects", []), labels)
    children = _child_labels(rt)
    for row in objects:
        if row["missing"] and row["name"] in children:  # named before it became a child object
            row.update(label=children[row["name"]], missing=False,
                       note="lines of another object, reached through it: untick it")
    return render(request, "builder/app.html", status=error.status if error else 200, me=me, app_name=name, doc=doc,
                  objects=objects,
                  dashboards=_choices(doc.get("dashboards", []), boards),
                  colours=COLOURS, errors=_problems(error) if error else {}, reserved=OTHER,
                  flash={"kind": "error", "text": _refusal(error)} if error else None)


def _refusal(error: TesseraError) -> str:
    if error.errors:
        return "The app was not saved: see the messages beside the inputs."
    return error.detail


def _choices(chosen: list[str], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of a ticked-and-ordered list: what the app holds (a name that no longer exists
    too, so it can be unticked), then the rest by label."""
    rows = [{"name": n, "label": labels.get(n, n), "chosen": True, "missing": n not in labels} for n in chosen]
    rest = sorted((n for n in labels if n not in chosen), key=lambda n: labels[n].lower())
    return rows + [{"name": n, "label": labels[n], "chosen": False, "missing": False} for n in rest]
