"""Benchmark 2: bulk create many records.

Product, two ways: `runtime.records.create_many(actor, "bench", items)` (the import path:
batches of 1,000 through the save pipeline, nothing echoed) and the JSON API in POSTs of
1,000 records. Both get the records as a client sends them (money as strings, ISO dates).
Floor: one SQLAlchemy Core `executemany` of the same records, already typed, into
`bench_floor` in one transaction — the fastest plain way to load rows. Each repetition
starts from empty tables; the median repetition counts. Slow products get fewer
repetitions (a time budget) so that the whole run stays within minutes.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.common import (
    FLOOR,
    OBJECT,
    Result,
    Setup,
    at_least,
    for_information,
    system_values,
    timed,
    to_json,
    typed_records,
)
from tessera.app import create_app
from tessera.data.tables import outbox, record_history

API_BATCH = 1000
#: What the product writes beside each record; emptied between repetitions like the tables.
WRITE_LOGS = (record_history.name, outbox.name)


def _floor_load(setup: Setup, typed: list[dict[str, Any]]) -> None:
    system = system_values(datetime.now(UTC), setup.actor.user_id)
    rows = [{**record, **system} for record in typed]
    with setup.engine.begin() as conn:
        conn.execute(sa.insert(setup.floor), rows)


def _api_load(setup: Setup, items: list[dict[str, Any]]) -> None:
    app = create_app(setup.runtime)

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for offset in range(0, len(items), API_BATCH):
                response = await client.post(
                    f"/api/v1/records/{OBJECT}", headers=setup.headers, json=items[offset : offset + API_BATCH]
                )
                if response.status_code != 201:
                    raise RuntimeError(f"bulk POST answered {response.status_code}: {response.text[:500]}")

    asyncio.run(drive())


def _count(setup: Setup, name: str) -> int:
    with setup.engine.connect() as conn:
        return int(conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar_one())


def run(setup: Setup, count: int, repeat: int, budget: float) -> list[Result]:
    """Up to `repeat` repetitions, fewer once they have taken `budget` seconds (at least one)."""
    typed = typed_records(count, seed=23)
    items = [to_json(r) for r in typed]
    # Warm up every path once on a small batch (imports, statement caches, the snapshot).
    setup.runtime.records.create_many(setup.actor, OBJECT, items[:API_BATCH])
    _api_load(setup, items[:API_BATCH])
    _floor_load(setup, typed[:API_BATCH])
    times: dict[str, list[float]] = {"product": [], "api": [], "floor": []}
    started = time.perf_counter()
    for _ in range(repeat):
        if times["product"] and time.perf_counter() - started > budget:
            break
        setup.truncate(OBJECT, FLOOR, *WRITE_LOGS)
        times["product"].append(timed(lambda: setup.runtime.records.create_many(setup.actor, OBJECT, items)))
        setup.truncate(OBJECT, *WRITE_LOGS)
        times["api"].append(timed(lambda: _api_load(setup, items)))
        times["floor"].append(timed(lambda: _floor_load(setup, typed)))
        if _count(setup, OBJECT) != count or _count(setup, FLOOR) != count:
            raise RuntimeError("a bulk load did not store every record")
    setup.truncate(OBJECT, FLOOR, *WRITE_LOGS)
    floor_rate = count / statistics.median(times["floor"])
    return [
        at_least(
            f"bulk create {count:,} (create_many)",
            setup.backend,
            count / statistics.median(times["product"]),
            floor_rate,
            "rec/s",
            0.5,
        ),
        for_information(
            f"bulk create {count:,} (API, POSTs of {API_BATCH:,})",
            setup.backend,
            count / statistics.median(times["api"]),
            floor_rate,
            "rec/s",
            "info: + HTTP/JSON",
        ),
    ]
