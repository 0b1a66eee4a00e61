"""Times as a person reads them: in their own time zone, with the zone named.

Instants are stored and exchanged in UTC (the API speaks ISO 8601 with `Z`); only what a
person reads and types in the UI is in their zone — the one they chose, else the
platform's (`TESSERA_TIME_ZONE`, UTC by default).
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, tzinfo


def is_time_zone(name: object) -> bool:
    """Whether `name` is an IANA time zone this machine knows (Europe/Paris, UTC)."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@functools.lru_cache(maxsize=256)
def time_zone(name: str | None, default: str = "UTC") -> tzinfo:
    """The zone called `name`; `default` when there is none or it is not a zone."""
    for candidate in (name, default):
        if candidate and is_time_zone(candidate):
            return zoneinfo.ZoneInfo(candidate)
    return UTC


@functools.lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """The zones offered in a picker: UTC, then Area/City names in alphabetical order
    (the legacy aliases such as `US/Eastern` or `Etc/GMT+3` left out)."""
    areas = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/",
             "Pacific/")
    return ("UTC", *sorted(n for n in zoneinfo.available_timezones() if n.startswith(areas)))


def parse_instant(value: object) -> datetime | None:
    """An instant from what services give (a datetime, or ISO 8601 text with or without
    `Z`); None when it is not one. A time without a zone is UTC, as everywhere in storage."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def readable(moment: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """`2026-12-06 14:30 CET`: the instant in `zone`, the zone's abbreviation after it."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {local.tzname() or 'UTC'}"


def local_input(moment: datetime | None, zone: tzinfo) -> str:
    """The value of a datetime-local input showing `moment` in `zone`."""
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def from_local_input(text: str, zone: tzinfo) -> str:
    """What a datetime-local input typed in `zone` means, as ISO 8601 in UTC; text that
    already names its zone, or is not a date and time, is given back unchanged (the field's
    own check then says what is wrong with it)."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        return text
    # fold=0: an hour that happens twice when clocks go back reads as its first occurrence.
    return moment.replace(tzinfo=zone).astimezone(UTC).isoformat().replace("+00:00", "Z")
