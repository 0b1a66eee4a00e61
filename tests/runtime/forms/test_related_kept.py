"""The statements of a record page's related lists are built once and kept (per metadata
revision and the reader's access), on SQLite and PostgreSQL: what a kept statement reads is
always what its reader may see — another person's broader or narrower row scope and hidden
fields are never served — it follows a metadata or role change, and a formula reading
TODAY() is right on the next day."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.formula import EvalContext
from tessera.runtime.platform import Platform

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "secret", "label": "Secret", "type": "text"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "days_left", "label": "Days left", "type": "formula", "expression": "close_date - TODAY()"},
    {"api_name": "ahead", "label": "Ahead", "type": "formula",
     "expression": "IF(close_date > TODAY(), close_date - TODAY(), 0)"},
    {"api_name": "seller", "label": "Seller", "type": "user"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": "open", "label": "Open"}]},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]}
FORM = {"api_name": "account_deals", "label": "Account", "object": "account", "sections": [
    {"label": "Account", "columns": [{"fields": [{"field": "name"}]}]},
    {"label": "Deals", "related": {"relation": "deals", "columns": ["name", "secret", "days_left", "seller",
                                                                   "ahead"],
                                   "sort": "name"}}]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"},
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none", "fields": {"secret": "hidden"}}}}


@pytest.fixture
def deals(runtime: Platform) -> dict[str, Any]:
    system = Actor.system()
    for doc in (ACCOUNT, DEAL):
        runtime.metadata.create_object(system, doc)
    runtime.documents.create(system, "forms", FORM)
    runtime.users.roles.create(system, REP, runtime.snapshot)
    reps = [runtime.users.accounts.add(system, {"email": f"{who}@example.com", "name": who.title(),
                                                "password": "a-long-password", "roles": ["rep"]})["id"]
            for who in ("rita", "ravi")]
    acme = runtime.records.create(system, "account", {"name": "Acme"})
    for name, owner in (("Rita's deal", reps[0]), ("Ravi's deal", reps[1]), ("Nobody's deal", None)):
        runtime.records.create(system, "deal", {"name": name, "secret": f"psst {name}", "close_date": "2026-03-11",
                                                "stage": "open",
                                                "seller": reps[0], "account": acme["id"],
                                                **({"owner": owner} if owner else {})})
    return {"acme": acme["id"], "rita": runtime.users.actor_for_user(int(reps[0])),
            "ravi": runtime.users.actor_for_user(int(reps[1])),
            "admin": Actor(user_id=1, email="admin@example.com", is_admin=True)}


def rows(runtime: Platform, actor: Actor, record_id: int) -> list[list[str]]:
    """The deals related list as read: each row's cells."""
    html = runtime.forms.render(actor, "account", record_id=record_id)
    table = html.split('data-relation="deals"', 1)[1].split("</section>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in table.split("<tr")[2:]]


@pytest.fixture
def day(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets the day the platform's clock reads (noon UTC)."""
    def on(year: int, month: int, date: int) -> None:
        monkeypatch.setitem(EvalContext.__init__.__kwdefaults__, "clock",
                            lambda: datetime(year, month, date, 12, tzinfo=UTC))
    on(2026, 3, 1)
    return on


def test_a_kept_related_list_serves_each_reader_their_own_scope_and_fields(
        runtime: Platform, deals: dict[str, Any], day: Any) -> None:
    acme = deals["acme"]
    everything = [["Nobody&#39;s deal", "psst Nobody&#39;s deal", "10", "Rita", "10"],
                  ["Ravi&#39;s deal", "psst Ravi&#39;s deal", "10", "Rita", "10"],
                  ["Rita&#39;s deal", "psst Rita&#39;s deal", "10", "Rita", "10"]]
    assert rows(runtime, deals["admin"], acme) == everything
    # The admin's statement is kept; Rita's own deal only, without the hidden column.
    assert rows(runtime, deals["rita"], acme) == [["Rita&#39;s deal", "10", "Rita", "10"]]
    # The same role, another person: their own deal, not Rita's.
    assert rows(runtime, deals["ravi"], acme) == [["Ravi&#39;s deal", "10", "Rita", "10"]]
    assert rows(runtime, deals["rita"], acme) == [["Rita&#39;s deal", "10", "Rita", "10"]]
    assert rows(runtime, deals["admin"], acme) == everything


def test_a_kept_related_list_follows_a_role_and_a_metadata_change(
        runtime: Platform, deals: dict[str, Any], day: Any) -> None:
    acme, system = deals["acme"], Actor.system()
    assert rows(runtime, deals["rita"], acme) == [["Rita&#39;s deal", "10", "Rita", "10"]]
    runtime.users.roles.update(system, "rep", {"permissions": {
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"},
        "deal": {"create": True, "read": "all", "edit": "own", "delete": "none"}}}, runtime.snapshot)
    rita = runtime.users.actor_for_user(int(deals["rita"].user_id))
    assert [r[:2] for r in rows(runtime, rita, acme)] == [["Nobody&#39;s deal", "psst Nobody&#39;s deal"],
                                                          ["Ravi&#39;s deal", "psst Ravi&#39;s deal"],
                                                          ["Rita&#39;s deal", "psst Rita&#39;s deal"]]
    runtime.metadata.update_field(system, "deal", "days_left", {"expression": "close_date - TODAY() + 100"})
    assert {r[2] for r in rows(runtime, rita, acme)} == {"110"}


def test_a_kept_statement_reading_today_is_right_on_the_next_day(
        runtime: Platform, deals: dict[str, Any], day: Any) -> None:
    acme = deals["acme"]
    assert {(r[2], r[4]) for r in rows(runtime, deals["admin"], acme)} == {("10", "10")}
    day(2026, 3, 2)
    assert {(r[2], r[4]) for r in rows(runtime, deals["admin"], acme)} == {("9", "9")}
    assert {(r[1], r[3]) for r in rows(runtime, deals["rita"], acme)} == {("9", "9")}


def test_a_cell_shown_before_follows_a_metadata_change(runtime: Platform, deals: dict[str, Any], day: Any) -> None:
    form = {**FORM, "sections": [{"label": "Deals", "related": {"relation": "deals", "columns": ["name", "stage"],
                                                                 "sort": "name"}}]}
    runtime.documents.update(Actor.system(), "forms", "account_deals", form)
    assert {r[1] for r in rows(runtime, deals["admin"], deals["acme"])} == {"Open"}
    runtime.metadata.update_field(Actor.system(), "deal", "stage",
                                  {"options": [{"value": "open", "label": "In progress"}]})
    assert {r[1] for r in rows(runtime, deals["admin"], deals["acme"])} == {"In progress"}


def test_a_page_renders_after_a_field_type_change_on_a_connection_that_read_it_before(
        runtime: Platform, deals: dict[str, Any]) -> None:
    """A record read by id is a statement prepared on the server (PostgreSQL); another
    connection changing a field's column type must not break the next render on one that
    prepared it before."""
    system = Actor.system()
    runtime.metadata.add_field(system, "account", {"api_name": "size", "label": "Size", "type": "integer"})

    def render_on_each_connection() -> None:
        # Connections held open send the next render to the pool's other connections.
        with contextlib.ExitStack() as held:
            for _ in range(6):
                assert "Acme" in runtime.forms.render(deals["admin"], "account", record_id=deals["acme"])
                held.enter_context(runtime.engine.connect())

    render_on_each_connection()
    runtime.metadata.update_field(system, "account", "size", {"type": "decimal"})
    render_on_each_connection()
