"""A record page's related lists read by one statement on PostgreSQL.

Each kept list statement (see `related.py`) is a common table expression of its own,
MATERIALIZED so it runs once as it would alone — the same rows, the same row scope, the
same order and limit — and a row per list is joined to its rows, so every value keeps its
own column and type (a UNION would make one type of the columns of every list). One
statement instead of one per list: a page with seven lists costs PostgreSQL and the driver
one execution, not seven. SQLite, in the process, has no round trip to save: each list's
statement runs there as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tessera.data.prepared import Prepared

#: The column giving a list's rows their order (a list statement read together has it).
POSITION = "_tessera_position"
_LIST = "_tessera_list"


@dataclass(frozen=True)
class Together:
    """Several lists' statements as one, and per list which of its columns are whose:
    (place in the joined row, key in the list's own rows), the id's first. The list's
    number is the joined row's first value."""

    statement: Prepared
    columns: tuple[tuple[tuple[int, str], ...], ...]

    def split(self, rows: list[list[Any]]) -> list[list[dict[str, Any]]]:
        """The joined rows (their values in order, `Rows.values`) as each list's own rows,
        in their order: by place, as a joined row carries every list's columns, mostly empty."""
        out: list[list[dict[str, Any]]] = [[] for _ in self.columns]
        for row in rows:
            n = row[0]
            mine = self.columns[n]
            if row[mine[0][0]] is not None:  # no id: the row standing for a list without any
                out[n].append({key: row[place] for place, key in mine})
        return out


def together(branches: Sequence[sa.Select[Any]]) -> Together:
    """One statement reading what each of `branches` reads (each ordered, limited, with its
    rows' places in the `POSITION` column and an `id`)."""
    ctes = [branch.cte(f"_tessera_list_{n}").prefix_with("MATERIALIZED") for n, branch in enumerate(branches)]
    lists = sa.values(sa.column(_LIST, sa.Integer), name="_tessera_lists").data([(n,) for n in range(len(ctes))])
    joined: Any = lists
    for n, cte in enumerate(ctes):
        joined = joined.outerjoin(cte, lists.c[_LIST] == n)
    selected: list[Any] = [lists.c[_LIST]]
    columns = []
    for n, cte in enumerate(ctes):
        mine = [(len(selected), "id")]
        selected.append(cte.c.id.label(f"_{n}_id"))
        for column in cte.c:
            if column.key not in (POSITION, "id"):
                mine.append((len(selected), str(column.key)))
                selected.append(column.label(f"_{n}_{len(mine) - 1}"))
        columns.append(tuple(mine))
    query = sa.select(*selected).select_from(joined).order_by(lists.c[_LIST], *(cte.c[POSITION] for cte in ctes))
    # Prepared on the server only as often as any repeated statement (see related.py).
    return Together(Prepared(query, prepare=False), tuple(columns))
