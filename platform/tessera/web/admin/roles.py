"""Roles: list, create, rename, delete, and a role's permission matrix — per object whether
it may create records, which records it may read, edit and delete (none, their own, their
team's, all) and per field whether it is editable, read-only or hidden — plus the sharing
rules that open more records to it. Saved through the roles service (`/api/v1/roles`), whose
problems are shown beside the select they are about.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tessera.auth.actor import Actor
from tessera.auth.permissions import FIELD_LEVELS, OPERATIONS, SCOPES
from tessera.errors import TesseraError
from tessera.meta.model import ObjectDef
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin import sharing
from tessera.web.admin.page import page, problems
from tessera.web.builder import api_name

router = APIRouter()

#: The permission model's scopes and field levels as an admin reads them.
SCOPE_WORDS = {"none": "No records", "own": "Their own", "team": "Their team's", "all": "All"}
LEVEL_WORDS = {"edit": "Editable", "read": "Read-only", "hidden": "Hidden"}
assert set(SCOPE_WORDS) == set(SCOPES) and set(LEVEL_WORDS) == set(FIELD_LEVELS)


def _matrix_input(pointer: str) -> str | None:
    """The matrix input a role problem is about: /permissions/deal/read → p.deal.read,
    /permissions/deal/fields/margin → f.deal.margin."""
    parts = pointer.strip("/").split("/")
    if parts[0] != "permissions" or len(parts) < 2:
        return None
    if len(parts) >= 4 and parts[2] == "fields":
        return f"f.{parts[1]}.{parts[3]}"
    return f"p.{parts[1]}.{parts[2]}" if len(parts) >= 3 else f"p.{parts[1]}"


def _objects(rt: Platform) -> list[ObjectDef]:
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    return sorted(snap.objects.values(), key=lambda o: o.label.casefold())


def _matrix(objects: list[ObjectDef], permissions: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per object: its grants and its fields' levels, as the role has them."""
    rows = []
    for obj in objects:
        entry = permissions.get(obj.api_name) or {}
        levels = entry.get("fields") or {}
        fields = [{"def": f, "level": levels.get(f.api_name, "edit")} for f in obj.fields]
        # A value the model does not know (sent by hand) reads as none; its problem is beside it.
        scopes = {op: entry.get(op) if entry.get(op) in SCOPES else "none" for op in OPERATIONS}
        widest = max([scopes["edit"], scopes["delete"]], key=SCOPES.index)
        note = (f"Whoever may change or delete records may read them: read counts as "
                f"“{SCOPE_WORDS[widest]}”." if SCOPES.index(widest) > SCOPES.index(scopes["read"]) else "")
        rows.append({"obj": obj, "create": bool(entry.get("create")), "scopes": scopes, "fields": fields,
                     "hidden": sum(1 for f in fields if f["level"] == "hidden"),
                     "read_only": sum(1 for f in fields if f["level"] == "read"), "note": note})
    return rows


def _posted_permissions(form: FormData, objects: list[ObjectDef]) -> dict[str, Any]:
    """The matrix as the roles service takes it: an entry for every object the role has a
    say about (a grant, or a field not editable)."""
    out: dict[str, Any] = {}
    for obj in objects:
        name = obj.api_name
        entry: dict[str, Any] = {"create": form.get(f"p.{name}.create") == "on"}
        entry |= {op: str(form.get(f"p.{name}.{op}") or "none") for op in OPERATIONS}
        fields = {f.api_name: str(form.get(f"f.{name}.{f.api_name}") or "edit") for f in obj.fields}
        entry["fields"] = {k: v for k, v in fields.items() if v != "edit"}
        if entry["create"] or entry["fields"] or any(entry[op] != "none" for op in OPERATIONS):
            out[name] = entry
    return out


def _role_page(request: Request, me: Actor, rt: Platform, name: str, *, status: int = 200,
               role: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
               flash: dict[str, str] | None = None, values: dict[str, Any] | None = None,
               share: str | None = None, share_values: dict[str, Any] | None = None,
               share_errors: dict[str, list[str]] | None = None, force_delete: bool = False) -> HTMLResponse:
    role = role or rt.users.roles.get(name, rt.snapshot)
    objects = _objects(rt)
    chosen = share or request.query_params.get("share")
    matrix = _matrix(objects, role["permissions"])
    for row in matrix:  # a field with a problem shows its object's fields open
        row["open"] = any(k.startswith(f"f.{row['obj'].api_name}.") for k in errors or {})
    return page(request, "admin/role.html", "roles", status=status, me=me, role=role, values=values or role,
                errors=errors or {}, flash=flash, matrix=matrix,
                scope_words=SCOPE_WORDS, level_words=LEVEL_WORDS, operations=OPERATIONS,
                holders=rt.users.accounts.list(role=name, limit=500)["data"],
                rules=sharing.listed(rt, "roles", name), share=sharing.picker(rt, chosen),
                share_values=share_values or {"roles": [name]}, share_errors=share_errors or {},
                share_back=f"/admin/roles/{name}", force_delete=force_delete)


@router.get("/roles", response_class=HTMLResponse)
def roles_page(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    return page(request, "admin/roles.html", "roles", me=me, roles=rt.users.roles.list(rt.snapshot), values={},
                errors={})


@router.post("/roles", response_class=HTMLResponse)
async def create_role(request: Request, me: Actor = Depends(deps.admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    label = str(form.get("label") or "").strip()
    doc = {"api_name": api_name(label) or f"role_{secrets.token_hex(3)}", "label": label,
           "description": str(form.get("description") or "").strip()}
    try:
        created = rt.users.roles.create(me, doc, rt.snapshot)
    except TesseraError as error:
        found = problems(error, lambda p: "label" if p in ("/api_name", "/label") else None)
        return page(request, "admin/roles.html", "roles", status=error.status, me=me,
                    roles=rt.users.roles.list(rt.snapshot), values=doc, errors=found,
                    flash={"kind": "error", "text": error.detail})
    return RedirectResponse(f"/admin/roles/{created['api_name']}?created=1", status_code=303)


@router.get("/roles/{name}", response_class=HTMLResponse)
def role_page(name: str, request: Request, me: Actor = Depends(deps.admin),
              rt: Platform = Depends(deps.runtime)) -> Response:
    flash = {"kind": "ok", "text": "The role is made. Now choose what it may do with each object below."} \
        if request.query_params.get("created") else None
    return _role_page(request, me, rt, name, flash=flash)


@router.post("/roles/{name}", response_class=HTMLResponse)
async def change_role(name: str, request: Request, me: Actor = Depends(deps.admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    action = str(form.get("action") or "save")
    role = rt.users.roles.get(name, rt.snapshot)
    if action in ("share", "unshare"):
        return sharing.change(rt, me, action, form,
                              lambda **shown: _role_page(request, me, rt, name, **shown))
    if action == "delete":
        try:
            rt.users.roles.delete(me, name, rt.snapshot, force=form.get("force") == "1")
        except TesseraError as error:
            return _role_page(request, me, rt, name, status=error.status, role=role,
                              flash={"kind": "error", "text": error.detail}, force_delete=error.status == 409)
        return RedirectResponse(f"/admin/roles?deleted={role['label']}", status_code=303)
    if action == "permissions":
        changes: dict[str, Any] = {"permissions": _posted_permissions(form, _objects(rt))}
        text = "Saved. People holding the role have these permissions from their next click."
    else:
        changes = {"label": str(form.get("label") or "").strip(),
                   "description": str(form.get("description") or "").strip()}
        text = "Saved."
    try:
        role = rt.users.roles.update(me, name, changes, rt.snapshot)
    except TesseraError as error:
        shown = {**role, **changes}
        return _role_page(request, me, rt, name, status=error.status, role=shown, values=shown,
                          errors=problems(error, _matrix_input), flash={"kind": "error", "text": error.detail})
    return _role_page(request, me, rt, name, role=role, flash={"kind": "ok", "text": text})

