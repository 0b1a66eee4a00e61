"""Teams: list, create, rename, delete; a team's members added and removed; one member made
the manager of the others (a team has no manager of its own — each person has one, see
tessera.auth.teams); and the sharing rules that open records to the team. Through the teams
service (`/api/v1/teams`), whose problems are shown beside the inputs.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput, TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin import sharing
from tessera.web.admin.page import page, problems
from tessera.web.builder import api_name

router = APIRouter()


def _managed_by(members: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Who manages the members, most members first: [{"name", "email", "count"}]."""
    counts: dict[str, int] = {}
    for member in members:
        if member["manager"]:
            counts[member["manager"]] = counts.get(member["manager"], 0) + 1
    return [{"email": e, "name": names.get(e, e), "count": n}
            for e, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _team_page(request: Request, me: Actor, rt: Platform, name: str, *, status: int = 200,
               values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
               flash: dict[str, str] | None = None, share: str | None = None,
               share_values: dict[str, Any] | None = None, share_errors: dict[str, list[str]] | None = None,
               force_delete: bool = False) -> HTMLResponse:
    team = rt.users.teams.get(name)
    members = rt.users.accounts.list(team=name, limit=500)["data"]
    people = rt.users.accounts.list(active=True, limit=500)["data"]
    names = {p["email"]: p["name"] for p in people} | {m["email"]: m["name"] for m in members}
    inside = {m["email"] for m in members}
    return page(request, "admin/team.html", "teams", status=status, me=me, team=team, members=members,
                names=names, others=[p for p in people if p["email"] not in inside],
                managed_by=_managed_by(members, names), values=values or team, errors=errors or {}, flash=flash,
                rules=sharing.listed(rt, "teams", name),
                share=sharing.picker(rt, share or request.query_params.get("share")),
                share_values=share_values or {"teams": [name]}, share_errors=share_errors or {},
                share_back=f"/admin/teams/{name}", force_delete=force_delete)


def _list_page(request: Request, me: Actor, rt: Platform, *, status: int = 200, values: dict[str, Any] | None = None,
               errors: dict[str, list[str]] | None = None, flash: dict[str, str] | None = None) -> HTMLResponse:
    teams = rt.users.teams.list()
    members = [m["email"] for t in teams for m in t["members"]]
    managers = {p["email"]: p["manager"] for p in rt.users.accounts.list(active=True, limit=500)["data"]}
    names = rt.users.audit.names([*members, *(e for e in managers.values() if e)])
    for team in teams:
        shaped = [{"manager": managers.get(m["email"])} for m in team["members"]]
        team["managed_by"] = _managed_by(shaped, names)
    return page(request, "admin/teams.html", "teams", status=status, me=me, teams=teams, values=values or {},
                errors=errors or {}, flash=flash)


@router.get("/teams", response_class=HTMLResponse)
def teams_page(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    deleted = request.query_params.get("deleted")
    return _list_page(request, me, rt, flash={"kind": "ok", "text": f"The team {deleted} is deleted."}
                      if deleted else None)


@router.post("/teams", response_class=HTMLResponse)
async def create_team(request: Request, me: Actor = Depends(deps.admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    label = str(form.get("label") or "").strip()
    doc = {"api_name": api_name(label) or f"team_{secrets.token_hex(3)}", "label": label,
           "description": str(form.get("description") or "").strip()}
    try:
        created = rt.users.teams.create(me, doc)
    except TesseraError as error:
        return _list_page(request, me, rt, status=error.status, values=doc,
                          errors=problems(error, lambda p: "label" if p in ("/api_name", "/label") else None),
                          flash={"kind": "error", "text": error.detail})
    return RedirectResponse(f"/admin/teams/{created['api_name']}?created=1", status_code=303)


@router.get("/teams/{name}", response_class=HTMLResponse)
def team_page(name: str, request: Request, me: Actor = Depends(deps.admin),
              rt: Platform = Depends(deps.runtime)) -> Response:
    flash = {"kind": "ok", "text": "The team is made. Add its members below."} \
        if request.query_params.get("created") else None
    return _team_page(request, me, rt, name, flash=flash)


@router.post("/teams/{name}", response_class=HTMLResponse)
async def change_team(name: str, request: Request, me: Actor = Depends(deps.admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    """One form per change: save the name, add or remove a member, set the manager, delete,
    add or remove a sharing rule."""
    form = await request.form()
    action = str(form.get("action") or "save")
    team = rt.users.teams.get(name)
    if action in ("share", "unshare"):
        return sharing.change(rt, me, action, form,
                              lambda **shown: _team_page(request, me, rt, name, **shown))
    email = str(form.get("email") or "").strip().lower()
    current = [m["email"] for m in team["members"]]
    names = {m["email"]: m["name"] for m in team["members"]}
    try:
        if action == "delete":
            rt.users.teams.delete(me, name, rt.snapshot, force=form.get("force") == "1")
            return RedirectResponse(f"/admin/teams?deleted={team['label']}", status_code=303)
        if action == "add":
            if not email:
                raise InvalidInput("Choose who to add.", [FieldProblem("email", "choose a person")])
            team = rt.users.teams.update(me, name, {"members": [*current, email]})
            added = next((m["name"] for m in team["members"] if m["email"] == email), email)
            text = f"{added} is in the team now." if email not in current else f"{added} was in the team already."
        elif action == "remove":
            team = rt.users.teams.update(me, name, {"members": [e for e in current if e != email]})
            text = f"{names.get(email, email)} is no longer in the team."
        elif action == "manager":
            changed = rt.users.teams.set_manager(me, name, email or None)
            who, them = names.get(email, email), ", ".join(names.get(e, e) for e in changed)
            text = (f"{who} is now the manager of {them}." if email and changed
                    else f"{who} manages everyone else in the team already." if email
                    else f"No manager now: {them}." if changed else "Nobody in the team had a manager.")
        else:
            changes = {"label": str(form.get("label") or "").strip(),
                       "description": str(form.get("description") or "").strip()}
            try:
                team = rt.users.teams.update(me, name, changes)
            except TesseraError as error:
                return _team_page(request, me, rt, name, status=error.status, values={**team, **changes},
                                  errors=problems(error), flash={"kind": "error", "text": error.detail})
            text = "Saved."
    except TesseraError as error:
        found = problems(error, lambda p: "email" if p.startswith("/members") or p == "manager" else None)
        if action == "manager":
            found = {"manager": [m for ms in found.values() for m in ms]}
        return _team_page(request, me, rt, name, status=error.status, errors=found,
                          flash={"kind": "error", "text": error.detail},
                          force_delete=action == "delete" and error.status == 409)
    return _team_page(request, me, rt, name, flash={"kind": "ok", "text": text})

