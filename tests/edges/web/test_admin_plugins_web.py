"""The admin's Plugins page (/admin/plugins) on SQLite and PostgreSQL: the example plugin
listed with its version, status and what it adds; a plugin that failed with its error; with
the plugin removed, the metadata that needs it, each with a link to where it is built; and
the overview's card saying how plugins stand. Admins only (the refusals are in
test_admin_web.py)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.plugins.loader import PluginReport
from tessera.registry import forget
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
ADMIN = ("admin@example.com", "admin-password")
PAYEE = {"api_name": "payee", "label": "Payee", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "iban", "label": "IBAN", "type": "iban"},
    {"api_name": "country", "label": "Country", "type": "formula", "expression": "IBAN_COUNTRY(iban)"},
    {"api_name": "masked", "label": "Masked IBAN", "type": "text"}]}
MASKING = {"api_name": "mask", "label": "Mask the IBAN", "object": "payee", "kind": "automation",
           "trigger": {"on": "after_save", "when": "created_or_updated"}, "condition": "NOT ISBLANK(iban)",
           "actions": [{"action": "mask_iban", "field": "iban", "into": "masked"}]}


@pytest.fixture
def platforms(db_url: str, tmp_path: Path) -> Iterator[Any]:
    built: list[Platform] = []

    def platform(*, plugins: bool) -> Platform:
        rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", plugins=plugins))
        rt.users.ensure_admin(*ADMIN)
        built.append(rt)
        return rt

    yield platform
    for rt in built:
        rt.dispose()
    forget("example")  # the plugin's names are process-wide: none outlives the test


def _web(rt: Platform) -> SignedIn:
    return SignedIn(TestClient(create_app(rt), base_url="http://127.0.0.1"), *ADMIN)


def _text(answer: Any) -> str:
    assert answer.status_code == 200, answer.text
    return html.unescape(answer.text)


def test_the_installed_plugin_is_listed_with_what_it_adds(platforms: Any) -> None:
    web = _web(platforms(plugins=True))
    page = _text(web.get("/admin/plugins"))
    assert "<h1>Plugins</h1>" in page and "example" in page and "tessera-example-plugin" in page
    assert "1.0.0" in page and ">Loaded<" in page
    for item in ("field type iban", "function IBAN_COUNTRY", "action mask_iban", "app template bank_accounts"):
        assert f"<li>{item}</li>" in page
    assert "Nothing: everything the metadata uses is installed." in page
    assert "switched off" not in page
    overview = _text(web.get("/admin"))
    assert 'href="/admin/plugins">Plugins</a>' in overview and "1 loaded" in overview


def test_a_plugin_that_failed_shows_its_error_and_the_overview_flags_it(platforms: Any) -> None:
    rt = platforms(plugins=True)
    rt.plugins.reports.append(PluginReport("broken", "acme-broken", "0.3.0", "failed",
                                           "ModuleNotFoundError: No module named 'acme_erp'"))
    web = _web(rt)
    page = _text(web.get("/admin/plugins"))
    assert "acme-broken" in page and ">Failed<" in page and "No module named 'acme_erp'" in page
    assert "<span class=\"muted\">nothing</span>" in page  # it added nothing
    overview = _text(web.get("/admin"))
    assert "1 loaded, 1 not loaded" in overview and '<li class="card alert">' in overview


def test_with_the_plugin_removed_the_page_says_what_metadata_misses_and_where(platforms: Any) -> None:
    rt = platforms(plugins=True)
    rt.metadata.create_object(SYSTEM, PAYEE)
    rt.documents.create(SYSTEM, "rules", MASKING)
    rt.records.create(SYSTEM, "payee", {"name": "Müller GmbH", "iban": "DE89 3704 0044 0532 0130 00"})
    rt.dispose()
    forget("example")  # the plugin is uninstalled
    web = _web(platforms(plugins=False))
    page = _text(web.get("/admin/plugins"))
    assert "Plugins are switched off on this server" in page and "No plugin is installed." in page
    assert "Payee, field IBAN: the field type 'iban' is not installed" in page
    assert 'unknown function "IBAN_COUNTRY"' in page and "there is no action 'mask_iban'" in page
    assert '<a href="/builder/objects/payee">Object Payee</a>' in page
    assert '<a href="/builder/rules/mask">Rule mask</a>' in page
    assert "<code class=\"muted\">objects/payee/fields/iban</code>" in page
    overview = _text(web.get("/admin"))
    assert "Switched off, 3 problems" in overview
    # The links lead somewhere: the builder's pages of the object and the rule open, and
    # the builder says which field's type is not installed.
    assert 'iban <span class="badge danger"' in _text(web.get("/builder/objects/payee"))
    assert web.get("/builder/rules/mask").status_code == 200
    assert "Type: iban (not installed: no installed plugin provides this type" in _text(
        web.get("/builder/objects/payee/fields/iban"))
