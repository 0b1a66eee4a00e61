"""Pipelined write transactions (`Runtime.write(pipelined=True)`, used by flow
transitions): on PostgreSQL writes executed with QUEUED go out with the next statement that
waits, or with the COMMIT. Reads still see the transaction's own writes, a failing write
still fails the whole transaction with nothing kept, and on SQLite the flag changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tessera.data.engine import QUEUED
from tessera.data.tables import notifications
from tessera.runtime.platform import Runtime


def _note(key: str) -> dict[str, object]:
    return {"user_id": 1, "key": key, "title": key, "body": "", "link": None, "created_at": datetime.now(UTC)}


def _keys(rt: Runtime) -> list[str]:
    with rt.read() as conn:
        return list(conn.execute(sa.select(notifications.c.key).order_by(notifications.c.key)).scalars())


def test_a_pipelined_transaction_reads_its_own_writes_and_commits_them(runtime: Runtime) -> None:
    with runtime.write(pipelined=True) as conn:
        conn.execute(sa.insert(notifications).inline(), [_note("a"), _note("b")], execution_options=QUEUED)
        conn.execute(sa.update(notifications).where(notifications.c.key == "a").values(title="changed"),
                     execution_options=QUEUED)
        conn.execute(sa.insert(notifications).inline(), _note("c"), execution_options=QUEUED)
        # A read waits for its answer, and the writes queued before it go first.
        seen = dict(conn.execute(sa.select(notifications.c.key, notifications.c.title)).all())
        assert seen == {"a": "changed", "b": "b", "c": "c"}
        # Unqueued, a write answers at once: its row count is there to read.
        assert conn.execute(sa.delete(notifications).where(notifications.c.key == "b")).rowcount == 1
    assert _keys(runtime) == ["a", "c"]


def test_a_failing_write_in_a_pipelined_transaction_keeps_nothing(runtime: Runtime) -> None:
    with runtime.write() as conn:
        conn.execute(sa.insert(notifications), _note("taken"))
    with pytest.raises(sa.exc.IntegrityError), runtime.write(pipelined=True) as conn:
        conn.execute(sa.insert(notifications).inline(), _note("new"), execution_options=QUEUED)
        conn.execute(sa.insert(notifications).inline(), _note("taken"), execution_options=QUEUED)  # a unique key
        conn.execute(sa.update(notifications).values(title="never"), execution_options=QUEUED)
    # Whichever pooled connection answers next is out of the failed transaction.
    for _ in range(runtime.engine.pool.size() + 1):
        assert _keys(runtime) == ["taken"]
    with runtime.read() as conn:
        assert conn.execute(sa.select(notifications.c.title)).scalar_one() == "taken"
    # The connection went back to the pool in working order.
    with runtime.write(pipelined=True) as conn:
        conn.execute(sa.insert(notifications).inline(), _note("after"), execution_options=QUEUED)
    assert _keys(runtime) == ["after", "taken"]
