"""Conversion endpoints: run a conversion on a record, and what a record's conversions are.
The conversions themselves are metadata documents (`/api/v1/meta/conversions`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/records", tags=["conversions"])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


@router.post("/{object}/{record_id:int}/convert/{conversion}")
def convert(object: str, record_id: RecordId, conversion: Name, version: int | None = Depends(deps.if_match),
            who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Run the conversion on the record in one transaction: each target record is matched or
    created, the record's `after` fields are set. The answer names every record created or
    matched. 409 when the record was converted already (unless the conversion allows it
    again) or its condition does not hold; `If-Match` (optional) guards the record's version."""
    return rt.conversions.convert(who, object, record_id, conversion, expected_version=version)


@router.get("/{object}/{record_id:int}/conversions")
def conversions(object: str, record_id: RecordId, who: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The conversions of the record's object (whether each may run on it now, and its last
    run), and the runs on this record, newest first."""
    return {"offered": rt.conversions.offered(who, object, record_id),
            "runs": rt.conversions.runs(who, object, record_id)}
