"""Finding and installing plugins, each in isolation.

At start, the entry points of group `tessera.plugins` of the installed distributions are
taken in a stable order (entry point name, then distribution). For each: its module is
imported and its `install` loaded with what it registers attributed to it; the plugin API it
declares is checked; `install(platform)` runs. Whatever goes wrong — an import error, a
missing or other plugin API, a name another plugin or Tessera registered (both are named),
an exception in `install` — the plugin is taken out again: what it registered in the
registries, the save hooks and event subscriptions it added and its routes are removed, and
it is reported with its error. Tessera starts with the others.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from tessera.plugins import GROUP, PLUGIN_API
from tessera.registry import forget, registered_by, registering_for

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform

log = logging.getLogger("tessera.plugins")
STATUSES = ("loaded", "failed", "refused")


@dataclass
class PluginReport:
    """One plugin as the loader left it."""

    name: str
    distribution: str | None
    version: str | None
    status: str
    error: str | None = None
    #: What it brought ("field type iban", "function VAT", "API routes /api/v1/plugins/x").
    provides: list[str] = field(default_factory=list)
    plugin_api: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "status": self.status, "error": self.error, "provides": self.provides,
                "plugin_api": self.plugin_api}


class PluginRefused(Exception):
    """A plugin that cannot be installed as it is (its plugin API, its entry point)."""


def discover() -> list[EntryPoint]:
    """The installed plugins' entry points, in the order they are installed."""
    return sorted(entry_points(group=GROUP), key=_order)


def _order(entry: EntryPoint) -> tuple[str, str]:
    dist = getattr(entry, "dist", None)
    return entry.name, (dist.name if dist is not None else "")


def install_plugins(platform: Platform, found: Iterable[EntryPoint] | None = None) -> list[PluginReport]:
    """Install every plugin (`found`: these entry points instead of the installed ones)."""
    reports = []
    seen: set[str] = set()
    for entry in sorted(found, key=_order) if found is not None else discover():
        report = _install_one(platform, entry, duplicate=entry.name in seen)
        seen.add(entry.name)
        reports.append(report)
    return reports


def _install_one(platform: Platform, entry: EntryPoint, *, duplicate: bool) -> PluginReport:
    dist = getattr(entry, "dist", None)
    report = PluginReport(entry.name, dist.name if dist is not None else None,
                          dist.version if dist is not None else None, "loaded")
    if duplicate:
        report.status, report.error = "refused", f"another installed plugin is named {entry.name!r}"
        log.error("plugin %s refused: %s", entry.name, report.error)
        return report
    hooks = {point: list(hooks) for point, hooks in platform.hooks.points.items()}
    subscriptions = list(platform.events.subscriptions)
    host = platform.plugin_host
    try:
        with registering_for(entry.name):
            install = entry.load()
            if not callable(install) and callable(getattr(install, "install", None)):
                install = install.install  # the entry point names the plugin's module
            if not callable(install):
                raise PluginRefused(f"its entry point {entry.value!r} is not a callable install(platform)")
            report.plugin_api = _declared_api(install)
            if report.plugin_api != PLUGIN_API:
                raise PluginRefused(
                    f"it needs plugin API {report.plugin_api!r}; this Tessera offers plugin API {PLUGIN_API}"
                    if report.plugin_api is not None else
                    f"it declares no PLUGIN_API (this Tessera offers plugin API {PLUGIN_API})")
            host.current = entry.name
            try:
                install(platform)
            finally:
                host.current = None
    except PluginRefused as refusal:
        report.status, report.error = "refused", str(refusal)
    except Exception as error:  # any failure of a plugin is its own: reported, not raised
        report.status = "failed"
        report.error = f"{type(error).__name__}: {error}"
        log.error("plugin %s failed to install:\n%s", entry.name, "".join(traceback.format_exception(error)))
    if report.status != "loaded":
        forget(entry.name)
        host.forget(entry.name)
        platform.hooks.points.clear()
        platform.hooks.points.update(hooks)
        platform.events.subscriptions = subscriptions
        log.error("plugin %s not installed: %s", entry.name, report.error)
        return report
    report.provides = [*registered_by(entry.name), *host.added_by(entry.name)]
    log.info("plugin %s %s installed", entry.name, report.version or "")
    return report


def _declared_api(install: Any) -> Any:
    """The plugin API the plugin declares: `PLUGIN_API` of the install's module (or the
    module itself, when the entry point names a module)."""
    if hasattr(install, "PLUGIN_API"):
        return install.PLUGIN_API
    module = sys.modules.get(getattr(install, "__module__", "") or "")
    return getattr(module, "PLUGIN_API", None)
