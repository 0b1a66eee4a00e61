"""An event whose subscriber keeps failing is never dropped: after ten attempts it is set
aside as failed with its last error, admins see it (API and `tessera events`), and once the
cause is fixed a retry runs it — exactly once. Both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import sqlalchemy as sa

from tessera.data.tables import outbox
from tessera.runtime.kernel.events import MAX_ATTEMPTS


def _fail_until_due(runtime: Any) -> None:
    """Each round of attempts at once (their growing delay skipped), until set aside."""
    for _ in range(MAX_ATTEMPTS):
        with runtime.write() as conn:
            conn.execute(sa.update(outbox).where(outbox.c.processed_at.is_(None))
                         .values(available_at=sa.func.current_timestamp()))
        runtime.events.drain()


def test_a_failing_event_is_set_aside_visible_and_runs_once_when_retried(runtime: Any, api: Any,
                                                                       db_url: str) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    broken = {"on": True}
    seen: list[int] = []

    def subscriber(_conn: Any, event: Any) -> None:
        if event.object != "deal":
            return
        if broken["on"]:
            raise RuntimeError("the ERP is down")
        seen.append(event.id)

    runtime.events.subscribe("record.created", subscriber, name="erp")
    deal = api.ok(api.post("/records/deal", {"name": "A"}), 201)
    runtime.scheduler.drain()
    _fail_until_due(runtime)
    listed = api.ok(api.get("/events", params={"state": "failed"}))
    assert listed["counts"]["failed"] == 1
    [failed] = listed["events"]
    assert (failed["event"], failed["object"], failed["record_ids"]) == ("record.created", "deal", [deal["id"]])
    assert failed["attempts"] == MAX_ATTEMPTS and "the ERP is down" in failed["last_error"]
    # The command line shows it too.
    shown = subprocess.run([sys.executable, "-m", "tessera.cli", "events", "list", "--state", "failed"],
                           env={**os.environ, "TESSERA_DATABASE_URL": db_url}, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "1 failed" in shown.stdout and "the ERP is down" in shown.stdout
    # Nobody but an admin sees or retries events.
    api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": "a-long-password"}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": "a-long-password"})
    rep = type(api)(api.client, token.json()["access_token"])
    assert rep.get("/events").status_code == 403 and rep.post("/events/retry").status_code == 403
    # Fixed, retried: it runs, once; retrying again finds nothing to retry.
    broken["on"] = False
    assert api.ok(api.post("/events/retry", {"ids": [failed["id"]]}))["retried"] == 1
    runtime.scheduler.drain()
    assert seen == [failed["id"]]
    assert api.ok(api.post("/events/retry"))["retried"] == 0
    assert api.ok(api.get("/events", params={"state": "failed"}))["events"] == []
    assert api.ok(api.get("/events", params={"state": "done", "limit": 500}))["counts"]["failed"] == 0
    refused = api.post("/events/retry", {"ids": "all"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "ids"
    assert api.get("/events", params={"state": "lost"}).status_code == 400
