"""`mask_iban`: an action for flows and rules that writes an IBAN, masked, into a text field
of the record (for e-mails and lists that must not show the whole number)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.actions import ActionType
from tessera.actions.context import ActionContext, ActionError
from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta.model import ObjectDef
from tessera_example.iban import masked


class MaskIban(ActionType):
    name = "mask_iban"
    label = "Write the IBAN masked into a field"
    params = {"field": {"type": "string", "description": "the IBAN field"},
              "into": {"type": "string", "description": "the text field to write the masked IBAN into"}}
    required = ("field", "into")

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        problems = []
        source, target = obj.field(str(step["field"])), obj.field(str(step["into"]))
        if source is None or source.type != "iban":
            problems.append(FieldProblem(f"{path}/field", f"{obj.label} has no IBAN field {step['field']!r}"))
        if target is None or target.type != "text":
            problems.append(FieldProblem(f"{path}/into", f"{obj.label} has no text field {step['into']!r}"))
        return problems

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if ctx.record_id is None or ctx.record is None:
            raise ActionError("there is no record to mask the IBAN of")
        iban = ctx.record.get(step["field"])
        value = masked(str(iban)) if iban else None
        ctx.update(ctx.object, ctx.record_id, {step["into"]: value})
        return {"updated": {ctx.object: [ctx.record_id]}, "values": {step["into"]: value}}
