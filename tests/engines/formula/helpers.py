"""Running one formula everywhere and comparing the answers."""

from __future__ import annotations

from typing import Any

from tessera.formula import check, compile_sql, evaluate
from tessera.meta.model import ObjectDef

from .conftest import DEAL, SCHEMA, Backend, PythonSide


def in_python(formula: str, py: PythonSide, obj: ObjectDef = DEAL) -> list[Any]:
    checked = check(formula, obj, SCHEMA)
    ctx = py.context()
    rows = py.deals if obj is DEAL else list(py.accounts.values())
    return [evaluate(checked, row, ctx) for row in rows]


def in_sql(formula: str, backend: Backend, py: PythonSide, obj: ObjectDef = DEAL) -> list[Any]:
    checked = check(formula, obj, SCHEMA)
    column = compile_sql(checked, backend.dialect, backend.table_for, py.context())
    return backend.values(column, obj)


def same(a: Any, b: Any) -> bool:
    """Equal as formula values: Decimals by value, lists and None exactly."""
    return (a == b and type(a) is type(b)) or (a is None and b is None)
