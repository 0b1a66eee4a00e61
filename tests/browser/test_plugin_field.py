"""A plugin's field type as people meet it (the example plugin, examples/plugins/tessera-example):
a builder adds an IBAN field picking the plugin's type from the type picker; a user types an
IBAN with a wrong check digit and is told so beside the field, fixes it, and the list shows it
in groups of four. With the plugin removed, the record still shows the IBAN as stored and says
why it cannot be changed, and the admin's Plugins page says what metadata misses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tessera.auth.actor import Actor
from tessera.registry import forget

from .conftest import ADMIN, serving
from .test_admin_home import admin_area, open_admin
from .test_list_views import _sign_in

WRONG = "DE89 3704 0044 0532 0130 01"
RIGHT = "de89 3704 0044 0532 0130 00"
GROUPED = "DE89 3704 0044 0532 0130 00"
STORED = "DE89370400440532013000"
PAYEE = {"api_name": "payee", "label": "Payee", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "iban", "label": "IBAN", "type": "iban"}]}


@pytest.fixture(autouse=True)
def _plugin_forgotten() -> Iterator[None]:
    """The plugin's names are process-wide: none of them outlives these tests."""
    yield
    forget("example")


def _phone(page: Any, shot: Any, name: str) -> None:
    """The page at 390 px as well: nothing wider than the phone, a screenshot; back to 1280."""
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name} is {width}px wide on a 390px phone"
    shot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_builder_adds_an_iban_field_and_a_user_is_told_of_a_wrong_check_digit(
        page: Any, shot: Any, tmp_path: Path) -> None:
    with serving(tmp_path, plugins=True) as (base, _runtime):
        _sign_in(page, base, ADMIN)
        # -- the builder: an object and its IBAN field, the type picked from the picker -------
        page.get_by_role("link", name="Builder", exact=True).first.click()
        page.wait_for_url(f"{base}/builder")
        page.locator("#object-label").fill("Payee")  # "New object": its Label
        page.get_by_role("button", name="Create object").click()
        page.wait_for_url(f"{base}/builder/objects/payee")
        page.get_by_label("Label", exact=True).fill("IBAN")
        picker = page.get_by_label("Type", exact=True)
        expect(picker.locator("option", has_text=re.compile(r"^IBAN$"))).to_have_count(1)
        picker.select_option(label="IBAN")
        page.get_by_role("button", name="Add field").click()
        row = page.locator("#fields tbody tr", has=page.get_by_role("link", name="IBAN", exact=True))
        expect(row).to_contain_text("iban")
        expect(row.locator("td").nth(2)).to_have_text("IBAN")
        shot(page, "plugin-field-builder")

        # -- the user: a wrong IBAN, told why; the right one, shown grouped in the list --------
        page.get_by_role("link", name="Tessera, home").click()
        page.get_by_role("link", name="Payees", exact=True).first.click()
        page.wait_for_url(f"{base}/app/payee")
        page.get_by_role("link", name="New Payee").click()
        page.wait_for_url(f"{base}/app/payee/new")
        page.get_by_role("textbox", name="Name", exact=True).fill("Müller GmbH")
        page.get_by_role("textbox", name="IBAN", exact=True).fill(WRONG)
        page.get_by_role("button", name="Save", exact=True).click()
        iban = page.locator(".field", has=page.get_by_role("textbox", name="IBAN", exact=True))
        expect(iban.locator(".field-error")).to_have_text("has a wrong check digit")
        expect(page.get_by_role("textbox", name="IBAN", exact=True)).to_have_value(WRONG)  # what was typed is kept
        shot(page, "plugin-field-wrong-iban")
        _phone(page, shot, "plugin-field-wrong-iban")

        page.get_by_role("textbox", name="IBAN", exact=True).fill(RIGHT)
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url(re.compile(rf"{re.escape(base)}/app/payee/\d+$"))
        page.get_by_role("link", name="Payees", exact=True).first.click()
        page.wait_for_url(f"{base}/app/payee")
        headers = page.locator("table.records thead th").all_inner_texts()
        column = next(i for i, text in enumerate(headers) if text.strip().startswith("IBAN"))
        müller = page.locator("#rows tr", has_text="Müller GmbH")
        expect(müller.locator("td").nth(column)).to_have_text(GROUPED)
        shot(page, "plugin-field-list")

        # -- the admin: the plugin is listed with what it adds ---------------------------------
        page.get_by_role("link", name="Admin", exact=True).first.click()
        page.wait_for_url(f"{base}/admin")
        card = page.locator(".admin-areas li", has=page.get_by_role("link", name="Plugins", exact=True))
        expect(card).to_contain_text("1 loaded")
        admin_area(page, "Plugins")
        expect(page.get_by_role("heading", name="Plugins", level=1)).to_be_visible()
        example = page.locator("table.plugins tbody tr", has_text="example")
        expect(example).to_contain_text("tessera-example-plugin")
        expect(example).to_contain_text("1.0.0")
        expect(example).to_contain_text("Loaded")
        expect(example).to_contain_text("field type iban")
        expect(page.locator("#problems")).to_contain_text("Nothing: everything the metadata uses is installed.")
        shot(page, "plugin-admin-loaded")
        _phone(page, shot, "plugin-admin-loaded")


def test_with_the_plugin_removed_the_field_shows_what_is_stored_and_why_it_is_locked(
        page: Any, shot: Any, tmp_path: Path) -> None:
    with serving(tmp_path, plugins=True) as (_base, runtime):
        runtime.metadata.create_object(Actor.system(), PAYEE)
        runtime.records.create(Actor.system(), "payee", {"name": "Müller GmbH", "iban": GROUPED})
    forget("example")  # the plugin is uninstalled: its names are gone from this process
    with serving(tmp_path, plugins=False) as (base, _runtime):
        open_admin(page, base, ADMIN)
        # -- the admin: the overview flags it; the Plugins page says what is missing and where --
        card = page.locator(".admin-areas li.alert", has=page.get_by_role("link", name="Plugins", exact=True))
        expect(card).to_contain_text("Switched off, 1 problem")
        admin_area(page, "Plugins")
        expect(page.locator("table.plugins")).to_contain_text("No plugin is installed.")
        problem = page.locator("table.plugin-problems tbody tr")
        expect(problem).to_have_count(1)
        expect(problem).to_contain_text("Payee, field IBAN: the field type 'iban' is not installed")
        shot(page, "plugin-admin-missing")
        _phone(page, shot, "plugin-admin-missing")
        problem.get_by_role("link", name="Object Payee").click()
        page.wait_for_url(f"{base}/builder/objects/payee")
        expect(page.locator("#fields tbody tr", has_text="IBAN")).to_contain_text("iban not installed")

        # -- the user: the record shows the IBAN as stored, and why it is locked ----------------
        page.get_by_role("link", name="Tessera, home").click()
        page.get_by_role("link", name="Payees", exact=True).first.click()
        page.wait_for_url(f"{base}/app/payee")
        page.get_by_role("link", name="Müller GmbH").first.click()
        page.wait_for_url(re.compile(rf"{re.escape(base)}/app/payee/\d+$"))
        iban = page.locator(".field", has_text="IBAN")
        expect(iban.locator("output")).to_have_text(STORED)
        expect(iban).to_contain_text("This field's type is not installed, so it cannot be changed here.")
        expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Müller GmbH")
        shot(page, "plugin-field-unavailable")
        _phone(page, shot, "plugin-field-unavailable")
        # The rest of the record can still be changed and saved.
        page.get_by_role("textbox", name="Name", exact=True).fill("Müller AG")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Payee: Müller AG")
        expect(page.locator(".field", has_text="IBAN").locator("output")).to_have_text(STORED)
