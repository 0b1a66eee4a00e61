"""Reports and dashboards e-mailed on a schedule: each recipient gets the numbers their
permissions allow, as an HTML summary with CSV attachments, once per run — over SMTP."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import timers
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": "open"}, {"value": "won"}]}]}
REPORT = {"api_name": "pipeline", "label": "Pipeline", "object": "deal", "group_by": [{"field": "stage"}],
          "measures": [{"name": "total", "label": "Total", "function": "sum", "field": "amount"}],
          "subscriptions": [{"cron": "0 8 * * 1", "timezone": "Europe/Paris",
                             "to": [{"role": "sales"}, {"user": "boss@example.com"}]}]}


@pytest.fixture
def rt(db_url: str, tmp_path: Path, smtp: tuple[str, Any]) -> Iterator[Platform]:
    runtime = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", smtp_url=smtp[0]))
    runtime.users.ensure_admin("admin@example.com", "admin-password")
    runtime.metadata.create_object(SYSTEM, DEAL)
    runtime.users.roles.create(SYSTEM, {"api_name": "sales", "label": "Sales", "permissions": {
        "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}, runtime.snapshot)
    runtime.users.roles.create(SYSTEM, {"api_name": "lead", "label": "Lead", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "all", "delete": "none"}}}, runtime.snapshot)
    for email, role in (("ann@example.com", "sales"), ("bob@example.com", "sales"), ("boss@example.com", "lead")):
        runtime.users.accounts.add(SYSTEM, {"email": email, "name": email[:3], "password": "a-long-password",
                                            "roles": [role]})
    for email, amount in (("ann@example.com", "100"), ("ann@example.com", "50"), ("bob@example.com", "7")):
        actor = runtime.users.actor_for_user(_id(runtime, email))
        runtime.records.create(actor, "deal", {"name": f"{email} {amount}", "amount": amount, "stage": "open"})
    yield runtime
    runtime.dispose()


def _id(rt: Platform, email: str) -> int:
    with rt.read() as conn:
        return int(conn.execute(sa.text("SELECT id FROM tessera_users WHERE email = :e"), {"e": email}).scalar_one())


def _attachment(message: Any) -> list[list[str]]:
    part = next(p for p in message.walk() if p.get_filename())
    return list(csv.reader(io.StringIO(part.get_payload(decode=True).decode())))


def test_each_recipient_gets_the_report_they_may_see_once_per_run(rt: Platform, smtp: tuple[str, Any]) -> None:
    rt.documents.create(SYSTEM, "reports", REPORT)
    with rt.read() as conn:
        (timer,) = conn.execute(sa.select(timers)).mappings().all()
    # Monday 08:00 in Paris is 07:00 UTC in winter.
    assert timer["kind"] == "subscription.send" and timer["due_at"].astimezone(UTC).hour in (6, 7)
    at = datetime(2026, 11, 30, 7, tzinfo=UTC)
    with rt.write() as conn:
        stored = next(d for d in rt.documents.active(conn, rt.snapshot(conn), "reports"))
        assert rt.subscriptions.send(conn, stored, REPORT["subscriptions"][0], at) == 3
        rt.subscriptions.send(conn, stored, REPORT["subscriptions"][0], at)  # a retried run: nothing more
    rt.scheduler.drain()
    by_recipient = {m["To"]: m for m in smtp[1].inbox}
    assert sorted(by_recipient) == ["ann@example.com", "bob@example.com", "boss@example.com"]
    totals = {to: _attachment(m)[1][-1] for to, m in by_recipient.items()}
    assert totals == {"ann@example.com": "150", "bob@example.com": "7", "boss@example.com": "157"}
    html = next(p for p in by_recipient["ann@example.com"].walk() if p.get_content_type() == "text/html")
    assert "<h1>Pipeline</h1>" in html.get_payload(decode=True).decode()
    assert by_recipient["ann@example.com"]["Subject"] == "Pipeline — 2026-11-30"


def test_a_dashboard_is_sent_with_one_attachment_per_widget(rt: Platform, smtp: tuple[str, Any]) -> None:
    rt.documents.create(SYSTEM, "reports", {k: v for k, v in REPORT.items() if k != "subscriptions"})
    board = {"api_name": "sales_home", "label": "Sales home", "widgets": [
        {"id": "pipe", "title": "Pipeline", "type": "bar", "report": "pipeline", "x": 0, "y": 0, "w": 6, "h": 3},
        {"id": "count", "title": "Deals", "type": "kpi", "x": 6, "y": 0, "w": 3, "h": 2,
         "source": {"object": "deal", "measures": [{"name": "deals", "function": "count"}]}}],
        "subscriptions": [{"cron": "0 7 * * *", "to": [{"user": "bob@example.com"}], "subject": "Morning"}]}
    rt.documents.create(SYSTEM, "dashboards", board)
    with rt.write() as conn:
        stored = next(d for d in rt.documents.active(conn, rt.snapshot(conn), "dashboards"))
        rt.subscriptions.send(conn, stored, board["subscriptions"][0], datetime(2026, 11, 30, 7, tzinfo=UTC))
    rt.scheduler.drain()
    (message,) = smtp[1].inbox
    assert message["Subject"] == "Morning"
    names = sorted(p.get_filename() for p in message.walk() if p.get_filename())
    assert names == ["sales_home-count.csv", "sales_home-pipe.csv"]


def test_a_schedule_that_cannot_run_is_refused(rt: Platform) -> None:
    with pytest.raises(InvalidInput) as refused:
        rt.documents.create(SYSTEM, "reports", {**REPORT, "subscriptions": [
            {"cron": "every monday", "timezone": "Mars/Olympus", "to": [{"user": "ann@example.com"}]}]})
    assert {p.field for p in refused.value.errors} == {"/subscriptions/0/cron", "/subscriptions/0/timezone"}
