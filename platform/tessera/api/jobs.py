"""Job endpoints: follow long work (recomputes, imports, installs) and cancel it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/jobs", tags=["jobs"])
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("")
def list_jobs(status: str | None = None, kind: str | None = None, limit: int = Query(50, ge=1, le=500),
              before: int | None = Query(None, ge=1, le=2**63 - 1),
              who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Jobs, newest first: one's own, or everyone's for builders and admins."""
    return {"jobs": rt.jobs.list(who, status=status, kind=kind, limit=limit, before=before)}


@router.get("/{job_id}")
def get_job(job_id: JobId, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.jobs.get(who, job_id)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: JobId, who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.jobs.cancel(who, job_id)
