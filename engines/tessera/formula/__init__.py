"""Tessera's formula language: one Excel-like expression language for formula fields,
rollups, defaults, validation rules, conditions, list filters and report measures.

    checked = check("IF(amount > 10000, \\"big\\", \\"small\\")", deal, schema)
    evaluate(checked, {"amount": Decimal("12000")})            # → "big"
    fn = compile_python(checked); fn(record, ctx)               # the fast path, cached
    column = compile_sql(checked, "postgresql", table_for, ctx) # for sets of records
    where = compile_filter(check(text, deal, schema, expect="boolean"), "sqlite", table_for)

Pure (layer 1): it reads metadata (tessera.meta) and builds SQLAlchemy expressions, but
never touches a database; related records and tables come in through callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tessera.formula.checker import Aggregate, Checked, FieldRef, check
from tessera.formula.complete import Completion, complete
from tessera.formula.context import EvalContext, RowScope
from tessera.formula.errors import FormulaError
from tessera.formula.functions import Example, Function, all_functions, register, sig
from tessera.formula.functions import get as get_function
from tessera.formula.parser import MAX_DEPTH, MAX_LENGTH, parse
from tessera.formula.pycompile import Evaluator, compile_python
from tessera.formula.reads import Read, Step, reads
from tessera.formula.rename import rename_field
from tessera.formula.schema import USER_OBJECT, Schema, SimpleSchema
from tessera.formula.sqlcompile import (
    clock_params,
    compile_filter,
    compile_filter_grouped,
    compile_sql,
    compile_store,
)
from tessera.formula.sqlite import register_sqlite_functions

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "USER_OBJECT",
    "Aggregate",
    "Checked",
    "Completion",
    "EvalContext",
    "Evaluator",
    "Example",
    "FieldRef",
    "FormulaError",
    "Function",
    "Read",
    "RowScope",
    "Schema",
    "SimpleSchema",
    "Step",
    "all_functions",
    "check",
    "clock_params",
    "compile_filter",
    "compile_filter_grouped",
    "compile_python",
    "compile_sql",
    "compile_store",
    "complete",
    "evaluate",
    "get_function",
    "parse",
    "reads",
    "register",
    "register_sqlite_functions",
    "rename_field",
    "sig",
]


@lru_cache(maxsize=2048)
def _compiled(checked: Checked) -> Evaluator:
    return compile_python(checked)


def evaluate(checked: Checked, record: Mapping[str, Any], ctx: EvalContext | None = None) -> Any:
    """The formula's value for one record (compiling once per Checked, then cached).

    For hot loops take `compile_python(checked)` once and call it directly.
    """
    return _compiled(checked)(record, ctx)
