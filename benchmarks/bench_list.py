"""Benchmark 3: one sorted page of 50 records out of many, first page and a deep page.

The records are loaded straight into the object's table (COPY on PostgreSQL, one Core
executemany on SQLite), then analysed. Product: `runtime.records.list(actor, "bench",
sort="rank", limit=50[, cursor=...])`, where `rank` is indexed and required, so the product
has an index on (rank, id) and pages with a row-value comparison. Floor: the keyset query a
developer would write by hand for the same page — same columns, same `deleted_at IS NULL`,
`(rank, id) > (:rank, :id) ORDER BY rank, id LIMIT 51` over the same table and index —
turning the rows into JSON-ready dicts. The deep cursor is reached by paging through the
product 1,000 rows at a time, and both sides must return the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from benchmarks.common import (
    FIELD_NAMES,
    OBJECT,
    SYSTEM_OUTPUT,
    Result,
    Setup,
    at_most,
    bulk_load,
    interleaved_medians,
    json_value,
    system_values,
    typed_records,
)

PAGE = 50
LOAD_CHUNK = 50_000


def load(setup: Setup, count: int) -> None:
    """Put `count` records into the product's table the fastest plain way, then analyse."""
    table = setup.table
    names = [*system_values(datetime.now(UTC), None), *FIELD_NAMES]
    system = system_values(datetime.now(UTC), setup.actor.user_id)
    batches = (
        [{**r, **system} for r in typed_records(min(LOAD_CHUNK, count - start), seed=5, start=start)]
        for start in range(0, count, LOAD_CHUNK)
    )
    bulk_load(setup.engine, setup.backend, table, names, batches)


class Floor:
    """The hand-written keyset pager."""

    def __init__(self, setup: Setup) -> None:
        self.engine = setup.engine
        t = setup.table
        columns = [t.c[n] for n in (*SYSTEM_OUTPUT, *FIELD_NAMES)]
        base = sa.select(*columns).where(t.c.deleted_at.is_(None)).order_by(t.c.rank, t.c.id).limit(PAGE + 1)
        self.first_query = base
        self.after_query = base.where(
            sa.tuple_(t.c.rank, t.c.id)
            > sa.tuple_(sa.bindparam("rank", type_=t.c.rank.type), sa.bindparam("id", type_=t.c.id.type))
        )
        self.key_query = sa.select(t.c.rank, t.c.id).where(t.c.deleted_at.is_(None)).order_by(t.c.rank, t.c.id).limit(1)

    def page(self, after: tuple[int, int] | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            if after is None:
                rows = conn.execute(self.first_query).mappings().all()
            else:
                rows = conn.execute(self.after_query, {"rank": after[0], "id": after[1]}).mappings().all()
        data = [{k: json_value(v) for k, v in row.items()} for row in rows[:PAGE]]
        more = len(rows) > PAGE
        return {"data": data, "next": (rows[PAGE - 1]["rank"], rows[PAGE - 1]["id"]) if more else None}

    def key_at(self, offset: int) -> tuple[int, int]:
        """(rank, id) of the row at 1-based position `offset`."""
        with self.engine.connect() as conn:
            row = conn.execute(self.key_query.offset(offset - 1)).one()
        return int(row.rank), int(row.id)


@contextmanager
def capture_statements(engine: sa.Engine, needle: str) -> Iterator[list[tuple[str, Any]]]:
    """The SQL (and its driver parameters) sent to the database that mentions `needle`."""
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool) -> None:
        if needle in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def plan(setup: Setup, statement: str, parameters: Any) -> str:
    """The database's plan of a statement, on one line."""
    prefix = "EXPLAIN QUERY PLAN " if setup.backend == "sqlite" else "EXPLAIN "
    with setup.runtime.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    steps = [re.sub(r"\s*\(cost=[^)]*\)", "", str(r[-1])).strip().removeprefix("->  ") for r in rows]
    return " | ".join(steps)[:160]


def run(setup: Setup, count: int, deep: int, repeat: int) -> list[Result]:
    load(setup, count)
    rt, actor, floor = setup.runtime, setup.actor, Floor(setup)

    def product_page(cursor: str | None = None, limit: int = PAGE) -> dict[str, Any]:
        return rt.records.list(actor, OBJECT, sort="rank", limit=limit, cursor=cursor)

    # Reach the deep page the way a client does: page through 1,000 at a time.
    cursor: str | None = None
    for _ in range(deep // 1000):
        cursor = product_page(cursor, 1000)["next_cursor"]
    assert cursor is not None
    deep_key = floor.key_at(deep)

    first_ids = [r["id"] for r in product_page()["data"]]
    deep_ids = [r["id"] for r in product_page(cursor)["data"]]
    if first_ids != [r["id"] for r in floor.page()["data"]] or deep_ids != [
        r["id"] for r in floor.page(deep_key)["data"]
    ]:
        raise RuntimeError("the product and the floor disagree about a page")

    for label, engine, call in (
        ("product first page", rt.engine, product_page),
        ("floor first page", setup.engine, floor.page),
        ("product deep page", rt.engine, lambda: product_page(cursor)),
        ("floor deep page", setup.engine, lambda: floor.page(deep_key)),
    ):
        with capture_statements(engine, f"FROM {OBJECT}") as seen:
            call()
        setup.notes.append(f"{setup.backend} {label} plan: {plan(setup, *seen[-1])}")

    product_first, floor_first, product_deep, floor_deep = interleaved_medians(
        [product_page, floor.page, lambda: product_page(cursor), lambda: floor.page(deep_key)], repeat
    )
    size = f"{count // 1000:,}k"
    return [
        at_most(f"list {PAGE} sorted of {size}, first page", setup.backend, product_first, floor_first, 1.5),
        at_most(f"list {PAGE} sorted of {size}, after {deep:,}", setup.backend, product_deep, floor_deep, 1.5),
        Result(
            f"list deep page / first page (after {deep:,})",
            setup.backend,
            f"{product_deep / product_first:.2f}x",
            f"{floor_deep / floor_first:.2f}x",
            product_deep / product_first,
            "<= ~1 (1.25)",
            product_deep / product_first <= 1.25,
        ),
    ]
