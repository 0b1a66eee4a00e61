"""`tessera demo`: installs the bundled CRM and service desk templates (crm, then sms) that
are not installed yet, with their sample data and demo people; a second run changes nothing;
`--if-empty` (what `make run` does) only on a database with no package, unless TESSERA_DEMO=0.
Exit 0 on success, 1 on a refused template, 2 on misuse. On SQLite and PostgreSQL, with the
fixture packages standing in for the templates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "packages" / "fixtures"
ADMIN = "admin@example.com"


def _templates(tmp_path: Path, **folders: str) -> Path:
    """A templates folder holding the fixture packages under the names given (crm=…, sms=…)."""
    root = tmp_path / "templates"
    root.mkdir(exist_ok=True)
    for name, fixture in folders.items():
        shutil.copytree(FIXTURES / fixture, root / name)
    return root


def _tessera(*args: str, db_url: str, templates: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # Only this test's settings; no Redis: jobs run in the command itself.
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**base, "TESSERA_DATABASE_URL": db_url, "TESSERA_TEMPLATES_DIR": str(templates),
                               "TESSERA_ADMIN_EMAIL": ADMIN, "TESSERA_ADMIN_PASSWORD": "admin-password", **env})


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _platform(db_url: str, tmp_path: Path) -> Platform:
    return Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files"))


def test_demo_installs_the_templates_with_sample_data_and_people_then_a_second_run_changes_nothing(
        db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0", sms="acme-1.0.0")
    result = _tessera("demo", db_url=db_url, templates=templates)
    out = _ok(result)
    assert "Installing Deals 1.0.0 with sample data and demo people" in out
    assert "Install Deals 1.0.0: done" in out and "2 sample records; 3 demo people made" in out
    assert "Installing Acme sales 1.0.0 with sample data and demo people" in out  # sms comes after crm
    assert "The demo people (README.md) sign in with the password demo-password-1" in out
    assert "succeeded" in result.stderr and "100%" in result.stderr  # the jobs' progress
    runtime = _platform(db_url, tmp_path)
    try:
        assert [(p["name"], p["version"]) for p in runtime.packages.installed()] == [("acme", "1.0.0"),
                                                                                    ("deals", "1.0.0")]
        people = {u["email"]: u for u in runtime.users.accounts.list()["data"]}
        assert set(people) == {ADMIN, "eve.east@demo.test", "mo.boss@demo.test", "wes.west@demo.test"}
        assert people["eve.east@demo.test"]["teams"] == ["deal_team", "east"]
        assert runtime.users.sign_in("wes.west@demo.test", "demo-password-1")
        deals = {d["name"]: d for d in runtime.records.list(Actor.system(), "deal")["data"]}
        assert deals["Big turbine"]["owner"] == people["eve.east@demo.test"]["id"]
        assert deals["Old deal"]["owner"] == people[ADMIN]["id"]  # nobody@…: the admin installed it
        jobs = [(j["title"], j["status"], j["created_by"]) for j in runtime.jobs.list(Actor.system())]
        assert jobs == [("Install Acme sales 1.0.0", "succeeded", people[ADMIN]["id"]),
                        ("Install Deals 1.0.0", "succeeded", people[ADMIN]["id"])]
    finally:
        runtime.dispose()
    again = _ok(_tessera("demo", db_url=db_url, templates=templates))
    assert "Deals is installed already (1.0.0): left as it is" in again
    assert "The demo is installed already: nothing changed" in again
    runtime = _platform(db_url, tmp_path)
    try:
        assert len(runtime.users.accounts.list()["data"]) == 4
        assert len(runtime.records.list(Actor.system(), "deal")["data"]) == 2
        assert len(runtime.jobs.list(Actor.system())) == len(jobs)  # no job was started
    finally:
        runtime.dispose()


def test_demo_people_take_the_password_in_TESSERA_DEMO_PASSWORD(db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0")
    out = _ok(_tessera("demo", db_url=db_url, templates=templates, TESSERA_DEMO_PASSWORD="our-own-secret"))
    assert "our-own-secret" not in out and "in TESSERA_DEMO_PASSWORD" in out
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.users.sign_in("mo.boss@demo.test", "our-own-secret")
    finally:
        runtime.dispose()


def test_if_empty_leaves_a_database_with_packages_alone_and_TESSERA_DEMO_0_starts_empty(
        db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0", other="acme-1.0.0")
    off = _ok(_tessera("demo", "--if-empty", db_url=db_url, templates=templates, TESSERA_DEMO="0"))
    assert off.strip() == "TESSERA_DEMO=0: no demo; the database starts empty"
    _ok(_tessera("app", "install", "other", db_url=db_url, templates=templates))
    skipped = _ok(_tessera("demo", "--if-empty", db_url=db_url, templates=templates))
    assert skipped.strip() == "No demo: packages are installed here already (acme)"
    runtime = _platform(db_url, tmp_path)
    try:
        assert [p["name"] for p in runtime.packages.installed()] == ["acme"]
    finally:
        runtime.dispose()
    # Asked for by name, the demo installs what is missing.
    assert "Install Deals 1.0.0: done" in _ok(_tessera("demo", db_url=db_url, templates=templates))


def test_if_empty_on_a_new_database_installs_the_demo(db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0")
    assert "Install Deals 1.0.0: done" in _ok(_tessera("demo", "--if-empty", db_url=db_url, templates=templates))


def test_without_bundled_templates_the_demo_says_so_and_exits_0(db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, other="acme-1.0.0")
    out = _ok(_tessera("demo", "--if-empty", db_url=db_url, templates=templates))
    assert out.strip() == f"No demo templates (crm, sms) in {templates}: nothing to install"


def test_a_refused_template_exits_1_with_its_problems_file_and_place(db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0")
    people = templates / "crm" / "demo" / "people.json"
    body = json.loads(people.read_text())
    body["people"][0]["roles"] = ["astronaut"]
    people.write_text(json.dumps(body))
    result = _tessera("demo", db_url=db_url, templates=templates)
    assert result.returncode == 1
    assert "demo/people.json /people/0/roles/0: there is no role 'astronaut'" in result.stderr
    (templates / "crm" / "teams" / "east.json").write_text("{not json")
    unreadable = _tessera("demo", db_url=db_url, templates=templates)
    assert unreadable.returncode == 1 and "teams/east.json" in unreadable.stderr
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.packages.installed() == []
    finally:
        runtime.dispose()


def test_misuse_exits_2(db_url: str, tmp_path: Path) -> None:
    templates = _templates(tmp_path, crm="deals-1.0.0")
    assert _tessera("demo", "--now", db_url=db_url, templates=templates).returncode == 2
    bad = _tessera("demo", db_url=db_url, templates=templates, TESSERA_DEMO="maybe")
    assert bad.returncode == 2 and "TESSERA_DEMO='maybe' is not on or off" in bad.stderr
    short = _tessera("demo", db_url=db_url, templates=templates, TESSERA_DEMO_PASSWORD="short")
    assert short.returncode == 2 and "TESSERA_DEMO_PASSWORD must be at least 8 characters" in short.stderr
