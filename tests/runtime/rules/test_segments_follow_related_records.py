"""Segments over related records follow those records (#17 defect 4), on SQLite and
PostgreSQL, and with a real Celery worker over Redis: a customer becomes High value as soon
as its large orders are added — not at the next hourly check — and leaves when an order is
deleted, changed or moved to another customer (which may enter instead); a segment reading
a formula field over the orders follows them too; a scheduled segment is refreshed on its
schedule; every check is summed up on the rule and logged with who entered and who left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import outbox
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
CUSTOMER = {"api_name": "customer", "label": "Customer", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "high_value", "label": "High value", "type": "boolean"}]}
ORDER = {"api_name": "order", "label": "Order", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "customer", "label": "Customer", "type": "lookup", "target": "customer",
     "related_name": "orders"}]}
HIGH_VALUE = {"api_name": "high_value", "label": "High value", "object": "customer", "kind": "segment",
              "trigger": {"on": "after_save"},
              "segment": {"condition": "SUM(orders.amount) > 10000", "field": "high_value"}}



def _setup(rt: Platform) -> tuple[int, int]:
    rt.metadata.create_object(SYSTEM, CUSTOMER)
    rt.metadata.create_object(SYSTEM, ORDER)
    acme = rt.records.create(SYSTEM, "customer", {"name": "Acme"})["id"]
    bolt = rt.records.create(SYSTEM, "customer", {"name": "Bolt"})["id"]
    rt.documents.create(SYSTEM, "rules", HIGH_VALUE)
    rt.scheduler.drain()  # the first check of every customer, when the rule is saved
    return acme, bolt


def _high(rt: Platform, *ids: int) -> list[bool]:
    return [rt.records.get(SYSTEM, "customer", i)["high_value"] is True for i in ids]


def test_a_customer_enters_and_leaves_as_its_orders_come_change_go_and_move(rt: Platform) -> None:
    acme, bolt = _setup(rt)
    assert _high(rt, acme, bolt) == [False, False]
    orders = [rt.records.create(SYSTEM, "order", {"name": f"O{i}", "amount": "3000", "customer": acme})["id"]
              for i in range(4)]
    rt.scheduler.drain()
    assert _high(rt, acme, bolt) == [True, False]
    with rt.read() as conn:
        assert rt.rules.members(conn, "high_value") == [acme]
    # Moved to Bolt: Acme is down to 9,000 and leaves; Bolt has 3,000 and stays out.
    rt.records.update(SYSTEM, "order", orders[0], {"customer": bolt}, None)
    rt.scheduler.drain()
    assert _high(rt, acme, bolt) == [False, False]
    # A bigger amount brings it back; deleting the order takes it out; restoring, in again.
    rt.records.update(SYSTEM, "order", orders[1], {"amount": "5000"}, None)
    rt.scheduler.drain()
    assert _high(rt, acme) == [True]
    rt.records.delete(SYSTEM, "order", orders[1])
    rt.scheduler.drain()
    assert _high(rt, acme) == [False]
    rt.records.restore(SYSTEM, "order", orders[1])
    rt.scheduler.drain()
    assert _high(rt, acme) == [True]
    # Moving the big ones to Bolt: Bolt enters, Acme leaves, in one change each.
    for order in orders[1:]:
        rt.records.update(SYSTEM, "order", order, {"customer": bolt}, None)
    rt.scheduler.drain()
    assert _high(rt, acme, bolt) == [False, True]
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.last_error.is_not(None))).scalar_one() == 0
    # The rule sums up its last check and logs who entered and left, by name.
    seen = rt.rules.activity(rt.users.actor_for_user(1), "high_value")
    assert seen["members"] == 1
    assert seen["last"]["why"] == "Order moved to another Customer" and seen["last"]["evaluated"] == 1
    assert [n["what"] for n in seen["next"]] == ["next check of every record"]
    whys = [(r["why"], [e["name"] for e in r["entered"]], [x["name"] for x in r["left"]]) for r in seen["runs"]]
    assert whys[:2] == [("Order moved to another Customer", [], ["Acme"]), ("Order changed", ["Bolt"], [])]
    assert seen["runs"][0]["field"] == "High value" and seen["runs"][0]["evaluated"] == 1
    assert ("Order deleted", [], ["Acme"]) in whys and ("Order restored", ["Acme"], []) in whys
    assert whys[-1] == ("The rule was saved", [], [])
    # And on the customer: why it is High value.
    log = rt.rules.runs(SYSTEM, "customer", bolt)
    assert log[0]["rule"] == "high_value" and log[0]["changes"] == {
        "entered": True, "why": "Order changed", "set": {"high_value": True}}


def test_a_segment_reading_a_formula_over_orders_follows_them_too(rt: Platform) -> None:
    acme, _bolt = _setup(rt)
    rt.metadata.add_field(SYSTEM, "customer", {"api_name": "total", "label": "Total ordered", "type": "formula",
                                               "expression": "SUM(orders.amount)"})
    rt.metadata.add_field(SYSTEM, "customer", {"api_name": "big", "label": "Big", "type": "boolean"})
    rt.documents.create(SYSTEM, "rules", {
        "api_name": "big_spenders", "label": "Big spenders", "object": "customer", "kind": "segment",
        "trigger": {"on": "schedule", "cron": "0 6 * * *"},
        "segment": {"condition": "total >= 500", "field": "big"}})
    rt.scheduler.drain()
    rt.records.create(SYSTEM, "order", {"amount": "600", "customer": acme})
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "customer", acme)["big"] is True
    # Its schedule refreshes every customer (here: a fire of its timer by hand).
    with rt.write() as conn:
        conn.execute(sa.text('UPDATE "order" SET amount = 1'))
        rule = rt.rules.rule(conn, rt.documents.get("rules", "big_spenders")["uid"])
        assert rule is not None
        rt.rules.fire_cron(conn, {"rule": rule.uid}, datetime.now(UTC))
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "customer", acme)["big"] is False
    seen = rt.rules.activity(SYSTEM, "big_spenders")
    assert seen["last"]["why"] == "On its schedule" and seen["last"]["evaluated"] == 2
    assert {n["what"] for n in seen["next"]} == {"next check of every record", "next scheduled run"}


def _spawn(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tessera.cli", *args], env=env, cwd=cwd,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.postgres
def test_a_celery_worker_makes_the_customer_high_value_within_seconds(pg_url: str, redis_url: str,
                                                                      tmp_path: Path) -> None:
    rt = Platform(Settings(database_url=pg_url, redis_url=redis_url, attachments_dir=tmp_path / "files"))
    env = {**os.environ, "TESSERA_DATABASE_URL": pg_url, "TESSERA_REDIS_URL": redis_url}
    worker = _spawn(["worker", "--concurrency", "1"], env, tmp_path, tmp_path / "worker.log")
    try:
        rt.users.ensure_admin("admin@example.com", "admin-password")
        rt.metadata.create_object(SYSTEM, CUSTOMER)
        rt.metadata.create_object(SYSTEM, ORDER)
        acme = rt.records.create(SYSTEM, "customer", {"name": "Acme"})["id"]
        rt.documents.create(SYSTEM, "rules", HIGH_VALUE)
        # Writes wake the worker (no scheduler running): the orders are followed at once.
        for _ in range(4):
            rt.records.create(SYSTEM, "order", {"amount": "3000", "customer": acme})
        deadline = time.monotonic() + 60
        while not _high(rt, acme)[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _high(rt, acme) == [True], (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)
        rt.dispose()
