"""SQLite functions that let formulas run in SQLite exactly as they run in Python.

SQLite has no exact decimal type, no Unicode case mapping and no regular expressions, so
the SQL compiler hands those operations to these deterministic user-defined functions,
which call the very Python implementations `evaluate` uses. Values cross the boundary in
SQLite's storage formats: numbers as integers or decimal text (or scaled integers of a
known scale), dates as 'YYYY-MM-DD', date-times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC,
booleans as 0/1, lists as JSON.

Call `register_sqlite_functions(dbapi_connection)` from the engine's connect hook.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from tessera.formula import values as V
from tessera.formula.functions import registry
from tessera.formula.types import BLANK, BOOLEAN, DATE, DATETIME, DURATION, JSON, LIST, NUMBER, RECORD, TEXT

#: One-letter codes of types in call signatures; "n2" is a number scaled by 10^2.
CODES = {NUMBER: "n", TEXT: "t", BOOLEAN: "b", DATE: "d", DATETIME: "T", DURATION: "u", LIST: "l",
         RECORD: "r", JSON: "j", BLANK: "x"}
TYPES = {code: name for name, code in CODES.items()}
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_INT64_MAX = 2**63 - 1


def decode(code: str, value: Any) -> Any:
    if value is None:
        return False if code == "b" else None
    kind = code[0]
    if kind == "n":
        # A scaled number is an integer count of 10^-scale, or exact decimal text where
        # SQL arithmetic on it outgrew 64 bits.
        if len(code) > 1 and not isinstance(value, str):
            return Decimal(int(value)).scaleb(-int(code[1:]))
        return V.num(value)
    if kind == "t":
        return str(value) or None
    if kind == "b":
        return bool(value)
    if kind == "d":
        return date.fromisoformat(str(value))
    if kind == "T":
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    if kind in "ur":
        return int(value)
    if kind == "l":
        return (json.loads(value) if isinstance(value, str) else value) or None
    if kind == "j":
        return json.loads(value) if isinstance(value, str) else value
    return None


def encode(code: str, value: Any) -> Any:
    if value is None:
        return 0 if code == "b" else None
    kind = code[0]
    if kind == "n":
        return format(V.num(value), "f")
    if kind == "b":
        return 1 if value else 0
    if kind == "d":
        return value.isoformat()
    if kind == "T":
        return V.utc(value).strftime(DATETIME_FORMAT)
    if kind in "ur":
        return int(value)
    if kind in "lj":
        return json.dumps(value)
    return value


@lru_cache(maxsize=4096)
def _signature(sig: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """'n:n2,n' → result code, argument codes, argument type names."""
    result, _, args = sig.partition(":")
    codes = tuple(args.split(",")) if args else ()
    return result, codes, tuple(TYPES[c[0]] for c in codes)


def _compare(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    return (a > b) - (a < b)


#: Operators the SQL compiler sends here, keyed like function names.
OPERATORS: dict[str, Callable[..., Any]] = {
    "+": lambda a, b: None if a is None or b is None else V.add(a, b),
    "-": lambda a, b: None if a is None or b is None else V.sub(a, b),
    "*": lambda a, b: None if a is None or b is None else V.mul(a, b),
    "/": V.div,
    "NEG": lambda a: None if a is None else V.neg(a),
    "CMP": _compare,
    "EQ": lambda a, b: a == b,
}


def operator_name(op: str, left: str, right: str) -> str:
    """The tx name of a date or duration operator, e.g. "OP+dn" for date + number."""
    return f"OP{op}{CODES[left]}{CODES[right]}"


def _date_operators() -> None:
    from tessera.formula.pycompile import _OPS

    for (op, left, right), fn in _OPS.items():
        OPERATORS[operator_name(op, left, right)] = fn


def _call(name: str, sig: str, *args: Any) -> Any:
    result, codes, types = _signature(sig)
    values = [decode(c, a) for c, a in zip(codes, args, strict=True)]
    try:
        if name in OPERATORS:
            out = OPERATORS[name](*values)
        elif name == "&":
            out = "".join(V.as_text(v, t) or "" for v, t in zip(values, types, strict=True)) or None
        elif name == "TEXTOF":
            out = V.as_text(values[0], types[0])
        else:
            spec = registry.get(name)
            if spec is None or spec.python is None:
                raise sqlite3.ProgrammingError(f"no formula function {name}")
            out = spec.python(types, *values) if spec.wants_types else spec.python(*values)
    except (ArithmeticError, OverflowError, ValueError):
        # Python raises where it cannot compute; a query gets blank instead of failing.
        return encode(result, None)
    return encode(result, out)


def _dec(value: Any, scale: int) -> str | None:
    if value is None:
        return None
    return format(Decimal(int(value)).scaleb(-int(scale)), "f")


def _scaled(value: Any, scale: int, given: int = 0) -> int | None:
    """A number (integer or decimal text) as an integer count of 10^-scale, rounded half
    away from zero, for a scaled decimal column; blank if it does not fit one. `given`: an
    integer `value` counts 10^-given (a scaled-or-text value: text is the number itself)."""
    if value is None:
        return None
    try:
        number = Decimal(value).scaleb(-int(given)) if isinstance(value, int) else V.num(value)
        out = int(number.scaleb(int(scale)).to_integral_value(rounding=ROUND_HALF_UP))
    except (ArithmeticError, ValueError):
        return None
    return out if -_INT64_MAX <= out <= _INT64_MAX else None


class _Aggregate:
    """Exact SUM, AVG, MIN and MAX over decimal text or scaled integers (scale < 0: text)."""

    kind = "SUM"

    def __init__(self) -> None:
        self.values: list[Decimal] = []

    def step(self, value: Any, scale: int) -> None:
        if value is not None:
            self.values.append(Decimal(int(value)).scaleb(-scale) if scale >= 0 else V.num(value))

    def finalize(self) -> Any:
        try:
            if self.kind == "SUM":
                total = V.ZERO
                for v in self.values:
                    total = V.add(total, v)
                return format(total, "f")
            if not self.values:
                return None
            if self.kind == "AVG":
                total = V.ZERO
                for v in self.values:
                    total = V.add(total, v)
                out = V.div(total, Decimal(len(self.values)))
            else:
                out = min(self.values) if self.kind == "MIN" else max(self.values)
            return None if out is None else format(out, "f")
        except ArithmeticError:
            return None


def _aggregate(kind: str) -> type[_Aggregate]:
    return type(f"_{kind}", (_Aggregate,), {"kind": kind})


def register_sqlite_functions(dbapi_connection: sqlite3.Connection) -> None:
    """Install the formula functions on a sqlite3 connection (call on every connect)."""
    if "OP-dd" not in OPERATORS:
        _date_operators()
    dbapi_connection.create_function("tx", -1, _call, deterministic=True)
    dbapi_connection.create_function("tx_dec", 2, _dec, deterministic=True)
    dbapi_connection.create_function("tx_scaled", 2, _scaled, deterministic=True)
    dbapi_connection.create_function("tx_scaled", 3, _scaled, deterministic=True)
    for kind in ("SUM", "AVG", "MIN", "MAX"):
        dbapi_connection.create_aggregate(f"tx_{kind.lower()}", 2, _aggregate(kind))
