"""Roles in a package: a new role is created with the template's permissions; a role that
exists only gains entries for the template's objects it has none for — what the customer
set on a role always wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import InvalidInput
from tessera.packages.files import read_folder
from tessera.runtime.platform import Platform

from .conftest import SYSTEM


def write(folder: Path, version: str, *, with_invoice: bool) -> Path:
    objects = {"deal": [{"uid": "deal.name", "api_name": "name", "label": "Name", "type": "text"}]}
    roles = {"deal": {"create": True, "read": "all", "edit": "own", "delete": "none"}}
    if with_invoice:
        objects["invoice"] = [{"uid": "invoice.number", "api_name": "number", "label": "Number", "type": "text"}]
        roles["invoice"] = {"create": False, "read": "team", "edit": "none", "delete": "none"}
    files: dict[str, Any] = {"manifest.json": {"name": "sales", "version": version, "title": "Sales"}}
    for name, fields in objects.items():
        files[f"objects/{name}.json"] = {"uid": name, "api_name": name, "label": name.title(), "fields": fields}
    files["roles/sales_rep.json"] = {"uid": "sales_rep", "api_name": "sales_rep", "label": "Sales rep",
                                     "permissions": roles}
    files["roles/manager.json"] = {"uid": "manager", "api_name": "manager", "label": "Sales manager",
                                   "permissions": {k: {**v, "edit": "all"} for k, v in roles.items()}}
    for path, body in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(body))
    return folder


def run(runtime: Platform, folder: Path, *, upgrade: bool = False) -> dict[str, Any]:
    job, plan = runtime.packages.submit(SYSTEM, read_folder(folder, frozenset(runtime.packages.kinds())),
                                        upgrade=upgrade)
    assert runtime.jobs.wait(job)["status"] == "succeeded", runtime.jobs.get(SYSTEM, job)
    return plan.as_json()


def permissions(runtime: Platform, role: str) -> dict[str, Any]:
    return runtime.users.roles.get(role, runtime.snapshot)["permissions"]


def test_a_packages_roles_are_created_with_its_permissions(runtime: Platform, tmp_path: Path) -> None:
    plan = runtime.packages.plan(SYSTEM, read_folder(write(tmp_path / "v1", "1.0.0", with_invoice=False),
                                                     frozenset(runtime.packages.kinds())), upgrade=False).as_json()
    assert {(d["kind"], d["api_name"], d["action"]) for d in plan["documents"] if d["kind"] == "roles"} == {
        ("roles", "sales_rep", "create"), ("roles", "manager", "create")}
    run(runtime, tmp_path / "v1")
    assert permissions(runtime, "sales_rep")["deal"]["read"] == "all"
    assert runtime.users.roles.get("manager", runtime.snapshot)["label"] == "Sales manager"


def test_an_existing_role_keeps_what_the_customer_set_and_only_gains_the_templates_new_objects(
        runtime: Platform, tmp_path: Path) -> None:
    run(runtime, write(tmp_path / "v1", "1.0.0", with_invoice=False))
    runtime.users.roles.update(SYSTEM, "sales_rep", {"permissions": {
        "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}, runtime.snapshot)
    plan = run(runtime, write(tmp_path / "v2", "1.1.0", with_invoice=True), upgrade=True)
    assert {d["api_name"]: d["action"] for d in plan["documents"] if d["kind"] == "roles"} == {
        "sales_rep": "grant", "manager": "grant"}
    rep = permissions(runtime, "sales_rep")
    assert rep["deal"]["read"] == "own"  # the customer's
    assert rep["invoice"]["read"] == "team"  # the template's new object


def test_a_role_naming_an_object_that_is_not_there_refuses_the_install(runtime: Platform, tmp_path: Path) -> None:
    folder = write(tmp_path / "v1", "1.0.0", with_invoice=False)
    body = json.loads((folder / "roles/manager.json").read_text())
    body["permissions"]["nowhere"] = {"read": "all"}
    (folder / "roles/manager.json").write_text(json.dumps(body))
    with pytest.raises(InvalidInput) as raised:
        runtime.packages.submit(SYSTEM, read_folder(folder, frozenset(runtime.packages.kinds())), upgrade=False)
    assert [p.as_json()["file"] for p in raised.value.errors] == ["roles/manager.json"]
    assert runtime.packages.installed() == []


def test_an_export_carries_the_packages_roles_as_they_are_now(runtime: Platform, tmp_path: Path) -> None:
    import io
    import zipfile

    run(runtime, write(tmp_path / "v1", "1.0.0", with_invoice=False))
    runtime.users.roles.update(SYSTEM, "sales_rep", {"permissions": {
        "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}, runtime.snapshot)
    with zipfile.ZipFile(io.BytesIO(runtime.packages.export(SYSTEM, "sales")[1])) as archive:
        rep = json.loads(archive.read("roles/sales_rep.json"))
        assert "roles/manager.json" in archive.namelist()
    assert (rep["uid"], rep["permissions"]["deal"]["read"]) == ("sales_rep", "own")
    with zipfile.ZipFile(io.BytesIO(runtime.packages.export(SYSTEM, "sales", layer_only=True)[1])) as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("roles/")) == ["roles/sales_rep.json"]
