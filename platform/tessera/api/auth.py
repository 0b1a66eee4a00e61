"""Sign-in: bearer tokens for API clients."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tessera.api import deps
from tessera.errors import FieldProblem, InvalidInput
from tessera.runtime.platform import Runtime

router = APIRouter(tags=["auth"])


@router.post("/auth/token")
def token(body: Any = Depends(deps.json_body), runtime: Runtime = Depends(deps.runtime)) -> dict[str, str]:
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) \
            or not isinstance(body.get("password"), str):
        raise InvalidInput("Send {\"email\": …, \"password\": …}.",
                           [FieldProblem("email", "is required"), FieldProblem("password", "is required")])
    access = runtime.users.sign_in(body["email"], body["password"])
    return {"access_token": access, "token_type": "bearer"}
