"""A statement run under a time limit is stopped by the database once past it, on both
databases: the error says so (`is_too_slow`), the transaction rolls back, the engine goes on
serving, and statements outside the limit (jobs) run as long as they need."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tessera.data.engine import is_busy, is_too_slow, make_engine, read_transaction, statement_time_limit

#: Counts to a billion: minutes of work on either database, unless stopped.
ENDLESS = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) "
           "SELECT count(*) FROM c")


def test_a_statement_past_its_limit_is_stopped_and_the_engine_goes_on(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with statement_time_limit(0.2):
            with pytest.raises(sa.exc.OperationalError) as stopped, engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
                conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
                conn.exec_driver_sql(ENDLESS)
            assert is_too_slow(stopped.value) and not is_busy(stopped.value)
            # Nothing of the transaction stays, and a quick statement under the limit runs.
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
                assert not sa.inspect(conn).has_table("scratch")
        # Outside the limit (a job, the command line), a long statement runs to its end.
        with engine.connect() as conn:
            counted = conn.exec_driver_sql(ENDLESS.replace("1000000000", "300000")).scalar_one()
            assert counted == 300000
            if engine.dialect.name == "postgresql":
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    finally:
        engine.dispose()


def test_an_error_that_is_not_a_time_limit_is_not_taken_for_one(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(sa.exc.DBAPIError) as failed, engine.connect() as conn:
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        assert not is_too_slow(failed.value)
    finally:
        engine.dispose()


def test_a_rolled_back_transaction_does_not_leave_a_request_limit_on_a_later_job(db_url: str) -> None:
    # One pooled connection: a request commits under its limit, a second request rolls back,
    # then a job (no limit) must run without the first request's limit.
    engine = make_engine(db_url, pool_size=1, max_overflow=0) if db_url.startswith("postgresql") \
        else make_engine(db_url)
    try:
        with statement_time_limit(0.2):
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
            with pytest.raises(ZeroDivisionError), engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
                raise ZeroDivisionError
        with engine.connect() as conn:
            counted = conn.exec_driver_sql(ENDLESS.replace("1000000000", "300000")).scalar_one()
            assert counted == 300000
            if engine.dialect.name == "postgresql":
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_reads_in_autocommit_send_the_limit_only_when_it_changes(db_url: str) -> None:
    # A read on PostgreSQL runs in autocommit: its SET took effect for the session, so the
    # next read on the pooled connection does not send it again, and a job after a
    # request's read still gets its own (no limit). (SQLite keeps its limit in the
    # connection, not in a setting: PostgreSQL only.)
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_a: sent.append(statement) if "statement_timeout" in statement
                    else None)
    try:
        with statement_time_limit(0.2):
            for _ in range(3):
                with read_transaction(engine) as conn:
                    assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert sent == ["SET statement_timeout = 200"]
        with read_transaction(engine) as conn:
            counted = conn.exec_driver_sql(ENDLESS.replace("1000000000", "300000")).scalar_one()
            assert counted == 300000
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
        with statement_time_limit(0.2), pytest.raises(sa.exc.OperationalError) as stopped, \
                read_transaction(engine) as conn:
            conn.exec_driver_sql(ENDLESS)
        assert is_too_slow(stopped.value)
    finally:
        engine.dispose()
