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
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")

#: Who is registering now: a plugin's name while the loader imports and installs it, None
#: for Tessera itself. Each registry remembers it per name, so a clash names both sides and
#: a plugin that fails half-way can be taken out again (`forget`).
_OWNER: ContextVar[str | None] = ContextVar("tessera_registry_owner", default=None)
_REGISTRIES: weakref.WeakSet[Registry[object]] = weakref.WeakSet()


@contextmanager
def registering_for(owner: str) -> Iterator[None]:
    """Attribute what is registered inside the block to `owner` (a plugin's name)."""
    token = _OWNER.set(owner)
    try:
        yield
    finally:
        _OWNER.reset(token)


def forget(owner: str) -> list[str]:
    """Unregister everything `owner` registered, in every registry; what was removed, as
    "<what> <name>"."""
    removed: list[str] = []
    for registry in list(_REGISTRIES):
        removed += [f"{registry.what} {name}" for name in registry.unregister_owned(owner)]
    return removed


def registered_by(owner: str) -> list[str]:
    """What `owner` has registered, as "<what> <name>", in every registry."""
    return [f"{registry.what} {name}" for registry in list(_REGISTRIES) for name in registry.owned(owner)]


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
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()
        _REGISTRIES.add(self)  # type: ignore[arg-type]

    def _name(self, name: str) -> str:
        return self._key(name) if self._key is not None else name

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add `item` under `name`; a name already taken raises DuplicateName unless `replace`."""
        name = self._name(name)
        owner = _OWNER.get()
        with self._lock:
            earlier = self._owners.get(name)
            # A plugin installing into a second platform of the process registers its own
            # names again: that is no clash.
            mine = owner is not None and earlier == owner
            if name in self._items and not replace and not mine:
                message = f"{self.what} {name!r} is already registered"
                if earlier is not None or owner is not None:
                    message += f" by {_who(earlier)}; {_who(owner)} registers it too"
                raise DuplicateName(message)
            self._items[name] = item
            if owner is not None:
                self._owners[name] = owner
            else:
                self._owners.pop(name, None)
        return item

    def unregister(self, name: str) -> None:
        """Remove `name` if it is registered (plugins being unloaded, tests)."""
        with self._lock:
            self._items.pop(self._name(name), None)
            self._owners.pop(self._name(name), None)

    def owned(self, owner: str) -> list[str]:
        """The names `owner` registered."""
        with self._lock:
            return [name for name, who in self._owners.items() if who == owner]

    def unregister_owned(self, owner: str) -> list[str]:
        """Remove what `owner` registered; the names removed."""
        with self._lock:
            names = [name for name, who in self._owners.items() if who == owner]
            for name in names:
                self._items.pop(name, None)
                self._owners.pop(name, None)
            return names

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


def _who(owner: str | None) -> str:
    return "Tessera" if owner is None else f"plugin {owner!r}"
