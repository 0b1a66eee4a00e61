"""Upgrading the CRM to a 1.1 that adds a field and changes a rule keeps what a customer
changed: their labels, their own fields, their options and their records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tessera.runtime.platform import Platform

from .conftest import CRM, SYSTEM, admin, install


def _version_1_1(tmp_path: Path) -> Path:
    """The shipped template, as its author would change it for 1.1: a LinkedIn page on the
    account, and the opportunity's close-date rule reworded."""
    folder = tmp_path / "crm-1.1.0"
    shutil.copytree(CRM, folder, ignore=shutil.ignore_patterns("data", "demo"))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "version": "1.1.0"}))
    account = json.loads((folder / "objects" / "account.json").read_text())
    account["fields"].append({"uid": "account.linkedin", "api_name": "linkedin", "label": "LinkedIn page",
                              "type": "url"})
    (folder / "objects" / "account.json").write_text(json.dumps(account))
    deal = json.loads((folder / "objects" / "opportunity.json").read_text())
    rule = next(r for r in deal["validation_rules"] if r["uid"] == "opportunity.close_after_engage")
    rule["message"] = "Close the deal on or after the day it was engaged"
    (folder / "objects" / "opportunity.json").write_text(json.dumps(deal))
    return folder


def _field(rt: Platform, object_name: str, name: str) -> dict[str, Any]:
    return next(f for f in rt.metadata.get_object(object_name)["fields"] if f["api_name"] == name)


def test_an_upgrade_adds_the_new_field_and_rule_and_keeps_the_customers_changes(
        crm: Platform, tmp_path: Path) -> None:
    me = admin(crm)
    # The customer's changes: a relabel, an option of their own, a field of their own, a record.
    crm.metadata.update_field(SYSTEM, "account", "industry", {"label": "Sector"})
    tier = _field(crm, "account", "tier")
    crm.metadata.update_field(SYSTEM, "account", "tier", {
        "options": [*tier["options"], {"value": "strategic", "label": "Strategic"}]})
    crm.metadata.add_field(SYSTEM, "account", {"api_name": "erp_code", "label": "ERP code", "type": "text"})
    kept = crm.records.create(me, "account", {"name": "Contoso", "erp_code": "C-17", "tier": "strategic"})

    plan = crm.packages.plan(SYSTEM, crm_package_1_1 := _package(crm, _version_1_1(tmp_path)),
                             upgrade=True).as_json()
    assert plan["from_version"] == "1.0.1" and plan["conflicts"] == []
    assert "add column account.linkedin" in plan["schema"]
    del crm_package_1_1
    install(crm, tmp_path / "crm-1.1.0", upgrade=True)

    assert crm.packages.get("crm")["version"] == "1.1.0"
    assert _field(crm, "account", "linkedin")["label"] == "LinkedIn page"
    rules = {r["name"]: r for r in crm.metadata.get_object("opportunity")["validation_rules"]}
    assert rules["close_after_engage"]["message"] == "Close the deal on or after the day it was engaged"
    assert _field(crm, "account", "industry")["label"] == "Sector"
    assert "strategic" in [o["value"] for o in _field(crm, "account", "tier")["options"]]
    assert _field(crm, "account", "erp_code")["label"] == "ERP code"
    after = crm.records.get(me, "account", kept["id"])
    assert (after["erp_code"], after["tier"]) == ("C-17", "strategic")
    changed = {c["label"] for c in crm.packages.customizations(SYSTEM, "crm")}
    assert changed, "the customer's changes are still listed as theirs"


def test_a_change_both_sides_made_keeps_the_customers_and_lands_on_the_review_list(
        crm: Platform, tmp_path: Path) -> None:
    folder = _version_1_1(tmp_path)
    crm.metadata.update_object(SYSTEM, "opportunity", {"validation_rules": [
        {**r, "message": "Our own wording"} if r["name"] == "close_after_engage" else r
        for r in crm.metadata.get_object("opportunity")["validation_rules"]]})
    install(crm, folder, upgrade=True)
    rules = {r["name"]: r for r in crm.metadata.get_object("opportunity")["validation_rules"]}
    assert rules["close_after_engage"]["message"] == "Our own wording"
    (review,) = crm.packages.conflicts(SYSTEM, "crm")
    assert review["yours"] == "Our own wording"


def _package(rt: Platform, folder: Path) -> Any:
    from .conftest import crm_package

    return crm_package(rt, folder)


def _version_1_0_0(tmp_path: Path) -> Path:
    """The template as 1.0.0 shipped it: the account's 360° figures were worked out each time
    a record was read; none was stored."""
    folder = tmp_path / "crm-1.0.0"
    shutil.copytree(CRM, folder, ignore=shutil.ignore_patterns("data", "demo"))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "version": "1.0.0"}))
    account = json.loads((folder / "objects" / "account.json").read_text())
    for field in account["fields"]:
        field.pop("store", None)
    (folder / "objects" / "account.json").write_text(json.dumps(account))
    return folder


def test_upgrading_from_1_0_0_stores_the_accounts_figures_and_fills_them_for_every_account(
        runtime: Platform, tmp_path: Path) -> None:
    install(runtime, _version_1_0_0(tmp_path))
    me = admin(runtime)
    won = runtime.records.create(me, "sales_stage", {"name": "Won", "position": 1, "probability": "100",
                                                     "category": "won"})
    accounts = [runtime.records.create(me, "account", {"name": f"Account {n}"}) for n in range(3)]
    for n, account in enumerate(accounts):
        runtime.records.create(me, "opportunity", {"name": f"Deal {n}", "account": account["id"], "stage": won["id"],
                                                   "close_date": "2030-01-31", "manual_amount": f"{(n + 1) * 100}"})
    live = {a["id"]: runtime.records.get(me, "account", a["id"])["won_revenue"] for a in accounts}
    assert sorted(live.values()) == ["100.00", "200.00", "300.00"]

    shipped = tmp_path / "crm"  # as the tests install it: without its sample data
    shutil.copytree(CRM, shipped, ignore=shutil.ignore_patterns("data", "demo"))
    install(runtime, shipped, upgrade=True)
    assert runtime.packages.get("crm")["version"] == json.loads((CRM / "manifest.json").read_text())["version"]
    assert _field(runtime, "account", "won_revenue")["store"] is True
    recomputes = runtime.jobs.list(SYSTEM, kind="formula.recompute")
    assert recomputes, "switching the figures to stored recomputes them for the accounts there"
    for job in recomputes:
        assert runtime.jobs.wait(job["id"])["status"] == "succeeded"
    # The column itself is filled (a new column is blank until the recompute), in proportion to
    # the figures: PostgreSQL keeps 100.00, SQLite the hundredths, 10000.
    with runtime.read() as conn:
        stored = dict(conn.execute(sa.text("SELECT id, won_revenue FROM account")).all())
    values = [stored[a["id"]] for a in accounts]
    assert None not in values and [v / values[0] for v in values] == [1, 2, 3]
    assert {a["id"]: runtime.records.get(me, "account", a["id"])["won_revenue"] for a in accounts} == live
