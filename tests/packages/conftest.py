"""Installing the fixture packages (tests/packages/fixtures: acme 1.0 → 1.1 → 1.2, support,
which extends acme's account, and deals, with teams, roles, demo people and sample data
dated from the install) on the suite's platform, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
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


def copy(tmp_path: Path, edits: dict[str, Callable[[Any], Any] | None] | None = None,
         version: str = "1.0.0") -> Path:
    """The deals fixture in a folder of its own, each file in `edits` changed (None: removed)."""
    folder = tmp_path / f"deals-{version}"
    shutil.copytree(FIXTURES / "deals-1.0.0", folder)
    edits = {"manifest.json": lambda m: {**m, "version": version}, **(edits or {})}
    for path, edit in edits.items():
        target = folder / path
        if edit is None:
            target.unlink()
            continue
        before = json.loads(target.read_text()) if target.exists() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(edit(before)))
    return folder


def read(runtime: Platform, folder: Path) -> Package:
    """The package in `folder`, read as the platform reads packages."""
    return read_folder(folder, frozenset(runtime.packages.kinds()))
