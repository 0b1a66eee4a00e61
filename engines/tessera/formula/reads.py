"""What a checked formula reads, and along which relations: the input of keeping stored
formulas current. `amount * account.discount` reads `amount` on the record itself and
`discount` on the record its `account` lookup points at; `SUM(deals.amount)` reads which
deals point at the record (their lookup and their existence) and each deal's `amount`.

Each read carries the path from the formula's record to the record read, so a change to a
record can be walked backwards to the formula records it affects.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.formula.ast import Call, Node, Path
from tessera.formula.checker import Checked
from tessera.formula.schema import is_user_object
from tessera.meta.model import FieldDef, ObjectDef


@dataclass(frozen=True, eq=False)
class Step:
    """One relation on a path. `up`: from a record of `parent` through its lookup `field`
    to the target. `down`: from a `parent` record to the `child` records whose lookup
    `field` points at it."""

    kind: str  # "up" | "down"
    parent: ObjectDef
    field: FieldDef
    child: ObjectDef | None = None


@dataclass(frozen=True, eq=False)
class Read:
    """`field` of `object` (None: which records exist, for aggregates), reached along `path`."""

    path: tuple[Step, ...]
    object: ObjectDef
    field: FieldDef | None


def reads(checked: Checked) -> list[Read]:
    """Every field the formula reads, with the path it is reached by ($user excluded)."""
    out: list[Read] = []
    _visit(checked.tree, checked.object, (), out)
    return out


def _visit(node: Node, obj: ObjectDef, inside: tuple[Step, ...], out: list[Read]) -> None:
    """`inside` is the path to the children of the aggregate being visited (aggregates do
    not nest); paths of the record itself start from nothing."""
    if isinstance(node, Call) and node.aggregate is not None:
        agg = node.aggregate
        inner = (Step("down", obj, agg.lookup, agg.child),)
        # Which children there are: their lookup, and their coming and going.
        out.append(Read(inner, agg.child, None))
        out.append(Read(inner, agg.child, agg.lookup))
        for arg in node.args:
            _visit(arg, obj, inner, out)
        return
    if isinstance(node, Path) and node.resolved is not None:
        resolved = node.resolved
        if resolved.kind == "context":
            return
        path = inside if resolved.kind == "child" else ()
        for hop_obj, hop_field in resolved.hops:
            if is_user_object(hop_obj):
                return
            out.append(Read(path, hop_obj, hop_field))
            path = (*path, Step("up", hop_obj, hop_field))
        return
    for child in node.children():
        _visit(child, obj, inside, out)
