"""The function registry: one `Function` spec per formula function.

A spec holds everything about a function in one place — its signature and type rule, its
Python implementation, its PostgreSQL implementation, its documentation and examples — so
the checker, both compilers, the SQLite bridge, the editor's completions and
docs/formulas.md all read the same definition. Plugins add functions with `register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tessera.formula.ast import Literal, Node
from tessera.formula.types import BLANK, ORDERED, article
from tessera.registry import Registry

#: Type parameters: "number", "text", … ; "any"; "ordered" (text, number, dates, duration);
#: "date|datetime" for alternatives; a trailing "?" marks optional, "*" repeats.
Typer = Callable[[Sequence[str], Sequence[Node]], str]


class ArgError(Exception):
    """An argument does not fit; `index` is which one (None: the call as a whole)."""

    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


@dataclass(frozen=True)
class Example:
    formula: str
    result: str


@dataclass(frozen=True)
class Function:
    """A formula function.

    `python(*values)` gets each argument's value (None is blank); with `wants_types` it
    gets the tuple of argument types first. `postgres(args)` gets `SqlArg`s (see
    tessera.formula.sql) and returns a SQLAlchemy expression. `special` functions are
    compiled by the compilers themselves (short-circuiting logic, aggregates, context).
    """

    name: str
    category: str
    signature: str
    doc: str
    typer: Typer
    python: Callable[..., Any] | None = None
    postgres: Callable[[Sequence[Any]], Any] | None = None
    examples: tuple[Example, ...] = ()
    wants_types: bool = False
    special: bool = False
    #: Reads the clock: a stored formula using it must be recomputed over time.
    volatile: bool = False
    #: Reads the record as it was before the save: only in validation and automation rules.
    change_context: bool = False
    #: Arguments that must be written as literals (units, formats, patterns).
    literal_args: tuple[int, ...] = ()
    #: Same arguments, same result, nothing else touched: the Python compiler computes a call
    #: whose arguments are all constants once, when it compiles. Plugins' functions are not
    #: assumed pure unless they say so.
    pure: bool = False
    #: `python_specialise(constants)` may return a faster Python implementation for one call:
    #: `constants[i]` is argument i's value when it is a constant, else `VARIES`. The function
    #: returned takes the arguments that vary, in order, gets them as `python` would (blank is
    #: None; numbers may be ints) and gives exactly what `python` gives — numbers as Decimals.
    #: None: no faster way for these constants.
    python_specialise: Callable[[tuple[Any, ...]], Callable[..., Any] | None] | None = None
    #: Names a form the Python compiler writes out directly ("lower", "contains"…); only for
    #: built-in functions whose `python` it matches exactly.
    python_inline: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


#: Marks an argument that is not a constant, for `Function.python_specialise`.
VARIES: Any = type("Varies", (), {"__repr__": lambda self: "VARIES"})()

#: Names are case-insensitive in formulas: stored and found upper-cased.
_FUNCTIONS: Registry[Function] = Registry("function", key=str.upper)


def register(spec: Function, *, replace: bool = False) -> Function:
    """Make a function available to every formula; plugins call this at import time.

    A name already registered raises `DuplicateName` (a ValueError) unless `replace`.
    """
    name = spec.name.upper()
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"invalid function name {spec.name!r}")
    return _FUNCTIONS.register(name, spec, replace=replace)


def unregister(name: str) -> None:
    """Remove a function (plugins being unloaded, tests)."""
    _FUNCTIONS.unregister(name)


def get(name: str) -> Function | None:
    return _FUNCTIONS.get(name)


def all_functions() -> dict[str, Function]:
    return dict(sorted(_FUNCTIONS.as_dict().items()))


# -- type rules -----------------------------------------------------------------------


def _allowed(spec: str) -> frozenset[str] | None:
    if spec == "any":
        return None
    if spec == "ordered":
        return frozenset(ORDERED)
    return frozenset(spec.split("|"))


def sig(*params: str, returns: str | Callable[[Sequence[str]], str]) -> Typer:
    """A type rule from parameter specs: `sig("number", "number?", returns="number")`.

    `returns` may be a type, "=N" for the type of argument N, "=same" for the one type all
    arguments share, or a function of the argument types.
    """
    fixed = [p.rstrip("?*") for p in params]
    optional = sum(p.endswith("?") for p in params)
    variadic = bool(params) and params[-1].endswith("*")
    minimum = len(params) - optional - (1 if variadic else 0)

    def typer(types: Sequence[str], nodes: Sequence[Node]) -> str:
        n = len(types)
        if n < minimum or (not variadic and n > len(params)):
            raise ArgError(None, f"takes {_count(minimum, None if variadic else len(params))}, not {n}")
        for i, t in enumerate(types):
            allowed = _allowed(fixed[min(i, len(fixed) - 1)])
            if allowed is not None and t != BLANK and t not in allowed:
                wanted = " or ".join(sorted(allowed))
                raise ArgError(i, f"argument {i + 1} must be {article(wanted)}, not {article(t)}")
        if callable(returns):
            return returns(types)
        if returns == "=same":
            return same(types, 0)
        if returns.startswith("="):
            index = int(returns[1:])
            return types[index] if index < n else BLANK
        return returns

    return typer


def same(types: Sequence[str], first: int, step: int = 1) -> str:
    """The one type shared by types[first::step], blank fitting any."""
    found = BLANK
    for offset, t in enumerate(types[first::step]):
        if t == BLANK:
            continue
        if found == BLANK:
            found = t
        elif t != found:
            raise ArgError(first + offset * step, f"must be {article(found)} like the others, not {article(t)}")
    return found


def literal_text(nodes: Sequence[Node], index: int, allowed: Sequence[str] | None = None) -> str:
    """Check that argument `index` is a text literal (optionally one of `allowed`)."""
    node = nodes[index]
    if not isinstance(node, Literal) or node.kind != "text":
        raise ArgError(index, f"argument {index + 1} must be written as a text in quotes")
    value = str(node.value)
    if allowed is not None and value.lower() not in allowed:
        raise ArgError(index, f'"{value}" is not one of: ' + ", ".join(f'"{a}"' for a in allowed))
    return value


def _count(low: int, high: int | None) -> str:
    if high == low:
        return f"{low} argument" + ("" if low == 1 else "s")
    if high is None:
        return f"at least {low} argument" + ("" if low == 1 else "s")
    return f"{low} to {high} arguments"
