"""Installing the fixture packages (tests/packages/fixtures: acme 1.0 → 1.1 → 1.2, and
support, which extends acme's account) on the suite's platform, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tessera.auth.actor import Actor
from tessera.packages.files import Package, read_folder
from tessera.runtime.platform import Platform

FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM = Actor.system()


def package(runtime: Platform, name: str) -> Package:
    return read_folder(FIXTURES / name, frozenset(runtime.packages.kinds()))


def install(runtime: Platform, name: str, *, upgrade: bool = False, **options: Any) -> dict[str, Any]:
    """Submit the fixture and wait for its job; the finished job."""
    job, _ = runtime.packages.submit(SYSTEM, package(runtime, name), upgrade=upgrade, **options)
    finished = runtime.jobs.wait(job)
    assert finished["status"] == "succeeded", finished
    return finished


def field(runtime: Platform, object_name: str, field_name: str) -> dict[str, Any]:
    return next(f for f in runtime.metadata.get_object(object_name)["fields"] if f["api_name"] == field_name)
