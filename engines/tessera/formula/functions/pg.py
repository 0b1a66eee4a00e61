"""Building blocks for the PostgreSQL side of functions: literals, safe integer
arguments, text collations and UTC date parts.

PostgreSQL raises errors where formulas return blank (a bad date, an int4 overflow), so
these helpers clamp or guard every value that reaches such a function.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tessera.formula.values import MAX_TEXT

#: Byte order, which is code point order in UTF-8: what Python compares texts by.
BINARY = "C"
#: Unicode case mapping for UPPER and LOWER, as Python's str.upper/lower do.
UNICODE = "und-x-icu"
Expr = Any


def num(value: Any) -> Expr:
    return sa.literal(Decimal(value), sa.Numeric())


def txt(value: str) -> Expr:
    return sa.literal(value, sa.Text())


def integer(expr: Expr, low: int, high: int) -> Expr:
    """A number as an int4 argument: truncated and clamped (strict: blank stays blank)."""
    clamped = sa.func.numeric_smaller(sa.func.numeric_larger(sa.func.trunc(expr), num(low)), num(high))
    return sa.cast(clamped, sa.Integer)


def size(expr: Expr) -> Expr:
    return integer(expr, 0, MAX_TEXT)


def nz(expr: Expr) -> Expr:
    return sa.func.coalesce(expr, txt(""))


def blank_if_empty(expr: Expr) -> Expr:
    return sa.func.nullif(expr, txt(""))


def binary(expr: Expr) -> Expr:
    return sa.collate(expr, BINARY)


def wide(expr: Expr) -> Expr:
    """The number with at least 20 decimal places, so division rounds where Python does."""
    return expr + sa.literal_column("0.00000000000000000000")


def exact_div(a: Expr, b: Expr) -> Expr:
    return sa.func.round(wide(a) / sa.func.nullif(b, 0), 10)


def xmod(a: Expr, b: Expr) -> Expr:
    """Excel's MOD (sign of the divisor); blank when dividing by zero."""
    nb = sa.func.nullif(b, 0)
    return sa.func.mod(sa.func.mod(a, nb) + b, nb)


def utc_naive(expr: Expr) -> Expr:
    """A timestamptz as a UTC wall-clock timestamp, for calendar arithmetic in UTC."""
    return sa.func.timezone(txt("UTC"), expr)


def from_utc_naive(expr: Expr) -> Expr:
    return sa.func.timezone(txt("UTC"), sa.cast(expr, sa.DateTime()))


def part(name: str, expr: Expr, type_name: str) -> Expr:
    source = utc_naive(expr) if type_name == "datetime" else expr
    return sa.cast(sa.extract(name, source), sa.Numeric())


def as_date(expr: Expr, type_name: str) -> Expr:
    return sa.cast(utc_naive(expr), sa.Date()) if type_name == "datetime" else expr


def text_of(expr: Expr, type_name: str) -> Expr:
    """How `&`, CONCAT and TEXT show a value (see values.as_text)."""
    if type_name == "number":
        return sa.cast(sa.func.trim_scale(expr), sa.Text())
    if type_name == "boolean":
        return sa.case((expr, txt("TRUE")), else_=txt("FALSE"))
    if type_name == "date":
        return sa.func.to_char(expr, txt("YYYY-MM-DD"))
    if type_name == "datetime":
        return sa.func.to_char(utc_naive(expr), txt("YYYY-MM-DD HH24:MI:SS"))
    if type_name == "list":
        items = sa.func.jsonb_array_elements_text(expr).table_valued("value", with_ordinality="n").render_derived()
        joined = sa.select(sa.func.string_agg(items.c.value, sa.literal_column("'; '")
                                              .op("ORDER BY")(items.c.n))).scalar_subquery()
        return blank_if_empty(joined)
    if type_name in ("duration", "record"):
        return sa.cast(expr, sa.Text())
    if type_name == "blank":
        return sa.cast(sa.null(), sa.Text())
    return expr


def make_date(y: Expr, m: Expr, d: Expr) -> Expr:
    """DATE(y, m, d): the date, or NULL unless y-m-d is a real calendar date."""
    yi, mi, di = integer(y, 1, 9999), integer(m, 1, 12), integer(d, 1, 31)
    found = sa.func.make_date(yi, mi, 1) + (di - 1)
    valid = sa.and_(sa.func.trunc(y) == yi, sa.func.trunc(m) == mi, sa.func.trunc(d) == di,
                    sa.extract("month", found) == mi)
    return sa.case((valid, found))
