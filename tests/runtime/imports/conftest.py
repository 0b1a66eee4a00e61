"""The imports tests' platform (the suite's `runtime`, SQLite and PostgreSQL), a small sales
model to import into — accounts, products, deals with a unique external id, quotes with
lines — and files made on the spot (CSV in any encoding, xlsx with typed cells)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import openpyxl
import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True},
    {"api_name": "region", "label": "Region", "type": "select", "options": [
        {"value": "east", "label": "East"}, {"value": "west", "label": "West"}]}]}
PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "code", "label": "Code", "type": "text", "unique": True},
    {"api_name": "list_price", "label": "List price", "type": "currency"}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "external_id", "label": "External ID", "type": "text", "unique": True},
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "new", "label": "New"}, {"value": "won", "label": "Closed won"},
        {"value": "lost", "label": "Closed lost"}]},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "probability", "label": "Probability", "type": "percent"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "signed", "label": "Signed", "type": "boolean"},
    {"api_name": "phone", "label": "Phone", "type": "phone"},
    {"api_name": "code", "label": "Code", "type": "text"}],
    "validation_rules": [{"name": "no_huge", "error_if": "amount > 1000000", "message": "Too big a deal",
                          "field": "amount"}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "number", "label": "Quote number", "type": "text", "unique": True, "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.quantity * lines.unit_price)"}]}


@pytest.fixture
def rt(runtime: Platform) -> Platform:
    for doc in (ACCOUNT, PRODUCT, DEAL, QUOTE_LINE, QUOTE):
        runtime.metadata.create_object(SYSTEM, doc)
    for name, region in (("Acme", "east"), ("Globex", "west"), ("Initech", "east")):
        runtime.records.create(SYSTEM, "account", {"name": name, "region": region})
    for name, code, price in (("Widget", "W-1", "10.00"), ("Gadget", "G-1", "25.00")):
        runtime.records.create(SYSTEM, "product", {"name": name, "code": code, "list_price": price})
    return runtime


def csv_bytes(rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]], title: str = "Deals") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def run(rt: Platform, actor: Actor, import_id: int) -> dict[str, Any]:
    """Start the import and wait for its job; returns the import as it ended."""
    started = rt.imports.run(actor, import_id)
    job = rt.jobs.wait(int(started["job"]), timeout=120)
    assert job["status"] in ("succeeded", "failed", "cancelled"), job
    return rt.imports.get(actor, import_id)


def deals(rt: Platform) -> dict[str, dict[str, Any]]:
    """Every deal by external id."""
    listed = rt.records.list(SYSTEM, "deal", limit=1000)["data"]
    return {d["external_id"]: d for d in listed}


def user(rt: Platform, permissions: dict[str, Any], email: str = "rep@example.com") -> Actor:
    """A user with one role of these object permissions."""
    name = email.split("@")[0].replace(".", "_")
    rt.users.roles.create(SYSTEM, {"api_name": name, "label": name.title(), "permissions": permissions}, rt.snapshot)
    made = rt.users.accounts.add(SYSTEM, {"email": email, "name": name.title(), "password": "a-long-password",
                                          "roles": [name]})
    return rt.users.actor_for_user(int(made["id"]))
