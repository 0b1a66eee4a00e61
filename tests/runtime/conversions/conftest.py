"""The conversions tests' platform (the suite's `runtime`, SQLite and PostgreSQL) and a small
CRM to convert in: leads into accounts, contacts and opportunities."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "industry", "label": "Industry", "type": "text"},
    {"api_name": "employees", "label": "Employees", "type": "text"}]}
CONTACT = {"api_name": "contact", "label": "Contact", "fields": [
    {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
    {"api_name": "first_name", "label": "First name", "type": "text"},
    {"api_name": "email", "label": "E-mail", "type": "email"},
    {"api_name": "phone", "label": "Phone number", "type": "phone"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "contacts"}]}
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "prospecting", "label": "Prospecting"}, {"value": "won", "label": "Won"}]},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "contact", "label": "Contact", "type": "lookup", "target": "contact"}],
    "validation_rules": [{"name": "no_huge", "error_if": "amount > 1000000", "message": "Too big a deal",
                          "field": "amount"}]}
LEAD = {"api_name": "lead", "label": "Lead", "name_field": "last_name", "fields": [
    {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
    {"api_name": "first_name", "label": "First name", "type": "text"},
    {"api_name": "company", "label": "Company", "type": "text"},
    {"api_name": "industry", "label": "Industry", "type": "text"},
    {"api_name": "employees", "label": "Employees", "type": "integer"},
    {"api_name": "email", "label": "E-mail", "type": "email"},
    {"api_name": "phone_number", "label": "Phone number", "type": "phone"},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "won", "label": "Won"}]},
    {"api_name": "status", "label": "Status", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "qualified", "label": "Qualified"},
        {"value": "converted", "label": "Converted"}]},
    {"api_name": "full_name", "label": "Full name", "type": "formula", "expression": "first_name & \" \" & last_name"},
    {"api_name": "converted_account", "label": "Converted account", "type": "lookup", "target": "account"},
    {"api_name": "converted_contact", "label": "Converted contact", "type": "lookup", "target": "contact"}]}

CONVERT_LEAD: dict[str, Any] = {
    "api_name": "convert_lead", "label": "Convert lead", "object": "lead", "button_label": "Convert",
    "when": 'status = "qualified"',
    "targets": [
        {"key": "account", "object": "account", "match": {"name": "company"}, "create": True},
        {"key": "contact", "object": "contact", "match": {"email": "email", "account": "account.id"}},
        {"key": "deal", "object": "opportunity",
         "fields": {"name": 'company & " deal"', "contact": "contact.id", "stage": '"prospecting"'}}],
    "after": {"status": '"converted"', "converted_account": "account.id", "converted_contact": "contact"}}


@pytest.fixture
def rt(runtime: Platform) -> Platform:
    return runtime


@pytest.fixture
def crm(runtime: Platform) -> Platform:
    for doc in (ACCOUNT, CONTACT, OPPORTUNITY, LEAD):
        runtime.metadata.create_object(SYSTEM, doc)
    runtime.documents.create(SYSTEM, "conversions", CONVERT_LEAD)
    return runtime


def lead(rt: Platform, **values: Any) -> dict[str, Any]:
    return rt.records.create(SYSTEM, "lead", {"last_name": "Doe", "first_name": "Jane", "company": "Acme",
                                              "email": "jane@acme.test", "status": "qualified", **values})
