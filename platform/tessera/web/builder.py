"""The builder's pages: the object manager (objects, fields of every type with their
properties, where each field is used) and the form designer. Everything saved here is the
same metadata the API writes, through the same services."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import escape

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, TesseraError
from tessera.forms.html import FormUrls
from tessera.meta.fieldtypes import field_types
from tessera.meta.fieldtypes.numbers import CURRENCIES
from tessera.meta.model import english_plural
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.runtime.search.index import JOB_KIND as SEARCH_JOB
from tessera.web.pages import render

router = APIRouter(prefix="/builder", include_in_schema=False)
#: The line-items field type.
LINES = "child_table"
#: What each field the platform adds to a child object is for, in the builder's words.
SYSTEM_FIELDS = {"parent": "the record this line belongs to", "line_number": "the line's place: 1, 2, 3 …"}


def api_name(label: str) -> str:
    """A label as a name: "Purchase order" → purchase_order."""
    name = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"x_{name}" if name else ""
    return name[:63]


def field_document(form: Any) -> dict[str, Any]:
    """A field document from the add/edit field form (blank inputs are left out)."""
    label = str(form.get("label") or "").strip()
    doc: dict[str, Any] = {"label": label, "api_name": str(form.get("api_name") or "").strip() or api_name(label),
                           "type": str(form.get("type") or "text")}
    for flag in ("required", "unique", "indexed", "store"):
        if form.get(flag):
            doc[flag] = True
    for text in ("help_text", "target", "related_name", "expression"):
        value = str(form.get(text) or "").strip()
        if value:
            doc[text] = value
    if str(form.get("scale") or "").isdigit():
        doc["scale"] = int(str(form["scale"]))
    if code := str(form.get("currency") or "").strip().upper():  # only a currency field's form has it
        doc["currency"] = code
    if (shown_as := str(form.get("format") or "")) in ("number", "currency", "percent"):  # a number formula's
        doc["format"] = shown_as
    options = [o.strip() for o in str(form.get("options") or "").splitlines() if o.strip()]
    if options:
        doc["options"] = [{"value": api_name(o) or o, "label": o} for o in options]
    return doc


def _problems(error: TesseraError) -> dict[str, list[str]]:
    """A metadata error's problems by form input: /fields/3/options/0 → options."""
    out: dict[str, list[str]] = {}
    for problem in error.errors:
        key = problem.field.rstrip("/").split("/")[-1] if problem.field else "/"
        if key.isdigit():
            key = problem.field.rstrip("/").split("/")[-2]
        out.setdefault(key, []).append(problem.message)
    return out


def parents(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Which object's line-items field holds each child object's records, by child:
    {"quote_line": {"object": "quote", "label": "Quote", "field": "lines", "field_label": "Lines"}}."""
    out: dict[str, dict[str, str]] = {}
    for doc in objects:
        for fdoc in doc.get("fields", []):
            if fdoc.get("type") == LINES and fdoc.get("target"):
                out.setdefault(str(fdoc["target"]), {"object": doc["api_name"], "label": doc["label"],
                                                     "field": fdoc["api_name"], "field_label": fdoc["label"]})
    return out


def free_children(objects: list[dict[str, Any]], holder: str) -> list[tuple[str, str]]:
    """The child objects a line-items field of `holder` may hold: children whose lines no
    object holds yet (one child belongs to one parent field)."""
    held = parents(objects)
    return [(o["api_name"], o["label"]) for o in objects
            if o.get("child") and o["api_name"] != holder and o["api_name"] not in held
            and not any(f.get("system") == "parent" for f in o.get("fields", []))]


def _home(request: Request, me: Actor, rt: Platform, *, status: int = 200,
          errors: dict[str, list[str]] | None = None, values: dict[str, Any] | None = None,
          flash: dict[str, str] | None = None) -> HTMLResponse:
    objects = rt.metadata.list_objects()
    held = parents(objects)

    def place(o: dict[str, Any]) -> tuple[str, bool, str]:
        # By label, each object's lines right under it.
        parent = held.get(o["api_name"])
        label = str(o["label"]).casefold()
        return (str(parent["label"]).casefold() if parent else label, parent is not None, label)

    reports = sorted(rt.documents.list("reports"), key=lambda r: str(r.get("label") or r["api_name"]).casefold())
    return render(request, "builder/home.html", status=status, me=me, objects=sorted(objects, key=place),
                  parents=held, errors=errors or {}, values=values or {}, flash=flash,
                  reports=reports, dashboards=rt.documents.list("dashboards"))


@router.get("", response_class=HTMLResponse)
def builder_home(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    return _home(request, me, rt)


@router.post("/objects", response_class=HTMLResponse)
async def create_object(request: Request, me: Actor = Depends(deps.builder),
                        rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    label = str(form.get("label") or "").strip()
    name = str(form.get("api_name") or "").strip() or api_name(label)
    doc: dict[str, Any] = {"api_name": name, "label": label or name,
                           "fields": [{"api_name": "name", "label": "Name", "type": "text", "required": True}]}
    if form.get("child"):
        # A line needs no name of its own (it is "line 3 of quote Q-12"): the builder adds
        # what each line has — product, quantity, price.
        doc.update(child=True, fields=[])
    doc["plural_label"] = str(form.get("plural_label") or "").strip() or english_plural(doc["label"])
    try:
        rt.metadata.create_object(me, doc)
    except TesseraError as error:
        return _home(request, me, rt, status=error.status, errors=_problems(error), values=dict(form),
                     flash={"kind": "error", "text": error.detail})
    return _go(request, f"/builder/objects/{name}")


@router.get("/objects/{object}", response_class=HTMLResponse)
def object_page(object: str, request: Request, me: Actor = Depends(deps.builder),
                rt: Platform = Depends(deps.runtime)) -> Any:
    return _object(request, me, rt, object)


def _object(request: Request, me: Actor, rt: Platform, object: str, *, status: int = 200,
            errors: dict[str, list[str]] | None = None, values: dict[str, Any] | None = None,
            flash: dict[str, str] | None = None) -> HTMLResponse:
    doc = rt.metadata.get_object(object)
    every = sorted(((name, t.label) for name, t in field_types().items()), key=lambda p: p[1])
    # A child's lines cannot have lines of their own.
    types = [(name, label) for name, label in every if not (doc.get("child") and name == LINES)]
    listed = rt.metadata.list_objects()
    objects = [(o["api_name"], o["label"]) for o in listed]
    return render(request, "builder/object.html", status=status, me=me, doc=doc, types=types, objects=objects,
                  type_labels=dict(every), object_labels=dict(objects), currencies=CURRENCIES,
                  parent=parents(listed).get(doc["api_name"]), children=free_children(listed, doc["api_name"]),
                  system=SYSTEM_FIELDS, errors=errors or {}, values=values or {}, flash=flash)


@router.post("/objects/{object}/fields", response_class=HTMLResponse)
async def add_field(object: str, request: Request, me: Actor = Depends(deps.builder),
                    rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    try:
        rt.metadata.add_field(me, object, field_document(form))
    except TesseraError as error:
        return _object(request, me, rt, object, status=error.status, errors=_problems(error), values=dict(form),
                       flash={"kind": "error", "text": error.detail})
    return _go(request, f"/builder/objects/{object}")


@router.get("/objects/{object}/fields/{field}", response_class=HTMLResponse)
def field_page(object: str, field: str, request: Request, me: Actor = Depends(deps.builder),
               rt: Platform = Depends(deps.runtime)) -> Any:
    return _field(request, me, rt, object, field)


def _field(request: Request, me: Actor, rt: Platform, object: str, field: str, *, status: int = 200,
           errors: dict[str, list[str]] | None = None, flash: dict[str, str] | None = None,
           typed: dict[str, Any] | None = None) -> HTMLResponse:
    fdoc = rt.metadata.get_field(object, field)
    used = rt.metadata.where_used(object, field)
    listed = rt.metadata.list_objects()
    labels = {o["api_name"]: o["label"] for o in listed}
    # The index weighs the object's declared name field high unless told otherwise.
    name_field = next((o.get("name_field") for o in listed if o["api_name"] == object), None)
    return render(request, "builder/field.html", status=status, me=me, object=object, field=fdoc, used=used,
                  type_label=field_types()[fdoc["type"]].label if fdoc["type"] in field_types()
                  else f"{fdoc['type']} (not installed: no installed plugin provides this type, so the field's "
                       "values are shown as stored and cannot be changed)",
                  object_label=labels.get(object, object), object_labels=labels, system=SYSTEM_FIELDS,
                  currencies=CURRENCIES, errors=errors or {}, flash=flash,
                  search=_search_settings(fdoc, name_field, typed),
                  index_job=_index_job(rt, me, request.query_params.get("index_job", "")))


def _searchable_type(fdoc: dict[str, Any]) -> bool:
    """Whether a field of this type may be found by the search box (text-like, not computed)."""
    ftype = field_types().get(str(fdoc.get("type")))
    return bool(ftype is not None and ftype.searchable and not ftype.computed)


def _search_settings(fdoc: dict[str, Any], name_field: str | None,
                     typed: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the field page's Searchable box and Search weight show: the field's (or what was
    typed, when a save was refused). A name field without a weight of its own counts high."""
    if not _searchable_type(fdoc) and not fdoc.get("searchable"):
        return None
    default = "high" if fdoc.get("api_name") == name_field else "normal"
    if typed is not None:
        return {"on": bool(typed.get("searchable")), "weight": str(typed.get("search_weight") or default),
                "default": default}
    return {"on": bool(fdoc.get("searchable")), "weight": str(fdoc.get("search_weight") or default),
            "default": default}


def _search_changes(form: Any, current: dict[str, Any], default: str) -> dict[str, Any]:
    """The field's `searchable`/`search_weight` from the page's box and select: unticked takes
    both away; a weight equal to the field's default is not written unless it had one."""
    if not form.get("searchable"):
        return {"searchable": None, "search_weight": None} if "searchable" in current or "search_weight" in current \
            else {}
    weight = str(form.get("search_weight") or "").strip()
    changes: dict[str, Any] = {"searchable": True}
    if weight and (weight != default or "search_weight" in current):
        changes["search_weight"] = weight
    return changes


def _index_job(rt: Platform, me: Actor, job_id: str) -> dict[str, Any] | None:
    """The search-index rebuild a save started (its id came back in the address), if any."""
    if not job_id.isdigit():
        return None
    try:
        job = rt.jobs.get(me, int(job_id))
    except TesseraError:
        return None
    return job if job["kind"] == SEARCH_JOB else None


@router.post("/objects/{object}/fields/{field}", response_class=HTMLResponse)
async def change_field(object: str, field: str, request: Request, me: Actor = Depends(deps.builder),
                       rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    current = rt.metadata.get_field(object, field)
    changes = field_document(form)
    changes["type"] = current["type"]
    for flag in ("required", "unique", "indexed", "store"):
        if flag in current or form.get(flag):
            changes[flag] = bool(form.get(flag))  # an unticked box switches the property off
    if "options" not in changes and current.get("options") and form.get("options") is not None:
        changes["options"] = []
    if form.get("search_shown"):  # the page offered Searchable (a text-like field)
        obj = rt.metadata.get_object(object)
        default = "high" if current["api_name"] == obj.get("name_field") else "normal"
        changes.update(_search_changes(form, current, default))
    try:
        updated = rt.metadata.update_field(me, object, field, changes)
    except TesseraError as error:
        return _field(request, me, rt, object, field, status=error.status, errors=_problems(error),
                      flash={"kind": "error", "text": error.detail}, typed=dict(form))
    target = f"/builder/objects/{object}/fields/{updated['api_name']}"
    rebuild = next((j for j in updated.get("jobs", []) if j.get("kind") == SEARCH_JOB), None)
    return _go(request, f"{target}?index_job={rebuild['id']}" if rebuild else target)


@router.get("/objects/{object}/form", response_class=HTMLResponse)
def designer(object: str, request: Request, me: Actor = Depends(deps.builder),
             rt: Platform = Depends(deps.runtime)) -> Any:
    """The form designer: fields from a palette dragged into sections and columns."""
    doc = rt.metadata.get_object(object)
    form = rt.forms.design(me, object, request.query_params.get("form"))
    labels = {f["api_name"]: f["label"] for f in doc["fields"]}
    return render(request, "builder/designer.html", me=me, doc=doc, form=form, labels=labels)


@router.get("/objects/{object}/preview", response_class=HTMLResponse)
def preview(object: str, request: Request, me: Actor = Depends(deps.builder),
            rt: Platform = Depends(deps.runtime)) -> Any:
    """The new-record form as a user with one role sees it (the form chosen for the role,
    its hidden fields left out, its read-only ones locked)."""
    role = request.query_params.get("role") or ""
    viewer = rt.users.roles.acting_as(me, role) if role else me
    with rt.read() as conn:
        obj = rt.snapshot(conn).object(object)
    try:
        form = rt.forms.render(viewer, object, urls=FormUrls(submit="#", state=f"/app/{object}/form-state"))
    except TesseraError as error:
        form = f'<p class="field-error">{escape(error.detail)}</p>'
    roles = [r["api_name"] for r in rt.users.roles.list(rt.snapshot)]
    return render(request, "builder/preview.html", me=me, obj=obj, form_html=form, roles=roles, role=role)


@router.post("/objects/{object}/form", response_class=HTMLResponse)
async def save_design(object: str, request: Request, me: Actor = Depends(deps.builder),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    body = await deps.json_body(request)
    try:
        saved = rt.forms.save_design(me, object, body)
    except TesseraError as error:
        problems = [p.as_json() for p in error.errors] or [FieldProblem("/", error.detail).as_json()]
        return JSONResponse({"detail": error.detail, "errors": problems}, status_code=error.status)
    return JSONResponse({"api_name": saved["api_name"], "version": saved.get("version")})


def _go(request: Request, target: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
