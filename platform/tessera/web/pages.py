"""The app pages end users work in: home, list views (table and kanban), record pages, and
the small endpoints their htmx fragments call. Each parses, calls one service and renders.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput, TesseraError
from tessera.forms.html import FormUrls
from tessera.meta.model import ObjectDef
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import OPERATOR_LABELS, ListQuery
from tessera.web import navigation
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    runtime: Platform = request.app.state.runtime
    me: Actor | None = context.pop("me", None)
    menu = None
    if me is not None:
        showing = context.get("current_object")
        menu = navigation.menu(request, runtime, me, showing.api_name if showing is not None else None)
    csrf = runtime.users.sessions.csrf_token(me) if me is not None else None
    response = templates().TemplateResponse(request, name, {
        "me": me, "navigation": menu, "nav_objects": list(menu.readable) if menu else [], "csrf": csrf, **context},
        status_code=status)
    if menu is not None:
        navigation.remember(request, response, menu)
    return response


def _view_query(request: Request, views: list[dict[str, Any]]) -> tuple[ListQuery, dict[str, Any] | None]:
    """The list asked for: a saved view (`view=`) as the start, and what the address says
    on top of it (a sort clicked, a filter added) winning."""
    query = _query(request)
    chosen = request.query_params.get("view")
    current = next((v for v in views if str(v["id"]) == chosen), None)
    if current is None:
        return query, None
    saved, given = current["query"], request.query_params
    return ListQuery(columns=query.columns or saved.get("columns") or [], sort=query.sort or saved.get("sort"),
                     conditions=query.conditions if given.getlist("c") else saved.get("conditions") or [],
                     formula=query.formula if given.get("formula") else saved.get("formula"),
                     cursor=query.cursor, limit=query.limit,
                     search=query.search if given.get("search") else saved.get("search")), current


def _query(request: Request) -> ListQuery:
    params = request.query_params
    conditions = []
    for raw in params.getlist("c"):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            conditions.append(item)
    # The column picker sends one `columns` per ticked column, in order; links and saved
    # views write them as one comma-separated value.
    columns = [c for value in params.getlist("columns") for c in value.split(",") if c]
    limit = params.get("limit", "50")
    return ListQuery(columns=columns, sort=params.get("sort") or None, conditions=conditions,
                     formula=params.get("formula") or None, cursor=params.get("cursor") or None,
                     limit=int(limit) if limit.isdigit() and 1 <= int(limit) <= 200 else 50,
                     search=(params.get("search") or "").strip() or None)


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    return RedirectResponse("/app", status_code=303)


@router.get("/app", response_class=HTMLResponse)
def home(request: Request, me: Actor = Depends(deps.actor)) -> HTMLResponse:
    return render(request, "app/home.html", me=me)


@router.get("/app/{object}", response_class=HTMLResponse)
def list_page(object: str, request: Request, me: Actor = Depends(deps.actor),
              rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    views = rt.views.saved(me, object)
    query, current = _view_query(request, views)
    error = None
    try:
        page = rt.views.page(me, object, query)
    except TesseraError as problem:
        if problem.status == 404 or problem.status == 403:
            raise
        error = problem.errors[0].message if problem.errors else problem.detail
        page = rt.views.page(me, object, ListQuery(columns=query.columns, sort=query.sort))
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "rows"
    deleted = request.query_params.get("deleted")
    return render(request, "app/rows.html" if fragment else "app/list.html", me=me, page=page, query=query,
                  error=error, current_object=page["object"], operators=OPERATOR_LABELS, views=views,
                  may_import=False if fragment else _may_import(rt, me, page["object"]),
                  current_view=current, deleted=int(deleted) if deleted and deleted.isdigit() else None,
                  params=_params(request), conditions_json=[json.dumps(c) for c in query.conditions],
                  searchable=any(f.props.get("searchable") for f in page["fields"]))


def _may_import(rt: Platform, me: Actor, obj: ObjectDef) -> bool:
    """Whether the list's menu offers Import (web/imports.py): the person may create or
    change the object's records (line items: change the records they belong to)."""
    if obj.is_child and obj.parent_link is None:
        return False
    with rt.read() as conn:
        access = rt.access.object(me, rt.snapshot(conn), obj)
    return access.may("create") or access.may("edit")


@router.post("/app/{object}/views")
async def save_view(object: str, request: Request, me: Actor = Depends(deps.actor),
                    rt: Platform = Depends(deps.runtime)) -> Response:
    """Save the list as it is shown now under a name (personal, or shared by builders)."""
    form = await request.form()
    query = ListQuery(columns=[c for c in str(form.get("columns") or "").split(",") if c],
                      sort=str(form.get("sort") or "") or None,
                      conditions=[json.loads(str(c)) for c in form.getlist("c") if _json_object(str(c))],
                      formula=str(form.get("formula") or "") or None,
                      search=str(form.get("search") or "").strip() or None)
    view = rt.views.save(me, object, str(form.get("name") or ""), query, shared=bool(form.get("shared")))
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}?view={view['id']}"})


@router.post("/app/{object}/views/{view_id}/delete")
def forget_view(object: str, view_id: int, me: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> Response:
    rt.views.forget(me, view_id)
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}"})


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@router.get("/app/{object}/export.csv")
def export(object: str, request: Request, me: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> StreamingResponse:
    rows = rt.views.export_csv(me, object, _view_query(request, rt.views.saved(me, object))[0])
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{quote(object)}.csv"'})


@router.get("/app/{object}/board", response_class=HTMLResponse)
def board(object: str, request: Request, me: Actor = Depends(deps.actor),
          rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    query = _view_query(request, rt.views.saved(me, object))[0]
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    obj = snap.object(object)
    # Select fields and lookups to small objects (a sales stage) may group the board. By
    # default a lookup to records kept in an order (stages: the target has an order_field),
    # else the first select, else whatever may: a deal opens on its stage, not its type.
    groupings = rt.views.board_fields(me, obj)
    staged = [f for f in groupings if f.type == "lookup"
              and (target := snap.objects.get(str(f.props.get("target")))) is not None and target.order_field]
    first = next(iter([*staged, *(f for f in groupings if f.type == "select"), *groupings]), None)
    group = request.query_params.get("group_by") or (first.api_name if first is not None else "")
    board = rt.views.kanban(me, object, group, query)
    return render(request, "app/board.html", me=me, board=board, groupings=groupings, current_object=obj,
                  params=_params(request))


@router.post("/app/{object}/{record_id}/move")
async def move(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    form = await request.form()
    version = str(form.get("version") or "")
    try:
        record = rt.views.move(me, object, record_id, str(form.get("field") or request.query_params.get("field")),
                               str(form.get("value") or "") or None, int(version) if version.isdigit() else None)
    except TesseraError as problem:
        reason = "; ".join(p.message for p in problem.errors) if problem.errors else problem.detail
        return JSONResponse({"detail": reason}, status_code=problem.status)
    return JSONResponse({"id": record["id"], "version": record["version"]})


@router.post("/app/{object}/bulk", response_class=HTMLResponse)
async def bulk(object: str, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    form = await request.form()
    ids = [int(v) for v in form.getlist("ids") if str(v).isdigit()]
    value: Any = form.get("value")
    outcome = rt.views.bulk(me, object, ids, str(form.get("action") or ""), str(form.get("field") or "") or None,
                            value if value != "" else None)
    return render(request, "app/bulk_result.html", me=me, outcome=outcome)


@router.get("/app/{object}/new", response_class=HTMLResponse)
def new_record(object: str, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> Response:
    with rt.read() as conn:
        obj = rt.snapshot(conn).object(object)
    if obj.is_child and obj.parent_link is not None:
        # A line is added on its parent's form: the parent's list is where to start.
        return RedirectResponse(f"/app/{obj.parent_link.props['target']}", status_code=303)
    form = rt.forms.render(me, object, values=rt.forms.posted(object, request.query_params.multi_items(), actor=me),
                           urls=_urls(object))
    return render(request, "app/record.html", me=me, obj=obj, record=None, form_html=form, history=[],
                  current_object=obj)


@router.get("/app/{object}/{record_id}", response_class=HTMLResponse)
def record_page(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> Response:
    with rt.read() as conn:
        obj = rt.snapshot(conn).object(object)
    record = rt.records.get(me, object, record_id)
    link = obj.parent_link if obj.is_child else None
    if link is not None and record.get(link.api_name):
        # A line is seen and changed among its siblings, on its parent's page.
        return RedirectResponse(f"/app/{link.props['target']}/{record[link.api_name]}#line-{record_id}",
                                status_code=303)
    starred = navigation.opened(rt, me, object, record_id)
    form = rt.forms.render(me, object, record_id=record_id, urls=_urls(object))
    history = rt.views.history(me, object, record_id, limit=50)
    # A relation the form lists in a related list of its own gets no second, automatic card.
    placed = rt.forms.placed_relations(me, object, record_id)
    related = [r for r in rt.views.related(me, object, record_id)
               if r["lookup"].props.get("related_name") not in placed]
    clocks = rt.sla.shown(me, object, record_id)
    return render(request, "app/record.html", me=me, obj=obj, record=record, form_html=form, history=history,
                  current_object=obj, related=related, clocks=clocks, starred=starred,
                  **_owner(rt, me, object, record))


def _owner(rt: Platform, me: Actor, object: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record page's owner line: whose record it is, by name as the list's Owner column
    shows it, and whether the person may change it (who may edit the record may)."""
    named = rt.views.values_text(me, object, [{"owner": record["owner"]}])[0] if record.get("owner") else []
    return {"owner": named[0][1] if named else None,
            "may_change_owner": rt.records.may(me, object, int(record["id"]), "edit")}


@router.get("/app/{object}/{record_id}/owner", response_class=HTMLResponse)
def owner_picker(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    """What "Change owner" brings in place of itself: the people picker and "Save owner"
    (only for who may change the record; anyone else gets the owner line as it was)."""
    with rt.read() as conn:
        obj = rt.snapshot(conn).object(object)
    record = rt.records.get(me, object, record_id)
    return render(request, "app/_owner.html", obj=obj, record=record, editing=True, **_owner(rt, me, object, record))


@router.post("/app/{object}/{record_id}/owner", response_class=HTMLResponse)
async def change_owner(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> Response:
    """"Change owner" on the record page: the person picked becomes the owner, through the
    records service as PATCH {"owner": id} (who may not edit the record is refused there).
    Saved → the record page again (its history says "Owner: Ann → Bob"); refused → the owner
    line with the reason beside the control."""
    form = await request.form()
    chosen, version = str(form.get("owner") or ""), str(form.get("version") or "")
    try:
        if not chosen.isdigit():
            raise InvalidInput("Pick the person who should own the record.")
        rt.records.update(me, object, record_id, {"owner": int(chosen)}, int(version) if version.isdigit() else None)
    except TesseraError as problem:
        with rt.read() as conn:
            obj = rt.snapshot(conn).object(object)
        record = rt.records.get(me, object, record_id)
        reasons = "; ".join(p.message for p in problem.errors if p.field == "owner")
        said = f"The owner was not changed: {reasons[:1].lower()}{reasons[1:]}." if reasons else problem.detail
        if problem.status == 412:
            said = f"{problem.detail} Reload the page to see the record as it is now."
        return render(request, "app/_owner.html", status=problem.status, obj=obj, record=record, owner_error=said,
                      editing=True, **_owner(rt, me, object, record))
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}/{record_id}"})


@router.post("/app/{object}/save", response_class=HTMLResponse)
async def save(object: str, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> Response:
    """The record form's submit: saved → to the record page; refused → the form again with
    each message beside its field and nothing the user typed lost."""
    form = await request.form()
    record_id, version, name, items = _form_post(form)
    values: Any = None
    try:
        values = rt.forms.posted(object, items, actor=me)
        saved = rt.forms.submit(me, object, form=name, record_id=record_id, values=values, version=version)
    except TesseraError as problem:
        with rt.read() as conn:
            obj = rt.snapshot(conn).object(object)
        typed = values if values is not None else {k: v for k, v in items}
        html = rt.forms.render(me, object, form=name, record_id=record_id, values=typed,
                               errors=problem.errors or [], urls=_urls(object))
        notice = problem.detail
        if problem.status == 412:
            notice = (f"{problem.detail} Your changes are still in the form; the record now holds someone "
                      "else's changes.")
        record = rt.records.get(me, object, record_id) if record_id else None
        return render(request, "app/record.html", status=problem.status, me=me, obj=obj, record=record,
                      form_html=html, history=[], current_object=obj, flash={"kind": "error", "text": notice},
                      **(_owner(rt, me, object, record) if record else {}))
    target = f"/app/{object}/{saved['id']}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/app/{object}/form-state")
async def form_state(object: str, request: Request, me: Actor = Depends(deps.actor),
                     rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """What htmx asks while a form is filled in: which fields are visible and required now
    (the formulas run here, never in the browser)."""
    form = await request.form()
    record_id, _version, name, items = _form_post(form)
    try:
        values = rt.forms.posted(object, items, actor=me)
    except TesseraError:
        values = {}
    return JSONResponse(rt.forms.state(me, object, form=name, record_id=record_id, values=values))


def _form_post(form: Any) -> tuple[int | None, int | None, str | None, list[tuple[str, str]]]:
    """(record id, version, form name, the widgets' (name, text) pairs) of a form post."""
    meta = ("record_id", "version", "form", "csrf")
    record_id = str(form.get("record_id") or "")
    version = str(form.get("version") or "")
    items = [(k, str(v)) for k, v in form.multi_items() if k not in meta and isinstance(v, str)]
    return (int(record_id) if record_id.isdigit() else None, int(version) if version.isdigit() else None,
            str(form.get("form") or "") or None, items)


def _urls(object: str) -> FormUrls:
    return FormUrls(submit=f"/app/{object}/save", state=f"/app/{object}/form-state")


@router.post("/app/{object}/{record_id}/delete")
def delete_record(object: str, record_id: int, me: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> Response:
    rt.records.delete(me, object, record_id)
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}?deleted={record_id}"})


@router.post("/app/{object}/{record_id}/restore")
def restore_record(object: str, record_id: int, me: Actor = Depends(deps.actor),
                   rt: Platform = Depends(deps.runtime)) -> Response:
    rt.records.restore(me, object, record_id)
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}/{record_id}"})


@router.get("/app/{object}/lookup/options", response_class=HTMLResponse)
def lookup_options(object: str, request: Request, me: Actor = Depends(deps.actor),
                   rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    """Records to pick in a lookup, by what was typed (only those the user may see)."""
    found = rt.views.search(me, object, request.query_params.get("q", ""))
    return render(request, "app/lookup_options.html", me=me, found=found)


def _params(request: Request) -> str:
    keep = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return urlencode(keep)
