"""What a formula may know beyond the record: the acting user, the clock, the record as it
was before the save, and how to load related records — all handed in by the caller, since
the formula engine itself never touches a database."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from tessera.meta.model import FieldDef, ObjectDef

Record = Mapping[str, Any]
#: (object, id) → the record's values by api_name, or None when there is no such record.
LoadRecord = Callable[[ObjectDef, int], Record | None]
#: (child object, its lookup field, parent id) → the live child records.
LoadChildren = Callable[[ObjectDef, FieldDef, int], Iterable[Record]]
#: (object, its table or an alias of it) → the SQL condition on that table's rows the
#: formula may see, or None for all of them.
RowScope = Callable[[ObjectDef, Any], Any]


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class EvalContext:
    """One evaluation's surroundings; make one per request or save, not per formula.

    `now` is read from `clock` once and then kept, so every formula in one save sees the
    same moment, and SQL compiled with the same context binds the same value.
    """

    __slots__ = ("_cache", "_now", "clock", "everything", "load_children", "load_record", "prior", "scope", "user")

    def __init__(
        self,
        *,
        user: Record | None = None,
        now: datetime | None = None,
        clock: Callable[[], datetime] = _utc_now,
        prior: Record | None = None,
        load_record: LoadRecord | None = None,
        load_children: LoadChildren | None = None,
        scope: RowScope | None = None,
        everything: EvalContext | None = None,
    ) -> None:
        self.user = user
        self.clock = clock
        self._now = now.astimezone(UTC) if now is not None else None
        if everything is not None:
            self._now = everything.now
        #: The record before this save; None while creating (ISNEW() is TRUE).
        self.prior = prior
        self.load_record = load_record
        self.load_children = load_children
        #: Set when someone's own expression is compiled to SQL (a list filter, a report):
        #: the records reached through lookups and related lists are only those the person
        #: may read. Unset, a formula sees every record — as a builder's formula fields do.
        self.scope = scope
        #: With a scope: the same context seeing every record (its loaders unscoped).
        self.everything = everything
        self._cache: dict[tuple[int, int], Record | None] = {}

    def unscoped(self) -> EvalContext:
        """The same surroundings (user, moment) with every record in sight, for a builder's
        formulas inside someone's own expression."""
        return self if self.everything is None else self.everything

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = self.clock().astimezone(UTC)
        return self._now

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def is_new(self) -> bool:
        return self.prior is None

    @property
    def user_id(self) -> int | None:
        return None if self.user is None else self.user.get("id")

    def record(self, obj: ObjectDef, record_id: Any) -> Record | None:
        """A related record, loaded once per context."""
        if record_id is None:
            return None
        if obj.doc.get("system") == "users" and self.user is not None and record_id == self.user.get("id"):
            return self.user
        key = (id(obj), record_id)
        if key not in self._cache:
            if self.load_record is None:
                raise LookupError("this formula follows a lookup, but no load_record was given")
            self._cache[key] = self.load_record(obj, record_id)
        return self._cache[key]

    def children(self, child: ObjectDef, lookup: FieldDef, parent_id: Any) -> Iterable[Record]:
        if parent_id is None:
            return ()
        if self.load_children is None:
            raise LookupError("this formula aggregates related records, but no load_children was given")
        return self.load_children(child, lookup, parent_id)
