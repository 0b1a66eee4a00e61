"""Record actions: update the record, update related records, create a record.

Values are formulas over the record the flow or rule is about (`amount * 0.9`,
`account.owner`, `"New"`), saved through the save pipeline like any other write: the
target's validation rules, permissions of the platform, history and events all apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.actions.context import ActionContext, ActionError
from tessera.actions.registry import ActionType, formula_problems, register
from tessera.errors import FieldProblem, formula_problem
from tessera.formula import FormulaError, Schema, check
from tessera.formula.schema import child_lists
from tessera.meta.model import ObjectDef

_SET = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string", "minLength": 1}}


def _set_problems(values: Mapping[str, Any], target: ObjectDef, source: ObjectDef, schema: Schema,
                  path: str) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for name, formula in values.items():
        fdef = target.field(name)
        if fdef is None and name == "owner":  # every record's owner: a person (or a user's id)
            problems += _owner_problems(formula, source, schema, f"{path}/{name}")
        elif fdef is None:
            problems.append(FieldProblem(f"{path}/{name}", f"{target.api_name} has no field {name!r}", "unknown_field"))
        elif fdef.computed:
            problems.append(FieldProblem(f"{path}/{name}", f"{name!r} is computed and cannot be set", "read_only"))
        else:
            problems += formula_problems(formula, source, schema, f"{path}/{name}")
    return problems


def _owner_problems(formula: str, source: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
    try:
        checked = check(str(formula), source, schema)
    except FormulaError as error:
        return [formula_problem(path, error)]
    if checked.type not in ("record", "number", "blank"):
        return [FieldProblem(path, f"the owner is a person: the formula gives a {checked.type}", "type")]
    return []


def _values(ctx: ActionContext, values: Mapping[str, str], obj: str,
            record: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {}
    for name, formula in values.items():
        value = ctx.evaluate(formula, obj, record)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else (
            str(value) if value is not None and not isinstance(value, bool | int | float | str | list) else value)
    return out


class UpdateRecord(ActionType):
    name = "update_record"
    label = "Update the record"
    params = {"set": _SET}
    required = ("set",)

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        return _set_problems(step["set"], obj, obj, schema, f"{path}/set")

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if ctx.record_id is None:
            raise ActionError("there is no record to update")
        values = _values(ctx, step["set"], ctx.object, ctx.record)
        ctx.update(ctx.object, ctx.record_id, values)
        return {"updated": {ctx.object: [ctx.record_id]}, "values": values}


class UpdateRelated(ActionType):
    name = "update_related"
    label = "Update related records"
    params = {"relation": {"type": "string"}, "where": {"type": "string"}, "set": _SET}
    required = ("relation", "set")

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        target = _related_object(step["relation"], obj, schema)
        if target is None:
            return [FieldProblem(f"{path}/relation", f"{obj.api_name} has no lookup or related list "
                                 f"{step['relation']!r}", "unknown_field")]
        problems = _set_problems(step["set"], target, target, schema, f"{path}/set")
        if step.get("where"):
            problems += formula_problems(step["where"], target, schema, f"{path}/where", "boolean")
        return problems

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if ctx.record_id is None:
            raise ActionError("there is no record whose related records to update")
        target, rows = ctx.related(ctx.object, step["relation"], ctx.record_id)
        done = []
        for row in rows:
            if step.get("where") and ctx.evaluate(step["where"], target, row) is not True:
                continue
            ctx.update(target, int(row["id"]), _values(ctx, step["set"], target, row))
            done.append(int(row["id"]))
        return {"updated": {target: done}}


def _related_object(relation: str, obj: ObjectDef, schema: Schema) -> ObjectDef | None:
    fdef = obj.field(relation)
    if fdef is not None and fdef.type == "lookup":
        return schema.object(str(fdef.props.get("target")))
    found = child_lists(schema, obj).get(relation)
    return found[0] if found else None


class CreateRecord(ActionType):
    name = "create_record"
    label = "Create a record"
    params = {"object": {"type": "string"}, "values": _SET | {"minProperties": 0}}
    required = ("object", "values")

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        target = schema.object(step["object"])
        if target is None:
            return [FieldProblem(f"{path}/object", f"there is no object {step['object']!r}", "unknown_object")]
        return _set_problems(step["values"], target, obj, schema, f"{path}/values")

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        created = ctx.create(step["object"], _values(ctx, step["values"], ctx.object, ctx.record))
        return {"created": {step["object"]: [created["id"]]}}


for _action in (UpdateRecord(), UpdateRelated(), CreateRecord()):
    register(_action)
