"""`tessera app list|install|upgrade|export|uninstall` against a database, on SQLite and
PostgreSQL: plans printed in words, jobs followed to their end, exit 0 on success, 1 on a
refused package, 2 on misuse."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "packages" / "fixtures"


def _tessera(*args: str, db_url: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # Only this test's settings: no admin to create, no Redis (jobs run in the command itself).
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return subprocess.run([sys.executable, "-m", "tessera.cli", "app", *args], cwd=cwd,
                          env={**env, "TESSERA_DATABASE_URL": db_url, "TESSERA_TEMPLATES_DIR": str(FIXTURES)},
                          capture_output=True, text=True, timeout=180)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _platform(db_url: str, tmp_path: Path) -> Platform:
    return Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", templates_dir=FIXTURES))


def _field(runtime: Platform, object_name: str, field_name: str) -> dict[str, object]:
    return next(f for f in runtime.metadata.get_object(object_name)["fields"] if f["api_name"] == field_name)


def test_list_shows_the_bundled_templates_then_what_is_installed(db_url: str) -> None:
    before = _ok(_tessera("list", db_url=db_url))
    assert "Installed:\n  (none)" in before
    assert "acme-1.0.0" in before and "support-1.0.0" in before and "not installed" in before
    _ok(_tessera("install", "acme-1.1.0", db_url=db_url))
    after = _ok(_tessera("list", db_url=db_url))
    installed = after.split("Available:")[0]
    assert "acme" in installed and "1.1.0" in installed and "Acme sales" in installed
    assert "1.1.0 installed" in after.split("Available:")[1]


def test_install_dry_run_prints_the_plan_in_words_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    result = _tessera("install", str(FIXTURES / "acme-1.0.0"), "--dry-run", db_url=db_url)
    out = _ok(result)
    assert out.startswith("Install Acme sales (acme) 1.0.0")
    assert "create             objects      account  (Account)" in out
    assert "create table account (name, region, fax, revenue)" in out
    assert "2 contact records from data/contacts.json" in out
    assert "Plan " in out
    without = _ok(_tessera("install", "acme-1.0.0", "--dry-run", "--no-sample-data", db_url=db_url))
    assert "Sample records" not in without
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.packages.installed() == []
        assert "account" not in {o["api_name"] for o in runtime.metadata.list_objects()}
    finally:
        runtime.dispose()


def test_install_follows_the_job_and_creates_objects_and_sample_records(db_url: str, tmp_path: Path) -> None:
    result = _tessera("install", str(FIXTURES / "acme-1.0.0"), db_url=db_url)
    out = _ok(result)
    assert "Install Acme sales 1.0.0: done" in out and "4 sample records" in out
    assert "succeeded" in result.stderr and "100%" in result.stderr  # the job's last progress line
    runtime = _platform(db_url, tmp_path)
    try:
        assert [p["version"] for p in runtime.packages.installed()] == ["1.0.0"]
        assert len(runtime.records.list(Actor.system(), "contact")["data"]) == 2
    finally:
        runtime.dispose()
    again = _ok(_tessera("install", "acme-1.0.0", "--dry-run", db_url=db_url))
    assert "Nothing to change." in again


def test_install_from_a_zip_without_sample_data(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "acme.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((FIXTURES / "acme-1.0.0").rglob("*.json")):
            out.write(path, f"acme/{path.relative_to(FIXTURES / 'acme-1.0.0').as_posix()}")
    _ok(_tessera("install", str(archive), "--no-sample-data", db_url=db_url))
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.records.list(Actor.system(), "account")["data"] == []
    finally:
        runtime.dispose()


def test_upgrade_dry_run_shows_the_conflict_three_ways_and_the_upgrade_keeps_yours(
        db_url: str, tmp_path: Path) -> None:
    _ok(_tessera("install", "acme-1.0.0", db_url=db_url))
    runtime = _platform(db_url, tmp_path)
    try:
        runtime.metadata.update_field(Actor.system(), "account", "region", {"label": "Territory"})
    finally:
        runtime.dispose()
    plan = _ok(_tessera("upgrade", "acme", str(FIXTURES / "acme-1.1.0"), "--dry-run", db_url=db_url))
    assert plan.startswith("Upgrade Acme sales (acme) 1.0.0 → 1.1.0")
    assert "add column account.industry" in plan
    assert 'package before: "Region"' in plan and 'package now:    "Sales region"' in plan
    assert 'yours:          "Territory"' in plan
    strict = _tessera("upgrade", "acme", "acme-1.1.0", "--strict", db_url=db_url)
    assert strict.returncode == 1 and "--strict" in strict.stderr and "Sales region" in strict.stderr
    out = _ok(_tessera("upgrade", "acme", "acme-1.1.0", db_url=db_url))
    assert "Upgrade Acme sales 1.1.0: done" in out
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.packages.get("acme")["version"] == "1.1.0"
        assert _field(runtime, "account", "region")["label"] == "Territory"
        assert len(runtime.packages.conflicts(Actor.system(), "acme")) == 1
    finally:
        runtime.dispose()


def test_export_writes_the_zip_into_the_folder_and_prints_its_path(db_url: str, tmp_path: Path) -> None:
    _ok(_tessera("install", "acme-1.0.0", db_url=db_url))
    out = _ok(_tessera("export", "acme", "-o", str(tmp_path / "dist"), db_url=db_url))
    written = Path(out.strip())
    assert written == tmp_path / "dist" / "acme-1.0.0.zip"
    with zipfile.ZipFile(written) as archive:
        assert "objects/account.json" in archive.namelist()
        assert json.loads(archive.read("manifest.json"))["version"] == "1.0.0"
    _ok(_tessera("export", "acme", "-o", str(tmp_path / "dist"), db_url=db_url))
    assert written.read_bytes() == Path(out.strip()).read_bytes()
    layer = _ok(_tessera("export", "acme", "--layer-only", db_url=db_url, cwd=tmp_path))
    assert layer.strip() == "acme-1.0.0-layer.zip"
    with zipfile.ZipFile(io.BytesIO((tmp_path / "acme-1.0.0-layer.zip").read_bytes())) as archive:
        assert archive.namelist() == ["manifest.json"]  # nothing changed here yet
    # An exported zip upgrades the package to itself: nothing changes.
    assert "4 unchanged" in _ok(_tessera("upgrade", "acme", str(written), db_url=db_url))


def test_uninstall_is_refused_while_another_package_extends_it_then_goes(db_url: str, tmp_path: Path) -> None:
    _ok(_tessera("install", "acme-1.0.0", db_url=db_url))
    _ok(_tessera("install", "support-1.0.0", db_url=db_url))
    refused = _tessera("uninstall", "acme", db_url=db_url)
    assert refused.returncode == 1 and "support" in refused.stderr
    plan = _ok(_tessera("uninstall", "support", "--dry-run", db_url=db_url))
    assert plan.startswith("Uninstall support 1.0.0 would move to the trash:") and "Ticket (ticket)" in plan
    _ok(_tessera("uninstall", "support", db_url=db_url))
    _ok(_tessera("uninstall", "acme", db_url=db_url))
    runtime = _platform(db_url, tmp_path)
    try:
        assert runtime.packages.installed() == []
        assert not {"account", "ticket"} & {o["api_name"] for o in runtime.metadata.list_objects()}
    finally:
        runtime.dispose()


def test_a_refused_package_exits_1_with_its_problems_file_and_path(db_url: str) -> None:
    _ok(_tessera("install", "acme-1.1.0", db_url=db_url))
    lower = _tessera("upgrade", "acme", "acme-1.0.0", db_url=db_url)
    assert lower.returncode == 1
    assert "manifest.json /version: 1.0.0 is lower than the installed 1.1.0" in lower.stderr
    dry = _tessera("upgrade", "acme", "acme-1.0.0", "--dry-run", db_url=db_url)
    assert dry.returncode == 1 and "Problems (nothing would be written):" in dry.stdout
    other = _tessera("upgrade", "acme", "support-1.0.0", db_url=db_url)
    assert other.returncode == 1 and "'support', not 'acme'" in other.stderr
    assert _tessera("uninstall", "nothing", db_url=db_url).returncode == 1
    assert _tessera("export", "nothing", db_url=db_url).returncode == 1


def test_a_broken_zip_exits_1_naming_the_file(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("manifest.json", json.dumps({"name": "evil", "version": "1.0.0", "title": "Evil"}))
        out.writestr("../outside.json", "{}")
    result = _tessera("install", str(archive), db_url=db_url)
    assert result.returncode == 1 and "../outside.json" in result.stderr and "outside the package" in result.stderr
    (tmp_path / "not.zip").write_bytes(b"not a zip")
    assert _tessera("install", str(tmp_path / "not.zip"), db_url=db_url).returncode == 1


def test_misuse_exits_2(db_url: str, tmp_path: Path) -> None:
    missing_argument = _tessera("install", db_url=db_url)
    assert missing_argument.returncode == 2 and "PATH|NAME" in missing_argument.stderr
    assert _tessera("upgrade", "acme", db_url=db_url).returncode == 2
    assert _tessera("install", "acme-1.0.0", "--strict", db_url=db_url).returncode == 2
    no_file = _tessera("install", str(tmp_path / "nowhere.zip"), db_url=db_url)
    assert no_file.returncode == 2 and "no such file or folder" in no_file.stderr
    unknown = _tessera("install", "nothing", db_url=db_url)
    assert unknown.returncode == 2 and "acme-1.0.0" in unknown.stderr  # the bundled ones are named
    (tmp_path / "file").write_text("x")
    assert _tessera("export", "acme", "-o", str(tmp_path / "file"), db_url=db_url).returncode == 2
