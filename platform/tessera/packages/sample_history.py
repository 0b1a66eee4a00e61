"""A sample record's past: the values it held before the install, and since when.

A sample record of a package's `data/*.json` may carry `"history"`, a list of moments each
with the values the record took then:

    "history": [{"at": {"days_from_install": -40}, "stage": {"key": "qualification"}},
                {"at": {"days_from_install": -12.5}, "stage": {"key": "proposal"}}]

The first moment is the record's creation, with the values it was created with; each later
one a change, written to the field history as a save writes it (old → new, at that moment).
The last value each field is given must be the record's own. So reports over history —
time in stage, a funnel — have a story to tell on the install day. Values are written as
the record's are (lookups by key to records loaded before, relative dates, people by
e-mail); `at` is a moment relative to the install. A field named `history` on the object
wins: the key is then that field's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data import history
from tessera.packages import samples
from tessera.packages.files import DAYS_FROM_INSTALL

KEY = "history"

#: The record's values as a data file writes them, worked out (see `apply._resolve`):
#: (values, lookups to records not loaded yet).
Resolve = Callable[[Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def takes_history(obj: Any) -> bool:
    """Whether a sample record of `obj` may carry `history` (no field of its own is so named)."""
    return obj.field(KEY) is None and obj.line_field(KEY) is None


def worked_out(obj: Any, record: Mapping[str, Any], values: Mapping[str, Any], resolve: Resolve,
               install: samples.Install) -> list[tuple[datetime, dict[str, Any]]]:
    """The record's moments in time order, each with its values worked out: raises
    `SampleValueError` (at `/history/…`) for what cannot be."""
    raw = record.get(KEY)
    if raw is None or not takes_history(obj):
        return []
    if not isinstance(raw, list) or not raw:
        raise samples.SampleValueError(f"/{KEY}", "must be a list of moments, each with its \"at\" and values")
    out: list[tuple[datetime, dict[str, Any]]] = []
    for index, entry in enumerate(raw):
        where = f"/{KEY}/{index}"
        if not isinstance(entry, dict) or "at" not in entry:
            raise samples.SampleValueError(where, 'must be an object with "at" and the values the record took then')
        found = samples.special(entry["at"])
        if found is None or found[0] != "days":
            raise samples.SampleValueError(f"{where}/at", f'must be a moment like {{"{DAYS_FROM_INSTALL}": -30}}')
        if (wrong := samples.problem_of("datetime", found)) is not None:
            raise samples.SampleValueError(f"{where}/at", wrong)
        moment = datetime.fromisoformat(str(samples.value("datetime", found, install)).replace("Z", "+00:00"))
        given = {k: v for k, v in entry.items() if k != "at"}
        for name in given:
            fdef = obj.field(name)
            if fdef is None or fdef.computed or fdef.type == "child_table":
                raise samples.SampleValueError(f"{where}/{name}", "is not a field whose history a record can have")
        try:
            resolved, later = resolve({**given, "key": ""})
        except samples.SampleValueError as error:
            raise samples.SampleValueError(f"{where}{error.pointer}", error.message) from None
        if later:
            name = next(iter(later))
            raise samples.SampleValueError(f"{where}/{name}", "must name a record loaded before this one")
        out.append((moment, resolved))
    out.sort(key=lambda pair: pair[0])
    last: dict[str, Any] = {}
    for _, resolved in out:
        last.update(resolved)
    for name, value in last.items():
        if values.get(name) != value:
            raise samples.SampleValueError(f"/{KEY}", f"the last value it gives {name} must be the record's own")
    return out


def write(conn: Connection, snap: Any, obj: Any, record_id: int, moments: list[tuple[datetime, dict[str, Any]]],
          actor_id: int | None) -> None:
    """The record created at its first moment, and its changes since, in its field history."""
    if not moments:
        return
    table = snap.table(obj)
    conn.execute(sa.update(table).where(table.c.id == record_id).values(created_at=moments[0][0]))
    held = dict(moments[0][1])
    entries = []
    for at, values in moments[1:]:
        for name, value in values.items():
            fdef = obj.field(name)
            old, new = held.get(name), value
            held[name] = value
            if old == new:
                continue
            ftype = fdef.ftype
            entries.append(history.entry(
                obj.uid, record_id, fdef.uid, "update", actor_id, at,
                old=None if old is None else ftype.to_json(fdef, ftype.coerce(fdef, old)),
                new=None if new is None else ftype.to_json(fdef, ftype.coerce(fdef, new))))
    history.write(conn, entries)
