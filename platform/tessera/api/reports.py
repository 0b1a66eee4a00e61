"""Report endpoints: run a saved report or an unsaved report document, drill into a cell,
and export a report as CSV or XLSX. Everything runs as the caller (their permissions are
part of the report's SQL)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/reports", tags=["reports"])
_MEDIA = {"csv": "text/csv; charset=utf-8",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _parameters(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object of parameters.", [FieldProblem("/", "must be an object")])
    unknown = sorted(set(body) - {"filter", "limit"})
    problems = [FieldProblem(name, "is not a report parameter", "unknown_field") for name in unknown]
    if body.get("filter") is not None and not isinstance(body["filter"], str):
        problems.append(FieldProblem("filter", "must be a formula"))
    if problems:
        raise InvalidInput("The report parameters are not valid.", problems)
    return {"filter": body.get("filter"), "limit": body.get("limit")}


@router.post("/run")
def run_document(body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Run an unsaved report document (the builder's live preview)."""
    if not isinstance(body, dict):
        raise InvalidInput("Send a report document.", [FieldProblem("/", "must be an object")])
    return rt.reports.run(who, {"api_name": "preview", "label": "Preview", **body})


@router.post("/{name}/run")
def run_saved(name: str, body: Any = Depends(deps.optional_json_body), who: Actor = Depends(deps.actor),
              rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.reports.run(who, name, **_parameters(body))


@router.post("/{name}/drill")
def drill(name: str, body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
          rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The record-list filter of a cell: `{"cell": {"stage": "won"}}` → `{"object", "filter"}`."""
    cell = body.get("cell") if isinstance(body, dict) else None
    return rt.reports.drill(who, name, cell)


@router.get("/{name}/export.{fmt}")
def export(name: str, fmt: str, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    if fmt not in _MEDIA:
        raise InvalidInput("Reports export as csv or xlsx.", [FieldProblem("format", "must be csv or xlsx")])
    return Response(rt.reports.export(who, name, fmt), media_type=_MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
