"""A real deadlock for tests: another PostgreSQL session that locks rows in the opposite
order of the transaction under test, so that PostgreSQL undoes that transaction."""

from __future__ import annotations

import threading
import time

import psycopg
import sqlalchemy as sa


def driver_url(db_url: str) -> str:
    return sa.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Crossing(threading.Thread):
    """Another session that makes a deadlock with the next transaction to wait on it: it
    runs `first` (taking a lock), waits until some other session waits for a lock, then runs
    `then` (waiting on that session's lock) and commits once it gets through. Its own
    deadlock check comes long after the other session's, so that one is the one undone."""

    def __init__(self, db_url: str, first: str, then: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(driver_url(db_url))
        self.first, self.then = first, then
        self.locked = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.conn.transaction():
                self.conn.execute("SET LOCAL deadlock_timeout = '20s'")
                self.conn.execute(self.first)
                self.locked.set()
                self._until_someone_waits()
                self.conn.execute(self.then)
        except BaseException as error:  # seen by the test
            self.error = error
        finally:
            self.locked.set()
            self.conn.close()

    def _until_someone_waits(self) -> None:
        mine = self.conn.info.backend_pid
        for _ in range(1000):
            waiting = self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> %s", (mine,)).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
        raise AssertionError("no session came to wait for the lock")
