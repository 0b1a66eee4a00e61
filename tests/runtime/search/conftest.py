"""The search tests' platform (the suite's `runtime`: SQLite and PostgreSQL) with a small
service model: accounts (name searched high), contacts with e-mails and phones, and
articles with a body and an internal note, each field searchable."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()

ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True, "searchable": True},
    {"api_name": "city", "label": "City", "type": "text", "searchable": True},
    {"api_name": "region", "label": "Region", "type": "select", "options": [
        {"value": "east", "label": "East"}, {"value": "west", "label": "West"}]}]}
CONTACT = {"api_name": "contact", "label": "Contact", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True, "searchable": True},
    {"api_name": "email", "label": "E-mail", "type": "email", "searchable": True},
    {"api_name": "phone", "label": "Phone", "type": "phone", "searchable": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}]}
ARTICLE = {"api_name": "article", "label": "Article", "name_field": "title", "fields": [
    {"api_name": "title", "label": "Title", "type": "text", "required": True, "searchable": True},
    {"api_name": "body", "label": "Body", "type": "long_text", "searchable": True, "search_weight": "low"},
    {"api_name": "internal_note", "label": "Internal note", "type": "long_text", "searchable": True},
    {"api_name": "number", "label": "Number", "type": "autonumber", "prefix": "KB-", "digits": 4,
     "searchable": True}]}


@pytest.fixture
def rt(runtime: Platform) -> Platform:
    for doc in (ACCOUNT, CONTACT, ARTICLE):
        runtime.metadata.create_object(SYSTEM, doc)
    return runtime


def titles(result: dict[str, Any]) -> list[str]:
    return [r["title"] for r in result["results"]]


def person(rt: Platform, email: str, permissions: dict[str, Any], role: str = "rep") -> Actor:
    """A signed-in person with one role of these permissions."""
    rt.users.roles.create(SYSTEM, {"api_name": role, "label": role.title(), "permissions": permissions},
                          rt.snapshot)
    made = rt.users.accounts.add(SYSTEM, {"email": email, "name": email.split("@")[0].title(),
                                          "password": "a-long-password", "roles": [role]})
    return rt.users.actor_for_user(int(made["id"]))
