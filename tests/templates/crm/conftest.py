"""The CRM template installed on a fresh database of each backend, fast: it is installed once
per test session into a template database (a SQLite file copied, a PostgreSQL database
cloned), so every scenario test starts from the same installed CRM without paying for the
install. Sample data is left out here; the tests that need it load it themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, database_from, pg_database  # the suite's (tests/conftest.py)
from tessera.auth.actor import Actor
from tessera.data.engine import make_engine
from tessera.data.migrate import upgrade
from tessera.packages.files import Package, read_folder
from tessera.runtime.platform import Platform
from tessera.settings import Settings

CRM = Path(__file__).resolve().parents[3] / "templates" / "crm"
SYSTEM = Actor.system()
PASSWORD = "a-long-password-1"


def crm_package(rt: Platform, folder: Path = CRM) -> Package:
    return read_folder(folder, frozenset(rt.packages.kinds()))


def install(rt: Platform, folder: Path = CRM, *, upgrade: bool = False, **options: Any) -> dict[str, Any]:
    """Install (or upgrade to) the package in `folder`; the finished job."""
    job, _ = rt.packages.submit(SYSTEM, crm_package(rt, folder), upgrade=upgrade, **options)
    finished = rt.jobs.wait(job)
    assert finished["status"] == "succeeded", (finished.get("error"), finished.get("result"))
    return finished


def _installed(url: str, tmp: Path) -> None:
    rt = Platform(Settings(database_url=url, attachments_dir=tmp / "attachments"))
    try:
        rt.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        install(rt, sample_data=False)
    finally:
        rt.dispose()


@pytest.fixture(scope="session")
def crm_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crm-template")
    path = folder / "crm.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    _installed(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def crm_pg_template(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"tessera_crm_tpl_{os.getpid()}"
    with pg_database(name, pg_template) as url:
        _installed(url, tmp_path_factory.mktemp("crm-pg"))
        yield name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own with the CRM installed (no sample data), on each backend."""
    template = request.getfixturevalue("crm_sqlite_file" if request.param == "sqlite" else "crm_pg_template")
    with database_from(request.param, template, tmp_path) as url:
        yield url


@pytest.fixture
def crm(crm_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The platform over a database with the CRM installed."""
    rt = Platform(Settings(database_url=crm_url, attachments_dir=tmp_path / "attachments"))
    yield rt
    rt.dispose()


def person(rt: Platform, email: str, *, roles: list[str] | None = None, teams: list[str] | None = None,
           manager: str | None = None, name: str | None = None) -> Actor:
    """A person with these roles and teams (and manager, by e-mail), signed in."""
    doc: dict[str, Any] = {"email": email, "name": name or email.split("@")[0].replace(".", " ").title(),
                           "password": PASSWORD, "roles": roles or [], "teams": teams or []}
    if manager:
        doc["manager"] = manager
    made = rt.users.accounts.add(SYSTEM, doc)
    return rt.users.actor_for_user(int(made["id"]))


def admin(rt: Platform) -> Actor:
    found = rt.users.accounts.list(q=ADMIN_EMAIL)["data"]
    return rt.users.actor_for_user(int(found[0]["id"]))
