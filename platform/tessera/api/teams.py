"""Teams for admins: `/api/v1/teams` and `/api/v1/teams/{api_name}`, members listed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/teams", tags=["teams"])


@router.get("")
def list_teams(_: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return {"data": rt.users.teams.list()}


@router.post("", status_code=201)
def create_team(response: Response, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.users.teams.create(who, body)
    response.headers["Location"] = f"/api/v1/teams/{created['api_name']}"
    return created


@router.get("/{api_name}")
def get_team(api_name: str, _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.teams.get(api_name)


@router.patch("/{api_name}")
def update_team(api_name: str, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.teams.update(who, api_name, body)


@router.delete("/{api_name}", status_code=204)
def delete_team(api_name: str, force: bool = Query(False), who: Actor = Depends(deps.admin),
                rt: Platform = Depends(deps.runtime)) -> Response:
    rt.users.teams.delete(who, api_name, rt.snapshot, force=force)
    return Response(status_code=204)
