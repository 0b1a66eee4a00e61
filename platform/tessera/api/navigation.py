"""The signed-in person's favourite and recently opened records: `/api/v1/me/favourites`
(list, star, look up, unstar) and `/api/v1/me/recent` (list). Only records they may still
read are listed, each named as the navigation names it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.navigation.favourites import MOST
from tessera.runtime.navigation.recent import KEPT, SHOWN
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/me", tags=["me"])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]

SHORTCUT = {
    "type": "object", "required": ["object", "object_label", "id", "name", "at"],
    "properties": {
        "object": {"type": "string", "description": "the object's name"},
        "object_label": {"type": "string", "description": "the object's label"},
        "id": {"type": "integer", "description": "the record's id"},
        "name": {"type": "string", "description": "the record's name (its name field), or the object's label "
                                                  "and the id when it has none"},
        "at": {"type": "string", "format": "date-time", "description": "when it was starred, or last opened"},
    },
}
_LIST = {"description": "Newest first, only records the caller may read", "content": {"application/json": {"schema": {
    "type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": SHORTCUT}}}}}}
_ONE = {"content": {"application/json": {"schema": SHORTCUT}}}
_STAR_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["object", "id"],
    "properties": {"object": {"type": "string", "description": "the object's name"},
                   "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}}}}}}


def _record(body: Any) -> tuple[str, int]:
    """The object and id a star names."""
    problems = []
    if not isinstance(body, dict):
        raise InvalidInput("Give the record as {\"object\": …, \"id\": …}.", [FieldProblem("/", "must be an object")])
    name, record_id = body.get("object"), body.get("id")
    if not isinstance(name, str) or not name:
        problems.append(FieldProblem("object", "is required: the object's name"))
    if isinstance(record_id, bool) or not isinstance(record_id, int) or not 1 <= record_id <= 2**63 - 1:
        problems.append(FieldProblem("id", "must be the record's id, a whole number from 1"))
    if problems:
        raise InvalidInput("The favourite needs an object and a record id.", problems)
    return str(name), int(record_id)


@router.get("/favourites", response_model=None, responses={200: _LIST})
def list_favourites(limit: int = Query(50, ge=1, le=MOST), who: Actor = Depends(deps.actor),
                    rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The caller's favourite records (starred on the record page), newest first."""
    return {"data": [f.as_json() for f in rt.favourites.list(who, limit)]}


@router.post("/favourites", status_code=201, response_model=None, openapi_extra=_STAR_BODY,
             responses={201: {"description": "Starred", **_ONE}, 200: {"description": "Starred already", **_ONE}})
def add_favourite(body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Star a record the caller may read (404 for one they may not). Starring it again
    answers 200 and changes nothing; at most 200 favourites (409 past that)."""
    name, record_id = _record(body)
    favourite, new = rt.favourites.add(who, name, record_id)
    return JSONResponse(favourite.as_json(), status_code=201 if new else 200,
                        headers={"Location": f"/api/v1/me/favourites/{favourite.object.api_name}/{favourite.id}"})


@router.get("/favourites/{object}/{record_id}", response_model=None, responses={200: _ONE})
def get_favourite(object: str, record_id: RecordId, who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """One favourite; 404 when the record is not one of the caller's (readable) favourites."""
    return rt.favourites.get(who, object, record_id).as_json()


@router.delete("/favourites/{object}/{record_id}", status_code=204)
def remove_favourite(object: str, record_id: RecordId, who: Actor = Depends(deps.actor),
                     rt: Platform = Depends(deps.runtime)) -> Response:
    """Unstar a record (404 when it was not starred)."""
    rt.favourites.remove(who, object, record_id)
    return Response(status_code=204)


@router.get("/recent", response_model=None, responses={200: _LIST})
def list_recent(limit: int = Query(SHOWN, ge=1, le=KEPT), who: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The records the caller opened last in the UI (each once, latest visit first), only
    those they may still read."""
    return {"data": [r.as_json() for r in rt.recent.list(who, limit)]}
