"""JSON Schemas (draft 2020-12) of the identity documents: users, teams and roles."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from tessera.errors import FieldProblem


@cache
def schema(kind: str) -> dict[str, Any]:
    return json.loads(resources.files("tessera.auth.schemas").joinpath(f"{kind}.schema.json").read_text())


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(schema(kind))


def problems(kind: str, doc: Any, *, messages: dict[tuple[str, str], str] | None = None,
             secret: tuple[str, ...] = (), partial: bool = False, pointers: bool = True) -> list[FieldProblem]:
    """One problem per path of `doc` that breaks the schema of `kind`: each missing and each
    unexpected property on its own, otherwise the most telling error at the path.
    `messages` words a (path, keyword) pair better; values at `secret` paths are never
    repeated back; `partial` lets required properties be left out (for PATCH);
    `pointers=False` names top-level properties plainly ("email", as record fields are
    named) instead of as JSON pointers ("/email")."""
    found: dict[str, FieldProblem] = {}
    by_path: dict[str, list[ValidationError]] = {}
    for error in _validator(kind).iter_errors(doc):
        path = "".join(f"/{p}" for p in error.absolute_path)
        if error.validator == "required":
            for name in error.validator_value:
                if not partial and isinstance(error.instance, dict) and name not in error.instance:
                    found[f"{path}/{name}"] = FieldProblem(f"{path}/{name}", "is required", "required")
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            for name in error.instance:
                if name not in known:
                    found[f"{path}/{name}"] = FieldProblem(f"{path}/{name}", "is not a property here", "unknown_field")
        else:
            by_path.setdefault(path or "/", []).append(error)
    for path, errors in by_path.items():
        error = best_match(errors)
        message = (messages or {}).get((path, str(error.validator)))
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        if message is None and path in secret:
            message = "is not valid"
        elif message is None and error.validator == "minLength" and error.validator_value == 1:
            message = "must not be blank"
        elif message is None and error.validator == "maxLength":
            message = f"must be at most {error.validator_value} characters long"
        elif message is None and error.validator == "pattern" and description:
            message = f"{error.instance!r} is not allowed: {description}"
        elif message is None:
            message = error.message
        found.setdefault(path, FieldProblem(path, message))
    out = sorted(found.values(), key=lambda p: p.field)
    if not pointers:
        for problem in out:
            problem.field = problem.field[1:] or "/"
    return out
