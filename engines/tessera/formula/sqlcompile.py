"""Compile a checked formula to a SQLAlchemy expression over a set of records.

PostgreSQL is exact on its own (NUMERIC), so formulas become native SQL there. On SQLite,
decimal columns hold scaled integers: comparisons of such a column with a number are
rewritten onto the scaled integer (`amount > 1000` → `amount > 100000` for two places,
index-friendly), and everything else exact goes through the `tx…` functions of
tessera.formula.sqlite, which run the same Python code as `evaluate`.

Lookup paths become correlated scalar subqueries joining the records on the way;
aggregates become correlated subqueries over the live child rows. When the context has a
row scope (someone's own expression), each record on the way and each child row must also
be one the person may read: a lookup to another record reads as blank, an aggregate leaves
it out. Booleans travel as
"predicates" that may be NULL meaning FALSE (so `WHERE amount > 5` stays index-friendly)
and are made non-null only where a NULL would differ from FALSE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from tessera.formula.ast import Binary, Call, Literal, Node, Path, Unary
from tessera.formula.checker import _ARITHMETIC as ARITHMETIC
from tessera.formula.checker import Aggregate, Checked, Resolved
from tessera.formula.context import EvalContext
from tessera.formula.errors import FormulaError
from tessera.formula.functions import pg
from tessera.formula.functions.registry import ArgError
from tessera.formula.schema import column_name, is_user_object
from tessera.formula.sqlite import CODES, operator_name
from tessera.formula.types import BLANK, BOOLEAN, DATE, DATETIME, DURATION, LIST, NUMBER, RECORD, TEXT, VALUE_TYPES
from tessera.meta.columns import ScaledDecimal, UtcDateTime, json_column, scaled_reader
from tessera.meta.model import FieldDef, ObjectDef

TableFor = Callable[[ObjectDef], sa.FromClause]
ColumnFor = Callable[[ObjectDef, FieldDef, sa.FromClause], Any]
_NOTHING = object()
_INT64 = 2**62
# Averages compare by cross-multiplying only for scales up to 2 and numbers with no more
# places, under 10^10 in units of the scale: on SQLite the product stays within 64 bits below
# 9 x 10^8 rows per record, and AVG's rounding to 10 places could only tell the two ways
# apart past 2 x 10^8 rows.
#: The names of the parameters TODAY() and NOW() compile to (see clock_params).
TODAY_PARAM = "formula_today"
NOW_PARAM = "formula_now"
_RATIO_SCALE = 2
_RATIO_LIMIT = 10**10


@dataclass(frozen=True)
class SqlValue:
    """A compiled node: its SQL, formula type, and how it is represented.

    `scale` (SQLite numbers only) says the SQL is an integer counting 10^-scale; None means
    an integer or decimal text. `nullable` (booleans) says NULL may stand for FALSE.
    `column` is the bare column when the node is one, for index-friendly comparisons.
    `ratio` is an average as (sum, count, scale), the sum a whole number of 10^-scale
    (SQLite: that integer), so that comparing it with a number needs no division.
    `maybe_text` (SQLite numbers with a scale): the SQL is that scaled integer in all but
    the rare case where exact arithmetic outgrew 64 bits, where it is the exact decimal
    text instead; only arithmetic and a query's result take such a value as it is.
    """

    expr: Any
    type: str
    scale: int | None = None
    nullable: bool = False
    literal: Any = _NOTHING
    column: Any = None
    ratio: tuple[Any, Any, int] | None = None
    maybe_text: bool = False


class _DecimalResult(sa.types.TypeDecorator[Decimal]):
    """Reads a number result (integer, decimal text or NUMERIC) as a Decimal."""

    impl = sa.Numeric
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else (value if isinstance(value, Decimal) else Decimal(str(value)))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return value

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(sa.Numeric(asdecimal=False) if dialect.name == "sqlite" else sa.Numeric())


class _ScaledOrText(ScaledDecimal):
    """Reads a SQLite number that is a scaled integer, or exact decimal text where the
    arithmetic outgrew 64 bits (`SqlValue.maybe_text`)."""

    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if isinstance(value, str):
            return Decimal(value)
        return super().process_result_value(value, dialect)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """On SQLite, `process_result_value` as one closure (see ScaledDecimal's)."""
        if dialect.name != "sqlite" or self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype):
            return super().result_processor(dialect, coltype)
        return scaled_reader(-self.scale, text=True)


class _TextList(sa.types.TypeDecorator[list]):
    """Reads a list result: JSON, with [] as blank."""

    impl = sa.JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return value or None


def _pg_type(t: str) -> Any:
    return {NUMBER: sa.Numeric(), TEXT: sa.Text(), BOOLEAN: sa.Boolean(), DATE: sa.Date(),
            DATETIME: sa.TIMESTAMP(timezone=True), DURATION: sa.BigInteger(), RECORD: sa.BigInteger(),
            LIST: JSONB()}.get(t, sa.Text())


class _ParentReferenced(Exception):
    """An aggregate's condition or value reads the parent record: it stays correlated."""


class _NoParent:
    """Stands for the parent record while an aggregate is compiled for a grouped join."""

    def __getattr__(self, name: str) -> Any:
        raise _ParentReferenced()


class _Gen:
    def __init__(self, checked: Checked, dialect: str, table_for: TableFor, ctx: EvalContext,
                 column_for: ColumnFor | None) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {dialect!r}")
        self.checked = checked
        self.sqlite = dialect == "sqlite"
        self.table_for = table_for
        self.ctx = ctx
        self.column_for = column_for
        #: Compiling a value for a scaled column (compile_store): integer arithmetic allowed.
        self.for_column = False
        self.base = table_for(checked.object)
        #: Set by compile_filter_grouped: aggregates of the record over its related records
        #: become columns of one grouped derived table per relation, joined to the records,
        #: instead of a subquery per record (far cheaper when every record is filtered).
        self.groups: dict[tuple[str, str], dict[str, Any]] | None = None
        #: The scaled-or-text results of `scaled_arithmetic` (SQLite), by their SQL's id:
        #: (that SQL, its scale, the integer arithmetic, the condition it is taken on).
        self.guarded: dict[int, tuple[Any, int, Any, Any]] = {}

    def fail(self, message: str, node: Node) -> FormulaError:
        return FormulaError(message, self.checked.source, node.start, node.end)

    def in_scope(self, obj: ObjectDef, table: Any) -> list[Any]:
        """The condition on `table`'s rows that the context's row scope sets, if any."""
        if self.ctx.scope is None:
            return []
        clause = self.ctx.scope(obj, table)
        return [] if clause is None else [clause]

    # -- representation helpers ---------------------------------------------------------

    def value(self, v: SqlValue) -> Any:
        """The SQL of a value where NULL must not stand for FALSE."""
        if v.type == BOOLEAN and v.nullable:
            return sa.func.coalesce(v.expr, sa.false())
        return v.expr

    def dec(self, v: SqlValue) -> Any:
        """A SQLite number as integer or decimal text (no scale)."""
        if v.scale:
            if v.literal is not _NOTHING and v.literal is not None:
                return self.number_literal(v.literal).expr
            return sa.func.tx_dec(v.expr, v.scale)
        return v.expr

    def code(self, v: SqlValue) -> str:
        c = CODES.get(v.type, "x")
        return f"n{v.scale}" if v.type == NUMBER and v.scale else c

    def tx(self, name: str, result: str, args: Sequence[SqlValue]) -> SqlValue:
        sig = CODES.get(result, "x") + ":" + ",".join(self.code(a) for a in args)
        exprs = [self.value(a) for a in args]
        return SqlValue(sa.func.tx(name, sig, *exprs, type_=sa.Boolean() if result == BOOLEAN else None), result)

    def null(self, t: str) -> SqlValue:
        return SqlValue(sa.cast(sa.null(), _pg_type(t)) if not self.sqlite else sa.null(), t, literal=None)

    def clock(self, name: str) -> SqlValue:
        """TODAY() or NOW() as a parameter named for it (CLOCK_PARAMS), its value this
        context's: a statement kept for reuse is run with the clock of the request running it."""
        if name == "TODAY":
            return SqlValue(sa.bindparam(TODAY_PARAM, self.ctx.today, type_=sa.Date()), DATE, literal=self.ctx.today)
        return SqlValue(sa.bindparam(NOW_PARAM, self.ctx.now, type_=UtcDateTime()), DATETIME, literal=self.ctx.now)

    def number_literal(self, value: Decimal) -> SqlValue:
        if self.sqlite:
            if value == value.to_integral_value() and abs(value) < _INT64:
                return SqlValue(sa.literal(int(value), sa.BigInteger()), NUMBER, 0, literal=value)
            return SqlValue(sa.literal(format(value, "f"), sa.Text()), NUMBER, None, literal=value)
        return SqlValue(sa.literal(value, sa.Numeric()), NUMBER, literal=value)

    def bind(self, value: Any, t: str) -> SqlValue:
        """A Python value of formula type t as a SQL literal."""
        if value is None:
            return self.null(t)
        if t == NUMBER:
            return self.number_literal(Decimal(value) if not isinstance(value, Decimal) else value)
        if t == TEXT:
            return SqlValue(sa.literal(value, sa.Text()), t, literal=value)
        if t == BOOLEAN:
            return SqlValue(sa.true() if value else sa.false(), t, literal=bool(value))
        if t == DATE:
            return SqlValue(sa.literal(value, sa.Date()), t, literal=value)
        if t == DATETIME:
            return SqlValue(sa.literal(value, UtcDateTime()), t, literal=value)
        if t == LIST:
            return SqlValue(sa.literal(list(value), json_column()), t, literal=value)
        return SqlValue(sa.literal(int(value), sa.BigInteger()), t, literal=value)

    def unify(self, values: list[SqlValue]) -> list[SqlValue]:
        """Branches of CASE/COALESCE in one representation (SQLite numbers); on PostgreSQL,
        a BLANK() branch takes the type of the others, as CASE needs one type."""
        if not self.sqlite:
            typed = {v.type for v in values if v.type != BLANK}
            if len(typed) == 1:
                common = typed.pop()
                return [self.null(common) if v.type == BLANK else v for v in values]
            return values
        numbers = [v for v in values if v.type == NUMBER and v.literal is _NOTHING]
        scales = {v.scale for v in numbers}
        if len(scales) == 1 and None not in scales:
            scale = scales.pop()
            if all(v.type != NUMBER or v.scale == scale or self.fits(v, scale) for v in values):
                return [self.rescale(v, scale) if v.type == NUMBER else v for v in values]
        return [replace(v, expr=self.dec(v), scale=None) if v.type == NUMBER else v for v in values]

    def fits(self, v: SqlValue, scale: int) -> bool:
        if v.literal is _NOTHING or v.literal is None:
            return v.literal is None
        scaled = v.literal.scaleb(scale)
        return scaled == scaled.to_integral_value() and abs(scaled) < _INT64

    def rescale(self, v: SqlValue, scale: int) -> SqlValue:
        if v.scale == scale or v.literal is _NOTHING:
            return v
        if v.literal is None:
            return replace(v, scale=scale)
        return SqlValue(sa.literal(int(v.literal.scaleb(scale)), sa.BigInteger()), NUMBER, scale, literal=v.literal)

    # -- nodes -------------------------------------------------------------------------

    def visit(self, node: Node, scope: dict[str, Any], *, keep: bool = False) -> SqlValue:
        """The node compiled; a scaled-or-text number (`maybe_text`) is turned into decimal
        text for whatever takes it, unless the taker handles both (`keep`)."""
        v = self._visit(node, scope)
        return v if keep or not v.maybe_text else self.exact_text(v)

    def exact_text(self, v: SqlValue) -> SqlValue:
        """A scaled-or-text number as decimal text, in SQL (no function call per row): the
        integer counts 10^-scale, so it is printed with that many places."""
        assert v.scale is not None
        x = v.expr
        if v.scale == 0:
            text: Any = sa.cast(x, sa.Text())
        else:
            unit = sa.literal(10 ** v.scale, sa.BigInteger())
            size = sa.type_coerce(sa.func.abs(x), sa.BigInteger())
            places = sa.func.substr(sa.literal("0" * v.scale) + sa.cast(size % unit, sa.Text()), -v.scale)
            sign = sa.case((x < 0, "-"), else_="")
            text = sign + sa.cast(size // unit, sa.Text()) + "." + places
        out = sa.case((sa.func.typeof(x) == "integer", text), else_=x)
        return SqlValue(sa.type_coerce(out, sa.Text()), NUMBER, None)

    def _visit(self, node: Node, scope: dict[str, Any]) -> SqlValue:
        if isinstance(node, Literal):
            if node.kind == "blank" or (node.kind == "text" and not node.value):
                return self.null(TEXT if node.kind == "text" else BLANK)
            return self.bind(node.value, node.kind)
        if isinstance(node, Path):
            return self.path(node, scope)
        if isinstance(node, Unary):
            return self.unary(node, scope)
        if isinstance(node, Binary):
            return self.binary(node, scope)
        assert isinstance(node, Call)
        return self.call(node, scope)

    def column(self, obj: ObjectDef, f: FieldDef, table: Any) -> Any:
        if self.column_for is not None:
            found = self.column_for(obj, f, table)
            if found is not None:
                return found
        return table.c[column_name(f)]

    def field_value(self, col: Any, f: FieldDef, t: str) -> SqlValue:
        """A column read as a formula value."""
        if t == NUMBER:
            if self.sqlite:
                # The representation follows the SQL: a stored decimal counts 10^-scale, an
                # integer column is scale 0, and a computed field (formula, rollup) says its
                # own in its result type: scaled, or decimal text (None).
                sql_type = getattr(col, "type", None)
                if isinstance(sql_type, _ScaledOrText):
                    return SqlValue(col, NUMBER, sql_type.scale, maybe_text=True)
                if isinstance(sql_type, ScaledDecimal):
                    scale: int | None = sql_type.scale
                elif f.stored:
                    scale = f.ftype.scale(f) if hasattr(f.ftype, "scale") else 0
                else:
                    scale = None
                return SqlValue(col, NUMBER, scale, column=col if f.stored else None)
            is_int = isinstance(getattr(col, "type", None), sa.Integer)
            return SqlValue(sa.cast(col, sa.Numeric()) if is_int else col, NUMBER, column=col)
        if t == BOOLEAN:
            return SqlValue(col, BOOLEAN, nullable=True, column=col)
        if t == LIST and not self.sqlite:
            # A JSONB 'null' or [] is blank, like a missing value.
            return SqlValue(sa.func.nullif(sa.func.nullif(col, sa.literal_column("'[]'::jsonb")),
                                           sa.literal_column("'null'::jsonb")), LIST, column=col)
        if t == LIST:
            return SqlValue(sa.func.nullif(sa.func.nullif(col, "[]"), "null"), LIST, column=col)
        return SqlValue(col, t, column=col)

    def path(self, node: Path, scope: dict[str, Any]) -> SqlValue:
        resolved: Resolved = node.resolved
        hops = resolved.hops
        if resolved.kind == "context":
            user = self.ctx.user or {}
            if not hops:
                return self.bind(user.get("id"), RECORD)
            _first_obj, first = hops[0]
            start = self.bind(_python_value(user.get(first.api_name), resolved.type if len(hops) == 1 else RECORD),
                              resolved.type if len(hops) == 1 else RECORD)
            if len(hops) == 1:
                return start
            return self.follow(start.expr, hops[1:], resolved.type)
        table = scope["child"] if resolved.kind == "child" else scope["record"]
        obj, first = hops[0]
        col = self.column(obj, first, table)
        if len(hops) == 1:
            return self.field_value(col, first, resolved.type)
        if len(hops) == 2 and hops[1][1].api_name == "id" and first.type == "lookup" and first.stored:
            # `account.id` is the lookup's own column: a live record never points at a trashed
            # one (on_delete blanks, cascades or refuses), so no join is needed — and the
            # index on the column serves filters such as a related list's `account.id = 7`.
            return self.field_value(col, hops[1][1], resolved.type)
        return self.follow(col, hops[1:], resolved.type)

    def follow(self, start: Any, hops: Sequence[tuple[ObjectDef, FieldDef]], t: str) -> SqlValue:
        """A lookup path as one correlated subquery joining each record on the way."""
        aliases = [self.table_for(obj).alias() for obj, _ in hops]
        where = [aliases[0].c.id == start]
        joined: Any = aliases[0]
        for i, (obj, _f) in enumerate(hops):
            if not is_user_object(obj):
                where.append(aliases[i].c.deleted_at.is_(None))
                where += self.in_scope(obj, aliases[i])
            if i:
                prev_obj, prev_field = hops[i - 1]
                joined = joined.join(aliases[i], aliases[i].c.id == self.column(prev_obj, prev_field, aliases[i - 1]))
        last_obj, last = hops[-1]
        inner = self.field_value(self.column(last_obj, last, aliases[-1]), last, t)
        query = sa.select(self.value(inner) if t != BOOLEAN else inner.expr).select_from(joined).where(*where)
        sub = query.scalar_subquery()
        return SqlValue(sub, t, inner.scale, nullable=t == BOOLEAN, maybe_text=inner.maybe_text)

    def unary(self, node: Unary, scope: dict[str, Any]) -> SqlValue:
        v = self.visit(node.operand, scope)
        if node.op == "NOT":
            return SqlValue(sa.not_(self.value(v)), BOOLEAN)
        if v.type == BLANK:
            return self.null(NUMBER)
        if self.sqlite and v.type == NUMBER and v.scale is None:
            return self.tx("NEG", NUMBER, [v])
        return SqlValue(-v.expr, v.type, v.scale)

    # -- operators ------------------------------------------------------------------------

    def binary(self, node: Binary, scope: dict[str, Any]) -> SqlValue:
        arithmetic = node.op in ("+", "-", "*", "/")
        a, b = self.visit(node.left, scope, keep=arithmetic), self.visit(node.right, scope, keep=arithmetic)
        op = node.op
        if op == "AND":
            return SqlValue(sa.and_(a.expr, b.expr), BOOLEAN, nullable=a.nullable or b.nullable)
        if op == "OR":
            return SqlValue(sa.or_(a.expr, b.expr), BOOLEAN, nullable=a.nullable or b.nullable)
        if op == "&":
            return self.concat([a, b])
        if op in ("=", "<>", "<", "<=", ">", ">="):
            return self.compare(op, a, b)
        return self.arithmetic(op, a, b, node)

    def concat(self, parts: list[SqlValue]) -> SqlValue:
        if not self.sqlite:
            texts = (pg.text_of(self.value(p), p.type) for p in parts)
            return SqlValue(pg.blank_if_empty(sa.func.concat(*texts)), TEXT)
        if all(p.type in (TEXT, BLANK) for p in parts):
            joined = sa.func.coalesce(parts[0].expr, "")
            for p in parts[1:]:
                joined = joined.op("||")(sa.func.coalesce(p.expr, ""))
            return SqlValue(sa.func.nullif(joined, ""), TEXT)
        return self.tx("&", TEXT, parts)

    def compare(self, op: str, a: SqlValue, b: SqlValue) -> SqlValue:
        blank_a, blank_b = a.type == BLANK or a.literal is None, b.type == BLANK or b.literal is None
        if blank_a or blank_b:
            other = b if blank_a else a
            if op not in ("=", "<>"):
                return SqlValue(sa.false(), BOOLEAN)
            if blank_a and blank_b:
                return SqlValue(sa.true() if op == "=" else sa.false(), BOOLEAN)
            if other.type == BOOLEAN:
                return SqlValue(sa.false() if op == "=" else sa.true(), BOOLEAN)
            return SqlValue(other.expr.is_(None) if op == "=" else other.expr.isnot(None), BOOLEAN)
        t = a.type
        if t == NUMBER and (a.ratio is not None or b.ratio is not None):
            found = self.compare_ratio(op, a, b)
            if found is not None:
                return found
        if t == NUMBER and self.sqlite:
            return self.compare_sqlite_numbers(op, a, b)
        x, y = self.value(a), self.value(b)
        if t == TEXT and op not in ("=", "<>") and not self.sqlite:
            x, y = pg.binary(x), pg.binary(y)
        if t == NUMBER and not self.sqlite:
            x, y = self.pg_index_friendly(a, b)
        return self.native_compare(op, x, y, a, b)

    def pg_index_friendly(self, a: SqlValue, b: SqlValue) -> tuple[Any, Any]:
        """Compare an integer column with an integral literal as integers, so its index applies."""
        def whole(v: SqlValue) -> bool:
            return v.literal is not _NOTHING and v.literal == v.literal.to_integral_value() and abs(v.literal) < _INT64

        def int_column(v: SqlValue) -> bool:
            return v.column is not None and isinstance(v.column.type, sa.Integer)

        out = []
        for v, other in ((a, b), (b, a)):
            if int_column(v) and whole(other):
                out.append(v.column)
            elif whole(v) and int_column(other):
                out.append(sa.literal(int(v.literal), sa.BigInteger()))
            else:
                out.append(v.expr)
        return out[0], out[1]

    def native_compare(self, op: str, x: Any, y: Any, a: SqlValue, b: SqlValue) -> SqlValue:
        literal = a.literal is not _NOTHING or b.literal is not _NOTHING
        if op == "=":
            if literal:
                return SqlValue(x == y, BOOLEAN, nullable=True)
            return SqlValue(x.is_not_distinct_from(y) if not self.sqlite else x.op("IS")(y), BOOLEAN)
        if op == "<>":
            if literal:
                side = x if a.literal is _NOTHING else y
                return SqlValue(sa.or_(x != y, side.is_(None)), BOOLEAN, nullable=True)
            return SqlValue(x.is_distinct_from(y) if not self.sqlite else x.op("IS NOT")(y), BOOLEAN)
        fn = {"<": lambda p, q: p < q, "<=": lambda p, q: p <= q, ">": lambda p, q: p > q, ">=": lambda p, q: p >= q}
        return SqlValue(fn[op](x, y), BOOLEAN, nullable=True)

    def compare_ratio(self, op: str, a: SqlValue, b: SqlValue) -> SqlValue | None:
        """An average against a number: sum op number x count, with no division."""
        for v, lit, flip in ((a, b, False), (b, a, True)):
            if v.ratio is None or lit.literal is _NOTHING or lit.literal is None or v.literal is not _NOTHING:
                continue
            total, count, scale = v.ratio
            scaled = lit.literal.scaleb(scale)
            if scaled != scaled.to_integral_value() or abs(scaled) >= _RATIO_LIMIT:
                return None
            real_op = _FLIP[op] if flip else op
            n = (sa.literal(int(scaled), sa.BigInteger()) if self.sqlite
                 else sa.literal(lit.literal, sa.Numeric()))
            return self.native_compare(real_op, total, n * count, v, SqlValue(n, NUMBER, literal=lit.literal))
        return None

    def compare_sqlite_numbers(self, op: str, a: SqlValue, b: SqlValue) -> SqlValue:
        # A scaled column against a literal: compare the stored integers directly.
        for v, lit, flip in ((a, b, False), (b, a, True)):
            if v.scale is not None and lit.literal is not _NOTHING and v.literal is _NOTHING:
                scaled = lit.literal.scaleb(v.scale)
                if abs(scaled) >= _INT64:
                    break
                real_op = _FLIP[op] if flip else op
                return self.compare_scaled(real_op, v, scaled)
        if a.scale is not None and a.scale == b.scale:
            return self.native_compare(op, a.expr, b.expr, a, b)
        cmp = sa.func.tx("CMP", "u:" + self.code(a) + "," + self.code(b), a.expr, b.expr)
        if op in ("=", "<>"):
            both_blank = sa.and_(a.expr.is_(None), b.expr.is_(None))
            equal = sa.func.coalesce(cmp == 0, both_blank)
            return SqlValue(equal if op == "=" else sa.not_(equal), BOOLEAN)
        fn = {"<": lambda p: p < 0, "<=": lambda p: p <= 0, ">": lambda p: p > 0, ">=": lambda p: p >= 0}
        return SqlValue(fn[op](cmp), BOOLEAN, nullable=True)

    def compare_scaled(self, op: str, v: SqlValue, scaled: Decimal) -> SqlValue:
        col = v.expr
        whole = scaled == scaled.to_integral_value()
        if whole:
            n = sa.literal(int(scaled), sa.BigInteger())
            return self.native_compare(op, col, n, v, SqlValue(n, NUMBER, literal=scaled))
        low = int(scaled.to_integral_value(rounding="ROUND_FLOOR"))
        lit = sa.literal(low, sa.BigInteger())
        if op == "=":
            return SqlValue(sa.false(), BOOLEAN)
        if op == "<>":
            return SqlValue(sa.true(), BOOLEAN)
        # For an integer column c and a non-integer s: c > s ⟺ c > floor(s); c < s ⟺ c <= floor(s).
        if op in (">", ">="):
            return SqlValue(col > lit, BOOLEAN, nullable=True)
        return SqlValue(col <= lit, BOOLEAN, nullable=True)

    def arithmetic(self, op: str, a: SqlValue, b: SqlValue, node: Binary) -> SqlValue:
        t = node.type
        if a.type == BLANK or b.type == BLANK or a.literal is None or b.literal is None:
            return self.null(t)
        key = (op, a.type, b.type)
        if key == ("+", NUMBER, DATE):
            a, b, key = b, a, ("+", DATE, NUMBER)
        if key == ("+", DURATION, DATETIME):
            a, b, key = b, a, ("+", DATETIME, DURATION)
        if t == NUMBER and key[1:] == (NUMBER, NUMBER):
            if self.sqlite:
                # Guarded: SQLite turns an int64 overflow into a REAL.
                native = self.scaled_arithmetic(op, a, b)
                if native is not None:
                    return native
                return self.tx(op, NUMBER, [self.exact_text(v) if v.maybe_text else v for v in (a, b)])
            if op == "/":
                return SqlValue(pg.exact_div(a.expr, b.expr), NUMBER)
            fn = {"+": lambda p, q: p + q, "-": lambda p, q: p - q, "*": lambda p, q: p * q}[op]
            return SqlValue(fn(a.expr, b.expr), NUMBER)
        if key[1:] == (DURATION, DURATION):
            return SqlValue(a.expr + b.expr if op == "+" else a.expr - b.expr, DURATION)
        if self.sqlite:
            return self.tx_date_op(key, a, b)
        if key in (("+", DATE, NUMBER), ("-", DATE, NUMBER)):
            days = pg.integer(b.expr, -10**7, 10**7)
            return SqlValue(a.expr + days if op == "+" else a.expr - days, DATE)
        if key == ("-", DATE, DATE):
            return SqlValue(sa.cast(a.expr - b.expr, sa.Numeric()), NUMBER)
        if key == ("-", DATETIME, DATETIME):
            return SqlValue(sa.cast(sa.func.trunc(sa.extract("epoch", a.expr - b.expr)), sa.BigInteger()), DURATION)
        seconds = sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.cast(b.expr, sa.Float()))
        return SqlValue(a.expr + seconds if op == "+" else a.expr - seconds, DATETIME)

    def scaled_arithmetic(self, op: str, a: SqlValue, b: SqlValue) -> SqlValue | None:
        """+, - and * of scaled integers in SQLite's own integer arithmetic: exact while the
        operands are small enough that the result cannot overflow, through tx otherwise —
        into the scaled integer for a value headed for a scaled column (which holds 64-bit
        integers anyway), else as exact decimal text (the result is `maybe_text`)."""
        if op not in ("+", "-", "*") or a.scale is None or b.scale is None:
            return None
        # An operand that is itself such a result is a scaled integer exactly when its own
        # condition holds (else it is text, which the check of its type sent to the exact
        # path): its integer arithmetic and condition are taken instead of its CASE, which
        # SQLite would otherwise work out once for each place it appears, row by row.
        (ax, a_if), (bx, b_if) = self.integer_of(a), self.integer_of(b)
        if op == "*":
            scale, limit = a.scale + b.scale, 2**31
            if scale > 12:
                return None
            x, y = sa.type_coerce(ax, sa.BigInteger()), sa.type_coerce(bx, sa.BigInteger())
            native = x * y
        else:
            scale, limit = max(a.scale, b.scale), 2**60
            x = sa.type_coerce(self.rescale_expr(replace(a, expr=ax), scale), sa.BigInteger())
            y = sa.type_coerce(self.rescale_expr(replace(b, expr=bx), scale), sa.BigInteger())
            native = x + y if op == "+" else x - y
        exact = self.tx(op, NUMBER, [a, b]).expr
        if self.for_column:
            exact = sa.func.tx_scaled(sa.type_coerce(exact, sa.Text()), scale)
        guard = sa.and_(*a_if, *b_if, sa.func.abs(x) < limit, sa.func.abs(y) < limit)
        out = sa.case((guard, native), else_=exact)
        if not self.for_column:
            self.guarded[id(out)] = (out, scale, native, guard)
        return SqlValue(out, NUMBER, scale, maybe_text=not self.for_column)

    def integer_of(self, v: SqlValue) -> tuple[Any, list[Any]]:
        """A scaled operand's integer SQL, and the conditions on which it is the operand's
        value (none: it always is; a scaled-or-text value is when its type is integer)."""
        found = self.guarded.get(id(v.expr))
        if found is not None and found[0] is v.expr and found[1] == v.scale and v.maybe_text:
            return found[2], [found[3]]
        return v.expr, [sa.func.typeof(v.expr) == "integer"] if v.maybe_text else []

    def rescale_expr(self, v: SqlValue, scale: int) -> Any:
        assert v.scale is not None
        if v.scale == scale:
            return v.expr
        return sa.type_coerce(v.expr, sa.BigInteger()) * sa.literal(10 ** (scale - v.scale), sa.BigInteger())

    def tx_date_op(self, key: tuple[str, str, str], a: SqlValue, b: SqlValue) -> SqlValue:
        return self.tx(operator_name(*key), ARITHMETIC[key], [a, b])

    # -- calls --------------------------------------------------------------------------

    def call(self, node: Call, scope: dict[str, Any]) -> SqlValue:
        if node.aggregate is not None:
            return self.aggregate(node.aggregate, node, scope)
        name = node.name
        spec = node.func
        if spec.change_context:
            raise self.fail(f"{name} only works in rules, not in filters, reports or formula columns", node)
        if name in ("TODAY", "NOW"):
            return self.clock(name)
        if name == "BLANK":
            return self.null(BLANK)
        args = [self.visit(a, scope) for a in node.args]
        if name in ("AND", "OR"):
            join = sa.and_ if name == "AND" else sa.or_
            return SqlValue(join(*(a.expr for a in args)), BOOLEAN, nullable=any(a.nullable for a in args))
        if name == "NOT":
            return SqlValue(sa.not_(self.value(args[0])), BOOLEAN)
        if name == "ISBLANK":
            if args[0].type == BOOLEAN:
                return SqlValue(sa.false(), BOOLEAN)
            return SqlValue(args[0].expr.is_(None), BOOLEAN)
        if name == "IF":
            branches = self.unify([args[1], args[2] if len(args) > 2 else self.null(node.type)])
            return self.case([(args[0], branches[0])], branches[1], node.type)
        if name == "IFS":
            values = [args[i] for i in range(1, len(args), 2)]
            default = args[-1] if len(args) % 2 else self.null(node.type)
            unified = self.unify([*values, default])
            conds = [args[i] for i in range(0, len(args) - len(args) % 2, 2)]
            return self.case(list(zip(conds, unified[:-1], strict=True)), unified[-1], node.type)
        if name == "SWITCH":
            subject, rest = args[0], args[1:]
            matches = [rest[i] for i in range(0, len(rest) - len(rest) % 2, 2)]
            results = [rest[i] for i in range(1, len(rest), 2)]
            default = rest[-1] if len(rest) % 2 else self.null(node.type)
            unified = self.unify([*results, default])
            conds = [self.compare("=", subject, m) for m in matches]
            return self.case(list(zip(conds, unified[:-1], strict=True)), unified[-1], node.type)
        if name in ("BLANKVALUE", "COALESCE"):
            unified = self.unify(args)
            return SqlValue(sa.func.coalesce(*(self.value(a) for a in unified)), node.type, _common_scale(unified))
        if self.sqlite:
            return self.tx(name, node.type, args)
        if spec.postgres is None:
            raise self.fail(f"{name} cannot run in the database", node)
        args = self.type_blanks(node, args)
        prepared = [replace(a, expr=self.value(a)) for a in args]
        try:
            expr = spec.postgres(prepared)
        except ArgError as error:
            raise self.fail(f"{name}: {error.message}", node) from None
        return SqlValue(expr, node.type, nullable=node.type == BOOLEAN)

    def type_blanks(self, node: Call, args: list[SqlValue]) -> list[SqlValue]:
        """Give BLANK() arguments a SQL type the function accepts (PostgreSQL needs one)."""
        types = [a.type for a in args]
        out = list(args)
        for i, t in enumerate(types):
            if t != BLANK:
                continue
            for candidate in VALUE_TYPES:
                trial = [*types[:i], candidate, *types[i + 1:]]
                try:
                    node.func.typer(trial, node.args)
                except ArgError:
                    continue
                out[i] = replace(self.null(candidate), type=candidate)
                break
        return out

    def case(self, whens: list[tuple[SqlValue, SqlValue]], default: SqlValue, t: str) -> SqlValue:
        scale = _common_scale([v for _, v in whens] + [default])
        expr = sa.case(*((c.expr, self.value(v)) for c, v in whens), else_=self.value(default))
        if t != BLANK and not self.sqlite:
            expr = sa.type_coerce(expr, _pg_type(t))
        return SqlValue(expr, t, scale)

    def aggregate(self, agg: Aggregate, node: Call, scope: dict[str, Any]) -> SqlValue:
        if self.groups is not None and scope["record"] is self.base:
            try:
                return self.grouped(agg, node)
            except _ParentReferenced:
                pass
        child = self.table_for(agg.child).alias()
        inner_scope = {"record": scope["record"], "child": child}
        where = [self.column(agg.child, agg.lookup, child) == scope["record"].c.id, child.c.deleted_at.is_(None),
                 *self.in_scope(agg.child, child)]
        if agg.condition is not None:
            where.append(self.visit(agg.condition, inner_scope).expr)
        if agg.function == "COUNT":
            counted = sa.select(sa.func.count()).select_from(child).where(*where).scalar_subquery()
            if self.sqlite:
                return SqlValue(counted, NUMBER, 0)
            return SqlValue(sa.cast(counted, sa.Numeric()), NUMBER)
        assert agg.value is not None
        v = self.visit(agg.value, inner_scope, keep=self.sqlite and agg.function == "SUM")
        if v.maybe_text:
            return self.scaled_sum(v, child, where, scope["record"], node.type)
        expr, scale = self.aggregate_expr(agg.function, v)
        return SqlValue(sa.select(expr).select_from(child).where(*where).scalar_subquery(), node.type, scale)

    def scaled_sum(self, v: SqlValue, child: Any, where: list[Any], record: Any, t: str) -> SqlValue:
        """SUM over related rows of scaled-or-text numbers (SQLite, `maybe_text`): added in
        SQLite's own integer arithmetic while every value is a scaled integer and the total
        fits 64 bits, else — only then — exactly through tx_sum over their decimal text.
        Each row's value is worked out once (a derived table SQLite does not flatten into
        the sums: LIMIT -1), and added as high and low halves, so that no step of sum(),
        which raises on overflow rather than wrapping, can overflow; a total that would not
        fit is left blank, and the exact sum taken instead."""
        assert v.scale is not None
        rows = sa.select(sa.type_coerce(v.expr, sa.BigInteger()).label("v")).select_from(child).where(
            *where).correlate(record).limit(-1).subquery()
        x, half = rows.c.v, sa.literal(2**31, sa.BigInteger())
        texts = sa.func.coalesce(sa.func.sum(sa.case((sa.func.typeof(x) == "text", 1), else_=0)), 0)
        high = sa.func.coalesce(sa.func.sum(x // half), 0)
        low = sa.func.coalesce(sa.func.sum(x % half), 0)
        native = sa.case((sa.and_(texts == 0, sa.func.abs(high) < half), high * half + low))
        fast = sa.select(native).select_from(rows).scalar_subquery()
        slow = sa.select(sa.func.coalesce(sa.func.tx_sum(self.exact_text(v).expr, -1), "0")).select_from(
            child).where(*where).scalar_subquery()
        return SqlValue(sa.func.coalesce(fast, slow), t, v.scale, maybe_text=True)

    def grouped(self, agg: Aggregate, node: Call) -> SqlValue:
        """An aggregate as a column of a grouped derived table of its relation. Aggregates
        over the same relation with the same condition share one table, the condition in
        its WHERE (so an index on the condition's column can serve it)."""
        assert self.groups is not None
        condition_text = "" if agg.condition is None else self.checked.source[agg.condition.start:agg.condition.end]
        key = (agg.child.uid, agg.lookup.uid, condition_text)
        group = self.groups.get(key)
        if group is None:
            name = f"tx_group_{len(self.groups)}"
            child = self.table_for(agg.child).alias(f"{name}_rows")
            where = [child.c.deleted_at.is_(None), *self.in_scope(agg.child, child)]
            if agg.condition is not None:
                where.append(self.visit(agg.condition, {"record": _NoParent(), "child": child}).expr)
            group = {"name": name, "child": child, "columns": [], "where": where,
                     "lookup": self.column(agg.child, agg.lookup, child)}
        label = f"v{len(group['columns'])}"
        ref = sa.literal_column(f"{group['name']}.{label}")
        if agg.function == "COUNT":
            group["columns"].append((label, sa.func.count()))
            self.groups[key] = group
            value = sa.type_coerce(sa.func.coalesce(ref, 0), sa.BigInteger())
            # As an integer "column", a comparison with a whole number stays integer on PostgreSQL.
            return SqlValue(value, NUMBER, 0) if self.sqlite else SqlValue(sa.cast(value, sa.Numeric()), NUMBER,
                                                                         column=value)
        assert agg.value is not None
        v = self.visit(agg.value, {"record": _NoParent(), "child": group["child"]})
        scale = v.scale if self.sqlite else _numeric_scale(v)
        if agg.function == "AVG" and v.type == NUMBER and scale is not None and scale <= _RATIO_SCALE:
            # Native sum and count per group; the division, if anything needs the value, per
            # record that got this far (a comparison with a number needs none).
            x = self.value(v)
            group["columns"] += [(label, sa.func.sum(x)), (f"{label}n", sa.func.count(x))]
            self.groups[key] = group
            total, count = ref, sa.literal_column(f"{group['name']}.{label}n")
            value = (sa.func.tx("/", f"n:n{scale},n", total, count) if self.sqlite
                     else pg.exact_div(total, count))
            return SqlValue(value, node.type, ratio=(total, count, scale))
        expr, scale = self.aggregate_expr(agg.function, v)
        group["columns"].append((label, expr))
        self.groups[key] = group
        if agg.function == "SUM":
            # A record with no related rows has no group row: its sum is 0, as the subquery's.
            zero = "0" if self.sqlite and scale is None else 0  # as aggregate_expr's own blank sum
            return SqlValue(sa.func.coalesce(ref, zero), node.type, scale)
        return SqlValue(ref, node.type, scale)

    def aggregate_expr(self, function: str, v: SqlValue) -> tuple[Any, int | None]:
        x = self.value(v)
        if not self.sqlite:
            if function == "SUM":
                return sa.func.coalesce(sa.func.sum(x), 0), None
            if function == "AVG":
                return pg.exact_div(sa.func.sum(x), sa.func.count(x)), None
            return (sa.func.min(x) if function == "MIN" else sa.func.max(x)), None
        if v.type == NUMBER:
            if function in ("MIN", "MAX") and v.scale is not None:
                return (sa.func.min(x) if function == "MIN" else sa.func.max(x)), v.scale
            if function == "SUM" and v.scale is not None:
                return sa.func.coalesce(sa.func.sum(x), 0), v.scale
            if function == "AVG" and v.scale is not None:
                # Scaled integers add up exactly in SQLite; only the one division per
                # relation goes through the formula's exact arithmetic (blank over no rows).
                return sa.func.tx("/", f"n:n{v.scale},n", sa.func.sum(x), sa.func.count(x)), None
            fn = {"SUM": sa.func.tx_sum, "AVG": sa.func.tx_avg, "MIN": sa.func.tx_min, "MAX": sa.func.tx_max}[function]
            out = fn(x, v.scale if v.scale is not None else -1)
            return (sa.func.coalesce(out, "0") if function == "SUM" else out), None
        return (sa.func.min(x) if function == "MIN" else sa.func.max(x)), None


def _numeric_scale(v: SqlValue) -> int | None:
    """The scale of a PostgreSQL NUMERIC(p, s) column read as it is."""
    sql_type = getattr(v.column, "type", None) if v.column is not None and v.expr is v.column else None
    scale = getattr(sql_type, "scale", None)
    return scale if isinstance(sql_type, ScaledDecimal | sa.Numeric) and isinstance(scale, int) else None


def _common_scale(values: Sequence[SqlValue]) -> int | None:
    """The scale unified branches share; blanks (NULL) fit any scale."""
    scales = {v.scale for v in values if v.literal is not None}
    return scales.pop() if len(scales) == 1 else None


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}


def _python_value(value: Any, t: str) -> Any:
    if t == NUMBER and value is not None and not isinstance(value, Decimal):
        return Decimal(value)
    if t == DATETIME and isinstance(value, datetime):
        return value
    if t == DATE and isinstance(value, date):
        return value
    return value


def _result_type(t: str, v: SqlValue, sqlite: bool) -> Any:
    if t == NUMBER:
        if sqlite and v.maybe_text:
            return _ScaledOrText(38, v.scale or 0)
        return ScaledDecimal(38, v.scale) if sqlite and v.scale else _DecimalResult()
    return {TEXT: sa.Text(), BOOLEAN: sa.Boolean(), DATE: sa.Date(), DATETIME: UtcDateTime(), DURATION: sa.BigInteger(),
            RECORD: sa.BigInteger(), LIST: _TextList()}.get(t, sa.Text())


def _generator(checked: Checked, dialect: str, table_for: TableFor, ctx: EvalContext | None,
               column_for: ColumnFor | None, *, keep: bool = False) -> tuple[_Gen, SqlValue]:
    gen = _Gen(checked, dialect, table_for, ctx or EvalContext(), column_for)
    try:
        return gen, gen.visit(checked.tree, {"record": gen.base}, keep=keep)
    except RecursionError:
        raise FormulaError("the formula is too complex to run in the database", checked.source, 0) from None


def compile_sql(checked: Checked, dialect: str, table_for: TableFor, ctx: EvalContext | None = None,
                column_for: ColumnFor | None = None) -> sa.ColumnElement[Any]:
    """The formula as a column expression over `table_for(checked.object)`.

    Selecting it returns the same Python values `evaluate` gives (Decimal numbers, aware
    UTC date-times, None for blank). `ctx` supplies $user and the clock (TODAY, NOW);
    `column_for(object, field, table)` may return the SQL of fields that have no column
    of their own (formula fields computed in the query), or None for the column.
    """
    gen, v = _generator(checked, dialect, table_for, ctx, column_for, keep=True)
    return sa.type_coerce(gen.value(v), _result_type(checked.type, v, gen.sqlite))


def compile_store(checked: Checked, dialect: str, table_for: TableFor, column: sa.types.TypeEngine[Any],
                  ctx: EvalContext | None = None, column_for: ColumnFor | None = None) -> Any:
    """The formula as the value to store in a column of type `column` (a stored formula
    field): numbers rounded half away from zero to the column's places and, on SQLite, as
    the column's scaled integer; conditions as TRUE or FALSE, never blank."""
    gen = _Gen(checked, dialect, table_for, ctx or EvalContext(), column_for)
    gen.for_column = isinstance(column, ScaledDecimal)
    try:
        v = gen.visit(checked.tree, {"record": gen.base}, keep=gen.for_column)
    except RecursionError:
        raise FormulaError("the formula is too complex to run in the database", checked.source, 0) from None
    if checked.type == NUMBER and isinstance(column, ScaledDecimal):
        scale = column.scale
        if not gen.sqlite:
            return sa.func.round(v.expr, scale)
        if v.maybe_text:
            # Read once (a sum over related rows is a subquery): tx_scaled takes the
            # scaled integer with its scale, or the exact text.
            assert v.scale is not None
            return sa.func.tx_scaled(v.expr, sa.literal(scale, sa.Integer()), sa.literal(v.scale, sa.Integer()))
        # Plain integers from here on: a bare literal next to a scaled column would take on
        # the column's type and be scaled itself.
        raw = sa.type_coerce(v.expr, sa.BigInteger())
        if v.scale == scale:
            return raw
        if v.scale is not None and v.scale < scale and v.literal is _NOTHING:
            return raw * sa.literal(10 ** (scale - v.scale), sa.BigInteger())
        return sa.func.tx_scaled(sa.type_coerce(gen.dec(v), sa.Text()), sa.literal(scale, sa.Integer()))
    if checked.type == BLANK:
        return sa.null()
    return gen.value(v)


def compile_filter(checked: Checked, dialect: str, table_for: TableFor, ctx: EvalContext | None = None,
                   column_for: ColumnFor | None = None) -> sa.ColumnElement[bool]:
    """A boolean formula as a WHERE condition (rows where it is TRUE)."""
    if checked.type not in (BOOLEAN, BLANK):
        raise FormulaError(f"a filter must be a condition (TRUE or FALSE), not a {checked.type}", checked.source, 0,
                           len(checked.source))
    _gen, v = _generator(checked, dialect, table_for, ctx, column_for)
    if checked.type == BLANK:
        return sa.false()
    return v.expr


def compile_filter_grouped(checked: Checked, dialect: str, table_for: TableFor, ctx: EvalContext | None = None,
                           column_for: ColumnFor | None = None) -> tuple[sa.ColumnElement[bool], list[tuple[Any, Any]]]:
    """A boolean formula as a WHERE condition for filtering a whole table, with its
    aggregates over related records computed in one grouped pass per relation: returns the
    condition and the (derived table, on-clause) pairs to LEFT JOIN to the records."""
    if checked.type not in (BOOLEAN, BLANK):
        raise FormulaError(f"a filter must be a condition (TRUE or FALSE), not a {checked.type}", checked.source, 0,
                           len(checked.source))
    gen = _Gen(checked, dialect, table_for, ctx or EvalContext(), column_for)
    gen.groups = {}
    try:
        v = gen.visit(checked.tree, {"record": gen.base})
    except RecursionError:
        raise FormulaError("the formula is too complex to run in the database", checked.source, 0) from None
    joins = []
    for group in gen.groups.values():
        lookup = group["lookup"]
        derived = (sa.select(lookup.label("parent"), *[expr.label(label) for label, expr in group["columns"]])
                   .where(*group["where"], lookup.is_not(None)).group_by(lookup)
                   .subquery(group["name"]))
        joins.append((derived, derived.c.parent == gen.base.c.id))
    return (sa.false() if checked.type == BLANK else v.expr), joins


def clock_params(ctx: EvalContext) -> dict[str, Any]:
    """The values of TODAY() and NOW() for a statement compiled earlier, as `ctx` reads the
    clock: passed with its other parameters, a kept statement is right on the next day."""
    return {TODAY_PARAM: ctx.today, NOW_PARAM: ctx.now}
