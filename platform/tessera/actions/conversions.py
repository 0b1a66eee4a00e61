"""The `convert` action: run a conversion on the record a flow or rule is about (a won quote
creates its order when approved; a qualified lead becomes an account, a contact and a deal).

`{"action": "convert", "conversion": "quote_to_order"}`. The conversion runs in the step's
transaction through the save pipeline, like the conversion button; the runtime hands it in
as `ctx.extras["convert"]` (this layer never imports the runtime above it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.actions.context import ActionContext, ActionError
from tessera.actions.registry import ActionType, register
from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta.model import ObjectDef


class Convert(ActionType):
    name = "convert"
    label = "Convert the record"
    params = {"conversion": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$",
                             "description": "the conversion document to run (its api_name)"}}
    required = ("conversion",)

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        documents = getattr(schema, "documents", None)
        known = documents("conversions") if documents is not None else None
        if known is None:
            return []  # checked again when it runs
        name = str(step["conversion"])
        found = known.get(name)
        if found is None:
            return [FieldProblem(f"{path}/conversion", f"there is no conversion named {name!r}", "unknown_conversion")]
        if found.get("object") != obj.api_name:
            return [FieldProblem(f"{path}/conversion", f"{name!r} converts {found.get('object')} records, not "
                                 f"{obj.api_name} records", "wrong_object")]
        return []

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if ctx.record_id is None:
            raise ActionError("there is no record to convert")
        convert = ctx.extras.get("convert")
        if convert is None:
            raise ActionError("conversions are not available here")
        result = convert(str(step["conversion"]), ctx.object, ctx.record_id)
        created: dict[str, list[int]] = {}
        for made in result["records"]:
            if made["outcome"] == "created":
                created.setdefault(made["object"], []).append(made["id"])
        return {"converted": result["conversion"], "created": created,
                "records": [{k: r[k] for k in ("key", "object", "id", "outcome")} for r in result["records"]]}


register(Convert())
