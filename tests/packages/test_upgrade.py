"""Upgrading three ways: what only the package changed is taken, what only the customer
changed is kept, both → the customer's value and an item on the review list; removed fields
and options are deprecated, never dropped; names the customer used get a suffix; a plan made
before the metadata moved is refused; --strict refuses while conflicts are open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.data.tables import flow_instances
from tessera.errors import Conflict, TesseraError
from tessera.forms.layout import generated
from tessera.packages.files import read_folder
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, field, install, package


def test_an_upgrade_without_customizations_takes_every_change_of_the_package(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True).as_json()
    assert plan["conflicts"] == [] and plan["from_version"] == "1.0.0"
    assert "add column account.industry" in plan["schema"]
    install(runtime, "acme-1.1.0", upgrade=True)
    assert field(runtime, "account", "name")["label"] == "Account name"
    region = field(runtime, "account", "region")
    assert (region["label"], [o["value"] for o in region["options"]]) == ("Sales region", ["east", "west", "north"])
    assert field(runtime, "account", "industry")["type"] == "text"
    form_fields = runtime.documents.get("forms", "account_main")["sections"][0]["columns"][0]["fields"]
    assert [f["field"] for f in form_fields] == ["name", "region", "fax", "industry"]
    assert runtime.packages.get("acme")["version"] == "1.1.0"
    assert runtime.packages.customizations(SYSTEM, "acme") == []


def test_a_property_both_changed_keeps_the_customers_value_and_the_admin_can_take_the_packages(
        runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    runtime.metadata.update_field(SYSTEM, "account", "revenue", {"help_text": "In euros"})
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True).as_json()
    (clash,) = plan["conflicts"]
    assert (clash["label"], clash["base"], clash["package"], clash["yours"]) == (
        "Account \u203a field Territory \u203a label", "Region", "Sales region", "Territory")
    install(runtime, "acme-1.1.0", upgrade=True)
    region = field(runtime, "account", "region")
    assert region["label"] == "Territory"  # kept
    assert [o["value"] for o in region["options"]] == ["east", "west", "north"]  # the package's option still came
    assert field(runtime, "account", "revenue")["help_text"] == "In euros"
    assert field(runtime, "account", "name")["label"] == "Account name"
    (review,) = runtime.packages.conflicts(SYSTEM, "acme")
    runtime.packages.resolve(SYSTEM, "acme", review["id"], "take")
    assert field(runtime, "account", "region")["label"] == "Sales region"
    assert runtime.packages.conflicts(SYSTEM, "acme") == []
    assert [c["label"] for c in runtime.packages.conflicts(SYSTEM, "acme", status="taken")] == [review["label"]]


def test_a_field_and_an_option_the_package_removes_are_deprecated_and_their_data_stays(runtime: Platform) -> None:
    install(runtime, "acme-1.1.0")
    install(runtime, "acme-1.2.0", upgrade=True)
    fax = field(runtime, "account", "fax")
    assert fax["deprecated"] == {"package": "acme", "version": "1.2.0"} and fax["read_only"] is True
    west = next(o for o in field(runtime, "account", "region")["options"] if o["value"] == "west")
    assert west["deprecated"] is True
    records = {r["name"]: r for r in runtime.records.list(SYSTEM, "account")["data"]}
    assert records["Northwind"]["fax"] == "+1 555 0100"
    assert records["Contoso"]["region"] == "west"
    # the package's form no longer places it, a generated form leaves it out, writes are refused
    form_fields = runtime.documents.get("forms", "account_main")["sections"][0]["columns"][0]["fields"]
    assert "fax" not in [f["field"] for f in form_fields]
    with runtime.read() as conn:
        account = runtime.snapshot(conn).object("account")
    placed = [p.field for t in generated(account).tabs for s in t.sections for c in s.columns for p in c.placements]
    assert "fax" not in placed and "industry" in placed
    with pytest.raises(TesseraError):
        runtime.records.update(SYSTEM, "account", records["Northwind"]["id"], {"fax": "+1 555 0199"}, None)


def test_a_field_name_the_customer_already_used_gives_the_packages_field_a_suffix_not_a_failure(
        runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.add_field(SYSTEM, "account", {"api_name": "industry", "label": "Our industry", "type": "text"})
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True).as_json()
    (account,) = [d for d in plan["documents"] if d["api_name"] == "account"]
    assert any("industry__acme" in note for note in account["notes"])
    install(runtime, "acme-1.1.0", upgrade=True)
    assert field(runtime, "account", "industry")["label"] == "Our industry"
    assert field(runtime, "account", "industry__acme")["label"] == "Industry"


def test_an_apply_whose_plan_is_older_than_the_metadata_is_refused_and_changes_nothing(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    seen = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True)
    runtime.metadata.update_field(SYSTEM, "account", "name", {"label": "Company"})
    with pytest.raises(Conflict) as raised:
        runtime.packages.submit(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True, expected_plan=seen.digest)
    assert raised.value.extra["plan"]["conflicts"][0]["yours"] == "Company"
    assert runtime.packages.get("acme")["version"] == "1.0.0"


def test_strict_refuses_while_conflicts_are_unresolved(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "name", {"label": "Company"})
    with pytest.raises(Conflict):
        runtime.packages.submit(SYSTEM, package(runtime, "acme-1.1.0"), upgrade=True, strict=True)
    assert runtime.packages.get("acme")["version"] == "1.0.0"


def test_the_customer_layer_lists_each_change_and_reset_puts_the_packages_value_back(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})
    runtime.metadata.add_field(SYSTEM, "account", {"api_name": "vip", "label": "VIP", "type": "boolean"})
    runtime.documents.update(SYSTEM, "apps", "acme", {"label": "Our sales"})
    layer = {d["api_name"]: d for d in runtime.packages.customizations(SYSTEM, "acme")}
    assert set(layer) == {"account", "acme"}
    changes = {c["label"]: (c["package"], c["yours"], c["change"]) for c in layer["account"]["changes"]}
    assert changes["Account \u203a field Territory \u203a label"] == ("Region", "Territory", "changed")
    assert changes["Account \u203a field VIP"][2] == "added"
    assert runtime.packages.get("acme")["customizations"] == 3
    label_change = next(c for c in layer["account"]["changes"] if c["change"] == "changed")
    runtime.packages.reset(SYSTEM, "acme", "account", "objects", label_change["path"])
    assert field(runtime, "account", "region")["label"] == "Region"
    assert field(runtime, "account", "vip")["label"] == "VIP"
    runtime.packages.reset(SYSTEM, "acme", "acme", "apps")
    assert runtime.documents.get("apps", "acme")["label"] == "Acme sales"
    assert [c["change"] for d in runtime.packages.customizations(SYSTEM, "acme") for c in d["changes"]] == ["added"]


def test_a_document_the_customer_trashed_stays_in_the_trash_on_upgrade(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    runtime.documents.delete(SYSTEM, "forms", "account_main")
    install(runtime, "acme-1.1.0", upgrade=True)
    assert [f["api_name"] for f in runtime.documents.list("forms", trash=True)] == ["account_main"]
    assert runtime.documents.list("forms") == []


def flow_package(folder: Path, version: str, status: str) -> Path:
    files = {
        "manifest.json": {"name": "orders", "version": version, "title": "Orders"},
        "objects/order.json": {"uid": "order", "api_name": "order", "label": "Order", "fields": [
            {"uid": "order.name", "api_name": "name", "label": "Name", "type": "text"},
            {"uid": "order.status", "api_name": "status", "label": "Status", "type": "text"}]},
        "flows/fulfil.json": {"uid": "fulfil", "api_name": "fulfil", "label": "Fulfil", "object": "order",
                              "trigger": {"on": "created"}, "steps": [
                                  {"id": "settle", "type": "wait", "duration": "PT1H"},
                                  {"id": "close", "type": "action", "action": "update_record",
                                   "set": {"status": f'"{status}"'}}]},
    }
    for path, body in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(body))
    return folder


def test_a_templates_flows_run_once_installed_and_running_instances_keep_their_version_on_upgrade(
        runtime: Platform, tmp_path: Path) -> None:
    kinds = frozenset(runtime.packages.kinds())
    job, _ = runtime.packages.submit(SYSTEM, read_folder(flow_package(tmp_path / "v1", "1.0.0", "closed"), kinds),
                                     upgrade=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded"
    runtime.records.create(SYSTEM, "order", {"name": "O-1"})
    runtime.scheduler.drain()
    with runtime.read() as conn:
        (started,) = conn.execute(sa.select(flow_instances.c.version, flow_instances.c.status)).all()
    assert tuple(started) == (1, "running")
    job, _ = runtime.packages.submit(SYSTEM, read_folder(flow_package(tmp_path / "v2", "1.1.0", "done"), kinds),
                                     upgrade=True)
    assert runtime.jobs.wait(job)["status"] == "succeeded"
    runtime.records.create(SYSTEM, "order", {"name": "O-2"})
    runtime.scheduler.drain()
    with runtime.read() as conn:
        versions = [r.version for r in conn.execute(sa.select(flow_instances.c.version)
                                                     .order_by(flow_instances.c.id))]
    assert versions == [1, 2]
