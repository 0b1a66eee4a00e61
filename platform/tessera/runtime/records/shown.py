"""A record's values as a message template reads them.

`Deal won: {{ name }} ({{ amount }})` is written for a person: the amount should come out
as the record's page shows it (*53,360.00 USD*), a choice by its label (*Closed won*), a
checkbox as *Yes*. Yet a template also decides with the values (`{% if amount > 10000 %}`,
`{% if stage == "won" %}`). So each field's value comes wrapped: written out as the field
type displays it, compared and computed with as the value itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import escape

from tessera.meta.model import ObjectDef


def _plain(other: Any) -> Any:
    return other.value if isinstance(other, Shown) else other


def _both(op: Callable[[Any, Any], Any]) -> tuple[Callable[[Shown, Any], Any], Callable[[Shown, Any], Any]]:
    def forward(self: Shown, other: Any) -> Any:
        return op(self.value, _plain(other))

    def backward(self: Shown, other: Any) -> Any:
        return op(_plain(other), self.value)

    return forward, backward


class Shown:
    """A value that prints as `text` and otherwise behaves as `value`."""

    __slots__ = ("text", "value")

    def __init__(self, value: Any, text: str) -> None:
        self.value = value
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        return str(escape(self.text))

    def __repr__(self) -> str:
        return f"Shown({self.value!r}, {self.text!r})"

    def __bool__(self) -> bool:
        return bool(self.value)

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return bool(self.value == _plain(other))

    def __ne__(self, other: object) -> bool:
        return bool(self.value != _plain(other))

    def __lt__(self, other: Any) -> bool:
        return bool(self.value < _plain(other))

    def __le__(self, other: Any) -> bool:
        return bool(self.value <= _plain(other))

    def __gt__(self, other: Any) -> bool:
        return bool(self.value > _plain(other))

    def __ge__(self, other: Any) -> bool:
        return bool(self.value >= _plain(other))

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __round__(self, digits: int | None = None) -> Any:
        return round(self.value, digits)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:
        return iter(self.value)

    def __contains__(self, item: Any) -> bool:
        return _plain(item) in self.value

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    __add__, __radd__ = _both(operator.add)
    __sub__, __rsub__ = _both(operator.sub)
    __mul__, __rmul__ = _both(operator.mul)
    __truediv__, __rtruediv__ = _both(operator.truediv)
    __floordiv__, __rfloordiv__ = _both(operator.floordiv)
    __mod__, __rmod__ = _both(operator.mod)

    def __neg__(self) -> Any:
        return -self.value


def shown(obj: ObjectDef, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values (by column, as stored) for a template: each of the object's fields by
    its name, wrapped to print as its type displays it; other columns as they are."""
    out = dict(row)
    for fdef in obj.fields:
        if fdef.column in row:
            value = row[fdef.column]
            out[fdef.api_name] = None if value is None else Shown(value, fdef.ftype.display(fdef, value))
    return out
