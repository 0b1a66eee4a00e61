"""The package endpoints (`/api/v1/packages`): dry runs that write nothing, installs and
upgrades as jobs, the review list of an upgrade, stale and strict plans, refused packages
with the file named, exports that install elsewhere, uninstall, admins only, and no body
however malformed ever answered with a 5xx — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tessera.auth.actor import Actor
from tessera.data.engine import make_engine
from tessera.data.migrate import upgrade
from tessera.packages.files import read_zip
from tessera.packages.service import Source
from tessera.runtime.platform import Platform
from tessera.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "packages" / "fixtures"
#: Small enough to pass a package a few kilobytes large and refuse a bigger upload.
UPLOAD_LIMIT = 64 * 1024
PROBLEM = "application/problem+json"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password"  # the suite's admin (tests/conftest.py)
#: The suite's signed-in client (tests/conftest.py: Api).
Api = Any


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The suite's runtime, with the test packages as the bundled templates."""
    rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "attachments", templates_dir=FIXTURES,
                           max_upload_bytes=UPLOAD_LIMIT))
    rt.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    yield rt
    rt.dispose()


def _zip(files: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return out.getvalue()


def _folder(name: str) -> dict[str, bytes | str]:
    root = FIXTURES / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def _upload(api: Api, path: str, content: bytes, name: str = "package.zip", **fields: str) -> Any:
    return api.request("POST", path, files={"file": (name, content, "application/zip")}, data=fields)


def _done(api: Api, runtime: Platform, response: Any) -> dict[str, Any]:
    """A 202's job, followed to its end through the job endpoint; it must have succeeded."""
    answer = api.ok(response, 202)
    job_id = answer["job"]["id"]
    assert response.headers["location"] == f"/api/v1/jobs/{job_id}"
    runtime.jobs.wait(job_id)
    job = api.ok(api.get(response.headers["location"].removeprefix("/api/v1")))
    assert job["status"] == "succeeded", job
    return job


def _install(api: Api, runtime: Platform, source: str) -> dict[str, Any]:
    return _done(api, runtime, api.post("/packages", {"source": source}))


def _upgrade(api: Api, runtime: Platform, source: str, **options: Any) -> dict[str, Any]:
    return _done(api, runtime, api.post("/packages/acme/upgrade", {"source": source, **options}))


def _field(api: Api, object: str, name: str) -> dict[str, Any]:
    found = api.ok(api.get(f"/meta/objects/{object}"))
    return next(f for f in found["fields"] if f["api_name"] == name)


def _relabel(api: Api, field: str, label: str) -> None:
    api.ok(api.patch(f"/meta/objects/account/fields/{field}", {"label": label}))


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return response.json()


# -- install ----------------------------------------------------------------------------------
def test_available_lists_the_bundled_templates_and_nothing_is_installed_yet(api: Api) -> None:
    available = api.ok(api.get("/packages/available"))["packages"]
    assert [(p["source"], p["name"], p["version"], p["installed_version"]) for p in available] == [
        ("acme-1.0.0", "acme", "1.0.0", None), ("acme-1.1.0", "acme", "1.1.0", None),
        ("acme-1.2.0", "acme", "1.2.0", None), ("deals-1.0.0", "deals", "1.0.0", None),
        ("support-1.0.0", "support", "1.0.0", None)]
    assert api.ok(api.get("/packages")) == {"packages": []}
    _problem(api.get("/packages/acme"), 404)


def test_install_dry_run_returns_the_plan_and_writes_nothing(api: Api, runtime: Platform) -> None:
    plan = api.ok(api.post("/packages?dry_run=true", {"source": "acme-1.0.0"}))
    assert (plan["package"], plan["version"], plan["action"], plan["problems"]) == ("acme", "1.0.0", "install", [])
    assert plan["summary"] == {"create": 4}
    assert {(d["kind"], d["api_name"], d["action"]) for d in plan["documents"]} == {
        ("objects", "account", "create"), ("objects", "contact", "create"), ("forms", "account_main", "create"),
        ("apps", "acme", "create")}
    assert "create table account (name, region, fax, revenue)" in plan["schema"]
    assert {d["object"]: d["records"] for d in plan["data"]} == {"account": 2, "contact": 2}
    # The same zip uploaded plans the same, to the digest.
    uploaded = api.ok(_upload(api, "/packages?dry_run=true", _zip(_folder("acme-1.0.0"))))
    assert uploaded["plan"] == plan["plan"]
    # Nothing was written: no package, no object, no job.
    assert api.ok(api.get("/packages")) == {"packages": []}
    assert "account" not in {o["api_name"] for o in api.ok(api.get("/meta/objects"))}
    assert api.ok(api.get("/jobs"))["jobs"] == []
    # Without sample data the plan loads none.
    assert api.ok(api.post("/packages?dry_run=true", {"source": "acme-1.0.0", "sample_data": False}))["data"] == []


def test_install_answers_202_with_the_job_which_creates_the_objects_and_sample_records(
        api: Api, runtime: Platform) -> None:
    response = api.post("/packages", {"source": "acme-1.0.0"})
    assert api.ok(response, 202)["plan"]["summary"] == {"create": 4}
    job = _done(api, runtime, response)
    assert job["kind"] == "package.apply" and job["result"]["records"] == 4
    assert sorted(r["name"] for r in api.ok(api.get("/records/account"))["data"]) == ["Contoso", "Northwind"]
    contacts = api.ok(api.get("/records/contact", params={"expand": "account"}))["data"]
    assert sorted((c["last_name"], c["_expanded"]["account"]["name"]) for c in contacts) == [("Ames", "Northwind"),
                                                                                ("Bell", "Contoso")]
    installed = api.ok(api.get("/packages/acme"))
    assert (installed["version"], installed["customizations"], installed["conflicts"]) == ("1.0.0", 0, 0)
    assert [p["name"] for p in api.ok(api.get("/packages"))["packages"]] == ["acme"]
    available = {p["source"]: p["installed_version"] for p in api.ok(api.get("/packages/available"))["packages"]}
    assert available["acme-1.1.0"] == "1.0.0"


def test_install_without_sample_data_creates_no_records(api: Api, runtime: Platform) -> None:
    _upload_done = _done(api, runtime, _upload(api, "/packages", _zip(_folder("acme-1.0.0")), sample_data="false"))
    assert _upload_done["result"]["records"] == 0
    assert api.ok(api.get("/records/account"))["data"] == []


def test_installing_the_installed_version_again_changes_nothing(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    before = api.ok(api.get("/meta/objects/account"))
    plan = api.ok(api.post("/packages?dry_run=true", {"source": "acme-1.0.0"}))
    assert plan["summary"] == {"unchanged": 4} and plan["data"] == [] and plan["schema"] == []
    _install(api, runtime, "acme-1.0.0")
    assert api.ok(api.get("/meta/objects/account"))["version"] == before["version"]
    assert len(api.ok(api.get("/records/account"))["data"]) == 2  # no sample record twice


def test_a_missing_dependency_is_refused_naming_the_manifest(api: Api) -> None:
    files = _folder("support-1.0.0")
    manifest = json.loads(files["manifest.json"])
    files["manifest.json"] = json.dumps({**manifest, "depends": [{"name": "billing", "version": ">=2"}]})
    plan = api.ok(_upload(api, "/packages?dry_run=true", _zip(files)))
    assert [(p["file"], p["field"], p["code"]) for p in plan["problems"]] == [
        ("manifest.json", "/depends/0", "missing_dependency")]
    refused = _problem(_upload(api, "/packages", _zip(files)), 422)
    assert refused["errors"][0]["file"] == "manifest.json" and "billing" in refused["errors"][0]["message"]
    assert refused["plan"]["problems"] == plan["problems"]
    assert api.ok(api.get("/packages")) == {"packages": []}


def test_an_unknown_template_is_404_naming_the_bundled_ones(api: Api) -> None:
    missing = _problem(api.post("/packages", {"source": "nothing"}), 404)
    assert "acme-1.0.0" in missing["detail"] and missing["errors"][0]["field"] == "/source"


# -- upgrade ----------------------------------------------------------------------------------
def test_upgrade_keeps_the_customers_label_on_a_conflict_until_the_packages_is_taken(
        api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    layer = api.ok(api.get("/packages/acme/customizations"))["customizations"]
    assert [(c["package"], c["yours"]) for c in layer[0]["changes"]] == [("Region", "Territory")]
    plan = api.ok(api.post("/packages/acme/upgrade?dry_run=true", {"source": "acme-1.1.0"}))
    assert (plan["action"], plan["from_version"], plan["version"]) == ("upgrade", "1.0.0", "1.1.0")
    assert [(c["base"], c["package"], c["yours"]) for c in plan["conflicts"]] == [
        ("Region", "Sales region", "Territory")]
    assert "add column account.industry" in plan["schema"]
    _upgrade(api, runtime, "acme-1.1.0", plan=plan["plan"])
    assert api.ok(api.get("/packages/acme"))["version"] == "1.1.0"
    assert _field(api, "account", "region")["label"] == "Territory"  # the customer's stays
    assert _field(api, "account", "industry")["label"]  # the package's new field arrived
    conflicts = api.ok(api.get("/packages/acme/conflicts"))["conflicts"]
    assert [(c["package"], c["yours"]) for c in conflicts] == [("Sales region", "Territory")]
    taken = api.ok(api.post(f"/packages/acme/conflicts/{conflicts[0]['id']}", {"choice": "take"}))
    assert taken == {"id": conflicts[0]["id"], "status": "taken"}
    assert _field(api, "account", "region")["label"] == "Sales region"
    _problem(api.post(f"/packages/acme/conflicts/{conflicts[0]['id']}", {"choice": "keep"}), 409)  # decided already
    assert api.ok(api.get("/packages/acme/conflicts"))["conflicts"] == []
    assert [c["id"] for c in api.ok(api.get("/packages/acme/conflicts?status=taken"))["conflicts"]] == [
        conflicts[0]["id"]]
    _problem(api.post("/packages/acme/conflicts/999999", {"choice": "keep"}), 404)


def test_keeping_every_open_conflict_at_once(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    _relabel(api, "name", "Company")
    _upgrade(api, runtime, "acme-1.1.0")
    assert api.ok(api.get("/packages/acme"))["conflicts"] == 2
    done = api.ok(api.post("/packages/acme/conflicts", {"choice": "keep"}))
    assert len(done["resolved"]) == 2 and done["left"] == []
    assert (_field(api, "account", "region")["label"], _field(api, "account", "name")["label"]) == (
        "Territory", "Company")
    assert api.ok(api.get("/packages/acme"))["conflicts"] == 0


def test_reset_puts_one_property_back_to_the_packages_value(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    change = api.ok(api.get("/packages/acme/customizations"))["customizations"][0]["changes"][0]
    api.ok(api.post("/packages/acme/reset", {"kind": "objects", "api_name": "account", "path": change["path"]}))
    assert _field(api, "account", "region")["label"] == "Region"
    assert api.ok(api.get("/packages/acme/customizations"))["customizations"] == []
    _problem(api.post("/packages/acme/reset", {"kind": "objects", "api_name": "nothing"}), 404)


def test_a_plan_made_before_the_metadata_moved_is_refused_with_409(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    plan = api.ok(api.post("/packages/acme/upgrade?dry_run=true", {"source": "acme-1.1.0"}))
    _relabel(api, "fax", "Telefax")
    stale = _problem(api.post("/packages/acme/upgrade", {"source": "acme-1.1.0", "plan": plan["plan"]}), 409)
    assert stale["type"].endswith("/plan-stale") and stale["plan"]["plan"] != plan["plan"]
    assert "type_slug" not in stale
    assert api.ok(api.get("/packages/acme"))["version"] == "1.0.0"
    # The new plan's digest goes through.
    _upgrade(api, runtime, "acme-1.1.0", plan=stale["plan"]["plan"])


def test_a_strict_upgrade_with_conflicts_is_refused_with_409(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    refused = _problem(api.post("/packages/acme/upgrade", {"source": "acme-1.1.0", "strict": True}), 409)
    assert "strict" in refused["detail"] and len(refused["plan"]["conflicts"]) == 1
    assert api.ok(api.get("/packages/acme"))["version"] == "1.0.0"
    assert api.ok(api.get("/jobs"))["jobs"][0]["title"] == "Install Acme sales 1.0.0"  # no job was queued


def test_a_lower_version_is_refused_with_422_naming_manifest_version(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.1.0")
    refused = _problem(api.post("/packages/acme/upgrade", {"source": "acme-1.0.0"}), 422)
    assert [(e["file"], e["field"], e["code"]) for e in refused["errors"]] == [
        ("manifest.json", "/version", "version_lower")]
    # Installing another version over the installed one is refused too: that is an upgrade.
    again = _problem(api.post("/packages", {"source": "acme-1.2.0"}), 422)
    assert (again["errors"][0]["file"], again["errors"][0]["field"]) == ("manifest.json", "/version")


def test_upgrade_refuses_a_zip_of_another_package(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    refused = _problem(_upload(api, "/packages/acme/upgrade", _zip(_folder("support-1.0.0"))), 422)
    assert refused["errors"][0]["file"] == "manifest.json" and "support" in refused["detail"]
    _problem(api.post("/packages/support/upgrade", {"source": "acme-1.1.0"}), 422)


# -- zips that cannot be installed --------------------------------------------------------------
def test_a_file_that_is_not_a_zip_is_refused_naming_the_file(api: Api) -> None:
    refused = _problem(_upload(api, "/packages", b"PK but not really a zip", name="acme.zip"), 422)
    assert [(e["file"], e["code"]) for e in refused["errors"]] == [("acme.zip", "not_a_zip")]


def test_a_zip_with_a_path_leaving_the_package_is_refused_naming_it(api: Api) -> None:
    files = {**_folder("acme-1.0.0"), "../../etc/evil.json": "{}"}
    refused = _problem(_upload(api, "/packages", _zip(files)), 422)
    assert [(e["file"], e["code"]) for e in refused["errors"]] == [("../../etc/evil.json", "unsafe_path")]


def test_a_zip_with_broken_json_names_the_file_and_the_path(api: Api) -> None:
    files = {**_folder("acme-1.0.0"), "objects/contact.json": "{not json"}
    refused = _problem(_upload(api, "/packages?dry_run=true", _zip(files)), 422)
    assert [(e["file"], e["code"]) for e in refused["errors"]] == [("objects/contact.json", "invalid_json")]
    manifest = {**json.loads(_folder("acme-1.0.0")["manifest.json"]), "version": "one"}
    files = {**_folder("acme-1.0.0"), "manifest.json": json.dumps(manifest)}
    refused = _problem(_upload(api, "/packages", _zip(files)), 422)
    assert (refused["errors"][0]["file"], refused["errors"][0]["field"]) == ("manifest.json", "/version")


def test_a_zip_over_the_upload_limit_is_refused_with_413(api: Api) -> None:
    big = _zip({**_folder("acme-1.0.0"), "data/padding.bin": bytes(range(256)) * 1024})
    assert len(big) > UPLOAD_LIMIT
    too_large = _problem(_upload(api, "/packages", big), 413)
    assert str(UPLOAD_LIMIT)[:2] in too_large["detail"].replace(",", "")


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("POST", "/packages", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/packages", {"content": b"", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/packages", {"json": ["acme-1.0.0"]}, 422),
    ("POST", "/packages", {"json": {"source": 7}}, 422),
    ("POST", "/packages", {"json": {"source": "acme-1.0.0", "sample_data": "no"}}, 422),
    ("POST", "/packages", {"json": {"source": "acme-1.0.0", "strict": 1}}, 422),
    ("POST", "/packages", {"json": {"source": "acme-1.0.0", "plan": {"a": 1}}}, 422),
    ("POST", "/packages", {"json": {"source": "acme-1.0.0", "extra": True}}, 422),
    ("POST", "/packages", {"json": {"source": "a\u0000b"}}, 422),
    ("POST", "/packages?dry_run=perhaps", {"json": {"source": "acme-1.0.0"}}, 400),
    ("POST", "/packages", {"files": {"other": ("a.zip", b"x")}}, 422),
    ("POST", "/packages", {"files": {"file": ("a.zip", b"x")}, "data": {"sample_data": "maybe"}}, 422),
    ("POST", "/packages", {"files": {"file": ("a.zip", b"x")}, "data": {"source": "acme-1.0.0"}}, 422),
    ("POST", "/packages", {"files": {"file": ("a.zip", b"x")}, "data": {f"f{n}": "x" for n in range(12)}}, 400),
    ("POST", "/packages", {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
     422),
    ("POST", "/packages", {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}}, 400),
    ("POST", "/packages/acme/upgrade", {"json": {"source": None}}, 422),
    ("POST", "/packages/acme/conflicts/1", {"json": {"choice": "maybe"}}, 422),
    ("POST", "/packages/acme/conflicts/1", {"json": "keep"}, 422),
    ("POST", "/packages/acme/conflicts/0", {"json": {"choice": "keep"}}, 400),
    ("POST", "/packages/acme/conflicts", {"json": {"choice": "keep", "ids": "all"}}, 422),
    ("POST", "/packages/acme/conflicts", {"json": {"choice": "keep", "ids": [True]}}, 422),
    ("POST", "/packages/acme/reset", {"json": {"kind": "objects"}}, 422),
    ("POST", "/packages/acme/reset", {"json": {"kind": "objects", "api_name": "account", "path": "label"}}, 422),
    ("POST", "/packages/acme/reset", {"json": {"kind": "objects", "api_name": "account",
                                               "path": ["fields", {"uid": "x", "api_name": "y"}, "label"]}}, 422),
    ("POST", "/packages/acme/reset", {"json": {"kind": "objects", "api_name": "account",
                                               "path": ["fields", {"uid": ["x"]}]}}, 422),
    ("GET", "/packages/acme/conflicts?status=everything", {}, 400),
    ("GET", "/packages/acme/export?layer_only=perhaps", {}, 400),
])
def test_a_malformed_request_is_a_4xx_problem_never_a_5xx(api: Api, method: str, path: str,
                                                          kwargs: dict[str, Any], status: int) -> None:
    _problem(api.request(method, path, **kwargs), status)


def test_reset_with_a_path_naming_nothing_is_422(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    for path in (["fields", {"uid": "nothing"}, "label"], ["nothing", "deeper"], [{"=": 3}]):
        response = api.post("/packages/acme/reset", {"kind": "objects", "api_name": "account", "path": path})
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert _field(api, "account", "region")["label"] == "Territory"


# -- export -----------------------------------------------------------------------------------
def test_an_export_is_byte_identical_each_time_and_installs_on_a_fresh_database(
        api: Api, runtime: Platform, tmp_path: Path) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    first, second = api.get("/packages/acme/export"), api.get("/packages/acme/export")
    assert first.status_code == 200 and first.headers["content-type"] == "application/zip"
    assert first.headers["content-disposition"] == 'attachment; filename="acme-1.0.0.zip"'
    assert first.content == second.content
    package = read_zip(first.content, frozenset(runtime.packages.kinds()))
    assert (package.name, package.version) == ("acme", "1.0.0")
    account = next(d for d in package.documents if d.path == "objects/account.json")
    assert next(f for f in account.body["fields"] if f["uid"] == "account.region")["label"] == "Territory"
    # Installed on a fresh database (SQLite) it runs as it ran here, and exports the same bytes.
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    fresh = Platform(Settings(database_url=url, attachments_dir=tmp_path / "fresh-files", templates_dir=FIXTURES))
    try:
        system = Actor.system()
        job_id, _ = fresh.packages.submit(system, fresh.packages.read(Source(content=first.content)), upgrade=False)
        assert fresh.jobs.wait(job_id)["status"] == "succeeded"
        region = next(f for f in fresh.metadata.get_object("account")["fields"] if f["api_name"] == "region")
        assert region["label"] == "Territory"
        assert fresh.packages.export(system, "acme") == ("acme-1.0.0.zip", first.content)
    finally:
        fresh.dispose()


def test_a_layer_only_export_holds_only_the_customers_changes(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _relabel(api, "region", "Territory")
    layer = api.get("/packages/acme/export?layer_only=true")
    assert layer.status_code == 200
    assert layer.headers["content-disposition"] == 'attachment; filename="acme-1.0.0-layer.zip"'
    with zipfile.ZipFile(io.BytesIO(layer.content)) as archive:
        assert sorted(archive.namelist()) == ["manifest.json", "objects/account.json"]
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["enhances"] == [{"name": "acme", "version": "1.0.0"}]
    _problem(api.get("/packages/nothing/export"), 404)


# -- uninstall --------------------------------------------------------------------------------
def test_uninstall_is_refused_while_another_package_extends_it(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    _install(api, runtime, "support-1.0.0")
    assert _field(api, "account", "support_tier")["type"] == "select"
    refused = _problem(api.delete("/packages/acme"), 409)
    assert refused["dependents"] == ["support"]
    _problem(api.delete("/packages/acme?dry_run=true"), 409)
    plan = api.ok(api.delete("/packages/support?dry_run=true"))
    assert plan["package"] == "support" and plan["documents"]
    assert [p["name"] for p in api.ok(api.get("/packages"))["packages"]] == ["acme", "support"]
    _done(api, runtime, api.delete("/packages/support"))
    _done(api, runtime, api.delete("/packages/acme"))
    assert api.ok(api.get("/packages")) == {"packages": []}
    assert not {"account", "contact", "ticket"} & {o["api_name"] for o in api.ok(api.get("/meta/objects"))}
    _problem(api.delete("/packages/acme"), 404)


# -- who may ------------------------------------------------------------------------------------
def test_only_admins_may_see_or_handle_packages(api: Api, runtime: Platform) -> None:
    _install(api, runtime, "acme-1.0.0")
    api.ok(api.post("/users", {"email": "builder@example.com", "name": "Builder", "password": "a-long-password",
                               "roles": ["builder"]}), 201)
    token = api.client.post("/api/v1/auth/token", json={"email": "builder@example.com",
                                                        "password": "a-long-password"})
    builder = type(api)(api.client, token.json()["access_token"])
    for method, path, body in [
            ("GET", "/packages", None), ("GET", "/packages/available", None), ("GET", "/packages/acme", None),
            ("POST", "/packages", {"source": "acme-1.0.0"}), ("POST", "/packages?dry_run=true", {"source": "x"}),
            ("POST", "/packages/acme/upgrade", {"source": "acme-1.1.0"}), ("DELETE", "/packages/acme", None),
            ("DELETE", "/packages/acme?dry_run=true", None), ("GET", "/packages/acme/customizations", None),
            ("GET", "/packages/acme/conflicts", None), ("POST", "/packages/acme/conflicts", {"choice": "keep"}),
            ("POST", "/packages/acme/conflicts/1", {"choice": "keep"}),
            ("POST", "/packages/acme/reset", {"kind": "objects", "api_name": "account"}),
            ("GET", "/packages/acme/export", None)]:
        assert _problem(builder.request(method, path, json=body), 403)["detail"].startswith("Only admins"), path
    assert api.ok(api.get("/packages/acme"))["version"] == "1.0.0"


# -- the OpenAPI document -----------------------------------------------------------------------
EXAMPLES = 15


def test_every_package_operation_is_documented_and_fuzzing_it_never_gives_a_5xx(api: Api, runtime: Platform,
                                                                                 client: Any) -> None:
    _install(api, runtime, "acme-1.0.0")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app).include(
        path_regex=r"^/api/v1/packages")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{o.method.upper()} {o.path}" for o in operations} == {
        "GET /api/v1/packages", "POST /api/v1/packages", "GET /api/v1/packages/available",
        "GET /api/v1/packages/{name}", "DELETE /api/v1/packages/{name}", "POST /api/v1/packages/{name}/upgrade",
        "GET /api/v1/packages/{name}/customizations", "POST /api/v1/packages/{name}/reset",
        "GET /api/v1/packages/{name}/conflicts", "POST /api/v1/packages/{name}/conflicts",
        "POST /api/v1/packages/{name}/conflicts/{conflict_id}", "GET /api/v1/packages/{name}/export"}
    failures: list[str] = []
    for operation in sorted(operations, key=lambda o: o.method == "delete"):  # uninstall last
        failures += _fuzz(operation, api.headers)
    assert not failures, "\n\n".join(failures[:12])


def _fuzz(operation: Any, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(path_parameters={"name": "acme"} if "{name}" in operation.path else None))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, content_type_conformance,
                                                            response_schema_conformance])
        except AssertionError as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
        except Exception as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {type(error).__name__}: {error}")

    run()
    return failures
