"""Logic functions: IF, IFS, SWITCH, AND, OR, NOT, XOR, ISBLANK, BLANKVALUE, COALESCE,
BLANK. Most are `special`: both compilers evaluate only the branch they need."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from tessera.formula.ast import Node
from tessera.formula.functions.registry import ArgError, Example, Function, register, same, sig
from tessera.formula.types import BLANK, BOOLEAN


def _if(types: Sequence[str], nodes: Sequence[Node]) -> str:
    if len(types) not in (2, 3):
        raise ArgError(None, "takes a condition, a value if true and optionally a value if false")
    _condition(types, 0)
    return same(types, 1)


def _condition(types: Sequence[str], index: int) -> None:
    if types[index] not in (BOOLEAN, BLANK):
        raise ArgError(index, f"argument {index + 1} must be a condition (TRUE or FALSE), not a {types[index]}")


def _ifs(types: Sequence[str], nodes: Sequence[Node]) -> str:
    if len(types) < 2:
        raise ArgError(None, "takes pairs of condition and value, then optionally a default")
    for i in range(0, len(types) - 1, 2):
        _condition(types, i)
    values = [types[i] for i in range(1, len(types), 2)]
    if len(types) % 2:
        values.append(types[-1])
    try:
        return same(values, 0)
    except ArgError as error:
        raise ArgError(None, "all values must have the same type: " + error.message) from None


def _switch(types: Sequence[str], nodes: Sequence[Node]) -> str:
    if len(types) < 3:
        raise ArgError(None, "takes a value, then pairs of match and result, then optionally a default")
    pairs = len(types) - 1
    same([types[0], *(types[i] for i in range(1, 1 + pairs - pairs % 2, 2))], 0)
    results = [types[i] for i in range(2, len(types), 2)]
    if pairs % 2:
        results.append(types[-1])
    return same(results, 0)


def _logic(types: Sequence[str], nodes: Sequence[Node]) -> str:
    if not types:
        raise ArgError(None, "takes at least 1 argument")
    for i in range(len(types)):
        _condition(types, i)
    return BOOLEAN


def _blank(types: Sequence[str], nodes: Sequence[Node]) -> str:
    if types:
        raise ArgError(None, "takes no arguments")
    return BLANK


register(Function(
    "IF", "logic", "IF(condition, value_if_true, [value_if_false])",
    "The first value when the condition is TRUE, else the second (blank if omitted). A blank "
    "condition counts as FALSE.",
    _if, special=True,
    examples=(Example('IF(amount > 1000, "big", "small")', '"big" when amount is 1500'),
              Example("IF(ISBLANK(close_date), 0, 1)", "0 for a deal without a close date")),
))
register(Function(
    "IFS", "logic", "IFS(condition1, value1, [condition2, value2, …], [default])",
    "The value after the first TRUE condition; the default (or blank) when none is TRUE.",
    _ifs, special=True,
    examples=(Example('IFS(score >= 90, "A", score >= 80, "B", "C")', '"B" when score is 85'),),
))
register(Function(
    "SWITCH", "logic", "SWITCH(value, match1, result1, [match2, result2, …], [default])",
    "The result paired with the first match equal to the value; the default (or blank) when "
    "nothing matches. Matching uses `=`, so a blank value matches a blank match.",
    _switch, special=True,
    examples=(Example('SWITCH(stage, "won", 1, "lost", 0, 0.5)', '0.5 when stage is "proposal"'),),
))
register(Function(
    "AND", "logic", "AND(condition1, [condition2, …])",
    "TRUE when every condition is TRUE. Also written `a AND b` or `a && b`.",
    _logic, special=True,
    examples=(Example('AND(amount > 0, stage = "won")', "TRUE for a won deal with an amount"),),
))
register(Function(
    "OR", "logic", "OR(condition1, [condition2, …])",
    "TRUE when at least one condition is TRUE. Also written `a OR b` or `a || b`.",
    _logic, special=True,
    examples=(Example('OR(stage = "won", stage = "lost")', "TRUE for a closed deal"),),
))
register(Function(
    "NOT", "logic", "NOT(condition)",
    "TRUE when the condition is FALSE or blank. Also written `NOT a` or `!a`.",
    sig("boolean", returns=BOOLEAN), special=True,
    examples=(Example("NOT(is_active)", "TRUE for an inactive record"),),
))
register(Function(
    "XOR", "logic", "XOR(condition1, condition2, […])",
    "TRUE when an odd number of the conditions are TRUE.",
    _logic, python=lambda *values: sum(bool(v) for v in values) % 2 == 1,
    postgres=lambda args: sa.func.mod(sum((sa.cast(sa.func.coalesce(a.expr, sa.false()), sa.Integer)
                                           for a in args[1:]), sa.cast(sa.func.coalesce(args[0].expr, sa.false()),
                                                                       sa.Integer)), 2) == 1,
    examples=(Example("XOR(TRUE, FALSE)", "TRUE"), Example("XOR(TRUE, TRUE)", "FALSE")),
    pure=True,
))
register(Function(
    "ISBLANK", "logic", "ISBLANK(value)",
    "TRUE when the value is blank: an empty field, an empty text, an empty list. A checkbox is "
    "never blank.",
    sig("any", returns=BOOLEAN), special=True,
    examples=(Example("ISBLANK(phone)", "TRUE when no phone number was entered"),
              Example('ISBLANK("")', "TRUE")),
))
register(Function(
    "BLANKVALUE", "logic", "BLANKVALUE(value, fallback)",
    "The value, or the fallback when the value is blank.",
    sig("any", "any", returns="=same"), special=True,
    examples=(Example("BLANKVALUE(discount, 0)", "0 when no discount was entered"),),
))
register(Function(
    "COALESCE", "logic", "COALESCE(value1, value2, […])",
    "The first value that is not blank.",
    sig("any", "any*", returns="=same"), special=True,
    examples=(Example("COALESCE(mobile, phone, \"none\")", '"none" when both are blank'),),
))
register(Function(
    "BLANK", "logic", "BLANK()",
    "The blank value: no value at all.",
    _blank, special=True,
    examples=(Example('IF(amount > 0, amount, BLANK())', "blank for a zero amount"),),
))
