"""What a plugin adds beyond the platform's registries: API routes under
`/api/v1/plugins/{plugin}`, pages under `/plugins/{plugin}`, and app templates offered on
/builder/apps. Each is kept with the plugin that added it (the loader says who is
installing), so the app mounts them under that plugin's own prefix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.registry import DuplicateName


@dataclass
class PluginHost:
    #: The plugin being installed now (set by the loader), None outside a plugin's install.
    current: str | None = None
    #: (plugin, FastAPI router) of JSON routes, mounted under /api/v1/plugins/{plugin}.
    api_routes: list[tuple[str, Any]] = field(default_factory=list)
    #: (plugin, FastAPI router) of pages, mounted under /plugins/{plugin}.
    pages: list[tuple[str, Any]] = field(default_factory=list)
    #: Template folder name → (plugin, folder holding manifest.json).
    templates: dict[str, tuple[str, Path]] = field(default_factory=dict)

    def _owner(self, what: str) -> str:
        if self.current is None:
            raise RuntimeError(f"{what} can only be added by a plugin's install(platform)")
        return self.current

    def add_api_routes(self, router: Any) -> None:
        """JSON routes (a FastAPI `APIRouter`), served under /api/v1/plugins/{plugin} to
        signed-in callers; the routes authorize what they do themselves."""
        self.api_routes.append((self._owner("API routes"), router))

    def add_pages(self, router: Any) -> None:
        """Pages (a FastAPI `APIRouter` answering HTML), served under /plugins/{plugin}."""
        self.pages.append((self._owner("pages"), router))

    def add_template(self, folder: Path) -> None:
        """An app template shipped inside the plugin's distribution (a folder with its
        manifest.json), offered on /builder/apps like the bundled ones."""
        owner = self._owner("app templates")
        folder = Path(folder)
        if not (folder / "manifest.json").is_file():
            raise FileNotFoundError(f"{folder} holds no manifest.json")
        if folder.name in self.templates:
            raise DuplicateName(f"app template {folder.name!r} is already registered by plugin "
                                f"{self.templates[folder.name][0]!r}; plugin {owner!r} registers it too")
        self.templates[folder.name] = (owner, folder)

    def template_folders(self) -> dict[str, Path]:
        """Template folder name → folder, of every plugin's templates."""
        return {name: folder for name, (_, folder) in self.templates.items()}

    def forget(self, owner: str) -> list[str]:
        """Take out what `owner` added; what was removed."""
        removed = [f"API routes of {o}" for o, _ in self.api_routes if o == owner]
        removed += [f"pages of {o}" for o, _ in self.pages if o == owner]
        removed += [f"app template {n}" for n, (o, _) in self.templates.items() if o == owner]
        self.api_routes = [(o, r) for o, r in self.api_routes if o != owner]
        self.pages = [(o, r) for o, r in self.pages if o != owner]
        self.templates = {n: (o, p) for n, (o, p) in self.templates.items() if o != owner}
        return removed

    def added_by(self, owner: str) -> list[str]:
        out = [f"API routes /api/v1/plugins/{owner}" for o, _ in self.api_routes if o == owner][:1]
        out += [f"pages /plugins/{owner}" for o, _ in self.pages if o == owner][:1]
        out += [f"app template {n}" for n, (o, _) in self.templates.items() if o == owner]
        return out
