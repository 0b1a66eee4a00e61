"""Installing a package: the plan first (writing nothing), then metadata and schema in one
transaction and sample data by key; the same version again changes nothing; bad packages
are refused whole with file and path, and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.data.tables import packages as packages_table
from tessera.errors import InvalidInput
from tessera.packages.files import read_folder
from tessera.runtime.background.jobs import JobContext
from tessera.runtime.platform import Platform

from .conftest import FIXTURES, SYSTEM, field, install, package


def object_names(runtime: Platform) -> set[str]:
    return {o["api_name"] for o in runtime.metadata.list_objects()}


def test_a_dry_run_gives_the_plan_and_writes_nothing(runtime: Platform) -> None:
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.0.0"), upgrade=False).as_json()
    assert plan["summary"] == {"create": 4}
    assert {(d["kind"], d["api_name"]) for d in plan["documents"]} == {
        ("objects", "account"), ("objects", "contact"), ("forms", "account_main"), ("apps", "acme")}
    assert "create table account (name, region, fax, revenue)" in plan["schema"]
    assert plan["data"] == [{"file": "data/accounts.json", "object": "account", "records": 2},
                            {"file": "data/contacts.json", "object": "contact", "records": 2}]
    assert plan["problems"] == []
    assert object_names(runtime) == set()
    assert runtime.packages.installed() == []
    with runtime.read() as conn:
        assert not sa.inspect(conn).has_table("account")


def test_install_creates_objects_that_name_each_other_documents_and_sample_records_linked_by_key(
        runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    assert {"account", "contact"} <= object_names(runtime)
    assert field(runtime, "contact", "account")["target"] == "account"
    assert runtime.documents.get("forms", "account_main")["object"] == "account"
    contacts = runtime.records.list(SYSTEM, "contact", sort="last_name")["data"]
    accounts = {a["id"]: a["name"] for a in runtime.records.list(SYSTEM, "account")["data"]}
    assert [(c["last_name"], accounts[c["account"]], c["account_region"]) for c in contacts] == [
        ("Ames", "Northwind", "east"), ("Bell", "Contoso", "west")]
    (installed,) = runtime.packages.installed()
    assert (installed["name"], installed["version"], installed["customizations"]) == ("acme", "1.0.0", 0)


def test_installing_the_same_version_again_changes_nothing(runtime: Platform) -> None:
    install(runtime, "acme-1.0.0")
    versions = {o["api_name"]: o["version"] for o in runtime.metadata.list_objects()}
    plan = runtime.packages.plan(SYSTEM, package(runtime, "acme-1.0.0"), upgrade=False)
    assert {s.action for s in plan.steps} == {"unchanged"}
    install(runtime, "acme-1.0.0")
    assert {o["api_name"]: o["version"] for o in runtime.metadata.list_objects()} == versions
    assert len(runtime.records.list(SYSTEM, "account")["data"]) == 2


def broken_copy(tmp_path: Path, change: Any) -> Path:
    folder = tmp_path / "acme"
    shutil.copytree(FIXTURES / "acme-1.0.0", folder)
    change(folder)
    return folder


def edit(path: Path, change: Any) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def test_a_formula_naming_a_missing_field_is_refused_with_file_and_path_and_nothing_is_written(
        runtime: Platform, tmp_path: Path) -> None:
    def break_formula(folder: Path) -> None:
        edit(folder / "objects/contact.json", lambda b: b["fields"][3].update(expression="account.nowhere"))
        edit(folder / "forms/account_main.json", lambda b: b["sections"][0]["columns"][0]["fields"].append(
            {"field": "missing"}))

    folder = broken_copy(tmp_path, break_formula)
    broken = read_folder(folder, frozenset(runtime.packages.kinds()))
    with pytest.raises(InvalidInput) as raised:
        runtime.packages.submit(SYSTEM, broken, upgrade=False)
    found = {(p.as_json()["file"], p.field) for p in raised.value.errors}
    assert ("objects/contact.json", "/fields/account_region/expression") in found
    assert any(file == "forms/account_main.json" for file, _ in found)
    assert object_names(runtime) == set()
    with runtime.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(packages_table)).scalar() == 0
        assert not sa.inspect(conn).has_table("account")


def test_a_missing_dependency_and_a_lower_version_are_refused(runtime: Platform, tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, lambda f: edit(f / "manifest.json", lambda b: b.update(
        depends=[{"name": "billing", "version": ">=2.0"}])))
    with pytest.raises(InvalidInput) as raised:
        runtime.packages.submit(SYSTEM, read_folder(folder, frozenset(runtime.packages.kinds())), upgrade=False)
    assert [(p.as_json()["file"], p.field, p.code) for p in raised.value.errors] == [
        ("manifest.json", "/depends/0", "missing_dependency")]
    install(runtime, "acme-1.1.0")
    with pytest.raises(InvalidInput) as raised:
        runtime.packages.submit(SYSTEM, package(runtime, "acme-1.0.0"), upgrade=True)
    assert [(p.field, p.code) for p in raised.value.errors] == [("/version", "version_lower")]


def test_an_object_name_the_customer_already_uses_is_refused_before_anything_is_written(runtime: Platform) -> None:
    runtime.metadata.create_object(SYSTEM, {"api_name": "contact", "label": "My contact", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]})
    with pytest.raises(InvalidInput) as raised:
        runtime.packages.submit(SYSTEM, package(runtime, "acme-1.0.0"), upgrade=False)
    assert [(p.as_json()["file"], p.code) for p in raised.value.errors] == [("objects/contact.json", "name_taken")]
    assert object_names(runtime) == {"contact"}


def job_params(runtime: Platform) -> dict[str, Any]:
    """What submitting acme 1.0.0 hands its job (to run the job's work by hand)."""
    acme = package(runtime, "acme-1.0.0")
    return {"action": "install", "upload": runtime.packages.stage(acme), "sample_data": True, "strict": False,
            "plan": runtime.packages.plan(SYSTEM, acme, upgrade=False).digest}


class Killed(Exception):
    """The worker died here."""


class DyingContext(JobContext):
    """A job context whose worker dies at the `die_at`-th progress report."""

    def __init__(self, runtime: Platform, job_id: int, params: dict[str, Any], die_at: int) -> None:
        super().__init__(runtime.jobs, job_id, params, None)
        self.reports = 0
        self.die_at = die_at

    def progress(self, done: int, total: int | None = None, message: str | None = None, *,
                 force: bool = False) -> None:
        self.reports += 1
        if self.reports == self.die_at:
            raise Killed()


def test_a_job_killed_while_applying_metadata_leaves_everything_as_before_and_a_rerun_finishes(
        runtime: Platform) -> None:
    params = job_params(runtime)
    with pytest.raises(Killed):
        runtime.packages.run(DyingContext(runtime, 0, params, die_at=4))  # inside the metadata transaction
    assert object_names(runtime) == set() and runtime.packages.installed() == []
    result = runtime.packages.run(DyingContext(runtime, 0, params, die_at=-1))
    assert result["records"] == 4 and {"account", "contact"} <= object_names(runtime)


def test_a_job_killed_while_loading_sample_data_finishes_on_rerun_without_duplicates(
        runtime: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.packages import apply

    monkeypatch.setattr(apply, "DATA_BATCH", 1)
    params = job_params(runtime)
    dying = DyingContext(runtime, 0, params, die_at=-1)

    def die_after_first_record(done: int, total: int | None = None, message: str | None = None, *,
                               force: bool = False) -> None:
        if message == "loading sample records":
            raise Killed()

    monkeypatch.setattr(dying, "progress", die_after_first_record)
    with pytest.raises(Killed):
        runtime.packages.run(dying)
    assert len(runtime.records.list(SYSTEM, "account")["data"]) == 1
    result = runtime.packages.run(DyingContext(runtime, 0, params, die_at=-1))
    assert result["records"] == 3
    assert len(runtime.records.list(SYSTEM, "account")["data"]) == 2
    assert len(runtime.records.list(SYSTEM, "contact")["data"]) == 2


def test_installed_documents_read_from_the_api_name_their_package_and_can_be_written_back_as_read(
        runtime: Platform, api: Any) -> None:
    install(runtime, "acme-1.0.0")
    account = api.ok(api.get("/meta/objects/account"))
    assert account["package"] == {"name": "acme", "version": "1.0.0"}
    assert api.ok(api.get("/meta/forms/account_main"))["package"] == {"name": "acme", "version": "1.0.0"}
    assert {o["api_name"]: o.get("package") for o in api.ok(api.get("/meta/objects"))}["contact"]["name"] == "acme"
    account["label"] = "Customer"
    assert api.ok(api.patch("/meta/objects/account", account))["label"] == "Customer"
    mine = api.ok(api.post("/meta/objects", {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "text", "label": "Text", "type": "text"}]}), 201)
    assert "package" not in api.ok(api.get(f"/meta/objects/{mine['api_name']}"))


def write_package(folder: Path, files: dict[str, Any]) -> Path:
    for path, body in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(body))
    return folder


def test_sample_data_with_line_items_and_records_that_point_at_each_other_installs_in_any_order(
        runtime: Platform, tmp_path: Path) -> None:
    """Objects name each other both ways (an account's parent account, a quote's lines and
    their product), and the data files come in an order that needs every lookup resolved
    later."""
    folder = write_package(tmp_path / "quotes", {
        "manifest.json": {"name": "quotes", "version": "1.0.0", "title": "Quotes"},
        "objects/quote.json": {"uid": "quote", "api_name": "quote", "label": "Quote", "fields": [
            {"uid": "quote.name", "api_name": "name", "label": "Name", "type": "text", "required": True},
            {"uid": "quote.account", "api_name": "account", "label": "Account", "type": "lookup",
             "target": "account"},
            {"uid": "quote.lines", "api_name": "lines", "label": "Lines", "type": "child_table",
             "target": "quote_line"},
            {"uid": "quote.total", "api_name": "total", "label": "Total", "type": "formula",
             "expression": "SUM(lines.net)"}]},
        "objects/quote_line.json": {"uid": "quote_line", "api_name": "quote_line", "label": "Quote line",
                                    "child": True, "fields": [
            {"uid": "line.product", "api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
            {"uid": "line.quantity", "api_name": "quantity", "label": "Quantity", "type": "decimal"},
            {"uid": "line.price", "api_name": "unit_price", "label": "Unit price", "type": "currency"},
            {"uid": "line.net", "api_name": "net", "label": "Net", "type": "formula",
             "expression": "quantity * unit_price"}]},
        "objects/product.json": {"uid": "product", "api_name": "product", "label": "Product", "fields": [
            {"uid": "product.name", "api_name": "name", "label": "Name", "type": "text"}]},
        "objects/account.json": {"uid": "account", "api_name": "account", "label": "Account", "fields": [
            {"uid": "account.name", "api_name": "name", "label": "Name", "type": "text"},
            {"uid": "account.parent", "api_name": "parent", "label": "Parent", "type": "lookup",
             "target": "account"}]},
        "data/a_quotes.json": {"object": "quote", "records": [
            {"key": "q1", "name": "Q-1", "account": {"key": "child"}, "lines": [
                {"product": {"key": "widget"}, "quantity": "2", "unit_price": "10.50"},
                {"product": {"key": "gadget"}, "quantity": "1", "unit_price": "99"}]}]},
        "data/b_accounts.json": {"object": "account", "records": [
            {"key": "child", "name": "Child Ltd", "parent": {"key": "parent"}},
            {"key": "parent", "name": "Parent Group", "parent": {"key": "child"}}]},
        "data/c_products.json": {"object": "product", "records": [
            {"key": "widget", "name": "Widget"}, {"key": "gadget", "name": "Gadget"}]},
    })
    job, _ = runtime.packages.submit(SYSTEM, read_folder(folder, frozenset(runtime.packages.kinds())),
                                     upgrade=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded", runtime.jobs.get(SYSTEM, job)
    accounts = {a["id"]: a for a in runtime.records.list(SYSTEM, "account")["data"]}
    by_name = {a["name"]: a for a in accounts.values()}
    assert accounts[by_name["Child Ltd"]["parent"]]["name"] == "Parent Group"
    assert accounts[by_name["Parent Group"]["parent"]]["name"] == "Child Ltd"
    (quote,) = runtime.records.list(SYSTEM, "quote")["data"]
    full = runtime.records.get(SYSTEM, "quote", quote["id"])
    products = {p["id"]: p["name"] for p in runtime.records.list(SYSTEM, "product")["data"]}
    assert [(products[line["product"]], line["net"]) for line in full["lines"]] == [("Widget", "21"),
                                                                                     ("Gadget", "99")]
    assert (accounts[full["account"]]["name"], full["total"]) == ("Child Ltd", "120")
