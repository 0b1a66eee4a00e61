"""Plugins in tests: fake plugin modules written on the spot (each test's own), their entry
points, and platforms that install them — on SQLite and PostgreSQL. Whatever a plugin
registered in the process-wide registries is taken out after each test."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from tessera.plugins import GROUP
from tessera.registry import forget
from tessera.runtime.platform import Platform
from tessera.settings import Settings

PluginMaker = Callable[[str, str], EntryPoint]


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginMaker]:
    """write(name, source) → the entry point of a plugin module of that source."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    made: list[str] = []

    def write(name: str, source: str) -> EntryPoint:
        module = f"fake_{name}_{len(made)}_{tmp_path.name[-8:]}".replace("-", "_")
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        made.append(module)
        return EntryPoint(name=name, value=f"{module}:install", group=GROUP)

    yield write
    for module in made:
        sys.modules.pop(module, None)


@pytest.fixture
def plugged(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Platform]]:
    """platform(*entry_points) → a platform that installed those plugins (and no others)."""
    built: list[Platform] = []
    names: set[str] = set()

    def platform(*entries: EntryPoint, **settings: Any) -> Platform:
        from tessera.plugins.loader import install_plugins

        rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", plugins=False, **settings))
        built.append(rt)
        names.update(e.name for e in entries)
        rt.plugins.reports[:] = install_plugins(rt, entries)
        return rt

    yield platform
    for rt in built:
        rt.dispose()
    for name in names:
        forget(name)
