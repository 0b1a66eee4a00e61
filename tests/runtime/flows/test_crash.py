"""A worker killed with SIGKILL in the middle of flows: another worker finishes every
flow with no step lost and no record or e-mail made twice (real Celery workers over Redis,
`tessera scheduler`, PostgreSQL and an SMTP server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import deliveries, flow_instances
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
ORDERS = 30
FLOW = {
    "api_name": "fulfil", "label": "Fulfil", "object": "order", "trigger": {"on": "created"},
    "steps": [
        {"id": "ship", "type": "action", "action": "create_record", "object": "shipment",
         "values": {"order": "id", "label": '"for " & name'}},
        {"id": "confirm", "type": "action", "action": "send_email", "to": [{"email": "customer@example.com"}],
         "subject": "Order {{ name }} shipped", "body": "On its way."},
        {"id": "settle", "type": "wait", "duration": "PT1S"},
        {"id": "close", "type": "action", "action": "update_record", "set": {"status": '"closed"'}},
        {"id": "thank", "type": "action", "action": "send_email", "to": [{"email": "customer@example.com"}],
         "subject": "Order {{ name }} closed", "body": "Thank you."},
    ],
}


def _spawn(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[str]:
    # A session of its own: SIGKILL reaches the Celery parent and its pool children at once.
    return subprocess.Popen([sys.executable, "-m", "tessera.cli", *args], env=env, cwd=cwd,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.postgres
def test_flows_survive_a_worker_killed_mid_way(pg_url: str, redis_url: str, smtp: tuple[str, Any],
                                               tmp_path: Path) -> None:
    settings = Settings(database_url=pg_url, redis_url=redis_url, smtp_url=smtp[0],
                        attachments_dir=tmp_path / "files")
    rt = Platform(settings)
    env = {**os.environ, "TESSERA_DATABASE_URL": pg_url, "TESSERA_REDIS_URL": redis_url,
           "TESSERA_SMTP_URL": smtp[0]}
    processes: list[subprocess.Popen[str]] = []
    try:
        rt.users.ensure_admin("admin@example.com", "admin-password")
        rt.metadata.create_object(SYSTEM, {"api_name": "order", "label": "Order", "fields": [
            {"api_name": "name", "label": "Name", "type": "text"},
            {"api_name": "status", "label": "Status", "type": "text"}]})
        rt.metadata.create_object(SYSTEM, {"api_name": "shipment", "label": "Shipment", "fields": [
            {"api_name": "label", "label": "Label", "type": "text"},
            {"api_name": "order", "label": "Order", "type": "lookup", "target": "order"}]})
        rt.documents.create(SYSTEM, "flows", FLOW)
        rt.flows.publish(SYSTEM, "fulfil")
        first = _spawn(["worker", "--concurrency", "1"], env, tmp_path, tmp_path / "worker1.log")
        scheduler = _spawn(["scheduler"], env, tmp_path, tmp_path / "scheduler.log")
        processes += [first, scheduler]
        for i in range(ORDERS):
            rt.records.create(SYSTEM, "order", {"name": f"O{i}"})

        def count(status: str) -> int:
            with rt.read() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(flow_instances)
                                        .where(flow_instances.c.status == status)).scalar_one())

        def sent() -> int:
            with rt.read() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                        .where(deliveries.c.status == "sent")).scalar_one())

        # Kill it in full flight: instances started, some e-mail out, flows not done.
        deadline = time.monotonic() + 120
        while (count("running") + count("completed") < ORDERS // 3 or sent() < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert count("completed") < ORDERS, "the worker finished before it could be killed"
        _stop(first, signal.SIGKILL)
        killed_at = (count("running"), count("completed"))
        second = _spawn(["worker", "--concurrency", "1"], env, tmp_path, tmp_path / "worker2.log")
        processes.append(second)
        deadline = time.monotonic() + 180
        while count("completed") < ORDERS and time.monotonic() < deadline:
            time.sleep(0.2)
        logs = "".join((tmp_path / f).read_text()[-2000:] for f in ("worker1.log", "worker2.log", "scheduler.log"))
        assert count("completed") == ORDERS, (killed_at, logs)
        with rt.read() as conn:
            assert count("failed") == 0
            shipments = Counter(conn.execute(sa.text("SELECT \"order\" FROM shipment")).scalars())
            closed = conn.execute(sa.text("SELECT count(*) FROM \"order\" WHERE status = 'closed'")).scalar_one()
            queued = conn.execute(sa.select(deliveries.c.key, deliveries.c.status)).all()
        assert len(shipments) == ORDERS and set(shipments.values()) == {1}  # no step lost, none done twice
        assert closed == ORDERS
        assert len(queued) == 2 * ORDERS  # every e-mail queued exactly once
        deadline = time.monotonic() + 90
        while len({m["X-Tessera-Delivery"] for m in smtp[1].inbox}) < 2 * ORDERS and time.monotonic() < deadline:
            time.sleep(0.2)
        keys = Counter(m["X-Tessera-Delivery"] for m in smtp[1].inbox)
        assert set(keys) == {k for k, _ in queued}
        # Sending is at least once: only a message caught between the SMTP reply and the
        # "sent" mark can go out again, with the same Message-ID for the receiver to drop.
        assert sum(keys.values()) - len(keys) <= 1, keys.most_common(3)
    finally:
        for process in processes:
            _stop(process)
        rt.dispose()
