"""Extensions (fields a package adds to another package's object, now or when it arrives),
uninstalling (refused while others need it; data kept in the trash), and exports (the same
state gives the same bytes; an export installs on a fresh database as the same metadata)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tessera.errors import Conflict, InvalidInput
from tessera.packages.files import read_zip
from tessera.packages.service import Source
from tessera.runtime.platform import Platform
from tessera.settings import Settings

from .conftest import SYSTEM, field, install, package


def field_names(runtime: Platform, object_name: str) -> list[str]:
    return [f["api_name"] for f in runtime.metadata.get_object(object_name)["fields"]]


def test_an_extension_installed_after_its_target_adds_its_fields_at_once(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    plan = runtime.packages.plan(SYSTEM, package(runtime, "support-1.0.0"), upgrade=False).as_json()
    assert "add column account.support_tier" in plan["schema"]
    install(runtime, "support-1.0.0")
    assert [o["value"] for o in field(runtime, "account", "support_tier")["options"]] == ["gold", "silver"]
    assert runtime.packages.get("support")["pending_extensions"] == []


def test_an_extension_installed_before_its_target_waits_and_is_applied_when_the_target_arrives(
        runtime: Platform) -> None:
    install(runtime, "support-1.0.0")
    assert runtime.packages.get("support")["pending_extensions"] == ["acme"]
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.0.0"), upgrade=False).as_json()
    assert [d["action"] for d in plan["documents"] if d["kind"] == "extensions"] == ["extend"]
    install(runtime, "acme-1.0.0")
    assert "support_tier" in field_names(runtime, "account")
    assert runtime.packages.get("support")["pending_extensions"] == []
    # the target's own upgrade leaves the extension's field alone
    install(runtime, "acme-1.1.0", upgrade=True)
    assert "support_tier" in field_names(runtime, "account")
    # another package's field is neither the customer's change nor part of acme's export
    assert runtime.packages.customizations(SYSTEM, "acme") == []
    with zipfile.ZipFile(io.BytesIO(runtime.packages.export(SYSTEM, "acme")[1])) as archive:
        account = json.loads(archive.read("objects/account.json"))
    assert "support_tier" not in [f["api_name"] for f in account["fields"]]


def test_uninstalling_a_package_another_extends_is_refused_with_its_dependents(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    install(runtime, "support-1.0.0")
    with pytest.raises(Conflict) as raised:
        runtime.packages.uninstall(SYSTEM, "acme")
    assert raised.value.extra["dependents"] == ["support"]


def test_uninstalling_an_extension_moves_its_fields_to_the_trash_with_their_data(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    install(runtime, "support-1.0.0")
    northwind = next(r for r in runtime.records.list(SYSTEM, "account")["data"] if r["name"] == "Northwind")
    runtime.records.update(SYSTEM, "account", northwind["id"], {"support_tier": "gold"}, None)
    done = runtime.jobs.wait(runtime.packages.uninstall(SYSTEM, "support")["job"])
    assert done["status"] == "succeeded", done
    assert "support_tier" not in field_names(runtime, "account")
    assert [f["api_name"] for f in runtime.metadata.trash()["fields"]] == ["support_tier"]
    assert [o["api_name"] for o in runtime.metadata.trash()["objects"]] == ["ticket"]
    runtime.metadata.restore_field(SYSTEM, "account", "support_tier")
    assert runtime.records.get(SYSTEM, "account", northwind["id"])["support_tier"] == "gold"
    assert [p["name"] for p in runtime.packages.installed()] == ["acme"]


def test_two_exports_of_one_state_are_byte_identical_and_carry_the_authors_uids(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    name, first = runtime.packages.export(SYSTEM, "acme")
    assert name == "acme-1.0.0.zip"
    assert runtime.packages.export(SYSTEM, "acme")[1] == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        account = json.loads(archive.read("objects/account.json"))
    assert account["uid"] == "account"
    region = next(f for f in account["fields"] if f["api_name"] == "region")
    assert (region["uid"], region["label"]) == ("account.region", "Territory")


def test_an_export_installed_on_a_fresh_database_gives_the_same_metadata(runtime: Platform, tmp_path: Path) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    runtime.metadata.add_field(SYSTEM, "account", {"api_name": "vip", "label": "VIP", "type": "boolean"})
    _, content = runtime.packages.export(SYSTEM, "acme")
    fresh = Platform(Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", attachments_dir=tmp_path / "a"))
    try:
        from tessera.data.migrate import upgrade

        upgrade(fresh.engine)
        job, _ = fresh.packages.submit(SYSTEM, fresh.packages.read(Source(content=content)), upgrade=False)
        assert fresh.jobs.wait(job)["status"] == "succeeded"

        def shape(platform: Platform) -> list[tuple[str, list[tuple[str, str, str]]]]:
            return sorted((o["api_name"], [(f["uid"], f["api_name"], f["label"]) for f in o["fields"]])
                          for o in platform.metadata.list_objects())

        assert shape(fresh) == shape(runtime)
        assert fresh.packages.export(SYSTEM, "acme")[1] == content
    finally:
        fresh.dispose()


def test_a_layer_export_holds_only_what_the_customer_changed_as_a_package_enhancing_the_base(
        runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    name, content = runtime.packages.export(SYSTEM, "acme", layer_only=True)
    assert name == "acme-1.0.0-layer.zip"
    overlay = read_zip(content, frozenset(runtime.packages.kinds()))
    assert overlay.manifest["enhances"] == [{"name": "acme", "version": "1.0.0"}]
    assert [d.path for d in overlay.documents] == ["objects/account.json"]


def test_customizations_exported_alone_carry_the_changes_to_another_database_with_the_package(
        runtime: Platform, tmp_path: Path) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    runtime.metadata.add_field(SYSTEM, "account", {"api_name": "vip", "label": "VIP", "type": "boolean"})
    _, content = runtime.packages.export(SYSTEM, "acme", layer_only=True)
    other = Platform(Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}", attachments_dir=tmp_path / "a"))
    try:
        from tessera.data.migrate import upgrade

        upgrade(other.engine)
        overlay = other.packages.read(Source(content=content))
        with pytest.raises(InvalidInput) as raised:  # the package it changes is not there yet
            other.packages.submit(SYSTEM, overlay, upgrade=False)
        assert raised.value.errors[0].code == "missing_dependency"
        install(other, "acme-1.0.0")
        plan = other.packages.plan(SYSTEM, overlay, upgrade=False).as_json()
        assert [(d["api_name"], d["action"]) for d in plan["documents"]] == [("account", "update")]
        job, _ = other.packages.submit(SYSTEM, overlay, upgrade=False)
        assert other.jobs.wait(job)["status"] == "succeeded"
        assert field(other, "account", "region")["label"] == "Territory"
        assert field(other, "account", "vip")["uid"] == field(runtime, "account", "vip")["uid"]
        changed = {c["label"] for d in other.packages.customizations(SYSTEM, "acme") for c in d["changes"]}
        assert changed == {"Account \u203a field Territory \u203a label", "Account \u203a field VIP"}
        assert [p["name"] for p in other.packages.installed()] == ["acme"]
    finally:
        other.dispose()
