"""Benchmark 1: create one record per request through the JSON API.

Product: `POST /api/v1/records/bench` of the real app (bearer token, save pipeline, outbox).
Floor: a hand-written FastAPI endpoint — a Pydantic model parses the body, SQLAlchemy Core
inserts into `bench_floor` and the record is returned with its id. Both are driven in-process
by the same client (httpx over the ASGI transport, one event loop), sequentially, with the
same bodies, in blocks that alternate between the two; the median block counts.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from benchmarks.common import OBJECT, Result, Setup, at_least, system_values, to_json, typed_records
from tessera.app import create_app


class FloorRecord(BaseModel):
    """The request body of the floor endpoint: the same eleven fields, validated by Pydantic."""

    name: str = Field(min_length=1, max_length=10_000)
    rank: int
    quantity: int | None = None
    amount: Decimal | None = None
    discount: Decimal | None = None
    due: date | None = None
    contacted_at: datetime | None = None
    stage: Literal["new", "qualified", "proposal", "won", "lost"] | None = None
    active: bool | None = None
    email: str | None = Field(default=None, max_length=254)
    notes: str | None = None


def floor_app(engine: Engine, table: sa.Table) -> FastAPI:
    """The endpoint a developer would write by hand for the same table."""
    app = FastAPI()
    insert = sa.insert(table).returning(table.c.id)

    @app.post("/bench_floor", status_code=201)
    def create(record: FloorRecord) -> dict[str, Any]:
        values = record.model_dump()
        row = {**values, **system_values(datetime.now(UTC), None)}
        with engine.begin() as conn:
            record_id = conn.execute(insert, row).scalar_one()
        return {"id": record_id, **row}

    return app


class Poster:
    """Sequential POSTs of JSON bodies to one app through httpx's ASGI transport."""

    def __init__(self, client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
        self.client, self.path, self.headers = client, path, headers

    async def post_all(self, bodies: list[dict[str, Any]]) -> float:
        """Seconds taken to POST every body, one after the other."""
        start = time.perf_counter()
        for body in bodies:
            response = await self.client.post(self.path, json=body, headers=self.headers)
            if response.status_code != 201:
                raise RuntimeError(f"POST {self.path} answered {response.status_code}: {response.text[:500]}")
        return time.perf_counter() - start


async def _measure(setup: Setup, bodies: list[dict[str, Any]], block: int) -> tuple[list[float], list[float]]:
    """Records/s of each block of `block` requests, product and floor blocks alternating."""
    product_app, floor = create_app(setup.runtime), floor_app(setup.engine, setup.floor)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=product_app), base_url="http://bench") as pc,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=floor), base_url="http://bench") as fc,
    ):
        product = Poster(pc, f"/api/v1/records/{OBJECT}", setup.headers)
        floor_poster = Poster(fc, "/bench_floor", {})
        warmup = bodies[: min(200, len(bodies))]
        await product.post_all(warmup)
        await floor_poster.post_all(warmup)
        product_rates, floor_rates = [], []
        for offset in range(0, len(bodies), block):
            chunk = bodies[offset : offset + block]
            product_rates.append(len(chunk) / await product.post_all(chunk))
            floor_rates.append(len(chunk) / await floor_poster.post_all(chunk))
        return product_rates, floor_rates


def run(setup: Setup, requests: int, block: int) -> list[Result]:
    """POST `requests` records to each side, in alternating blocks; the median block counts."""
    bodies = [to_json(r) for r in typed_records(requests, seed=11)]
    product_rates, floor_rates = asyncio.run(_measure(setup, bodies, block))
    return [
        at_least(
            f"create 1 record via API ({requests:,} POSTs)",
            setup.backend,
            statistics.median(product_rates),
            statistics.median(floor_rates),
            "rec/s",
            0.7,
        )
    ]
