"""The signed-in user's own things: `/api/v1/me` (who am I, their name and time zone),
permissions and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/me", tags=["me"])
TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("")
def me(who: Actor = Depends(deps.confirmed_actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.users.accounts.me(who)


@router.patch("")
def change_me(who: Actor = Depends(deps.confirmed_actor), body: Any = Depends(deps.json_body),
              rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Change your own name or time zone (the zone times are shown in, e.g. Europe/Paris)."""
    return rt.users.accounts.change_own(who, body)


@router.get("/permissions")
def my_permissions(who: Actor = Depends(deps.confirmed_actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Per object the user may create or read: create, read/edit/delete scopes and every
    field's level; plus whether they are an admin or a builder."""
    return rt.users.accounts.permissions(who, rt.snapshot)


@router.get("/tokens")
def list_tokens(who: Actor = Depends(deps.confirmed_actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return {"data": rt.users.tokens.list(who)}


@router.post("/tokens", status_code=201)
def create_token(who: Actor = Depends(deps.confirmed_actor), body: Any = Depends(deps.json_body),
                 rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """A personal API token; `token` is in this answer and never again."""
    return rt.users.tokens.create(who, body)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: TokenId, who: Actor = Depends(deps.confirmed_actor),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    rt.users.tokens.revoke(who, token_id)
    return Response(status_code=204)


@router.get("/notifications")
def my_notifications(unread: bool = False, limit: int = 50, who: Actor = Depends(deps.actor),
                     rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The bell: the newest notifications and how many are unread."""
    return rt.notifications.list(who, unread=unread, limit=limit)


@router.post("/notifications/read", status_code=204)
def read_all_notifications(who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    rt.notifications.mark_read(who)
    return Response(status_code=204)


@router.post("/notifications/{notification_id}/read", status_code=204)
def read_notification(notification_id: TokenId, who: Actor = Depends(deps.actor),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    rt.notifications.mark_read(who, notification_id)
    return Response(status_code=204)
