"""The type checker: gives every node of a formula its type against an object's fields.

It resolves paths through lookups (`account.owner.email`), users (`$user.email`) and child
lists inside aggregates (`SUM(deals.amount)`), checks operators and function arguments,
and reports every problem with the character it is at and the nearest name that exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tessera.formula.ast import Binary, Call, Literal, Node, Path, Unary, walk
from tessera.formula.errors import FormulaError, combine, nearest
from tessera.formula.functions import registry
from tessera.formula.parser import parse
from tessera.formula.schema import USER_OBJECT, Schema, child_lists, field_names, find_field
from tessera.formula.types import (
    BLANK,
    BOOLEAN,
    DATE,
    DATETIME,
    DURATION,
    JSON,
    LIST,
    NUMBER,
    ORDERED,
    RECORD,
    TEXT,
    article,
    unify,
)
from tessera.meta.model import FieldDef, ObjectDef

#: The type of a node whose error was already reported (so one mistake is reported once).
ERROR = "?"
AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX")
CONTEXT_VALUES = ("user",)


@dataclass(frozen=True)
class FieldRef:
    """A field a formula reads: `field` of `object`, named at source[start:end]."""

    object: ObjectDef
    field: FieldDef
    start: int
    end: int


@dataclass
class Resolved:
    """How a path resolved: each hop is (object, field) read in turn from `base`."""

    kind: str  # "field" | "context" | "child"
    base: ObjectDef
    hops: list[tuple[ObjectDef, FieldDef]]
    type: str
    #: For record-typed results, the object the id belongs to.
    target: ObjectDef | None = None


@dataclass
class Aggregate:
    """An aggregate over child records: `function(children.value, condition)`."""

    function: str
    relation: str
    child: ObjectDef
    lookup: FieldDef
    value: Node | None
    condition: Node | None


@dataclass(eq=False)
class Checked:
    """A type-checked formula, ready for either compiler."""

    source: str
    tree: Node
    type: str
    object: ObjectDef
    references: list[FieldRef] = field(default_factory=list)
    #: Reads the clock (TODAY, NOW): stored results go stale.
    volatile: bool = False
    #: Uses ISNEW, ISCHANGED or PRIORVALUE: only meaningful in rules, not in SQL.
    change_context: bool = False
    aggregates: bool = False
    uses_user: bool = False
    #: (child object, lookup field) of every child list an aggregate reads.
    relations: list[tuple[ObjectDef, FieldDef]] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        """api_names of this object's own fields the formula reads (without lookups)."""
        out: list[str] = []
        for ref in self.references:
            if ref.object is self.object and ref.field.api_name not in out:
                out.append(ref.field.api_name)
        return out


def field_type(f: FieldDef) -> str:
    """A field's type in formulas; computed fields (formula, rollup) say theirs in props."""
    declared = f.props.get("formula_type")
    if declared:
        return str(declared)
    if f.type == "attachment":
        return JSON
    return f.ftype.formula_type


def record_target(f: FieldDef, schema: Schema) -> ObjectDef | None:
    if f.type == "lookup":
        return schema.object(str(f.props.get("target", "")))
    if field_type(f) == RECORD:
        return USER_OBJECT
    return None


class _Checker:
    def __init__(self, source: str, obj: ObjectDef, schema: Schema) -> None:
        self.source = source
        self.obj = obj
        self.schema = schema
        self.errors: list[FormulaError] = []
        self.result = Checked(source, Literal(0, 0), BLANK, obj)
        self.scope: tuple[str, ObjectDef, FieldDef] | None = None
        self._children: dict[str, tuple[ObjectDef, FieldDef]] | None = None

    @property
    def children(self) -> dict[str, tuple[ObjectDef, FieldDef]]:
        if self._children is None:
            self._children = child_lists(self.schema, self.obj)
        return self._children

    def error(self, message: str, start: int, end: int | None = None, suggestion: str | None = None) -> str:
        self.errors.append(FormulaError(message, self.source, start, end, suggestion))
        return ERROR

    # -- nodes --------------------------------------------------------------------------

    def visit(self, node: Node) -> str:
        if isinstance(node, Literal):
            t = node.kind if node.kind != "blank" else BLANK
        elif isinstance(node, Path):
            t = self.path(node)
        elif isinstance(node, Unary):
            t = self.unary(node)
        elif isinstance(node, Binary):
            t = self.binary(node)
        elif isinstance(node, Call):
            t = self.call(node)
        else:  # pragma: no cover - the parser makes no other nodes
            raise TypeError(type(node))
        node.type = t
        return t

    def path(self, node: Path) -> str:
        parts = node.parts
        if node.context:
            if parts[0] not in CONTEXT_VALUES:
                return self.error(f'unknown value "${parts[0]}"', node.start, node.offsets[0] + len(parts[0]),
                                  "$" + (nearest(parts[0], CONTEXT_VALUES) or "user"))
            self.result.uses_user = True
            return self.walk_path(node, "context", USER_OBJECT, 1, [], RECORD, USER_OBJECT)
        first = parts[0]
        if self.scope is not None and first == self.scope[0]:
            if len(parts) == 1:
                return self.error(f'"{first}" is the list itself; name one of its fields, like {first}.'
                                  + (self.scope[1].fields[0].api_name if self.scope[1].fields else "id"),
                                  node.start, node.end)
            return self.walk_path(node, "child", self.scope[1], 1, [], RECORD, self.scope[1])
        found = find_field(self.obj, first)
        if found is None and first in self.children:
            return self.error(f'"{first}" is a list of related records: use it inside COUNT, SUM, AVG, MIN '
                              "or MAX, like COUNT(" + first + ")", node.start, node.end)
        if found is None:
            return self.unknown_field(self.obj, first, node.offsets[0], extra=list(self.children))
        return self.walk_path(node, "field", self.obj, 0, [], "", None)

    def unknown_field(self, obj: ObjectDef, name: str, start: int, extra: Sequence[str] = ()) -> str:
        candidates = [*field_names(obj), *extra]
        hint = nearest(name, candidates)
        if hint is None and registry.get(name):
            return self.error(f'"{name}" is a function: write it with parentheses, like {name.upper()}()',
                              start, start + len(name))
        where = "" if obj is self.obj else f" on {obj.label}"
        return self.error(f'unknown field "{name}"{where}', start, start + len(name), hint)

    def walk_path(self, node: Path, kind: str, base: ObjectDef, index: int,
                  hops: list[tuple[ObjectDef, FieldDef]], t: str, target: ObjectDef | None) -> str:
        current = base
        for i in range(index, len(node.parts)):
            name, offset = node.parts[i], node.offsets[i]
            if i > index or kind != "field":
                if t != RECORD or target is None:
                    prev = node.parts[i - 1]
                    return self.error(f'"{prev}" is not a lookup, so ".{name}" cannot follow it', offset - 1,
                                      offset + len(name))
                current = target
            f = find_field(current, name)
            if f is None:
                return self.unknown_field(current, name, offset)
            hops.append((current, f))
            self.result.references.append(FieldRef(current, f, offset, offset + len(name)))
            t = field_type(f)
            target = record_target(f, self.schema) if t == RECORD else None
            if t == RECORD and f.type == "lookup" and target is None:
                return self.error(f'the lookup "{name}" points at an object that does not exist', offset,
                                  offset + len(name))
        node.resolved = Resolved(kind, base, hops, t, target)
        return t

    def unary(self, node: Unary) -> str:
        t = self.visit(node.operand)
        if t == ERROR:
            return ERROR
        if node.op == "NOT":
            return BOOLEAN if t in (BOOLEAN, BLANK) else self.error(
                f"NOT needs a condition, not {article(t)}", node.start, node.operand.end)
        if t in (NUMBER, DURATION, BLANK):
            return NUMBER if t == BLANK else t
        return self.error(f'cannot put "{node.op}" before {article(t)}', node.start, node.start + 1)

    def binary(self, node: Binary) -> str:
        a, b = self.visit(node.left), self.visit(node.right)
        if ERROR in (a, b):
            return ERROR
        op = node.op
        here = (node.op_pos, node.op_pos + len(op))
        if op in ("AND", "OR"):
            for side, t in ((node.left, a), (node.right, b)):
                if t not in (BOOLEAN, BLANK):
                    return self.error(f"{op} needs conditions on both sides, not {article(t)}", side.start, side.end)
            return BOOLEAN
        if op == "&":
            return TEXT
        if op in ("=", "<>", "<", "<=", ">", ">="):
            common = unify(a, b)
            if common is None:
                return self.error(f"cannot compare {article(a)} with {article(b)}", *here)
            if op not in ("=", "<>") and common not in ORDERED and common != BLANK:
                return self.error(f'"{op}" does not apply to {article(common)}', *here)
            if common == JSON and op in ("=", "<>"):
                return self.error(f"cannot compare {article(common)} values", *here)
            if op in ("=", "<>"):
                return self.option_compared(node) or BOOLEAN
            return BOOLEAN
        result = _ARITHMETIC.get((op, a, b))
        if result is None:
            if (a == BLANK or b == BLANK) and op in "+-*/":
                other = b if a == BLANK else a
                if other in (NUMBER, BLANK) or (op in "+-" and other in (DATE, DATETIME, DURATION)):
                    return NUMBER if other == BLANK else other
            hint = " (use & to join texts)" if TEXT in (a, b) and op == "+" else ""
            return self.error(f'cannot use "{op}" on {article(a)} and {article(b)}{hint}', *here)
        return result

    def option_compared(self, node: Binary) -> str | None:
        """A select compared with a text that is none of its options is never true: say so,
        naming the option meant (`status = "Lost"` → "lost", by label or by case)."""
        for side, other in ((node.left, node.right), (node.right, node.left)):
            resolved = getattr(side, "resolved", None) if isinstance(side, Path) else None
            if resolved is None or not resolved.hops or not isinstance(other, Literal) or other.kind != "text":
                continue
            field = resolved.hops[-1][1]
            options = field.props.get("options") if field.type == "select" else None
            if not options or not other.value:
                continue
            values = [str(o.get("value")) for o in options if isinstance(o, dict)]
            if other.value in values:
                continue
            wanted = str(other.value).strip().casefold()
            meant = next((str(o.get("value")) for o in options if isinstance(o, dict) and wanted in
                          (str(o.get("value", "")).casefold(), str(o.get("label") or "").casefold())), None)
            meant = meant or nearest(str(other.value), values)
            shown = ", ".join(f'"{v}"' for v in values[:8]) + (", …" if len(values) > 8 else "")
            hint = f'; did you mean "{meant}"?' if meant else ""
            return self.error(f'"{other.value}" is not an option of {field.label} ({shown}){hint}',
                              other.start, other.end, f'"{meant}"' if meant else None)
        return None

    def call(self, node: Call) -> str:
        spec = registry.get(node.name)
        name_end = node.start + len(node.name)
        if spec is None:
            hint = nearest(node.name, registry.all_functions())
            for arg in node.args:
                self.visit(arg)
            return self.error(f'unknown function "{node.name}"', node.start, name_end, hint)
        node.func = spec
        if spec.volatile:
            self.result.volatile = True
        if spec.change_context:
            self.result.change_context = True
        if node.name in AGGREGATES:
            relation = self.aggregate_relation(node)
            if relation is not None:
                return self.aggregate(node, spec, relation)
            if node.name in ("COUNT", "AVG"):
                for arg in node.args:
                    self.visit(arg)
                example = next(iter(self.children), "children")
                return self.error(f"{node.name} works on a list of related records, like {node.name}({example}"
                                  + (")" if node.name == "COUNT" else ".amount)"), node.start, name_end)
        types = [self.visit(arg) for arg in node.args]
        if ERROR in types:
            return ERROR
        try:
            return spec.typer(types, node.args)
        except registry.ArgError as problem:
            if problem.index is not None and problem.index < len(node.args):
                arg = node.args[problem.index]
                return self.error(f"{node.name}: {problem.message}", arg.start, arg.end)
            return self.error(f"{node.name} {problem.message}", node.start, name_end)

    # -- aggregates -----------------------------------------------------------------------

    def aggregate_relation(self, node: Call) -> str | None:
        """The child list an aggregate call runs over, if it is one."""
        if not node.args:
            return None
        for sub in walk(node.args[0]):
            if isinstance(sub, Path) and not sub.context and find_field(self.obj, sub.parts[0]) is None \
                    and sub.parts[0] in self.children:
                return sub.parts[0]
        return None

    def aggregate(self, node: Call, spec: registry.Function, relation: str) -> str:
        name_end = node.start + len(node.name)
        if self.scope is not None:
            return self.error("aggregates cannot be nested inside one another", node.start, name_end)
        child, lookup = self.children[relation]
        args = node.args
        if len(args) > 2:
            return self.error(f"{node.name} takes the children and optionally a condition", node.start, name_end)
        self.result.aggregates = True
        value: Node | None = args[0]
        if node.name == "COUNT":
            if not (isinstance(args[0], Path) and args[0].parts == (relation,)):
                return self.error(f"COUNT counts records: write COUNT({relation}) or COUNT({relation}, condition)",
                                  args[0].start, args[0].end)
            value = None
        self.scope = (relation, child, lookup)
        try:
            t = self.visit(value) if value is not None else NUMBER
            c = self.visit(args[1]) if len(args) > 1 else BOOLEAN
        finally:
            self.scope = None
        if ERROR in (t, c):
            return ERROR
        if c not in (BOOLEAN, BLANK):
            return self.error(f"the condition of {node.name} must be TRUE or FALSE, not {article(c)}",
                              args[1].start, args[1].end)
        if node.name in ("SUM", "AVG") and t not in (NUMBER, BLANK):
            return self.error(f"{node.name} adds numbers, not {article(t)}", args[0].start, args[0].end)
        if node.name in ("MIN", "MAX") and t not in (NUMBER, DATE, DATETIME, DURATION):
            return self.error(f"{node.name} compares numbers, dates or durations, not {article(t)}",
                              args[0].start, args[0].end)
        node.aggregate = Aggregate(node.name, relation, child, lookup, value, args[1] if len(args) > 1 else None)
        self.result.relations.append((child, lookup))
        return NUMBER if node.name in ("COUNT", "SUM", "AVG") else t


_ARITHMETIC: dict[tuple[str, str, str], str] = {
    ("+", NUMBER, NUMBER): NUMBER, ("-", NUMBER, NUMBER): NUMBER,
    ("*", NUMBER, NUMBER): NUMBER, ("/", NUMBER, NUMBER): NUMBER,
    ("+", DATE, NUMBER): DATE, ("+", NUMBER, DATE): DATE, ("-", DATE, NUMBER): DATE,
    ("-", DATE, DATE): NUMBER,
    ("-", DATETIME, DATETIME): DURATION,
    ("+", DATETIME, DURATION): DATETIME, ("+", DURATION, DATETIME): DATETIME, ("-", DATETIME, DURATION): DATETIME,
    ("+", DURATION, DURATION): DURATION, ("-", DURATION, DURATION): DURATION,
}


def check(source: str, obj: ObjectDef, schema: Schema, expect: str | None = None) -> Checked:
    """Parse and type-check `source` as a formula on records of `obj`.

    `expect` is the type the caller needs ("boolean" for rules and filters, the field's
    type for formula fields and defaults); blank always fits. Raises FormulaError listing
    every problem found (`error.errors`).
    """
    tree = parse(source)
    checker = _Checker(source, obj, schema)
    t = checker.visit(tree)
    if not checker.errors and expect is not None and t not in (expect, BLANK):
        checker.error(f"the formula must give {article(expect)}, but it gives {article(t)}", 0, len(source))
    if checker.errors:
        checker.errors.sort(key=lambda e: e.pos or 0)
        raise combine(checker.errors)
    result = checker.result
    result.tree = tree
    result.type = t
    return result


__all__ = ["AGGREGATES", "LIST", "Aggregate", "Checked", "FieldRef", "Resolved", "check", "field_type"]
