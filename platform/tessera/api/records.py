"""Record endpoints, generic over every object: `/api/v1/records/{object}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/records", tags=["records"])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]


# Records come out of the service JSON-ready; answering with JSONResponse skips FastAPI's
# generic re-encoding of every value, a large share of a request's time.
def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _record(record: dict[str, Any], status: int = 200, location: str | None = None) -> JSONResponse:
    headers = {"ETag": f'"{record["version"]}"'}
    if location:
        headers["Location"] = location
    return JSONResponse(record, status_code=status, headers=headers)


@router.get("/{object}")
def list_records(
    object: str,
    fields: str | None = None, sort: str | None = None,
    limit: int = Query(50, ge=1, le=1000), cursor: str | None = None,
    expand: str | None = None, total: bool = False, filter: str | None = None,
    search: str | None = Query(None, max_length=2000, description="words the records hold in their searchable "
                                                                  'fields: words, "a phrase", -excluded, prefix*'),
    who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime),
) -> JSONResponse:
    return _json(rt.records.list(who, object, fields=deps.csv_param(fields), sort=sort, limit=limit,
                                 cursor=cursor, expand=deps.csv_param(expand), total=total, filter=filter,
                                 search=search))


@router.post("/{object}", status_code=201)
def create_records(object: str, body: Any = Depends(deps.json_body),
                   who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    if isinstance(body, list):
        return _json({"data": rt.records.bulk_create(who, object, body, exact=True)}, 201)
    record = rt.records.create(who, object, body, exact=True)
    return _record(record, 201, f"/api/v1/records/{object}/{record['id']}")


@router.get("/{object}/trash")
def list_trash(object: str, sort: str | None = None, limit: int = Query(50, ge=1, le=1000),
               cursor: str | None = None, who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _json(rt.records.list(who, object, sort=sort, limit=limit, cursor=cursor, trash=True))


@router.get("/{object}/{record_id:int}")
def get_record(object: str, record_id: RecordId, fields: str | None = None,
               expand: str | None = None, who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _record(rt.records.get(who, object, record_id, fields=deps.csv_param(fields),
                                  expand=deps.csv_param(expand)))


@router.patch("/{object}/{record_id:int}")
def update_record(object: str, record_id: RecordId,
                  body: Any = Depends(deps.json_body), version: int | None = Depends(deps.if_match),
                  who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _record(rt.records.update(who, object, record_id, body, version, exact=True))


@router.delete("/{object}/{record_id:int}")
def delete_record(object: str, record_id: RecordId, version: int | None = Depends(deps.if_match),
                  who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _json(rt.records.delete(who, object, record_id, version))


@router.post("/{object}/{record_id:int}/restore")
def restore_record(object: str, record_id: RecordId,
                   who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _record(rt.records.restore(who, object, record_id))


@router.get("/{object}/{record_id:int}/history")
def record_history(object: str, record_id: RecordId, limit: int = Query(200, ge=1, le=1000),
                   before: int | None = Query(None, ge=1, le=2**63 - 1), who: Actor = Depends(deps.actor),
                   rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    return _json(rt.records.history(who, object, record_id, limit=limit, before=before))
