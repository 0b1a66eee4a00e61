"""A list's columns as the column picker offers them, on SQLite and PostgreSQL: the fields a
person may see by their labels (lookups and formulas included), the owner, created and
updated, in the order chosen; a hidden field is never offered nor shown, whatever the address
asks; a saved view keeps the columns and their order; the CSV has the same columns."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import ListQuery

SYSTEM = Actor.system()
ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"},
    {"api_name": "margin", "label": "Margin", "type": "integer"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
    {"api_name": "double", "label": "Double amount", "type": "formula", "expression": "amount * 2"}]}


@pytest.fixture
def sales(runtime: Platform) -> dict[str, Any]:
    runtime.metadata.create_object(SYSTEM, ACCOUNT)
    runtime.metadata.create_object(SYSTEM, DEAL)
    runtime.users.roles.create(SYSTEM, {"api_name": "rep", "label": "Rep", "permissions": {
        "deal": {"create": True, "read": "all", "edit": "all", "delete": "none", "fields": {"margin": "hidden"}},
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    rep = runtime.users.accounts.add(SYSTEM, {"email": "rep@x.com", "name": "Rita Rep", "password": "a-long-password",
                                              "roles": ["rep"]})
    actor = runtime.users.actor_for_user(int(rep["id"]))
    acme = runtime.records.create(SYSTEM, "account", {"name": "Acme"})
    for name, amount in (("Small", 10), ("Big", 900)):
        runtime.records.create(actor, "deal", {"name": name, "amount": amount, "account": acme["id"]})
    return {"rep": actor}


def test_the_picker_offers_what_the_user_may_see_by_label_and_keeps_the_order(runtime: Platform,
                                                                              sales: dict[str, Any]) -> None:
    rep = sales["rep"]
    page = runtime.views.page(rep, "deal", ListQuery(columns=["owner", "account", "name", "margin", "nope"],
                                                     sort="name"))
    assert [c.label for c in page["columns"]] == ["Owner", "Account", "Name"]
    assert [(c["label"], c["chosen"]) for c in page["choices"]] == [
        ("Owner", True), ("Account", True), ("Name", True), ("Amount", False), ("Double amount", False),
        ("Created", False), ("Updated", False)]
    assert [r["_display"] for r in page["records"]] == [
        {"owner": "Rita Rep", "account": "Acme", "name": "Big"},
        {"owner": "Rita Rep", "account": "Acme", "name": "Small"}]
    # The builder sees the margin; the rep neither among the choices nor in a cell.
    everything = runtime.views.page(SYSTEM, "deal", ListQuery())
    assert "Margin" in [c["label"] for c in everything["choices"]]
    assert not any("margin" in r["_display"] for r in page["records"])


def test_created_updated_and_formula_columns_show_and_sort(runtime: Platform, sales: dict[str, Any]) -> None:
    rep = sales["rep"]
    page = runtime.views.page(rep, "deal", ListQuery(columns=["name", "double", "created_at", "updated_at"],
                                                     sort="-created_at"))
    assert [r["_display"]["name"] for r in page["records"]] == ["Big", "Small"]
    assert [r["_display"]["double"] for r in page["records"]] == ["1,800", "20"]
    for record in page["records"]:
        assert record["_display"]["created_at"][:4].isdigit() and record["_display"]["updated_at"]
    # Created and updated are never offered to "Set a field" in bulk.
    assert [c.api_name for c in page["columns"] if not c.read_only] == ["name"]


def test_a_saved_view_keeps_the_columns_in_their_order_and_the_csv_follows(runtime: Platform,
                                                                           sales: dict[str, Any]) -> None:
    rep = sales["rep"]
    query = ListQuery(columns=["owner", "account", "name"], sort="name")
    view = runtime.views.save(rep, "deal", "Mine by account", query, shared=False)
    saved = next(v for v in runtime.views.saved(rep, "deal") if v["id"] == view["id"])
    assert saved["query"]["columns"] == ["owner", "account", "name"]
    text = "".join(runtime.views.export_csv(rep, "deal", ListQuery(**{**saved["query"]})))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "Owner", "Account", "Name"]
    assert [r[1:] for r in rows[1:]] == [["Rita Rep", "Acme", "Big"], ["Rita Rep", "Acme", "Small"]]
