"""`IBAN_COUNTRY(iban)`: the country an IBAN is from — in Python (one record: defaults,
rules) and in SQL (lists, filters, formula fields on PostgreSQL; SQLite runs the Python
form inside its queries). Both must give the same answer for every input."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tessera.formula import Example, Function, sig


def _python(iban: Any) -> str | None:
    if iban is None:
        return None
    text = str(iban).replace(" ", "")
    return text[:2].upper() if len(text) >= 2 else None


def _postgres(args: Any) -> Any:
    text = sa.func.replace(sa.cast(args[0].expr, sa.Text), " ", "")
    return sa.case((sa.func.length(text) >= 2, sa.func.upper(sa.func.substr(text, 1, 2))), else_=None)


IBAN_COUNTRY = Function(
    name="IBAN_COUNTRY",
    category="plugins",
    signature="IBAN_COUNTRY(iban)",
    doc="The country an IBAN is from, as its two letters (DE for a German account).",
    typer=sig("text", returns="text"),
    python=_python,
    postgres=_postgres,
    examples=(Example('IBAN_COUNTRY("DE89370400440532013000")', '"DE"'),),
    pure=True,
)
