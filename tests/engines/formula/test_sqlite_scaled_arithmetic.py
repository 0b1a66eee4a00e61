"""SQLite works out +, - and * of decimals in its own 64-bit integer arithmetic (no Python
call per row) and falls back to exact decimal arithmetic where a result outgrows 64 bits:
values near the top of what a decimal field holds give the same answers as Python,
whether the product is read, compared, rounded, negated, summed or computed further."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tessera.formula import check, compile_sql, evaluate
from tessera.formula.sqlite import register_sqlite_functions

from .conftest import ACCOUNT, DEAL, NOW, SCHEMA, USERS, Backend, build_tables
from .helpers import same

BIG = ["9999999999999999.99", "-9999999999999999.99", "123456789012.5", "0.01", "3", "-0.5", "0", None]
RATES = ["99999999999999.9999", "-12345678901234.5678", "0.0001", "2", None]


def _deals() -> list[dict[str, Any]]:
    out = []
    for i in range(24):
        amount, rate = BIG[i % len(BIG)], RATES[i % len(RATES)]
        out.append({"id": i + 1, "account": 1 + i % 2, "name": f"Deal {i}",
                    "amount": None if amount is None else Decimal(amount),
                    "rate": None if rate is None else Decimal(rate), "qty": [0, 7, -3, 1_000_000][i % 4],
                    "deleted_at": None})
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = Path(tmp_path_factory.mktemp("scaled")) / "big.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda dbapi, _record: register_sqlite_functions(dbapi))
    md, tables = build_tables()
    md.create_all(engine)
    deals = _deals()
    accounts = [{"id": 1, "name": "One", "deleted_at": None}, {"id": 2, "name": "Two", "deleted_at": None}]
    with engine.begin() as conn:
        conn.execute(tables["user"].insert(), USERS)
        conn.execute(tables["account"].insert(), accounts)
        conn.execute(tables["deal"].insert(), deals)
    yield Backend(engine, tables), deals, accounts
    engine.dispose()


def _context(deals: list[dict[str, Any]], accounts: list[dict[str, Any]]) -> Any:
    from tessera.formula import EvalContext

    def load_record(obj: Any, record_id: int) -> Any:
        pool = accounts if obj.api_name == "account" else deals
        return next((r for r in pool if r["id"] == record_id), None)

    def load_children(child: Any, lookup: Any, parent_id: int) -> list[dict[str, Any]]:
        return [d for d in deals if d[lookup.api_name] == parent_id]

    return EvalContext(user={**USERS[1], "manager": None}, now=NOW, load_record=load_record,
                       load_children=load_children)


FORMULAS = [
    "amount * amount", "amount * rate", "amount * amount * qty", "amount * qty + rate", "amount * amount - 1",
    "amount * amount > 5", "amount * amount = amount * amount", "rate * rate < 0", "ROUND(amount * rate, 2)",
    "-(amount * amount)", "ABS(amount * rate)", "(amount * amount) & \"\"", "IF(qty > 1, amount * amount, rate)",
    "BLANKVALUE(amount * rate, 0) * 2", "amount * 1 * 1 * 1 + rate * 0", "qty * qty * qty * qty * qty",
    "MAX(amount * amount, rate)",
]
# SUM(deals.amount + deals.amount): each value fits 64 bits, their total may not (the sum
# is then taken exactly instead of in SQLite's sum(), which would raise).
ACCOUNT_FORMULAS = ["SUM(deals.amount * deals.amount)", "SUM(deals.rate * deals.qty)", "MAX(deals.amount * deals.rate)",
                    "SUM(deals.amount + deals.amount)", "SUM(deals.amount * 2 - deals.rate)",
                    "AVG(deals.amount * deals.qty)", "COUNT(deals, deals.amount * deals.amount > 1)"]


@pytest.mark.parametrize(("obj", "formula"), [(DEAL, f) for f in FORMULAS] + [(ACCOUNT, f) for f in ACCOUNT_FORMULAS],
                         ids=FORMULAS + ACCOUNT_FORMULAS)
def test_decimal_arithmetic_near_64_bits_agrees_with_python(obj: Any, formula: str, big: Any) -> None:
    backend, deals, accounts = big
    checked = check(formula, obj, SCHEMA)
    ctx = _context(deals, accounts)
    records = deals if obj is DEAL else accounts
    expected = [evaluate(checked, r, ctx) for r in records]
    got = backend.values(compile_sql(checked, "sqlite", backend.table_for, ctx), obj)
    wrong = [(r["id"], e, g) for r, e, g in zip(records, expected, got, strict=True) if not same(e, g)]
    assert not wrong, wrong[:5]


def test_a_small_product_is_worked_out_without_a_python_call(big: Any) -> None:
    backend = big[0]
    checked = check("amount * qty - rate", DEAL, SCHEMA)
    sql = str(compile_sql(checked, "sqlite", backend.table_for).compile(compile_kwargs={"literal_binds": True}))
    # The exact fallback is there, but only on the branch taken when 64 bits do not suffice.
    assert sql.startswith("CASE WHEN")
    assert "amount * deal.qty" in sql or "deal.amount * deal.qty" in sql


def test_a_product_of_products_takes_its_operands_integer_arithmetic_once(big: Any) -> None:
    """An operand that is itself guarded arithmetic is not worked out again for its type:
    its own condition says it is a scaled integer, its arithmetic is used as it is."""
    backend = big[0]
    checked = check("amount * qty * (rate - 1)", DEAL, SCHEMA)
    sql = str(compile_sql(checked, "sqlite", backend.table_for).compile(compile_kwargs={"literal_binds": True}))
    assert "typeof" not in sql
    fast = sql.split(" ELSE ", 1)[0]
    assert fast.count("CASE") == 1
