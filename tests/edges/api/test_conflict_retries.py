"""A request PostgreSQL rolls back for a deadlock with another transaction is run again and
succeeds, unseen by the user; one that cannot be run again (it had already committed a
transaction) answers 503 with Retry-After, never a 500. The deadlocks here are real: another
connection locks rows in the opposite order of the request's own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crossing import Crossing
from tessera.api import problems
from tessera.data.engine import make_engine, write_transaction
from tessera.requests.retries import KEPT_BODY, RetryConflicts
from tessera.runtime.platform import Platform

POSTGRES_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@POSTGRES_ONLY
def test_a_save_undone_by_a_deadlock_is_run_again_and_succeeds(
        api: Any, runtime: Platform, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "account", "label": "Account",
                                      "fields": [{"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    api.ok(api.post("/meta/objects", {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "text", "label": "Text", "type": "text"},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}), 201)
    account = api.ok(api.post("/records/account", {"name": "Acme"}), 201)
    note = api.ok(api.post("/records/note", {"text": "first"}), 201)
    with runtime.read() as conn:
        snap = runtime.snapshot(conn)
        accounts, notes = snap.table(snap.object("account")).name, snap.table(snap.object("note")).name
    # The other session holds the account; the save of the note locks the note and then
    # waits on the account (its lookup's key check); the other session then waits on the note.
    other = Crossing(db_url, f"SELECT 1 FROM {accounts} WHERE id = {account['id']} FOR UPDATE",
                     f"UPDATE {notes} SET version = version + 1 WHERE id = {note['id']}")
    other.start()
    other.locked.wait(10)
    with caplog.at_level(logging.INFO, logger="tessera.api"):
        saved = api.patch(f"/records/note/{note['id']}", {"text": "second", "account": account["id"]})
    other.join(30)
    assert other.error is None, other.error
    assert any("undone by a conflict" in r.getMessage() for r in caplog.records), "no deadlock happened"
    assert saved.status_code == 200, saved.text
    stored = api.ok(api.get(f"/records/note/{note['id']}"))
    # Saved on top of the other session's change, once: versions 1 → 2 (other) → 3 (the save).
    assert (stored["text"], stored["account"], stored["version"]) == ("second", account["id"], 3)
    history = api.ok(api.get(f"/records/note/{note['id']}/history"))
    assert sorted((h["field"], h["old"], h["new"]) for h in history if h["action"] == "update") == [
        ("account", None, account["id"]), ("text", "first", "second")]


@pytest.fixture
def scratch_table(db_url: str) -> Iterator[tuple[sa.Engine, Callable[[], list[Any]]]]:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE crossing (id integer PRIMARY KEY, n integer NOT NULL)")
        conn.exec_driver_sql("INSERT INTO crossing VALUES (1, 0), (2, 0)")
        conn.exec_driver_sql("CREATE TABLE done (at integer)")

    def rows() -> list[Any]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql("SELECT count(*) FROM done")]

    yield engine, rows
    engine.dispose()


@POSTGRES_ONLY
@pytest.mark.parametrize("why", ["it committed a transaction before", "its body is too large to keep"])
def test_a_request_that_cannot_be_run_again_after_its_deadlock_answers_503_with_retry_after(
        scratch_table: tuple[sa.Engine, Callable[[], list[Any]]], db_url: str, why: str) -> None:
    engine, done_rows = scratch_table
    runs: list[int] = []
    app = FastAPI()
    app.add_middleware(RetryConflicts)
    problems.install(app)
    committing = why.startswith("it committed")

    @app.post("/work")
    def work(body: dict[str, Any]) -> dict[str, str]:
        runs.append(len(body["text"]))
        if committing:
            with write_transaction(engine) as conn:  # this one stays: running again would do it twice
                conn.exec_driver_sql("INSERT INTO done VALUES (1)")
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("UPDATE crossing SET n = n + 1 WHERE id = 1")
            other.start()
            other.locked.wait(10)
            conn.exec_driver_sql("UPDATE crossing SET n = n + 1 WHERE id = 2")
        return {"status": "done"}

    other = Crossing(db_url, "UPDATE crossing SET n = n + 10 WHERE id = 2",
                     "UPDATE crossing SET n = n + 10 WHERE id = 1")
    with TestClient(app) as client:
        text = "x" * (10 if committing else KEPT_BODY + 1)
        answer = client.post("/work", json={"text": text})
    other.join(30)
    assert other.error is None, other.error
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) >= 1
    assert "undone" in answer.json()["detail"] and "try again" in answer.json()["detail"].lower()
    assert runs == [len(text)] and done_rows() == [(1 if committing else 0,)]
    with engine.connect() as conn:  # only the other session's changes stayed
        assert sorted(tuple(r) for r in conn.exec_driver_sql("SELECT id, n FROM crossing")) == [(1, 10), (2, 10)]
