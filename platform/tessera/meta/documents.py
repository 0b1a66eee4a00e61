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
from jsonschema.exceptions import ValidationError, best_match

from tessera.errors import FieldProblem
from tessera.meta.fieldtypes import FieldValueError, field_type, field_types
from tessera.meta.model import ORDER_TYPES, SYSTEM_COLUMNS
from tessera.meta.patterns import compile_pattern

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
    """One problem per path in the document, however many rules its value breaks there."""
    by_path: dict[str, list[ValidationError]] = {}
    for error in validator.iter_errors(doc):
        by_path.setdefault(_pointer(prefix, error.absolute_path), []).append(error)
    problems: list[FieldProblem] = []
    for path in sorted(by_path, key=lambda p: [int(x) if x.isdigit() else x for x in p.split("/")]):
        errors = by_path[path]
        # Every missing or unexpected property is worth naming; otherwise the most telling error.
        listed = [e for e in errors if e.validator in ("required", "additionalProperties")]
        messages = [_message(e) for e in listed or [best_match(errors)]]
        problems.append(FieldProblem(path, "; ".join(dict.fromkeys(messages))))
    return problems


def _message(error: ValidationError) -> str:
    """jsonschema's message in words a builder reads: for a pattern the rule from the
    schema's description, a blank text as blank, a list too short as what to add, and for a
    choice between forms (a wait for a while, until a date or until a condition) the
    properties each form needs."""
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator in ("pattern", "not") and description:
        return f"{error.instance!r} is not allowed: {description}"
    if error.validator == "minLength" and error.instance == "":
        return "must not be blank"
    if error.validator == "minItems" and isinstance(error.instance, list):
        # An empty list of approvers, assignees, steps…: what to do, not '[] should be non-empty'.
        least = error.validator_value
        return "add at least one" if least == 1 else f"add at least {least} (there are {len(error.instance)})"
    if error.validator in ("oneOf", "anyOf") and description:
        return f"give {description}"
    if error.validator in ("oneOf", "anyOf") and isinstance(error.instance, dict):
        needs = [" and ".join(branch["required"]) for branch in error.validator_value
                 if isinstance(branch, dict) and branch.get("required")]
        if len(needs) == len(error.validator_value) and needs:
            choices = ", ".join(needs[:-1]) + (f" or {needs[-1]}" if len(needs) > 1 else needs[-1])
            return f"needs {choices}"
    return error.message


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
    if ftype.computed:
        if doc.get("unique") or doc.get("required"):
            problems.append(FieldProblem(f"{prefix}/type", "a computed field cannot be required or unique"))
        if doc.get("indexed") and not doc.get("store"):
            problems.append(FieldProblem(f"{prefix}/indexed", "only a stored formula can be indexed: "
                                         "set \"store\": true"))
    elif (doc.get("unique") or doc.get("indexed")) and not ftype.indexable:
        problems.append(
            FieldProblem(f"{prefix}/unique", f"a {type_name} field cannot be unique or indexed")
        )
    if doc.get("searchable") and (not ftype.searchable or ftype.computed):
        problems.append(FieldProblem(f"{prefix}/searchable", f"a {type_name} field cannot be searched; "
                                     "text, e-mail, phone, URL and auto-number fields can"))
    elif doc.get("search_weight") and not doc.get("searchable"):
        problems.append(FieldProblem(f"{prefix}/search_weight", "applies to searchable fields only"))
    if ftype.system_generated and doc.get("default") is not None:
        problems.append(FieldProblem(f"{prefix}/default", "the platform sets this field's value"))
    elif not ftype.takes_default and doc.get("default") is not None:
        problems.append(FieldProblem(f"{prefix}/default", f"a {type_name} field cannot have a default"))
    options = doc.get("options")
    if isinstance(options, list):
        values = [o.get("value") for o in options]
        if len(values) != len(set(values)):
            problems.append(FieldProblem(f"{prefix}/options", "option values must be unique"))
            return problems
    return problems + _value_problems(doc, prefix)


def _value_problems(doc: dict[str, Any], prefix: str) -> list[FieldProblem]:
    """Problems of the values a field document holds: its bounds, pattern and default.

    Caught here so that a bad bound or default is refused when the builder writes it, not
    on every later save of a record.
    """
    from tessera.meta.model import FieldDef

    field = FieldDef(doc)
    ftype = field.ftype
    problems: list[FieldProblem] = []
    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        if key in ftype.constraints and doc.get(key) is not None:
            try:
                bounds[key] = ftype.coerce(field, doc[key])
            except FieldValueError as error:
                problems.append(FieldProblem(f"{prefix}/{key}", f"is not a valid {doc['type']}: {error}"))
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        problems.append(FieldProblem(f"{prefix}/max", "must not be less than min"))
    if doc.get("pattern"):
        try:
            compile_pattern(doc["pattern"])
        except ValueError as error:
            problems.append(FieldProblem(f"{prefix}/pattern", f"is not a valid regular expression: {error}"))
    if problems or doc.get("default") is None or ftype.system_generated or not ftype.takes_default:
        return problems
    try:
        value = ftype.coerce(field, doc["default"])
        message = None if value is None else ftype.check(field, value)
    except FieldValueError as error:
        message = str(error)
    if message:
        problems.append(FieldProblem(f"{prefix}/default", message))
    return problems


def object_problems(doc: Any) -> list[FieldProblem]:
    """Problems of an object document: its own schema, then each field's, all at once."""
    if not isinstance(doc, dict):
        return [FieldProblem("/", "an object document must be a JSON object")]
    problems = schema_problems(_object_validator(), doc, "")
    flagged = {p.field for p in problems}
    fields = doc.get("fields", [])
    seen: dict[str, int] = {}
    for index, fdoc in enumerate(fields if isinstance(fields, list) else []):
        if f"/fields/{index}" in flagged:
            continue
        problems += field_problems(fdoc, f"/fields/{index}")
        name = fdoc.get("api_name")
        if name in seen:
            problems.append(
                FieldProblem(f"/fields/{index}/api_name", f"another field is already named {name!r}")
            )
        elif isinstance(name, str):
            seen[name] = index
    if doc.get("name_field") and "/name_field" not in flagged and doc["name_field"] not in seen:
        problems.append(FieldProblem("/name_field", f"no field named {doc['name_field']!r}"))
    if doc.get("order_field") and "/order_field" not in flagged:
        problems += _order_field_problems(doc, seen)
    if not any(p.startswith("/validation_rules") for p in flagged):
        rule_names = [r["name"] for r in doc.get("validation_rules", [])]
        if len(rule_names) != len(set(rule_names)):
            problems.append(FieldProblem("/validation_rules", "rule names must be unique"))
    if not any(p.startswith("/sharing_rules") for p in flagged):
        sharing = doc.get("sharing_rules", [])
        if len({r["name"] for r in sharing}) != len(sharing):
            problems.append(FieldProblem("/sharing_rules", "rule names must be unique"))
        for rule in sharing:
            if not rule.get("roles") and not rule.get("teams"):
                problems.append(FieldProblem(f"/sharing_rules/{rule['name']}",
                                             "name the roles or teams the rule shares records with"))
    return one_per_path(problems)


def _order_field_problems(doc: dict[str, Any], seen: dict[str, int]) -> list[FieldProblem]:
    """An object's `order_field` must name one of its number fields."""
    name = doc["order_field"]
    if name not in seen:
        return [FieldProblem("/order_field", f"no field named {name!r}")]
    kind = doc["fields"][seen[name]].get("type")
    if kind not in ORDER_TYPES:
        return [FieldProblem("/order_field", f"{name} is a {kind} field; records are ordered by a number field "
                                             "(integer, decimal, percent or currency)")]
    return []


def one_per_path(problems: list[FieldProblem]) -> list[FieldProblem]:
    """Problems at the same JSON pointer merged into one (their messages joined by '; ')."""
    merged: dict[str, FieldProblem] = {}
    for problem in problems:
        if problem.field in merged:
            merged[problem.field].message += f"; {problem.message}"
        else:
            merged[problem.field] = problem
    return list(merged.values())


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
    for rule in (*out.get("validation_rules", []), *out.get("sharing_rules", [])):
        rule.setdefault("uid", new_uid("rules"))
    return out
