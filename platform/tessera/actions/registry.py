"""The action registry: action types by name, their parameter schemas and checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from jsonschema import Draft202012Validator

from tessera.actions.context import ActionContext
from tessera.errors import FieldProblem, formula_problem
from tessera.formula import FormulaError, Schema, check
from tessera.meta.documents import schema_problems
from tessera.meta.model import ObjectDef
from tessera.registry import Registry


class ActionType:
    """One kind of action. Subclasses set `name`, `label` and `params` (the JSON Schema
    properties besides "action"), and implement `run`; `check` adds what the schema can't."""

    name: ClassVar[str]
    label: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    required: ClassVar[tuple[str, ...]] = ()

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["action", *self.required],
                "properties": {"action": {"const": self.name}, "label": {"type": "string"}, **self.params},
                "additionalProperties": False}

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        return []

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        raise NotImplementedError


_TYPES: Registry[ActionType] = Registry("action")


def register(action: ActionType, *, replace: bool = False) -> ActionType:
    """Make an action available to flows and rules (plugins register theirs too).

    A name already registered raises `DuplicateName` unless `replace`.
    """
    return _TYPES.register(action.name, action, replace=replace)


def action_type(name: str) -> ActionType | None:
    return _TYPES.get(name)


def action_types() -> dict[str, ActionType]:
    return _TYPES.as_dict()


def check_actions(steps: Sequence[Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
    """Problems of a list of actions at JSON pointer `path` (each action's own checks)."""
    problems: list[FieldProblem] = []
    for index, step in enumerate(steps):
        here = f"{path}/{index}"
        name = step.get("action") if isinstance(step, Mapping) else None
        kind = _TYPES.get(str(name))
        if kind is None:
            problems.append(FieldProblem(f"{here}/action", f"there is no action {name!r}; the actions are "
                                         + ", ".join(sorted(_TYPES)), "unknown_action"))
            continue
        found = schema_problems(Draft202012Validator(kind.json_schema()), step, here)
        problems += found or kind.check(step, obj, schema, here)
    return problems


def formula_problems(source: Any, obj: ObjectDef, schema: Schema, path: str,
                     expect: str | None = None) -> list[FieldProblem]:
    """A formula's problems as field problems at `path`."""
    try:
        check(str(source), obj, schema, expect)
    except FormulaError as error:
        return [formula_problem(path, error)]
    return []
