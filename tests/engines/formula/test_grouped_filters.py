"""Filters over a whole table with aggregates of related records, compiled as grouped
joins (compile_filter_grouped, used by segment refreshes), select exactly the records the
per-record subqueries select — on SQLite and PostgreSQL, blanks, deleted and missing
children included, and aggregates that read the parent staying correlated."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor

SYSTEM = Actor.system()
FORMULAS = [
    "COUNT(orders) >= 2",
    "COUNT(orders) = 0",
    'COUNT(orders, orders.status = "paid") >= 1',
    "SUM(orders.amount) > 100",
    "SUM(orders.amount) = 0",
    "SUM(orders.quantity, orders.quantity > 1) >= 3",
    "AVG(orders.amount) > 40",
    "AVG(orders.amount) = 40",  # averages compared with a number cross-multiply on SQLite
    "AVG(orders.amount) <> 40",
    "AVG(orders.amount) >= 52.5",
    "50 > AVG(orders.amount)",
    "AVG(orders.amount) < 52.501",  # more places than the currency has: divides instead
    "AVG(orders.amount) + 1 > 41",
    "ROUND(AVG(orders.amount), 0) = 40",
    "ISBLANK(AVG(orders.amount))",
    "MIN(orders.amount) < 20 OR MAX(orders.amount) > 90",
    'COUNT(orders, orders.status = "paid") >= 1 AND AVG(orders.amount, orders.status = "paid") > 30',
    "COUNT(orders, orders.amount > limit) >= 1",  # reads the parent: stays a subquery
    "SUM(orders.ratio) > 1.5",
]


@pytest.fixture
def shop(runtime: Any) -> Any:
    runtime.metadata.create_object(SYSTEM, {"api_name": "customer", "label": "Customer", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "limit", "label": "Limit", "type": "currency"}]})
    runtime.metadata.create_object(SYSTEM, {"api_name": "order", "label": "Order", "fields": [
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "quantity", "label": "Quantity", "type": "integer"},
        {"api_name": "ratio", "label": "Ratio", "type": "decimal"},
        {"api_name": "status", "label": "Status", "type": "text"},
        {"api_name": "customer", "label": "Customer", "type": "lookup", "target": "customer",
         "related_name": "orders"}]})
    customers = [runtime.records.create(SYSTEM, "customer", {"name": f"c{i}", "limit": str(10 * i)})["id"]
                 for i in range(8)]
    rows = [(0, "10", 1, "0.5", "paid"), (0, "95", 2, "1.25", "open"), (1, "50", 3, None, "paid"),
            (2, None, None, "2", None), (3, "15", 1, "0.1", "open"), (3, "45", 4, "0.7", "paid"),
            (3, "60", 2, "0.9", "paid"), (4, "100", 1, "3", "open"), (6, "30", 5, "0.25", "paid")]
    made = [runtime.records.create(SYSTEM, "order", {"customer": customers[c], "amount": a, "quantity": q,
                                                     "ratio": r, "status": s})["id"] for c, a, q, r, s in rows]
    runtime.records.delete(SYSTEM, "order", made[-1])  # a deleted child never counts
    return runtime


@pytest.mark.parametrize("formula", FORMULAS)
def test_grouped_and_per_record_filters_select_the_same_records(shop: Any, formula: str) -> None:
    rt = shop
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        obj = snap.object("customer")
        table = snap.table(obj)
        dialect = conn.dialect.name
        per_record = rt.formulas.filter_clause(snap, obj, formula, dialect)
        grouped, joins = rt.formulas.grouped_filter(snap, obj, formula, dialect)
        records: Any = table
        for derived, on in joins:
            records = records.outerjoin(derived, on)
        expected = set(conn.execute(sa.select(table.c.id).where(per_record)).scalars())
        found = set(conn.execute(sa.select(table.c.id).select_from(records).where(grouped)).scalars())
    assert found == expected
    if "limit" in formula:
        assert joins == []  # an aggregate reading its parent stays per record
    else:
        # One grouped pass per relation and condition.
        assert 1 <= len(joins) <= 2
