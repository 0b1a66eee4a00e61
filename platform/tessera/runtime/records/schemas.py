"""The JSON shape of an object's records: what the API returns (`Record`, `Page`) and what
it accepts (`Input`, `Patch`), as JSON Schema built from the object's fields.

The OpenAPI document publishes these, and `InputShapes` holds API writes to them: a value
of the wrong JSON type for its field (a number for a text field, `false` for `version`)
is refused with the field named, before anything else looks at the request. Pages and
imports, which hand over what people typed, keep the field types' lenient reading.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.fieldtypes.lines import max_lines
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot

SYSTEM: dict[str, dict[str, Any]] = {
    "id": {"type": "integer"},
    "version": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "created_by": {"type": ["integer", "null"]},
    "updated_at": {"type": "string", "format": "date-time"},
    "updated_by": {"type": ["integer", "null"]},
    "owner": {"type": ["integer", "null"]},
}


class Shape:
    """`shape(name, value)`: what is wrong with the JSON shape of a value of field `name`,
    or None (also for a name that is no field: the save pipeline names those). `plain`:
    per field, the Python types any value of which has the right shape, for a caller
    checking many values to skip the call for those (see `_plain_types`)."""

    __slots__ = ("_checks", "plain")

    def __init__(self, checks: dict[str, tuple[Draft202012Validator, frozenset[type]]]) -> None:
        self._checks = checks
        self.plain: dict[str, frozenset[type]] = {name: plain for name, (_, plain) in checks.items()}

    def __call__(self, name: str, value: Any) -> str | None:
        found = self._checks.get(name)
        if found is None:
            return None
        check, plain = found
        if type(value) in plain:
            return None
        error = best_match(check.iter_errors(value))
        return None if error is None else _message(error)


_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
          "array": "a list", "object": "an object", "null": "blank (null)"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null. Its own alternatives stay one flat list (`anyOf` of each, then null)."""
    if not schema:
        return {}
    if set(schema) == {"anyOf"}:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schema_name(obj: ObjectDef) -> str:
    return "".join(part.title() for part in obj.api_name.split("_"))


def object_schemas(obj: ObjectDef) -> dict[str, dict[str, Any]]:
    """The object's schemas by component name (`DealRecord`, `DealInput`, …)."""
    name = schema_name(obj)
    # Only the system fields are always present: `fields=` leaves the others out.
    record = {"type": "object", "title": f"{obj.label} record",
              "required": list(SYSTEM),
              "properties": {**copy.deepcopy(SYSTEM), "_expanded": {
                  "type": "object", "description": "the records named by `expand`",
                  "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]}}}}
    create: dict[str, Any] = {"type": "object", "title": f"New {obj.label}",
                              "additionalProperties": False,
                              "properties": {"owner": {"type": ["integer", "null"], "minimum": 1}}}
    required = []
    for fdef in obj.fields:
        record["properties"][fdef.api_name] = nullable(fdef.ftype.value_schema(fdef))
        record["properties"][fdef.api_name]["description"] = fdef.help_text or fdef.label
        if fdef.computed:
            record["properties"][fdef.api_name]["readOnly"] = True
        if fdef.read_only or not fdef.stored:
            continue
        accepted = nullable(fdef.ftype.input_schema(fdef))
        if _blank_text_is_blank(fdef) and "anyOf" in accepted:
            accepted["anyOf"].append({"type": "string", "maxLength": 0, "description": "blank"})
        create["properties"][fdef.api_name] = accepted
        if fdef.required and fdef.default is None:
            required.append(fdef.api_name)
    for fdef in obj.line_fields:
        child = "".join(part.title() for part in str(fdef.props.get("target", "")).split("_"))
        record["properties"][fdef.api_name] = {
            "type": "array", "items": ref(f"{child}Record"),
            "description": f"{fdef.label}: the lines in order (at most {max_lines(fdef)})"}
        create["properties"][fdef.api_name] = {
            "type": "array", "maxItems": max_lines(fdef), "items": {"type": "object"},
            "description": f"{fdef.label}, the whole list in order: a line with an `id` is changed, one "
                           "without is added, a stored line left out is removed"}
    if required:
        create["required"] = required
    patch = copy.deepcopy(create)
    patch.pop("required", None)
    patch["title"] = f"Changes to a {obj.label}"
    patch["properties"]["version"] = {"type": "integer", "description": "expected version"}
    patch["properties"]["id"] = {"type": "integer"}
    trashed = copy.deepcopy(record)
    trashed["properties"].update(deleted_at={"type": "string", "format": "date-time"},
                                 deleted_by={"type": ["integer", "null"]})
    trashed["required"] = [*record["required"], "deleted_at", "deleted_by"]
    page = {"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": ref(f"{name}Record")},
        "next_cursor": {"type": ["string", "null"]},
        "total": {"type": "integer"}, "total_capped": {"type": "boolean"},
    }}
    trash_page = copy.deepcopy(page)
    trash_page["properties"]["data"]["items"] = ref(f"{name}TrashedRecord")
    return {f"{name}Record": record, f"{name}Input": create, f"{name}Patch": patch,
            f"{name}Page": page, f"{name}TrashedRecord": trashed, f"{name}TrashPage": trash_page}


def _blank_text_is_blank(fdef: FieldDef) -> bool:
    """Whether the field type reads "" as a blank (most do; a checkbox does not)."""
    try:
        return fdef.ftype.coerce(fdef, "") is None
    except (FieldValueError, ValueError, TypeError):
        return False


class InputShapes:
    """Per metadata revision and object: a validator for each writable property's value."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, bool], Shape] = {}
        self._lock = threading.Lock()

    def checker(self, snap: Snapshot, obj: ObjectDef, *, patch: bool = False) -> Shape:
        """The `Shape` of the values of `obj`'s writable properties (of a patch: `patch`)."""
        key = (snap.revision, obj.uid, patch)
        found = self._cache.get(key)
        if found is None:
            schema = object_schemas(obj)[f"{schema_name(obj)}{'Patch' if patch else 'Input'}"]
            checks = {}
            for name, prop in schema["properties"].items():
                types = _types_only(prop)
                checks[name] = (Draft202012Validator(types), _plain_types(types))
            found = Shape(checks)
            with self._lock:
                if len(self._cache) > 2000:
                    self._cache.clear()
                self._cache[key] = found
        return found


def _types_only(schema: Any) -> Any:
    """The schema's JSON types alone. Which text, which number and which option a field
    takes is the field type's to say (it accepts an option's label, say, and names the
    rule a value breaks); here only a value of the wrong kind is caught."""
    if not isinstance(schema, dict):
        return schema
    kept = {k: v for k, v in schema.items() if k == "type"}
    for key in ("items",):
        if key in schema:
            kept[key] = _types_only(schema[key])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kept["anyOf"] = [_types_only(s) for s in schema[key]]
    if "properties" in schema:
        kept["properties"] = {k: _types_only(v) for k, v in schema["properties"].items()}
    return kept


#: The Python types of JSON values a bare `{"type": …}` takes whole (bool is no integer).
_PLAIN = {"string": (str,), "null": (type(None),), "boolean": (bool,), "integer": (int,),
          "number": (int, float), "object": (dict,), "array": (list,)}


def _plain_types(schema: dict[str, Any]) -> frozenset[type]:
    """The Python types any value of which the types-only schema accepts, so a value of
    one of them needs no validator run (every write checks a dozen values; a validator
    run costs more than the rest of reading one). Branches that look inside a value
    (`items`, `properties`) add nothing: such values go through the validator."""
    out: set[type] = set()
    branches = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    for branch in branches:
        if not isinstance(branch, dict) or set(branch) != {"type"}:
            continue
        kinds = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
        for kind in kinds:
            out.update(_PLAIN.get(kind, ()))
    return frozenset(out)


def _message(error: ValidationError) -> str:
    if error.validator in ("type", "anyOf"):
        branches = error.validator_value if error.validator == "anyOf" else [{"type": error.validator_value}]
        wanted: list[str] = []
        for branch in branches:
            kinds = branch.get("type", []) if isinstance(branch, dict) else []
            wanted += [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k not in wanted]
        if wanted:
            return "must be " + " or ".join(_WORDS.get(t, t) for t in wanted)
    if error.validator == "enum":
        return "must be one of " + ", ".join(repr(v) for v in error.validator_value)
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters long"
    if error.validator == "maxItems":
        return f"must have at most {error.validator_value} items"
    return error.message
