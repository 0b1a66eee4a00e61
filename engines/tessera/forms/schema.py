"""The JSON Schema of what a form accepts, for API clients.

Its properties are the form's writable placements, each with its field type's input schema
(blank allowed unless always required); anything else is refused, as the form refuses it.
Conditions cannot be expressed in JSON Schema: a field with `visible_if` or `required_if`
carries the formula as `x-visible-if` / `x-required-if`, and the server decides.
"""

from __future__ import annotations

from typing import Any

from tessera.forms.layout import Form
from tessera.forms.lines import placeable
from tessera.meta.model import ObjectDef

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(form: Form, obj: ObjectDef, *, hidden: frozenset[str] = frozenset(),
                locked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The schema of the `values` a submission through `form` may carry."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in form.placements:
        fdef = placeable(obj, p.field)
        if fdef is None or p.field in hidden or p.field in properties:
            continue
        if p.read_only or fdef.read_only or p.field in locked:
            continue
        value = fdef.ftype.input_schema(fdef)
        always = (p.required or fdef.required) and not p.visible_if
        schema: dict[str, Any] = dict(value) if always else {"anyOf": [value, {"type": "null"}]}
        schema["title"] = p.label or fdef.label
        if p.help or fdef.help_text:
            schema["description"] = p.help or fdef.help_text
        if p.has_default and p.default is not None:
            schema["default"] = p.default
        elif fdef.default is not None:
            schema["default"] = fdef.default
        if p.visible_if:
            schema["x-visible-if"] = p.visible_if
        if p.required_if:
            schema["x-required-if"] = p.required_if
        properties[p.field] = schema
        if always:
            required.append(p.field)
    out: dict[str, Any] = {
        "$schema": DIALECT,
        "title": form.label,
        "description": f"What the form {form.label!r} of {obj.label} accepts: the values of one record.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out
