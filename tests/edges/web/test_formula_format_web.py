"""A builder picks how a number formula shows — money in a currency, a percentage — on the
field's page, and lists and record pages read it so."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform


@pytest.fixture
def site(runtime: Platform) -> Iterator[TestClient]:
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "deal", "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "amount", "label": "Amount", "type": "decimal"},
        {"api_name": "doubled", "label": "Doubled", "type": "formula", "expression": "amount * 2", "scale": 2}]})
    runtime.records.create(system, "deal", {"name": "Big one", "amount": "617200"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def test_the_field_page_shows_a_number_formula_as_money_and_the_list_reads_it_so(site: TestClient,
                                                                                runtime: Platform) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    page = admin.get("/builder/objects/deal/fields/doubled").text
    assert re.search(r'<option value="number" selected>A number', page)
    assert "1,234,400.00" in admin.get("/app/deal").text  # grouped before anything is chosen

    saved = admin.post("/builder/objects/deal/fields/doubled", data={
        "label": "Doubled", "api_name": "doubled", "expression": "amount * 2", "format": "currency",
        "currency": "EUR"})
    assert saved.status_code == 204, saved.text
    field = runtime.metadata.get_field("deal", "doubled")
    assert (field["format"], field["currency"]) == ("currency", "EUR")
    assert "1,234,400.00 EUR" in admin.get("/app/deal").text
    assert re.search(r'<option value="currency" selected>Money', admin.get("/builder/objects/deal/fields/doubled").text)

    percent = admin.post("/builder/objects/deal/fields/doubled", data={
        "label": "Doubled", "api_name": "doubled", "expression": "amount / 10000", "format": "percent"})
    assert percent.status_code == 204, percent.text
    assert "61.72\u202f%" in admin.get("/app/deal").text


def test_a_text_formula_offers_no_show_as(site: TestClient, runtime: Platform) -> None:
    runtime.metadata.add_field(Actor.system(), "deal", {"api_name": "shout", "label": "Shout", "type": "formula",
                                                        "expression": "UPPER(name)"})
    admin = SignedIn(site, "admin@example.com", "admin-password")
    assert 'name="format"' not in admin.get("/builder/objects/deal/fields/shout").text


