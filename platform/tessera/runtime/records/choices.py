"""The records of a small object offered as choices, in the object's order.

A master-data object — sales stages, ticket priorities — is often better than a select:
admins edit its records as data (a stage's probability), and formulas read them
(`stage.probability`). Wherever its records are offered as choices — a board's lanes, a
funnel's stages, a report's groups, the record picker — they come in the order of the
object's `order_field` (a number field; blanks last), then by name, then by id; without an
`order_field`, by name. Only objects of at most `MAX_CHOICES` live records are offered so:
a lookup to accounts makes no board.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.meta.model import MAX_CHOICES, ObjectDef

#: One record offered as a choice: its id and its name.
Choice = tuple[int, str]


def choice_order(obj: ObjectDef, table: sa.Table) -> list[Any]:
    """ORDER BY terms of the object's records as choices: its order field (blanks last),
    its name field, its id."""
    terms: list[Any] = []
    order = obj.order_field
    if order is not None and order.stored:
        column = table.c[order.column]
        terms += [column.is_(None), column]
    named = obj.name_field
    if named is not None and named.stored:
        terms.append(table.c[named.column])
    terms.append(table.c.id)
    return terms


def live_count(conn: Connection, table: sa.Table, most: int = MAX_CHOICES) -> int:
    """How many live records the table holds, counted up to `most` + 1 (enough to tell
    whether there are more than `most`, without counting a large table through)."""
    some = sa.select(table.c.id).where(table.c.deleted_at.is_(None)).limit(most + 1).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(some)).scalar_one())


def ordered_choices(conn: Connection, obj: ObjectDef, table: sa.Table,
                    most: int = MAX_CHOICES) -> list[Choice] | None:
    """Every live record of `obj` as (id, name), in the object's order; None when it has
    more than `most` live records (too many to offer as choices). Read as the platform:
    callers that show them to a person keep only those the person may read."""
    named = obj.name_field
    name = table.c[named.column] if named is not None and named.stored else sa.null()
    rows = conn.execute(sa.select(table.c.id, name.label("name")).where(table.c.deleted_at.is_(None))
                        .order_by(*choice_order(obj, table)).limit(most + 1)).all()
    if len(rows) > most:
        return None
    return [(int(r.id), str(r.name) if r.name not in (None, "") else f"#{r.id}") for r in rows]
