"""List functions (multi-select values), change context for rules (ISNEW, ISCHANGED,
PRIORVALUE) and aggregates over child records (COUNT, AVG; SUM, MIN and MAX also take a
child list, see numbers.py)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa

from tessera.formula.ast import Node, Path
from tessera.formula.functions.registry import ArgError, Example, Function, register, sig
from tessera.formula.types import BOOLEAN, LIST, NUMBER

register(Function(
    "INCLUDES", "lists", "INCLUDES(list, value)", "TRUE when the multi-select list holds the value.",
    sig(LIST, "text", returns=BOOLEAN), python=lambda lst, v: v is not None and v in (lst or ()),
    postgres=lambda a: sa.func.coalesce(a[0].expr.op("@>")(sa.func.jsonb_build_array(a[1].expr)), sa.false()),
    examples=(Example('INCLUDES(tags, "vip")', "TRUE when tags include vip"),),
    pure=True,
))
register(Function(
    "COUNTITEMS", "lists", "COUNTITEMS(list)", "How many items the list holds; 0 for blank.",
    sig(LIST, returns=NUMBER), python=lambda lst: Decimal(len(lst or ())),
    postgres=lambda a: sa.cast(sa.func.coalesce(sa.func.jsonb_array_length(a[0].expr), 0), sa.Numeric()),
    examples=(Example("COUNTITEMS(tags)", "2 for two tags"),),
    pure=True,
))


def _field_arg(types: Sequence[str], nodes: Sequence[Node], result: str | None) -> str:
    if len(nodes) != 1 or not isinstance(nodes[0], Path) or nodes[0].context or len(nodes[0].parts) != 1:
        raise ArgError(0 if nodes else None, "takes one field of this record, like ISCHANGED(stage)")
    return result or types[0]


register(Function(
    "ISNEW", "change", "ISNEW()", "TRUE while a record is being created (only in rules).",
    sig(returns=BOOLEAN), special=True, change_context=True,
    examples=(Example('AND(ISNEW(), amount > 100000)', "TRUE for a big deal being created"),),
))
register(Function(
    "ISCHANGED", "change", "ISCHANGED(field)",
    "TRUE when this save changes the field (only in rules; FALSE while creating).",
    lambda types, nodes: _field_arg(types, nodes, BOOLEAN), special=True, change_context=True,
    examples=(Example('AND(ISCHANGED(stage), stage = "lost")', "TRUE when a deal is just lost"),),
))
register(Function(
    "PRIORVALUE", "change", "PRIORVALUE(field)",
    "The field's value before this save (only in rules; blank while creating).",
    lambda types, nodes: _field_arg(types, nodes, None), special=True, change_context=True,
    examples=(Example("amount < PRIORVALUE(amount)", "TRUE when the amount goes down"),),
))
register(Function(
    "COUNT", "aggregates", "COUNT(children, [condition])",
    "How many child records (live ones) there are, or how many meet the condition. `children` is "
    "the related name of a lookup pointing at this object.",
    lambda types, nodes: NUMBER, special=True,
    examples=(Example("COUNT(deals)", "3 for an account with three deals"),
              Example('COUNT(deals, deals.stage = "won")', "the number of won deals")),
))
register(Function(
    "AVG", "aggregates", "AVG(children.value, [condition])",
    "The average of the children's values that are not blank (rounded to 10 places); blank when "
    "there are none.", lambda types, nodes: NUMBER, special=True,
    examples=(Example("AVG(deals.amount, deals.stage = \"won\")", "the average won amount"),),
))
