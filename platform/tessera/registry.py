"""One shape for Tessera's process-global registries: things found by name.

Field types, formula functions, actions and dependency-graph references are each kept in a
`Registry`: built-in ones register themselves when their module is imported, plugins add
theirs the same way. Registering a name twice is refused with `DuplicateName` unless the
caller says `replace=True`, so a plugin cannot silently shadow a built-in; an unknown name
looked up with `registry[name]` raises `KeyError("unknown <what> '<name>'")`.

Registration happens at import or start-up time; a lock keeps concurrent registrations
consistent, and listings are copies taken under it, so they never see a half-made change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class DuplicateName(ValueError):
    """A name is registered already (and `replace=True` was not given)."""


class Registry(Generic[T]):
    """Items of one kind by name: `Registry[FieldType]("field type")`.

    `what` names the kind of item in messages. `key`, when given, normalises every name
    before it is stored or looked up (formula functions are found case-insensitively with
    `key=str.upper`); messages quote the normalised name.
    """

    def __init__(self, what: str, *, key: Callable[[str], str] | None = None) -> None:
        self.what = what
        self._key = key
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def _name(self, name: str) -> str:
        return self._key(name) if self._key is not None else name

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add `item` under `name`; a name already taken raises DuplicateName unless `replace`."""
        name = self._name(name)
        with self._lock:
            if name in self._items and not replace:
                raise DuplicateName(f"{self.what} {name!r} is already registered")
            self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove `name` if it is registered (plugins being unloaded, tests)."""
        with self._lock:
            self._items.pop(self._name(name), None)

    def get(self, name: str) -> T | None:
        return self._items.get(self._name(name))

    def __getitem__(self, name: str) -> T:
        name = self._name(name)
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._name(name) in self._items

    def __iter__(self) -> Iterator[str]:
        """The names, in the order they were registered (a snapshot)."""
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def as_dict(self) -> dict[str, T]:
        """A copy: name → item, in the order they were registered."""
        with self._lock:
            return dict(self._items)

    def __repr__(self) -> str:
        return f"<Registry of {len(self)} {self.what}(s)>"
