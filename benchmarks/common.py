"""What every benchmark shares: the databases, the benchmark object, its data, the floor
table and engine, timing, and the rows of the result table.

The product side is a real `Platform` on a fresh database: migrated, with an admin signed in
and the object `bench` created through the metadata service, so its table, indexes and
column types are exactly what a builder gets. The floor side is plain SQLAlchemy Core:
`bench_floor` is a copy of `bench` (same columns, same column types, same indexes) made
with `Table.to_metadata`, written through an engine with the same SQLite durability
settings (WAL, synchronous=NORMAL) but none of the product's machinery.
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tessera.auth.actor import Actor
from tessera.data.migrate import upgrade
from tessera.runtime.platform import Platform
from tessera.settings import Settings

PG_ADMIN_URL = os.environ.get("TESSERA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password"
OBJECT = "bench"
FLOOR = "bench_floor"
#: The system columns a record carries in the API, as the product returns them.
SYSTEM_OUTPUT = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner")
STAGES = ("new", "qualified", "proposal", "won", "lost")

#: The benchmark object: eleven fields of mixed types; `rank` is the indexed, required sort key.
OBJECT_DOC: dict[str, Any] = {
    "api_name": OBJECT,
    "label": "Bench",
    "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "rank", "label": "Rank", "type": "integer", "required": True, "indexed": True},
        {"api_name": "quantity", "label": "Quantity", "type": "integer"},
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "discount", "label": "Discount", "type": "percent"},
        {"api_name": "due", "label": "Due", "type": "date"},
        {"api_name": "contacted_at", "label": "Contacted at", "type": "datetime"},
        {
            "api_name": "stage",
            "label": "Stage",
            "type": "select",
            "options": [{"value": s, "label": s.title()} for s in STAGES],
        },
        {"api_name": "active", "label": "Active", "type": "boolean"},
        {"api_name": "email", "label": "E-mail", "type": "email"},
        {"api_name": "notes", "label": "Notes", "type": "long_text"},
    ],
}
FIELD_NAMES = [f["api_name"] for f in OBJECT_DOC["fields"]]


# -- data -------------------------------------------------------------------------------
def typed_records(count: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    """`count` records as Python values (Decimal, date, datetime, bool), reproducibly."""
    rng = random.Random(seed + start)
    base_day = date(2024, 1, 1)
    base_moment = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i in range(start, start + count):
        out.append(
            {
                "name": f"Record {i}",
                "rank": rng.randrange(1_000_000),
                "quantity": rng.randrange(1, 500),
                "amount": Decimal(rng.randrange(0, 10_000_000)).scaleb(-2),
                "discount": Decimal(rng.randrange(0, 5_000)).scaleb(-2),
                "due": base_day + timedelta(days=rng.randrange(730)),
                "contacted_at": base_moment + timedelta(seconds=rng.randrange(60_000_000)),
                "stage": STAGES[rng.randrange(len(STAGES))],
                "active": rng.random() < 0.5,
                "email": f"person{i}@example.com",
                "notes": "Called about the renewal; wants a quote by Friday." if i % 3 else None,
            }
        )
    return out


def to_json(record: dict[str, Any]) -> dict[str, Any]:
    """A typed record as a client sends it: money as strings, dates as ISO 8601."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Decimal):
            out[key] = format(value, "f")
        elif isinstance(value, datetime):
            out[key] = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def json_value(value: Any) -> Any:
    """What a hand-written endpoint does to make a column value JSON-ready."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


# -- databases --------------------------------------------------------------------------
@contextmanager
def database(backend: str) -> Iterator[str]:
    """The URL of a new, empty database: a temp file, or a throwaway PostgreSQL database."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"tessera_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def floor_engine(url: str) -> Engine:
    """A plain engine; on SQLite with the same journal and sync settings as the product's."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


@dataclass
class Setup:
    """One backend, ready: the product runtime with the object, and the floor beside it."""

    backend: str
    url: str
    runtime: Platform
    actor: Actor
    token: str
    table: sa.Table
    floor: sa.Table
    engine: Engine
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def truncate(self, *names: str) -> None:
        with self.engine.begin() as conn:
            for name in names:
                if self.backend == "postgresql":
                    conn.exec_driver_sql(f'TRUNCATE "{name}" RESTART IDENTITY')
                else:
                    conn.exec_driver_sql(f'DELETE FROM "{name}"')

    def close(self) -> None:
        self.runtime.dispose()
        self.engine.dispose()


def prepare(backend: str, url: str) -> Setup:
    runtime = Platform(Settings(database_url=url))
    upgrade(runtime.engine)
    runtime.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    token = runtime.users.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    actor = runtime.users.actor_for_token(token)
    runtime.metadata.create_object(actor, OBJECT_DOC)
    with runtime.read() as conn:
        snap = runtime.snapshot(conn)
        table = snap.table(snap.object(OBJECT))
    engine = floor_engine(url)
    floor = table.to_metadata(sa.MetaData(), name=FLOOR)
    for index in sa.inspect(engine).get_indexes(OBJECT):
        columns = [floor.c[name] for name in index["column_names"] if name is not None]
        sa.Index(f"{index['name']}_floor", *columns, unique=bool(index["unique"]))
    floor.metadata.create_all(engine)
    return Setup(backend, url, runtime, actor, token, table, floor, engine)


def system_values(at: datetime, user_id: int | None) -> dict[str, Any]:
    return {
        "version": 1,
        "created_at": at,
        "created_by": user_id,
        "updated_at": at,
        "updated_by": user_id,
        "owner": user_id,
    }


# -- timing -----------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(calls: list[Callable[[], Any]], repeat: int, warmup: int = 5) -> list[float]:
    """Median seconds of one call of each of `calls`, run round-robin so drift hits all alike."""
    for _ in range(warmup):
        for call in calls:
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, spent in zip(calls, times, strict=True):
            spent.append(timed(call))
    return [statistics.median(spent) for spent in times]


# -- results ----------------------------------------------------------------------------
@dataclass
class Result:
    benchmark: str
    backend: str
    product: str
    floor: str
    ratio: float
    target: str
    #: None for a figure printed for information, measured against a floor it cannot match.
    passed: bool | None


def at_least(benchmark: str, backend: str, product: float, floor: float, unit: str, target: float) -> Result:
    """A throughput comparison: product/floor, the higher the better."""
    ratio = product / floor
    return Result(
        benchmark, backend, f"{product:,.0f} {unit}", f"{floor:,.0f} {unit}", ratio, f">= {target:g}x", ratio >= target
    )


def for_information(benchmark: str, backend: str, product: float, floor: float, unit: str, why: str) -> Result:
    """A throughput printed beside a floor that does less (no HTTP, no JSON): no target."""
    return Result(benchmark, backend, f"{product:,.0f} {unit}", f"{floor:,.0f} {unit}", product / floor, why, None)


def at_most(
    benchmark: str, backend: str, product: float, floor: float, target: float, floor_label: str | None = None
) -> Result:
    """A time comparison: product/floor (seconds), the lower the better."""
    ratio = product / floor
    return Result(
        benchmark,
        backend,
        f"{product * 1000:.2f} ms",
        floor_label or f"{floor * 1000:.2f} ms",
        ratio,
        f"<= {target:g}x",
        ratio <= target,
    )


_VERDICT = {True: "PASS", False: "FAIL", None: "info"}


def render(results: list[Result]) -> str:
    head = ("benchmark", "backend", "product", "floor", "ratio", "target", "result")
    rows = [
        (r.benchmark, r.backend, r.product, r.floor, f"{r.ratio:.2f}x", r.target, _VERDICT[r.passed]) for r in results
    ]
    widths = [max(len(str(row[i])) for row in (head, *rows)) for i in range(len(head))]
    right = {2, 3, 4}

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def bulk_load(
    engine: Any, backend: str, table: sa.Table, names: list[str], batches: Iterable[list[dict[str, Any]]]
) -> None:
    """Rows into a table the fastest plain way (COPY on PostgreSQL, one executemany per
    batch on SQLite), then ANALYZE so both sides of a comparison get the same plans."""
    with engine.begin() as conn:
        for rows in batches:
            if backend == "postgresql":
                raw: Any = conn.connection.driver_connection
                columns = ", ".join(f'"{n}"' for n in names)
                with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row([row[n] for n in names])
            else:
                conn.execute(sa.insert(table), rows)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f'ANALYZE "{table.name}"')
