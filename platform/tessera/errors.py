"""Errors that reach a user, each with what the API answers (RFC 9457 problem details).

Every layer raises these; the API turns them into problem+json, the CLI into a message,
the UI into text beside a field. `errors` lists the offending fields or paths one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldProblem:
    """One thing wrong with one field (or metadata path) of the input."""

    field: str
    message: str
    code: str = "invalid"
    row: int | None = None
    detail: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "code": self.code}
        if self.row is not None:
            out["row"] = self.row
        if self.detail:
            out.update(self.detail)
        return out


@dataclass
class TesseraError(Exception):
    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __str__(self) -> str:
        lines = [self.detail] + [
            (f"row {p.row}: " if p.row is not None else "") + f"{p.field}: {p.message}"
            for p in self.errors
        ]
        return "\n".join(lines)


class InvalidInput(TesseraError):
    status = 422
    title = "Invalid input"
    type_slug = "invalid-input"


class NotFound(TesseraError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(TesseraError):
    """The request is well-formed but clashes with what is stored (unique, in use, …)."""

    status = 409
    title = "Conflict"
    type_slug = "conflict"


class StaleVersion(TesseraError):
    status = 412
    title = "Precondition failed"
    type_slug = "stale-version"


class Unauthorized(TesseraError):
    status = 401
    title = "Not signed in"
    type_slug = "unauthorized"


class Busy(TesseraError):
    """The database is busy with another write longer than Tessera waits: try again shortly."""

    status = 503
    title = "Busy"
    type_slug = "busy"


class TooSlow(TesseraError):
    """A statement ran past the request time limit and was stopped; nothing was written.
    Asking again the same way will not help: narrow the filter or the report."""

    status = 422
    title = "Too slow"
    type_slug = "too-slow"


class Forbidden(TesseraError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


def formula_problem(path: str, error: Exception) -> FieldProblem:
    """A formula's error (tessera.formula.FormulaError) as the problem of a document's field,
    with where in the formula it is."""
    first = error.errors[0] if getattr(error, "errors", None) else error  # type: ignore[attr-defined]
    detail = first.to_dict() if hasattr(first, "to_dict") else {}
    return FieldProblem(path, first.render() if hasattr(first, "render") else str(first), "formula",
                        detail={"formula": {k: v for k, v in detail.items() if k != "message"}})
