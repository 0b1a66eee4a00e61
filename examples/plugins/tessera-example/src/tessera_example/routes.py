"""`GET /api/v1/plugins/example/iban/{value}`: whether a text is an IBAN, its country and how
it is written. Served to signed-in callers only (the app adds the sign-in check to every
plugin route); it reads no records, so it needs no other permission."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tessera_example.iban import compact, grouped, problem

router = APIRouter(tags=["example plugin"])


@router.get("/iban/{value}")
def check_iban(value: str) -> dict[str, Any]:
    """Whether `value` is an IBAN (check digits included), its country and grouped form."""
    iban = compact(value[:60])
    wrong = problem(iban)
    return {"valid": wrong is None, "problem": wrong, "country": iban[:2] if wrong is None else None,
            "formatted": grouped(iban) if wrong is None else None}
