"""Conversions in the UI: on a record page, a button per conversion the record may go
through now (Convert a lead into an account, a contact and a deal), what the last run made,
with links, and a refusal said in words beside the buttons (converted already, not
allowed); for builders, the list of conversions and a page to write one as its document,
with each problem shown at its place (Target 2 (contact) → fields → name)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput, TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render
from tessera.web.templates import templates

KIND = "conversions"
#: What a new conversion starts from: the shape, to be filled in.
STARTER: dict[str, Any] = {
    "api_name": "convert_lead", "label": "Convert lead", "object": "lead", "button_label": "Convert",
    "targets": [{"key": "account", "object": "account", "match": {"name": "company"}},
                {"key": "contact", "object": "contact", "fields": {"account": "account.id"}}],
    "after": {"status": "\"converted\""}}

router = APIRouter(include_in_schema=False)


@router.get("/app/{object}/{record_id}/conversions", response_class=HTMLResponse)
def record_conversions(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> Response:
    """The buttons and the last runs; nothing at all for an object without conversions."""
    return _fragment(request, rt, me, object, record_id)


@router.post("/app/{object}/{record_id}/convert/{conversion}", response_class=HTMLResponse)
def convert(object: str, record_id: int, conversion: str, request: Request, me: Actor = Depends(deps.actor),
            rt: Platform = Depends(deps.runtime)) -> Response:
    """Run a conversion; done → the record page again (its fields, history and the records
    made); refused → the buttons with the reason."""
    try:
        rt.conversions.convert(me, object, record_id, conversion)
    except TesseraError as error:
        if error.status in (401, 404) and not error.extra.get("previous"):
            raise
        reasons = [p.message for p in error.errors if p.code not in ("converted_already", "not_applicable")]
        text = f"{error.detail.rstrip('.')}: {'; '.join(reasons)}." if reasons else error.detail
        refusal = {"text": text, "previous": error.extra.get("previous")}
        return _fragment(request, rt, me, object, record_id, refusal=refusal, status=error.status)
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}/{record_id}"})


def _fragment(request: Request, rt: Platform, me: Actor, object: str, record_id: int, *,
              refusal: dict[str, Any] | None = None, status: int = 200) -> Response:
    offered = rt.conversions.offered(me, object, record_id)
    if not offered:
        return Response(status_code=200)
    return templates().TemplateResponse(request, "conversions/_record.html", {
        "me": me, "object": object, "record_id": record_id, "offered": offered, "refusal": refusal},
        status_code=status)


# -- the builder's pages -------------------------------------------------------------------

@router.get("/builder/conversions", response_class=HTMLResponse)
def conversions_page(request: Request, me: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> Response:
    """Every conversion: what it converts, what it makes, and whether it still fits."""
    labels = {o["api_name"]: o["label"] for o in rt.metadata.list_objects()}
    rows = [{"doc": doc, "problems": len(rt.documents.stored_problems(KIND, doc["api_name"]))}
            for doc in sorted(rt.documents.list(KIND), key=lambda d: (str(d["label"]).lower(), d["api_name"]))]
    return render(request, "conversions/list.html", me=me, rows=rows, labels=labels)


@router.get("/builder/conversions/new", response_class=HTMLResponse)
def new_conversion(request: Request, me: Actor = Depends(deps.builder)) -> Response:
    return _editor(request, me, None, json.dumps(STARTER, indent=2, ensure_ascii=False))


@router.get("/builder/conversions/{name}", response_class=HTMLResponse)
def conversion_page(name: str, request: Request, me: Actor = Depends(deps.builder),
                    rt: Platform = Depends(deps.runtime)) -> Response:
    doc = {k: v for k, v in rt.documents.get(KIND, name).items() if k not in ("uid", "version")}
    problems = [FieldProblem(p["field"], p["message"], p["code"]) for p in rt.documents.stored_problems(KIND, name)]
    return _editor(request, me, name, json.dumps(doc, indent=2, ensure_ascii=False), problems=problems)


@router.post("/builder/conversions", response_class=HTMLResponse)
async def save_conversion(request: Request, me: Actor = Depends(deps.builder),
                          rt: Platform = Depends(deps.runtime)) -> Response:
    """Create (no `name`) or change the conversion written in the form's document."""
    form = await request.form()
    name = str(form.get("name") or "") or None
    text = str(form.get("document") or "")
    try:
        doc = _parsed(text)
        if name is None:
            saved = rt.documents.create(me, KIND, doc)
        else:
            saved = rt.documents.update(me, KIND, name, {**{k: None for k in _stored(rt, name)}, **doc})
    except TesseraError as error:
        return _editor(request, me, name, text, problems=error.errors, status=error.status,
                       flash={"kind": "error", "text": error.detail})
    return _go(request, f"/builder/conversions/{saved['api_name']}?saved=1")


@router.post("/builder/conversions/{name}/delete", response_class=HTMLResponse)
def delete_conversion(name: str, request: Request, me: Actor = Depends(deps.builder),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    rt.documents.delete(me, KIND, name)
    return _go(request, "/builder/conversions")


def _stored(rt: Platform, name: str) -> list[str]:
    """The properties of the stored document (a property left out of the form is removed)."""
    return [k for k in rt.documents.get(KIND, name) if k not in ("uid", "version", "api_name", "label")]


def _parsed(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise InvalidInput("The document is not valid JSON.",
                           [FieldProblem("/", f"line {getattr(error, 'lineno', '?')}, column "
                                              f"{getattr(error, 'colno', '?')}: {getattr(error, 'msg', error)}",
                                         "json")]) from None
    if not isinstance(doc, dict):
        raise InvalidInput("The document must be a JSON object.", [FieldProblem("/", "must be an object")])
    return doc


def place(doc: Any, pointer: str) -> str:
    """Where a problem is, in words: `/targets/1/fields/name` is `Target 2 (contact) → fields → name`."""
    tokens = [t for t in pointer.split("/") if t]
    if not tokens:
        return "The document"
    words: list[str] = []
    if tokens[0] == "targets" and len(tokens) > 1 and tokens[1].isdigit():
        index = int(tokens[1])
        targets = doc.get("targets") if isinstance(doc, dict) else None
        key = targets[index].get("key") if isinstance(targets, list) and index < len(targets) \
            and isinstance(targets[index], dict) else None
        words.append(f"Target {index + 1}" + (f" ({key})" if key else ""))
        tokens = tokens[2:]
    return " → ".join([*words, *tokens])


def _editor(request: Request, me: Actor, name: str | None, text: str, *, problems: list[FieldProblem] | None = None,
            status: int = 200, flash: dict[str, str] | None = None) -> Response:
    try:
        doc: Any = json.loads(text)
    except ValueError:
        doc = None
    if flash is None and request.query_params.get("saved"):
        flash = {"kind": "ok", "text": "Saved."}
    shown = [{"place": place(doc, p.field), "message": p.message} for p in problems or []]
    return render(request, "conversions/edit.html", status=status, me=me, conversion=name, text=text, problems=shown,
                  flash=flash)


def _go(request: Request, target: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
