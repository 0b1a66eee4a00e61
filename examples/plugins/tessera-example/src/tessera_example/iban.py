"""IBANs: reading one as people write it, its check digits, and how it is shown."""

from __future__ import annotations

import re

_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def compact(text: str) -> str:
    """Upper case, without spaces: `de89 3704 0044 0532 0130 00` → `DE89370400440532013000`."""
    return re.sub(r"\s+", "", text).upper()


def problem(iban: str) -> str | None:
    """Why a compact IBAN is not one, or None."""
    if not _SHAPE.fullmatch(iban):
        return "must be an IBAN like DE89 3704 0044 0532 0130 00"
    rearranged = iban[4:] + iban[:4]
    if int("".join(str(int(c, 36)) for c in rearranged)) % 97 != 1:
        return "has a wrong check digit"
    return None


def grouped(iban: str) -> str:
    """In groups of four, as printed on a bank statement."""
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def masked(iban: str) -> str:
    """Country and check digits, then the last four: `DE89 **** 3000`."""
    return f"{iban[:4]} **** {iban[-4:]}" if len(iban) > 8 else iban
