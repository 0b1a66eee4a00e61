"""Form endpoints: which fields a form shows now, what it accepts, and submitting it.

`POST /forms/{object}/state` is what the page calls whenever a value changes: the server
runs the form's formulas and answers which fields are visible, required and read-only (the
browser never evaluates a formula). A submission is checked against the form and then
saved through the record service.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/forms", tags=["forms"])

_REQUEST = {
    "type": "object",
    "properties": {
        "form": {"type": ["string", "null"], "description": "A form's api_name; left out: the form for the user "
                                                            "and record"},
        "record_id": {"type": ["integer", "null"], "minimum": 1, "description": "The record; left out: a new one"},
        "values": {"type": "object", "description": "Field values typed in so far, as in the record API"},
        "version": {"type": ["integer", "null"], "description": "The record's version, for optimistic locking"},
    },
}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _REQUEST}}}}


def _request(body: Any) -> dict[str, Any]:
    """The request's parts, each of the right type."""
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object with form, record_id and values.",
                           [FieldProblem("/", "must be an object")])
    problems = []
    form, record_id, values, version = (body.get(k) for k in ("form", "record_id", "values", "version"))
    if form is not None and not isinstance(form, str):
        problems.append(FieldProblem("form", "must be a form's api_name"))
    for name, value in (("record_id", record_id), ("version", version)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63):
            problems.append(FieldProblem(name, "must be a whole number from 1"))
    if values is not None and not isinstance(values, dict):
        problems.append(FieldProblem("values", "must be an object of field values"))
    unknown = sorted(set(body) - {"form", "record_id", "values", "version"})
    problems += [FieldProblem(name, "is not part of a form request", "unknown_field") for name in unknown]
    if problems:
        raise InvalidInput("The form request is not valid.", problems)
    return {"form": form, "record_id": record_id, "values": values or {}, "version": version}


@router.post("/{object}/state", openapi_extra=_BODY)
def form_state(object: str, body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    asked = _request(body)
    return rt.forms.state(who, object, form=asked["form"], record_id=asked["record_id"],
                                    values=asked["values"])


@router.get("/{object}/schema")
def form_schema(object: str, form: str | None = None, who: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.forms.json_schema(who, object, form=form)


@router.post("/{object}/submit", openapi_extra=_BODY)
def submit_form(object: str, body: Any = Depends(deps.json_body), version: int | None = Depends(deps.if_match),
                who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    asked = _request(body)
    record = rt.forms.submit(who, object, form=asked["form"], record_id=asked["record_id"],
                                       values=asked["values"], version=version or asked["version"])
    headers = {"ETag": f'"{record["version"]}"'}
    if asked["record_id"] is None:
        headers["Location"] = f"/api/v1/records/{object}/{record['id']}"
        return JSONResponse(record, status_code=201, headers=headers)
    return JSONResponse(record, headers=headers)
