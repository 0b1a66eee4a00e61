"""Validation and normalization of object documents against their JSON Schemas.

An object document is checked in two passes: its own schema (objects.schema.json), then
each field against the common field schema merged with its type's options. Problems come
back as a list, each with the path in the document, so a builder sees all of them at once.
"""

from __future__ import annotations

import copy
import json
import secrets
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tessera.errors import FieldProblem
from tessera.meta.fieldtypes import field_type, field_types
from tessera.meta.model import SYSTEM_COLUMNS

UID_PREFIX = {"objects": "obj", "fields": "fld", "rules": "vrl"}


def new_uid(kind: str) -> str:
    return f"{UID_PREFIX.get(kind, kind[:3])}_{secrets.token_hex(8)}"


@cache
def base_schema(kind: str) -> dict[str, Any]:
    text = resources.files("tessera.meta").joinpath(f"schemas/{kind}.schema.json").read_text()
    return json.loads(text)


@cache
def field_schema(type_name: str) -> dict[str, Any]:
    """The full JSON Schema of a field of one type: common properties plus its options."""
    schema = copy.deepcopy(base_schema("fields"))
    ftype = field_type(type_name)
    schema["properties"].update(ftype.options_schema)
    schema["properties"]["type"] = {"const": type_name}
    schema["additionalProperties"] = False
    required = getattr(ftype, "required_options", ())
    schema["required"] = [*schema["required"], *required]
    schema["title"] = f"Field of type {type_name}"
    return schema


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _object_validator() -> Draft202012Validator:
    return _validator(base_schema("objects"))


@cache
def _field_validator(type_name: str) -> Draft202012Validator:
    return _validator(field_schema(type_name))


def _pointer(prefix: str, path: Any) -> str:
    return "/".join([prefix, *(str(p) for p in path)]).rstrip("/") or "/"


def schema_problems(validator: Draft202012Validator, doc: Any, prefix: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        error = best_match([error])
        problems.append(FieldProblem(_pointer(prefix, error.absolute_path), error.message))
    return problems


def field_problems(doc: Any, prefix: str = "") -> list[FieldProblem]:
    """Problems of one field document on its own (no knowledge of other fields)."""
    if not isinstance(doc, dict):
        return [FieldProblem(prefix or "/", "a field must be a JSON object")]
    type_name = doc.get("type")
    if type_name not in field_types():
        known = ", ".join(sorted(field_types()))
        return [FieldProblem(f"{prefix}/type", f"unknown field type {type_name!r}; one of: {known}")]
    problems = schema_problems(_field_validator(type_name), doc, prefix)
    if problems:
        return problems
    ftype = field_type(type_name)
    if doc["api_name"] in SYSTEM_COLUMNS:
        problems.append(
            FieldProblem(f"{prefix}/api_name", f"{doc['api_name']!r} is reserved for a system column")
        )
    if (doc.get("unique") or doc.get("indexed")) and not ftype.indexable:
        problems.append(
            FieldProblem(f"{prefix}/unique", f"a {type_name} field cannot be unique or indexed")
        )
    if not ftype.stored and (doc.get("unique") or doc.get("indexed") or doc.get("required")):
        problems.append(
            FieldProblem(f"{prefix}/type", "a computed field cannot be required, unique or indexed")
        )
    if ftype.system_generated and doc.get("default") is not None:
        problems.append(FieldProblem(f"{prefix}/default", "the platform sets this field's value"))
    options = doc.get("options")
    if isinstance(options, list):
        values = [o.get("value") for o in options]
        if len(values) != len(set(values)):
            problems.append(FieldProblem(f"{prefix}/options", "option values must be unique"))
    return problems


def object_problems(doc: Any) -> list[FieldProblem]:
    """Problems of an object document: its own schema, then each field's."""
    if not isinstance(doc, dict):
        return [FieldProblem("/", "an object document must be a JSON object")]
    problems = schema_problems(_object_validator(), doc, "")
    if problems:
        return problems
    seen: dict[str, int] = {}
    for index, fdoc in enumerate(doc.get("fields", [])):
        problems += field_problems(fdoc, f"/fields/{index}")
        name = fdoc.get("api_name") if isinstance(fdoc, dict) else None
        if name in seen:
            problems.append(
                FieldProblem(f"/fields/{index}/api_name", f"another field is already named {name!r}")
            )
        elif name:
            seen[name] = index
    if doc.get("name_field") and doc["name_field"] not in seen:
        problems.append(FieldProblem("/name_field", f"no field named {doc['name_field']!r}"))
    rule_names = [r["name"] for r in doc.get("validation_rules", [])]
    if len(rule_names) != len(set(rule_names)):
        problems.append(FieldProblem("/validation_rules", "rule names must be unique"))
    return problems


def normalize_field(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a field document with a uid and its type's default options filled in."""
    out = copy.deepcopy(doc)
    out.setdefault("uid", new_uid("fields"))
    from tessera.meta.model import FieldDef

    for key, value in field_type(out["type"]).default_options(FieldDef(out)).items():
        out.setdefault(key, value)
    return out


def normalize_object(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.pop("version", None)
    out.setdefault("uid", new_uid("objects"))
    out["fields"] = [normalize_field(f) for f in out.get("fields", [])]
    for rule in out.get("validation_rules", []):
        rule.setdefault("uid", new_uid("rules"))
    return out
