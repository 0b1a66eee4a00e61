"""User administration for admins: `/api/v1/users`. Users are disabled, never deleted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/users", tags=["users"])
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("")
def list_users(q: str | None = Query(None, max_length=254), role: str | None = None, team: str | None = None,
               active: bool | None = None, limit: int = Query(50, ge=1, le=500), cursor: str | None = None,
               _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.accounts.list(q=q, role=role, team=team, active=active, limit=limit, cursor=cursor)


@router.post("", status_code=201)
def create_user(response: Response, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.users.accounts.add(who, body)
    response.headers["Location"] = f"/api/v1/users/{created['id']}"
    return created


@router.get("/{user_id}")
def get_user(user_id: UserId, _: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.accounts.get(user_id)


@router.patch("/{user_id}")
def update_user(user_id: UserId, who: Actor = Depends(deps.admin), body: Any = Depends(deps.json_body),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.accounts.change(who, user_id, body)
