"""What a record page shows of stored values, worked out once per metadata snapshot.

A cell of a related list or a timeline shows the same for every reader (who may see it is
settled before it is read), so how each column shows its values — its field, whether it
names a record or a user, the texts of the values shown already — is worked out once per
snapshot, not for every cell of every page. Likewise a timeline entry's date as an instant
and as read in a time zone, and the page's record's values as its fields store them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot

#: A column's cell of a row (a record as `records.list` gives it) as display text.
Show = Callable[[Mapping[str, Any]], str]
#: Values kept shown, at most, per snapshot (each column's and the dates' together).
_KEPT = 20_000
#: Values nobody can change, to share between pages.
_SCALARS = (str, int, float, bool, Decimal, date, datetime, time, type(None))


class Cells:
    """How the columns of one snapshot's objects show their cells."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._columns: dict[tuple[str, str], Show] = {}
        self._moments: dict[tuple[str, tzinfo], tuple[datetime, str] | None] = {}
        self._fields: dict[str, tuple[tuple[str, FieldDef, bool], ...]] = {}
        self._typed: dict[tuple[str, str, type, Any], Any] = {}
        self._kept = 0

    def fields(self, obj: ObjectDef) -> tuple[tuple[str, FieldDef, bool], ...]:
        """The fields of `obj`: (name, field, whether it is computed)."""
        found = self._fields.get(obj.uid)
        if found is None:
            found = self._fields[obj.uid] = tuple((f.api_name, f, f.computed) for f in obj.fields)
        return found

    def typed(self, obj: ObjectDef, fdef: FieldDef, name: str, value: Any) -> Any:
        """`coerce`, kept for a scalar (text, a number, a flag) that gives one: a stored
        value reads the same every time, and nobody can change what is shared."""
        if not isinstance(value, str | int | float | bool):
            return coerce(fdef, value)
        key = (obj.uid, name, type(value), value)  # the type: True and 1 are one key otherwise
        try:
            return self._typed[key]
        except KeyError:
            found = coerce(fdef, value)
        if isinstance(found, _SCALARS) and self._kept < _KEPT:
            self._typed[key] = found
            self._kept += 1
        return found

    def column(self, child: ObjectDef, name: str) -> Show:
        """The function showing `child`'s column `name` of a row: a lookup by its record's
        name, a user by theirs (a record the reader may not see keeps its id), anything
        else as its type shows it."""
        key = (child.uid, name)
        found = self._columns.get(key)
        if found is None:
            found = self._columns[key] = self._show(child, name)
        return found

    def _show(self, child: ObjectDef, name: str) -> Show:
        fdef = child.field(name)
        if fdef is not None and fdef.type in ("lookup", "user"):
            target = self.snap.objects.get(str(fdef.props.get("target"))) if fdef.type == "lookup" else None
            named_by = target.name_field.api_name if target is not None and target.name_field is not None else "name"

            def reference(row: Mapping[str, Any]) -> str:
                value = row.get(name)
                if value is None:
                    return ""
                named = (row.get("_expanded") or {}).get(name) or {}
                return str(named.get(named_by) or f"#{value}")

            return reference
        known: dict[tuple[type, Any], str] = {}

        def value_of(row: Mapping[str, Any]) -> str:
            value = row.get(name)
            if not isinstance(value, str | int | float | bool | None):
                return cell(fdef, value)
            seen = (type(value), value)  # the type: True and 1 are one key otherwise
            shown = known.get(seen)
            if shown is None:
                shown = cell(fdef, value)
                if self._kept < _KEPT:
                    known[seen] = shown
                    self._kept += 1
            return shown

        return value_of

    def moment(self, value: Any, zone: tzinfo) -> tuple[datetime, str] | None:
        """A stored date or date-time as an aware instant (to order by) and as a person in
        `zone` reads it (None: no date)."""
        if not isinstance(value, str):
            found = moment(value)
            return None if found is None else (found, when(found, zone))
        key = (value, zone)
        if key in self._moments:
            return self._moments[key]
        found = moment(value)
        out = None if found is None else (found, when(found, zone))
        if self._kept < _KEPT:
            self._moments[key] = out
            self._kept += 1
        return out


def cell(fdef: FieldDef | None, value: Any) -> str:
    """A value of a field as its type shows it (a value that no longer fits, as it is)."""
    if fdef is None or value is None:
        return ""
    if fdef.computed:
        return fdef.ftype.display(fdef, value)
    coerced = coerce(fdef, value)
    return fdef.ftype.display(fdef, coerced) if coerced is not None else str(value)


def coerce(fdef: FieldDef, raw: Any) -> Any:
    """A value as the field stores it, or None when it does not fit (any more)."""
    if raw is None:
        return None
    try:
        return fdef.ftype.coerce(fdef, raw)
    except (FieldValueError, ValueError, TypeError, ArithmeticError):
        return None


def label(obj: ObjectDef, name: str) -> str:
    fdef = obj.field(name)
    return fdef.label if fdef is not None else name


def moment(value: Any) -> datetime | None:
    """A stored date or date-time as an aware instant (a date at midnight UTC), to order by."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def when(instant: datetime, zone: tzinfo) -> str:
    """An entry's time as a person reads it: a date as it is, an instant in their zone."""
    if instant.timetz() == time(0, tzinfo=UTC) and instant.utcoffset() == timedelta(0):
        return instant.date().isoformat()
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".strip()
