"""The record page's conversions: a button per conversion the record may go through now
(Convert a lead into an account, a contact and a deal), what the last run made, with links,
and a refusal said in words beside the buttons (converted already, not allowed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)


@router.get("/app/{object}/{record_id}/conversions", response_class=HTMLResponse)
def record_conversions(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> Response:
    """The buttons and the last runs; nothing at all for an object without conversions."""
    return _fragment(request, rt, me, object, record_id)


@router.post("/app/{object}/{record_id}/convert/{conversion}", response_class=HTMLResponse)
def convert(object: str, record_id: int, conversion: str, request: Request, me: Actor = Depends(deps.actor),
            rt: Platform = Depends(deps.runtime)) -> Response:
    """Run a conversion; done → the record page again (its fields, history and the records
    made); refused → the buttons with the reason."""
    try:
        rt.conversions.convert(me, object, record_id, conversion)
    except TesseraError as error:
        if error.status in (401, 404) and not error.extra.get("previous"):
            raise
        reasons = [p.message for p in error.errors if p.code not in ("converted_already", "not_applicable")]
        refusal = {"text": " ".join([error.detail, *reasons]), "previous": error.extra.get("previous")}
        return _fragment(request, rt, me, object, record_id, refusal=refusal, status=error.status)
    return Response(status_code=204, headers={"HX-Redirect": f"/app/{object}/{record_id}"})


def _fragment(request: Request, rt: Platform, me: Actor, object: str, record_id: int, *,
              refusal: dict[str, Any] | None = None, status: int = 200) -> Response:
    offered = rt.conversions.offered(me, object, record_id)
    if not offered:
        return Response(status_code=200)
    return templates().TemplateResponse(request, "conversions/_record.html", {
        "me": me, "object": object, "record_id": record_id, "offered": offered, "refusal": refusal},
        status_code=status)
