"""Sorting and keyset (cursor) paging of record lists, built as SQL.

A cursor holds the sort values of the last row of a page plus its id, so the next page is
"rows after these values" — an index range, as cheap on page 1,000 as on page 1, and
correct while rows are inserted. Blank values sort last in both directions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class SortKey:
    name: str
    column: sa.ColumnElement[Any]
    descending: bool
    #: False when the column can hold no blank (ids, required fields): simpler, faster SQL.
    nullable: bool


def order_by(keys: list[SortKey]) -> list[sa.ColumnElement[Any]]:
    clauses = []
    for key in keys:
        clause = key.column.desc() if key.descending else key.column.asc()
        clauses.append(clause.nulls_last() if key.nullable else clause)
    return clauses


def after(keys: list[SortKey], values: list[Any]) -> sa.ColumnElement[bool]:
    """Rows that come after the row whose sort values are `values`."""
    if not any(k.nullable for k in keys) and len({k.descending for k in keys}) == 1:
        # One direction and no blanks: a row-value comparison the index serves directly.
        left = sa.tuple_(*(k.column for k in keys))
        right = sa.tuple_(*(sa.literal(v, k.column.type) for k, v in zip(keys, values, strict=True)))
        return left < right if keys[0].descending else left > right
    alternatives = []
    equal_so_far: list[sa.ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        literal = sa.literal(value, key.column.type)
        if value is None:
            later: sa.ColumnElement[bool] = sa.false()
            same = key.column.is_(None)
        else:
            later = key.column < literal if key.descending else key.column > literal
            if key.nullable:
                later = sa.or_(later, key.column.is_(None))
            same = key.column == literal
        alternatives.append(sa.and_(*equal_so_far, later))
        equal_so_far.append(same)
    return sa.or_(*alternatives)


def encode_cursor(signature: str, values: list[Any]) -> str:
    raw = json.dumps([signature, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, signature: str) -> list[Any]:
    """The JSON sort values of a cursor; ValueError when it is malformed or for another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stored_signature, values = json.loads(raw)
    except (ValueError, TypeError) as error:
        raise ValueError("the cursor is not one this API returned") from error
    if stored_signature != signature or not isinstance(values, list):
        raise ValueError("the cursor belongs to a different sort order or object")
    return values
