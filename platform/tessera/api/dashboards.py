"""Dashboard endpoints: the data of every widget, or of one, as the caller sees it (each
widget's report runs under their permissions). Filter values come as `?filter.<name>=value`.
Dashboard documents themselves are written through the metadata API
(`/api/v1/meta/dashboards`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/dashboards", tags=["dashboards"])


@router.get("")
def list_dashboards(who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.dashboards.list(who)


@router.get("/{name}")
def load(name: str, request: Request, who: Actor = Depends(deps.actor),
         rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Every widget's data shaped for its chart, with a drill link on each data point."""
    return rt.dashboards.load(who, name, deps.filter_values(request))


@router.get("/{name}/widgets/{widget_id}")
def widget(name: str, widget_id: str, request: Request, who: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.dashboards.widget(who, name, widget_id, deps.filter_values(request))
