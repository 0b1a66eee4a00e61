"""The syntax tree of a formula, annotated in place by the type checker.

Nodes carry their span in the source (`start`, `end`) so every later error can point at
the character, and `depth` so the parser can refuse formulas nested too deeply before any
recursive pass runs over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Node:
    start: int
    end: int
    depth: int = field(default=1, init=False)
    #: The formula type the checker gave this node ("number", "text", …, or "blank").
    type: str = field(default="", init=False)

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(eq=False)
class Literal(Node):
    """A number (Decimal), a text, TRUE/FALSE; `value` None is BLANK()."""

    value: Any = None
    kind: str = "blank"


@dataclass(eq=False)
class Path(Node):
    """A field reference or a path through lookups: `amount`, `account.owner.email`,
    `$user.email`, or a child list inside an aggregate: `deals.amount`."""

    parts: tuple[str, ...] = ()
    #: Where each part starts in the source, for errors and renames.
    offsets: tuple[int, ...] = ()
    context: bool = False
    #: Filled by the checker: how each part resolves (see checker.Resolved).
    resolved: Any = None


@dataclass(eq=False)
class Unary(Node):
    op: str = "-"
    operand: Node = None  # type: ignore[assignment]

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(eq=False)
class Binary(Node):
    op: str = "+"
    left: Node = None  # type: ignore[assignment]
    right: Node = None  # type: ignore[assignment]
    #: Where the operator is, so errors point at it rather than at the left operand.
    op_pos: int = 0

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(eq=False)
class Call(Node):
    name: str = ""
    args: tuple[Node, ...] = ()
    #: Filled by the checker: the Function spec, and for aggregates the child relation.
    func: Any = None
    aggregate: Any = None

    def children(self) -> tuple[Node, ...]:
        return self.args


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children (iteratively)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.children()))
    return out
