"""Formula editor endpoints: check a formula as it is typed, and complete it at the cursor
(fields by label or name, a select's options after `=`, functions; only what the caller
may see)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/formula", tags=["formula"])

_CHECK_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["object", "expression"],
    "properties": {"object": {"type": "string"}, "expression": {"type": "string", "maxLength": 10000},
                   "expect": {"type": ["string", "null"]}}}}}}}
_COMPLETE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["object", "expression", "cursor"],
    "properties": {"object": {"type": "string"}, "expression": {"type": "string", "maxLength": 10000},
                   "cursor": {"type": "integer", "minimum": 0}}}}}}}


def _object(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("object"), str):
        raise InvalidInput("Name the object the formula is about.", [FieldProblem("object", "is required")])
    return body["object"]


@router.post("/check", openapi_extra=_CHECK_BODY)
def check_formula(body: Any = Depends(deps.json_body), _: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.formulas.check_text(_object(body), body.get("expression"), body.get("expect"))


@router.post("/complete", openapi_extra=_COMPLETE_BODY)
def complete_formula(body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
                     rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """`{"completions": [{"label", "kind", "detail", "insert", "replace"}]}`, best first."""
    return {"completions": rt.formula_completions.complete(who, _object(body), body.get("expression"),
                                                           body.get("cursor"))}
