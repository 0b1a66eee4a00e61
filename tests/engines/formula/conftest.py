"""Fixtures for the formula engine's tests: a small CRM-like schema, and the same fixed
set of records in Python, in a SQLite file and in a throwaway PostgreSQL database.

The tables are built here with the product's column types (scaled decimals on SQLite,
UTC date-times, JSON lists), not through tessera.data, so these tests exercise only the
formula engine. PostgreSQL tests skip when the server is unreachable, and fail under CI.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tessera.formula import USER_OBJECT, EvalContext, SimpleSchema, register_sqlite_functions
from tessera.meta.columns import UtcDateTime
from tessera.meta.model import ObjectDef

NOW = datetime(2024, 6, 14, 15, 30, 5, tzinfo=UTC)


def _obj(name: str, fields: list[dict[str, Any]]) -> ObjectDef:
    return ObjectDef({"uid": name, "api_name": name, "label": name.title(),
                      "fields": [{"uid": f"{name}.{f['api_name']}", "label": f["api_name"], **f} for f in fields]})


ACCOUNT = _obj("account", [
    {"api_name": "name", "type": "text"},
    {"api_name": "industry", "type": "select", "options": [{"value": "retail"}, {"value": "tech"}]},
    {"api_name": "parent", "type": "lookup", "target": "account"},
])
DEAL = _obj("deal", [
    {"api_name": "name", "type": "text"},
    {"api_name": "code", "type": "text"},
    {"api_name": "amount", "type": "currency"},
    {"api_name": "rate", "type": "decimal", "scale": 4},
    {"api_name": "qty", "type": "integer"},
    {"api_name": "flag", "type": "boolean"},
    {"api_name": "day", "type": "date"},
    {"api_name": "at", "type": "datetime"},
    {"api_name": "tags", "type": "multi_select", "options": [{"value": v} for v in ("vip", "new", "äö")]},
    {"api_name": "spent", "type": "duration"},
    {"api_name": "stage", "type": "select", "options": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "account", "type": "lookup", "target": "account", "related_name": "deals"},
])
SCHEMA = SimpleSchema([ACCOUNT, DEAL])

TEXTS = ["Zürich", "straße", "ÉCOLE", "  pad me ", "日本語テキスト", "emoji 😀 ok", "a-b-c", "Σίσυφος", "İstanbul",
         "Acme Corp", "x", "AbC", "12.50", " 7 ", "2024-02-29", "ǅemal", None, None]
NUMBERS = ["0", "0.01", "-0.01", "0.5", "-0.5", "1.25", "2.35", "-2.35", "12345.67", "-999.99", "1000", "999999.99",
           "3", "7", "-7", "0.05", None, None]
RATES = ["0.0001", "1.2345", "-3.3333", "0.5", "2", "-0.0500", "100.1", None]


def make_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The fixed data set: accounts and deals with edge values and blanks."""
    rng = random.Random(20240614)
    accounts = [{"id": i, "name": f"Account {i}", "industry": ["retail", "tech", None][i % 3],
                 "parent": None if i < 3 else i - 2} for i in range(1, 7)]
    deals = []
    for i in range(1, 41):
        pick = rng.choice
        deals.append({
            "id": i, "name": pick(TEXTS), "code": pick(TEXTS),
            "amount": None if (n := pick(NUMBERS)) is None else Decimal(n),
            "rate": None if (r := pick(RATES)) is None else Decimal(r),
            "qty": pick([0, 1, 2, 3, -4, 12, 100, None]),
            "flag": pick([True, False, None]),
            "day": pick([date(2024, 1, 31), date(2024, 2, 29), date(2023, 12, 31), date(2024, 6, 8), date(2024, 6, 9),
                         date(2000, 1, 1), date(2024, 6, 14), None]),
            "at": pick([datetime(2024, 6, 14, 0, 0, 0, tzinfo=UTC), datetime(2023, 3, 26, 1, 30, 0, tzinfo=UTC),
                        datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), None]),
            "tags": pick([["vip"], ["vip", "new"], ["äö"], None]),
            "spent": pick([0, 60, 5400, 86401, -30, None]),
            "stage": pick(["open", "won", "lost", None]),
            "account": pick([1, 2, 3, 4, None]),
            "owner": pick([1, 2, None]),
            "deleted_at": None if i % 13 else datetime(2024, 1, 1, tzinfo=UTC),
        })
    return accounts, deals


USERS = [{"id": 1, "email": "ada@example.com", "name": "Ada", "is_active": True, "is_admin": True, "manager_id": None},
         {"id": 2, "email": "bob@example.com", "name": "Bob", "is_active": True, "is_admin": False, "manager_id": 1}]


def build_tables() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    md = sa.MetaData()
    users = sa.Table("tessera_users", md, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("email", sa.String(254)), sa.Column("name", sa.String(200)),
                     sa.Column("is_active", sa.Boolean), sa.Column("is_admin", sa.Boolean),
                     sa.Column("manager_id", sa.BigInteger))
    tables: dict[str, sa.Table] = {"user": users}
    for obj in (ACCOUNT, DEAL):
        cols = [sa.Column("id", sa.Integer, primary_key=True), sa.Column("owner", sa.BigInteger),
                sa.Column("created_at", UtcDateTime), sa.Column("updated_at", UtcDateTime),
                sa.Column("created_by", sa.BigInteger), sa.Column("updated_by", sa.BigInteger),
                sa.Column("deleted_at", UtcDateTime)]
        cols += [sa.Column(f.column, f.ftype.column_type(f)) for f in obj.stored_fields]
        tables[obj.api_name] = sa.Table(obj.api_name, md, *cols)
    return md, tables


class Backend:
    """One database holding the fixed records, and how to run formulas on it."""

    def __init__(self, engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
        self.engine = engine
        self.tables = tables
        self.dialect = engine.dialect.name

    def table_for(self, obj: ObjectDef) -> sa.Table:
        return self.tables["user" if obj is USER_OBJECT else obj.api_name]

    def values(self, column: Any, obj: ObjectDef = DEAL, where: Any = None) -> list[Any]:
        table = self.tables[obj.api_name]
        query = sa.select(table.c.id, column).where(table.c.deleted_at.is_(None)).order_by(table.c.id)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return [row[1] for row in conn.execute(query)]

    def ids(self, where: Any, obj: ObjectDef = DEAL) -> list[int]:
        table = self.tables[obj.api_name]
        query = sa.select(table.c.id).where(table.c.deleted_at.is_(None), where).order_by(table.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())


def _fill(engine: sa.Engine) -> dict[str, sa.Table]:
    md, tables = build_tables()
    md.drop_all(engine)
    md.create_all(engine)
    accounts, deals = make_records()
    with engine.begin() as conn:
        conn.execute(tables["user"].insert(), USERS)
        conn.execute(tables["account"].insert(), accounts)
        conn.execute(tables["deal"].insert(), deals)
    return tables


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    path = Path(tmp_path_factory.mktemp("formula")) / "formula.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda dbapi, _record: register_sqlite_functions(dbapi))
    yield Backend(engine, _fill(engine))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_backend(scratch_pg_database: Any) -> Iterator[Backend]:
    with scratch_pg_database(f"tessera_formula_{os.getpid()}") as url:
        engine = sa.create_engine(url)
        yield Backend(engine, _fill(engine))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue("sqlite_backend" if request.param == "sqlite" else "pg_backend")


class PythonSide:
    """The same records as mappings, with the callbacks an EvalContext needs."""

    def __init__(self) -> None:
        accounts, deals = make_records()
        self.accounts = {a["id"]: a for a in accounts}
        self.deals = [d for d in deals if d["deleted_at"] is None]
        self.all_deals = deals
        self.users = {u["id"]: {**u, "manager": u["manager_id"]} for u in USERS}

    def load_record(self, obj: ObjectDef, record_id: int) -> dict[str, Any] | None:
        if obj is USER_OBJECT:
            return self.users.get(record_id)
        if obj.api_name == "account":
            return self.accounts.get(record_id)
        return next((d for d in self.deals if d["id"] == record_id), None)

    def load_children(self, child: ObjectDef, lookup: Any, parent_id: int) -> list[dict[str, Any]]:
        return [d for d in self.deals if d[lookup.api_name] == parent_id]

    def context(self, **kwargs: Any) -> EvalContext:
        return EvalContext(user=self.users[2], now=NOW, load_record=self.load_record,
                           load_children=self.load_children, **kwargs)


@pytest.fixture(scope="session")
def py() -> PythonSide:
    return PythonSide()
