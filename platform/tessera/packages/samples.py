"""Sample values that are worked out at install: dates relative to the install, people by
e-mail.

In a package's `data/*.json`, a date field may hold `{"days_from_install": N}` — the install
day plus N days (N whole, may be negative) — and a date-time field the install moment plus N
days (N may be fractional: -0.5 is twelve hours before). A user field (the owner too) may hold
`{"email": "ann@example.com"}`: the active user with that e-mail, or nothing when there is
none (an owner left out is the installer, as for any record). Child-table lines take them as
well. Anything else is a value as it is written.

`problems` checks the values against the fields (the plan's check, before anything is
written); `value` works one out at load. Both read a value's meaning the same way
(`special`), so what the plan accepts loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tessera.errors import FieldProblem
from tessera.packages.files import DAYS_FROM_INSTALL, PERSON_BY_EMAIL, PackageFile, problem

#: Field types whose values are never read as special (they hold any JSON as it is).
VERBATIM = frozenset({"json"})
#: Relative dates reach at most this far from the install, either way.
MAX_DAYS = 36_600


class Omitted:
    """A value left out of the record (a person by e-mail who is not a user here)."""


OMITTED = Omitted()


class SampleValueError(ValueError):
    """A sample value that cannot be worked out; `pointer` is where, inside the record."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.message = message


@dataclass(frozen=True)
class Install:
    """What sample values are worked out from: when the package was installed (its moment
    in UTC, its day in the company's zone) and the active users by e-mail."""

    moment: datetime
    day: date
    people: Mapping[str, int]

    @classmethod
    def at(cls, moment: datetime, time_zone: str, people: Mapping[str, int]) -> Install:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        return cls(moment, moment.astimezone(ZoneInfo(time_zone)).date(), people)


def special(value: Any) -> tuple[str, Any] | None:
    """`("days", N)` for `{"days_from_install": N}`, `("email", E)` for `{"email": E}`,
    None for any other value."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == DAYS_FROM_INSTALL:
            return "days", inner
        if key == PERSON_BY_EMAIL:
            return "email", inner
    return None


def problem_of(ftype: str, found: tuple[str, Any]) -> str | None:
    """What is wrong with a special value in a field of type `ftype` (None: nothing)."""
    what, inner = found
    if what == "days":
        if ftype not in ("date", "datetime"):
            return (f'{{"{DAYS_FROM_INSTALL}": …}} is a date relative to the install: only a date or date-time '
                    f"field takes it, and this is a {ftype} field")
        if isinstance(inner, bool) or not isinstance(inner, int | float) or not math.isfinite(inner):
            return f"{DAYS_FROM_INSTALL} must be a number of days (like 3, -30 or -0.5), not {inner!r}"
        if abs(inner) > MAX_DAYS:
            return f"{DAYS_FROM_INSTALL} must be at most {MAX_DAYS} days from the install, not {inner!r}"
        if ftype == "date" and not float(inner).is_integer():
            return (f"{DAYS_FROM_INSTALL} must be a whole number of days for a date field, not {inner!r} "
                    "(fractions of a day are for date-time fields)")
        return None
    if ftype != "user":
        return (f'{{"{PERSON_BY_EMAIL}": …}} names a person: only the owner or a user field takes it, and this is '
                f"a {ftype} field")
    if not isinstance(inner, str) or "@" not in inner:
        return f"{PERSON_BY_EMAIL} must be an e-mail address, not {inner!r}"
    return None


def value(ftype: str, found: tuple[str, Any], install: Install) -> Any:
    """The value a special value stands for at this install (`OMITTED`: leave it out)."""
    what, inner = found
    if what == "days":
        if ftype == "date":
            return (install.day + timedelta(days=int(inner))).isoformat()
        moment = (install.moment + timedelta(days=float(inner))).replace(microsecond=0)
        return moment.isoformat().replace("+00:00", "Z")
    return install.people.get(str(inner).strip().lower(), OMITTED)


def field_type(obj: Any, name: str) -> tuple[str | None, Any]:
    """A record key's field type ("user" for the owner) and its definition (None: not a field)."""
    if name == "owner":
        return "user", None
    fdef = obj.field(name) or obj.line_field(name)
    return (fdef.type, fdef) if fdef is not None else (None, None)


def _specials(snap: Any, obj: Any, record: Mapping[str, Any],
              at: str = "") -> Iterator[tuple[str, str, tuple[str, Any]]]:
    """(pointer, field type, special value) of a record and of its lines."""
    for name, raw in record.items():
        ftype, fdef = field_type(obj, name)
        if ftype is None or ftype in VERBATIM:
            continue
        if ftype == "child_table" and isinstance(raw, list):
            child = snap.objects.get(str(fdef.props.get("target")))
            for index, line in enumerate(raw):
                if child is not None and isinstance(line, dict):
                    yield from _specials(snap, child, line, f"{at}/{name}/{index}")
        elif (found := special(raw)) is not None:
            yield f"{at}/{name}", ftype, found


def problems(files: list[PackageFile], snap: Any) -> list[FieldProblem]:
    """Every sample value the plan can tell is wrong: an object that is not there, a relative
    date or a person by e-mail in a field that does not take it, a number of days that is not
    one — each at its file and JSON pointer."""
    out: list[FieldProblem] = []
    for item in files:
        name = str(item.body.get("object"))
        obj = snap.objects.get(name)
        if obj is None:
            out.append(problem(item.path, "/object", f"there is no object named {name!r}", "unknown_object"))
            continue
        for index, record in enumerate(item.body.get("records", [])):
            for pointer, ftype, found in _specials(snap, obj, record):
                if (message := problem_of(ftype, found)) is not None:
                    out.append(problem(item.path, f"/records/{index}{pointer}", message, "invalid_sample"))
    return out


def emails(files: list[PackageFile]) -> set[str]:
    """The e-mails sample records name people by (lower-cased), wherever they are."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if (hit := special(value)) is not None and hit[0] == "email" and isinstance(hit[1], str):
            found.add(hit[1].strip().lower())
        elif isinstance(value, dict):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for item in files:
        walk(item.body.get("records", []))
    return found
