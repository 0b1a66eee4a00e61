"""Lengths of time in words: "4 hours", "1 day 2 hours", "90 min", read and written.

What a person types into a duration — a field, a flow step's due time — and what every page
shows: words, not `PT4H` or a count of seconds. The API and stored documents keep their
exact forms (seconds, ISO 8601); this module is the reading and the writing in between.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

#: Seconds per unit, by every way of writing the unit (singular, plural, short).
UNITS: dict[str, int] = {}
for _seconds, _names in ((604800, ("w", "wk", "wks", "week", "weeks")),
                         (86400, ("d", "day", "days")),
                         (3600, ("h", "hr", "hrs", "hour", "hours")),
                         (60, ("m", "min", "mins", "minute", "minutes")),
                         (1, ("s", "sec", "secs", "second", "seconds"))):
    UNITS.update(dict.fromkeys(_names, _seconds))

_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-z]+)")
#: Words as a JSON Schema pattern reads them (any case, an optional minus): what an API
#: input schema admits, and what `parse_words` reads once lowered and unsigned.
WORDS_PATTERN = r"\s*-?(?:\s*\d+(?:[.,]\d+)?\s*[A-Za-z]+\s*(?:,|and)?)+\s*"
_WHOLE = re.compile(r"^(?:\s*\d+(?:[.,]\d+)?\s*[a-z]+\s*(?:,|and)?)+\s*$")
_WORDS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def parse_words(text: str) -> int | None:
    """Seconds from words ("4 hours", "1h 30m", "2 days and 3 hours", "1.5 hours", "-2 days"); None
    when the text is not that (another reader may know it: 1:30, PT4H, plain seconds)."""
    lowered = text.strip().lower()
    negative = lowered.startswith("-")
    lowered = lowered.removeprefix("-")
    if not lowered or not _WHOLE.match(lowered):
        return None
    total = Decimal(0)
    for number, unit in _PART.findall(lowered):
        if unit == "and" or unit not in UNITS:
            return None
        try:
            total += Decimal(number.replace(",", ".")) * UNITS[unit]
        except InvalidOperation:
            return None
    if total != total.to_integral_value():
        total = total.quantize(Decimal(1))
    return -int(total) if negative else int(total)


def in_words(seconds: int) -> str:
    """`4 hours`, `1 day 2 hours`, `1 hour 30 minutes`, `-2 days`; `0 minutes` for none."""
    sign, rest = ("-" if seconds < 0 else ""), abs(seconds)
    parts = []
    for size, word in _WORDS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {word}{'s' if count != 1 else ''}")
    return sign + (" ".join(parts) or "0 minutes")
