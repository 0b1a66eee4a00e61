"""Prepared statements (`tessera.data.prepared`) and pipelined write transactions
(`Platform.write(pipelined=True)`), which flow transitions use. A prepared statement reads
and writes the values SQLAlchemy would (dates in UTC, JSON), on both databases. In a
pipelined transaction on PostgreSQL its writes go out with the next statement that waits,
or with the COMMIT; reads still see the transaction's own writes, a failing write still
fails the whole transaction with nothing kept, and on SQLite the flag changes nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg as psycopg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect

from tessera.data.prepared import Prepared
from tessera.data.tables import flow_events, flow_instances, notifications
from tessera.runtime.platform import Platform

AT = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
_NOTE = Prepared(sa.insert(notifications), columns=("user_id", "key", "title", "body", "link", "created_at"))
_RETITLE = Prepared(sa.update(notifications).where(notifications.c.key == sa.bindparam("old"))
                    .values(title=sa.bindparam("new")))
_NOTES = Prepared(sa.select(notifications.c.key, notifications.c.title, notifications.c.created_at)
                  .order_by(notifications.c.key))
_EVENT = Prepared(sa.insert(flow_events), columns=("instance_id", "at", "event", "step", "actor_id", "comment",
                                                   "detail"))
_EVENTS = Prepared(sa.select(flow_events.c.event, flow_events.c.at, flow_events.c.detail)
                   .where(flow_events.c.instance_id == sa.bindparam("instance")).order_by(flow_events.c.id))


def _note(key: str, at: datetime = AT) -> dict[str, object]:
    return {"user_id": 1, "key": key, "title": key, "body": "", "link": None, "created_at": at}


def _keys(rt: Platform) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.key).order_by(notifications.c.key)).scalars())


def _instance(rt: Platform) -> int:
    with rt.write() as conn:
        return int(conn.execute(sa.insert(flow_instances).values(
            flow_uid="f", version=1, object_uid="o", record_id=1, status="running", state={}, started_at=AT,
            updated_at=AT).returning(flow_instances.c.id)).scalar_one())


def test_prepared_statements_write_and_read_the_values_sqlalchemy_does(runtime: Platform) -> None:
    instance = _instance(runtime)
    local = AT.astimezone(ZoneInfo("Asia/Shanghai"))
    detail = {"amount": "12.50", "people": [1, 2], "note": "名字 ✓", "none": None}
    with runtime.write() as conn:
        _EVENT.write(conn, {"instance_id": instance, "at": local, "event": "one", "step": None, "actor_id": None,
                            "comment": "", "detail": detail})
        _EVENT.write(conn, [{"instance_id": instance, "at": AT + timedelta(days=n), "event": f"many{n}",
                             "step": "s", "actor_id": 1, "comment": "c", "detail": None} for n in range(3)])
    with runtime.read() as conn:
        ours = _EVENTS.read(conn, {"instance": instance}).all()
        theirs = [dict(r) for r in conn.execute(sa.select(flow_events.c.event, flow_events.c.at, flow_events.c.detail)
                                                .where(flow_events.c.instance_id == instance)
                                                .order_by(flow_events.c.id)).mappings()]
    assert ours == theirs
    assert [e["event"] for e in ours] == ["one", "many0", "many1", "many2"]
    assert ours[0]["at"] == AT and ours[0]["at"].tzinfo is not None and ours[0]["detail"] == detail
    assert ours[3]["at"] == AT + timedelta(days=2) and ours[3]["detail"] is None


def test_an_insert_of_more_rows_than_one_statement_takes_goes_in_several(runtime: Platform) -> None:
    count = Prepared.MAX_ROWS * 2 + 3
    with runtime.write() as conn:
        _NOTE.write(conn, [_note(f"k{n:03}", AT + timedelta(seconds=n)) for n in range(count)])
        _NOTE.write(conn, [])
    with runtime.read() as conn:
        rows = _NOTES.read(conn).all()
    assert [r["key"] for r in rows] == [f"k{n:03}" for n in range(count)]
    assert rows[-1]["created_at"] == AT + timedelta(seconds=count - 1)


@pytest.mark.parametrize("pipelined", [False, True])
def test_rows_given_column_by_column_go_in_as_given(runtime: Platform, pipelined: bool) -> None:
    """On PostgreSQL as INSERTs of up to MAX_ROWS rows each (a pipelined transaction sends
    them without waiting); on SQLite as one executemany."""
    count = Prepared.MAX_ROWS + 7
    notes = [_note(f"k{n:03}", AT + timedelta(seconds=n)) for n in range(count)]
    reordered = Prepared(sa.insert(notifications), columns=("created_at", "title", "key", "link", "body", "user_id"))
    with runtime.write(pipelined=pipelined) as conn:
        _NOTE.write_each(conn, notes[:count - 1])
        reordered.write_columns(conn, lambda key: [notes[-1][key]], 1)
        _NOTE.write_each(conn, [])
    with runtime.read() as conn:
        rows = _NOTES.read(conn).all()
    assert [(r["key"], r["title"], r["created_at"]) for r in rows] == [
        (n["key"], n["title"], n["created_at"]) for n in notes]


def test_an_update_runs_once_for_each_set_of_values(runtime: Platform) -> None:
    with runtime.write() as conn:
        _NOTE.write(conn, [_note("a"), _note("b"), _note("c")])
        _RETITLE.write(conn, [{"old": "a", "new": "A"}, {"old": "c", "new": "C"}])
    with runtime.read() as conn:
        assert [(r["key"], r["title"]) for r in _NOTES.read(conn).all()] == [("a", "A"), ("b", "b"), ("c", "C")]


def test_a_parameter_expanded_per_execution_cannot_be_prepared(runtime: Platform) -> None:
    statement = Prepared(sa.select(notifications.c.id).where(notifications.c.key.in_(sa.bindparam("keys",
                                                                                                 expanding=True))))
    with runtime.read() as conn, pytest.raises(ValueError, match="expanding"):
        statement.read(conn, {"keys": ["a"]})


def test_a_pipelined_transaction_reads_its_own_writes_and_commits_them(runtime: Platform) -> None:
    with runtime.write(pipelined=True) as conn:
        _NOTE.write(conn, [_note("a"), _note("b")])
        _RETITLE.write(conn, {"old": "a", "new": "changed"})
        _NOTE.write(conn, _note("c"))
        # A read through SQLAlchemy waits for its answer, and the writes queued before it go first.
        seen = dict(conn.execute(sa.select(notifications.c.key, notifications.c.title)).all())
        assert seen == {"a": "changed", "b": "b", "c": "c"}
        # So does a write through SQLAlchemy: its row count is there to read.
        assert conn.execute(sa.delete(notifications).where(notifications.c.key == "b")).rowcount == 1
        # A prepared read issued last is answered by the COMMIT's round trip.
        last = _NOTES.read(conn)
    assert [(r["key"], r["title"]) for r in last.all()] == [("a", "changed"), ("c", "c")]
    assert _keys(runtime) == ["a", "c"]


def test_a_failing_write_in_a_pipelined_transaction_keeps_nothing(runtime: Platform) -> None:
    with runtime.write() as conn:
        _NOTE.write(conn, _note("taken"))
    with pytest.raises(sa.exc.IntegrityError), runtime.write(pipelined=True) as conn:
        _NOTE.write(conn, _note("new"))
        _NOTE.write(conn, _note("taken"))  # a unique key
        _RETITLE.write(conn, {"old": "taken", "new": "never"})
    # Whichever pooled connection answers next is out of the failed transaction.
    for _ in range(runtime.engine.pool.size() + 1):
        assert _keys(runtime) == ["taken"]
    with runtime.read() as conn:
        assert conn.execute(sa.select(notifications.c.title)).scalar_one() == "taken"
    # The connection went back to the pool in working order.
    with runtime.write(pipelined=True) as conn:
        _NOTE.write(conn, _note("after"))
    assert _keys(runtime) == ["after", "taken"]


# SQLite checks no constraint at COMMIT: this is PostgreSQL's case alone.
@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_write_that_fails_only_at_commit_keeps_nothing_and_says_why(runtime: Platform) -> None:
    table = sa.Table("test_deferred", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("code", sa.Integer), sa.UniqueConstraint("code", deferrable=True, initially="DEFERRED"))
    table.create(runtime.engine)
    insert = Prepared(sa.insert(table), columns=("id", "code"))
    with pytest.raises(sa.exc.IntegrityError), runtime.write(pipelined=True) as conn:
        _NOTE.write(conn, _note("kept only if all is"))
        insert.write(conn, [{"id": 1, "code": 7}, {"id": 2, "code": 7}])  # only the COMMIT checks
    assert _keys(runtime) == []
    with runtime.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    with runtime.write(pipelined=True) as conn:
        insert.write(conn, {"id": 3, "code": 7})
    with runtime.read() as conn:
        assert conn.execute(sa.select(table.c.id)).scalars().all() == [3]


def test_a_prepared_read_converts_numbers_and_a_parameter_used_twice_as_sqlalchemy_does(runtime: Platform) -> None:
    # A NUMERIC and a FLOAT result (PostgreSQL converts them differently, by the answer's
    # column types), and one date parameter read in two places (two parameters of one name,
    # as TODAY() in two formulas; converted once).
    query = sa.select(sa.cast(sa.literal("12.50"), sa.Numeric(12, 2)).label("amount"),
                      sa.cast(sa.literal(1.5), sa.Float()).label("ratio"),
                      sa.bindparam("day", type_=sa.Date()).label("same"),
                      sa.bindparam("day", type_=sa.Date()).label("day"))
    moment = datetime(2026, 3, 4).date()
    with runtime.read() as conn:
        ours = Prepared(query).read(conn, {"day": moment}).all()
        theirs = [dict(r) for r in conn.execute(query, {"day": moment}).mappings()]
    assert ours == theirs == [{"amount": Decimal("12.50"), "ratio": 1.5, "same": moment, "day": moment}]


def test_a_prepared_read_keeps_percent_and_dollar_signs_and_a_long_statement_as_sqlalchemy_does(
        runtime: Platform) -> None:
    # On PostgreSQL the SQL goes out with its parameters numbered ($1, …): a literal % or
    # $ in it stays as written, and a statement too long for psycopg to keep parsed reads
    # the same.
    query = sa.select(sa.literal_column("'50%'").label("share"), sa.literal_column("'$1 a $'").label("price"),
                      (sa.bindparam("a", type_=sa.Integer()) % 7).label("rest"),
                      sa.bindparam("word", type_=sa.Text()).like("ab%").label("like"),
                      *(sa.bindparam(f"n{i}", type_=sa.Integer()).label(f"n{i}") for i in range(60)))
    given = {"a": 23, "word": "abc", **{f"n{i}": i for i in range(60)}}
    with runtime.read() as conn:
        ours = Prepared(query).read(conn, given).all()
        theirs = [dict(r) for r in conn.execute(query, given).mappings()]
    assert ours == theirs
    assert ours[0] | {f"n{i}": None for i in range(60)} == {"share": "50%", "price": "$1 a $", "rest": 2,
                                                             "like": True, **{f"n{i}": None for i in range(60)}}
    assert ours[0]["n59"] == 59


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_prepared_read_runs_again_after_another_connection_changes_a_column_type(db_url: str) -> None:
    # Server-prepared statements are PostgreSQL's: this runs there only.
    engine = sa.create_engine(db_url, pool_size=1, max_overflow=0)
    table = sa.Table("prepared_retype", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("amount", sa.Text))
    read = Prepared(sa.select(table.c.amount).where(table.c.id == sa.bindparam("id")))
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), {"id": 1, "amount": "12"})
        with engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            assert read.read(auto, {"id": 1}).all() == [{"amount": "12"}]
            other = sa.create_engine(db_url)
            with other.begin() as alter:
                alter.exec_driver_sql("ALTER TABLE prepared_retype ALTER COLUMN amount TYPE integer"
                                      " USING amount::integer")
            other.dispose()
            assert read.read(auto, {"id": 1}).all() == [{"amount": 12}]
    finally:
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
        engine.dispose()


@pytest.mark.parametrize("dialect", [sqlite_dialect(), psycopg_dialect()], ids=["sqlite", "postgresql"])
def test_parameters_given_over_a_statements_own_values_are_the_ones_construct_params_gives(dialect: Any) -> None:
    # The literals a statement carries are converted once; what a caller gives is put over
    # them (a default it gives replaces the statement's), a key of no parameter is ignored,
    # and a parameter left out is refused as SQLAlchemy refuses it.
    statement = Prepared(sa.select(notifications.c.key, sa.literal(2**31, sa.BigInteger()).label("big")).where(
        notifications.c.title == sa.bindparam("title"), notifications.c.created_at > sa.bindparam("since", AT),
        notifications.c.key != sa.literal("x")))
    compiled = statement._compile(dialect, 0)
    assert compiled.constants is not None
    slow = dataclasses.replace(compiled, constants=None, given_names=None)
    for given in ({"title": "t"}, {"title": "t", "since": AT + timedelta(days=1)}, {"title": "t", "other": 1}):
        assert compiled.parameters(given) == slow.parameters(given)
    with pytest.raises(sa.exc.InvalidRequestError):
        compiled.parameters({"since": AT})
