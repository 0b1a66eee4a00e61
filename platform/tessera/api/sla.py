"""SLA endpoints: a record's clocks with the business time left, and compliance figures
over the records the caller may read. Policies and calendars themselves are metadata
documents (`/api/v1/meta/sla_policies`, `/api/v1/meta/calendars`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(tags=["sla"])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/records/{object}/{record_id:int}/sla")
def record_clocks(object: str, record_id: RecordId, who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The record's SLA clocks (one per metric): stage, due and warning times, and the
    business time elapsed and remaining (negative: overdue by that much)."""
    return {"object": object, "id": record_id, "clocks": rt.sla.clocks(who, object, record_id)}


@router.get("/sla/compliance")
def compliance(object: str = Query(..., description="the object whose records the clocks measure"),
               group_by: Literal["policy", "metric", "priority"] = "metric",
               who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Clocks met in time, breached and open, and the compliance percentage (met of those
    decided), per policy, metric or priority — over the records the caller may read."""
    return rt.sla.compliance(who, object, group_by)
