"""Background work: outbox events reach their subscribers once, timers fire when due,
actions save records through the pipeline and queue e-mail and webhooks that go out
after commit over real SMTP and HTTP — each once, however often their cause is retried."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.actions import ActionError, check_actions
from tessera.auth.actor import Actor
from tessera.data.tables import deliveries, notifications, outbox, timers
from tessera.runtime.platform import Platform
from tessera.runtime.records.formulas import SnapshotSchema
from tessera.settings import Settings

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "manager", "label": "Manager", "type": "user"}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "status", "label": "Status", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]}
SYSTEM = Actor.system()


@pytest.fixture
def rt(db_url: str, tmp_path: Path, smtp: tuple[str, Any]) -> Iterator[Platform]:
    runtime = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", smtp_url=smtp[0],
                               base_url="https://crm.example.com"))
    runtime.users.ensure_admin("admin@example.com", "admin-password")
    runtime.metadata.create_object(SYSTEM, ACCOUNT)
    runtime.metadata.create_object(SYSTEM, DEAL)
    yield runtime
    runtime.dispose()


def _user(rt: Platform, email: str, **extra: Any) -> int:
    return int(rt.users.accounts.add(SYSTEM, {"email": email, "name": email.split("@")[0],
                                              "password": "a-long-password", **extra})["id"])


def _run(rt: Platform, record: dict[str, Any], steps: list[dict[str, Any]], key: str = "test:1") -> list[Any]:
    with rt.joined() as conn:
        row = rt.actions.load(conn, "deal", record["id"])
        ctx = rt.actions.context(conn, "deal", row, key)
        return [rt.actions.run(ctx, step) for step in steps]


def test_each_event_reaches_its_subscribers_once_and_in_the_same_transaction(rt: Platform) -> None:
    seen: list[tuple[str, list[int]]] = []
    rt.events.subscribe("record.*", lambda conn, event: seen.append((event.name, event.record_ids)), name="t")
    deal = rt.records.create(SYSTEM, "deal", {"name": "A"})
    rt.records.update(SYSTEM, "deal", deal["id"], {"amount": "5"}, None)
    rt.scheduler.drain()
    rt.scheduler.drain()
    assert seen == [("record.created", [deal["id"]]), ("record.updated", [deal["id"]])]
    with rt.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.processed_at.is_(None))).scalar_one() == 0


def test_a_failing_subscriber_rolls_back_its_writes_and_its_event_is_tried_again(rt: Platform) -> None:
    calls: list[int] = []

    def flaky(conn: Any, event: Any) -> None:
        if event.object != "deal":
            return
        calls.append(event.id)
        rt.records.create(SYSTEM, "account", {"name": f"from event {len(calls)}"})
        if len(calls) == 1:
            raise RuntimeError("first try fails")

    rt.events.subscribe("record.created", flaky, name="flaky")
    rt.records.create(SYSTEM, "deal", {"name": "A"})
    assert rt.events.drain() == 1
    with rt.read() as conn:
        row = conn.execute(sa.select(outbox).where(outbox.c.event == "record.created")).mappings().one()
    assert row["attempts"] == 1 and "first try fails" in row["last_error"] and row["processed_at"] is None
    assert rt.records.list(SYSTEM, "account")["data"] == []  # the failed try's write is gone
    with rt.write() as conn:
        conn.execute(sa.update(outbox).values(available_at=datetime.now(UTC)))
    rt.scheduler.drain()
    names = [a["name"] for a in rt.records.list(SYSTEM, "account")["data"]]
    assert names == ["from event 2"]


def test_timers_fire_when_due_once_and_a_rescheduled_key_moves(rt: Platform) -> None:
    fired: list[tuple[str, Any]] = []
    rt.timers.register("test", lambda conn, params, due: fired.append((params["n"], due)))
    now = datetime.now(UTC)
    with rt.write() as conn:
        rt.timers.schedule(conn, "test", "a", now - timedelta(seconds=1), {"n": "a"})
        rt.timers.schedule(conn, "test", "b", now + timedelta(hours=1), {"n": "b"})
        rt.timers.schedule(conn, "test", "c", now + timedelta(hours=1), {"n": "c"})
        rt.timers.schedule(conn, "test", "c", now - timedelta(seconds=5), {"n": "c2"})
    rt.scheduler.drain()
    assert [n for n, _ in fired] == ["c2", "a"]
    rt.scheduler.drain()
    assert len(fired) == 2
    with rt.read() as conn:
        assert list(conn.execute(sa.select(timers.c.key)).scalars()) == ["b"]
    with rt.write() as conn:
        assert rt.timers.cancel(conn, "b") == 1


def test_a_failing_timer_is_retried_later_and_its_writes_undone(rt: Platform) -> None:
    tries: list[int] = []

    def fire(conn: Any, params: Any, due: Any) -> None:
        tries.append(1)
        rt.records.create(SYSTEM, "account", {"name": "written by the timer"})
        raise RuntimeError("broken")

    rt.timers.register("broken", fire)
    with rt.write() as conn:
        rt.timers.schedule(conn, "broken", "x", datetime.now(UTC), {})
    assert rt.timers.fire_due() == 1
    with rt.read() as conn:
        row = conn.execute(sa.select(timers)).mappings().one()
    assert row["attempts"] == 1 and "broken" in row["last_error"] and row["due_at"] > datetime.now(UTC)
    assert rt.records.list(SYSTEM, "account")["data"] == []


def test_record_actions_save_through_the_pipeline(rt: Platform) -> None:
    account = rt.records.create(SYSTEM, "account", {"name": "Acme"})
    deal = rt.records.create(SYSTEM, "deal", {"name": "Big", "amount": "1000", "account": account["id"]})
    results = _run(rt, deal, [
        {"action": "update_record", "set": {"status": '"approved"', "amount": "amount * 2"}},
        {"action": "create_record", "object": "deal", "values": {"name": '"Follow-up of " & name',
                                                                  "account": "account"}},
        {"action": "update_related", "relation": "account", "set": {"name": 'name & " (customer)"'}},
    ])
    assert results[0]["values"] == {"status": "approved", "amount": "2000.00"}
    got = rt.records.get(SYSTEM, "deal", deal["id"])
    assert (got["status"], got["amount"]) == ("approved", "2000.00")
    follow = rt.records.get(SYSTEM, "deal", results[1]["created"]["deal"][0])
    assert (follow["name"], follow["account"]) == ("Follow-up of Big", account["id"])
    assert rt.records.get(SYSTEM, "account", account["id"])["name"] == "Acme (customer)"
    with rt.write() as conn:
        ctx = rt.actions.context(conn, "account", rt.actions.load(conn, "account", account["id"]), "k")
        rt.actions.run(ctx, {"action": "update_related", "relation": "deals", "where": 'name = "Big"',
                             "set": {"status": '"won"'}})
    assert [d["status"] for d in rt.records.list(SYSTEM, "deal", sort="id")["data"]] == ["won", None]


def test_an_action_that_would_save_an_invalid_record_says_why_and_writes_nothing(rt: Platform) -> None:
    deal = rt.records.create(SYSTEM, "deal", {"name": "A"})
    with pytest.raises(ActionError, match="name"):
        _run(rt, deal, [{"action": "update_record", "set": {"status": '"x"'}},
                        {"action": "create_record", "object": "deal", "values": {"amount": "1"}}])
    assert rt.records.get(SYSTEM, "deal", deal["id"])["status"] is None


def test_email_goes_out_over_smtp_after_commit_once_per_key(rt: Platform, smtp: tuple[str, Any]) -> None:
    owner = _user(rt, "owner@example.com")
    account = rt.records.create(SYSTEM, "account", {"name": "Acme", "manager": owner})
    deal = rt.records.create(SYSTEM, "deal", {"name": "Big", "amount": "1200.50", "account": account["id"]})
    step = {"action": "send_email", "to": [{"formula": "account.manager"}, {"email": "cc@example.com"}],
            "subject": "Deal {{ name }}", "body": "Amount: {{ amount }}"}
    _run(rt, deal, [step], key="flow:1:mail")
    _run(rt, deal, [step], key="flow:1:mail")  # a retried step queues nothing more
    assert smtp[1].inbox == []  # nothing leaves before the scheduler sends it
    rt.scheduler.drain()
    assert len(smtp[1].inbox) == 1
    message = smtp[1].inbox[0]
    assert message["Subject"] == "Deal Big" and message["To"] == "owner@example.com, cc@example.com"
    assert "Amount: 1,200.50" in message.get_payload() and message["X-Tessera-Delivery"] == "flow:1:mail"
    with rt.read() as conn:
        assert conn.execute(sa.select(deliveries.c.status)).scalars().all() == ["sent"]


def test_notifications_reach_the_bell_of_each_person_named(rt: Platform, client: Any) -> None:
    rep = _user(rt, "rep@example.com")
    deal = rt.records.create(SYSTEM, "deal", {"name": "Big"})
    rt.users.teams.create(SYSTEM, {"api_name": "east", "label": "East", "members": ["rep@example.com"]})
    _run(rt, deal, [{"action": "notify", "to": [{"team": "east"}, {"user": "admin@example.com"}],
                     "title": "{{ name }} needs you"}])
    with rt.read() as conn:
        assert sorted(conn.execute(sa.select(notifications.c.user_id)).scalars()) == sorted([rep, 1])
    token = client.post("/api/v1/auth/token", json={"email": "rep@example.com", "password": "a-long-password"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    bell = client.get("/api/v1/me/notifications", headers=headers).json()
    assert bell["unread"] == 1 and bell["items"][0]["title"] == "Big needs you"
    assert bell["items"][0]["link"] == f"https://crm.example.com/app/deal/{deal['id']}"
    assert client.post(f"/api/v1/me/notifications/{bell['items'][0]['id']}/read", headers=headers).status_code == 204
    assert client.get("/api/v1/me/notifications", headers=headers).json()["unread"] == 0


def test_a_webhook_is_called_with_a_signature_after_commit(rt: Platform) -> None:
    received: list[tuple[dict[str, str], Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        deal = rt.records.create(SYSTEM, "deal", {"name": "Big"})
        _run(rt, deal, [{"action": "webhook", "url": f"http://127.0.0.1:{server.server_port}/in"}], key="hook:1")
        rt.scheduler.drain()
    finally:
        server.shutdown()
    assert len(received) == 1
    headers, body = received[0]
    assert body["record"]["name"] == "Big" and body["key"] == "hook:1"
    assert headers["X-Tessera-Signature"].startswith("sha256=")


def test_people_are_resolved_by_role_team_field_and_manager_chain(rt: Platform) -> None:
    boss = _user(rt, "boss@example.com")
    lead = _user(rt, "lead@example.com", manager="boss@example.com")
    rep = _user(rt, "rep@example.com", manager="lead@example.com")
    rt.users.roles.create(SYSTEM, {"api_name": "legal", "label": "Legal", "permissions": {}}, rt.snapshot)
    legal = _user(rt, "legal@example.com", roles=["legal"])
    account = rt.records.create(SYSTEM, "account", {"name": "Acme", "manager": rep})
    from tessera.actions import people

    with rt.read() as conn:
        row = rt.actions.load(conn, "account", account["id"])

        def found(spec: dict[str, Any], submitter: int | None = None) -> list[int]:
            return people.resolve(conn, [spec], row, submitter, lambda f: None)

        assert found({"role": "legal"}) == [legal]
        assert found({"field": "manager"}) == [rep]
        assert found({"manager": "manager", "levels": 2}) == [boss]
        assert found({"manager": "submitter"}, submitter=rep) == [lead]
        assert found({"user": "LEAD@example.com"}) == [lead]


def test_actions_are_checked_against_the_metadata_with_pointed_problems(rt: Platform) -> None:
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    problems = check_actions([
        {"action": "update_record", "set": {"nope": "1", "amount": "name +"}},
        {"action": "create_record", "object": "ghost", "values": {}},
        {"action": "send_email", "to": [{"field": "name"}], "subject": "s", "body": "b"},
        {"action": "teleport"},
        {"action": "webhook", "url": "ftp://x"},
    ], snap.object("deal"), SnapshotSchema(snap), "/actions")
    paths = {p.field: p.code for p in problems}
    assert paths["/actions/0/set/nope"] == "unknown_field"
    assert paths["/actions/0/set/amount"] == "formula"
    assert paths["/actions/1/object"] == "unknown_object"
    assert paths["/actions/2/to/0/field"] == "unknown_field"
    assert paths["/actions/3/action"] == "unknown_action"
    assert "/actions/4/url" in paths
