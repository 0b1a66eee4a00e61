"""Benchmark 8: a summary report over many opportunities.

`report_opportunity` holds N records (a stage select, a close date, an amount, an owner)
loaded straight into its table (COPY on PostgreSQL, executemany on SQLite) and analysed.
Product: `runtime.reports.run(admin, doc, use_cache=False)` for opportunities grouped by
stage and close month with count, sum and average of the amount — the detail rows, each
stage's subtotal and the grand total, as one statement, shaped into the JSON result.
Floor: the SQL a developer would write by hand for the same numbers — `GROUPING SETS` on
PostgreSQL, a `UNION ALL` of the three GROUP BYs on SQLite, the average as sum / count
exact to 10 places — turned into the same JSON-ready rows. Both must agree on every figure.
A cache hit of the same report is printed for information.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from benchmarks.common import Result, Setup, at_most, bulk_load, interleaved_medians, system_values

OBJECT = "report_opportunity"
STAGES = ("prospecting", "qualified", "proposal", "negotiation", "won", "lost")
LOAD_CHUNK = 50_000
DOC: dict[str, Any] = {"api_name": OBJECT, "label": "Report opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": s} for s in STAGES]},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
]}
REPORT: dict[str, Any] = {
    "api_name": "pipeline_by_month", "label": "Pipeline by month", "object": OBJECT,
    "group_by": [{"field": "stage"}, {"field": "close_date", "bucket": "month", "name": "month"}],
    "measures": [{"name": "deals", "function": "count"},
                 {"name": "total", "function": "sum", "field": "amount"},
                 {"name": "average", "function": "avg", "field": "amount"}],
}
TENTH = Decimal("1e-10")


def load(setup: Setup, count: int) -> sa.Table:
    rt = setup.runtime
    rt.metadata.create_object(setup.actor, DOC)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        table = snap.table(snap.object(OBJECT))
    system = system_values(datetime.now(UTC), setup.actor.user_id)
    names = [*system, "name", "stage", "close_date", "amount"]
    sqlite = setup.backend == "sqlite"

    def batch(start: int, size: int) -> list[dict[str, Any]]:
        rng = random.Random(start)
        rows = []
        for i in range(start, start + size):
            amount = Decimal(rng.randrange(0, 50_000_000)).scaleb(-2)
            rows.append({**system, "name": f"Opportunity {i}", "stage": STAGES[rng.randrange(len(STAGES))],
                         "close_date": date(2023, 1, 1) + timedelta(days=rng.randrange(730)) if i % 50 else None,
                         "amount": (int(amount * 100) if sqlite else amount) if i % 97 else None})
        return rows

    batches = (batch(start, min(LOAD_CHUNK, count - start)) for start in range(0, count, LOAD_CHUNK))
    # Straight into the table: the SQLite side holds scaled integers, as ScaledDecimal stores them.
    raw = sa.Table(table.name, sa.MetaData(), *(sa.Column(n) for n in names))
    bulk_load(setup.engine, setup.backend, raw, names, batches)
    return table


class Floor:
    """The hand-written statement and the loop that makes its rows JSON-ready."""

    def __init__(self, setup: Setup, table: sa.Table) -> None:
        self.engine = setup.engine
        self.sqlite = setup.backend == "sqlite"
        if self.sqlite:
            month = "strftime('%Y-%m', close_date)"
            parts = [f"SELECT stage, {month} AS month, 0 AS lvl, count(*) AS deals, coalesce(sum(amount), 0) AS total,"
                     f" count(amount) AS n FROM {table.name} WHERE deleted_at IS NULL GROUP BY 1, 2",
                     f"SELECT stage, NULL, 1, count(*), coalesce(sum(amount), 0), count(amount) FROM {table.name}"
                     " WHERE deleted_at IS NULL GROUP BY 1",
                     f"SELECT NULL, NULL, 3, count(*), coalesce(sum(amount), 0), count(amount) FROM {table.name}"
                     " WHERE deleted_at IS NULL"]
            self.sql = " UNION ALL ".join(parts) + " ORDER BY lvl, stage, month"
        else:
            self.sql = ("SELECT stage, to_char(close_date, 'YYYY-MM') AS month,"
                        " GROUPING(stage, to_char(close_date, 'YYYY-MM')) AS lvl, count(*) AS deals,"
                        " coalesce(sum(amount), 0) AS total, count(amount) AS n"
                        f" FROM {table.name} WHERE deleted_at IS NULL"
                        " GROUP BY GROUPING SETS ((stage, to_char(close_date, 'YYYY-MM')), (stage), ())"
                        " ORDER BY lvl, stage, month")

    def run(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(self.sql).all()
        out = []
        for stage, month, lvl, deals, total, n in rows:
            total = Decimal(total).scaleb(-2) if self.sqlite else Decimal(total)
            average = (total / n).quantize(TENTH, rounding=ROUND_HALF_UP) if n else None
            out.append({"stage": stage, "month": month, "lvl": lvl, "deals": str(deals),
                        "total": format(total.normalize(), "f"),
                        "average": None if average is None else format(average.normalize(), "f")})
        return out


def _flatten(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = [(r["stage"], r["month"], r["deals"], r["total"], r["average"]) for r in result["rows"]]
    rows += [(s["stage"], None, s["deals"], s["total"], s["average"]) for s in result["subtotals"]]
    t = result["totals"]
    rows.append((None, None, t["deals"], t["total"], t["average"]))
    return sorted(rows, key=repr)


def run(setup: Setup, count: int, repeat: int) -> list[Result]:
    table = load(setup, count)
    rt, actor, floor = setup.runtime, setup.actor, Floor(setup, table)

    def product() -> dict[str, Any]:
        return rt.reports.run(actor, REPORT, use_cache=False)

    def cached() -> dict[str, Any]:
        return rt.reports.run(actor, REPORT)

    expected = sorted(((r["stage"], r["month"], r["deals"], r["total"], r["average"]) for r in floor.run()), key=repr)
    if _flatten(product()) != expected:
        raise RuntimeError("the report and the hand-written SQL disagree")
    product_time, floor_time = interleaved_medians([product, floor.run], repeat, warmup=1)
    cached()
    (hit_time,) = interleaved_medians([cached], max(repeat, 20), warmup=1)
    size = f"{count // 1000:,}k"
    return [
        at_most(f"report stage x month of {size}", setup.backend, product_time, floor_time, 1.2),
        Result(f"report of {size}, cache hit", setup.backend, f"{hit_time * 1000:.2f} ms",
               f"{floor_time * 1000:.2f} ms", hit_time / floor_time, "vs. the floor's full run", None),
    ]


#: Eight widgets over the same opportunities, as a sales dashboard has them.
DASHBOARD: dict[str, Any] = {
    "api_name": "bench_sales", "label": "Sales", "widgets": [
        {"id": f"w{i}", "title": title, "type": chart, "x": (i % 3) * 4, "y": (i // 3) * 3, "w": 4, "h": 3,
         "source": {"object": OBJECT, **source}}
        for i, (title, chart, source) in enumerate([
            ("Deals", "kpi", {"measures": [{"name": "deals", "function": "count"}]}),
            ("Pipeline", "kpi", {"measures": [{"name": "total", "function": "sum", "field": "amount"}]}),
            ("By stage", "bar", {"group_by": [{"field": "stage"}],
                                 "measures": [{"name": "deals", "function": "count"}]}),
            ("Amount by stage", "pie", {"group_by": [{"field": "stage"}],
                                        "measures": [{"name": "total", "function": "sum", "field": "amount"}]}),
            ("By month", "line", {"group_by": [{"field": "close_date", "bucket": "month", "name": "month"}],
                                  "measures": [{"name": "total", "function": "sum", "field": "amount"}]}),
            ("Average deal", "bar", {"group_by": [{"field": "stage"}],
                                     "measures": [{"name": "average", "function": "avg", "field": "amount"}]}),
            ("Stage x quarter", "stacked_bar", {"group_by": [{"field": "close_date", "bucket": "quarter",
                                                              "name": "quarter"}, {"field": "stage"}],
                                                "measures": [{"name": "deals", "function": "count"}]}),
            ("Pipeline table", "table", {"group_by": [{"field": "stage"}],
                                         "measures": [{"name": "deals", "function": "count"},
                                                      {"name": "total", "function": "sum", "field": "amount"}]}),
        ])]}


def run_dashboard(setup: Setup, count: int, repeat: int) -> list[Result]:
    """An 8-widget dashboard loaded cold (nothing cached) and warm (every widget cached):
    printed for information."""
    rt, actor = setup.runtime, setup.actor
    with rt.read() as conn:
        loaded = OBJECT in rt.snapshot(conn).objects
    if not loaded:
        load(setup, count)
    rt.documents.create(actor, "dashboards", DASHBOARD)

    def cold() -> Any:
        rt.reports.cache.clear()
        return rt.dashboards.load(actor, DASHBOARD["api_name"])

    def warm() -> Any:
        return rt.dashboards.load(actor, DASHBOARD["api_name"])

    failed = [w["id"] for w in cold()["widgets"] if w["error"]]
    if failed:
        raise RuntimeError(f"dashboard widgets failed: {failed}")
    cold_time, warm_time = interleaved_medians([cold, warm], repeat, warmup=1)
    return [Result(f"dashboard of 8 widgets over {count // 1000:,}k, warm vs cold", setup.backend,
                   f"{warm_time * 1000:.1f} ms", f"{cold_time * 1000:.1f} ms", warm_time / cold_time,
                   "printed: cached vs not", None)]


if __name__ == "__main__":  # python -m benchmarks.bench_reports [--quick] [--backend sqlite|postgresql]
    import argparse

    from benchmarks.common import database, prepare, render

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    args = parser.parse_args()
    results: list[Result] = []
    for backend in ("sqlite", "postgresql") if args.backend == "all" else (args.backend,):
        with database(backend) as url:
            setup = prepare(backend, url)
            try:
                results += run(setup, 50_000 if args.quick else 1_000_000, 3 if args.quick else 5)
            finally:
                setup.close()
    print(render(results))
