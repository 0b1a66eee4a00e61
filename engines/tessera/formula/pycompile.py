"""Compile a checked formula to a Python function evaluating one record.

The typed tree becomes the source of one small Python function, compiled once and cached:
straight-line expressions with walrus temporaries instead of a tree of closures, which is
what makes formulas cheap enough to run on every save. Nothing from the user's text
reaches that source: field names, literals and functions are bound as constants (`_c0`,
`_k1`, `_f2`) in the function's namespace, so a formula cannot reach Python objects,
attributes, imports or I/O.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from tessera.formula import values as V
from tessera.formula.ast import Binary, Call, Literal, Node, Path, Unary
from tessera.formula.checker import Aggregate, Checked, Resolved
from tessera.formula.context import EvalContext
from tessera.formula.errors import FormulaError
from tessera.formula.functions.registry import VARIES
from tessera.formula.types import BLANK, BOOLEAN, DATE, DATETIME, DURATION, LIST, NUMBER, TEXT

Evaluator = Callable[..., Any]
_RUNTIME_ERRORS = (ArithmeticError, OverflowError, ValueError, decimal.DecimalException, TypeError)


# -- helpers bound into generated code ----------------------------------------------------


def _as_bool(v: Any) -> bool:
    return bool(v)


def _norm(t: str) -> Callable[[Any], Any]:
    """How a stored value becomes a formula value of type t."""
    if t in (TEXT, LIST):
        return lambda v: v or None
    if t == BOOLEAN:
        return _as_bool
    if t == DATETIME:
        return lambda v: None if v is None else V.utc(v)
    return lambda v: v


def _follow(record: Any, ctx: EvalContext, hops: tuple[tuple[Any, str], ...], first: Any) -> Any:
    """Value at the end of a lookup path; `first` is the id read from the record."""
    value = first
    for obj, name in hops:
        if value is None:
            return None
        related = ctx.record(obj, value)
        if related is None:
            return None
        value = related.get(name)
    return value


def _date_plus(d: date | None, n: Any) -> date | None:
    if d is None or n is None:
        return None
    try:
        return d + timedelta(days=int(n))
    except OverflowError:
        return None


def _date_minus_date(a: date | None, b: date | None) -> Decimal | None:
    return None if a is None or b is None else Decimal((a - b).days)


def _dt_minus_dt(a: datetime | None, b: datetime | None) -> int | None:
    return None if a is None or b is None else int((a - b).total_seconds())


def _dt_plus(a: datetime | None, seconds: int | None) -> datetime | None:
    if a is None or seconds is None:
        return None
    try:
        return a + timedelta(seconds=seconds)
    except OverflowError:
        return None


_OPS: dict[tuple[str, str, str], Callable[[Any, Any], Any]] = {
    ("+", DATE, NUMBER): _date_plus,
    ("+", NUMBER, DATE): lambda n, d: _date_plus(d, n),
    ("-", DATE, NUMBER): lambda d, n: _date_plus(d, None if n is None else -V.num(n)),
    ("-", DATE, DATE): _date_minus_date,
    ("-", DATETIME, DATETIME): _dt_minus_dt,
    ("+", DATETIME, DURATION): _dt_plus,
    ("+", DURATION, DATETIME): lambda s, a: _dt_plus(a, s),
    ("-", DATETIME, DURATION): lambda a, s: _dt_plus(a, None if s is None else -s),
    ("+", DURATION, DURATION): lambda a, b: None if a is None or b is None else a + b,
    ("-", DURATION, DURATION): lambda a, b: None if a is None or b is None else a - b,
}


def _agg(kind: str, result_type: str) -> Callable[..., Any]:
    def run(ctx: EvalContext, agg: Aggregate, record: Any, value: Any, condition: Any) -> Any:
        rows = ctx.children(agg.child, agg.lookup, record.get("id"))
        picked = [row for row in rows if condition is None or condition(row, record, ctx)]
        if kind == "COUNT":
            return Decimal(len(picked))
        found = [v for v in (value(row, record, ctx) for row in picked) if v is not None]
        if kind == "SUM":
            total = V.ZERO
            for v in found:
                total = V.add(total, v)
            return total
        if not found:
            return None
        if kind == "AVG":
            total = V.ZERO
            for v in found:
                total = V.add(total, v)
            return V.div(total, Decimal(len(found)))
        best = min(found) if kind == "MIN" else max(found)
        return V.num(best) if result_type == NUMBER else best

    return run


def _to_number(v: Any) -> Any:
    return None if v is None else V.num(v)


#: Values a constant may fold to: immutable, so one object can serve every call.
_FOLDABLE = (str, bool, int, Decimal, date, datetime, timedelta)
#: Operators folded when both sides are constant numbers (what the generated code calls).
_FOLD_OPS: dict[str, Callable[[Any, Any], Any]] = {"+": V.add, "-": V.sub, "*": V.mul}


class _Gen:
    """Turns a typed tree into Python source; every name it writes is generated here.

    With `fast` (the default) it also works out constant parts once (`DATE(2024, 1, 1)`),
    uses functions' specialised forms for constant arguments (`ROUND(x, 2)`, `x / 100`),
    writes simple text functions out inline and leaves out conversions the types make
    needless. `fast=False` is the plain translation the tests compare it with.
    """

    def __init__(self, checked: Checked, fast: bool = True) -> None:
        self.checked = checked
        self.fast = fast
        # The context's own methods: the same calls V.add… make, one Python frame fewer.
        self.ns: dict[str, Any] = {
            "_add": V.NUMBERS.add, "_sub": V.NUMBERS.subtract, "_mul": V.NUMBERS.multiply,
            "_neg": V.NUMBERS.minus, "_div": V.div, "_follow": _follow, "_to_number": _to_number,
            "_lower": str.lower, "_upper": str.upper, "_startswith": str.startswith, "_endswith": str.endswith,
        }
        self.defs: list[str] = []
        self.count = 0
        self.needs_ctx = False
        #: id(node) → its constant value (or _NOT_CONSTANT), worked out once per node.
        self.constants: dict[int, Any] = {}
        #: ids of nodes whose generated code always gives a Decimal or None.
        self.decimals: set[int] = set()

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"_{prefix}{self.count}"

    def const(self, value: Any) -> str:
        name = self.name("c")
        self.ns[name] = value
        return name

    def tmp(self) -> str:
        return self.name("t")

    # -- expressions -------------------------------------------------------------------

    # -- constants ---------------------------------------------------------------------

    def constant(self, node: Node) -> Any:
        """The node's value when it is the same for every record, else _NOT_CONSTANT."""
        if isinstance(node, Literal):
            return node.value or None if node.kind == "text" else node.value
        if not self.fast or isinstance(node, Path):
            return _NOT_CONSTANT
        key = id(node)
        if key not in self.constants:
            value = _NOT_CONSTANT
            try:
                value = self.fold(node)
            except Exception:  # it fails again at run time, where it is reported
                value = _NOT_CONSTANT
            if value is not None and value is not _NOT_CONSTANT and not isinstance(value, _FOLDABLE):
                value = _NOT_CONSTANT
            self.constants[key] = value
        return self.constants[key]

    def fold(self, node: Node) -> Any:
        """Compute a constant node with the very functions the generated code would call."""
        if isinstance(node, Unary):
            inner = self.constant(node.operand)
            if inner is _NOT_CONSTANT or node.op != "-" or node.type != NUMBER:
                return _NOT_CONSTANT
            return None if inner is None else V.neg(inner)
        if isinstance(node, Binary):
            if node.type != NUMBER or node.left.type not in (NUMBER, BLANK) or node.right.type not in (NUMBER, BLANK):
                return _NOT_CONSTANT
            if node.op != "/" and node.op not in _FOLD_OPS:
                return _NOT_CONSTANT
            a, b = self.constant(node.left), self.constant(node.right)
            if a is _NOT_CONSTANT or b is _NOT_CONSTANT:
                return _NOT_CONSTANT
            if node.op == "/":
                return V.div(a, b)
            return None if a is None or b is None else _FOLD_OPS[node.op](a, b)
        if isinstance(node, Call):
            spec = node.func
            if (node.aggregate is not None or spec is None or not spec.pure or spec.special or spec.volatile
                    or spec.change_context or spec.python is None or node.name in _SPECIAL):
                return _NOT_CONSTANT
            values = [self.constant(a) for a in node.args]
            if any(v is _NOT_CONSTANT for v in values):
                return _NOT_CONSTANT
            values = [V.num(v) if a.type == NUMBER else v for a, v in zip(node.args, values, strict=True)]
            return self.implementation(node)(*values)
        return _NOT_CONSTANT

    def implementation(self, node: Call) -> Callable[..., Any]:
        spec = node.func
        if spec.python is None:
            raise FormulaError(f"{node.name} cannot run in Python", self.checked.source, node.start)
        return partial(spec.python, tuple(a.type for a in node.args)) if spec.wants_types else spec.python

    def is_decimal(self, node: Node) -> bool:
        """Whether the node's code always gives a Decimal or blank (so no conversion is needed)."""
        if not self.fast:
            return isinstance(node, Literal)
        value = self.constant(node)
        if value is not _NOT_CONSTANT:
            return value is None or isinstance(value, Decimal)
        if id(node) in self.decimals:
            return True
        if node.type != NUMBER:
            return False
        if isinstance(node, Unary):
            return True
        if isinstance(node, Binary):
            return node.left.type in (NUMBER, BLANK) and node.right.type in (NUMBER, BLANK)
        if isinstance(node, Call) and node.name == "IF" and node.func is not None and node.func.special:
            return all(self.is_decimal(a) for a in node.args[1:])
        return False

    # -- expressions -------------------------------------------------------------------

    def expr(self, node: Node, rec: str) -> str:
        value = self.constant(node)
        if value is not _NOT_CONSTANT:
            return self.const(value)
        if isinstance(node, Path):
            return self.path(node, rec)
        if isinstance(node, Unary):
            inner = self.expr(node.operand, rec)
            if node.op == "NOT":
                return f"(not {inner})"
            t = self.tmp()
            negated = f"_neg({t})" if node.type == NUMBER else f"-{t}"
            return f"(None if ({t} := {inner}) is None else {negated})"
        if isinstance(node, Binary):
            return self.binary(node, rec)
        assert isinstance(node, Call)
        return self.call(node, rec)

    def path(self, node: Path, rec: str) -> str:
        resolved: Resolved = node.resolved
        norm = self.const(_norm(resolved.type))
        if resolved.kind == "context":
            self.needs_ctx = True
            if not resolved.hops:
                return "ctx.user_id"
            _first_obj, first_field = resolved.hops[0]
            rest = self.const(tuple((o, f.api_name) for o, f in resolved.hops[1:]))
            key = self.const(first_field.api_name)
            return f"{norm}(_follow(None, ctx, {rest}, (ctx.user or {{}}).get({key})))"
        source = rec if resolved.kind == "field" else "c"
        key = self.const(resolved.hops[0][1].api_name)
        if len(resolved.hops) == 1:
            if resolved.type in (NUMBER, DURATION, DATE, "record") :
                return f"{source}.get({key})"
            if resolved.type in (TEXT, LIST):
                return f"({source}.get({key}) or None)"
            if resolved.type == BOOLEAN:
                return f"(True if {source}.get({key}) else False)"
            return f"{norm}({source}.get({key}))"
        self.needs_ctx = True
        rest = self.const(tuple((o, f.api_name) for o, f in resolved.hops[1:]))
        return f"{norm}(_follow({source}, ctx, {rest}, {source}.get({key})))"

    def binary(self, node: Binary, rec: str) -> str:
        a, b = node.left, node.right
        op = node.op
        if op in ("AND", "OR"):
            return f"({self.expr(a, rec)} {op.lower()} {self.expr(b, rec)})"
        if op == "&":
            return f"(({self.text(a, rec)} or '') + ({self.text(b, rec)} or '') or None)"
        if op in ("=", "<>"):
            py = "==" if op == "=" else "!="
            return f"({self.compared(a, b, rec)} {py} {self.compared(b, a, rec)})"
        if op in ("<", "<=", ">", ">="):
            return self.strict(a, b, rec, lambda x, y: f"{x} {op} {y}", "False")
        if op == "/":
            divisor = self.constant(b) if self.fast else _NOT_CONSTANT
            if isinstance(divisor, Decimal):
                return f"{self.const(V.div_by(divisor))}({self.expr(a, rec)})"
            return f"_div({self.expr(a, rec)}, {self.expr(b, rec)})"
        types = (op, a.type if a.type != BLANK else NUMBER, b.type if b.type != BLANK else NUMBER)
        if types in _OPS:
            fn = self.const(_OPS[types])
            return f"{fn}({self.expr(a, rec)}, {self.expr(b, rec)})"
        helper = {"+": "_add", "-": "_sub", "*": "_mul"}[op]
        return self.strict(a, b, rec, lambda x, y: f"{helper}({x}, {y})", "None")

    def compared(self, side: Node, other: Node, rec: str) -> str:
        """One side of = or <>: a text field compared with a text written in the formula is
        read as it is stored, since "" and blank both differ from a non-empty text."""
        if self.fast and side.type == TEXT and isinstance(side, Path) and isinstance(self.constant(other), str):
            read = self.plain_read(side, rec)
            if read is not None:
                return read
        return self.expr(side, rec)

    def plain_read(self, node: Path, rec: str) -> str | None:
        """`r.get(key)` for a field of this record (or of the child row), else None."""
        resolved: Resolved = node.resolved
        if resolved.kind == "context" or len(resolved.hops) != 1:
            return None
        source = rec if resolved.kind == "field" else "c"
        return f"{source}.get({self.const(resolved.hops[0][1].api_name)})"

    def strict(self, a: Node, b: Node, rec: str, build: Callable[[str, str], str], blank: str) -> str:
        """An operation that gives `blank` when either side is blank, reading each side once."""
        parts: list[str] = []
        names: list[str] = []
        for side in (a, b):
            value = self.constant(side)
            if value is not _NOT_CONSTANT and value is not None and not isinstance(side, Literal):
                names.append(self.const(value))
                continue
            if isinstance(side, Literal) and side.value is not None and side.kind != "text":
                names.append(self.const(side.value))
                continue
            if (isinstance(side, Literal) and side.value in (None, "")) or (value is None and self.fast):
                return blank if blank == "None" else "False"
            t = self.tmp()
            parts.append(f"({t} := {self.expr(side, rec)}) is not None")
            names.append(t)
        body = build(*names)
        if not parts:
            return f"({body})"
        if blank == "False":
            return f"({' and '.join(parts)} and {body})"
        return f"({body} if {' and '.join(parts)} else None)"

    def text(self, node: Node, rec: str) -> str:
        inner = self.expr(node, rec)
        if node.type in (TEXT, BLANK):
            return inner
        fn = self.const(partial(_text_of, node.type))
        return f"{fn}({inner})"

    def call(self, node: Call, rec: str) -> str:
        if node.aggregate is not None:
            return self.aggregate(node.aggregate, rec)
        name = node.name
        args = node.args
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, node, rec)
        spec = node.func
        if self.fast and spec.python_inline in _INLINE and spec.python is not None:
            return _INLINE[spec.python_inline](self, node, rec)
        if self.fast and spec.python_specialise is not None:
            constants = tuple(self.constant(a) for a in args)
            faster = spec.python_specialise(tuple(VARIES if c is _NOT_CONSTANT else c for c in constants))
            if faster is not None:
                if node.type == NUMBER:
                    self.decimals.add(id(node))
                varying = (self.expr(a, rec) for a, c in zip(args, constants, strict=True) if c is _NOT_CONSTANT)
                return f"{self.const(faster)}({', '.join(varying)})"
        ref = self.const(self.implementation(node))
        return f"{ref}({', '.join(self.argument(a, rec) for a in args)})"

    def argument(self, node: Node, rec: str) -> str:
        """A function argument; numbers always arrive as Decimals (integer fields hold ints)."""
        inner = self.expr(node, rec)
        return f"_to_number({inner})" if node.type == NUMBER and not self.is_decimal(node) else inner

    def text_or_empty(self, node: Node, rec: str) -> str:
        """A text as `"" if blank`, for functions that treat blank as empty text."""
        value = self.constant(node)
        if value is not _NOT_CONSTANT:
            return self.const(value or "")
        if isinstance(node, Path) and node.type == TEXT:
            read = self.plain_read(node, rec)
            if read is not None:
                return f"({read} or '')"
        if isinstance(node, Call) and node.func is not None and node.func.python_inline in ("lower", "upper"):
            return f"_{node.func.python_inline}({self.text_or_empty(node.args[0], rec)})"
        return f"({self.expr(node, rec)} or '')"

    def aggregate(self, agg: Aggregate, rec: str) -> str:
        self.needs_ctx = True
        value = self.function(agg.value) if agg.value is not None else "None"
        condition = self.function(agg.condition) if agg.condition is not None else "None"
        runner = self.const(_agg(agg.function, agg.value.type if agg.value is not None else NUMBER))
        return f"{runner}(ctx, {self.const(agg)}, {rec}, {value}, {condition})"

    def function(self, node: Node) -> str:
        """A nested function (child, parent, ctx) for an aggregate's value or condition."""
        name = self.name("g")
        body = self.expr(node, "r")
        self.defs.append(f"def {name}(c, r, ctx):\n    return {body}\n")
        return name


_NOT_CONSTANT: Any = type("NotConstant", (), {})()


def _in_case(g: _Gen, node: Call, rec: str) -> str:
    """LOWER/UPPER: `str.lower` of the text, blank staying blank ("" → "" → blank)."""
    assert node.func.python_inline is not None
    return f"(_{node.func.python_inline}({g.text_or_empty(node.args[0], rec)}) or None)"


def _contains(g: _Gen, node: Call, rec: str) -> str:
    """CONTAINS(t, s): `s in t`, blanks as empty texts."""
    return f"({g.text_or_empty(node.args[1], rec)} in {g.text_or_empty(node.args[0], rec)})"


def _affix(g: _Gen, node: Call, rec: str) -> str:
    """STARTSWITH/ENDSWITH(t, affix), blanks as empty texts."""
    t, affix = (g.text_or_empty(a, rec) for a in node.args)
    return f"_{node.func.python_inline}({t}, {affix})"


_INLINE: dict[str, Callable[[_Gen, Call, str], str]] = {
    "lower": _in_case, "upper": _in_case, "contains": _contains, "startswith": _affix, "endswith": _affix,
}


def _text_of(t: str, v: Any) -> str | None:
    return V.as_text(v, t)


def _sp_if(g: _Gen, node: Call, rec: str) -> str:
    args = node.args
    otherwise = g.expr(args[2], rec) if len(args) == 3 else "None"
    return f"({g.expr(args[1], rec)} if {g.expr(args[0], rec)} else {otherwise})"


def _sp_ifs(g: _Gen, node: Call, rec: str) -> str:
    args = list(node.args)
    out = g.expr(args[-1], rec) if len(args) % 2 else "None"
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - len(args) % 2, 2)]
    for cond, value in reversed(pairs):
        out = f"({g.expr(value, rec)} if {g.expr(cond, rec)} else {out})"
    return out


def _sp_switch(g: _Gen, node: Call, rec: str) -> str:
    args = list(node.args)
    t = g.tmp()
    rest = args[1:]
    out = g.expr(rest[-1], rec) if len(rest) % 2 else "None"
    pairs = [(rest[i], rest[i + 1]) for i in range(0, len(rest) - len(rest) % 2, 2)]
    for match, value in reversed(pairs):
        out = f"({g.expr(value, rec)} if {t} == {g.expr(match, rec)} else {out})"
    return f"(({t} := {g.expr(args[0], rec)}), {out})[1]"


def _sp_logic(op: str) -> Callable[[_Gen, Call, str], str]:
    def build(g: _Gen, node: Call, rec: str) -> str:
        return "(" + f" {op} ".join(g.expr(a, rec) for a in node.args) + ")"

    return build


def _sp_coalesce(g: _Gen, node: Call, rec: str) -> str:
    args = list(node.args)
    out = g.expr(args[-1], rec)
    for arg in reversed(args[:-1]):
        t = g.tmp()
        out = f"({t} if ({t} := {g.expr(arg, rec)}) is not None else {out})"
    return out


def _sp_isblank(g: _Gen, node: Call, rec: str) -> str:
    if node.args[0].type == BOOLEAN:
        return "False"
    return f"({g.expr(node.args[0], rec)} is None)"


def _sp_ctx(attr: str) -> Callable[[_Gen, Call, str], str]:
    def build(g: _Gen, node: Call, rec: str) -> str:
        g.needs_ctx = True
        return f"ctx.{attr}"

    return build


def _field_key(g: _Gen, node: Call) -> tuple[str, str]:
    path = node.args[0]
    assert isinstance(path, Path)
    return g.const(path.parts[0]), g.const(_norm(path.type))


def _sp_ischanged(g: _Gen, node: Call, rec: str) -> str:
    g.needs_ctx = True
    key, norm = _field_key(g, node)
    return f"(ctx.prior is not None and {norm}({rec}.get({key})) != {norm}(ctx.prior.get({key})))"


def _sp_priorvalue(g: _Gen, node: Call, rec: str) -> str:
    g.needs_ctx = True
    key, norm = _field_key(g, node)
    return f"(None if ctx.prior is None else {norm}(ctx.prior.get({key})))"


_SPECIAL: dict[str, Callable[[_Gen, Call, str], str]] = {
    "IF": _sp_if, "IFS": _sp_ifs, "SWITCH": _sp_switch, "AND": _sp_logic("and"), "OR": _sp_logic("or"),
    "NOT": lambda g, n, r: f"(not {g.expr(n.args[0], r)})", "ISBLANK": _sp_isblank,
    "BLANKVALUE": _sp_coalesce, "COALESCE": _sp_coalesce, "BLANK": lambda g, n, r: "None",
    "TODAY": _sp_ctx("today"), "NOW": _sp_ctx("now"), "ISNEW": _sp_ctx("is_new"),
    "ISCHANGED": _sp_ischanged, "PRIORVALUE": _sp_priorvalue,
}


def _runtime_error(source: str, error: Exception) -> FormulaError:
    return FormulaError(f"the formula could not be computed: {type(error).__name__}", source)


def compile_python(checked: Checked, *, fast: bool = True) -> Evaluator:
    """A function `(record, ctx=None) -> value` for one record.

    `record` maps api_name to the stored Python value; `ctx` is an EvalContext (needed for
    $user, TODAY/NOW, rules' change context, lookup paths and aggregates — a fresh default
    one is used when omitted). Number results are Decimals, blank is None.
    """
    gen = _Gen(checked, fast)
    body = gen.expr(checked.tree, "r")
    if checked.type == NUMBER and not gen.is_decimal(checked.tree):
        body = f"_to_number({body})"
    gen.ns["_EvalContext"] = EvalContext
    gen.ns["_errors"] = _RUNTIME_ERRORS
    gen.ns["_fail"] = partial(_runtime_error, checked.source)
    prelude = "    if ctx is None:\n        ctx = _EvalContext()\n" if gen.needs_ctx else ""
    source = "".join(gen.defs) + (
        "def _formula(r, ctx=None):\n"
        f"{prelude}"
        "    try:\n"
        f"        return {body}\n"
        "    except _errors as error:\n"
        "        raise _fail(error) from None\n"
    )
    namespace = dict(gen.ns)
    namespace["__builtins__"] = {}
    code = compile(source, "<formula>", "exec")
    exec(code, namespace)
    fn: Evaluator = namespace["_formula"]
    fn.__doc__ = checked.source
    fn.python_source = source  # type: ignore[attr-defined]
    return fn
