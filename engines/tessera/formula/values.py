"""Value semantics shared by every place a formula runs: Python evaluation, the SQLite
functions and the function implementations.

Numbers are Decimals computed in a local context of 38 significant digits, never binary
floats. Texts are never empty: an empty text is blank, so `""` and a blank field behave
alike everywhere. Division rounds to 10 decimal places, half away from zero.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: The context every formula calculation runs in (not the thread's current context).
NUMBERS = decimal.Context(prec=38, rounding=ROUND_HALF_UP, Emax=999999, Emin=-999999,
                          traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
#: Wider context for the first step of division, so its rounding happens only at the end.
_WIDE = decimal.Context(prec=80, rounding=ROUND_HALF_UP, Emax=999999, Emin=-999999,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
#: The wide context, for functions that round as division does.
WIDE = _WIDE
DIVISION_PLACES = 10
_Q10 = Decimal(1).scaleb(-DIVISION_PLACES)
_Q20 = Decimal(1).scaleb(-20)
ZERO = Decimal(0)
ONE = Decimal(1)
#: Longest text a formula may build (REPT, LPAD…), so a formula cannot exhaust memory.
MAX_TEXT = 100_000


def num(value: Any) -> Decimal | None:
    """A stored or computed number as a Decimal (integer fields arrive as int)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def add(a: Any, b: Any) -> Decimal:
    return NUMBERS.add(a, b)


def sub(a: Any, b: Any) -> Decimal:
    return NUMBERS.subtract(a, b)


def mul(a: Any, b: Any) -> Decimal:
    return NUMBERS.multiply(a, b)


def neg(a: Any) -> Decimal:
    return NUMBERS.minus(a)


def div(a: Any, b: Any) -> Decimal | None:
    """a / b rounded to 10 places, half away from zero; blank when b is zero.

    The quotient is first rounded to 20 places, as PostgreSQL does when the SQL compiler
    asks it for a 20-place quotient, so that both give the same digits.
    """
    if a is None or b is None or not b:
        return None
    # Positional arguments: quantize's keyword form costs more than the rounding itself.
    return _WIDE.divide(a, b).quantize(_Q20, ROUND_HALF_UP, _WIDE).quantize(_Q10, ROUND_HALF_UP, _WIDE)


def div_by(b: Decimal) -> Callable[[Any], Decimal | None]:
    """`lambda a: div(a, b)` for a fixed divisor, giving exactly the same values, faster.

    The compiler uses it when a formula divides by a number written in it (`discount / 100`).
    A power of ten only moves the decimal point: `scaleb` in the same wide context gives the
    same quotient as `divide` (both are the exact quotient rounded half-up to 80 digits), and
    the two roundings to 20 and then 10 places stay as they are.
    """
    if not b:
        return lambda a: None
    shift = _power_of_ten(b)
    wide, q20, q10, half_up = _WIDE, _Q20, _Q10, ROUND_HALF_UP
    if shift is None:
        divide = _WIDE.divide

        def by_number(a: Any) -> Decimal | None:
            if a is None:
                return None
            return divide(a, b).quantize(q20, half_up, wide).quantize(q10, half_up, wide)

        return by_number

    def by_power_of_ten(a: Any) -> Decimal | None:
        if a is None:
            return None
        if a.__class__ is not Decimal:
            return div(a, b)
        return a.scaleb(shift, wide).quantize(q20, half_up, wide).quantize(q10, half_up, wide)

    return by_power_of_ten


def _power_of_ten(b: Decimal) -> int | None:
    """-k when b is exactly 10^k (k may be negative), else None."""
    if not isinstance(b, Decimal) or not b.is_finite() or b <= 0:
        return None
    _sign, digits, exponent = b.normalize(_WIDE).as_tuple()
    if digits != (1,) or not isinstance(exponent, int) or ONE.scaleb(exponent, _WIDE) != b:
        return None
    return -exponent


def round_places(value: Decimal, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    result = value.quantize(Decimal(1).scaleb(-places), rounding, _WIDE)
    return result if result else abs(result)


def text(value: Any) -> str | None:
    """Empty text is blank."""
    return value or None


def number_text(value: Decimal | int) -> str:
    """A number as text: no exponent and no trailing zeros ("1.50" → "1.5")."""
    if isinstance(value, int):
        return str(value)
    if not value:
        return "0"
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out


def datetime_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def as_text(value: Any, type_name: str) -> str | None:
    """How `&`, CONCAT and TEXT show a value of each type."""
    if value is None:
        return None
    if type_name == "number":
        return number_text(value)
    if type_name == "boolean":
        return "TRUE" if value else "FALSE"
    if type_name == "date":
        return value.isoformat()
    if type_name == "datetime":
        return datetime_text(value)
    if type_name == "list":
        return "; ".join(value) or None
    if type_name in ("duration", "record"):
        return str(value)
    return value or None


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def int_arg(value: Decimal | int, low: int, high: int) -> int:
    """A number used as a count or position: truncated toward zero and clamped."""
    whole = int(value)
    return low if whole < low else high if whole > high else whole


def day_delta(days: int) -> timedelta:
    return timedelta(days=days)
