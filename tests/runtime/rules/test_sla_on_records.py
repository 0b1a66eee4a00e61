"""SLA clocks as people read them, on SQLite and PostgreSQL: a record's clocks in words (time
left in business hours, warning, paused, breached … ago, achieved, achieved late, cancelled),
and the lists' SLA columns — offered only for objects a policy measures, filled for a page of
records with one query, sorted by the open clock's due time in SQL through keyset pages.
Time is the SLA service's fixed clock (`rt.sla.clock`), never real waiting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.runtime.platform import Platform
from tessera.runtime.records.views import ListQuery
from tessera.runtime.rules.sla_display import ago, span

from .test_sla_runtime import GOLD, OFFICE, SYSTEM, TICKET, Clock, at


@pytest.fixture
def clock(rt: Platform) -> Clock:
    found = Clock(at(0, 10))
    rt.sla.clock = found
    rt.metadata.create_object(SYSTEM, TICKET)
    rt.documents.create(SYSTEM, "calendars", OFFICE)
    rt.documents.create(SYSTEM, "sla_policies", GOLD)
    return found


def words(rt: Platform, ticket_id: int) -> dict[str, tuple[str, str, str]]:
    return {r.label: (r.tone, r.text, r.short) for r in rt.sla.shown(SYSTEM, "ticket", ticket_id)}


def test_spans_and_ages_read_as_people_say_them() -> None:
    assert span(timedelta(hours=3, minutes=20, seconds=59)) == "3 h 20 min"
    assert span(timedelta(minutes=45)) == "45 min"
    assert span(timedelta(hours=26)) == "26 h"
    assert span(timedelta(seconds=-5400)) == "1 h 30 min"
    assert span(timedelta(seconds=20)) == "less than a minute"
    assert [ago(timedelta(seconds=s)) for s in (30, 600, 7300, 3 * 86400)] == [
        "just now", "10 min ago", "2 h ago", "3 days ago"]


def test_a_tickets_clocks_in_words_from_running_to_achieved(rt: Platform, clock: Clock) -> None:
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "Printer on fire", "priority": "gold", "status": "new"})
    tid = ticket["id"]
    clock.at = at(0, 10, 40)
    assert words(rt, tid) == {
        "First reply": ("running", "1 h 20 min left (business hours)", "1 h 20 min left"),
        "Resolution": ("running", "39 h 20 min left (business hours)", "39 h 20 min left")}
    clock.at = at(0, 11, 40)
    assert words(rt, tid)["First reply"] == ("warning", "Warning: 20 min left (business hours)",
                                             "Warning: 20 min left")
    rt.records.update(SYSTEM, "ticket", tid, {"status": "waiting_on_customer"}, None)
    clock.at = at(0, 16)
    assert words(rt, tid)["First reply"] == ("paused", "Paused: 20 min left (business hours) when it goes on",
                                             "Paused")
    rt.records.update(SYSTEM, "ticket", tid, {"status": "open"}, None)  # 16:00: due 16:20
    clock.at = at(0, 18, 30)
    assert words(rt, tid)["First reply"] == ("breached", "Breached 2 h ago", "Breached 2 h ago")
    # Achieved the next morning: late by the business time past the target.
    clock.at = at(1, 9, 40)
    rt.records.update(SYSTEM, "ticket", tid, {"first_replied_at": clock.at.isoformat()}, None)
    assert words(rt, tid)["First reply"] == ("breached", "Achieved late, 1 h 20 min after the target",
                                             "Achieved late")
    rt.records.update(SYSTEM, "ticket", tid, {"status": "solved"}, None)
    assert words(rt, tid)["Resolution"][:2] == ("achieved", "Achieved, 36 h 40 min before the target")
    # A clock that stopped applying.
    other = rt.records.create(SYSTEM, "ticket", {"subject": "Spam", "priority": "gold", "status": "new"})
    rt.records.update(SYSTEM, "ticket", other["id"], {"status": "spam"}, None)
    assert words(rt, other["id"])["First reply"] == ("cancelled", "Cancelled: the policy no longer applies",
                                                     "Cancelled")


def test_a_clock_paused_after_its_target_reads_as_breached(rt: Platform, clock: Clock) -> None:
    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "Late", "priority": "gold", "status": "new"})
    clock.at = at(0, 12, 30)
    rt.records.update(SYSTEM, "ticket", ticket["id"], {"status": "waiting_on_customer"}, None)
    clock.at = at(0, 14, 30)
    assert words(rt, ticket["id"])["First reply"] == ("breached", "Paused; breached 2 h ago", "Paused, breached")


def test_a_record_the_user_may_not_read_shows_no_clock(rt: Platform, clock: Clock) -> None:
    from tessera.errors import NotFound

    ticket = rt.records.create(SYSTEM, "ticket", {"subject": "Private", "priority": "gold", "status": "new"})
    rt.users.roles.create(SYSTEM, {"api_name": "own", "label": "Own", "permissions": {
        "ticket": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}, rt.snapshot)
    user = rt.users.accounts.add(SYSTEM, {"email": "o@x.com", "name": "O", "password": "a-long-password",
                                          "roles": ["own"]})
    with pytest.raises(NotFound):
        rt.sla.shown(rt.users.actor_for_user(int(user["id"])), "ticket", ticket["id"])


def _tickets(rt: Platform, clock: Clock) -> dict[str, int]:
    """Four tickets whose first replies are due at different times, one already met."""
    out = {}
    for minute, (subject, priority) in zip((0, 10, 20, 30), (("Normal early", "normal"), ("Gold", "gold"),
                                                           ("Normal late", "normal"), ("Met", "gold")), strict=True):
        clock.at = at(0, 10, minute)
        out[subject] = rt.records.create(SYSTEM, "ticket", {"subject": subject, "priority": priority,
                                                            "status": "new"})["id"]
    clock.at = at(0, 10, 45)
    rt.records.update(SYSTEM, "ticket", out["Met"], {"first_replied_at": clock.at.isoformat()}, None)
    return out


def test_sla_columns_are_offered_filled_in_one_query_and_sorted_by_due_time(rt: Platform, clock: Clock) -> None:
    _tickets(rt, clock)
    clock.at = at(0, 11, 40)
    statements: list[str] = []
    engine = rt.kernel.engine

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "tessera_sla_clocks" in statement:
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        page = rt.views.page(SYSTEM, "ticket", ListQuery(columns=["subject", "sla:first_reply", "sla:resolution"],
                                                         sort="sla:first_reply"))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    # The list's own query (sorting by the clocks' due time) and one read of the page's clocks:
    # never one per row.
    assert len(statements) == 2
    labels = [c["label"] for c in page["choices"]]
    assert "SLA: First reply" in labels and "SLA: Resolution" in labels and "SLA: Next reply" not in labels
    cells = [(r["_display"]["subject"], r["_display"]["sla:first_reply"], r["_tone"]["sla:first_reply"])
             for r in page["records"]]
    # Due: Gold 12:10, Normal early 18:00 → Tuesday 10:00, Normal late Tuesday 10:20; met last.
    assert cells == [("Gold", "Warning: 30 min left", "warning"), ("Normal early", "6 h 20 min left", "running"),
                     ("Normal late", "6 h 40 min left", "running"), ("Met", "Achieved", "achieved")]
    newest_due_first = runtime_order(rt, "-sla:first_reply", limit=1)
    assert newest_due_first == ["Normal late", "Normal early", "Gold", "Met"]
    assert runtime_order(rt, "sla:first_reply", limit=1) == ["Gold", "Normal early", "Normal late", "Met"]


def runtime_order(rt: Platform, sort: str, limit: int) -> list[str]:
    """The subjects in the order of `sort`, read a page of `limit` at a time (keyset)."""
    names: list[str] = []
    cursor = None
    while True:
        page = rt.views.page(SYSTEM, "ticket", ListQuery(columns=["subject", "sla:first_reply"], sort=sort,
                                                         limit=limit, cursor=cursor))
        names += [r["_display"]["subject"] for r in page["records"]]
        cursor = page["next_cursor"]
        if not cursor:
            return names


def test_objects_without_a_policy_offer_no_sla_column(rt: Platform, clock: Clock) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]})
    page = rt.views.page(SYSTEM, "note", ListQuery(columns=["name", "sla:first_reply"]))
    assert not [c for c in page["choices"] if c["label"].startswith("SLA")]
    assert [c.api_name for c in page["columns"]] == ["name"]


def test_the_csv_has_the_sla_column_as_the_list_reads_it(rt: Platform, clock: Clock) -> None:
    _tickets(rt, clock)
    clock.at = at(0, 11, 40)
    text = "".join(rt.views.export_csv(SYSTEM, "ticket", ListQuery(columns=["subject", "sla:first_reply"],
                                                                   sort="sla:first_reply")))
    assert text.splitlines()[:2] == ["id,Subject,SLA: First reply", "2,Gold,Warning: 30 min left"]
