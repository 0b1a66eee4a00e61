"""Timelines and relation paths on a record's form, on SQLite and PostgreSQL: a form section
`{"timeline": {"relations": [...]}}` merges the records of several relations by their dates,
newest first, each as its reader may see it (their row scope and hidden fields apply as in
related lists); a related list or a timeline may follow a path of relations
(`deals.notes`: the notes of the account's deals); and a form naming what does not exist
is refused at the place to fix."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency", "currency": "EUR"},
    {"api_name": "secret", "label": "Secret", "type": "text"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]}
NOTE = {"api_name": "note", "label": "Note", "plural_label": "Notes", "name_field": "title", "fields": [
    {"api_name": "title", "label": "Title", "type": "text", "required": True},
    {"api_name": "written_at", "label": "Written at", "type": "datetime"},
    {"api_name": "deal", "label": "Deal", "type": "lookup", "target": "deal", "related_name": "notes"}]}
FORM = {"api_name": "account_360", "label": "Account", "object": "account", "sections": [
    {"label": "Account", "columns": [{"fields": [{"field": "name"}]}]},
    {"label": "What happened", "timeline": {"relations": [
        {"relation": "deals", "date": "close_date", "columns": ["amount", "secret"]},
        {"relation": "deals.notes", "date": "written_at"}], "limit": 4}},
    {"label": "Notes on deals", "related": {"relation": "deals.notes", "columns": ["title", "deal", "written_at"],
                                             "sort": "written_at", "descending": True}}]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"},
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none", "fields": {"secret": "hidden"}},
    "note": {"create": True, "read": "all", "edit": "own", "delete": "none"}}}


@pytest.fixture
def accounts(runtime: Platform) -> dict[str, Any]:
    system = Actor.system()
    for doc in (ACCOUNT, DEAL, NOTE):
        runtime.metadata.create_object(system, doc)
    runtime.documents.create(system, "forms", FORM)
    runtime.users.roles.create(system, REP, runtime.snapshot)
    rep_id = runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rita Rep",
                                                  "password": "a-long-password", "roles": ["rep"]})["id"]
    acme = runtime.records.create(system, "account", {"name": "Acme"})
    make = runtime.records.create
    mine = make(system, "deal", {"name": "Rita's deal", "amount": "100", "secret": "psst", "close_date": "2026-03-01",
                              "account": acme["id"], "owner": rep_id})
    theirs = make(system, "deal", {"name": "Someone else's deal", "amount": "900", "close_date": "2026-05-01",
                                "account": acme["id"]})
    make(system, "note", {"title": "Kick-off call", "written_at": "2026-02-10T09:30:00Z", "deal": mine["id"]})
    make(system, "note", {"title": "Price agreed", "written_at": "2026-04-02T16:00:00Z", "deal": mine["id"]})
    make(system, "note", {"title": "Hidden talks", "written_at": "2026-04-20T10:00:00Z", "deal": theirs["id"]})
    make(system, "note", {"title": "Undated", "deal": mine["id"]})
    other = runtime.records.create(system, "account", {"name": "Other"})
    make(system, "deal", {"name": "Other's deal", "close_date": "2026-06-01", "account": other["id"]})
    return {"acme": acme, "rep": runtime.users.actor_for_user(int(rep_id))}


def timeline(html: str) -> str:
    return html.split("data-timeline", 1)[1].split("</section>", 1)[0]


def entries(html: str) -> list[str]:
    """The timeline's entries as read: the link text of each list item, in order."""
    return [item.split("</a>", 1)[0].rsplit(">", 1)[1] for item in timeline(html).split("<li")[1:]]


def test_a_timeline_merges_the_relations_records_newest_first(runtime: Platform, accounts: dict[str, Any]) -> None:
    admin = Actor(user_id=1, email="admin@example.com", is_admin=True)
    html = runtime.forms.render(admin, "account", record_id=accounts["acme"]["id"])
    # Deals by close date and notes by when written, in one list; four at most; no date, no place.
    assert entries(html) == ["Someone else&#39;s deal", "Hidden talks", "Price agreed", "Rita&#39;s deal"]
    shown = timeline(html)
    assert "Older entries are left out." in shown and "Other&#39;s deal" not in html and "Undated" not in shown
    assert '<time datetime="2026-05-01">2026-05-01</time>' in shown
    assert '<time datetime="2026-04-20T10:00:00Z">2026-04-20 10:00 UTC</time>' in shown
    assert "Amount: 900.00 EUR</span>" in shown  # a blank column (its secret) is left out
    assert "Amount: 100.00 EUR · Secret: psst</span>" in shown
    assert '<span class="timeline-kind muted">Note</span>' in shown
    # The related list through the path: the notes of Acme's deals, newest first.
    related = html.split('data-relation="deals.notes"', 1)[1].split("</section>", 1)[0]
    assert related.index("Hidden talks") < related.index("Price agreed") < related.index("Kick-off call")
    assert "<td>Rita&#39;s deal</td>" in related  # a lookup column by its record's name


def test_a_timeline_shows_only_what_its_reader_may_see(runtime: Platform, accounts: dict[str, Any]) -> None:
    html = runtime.forms.render(accounts["rep"], "account", record_id=accounts["acme"]["id"])
    # Rita reads her own deals only, and not their secret; notes of deals she cannot read are
    # not reached through them.
    assert entries(html) == ["Price agreed", "Rita&#39;s deal", "Kick-off call"]
    assert "Someone else" not in html and "Hidden talks" not in html
    assert "psst" not in html and "Secret" not in html
    assert "Older entries are left out." not in html


def test_a_timeline_or_relation_path_naming_what_does_not_exist_is_refused(runtime: Platform,
                                                                           accounts: dict[str, Any]) -> None:
    bad = {**FORM, "api_name": "account_bad", "sections": [
        {"label": "Timeline", "timeline": {"relations": [
            "dealz", {"relation": "deals.notez"}, {"relation": "deals", "date": "name"},
            {"relation": "deals", "date": "closing", "columns": ["amout"]}]}}]}
    with pytest.raises(InvalidInput) as refused:
        runtime.documents.create(Actor.system(), "forms", bad)
    found = {p.field: p.message for p in refused.value.errors}
    assert found == {
        "/sections/0/timeline/relations/0": "Account has no related list named 'dealz' (known: deals)",
        "/sections/0/timeline/relations/1/relation": "Deal has no related list named 'notez' (known: notes)",
        "/sections/0/timeline/relations/2/date": "Name is no date: a timeline orders records by a date or "
                                                 "date-time field",
        "/sections/0/timeline/relations/3/date": "Deal has no field named 'closing'",
        "/sections/0/timeline/relations/3/columns/0": "Deal has no field named 'amout'; did you mean 'amount'?",
    }
    both = {**FORM, "api_name": "account_both", "sections": [
        {"label": "Both", "related": {"relation": "deals", "columns": ["name"]}, "timeline": {"relations": ["deals"]}}]}
    with pytest.raises(InvalidInput) as refused:
        runtime.documents.create(Actor.system(), "forms", both)
    assert [(p.field, p.message) for p in refused.value.errors] == [
        ("/sections/0", "a section has either columns of fields, a related list or a timeline")]


def test_renaming_a_field_a_timeline_shows_rewrites_the_form(runtime: Platform, accounts: dict[str, Any]) -> None:
    runtime.metadata.update_field(Actor.system(), "deal", "close_date", {"api_name": "closes_on"})
    stored = runtime.documents.get("forms", "account_360")
    assert stored["sections"][1]["timeline"]["relations"][0]["date"] == "closes_on"
