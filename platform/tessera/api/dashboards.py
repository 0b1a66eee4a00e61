"""Dashboard endpoints: the data of every widget, or of one, as the caller sees it (each
widget's report runs under their permissions). Filter values come as `?filter.<name>=value`.
Dashboard documents themselves are written through the metadata API
(`/api/v1/meta/dashboards`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tessera.api import deps
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/dashboards", tags=["dashboards"])
FILTER_PREFIX = "filter."


def filter_values(request: Request) -> dict[str, str]:
    """`?filter.period=this_quarter&filter.owner=me` → {"period": "this_quarter", "owner": "me"}."""
    return {key[len(FILTER_PREFIX):]: value for key, value in request.query_params.items()
            if key.startswith(FILTER_PREFIX)}


@router.get("")
def list_dashboards(who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.dashboards.list(who)


@router.get("/{name}")
def load(name: str, request: Request, who: Actor = Depends(deps.actor),
         rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Every widget's data shaped for its chart, with a drill link on each data point."""
    return rt.dashboards.load(who, name, filter_values(request))


@router.get("/{name}/widgets/{widget_id}")
def widget(name: str, widget_id: str, request: Request, who: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.dashboards.widget(who, name, widget_id, filter_values(request))
