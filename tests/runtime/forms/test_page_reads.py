"""A record page reads its record and related lists together with the metadata's revision
check, working from the metadata the process last saw (one round trip on PostgreSQL), on
SQLite and PostgreSQL: what it shows is always what the page would show had it checked
first — metadata another process changed meanwhile, a form chosen by the record's own
values, a sign-in taken away (refused before anything else is said about the record)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.auth.actor import Actor, acting
from tessera.errors import NotFound, Unauthorized
from tessera.runtime.platform import Platform
from tessera.settings import Settings

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "kind", "label": "Kind", "type": "select",
     "options": [{"value": "customer"}, {"value": "partner"}]}]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"}]}
CONTACT = {"api_name": "contact", "label": "Contact", "plural_label": "Contacts", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account",
     "related_name": "contacts"}]}
CUSTOMER = {"api_name": "customer_page", "label": "Customer", "object": "account", "applies_if": 'kind = "customer"',
            "priority": 1, "sections": [
                {"label": "Account", "columns": [{"fields": [{"field": "name"}]}]},
                {"label": "Deals", "related": {"relation": "deals", "columns": ["name", "amount"], "sort": "name"}}]}
PARTNER = {"api_name": "partner_page", "label": "Partner", "object": "account", "priority": 2, "sections": [
    {"label": "Account", "columns": [{"fields": [{"field": "name"}]}]},
    {"label": "Contacts", "related": {"relation": "contacts", "columns": ["name"], "sort": "name"}}]}


@pytest.fixture
def accounts(runtime: Platform) -> dict[str, int]:
    system = Actor.system()
    for doc in (ACCOUNT, DEAL, CONTACT):
        runtime.metadata.create_object(system, doc)
    for form in (CUSTOMER, PARTNER):
        runtime.documents.create(system, "forms", form)
    made = {}
    for name, kind in (("Acme", "customer"), ("Globex", "partner")):
        account = runtime.records.create(system, "account", {"name": name, "kind": kind})["id"]
        runtime.records.create(system, "deal", {"name": f"{name} deal", "amount": 5, "account": account})
        runtime.records.create(system, "contact", {"name": f"{name} person", "account": account})
        made[name] = int(account)
    return made


@pytest.fixture
def elsewhere(db_url: str, tmp_path: Path) -> Iterator[Platform]:
    """Another process on the same database."""
    other = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "other"))
    yield other
    other.dispose()


def lists(html: str) -> dict[str, list[str]]:
    """Each related list's rows, by relation: the first cell of each."""
    return {relation: [re.sub(r"<[^>]+>", "", re.findall(r"<td>(.*?)</td>", row)[0]) for row in body.split("<tr")[2:]]
            for relation, body in re.findall(r'data-relation="(\w+)"(.*?)</section>', html, re.S)}


def test_a_page_renders_after_another_process_changes_a_type_under_statements_prepared_here(
        runtime: Platform, elsewhere: Platform, accounts: dict[str, int]) -> None:
    """PostgreSQL keeps the plans of statements run often on a connection; one whose columns
    another process changed the type of is refused there once. The page is read again."""
    system, acme = Actor.system(), accounts["Acme"]
    runtime.metadata.add_field(system, "account", {"api_name": "size", "label": "Size", "type": "integer"})
    runtime.records.update(system, "account", acme, {"size": 7}, None)
    runtime.documents.update(system, "forms", "customer_page", {**CUSTOMER, "sections": [
        {"label": "Account", "columns": [{"fields": [{"field": "name"}, {"field": "size"}]}]},
        *CUSTOMER["sections"][1:], {"label": "People", "related": {"relation": "contacts", "columns": ["name"]}}]})
    for _ in range(12):  # prepared on the server (psycopg prepares a statement run five times)
        runtime.forms.render(system, "account", record_id=acme)
    elsewhere.metadata.update_field(system, "account", "size", {"type": "decimal"})
    elsewhere.metadata.update_field(system, "deal", "amount", {"type": "decimal"})
    for _ in range(2):
        html = runtime.forms.render(system, "account", record_id=acme)
        assert lists(html) == {"deals": ["Acme deal"], "contacts": ["Acme person"]} and 'value="7' in html


def test_the_form_chosen_by_the_record_shows_its_own_related_lists(
        runtime: Platform, accounts: dict[str, int]) -> None:
    system = Actor.system()
    for _ in range(2):  # the second time with the lists' statements kept
        assert lists(runtime.forms.render(system, "account", record_id=accounts["Acme"])) == {
            "deals": ["Acme deal"]}
        assert lists(runtime.forms.render(system, "account", record_id=accounts["Globex"])) == {
            "contacts": ["Globex person"]}
    # Named, the form is the one shown whatever the record says.
    assert lists(runtime.forms.render(system, "account", form="partner_page", record_id=accounts["Acme"])) == {
        "contacts": ["Acme person"]}


def test_a_page_shows_metadata_another_process_changed_since_this_one_last_looked(
        runtime: Platform, elsewhere: Platform, accounts: dict[str, int]) -> None:
    system, acme = Actor.system(), accounts["Acme"]
    assert "Amount" in runtime.forms.render(system, "account", record_id=acme)
    elsewhere.metadata.update_field(system, "deal", "amount", {"label": "Worth"})
    elsewhere.documents.update(system, "forms", "customer_page", {**CUSTOMER, "sections": [
        *CUSTOMER["sections"], {"label": "People", "related": {"relation": "contacts", "columns": ["name"]}}]})
    html = runtime.forms.render(system, "account", record_id=acme)
    assert "Worth" in html and "Amount" not in html
    assert lists(html) == {"deals": ["Acme deal"], "contacts": ["Acme person"]}


def test_a_sign_in_taken_away_is_refused_before_anything_about_the_record(
        runtime: Platform, accounts: dict[str, int]) -> None:
    token = runtime.users.sign_in("admin@example.com", "admin-password")
    admin = runtime.users.actor_for_token(token)
    runtime.forms.render(admin, "account", record_id=accounts["Acme"])  # the metadata seen once
    runtime.users.revoke_tokens(int(admin.user_id))
    reset = acting.set(admin)
    try:
        for record_id in (accounts["Acme"], 999_999):
            with pytest.raises(Unauthorized):
                runtime.forms.render(admin, "account", record_id=record_id)
        with pytest.raises(Unauthorized):
            runtime.forms.render(admin, "no_such_object", record_id=1)
    finally:
        acting.reset(reset)


def test_lists_read_together_are_each_as_read_alone(runtime: Platform, accounts: dict[str, int]) -> None:
    """On PostgreSQL a page's lists are one statement (see runtime/forms/together.py): each
    list's rows, order, limit, lookups' names and empty lists are as read one by one."""
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "task", "label": "Task", "plural_label": "Tasks",
                                            "name_field": "name", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account",
         "related_name": "tasks"}]})
    acme = accounts["Acme"]
    for n in range(4):
        runtime.records.create(system, "deal", {"name": f"Deal {n}", "amount": n, "account": acme})
    sections = [{"label": "Deals", "related": {"relation": "deals", "columns": ["name", "amount", "account"],
                                               "sort": "name", "descending": True, "limit": 3}},
                {"label": "Tasks", "related": {"relation": "tasks", "columns": ["name"]}},
                {"label": "Contacts", "related": {"relation": "contacts", "columns": ["name", "account"]}}]
    runtime.documents.update(system, "forms", "customer_page", {**CUSTOMER, "sections": sections})

    def cells(html: str) -> dict[str, list[list[str]]]:
        return {relation: [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
                           for row in body.split("<tr")[2:]]
                for relation, body in re.findall(r'data-relation="(\w+)"(.*?)</section>', html, re.S)}

    expected = {"deals": [["Deal 3", "3", "Acme"], ["Deal 2", "2", "Acme"], ["Deal 1", "1", "Acme"]], "tasks": [],
                "contacts": [["Acme person", "Acme"]]}
    for _ in range(2):
        html = runtime.forms.render(system, "account", record_id=acme)
        assert cells(html) == expected
    alone: dict[str, list[list[str]]] = {}
    for section in sections:  # each list on a page of its own: its statement read alone
        runtime.documents.update(system, "forms", "customer_page", {**CUSTOMER, "sections": [section]})
        alone |= cells(runtime.forms.render(system, "account", record_id=acme))
    assert alone == expected


def test_a_missing_record_or_object_is_not_found(runtime: Platform, accounts: dict[str, Any]) -> None:
    system = Actor.system()
    with pytest.raises(NotFound):
        runtime.forms.render(system, "account", record_id=999_999)
    with pytest.raises(NotFound):
        runtime.forms.render(system, "no_such_object", record_id=accounts["Acme"])
