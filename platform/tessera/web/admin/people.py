"""People: invite, change, disable and enable, a new password, roles, teams and manager,
through the same account service as `/api/v1/users`, with its problems shown beside the
inputs they are about."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin.page import number, page, problems

router = APIRouter()


def _choices(rt: Platform) -> dict[str, Any]:
    """What a user form offers: the roles, the teams and the people who may manage."""
    roles, teams = rt.users.roles.list(rt.snapshot), rt.users.teams.list()
    managers = rt.users.accounts.list(active=True, limit=500)["data"]
    return {"roles": roles, "teams": teams, "managers": managers,
            "role_labels": {r["api_name"]: r["label"] for r in roles},
            "team_labels": {t["api_name"]: t["label"] for t in teams},
            "manager_names": {m["email"]: m["name"] for m in managers}}


async def _user_doc(request: Request, *, creating: bool) -> dict[str, Any]:
    """The user form as the account service takes it (a blank password changes nothing)."""
    form = await request.form()
    doc: dict[str, Any] = {"name": str(form.get("name") or "").strip(), "email": str(form.get("email") or "").strip(),
                           "roles": [str(r) for r in form.getlist("roles")],
                           "teams": [str(t) for t in form.getlist("teams")],
                           "manager": str(form.get("manager") or "") or None}
    password = str(form.get("password") or "")
    if password or creating:
        doc["password"] = password
    return doc


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, q: str | None = None, me: Actor = Depends(deps.admin),
               rt: Platform = Depends(deps.runtime)) -> Response:
    people = rt.users.accounts.list(q=q or None, limit=500)["data"]
    return page(request, "admin/users.html", "people", me=me, people=people, q=q or "", values={}, errors={},
                  **_choices(rt))


@router.post("/users", response_class=HTMLResponse)
async def invite(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    doc = await _user_doc(request, creating=True)
    try:
        created = rt.users.accounts.add(me, doc)
    except TesseraError as error:
        people = rt.users.accounts.list(limit=500)["data"]
        return page(request, "admin/users.html", "people", status=error.status, me=me, people=people, q="",
                      values=doc, errors=problems(error), flash={"kind": "error", "text": error.detail},
                      **_choices(rt))
    return RedirectResponse(f"/admin/users/{created['id']}?added=1", status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: str, request: Request, me: Actor = Depends(deps.admin),
              rt: Platform = Depends(deps.runtime)) -> Response:
    person = rt.users.accounts.get(number(user_id, "There is no such person."))
    flash = {"kind": "ok", "text": f"{person['name']} can now sign in as {person['email']}."} \
        if request.query_params.get("added") else None
    return page(request, "admin/user.html", "people", me=me, person=person, values=person, errors={}, flash=flash,
                  **_choices(rt))


@router.post("/users/{user_id}", response_class=HTMLResponse)
async def change_user(user_id: str, request: Request, me: Actor = Depends(deps.admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    person = rt.users.accounts.get(number(user_id, "There is no such person."))
    action = str(form.get("action") or "save")
    changes: dict[str, Any] = {"active": action == "enable"} if action in ("disable", "enable") \
        else await _user_doc(request, creating=False)
    try:
        person = rt.users.accounts.change(me, person["id"], changes)
    except TesseraError as error:
        return page(request, "admin/user.html", "people", status=error.status, me=me, person=person,
                      values={**person, **changes}, errors=problems(error),
                      flash={"kind": "error", "text": error.detail}, **_choices(rt))
    text = {"disable": f"{person['name']} is disabled: signed out everywhere, and cannot sign in.",
            "enable": f"{person['name']} may sign in again."}.get(action, "Saved.")
    return page(request, "admin/user.html", "people", me=me, person=person, values=person, errors={},
                  flash={"kind": "ok", "text": text}, **_choices(rt))
