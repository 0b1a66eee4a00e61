"""Roles and their permissions for admins: `/api/v1/roles` and `/api/v1/roles/{api_name}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/roles", tags=["roles"])


@router.get("")
def list_roles(_: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return {"data": rt.users.roles.list(rt.snapshot)}


@router.post("", status_code=201)
def create_role(response: Response, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.users.roles.create(who, body, rt.snapshot)
    response.headers["Location"] = f"/api/v1/roles/{created['api_name']}"
    return created


@router.get("/{api_name}")
def get_role(api_name: str, _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.roles.get(api_name, rt.snapshot)


@router.patch("/{api_name}")
def update_role(api_name: str, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.roles.update(who, api_name, body, rt.snapshot)


@router.delete("/{api_name}", status_code=204)
def delete_role(api_name: str, force: bool = Query(False), who: Actor = Depends(deps.admin),
                rt: Platform = Depends(deps.runtime)) -> Response:
    rt.users.roles.delete(who, api_name, rt.snapshot, force=force)
    return Response(status_code=204)
