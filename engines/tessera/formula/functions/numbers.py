"""Number functions. Every result is an exact Decimal; where a result cannot be exact
(square roots, negative powers) it is rounded to 10 decimal places, half away from zero,
exactly as division is."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

import sqlalchemy as sa

from tessera.formula.functions import pg
from tessera.formula.functions.registry import VARIES, Example, Function, register, sig
from tessera.formula.types import NUMBER
from tessera.formula.values import NUMBERS, WIDE, ZERO, div, int_arg, num, round_places

_EXACT = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_UP, Emax=999999, Emin=-999999,
                         traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_MAX_PLACES = 30
_MAX_POWER = 50


def _strict(fn: Any) -> Any:
    """Blank in any argument gives blank out."""

    def wrapped(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*(num(a) for a in args))

    wrapped.__name__ = fn.__name__
    return wrapped


def _places(p: Any) -> int:
    return int_arg(p, -_MAX_PLACES, _MAX_PLACES)


def xmod(a: Decimal, b: Decimal) -> Decimal | None:
    """Excel's MOD: the remainder has the sign of the divisor."""
    if not b:
        return None
    r = _EXACT.remainder(a, b)
    if r and (r < 0) != (b < 0):
        r = _EXACT.add(r, b)
    return r


def _round(v: Decimal, p: Decimal = ZERO) -> Decimal:
    return round_places(v, _places(p))


def _roundup(v: Decimal, p: Decimal = ZERO) -> Decimal:
    return round_places(v, _places(p), ROUND_UP)


def _rounddown(v: Decimal, p: Decimal = ZERO) -> Decimal:
    return round_places(v, _places(p), ROUND_DOWN)


def _floor(v: Decimal, step: Decimal | None = None) -> Decimal | None:
    if step is None:
        return round_places(v, 0, ROUND_FLOOR)
    m = xmod(v, step)
    return None if m is None else _EXACT.subtract(v, m)


def _ceiling(v: Decimal, step: Decimal | None = None) -> Decimal | None:
    if step is None:
        return round_places(v, 0, ROUND_CEILING)
    m = xmod(-v, step)
    return None if m is None else -_EXACT.subtract(-v, m)


def _power(x: Decimal, n: Decimal) -> Decimal | None:
    k = int_arg(n, -_MAX_POWER, _MAX_POWER)
    if k >= 0:
        return _EXACT.power(x, k)
    return div(Decimal(1), _EXACT.power(x, -k)) if x else None


def _sqrt(x: Decimal) -> Decimal | None:
    if x < 0:
        return None
    return div(_EXACT.sqrt(x), Decimal(1))


def _present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _min(*values: Any) -> Any:
    found = _present(values)
    return min(found) if found else None


def _max(*values: Any) -> Any:
    found = _present(values)
    return max(found) if found else None


def _sum(*values: Any) -> Decimal:
    total = ZERO
    for v in _present(values):
        total = NUMBERS.add(total, v)
    return total


def _average(*values: Any) -> Decimal | None:
    found = _present(values)
    return div(_sum(*found), Decimal(len(found))) if found else None


# -- PostgreSQL ------------------------------------------------------------------------


def _pg_places(args: Sequence[Any]) -> Any:
    return pg.integer(args[1].expr, -_MAX_PLACES, _MAX_PLACES) if len(args) > 1 else sa.literal(0)


def _pg_scale(args: Sequence[Any]) -> tuple[Any, Any]:
    """10^p and 10^-p; exact literals when p is written as a number."""
    if len(args) < 2:
        return pg.num(1), pg.num(1)
    p = args[1].literal
    if isinstance(p, Decimal):
        k = int_arg(p, -_MAX_PLACES, _MAX_PLACES)
        return pg.num(Decimal(1).scaleb(k)), pg.num(Decimal(1).scaleb(-k))
    k = sa.cast(_pg_places(args), sa.Numeric())
    return sa.func.power(pg.num(10), k), sa.func.power(pg.num(10), -k)


def _pg_roundup(args: Sequence[Any]) -> Any:
    x = args[0].expr
    up, down = _pg_scale(args)
    return sa.func.sign(x) * sa.func.ceil(sa.func.abs(x) * up) * down


def _pg_floor(args: Sequence[Any]) -> Any:
    if len(args) == 1:
        return sa.func.floor(args[0].expr)
    return args[0].expr - pg.xmod(args[0].expr, args[1].expr)


def _pg_ceiling(args: Sequence[Any]) -> Any:
    if len(args) == 1:
        return sa.func.ceil(args[0].expr)
    neg = -args[0].expr
    return -(neg - pg.xmod(neg, args[1].expr))


def _pg_power(args: Sequence[Any]) -> Any:
    x = args[0].expr
    k = sa.cast(pg.integer(args[1].expr, -_MAX_POWER, _MAX_POWER), sa.Numeric())
    return sa.case((k >= 0, sa.func.power(x, k)),
                   else_=pg.exact_div(pg.num(1), sa.func.power(x, -k)))


def _pg_sqrt(args: Sequence[Any]) -> Any:
    x = args[0].expr
    return sa.func.round(sa.func.sqrt(pg.wide(sa.case((x >= 0, x)))), 10)


def _pg_sum(args: Sequence[Any]) -> Any:
    total: Any = pg.num(0)
    for a in args:
        total = total + sa.func.coalesce(a.expr, 0)
    return total


def _pg_average(args: Sequence[Any]) -> Any:
    count: Any = sa.literal(0)
    for a in args:
        count = count + sa.case((a.expr.is_(None), 0), else_=1)
    return pg.exact_div(_pg_sum(args), count)


def _pg_extreme(fn: Any) -> Any:
    def build(args: Sequence[Any]) -> Any:
        exprs = [pg.binary(a.expr) if a.type == "text" else a.expr for a in args]
        return fn(*exprs) if len(exprs) > 1 else exprs[0]

    return build


def _num(name: str, signature: str, doc: str, typer: Any, python: Any, postgres: Any,
         *examples: tuple[str, str], **extra: Any) -> None:
    register(Function(name, "numbers", signature, doc, typer, python=python, postgres=postgres,
                      examples=tuple(Example(f, r) for f, r in examples), pure=True, **extra))


def _rounding_to(rounding: str) -> Any:
    """ROUND, ROUNDUP, ROUNDDOWN/TRUNC with places written as a number: the quantum is worked
    out once, not on every call (the same `round_places` steps otherwise)."""

    def specialise(constants: tuple[Any, ...]) -> Any:
        if constants[0] is not VARIES:
            return None
        places = constants[1] if len(constants) > 1 else ZERO
        if places is VARIES or places is None:
            return None
        quantum = Decimal(1).scaleb(-_places(num(places)))
        wide = WIDE

        def rounded(v: Any) -> Decimal | None:
            if v is None:
                return None
            if v.__class__ is not Decimal:
                v = num(v)
            result = v.quantize(quantum, rounding, wide)
            return result if result else abs(result)

        return rounded

    return specialise


_one = sig("number", returns=NUMBER)
_one_places = sig("number", "number?", returns=NUMBER)
_two = sig("number", "number", returns=NUMBER)

_num("ROUND", "ROUND(number, [places])",
     "Rounds to `places` decimal places (default 0), halves away from zero; negative places round "
     "to tens, hundreds…", _one_places, _strict(_round),
     lambda a: sa.func.round(a[0].expr, _pg_places(a)),
     ("ROUND(2.345, 2)", "2.35"), ("ROUND(-2.5)", "-3"), ("ROUND(1234, -2)", "1200"),
     python_specialise=_rounding_to(ROUND_HALF_UP))
_num("ROUNDUP", "ROUNDUP(number, [places])", "Rounds away from zero to `places` decimal places.",
     _one_places, _strict(_roundup), _pg_roundup, ("ROUNDUP(2.341, 2)", "2.35"), ("ROUNDUP(-2.1)", "-3"),
     python_specialise=_rounding_to(ROUND_UP))
_num("ROUNDDOWN", "ROUNDDOWN(number, [places])", "Rounds toward zero to `places` decimal places.",
     _one_places, _strict(_rounddown), lambda a: sa.func.trunc(a[0].expr, _pg_places(a)),
     ("ROUNDDOWN(2.349, 2)", "2.34"), ("ROUNDDOWN(-2.9)", "-2"), python_specialise=_rounding_to(ROUND_DOWN))
_num("FLOOR", "FLOOR(number, [step])",
     "Rounds down (toward minus infinity) to a whole number, or to a multiple of `step`.",
     _one_places, _strict(_floor), _pg_floor, ("FLOOR(2.7)", "2"), ("FLOOR(-2.2)", "-3"), ("FLOOR(17, 5)", "15"))
_num("CEILING", "CEILING(number, [step])",
     "Rounds up (toward plus infinity) to a whole number, or to a multiple of `step`.",
     _one_places, _strict(_ceiling), _pg_ceiling, ("CEILING(2.1)", "3"), ("CEILING(17, 5)", "20"))
_num("ABS", "ABS(number)", "The number without its sign.", _one, _strict(abs),
     lambda a: sa.func.abs(a[0].expr), ("ABS(-4.5)", "4.5"))
_num("MOD", "MOD(number, divisor)",
     "The remainder after dividing; it has the sign of the divisor, as in spreadsheets. Blank when "
     "the divisor is 0.", _two, _strict(xmod), lambda a: pg.xmod(a[0].expr, a[1].expr),
     ("MOD(10, 3)", "1"), ("MOD(-10, 3)", "2"), ("MOD(10, 0)", "blank"))
_num("POWER", "POWER(number, exponent)",
     "The number raised to a whole exponent (truncated, between -50 and 50). Negative exponents "
     "are rounded to 10 decimal places.", _two, _strict(_power), _pg_power,
     ("POWER(2, 10)", "1024"), ("POWER(1.5, 2)", "2.25"), ("POWER(2, -2)", "0.25"))
_num("SQRT", "SQRT(number)", "The square root, rounded to 10 decimal places; blank for negative numbers.",
     _one, _strict(_sqrt), _pg_sqrt, ("SQRT(16)", "4"), ("SQRT(2)", "1.4142135624"), ("SQRT(-1)", "blank"))
_num("SIGN", "SIGN(number)", "1 for positive numbers, -1 for negative ones, 0 for zero.", _one,
     _strict(lambda v: Decimal((v > 0) - (v < 0))), lambda a: sa.func.sign(a[0].expr),
     ("SIGN(-7.5)", "-1"), ("SIGN(0)", "0"))
_num("INT", "INT(number)", "Rounds down to a whole number (toward minus infinity), as spreadsheets do.",
     _one, _strict(lambda v: round_places(v, 0, ROUND_FLOOR)), lambda a: sa.func.floor(a[0].expr),
     ("INT(7.9)", "7"), ("INT(-7.1)", "-8"))
_num("TRUNC", "TRUNC(number, [places])", "Cuts the number after `places` decimal places (default 0).",
     _one_places, _strict(_rounddown), lambda a: sa.func.trunc(a[0].expr, _pg_places(a)),
     ("TRUNC(-7.9)", "-7"), ("TRUNC(3.14159, 3)", "3.141"), python_specialise=_rounding_to(ROUND_DOWN))
_num("MIN", "MIN(value1, [value2, …])  or  MIN(children.field, [condition])",
     "The smallest value, ignoring blanks (blank if all are blank). Works on numbers, texts, dates, "
     "date-times and durations. With a child list it is an aggregate (see Aggregates).",
     sig("ordered", "ordered*", returns="=same"), _min, _pg_extreme(sa.func.least),
     ("MIN(3, 1, 2)", "1"), ("MIN(close_date, TODAY())", "the earlier date"))
_num("MAX", "MAX(value1, [value2, …])  or  MAX(children.field, [condition])",
     "The largest value, ignoring blanks (blank if all are blank). With a child list it is an "
     "aggregate (see Aggregates).", sig("ordered", "ordered*", returns="=same"), _max,
     _pg_extreme(sa.func.greatest), ("MAX(3, 1, 2)", "3"), ('MAX("apple", "pear")', '"pear"'))
_num("SUM", "SUM(number1, [number2, …])  or  SUM(children.field, [condition])",
     "The total, blanks counting as 0. With a child list it totals the children (see Aggregates).",
     sig("number", "number*", returns=NUMBER), _sum, _pg_sum,
     ("SUM(1, 2, 3.5)", "6.5"), ("SUM(amount, BLANK())", "the amount"))
_num("AVERAGE", "AVERAGE(number1, [number2, …])",
     "The average of the values that are not blank, rounded to 10 decimal places; blank if all are.",
     sig("number", "number*", returns=NUMBER), _average, _pg_average, ("AVERAGE(1, 2, 4)", "2.3333333333"))
