"""The app menu: which apps a person may work in, which one they are in, and the objects
and dashboards the navigation shows for it.

An app is shown to someone when they may read one of its objects or it has a dashboard;
its objects are those they may read, in the app's order. Child objects (lines of another
object's records) are never listed: their records are reached through the parent. Objects in no app at all make the
group Other, after the apps. The app someone is in is the one they picked (kept by the
pages), unless the page they are on shows an object that app lacks: then it is the first
app holding that object, so the navigation always shows where they are. Without any app,
there is no menu and every object is listed.

The menu costs no query of its own: the objects come from the transaction's snapshot, and
the app and dashboard documents are read once per metadata revision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tessera.auth.actor import Actor
from tessera.meta.model import ObjectDef
from tessera.runtime.navigation.kinds import OTHER

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.access import AccessService

COLOURS = {"blue": "Blue", "green": "Green", "orange": "Orange", "purple": "Purple", "red": "Red", "teal": "Teal",
           "grey": "Grey"}


@dataclass(frozen=True)
class Dashboard:
    api_name: str
    label: str


@dataclass(frozen=True)
class App:
    """An app as one person sees it: only the objects they may read."""

    api_name: str
    label: str
    letter: str
    colour: str
    objects: tuple[ObjectDef, ...]
    dashboards: tuple[Dashboard, ...] = ()
    description: str = ""

    @property
    def is_other(self) -> bool:
        return self.api_name == OTHER


@dataclass(frozen=True)
class Menu:
    """The apps to pick from (Other last), the one the person is in, and every object they
    may read."""

    apps: tuple[App, ...]
    current: App
    readable: tuple[ObjectDef, ...]

    @property
    def switchable(self) -> bool:
        """Whether there is an app to pick (not only everything, or only Other)."""
        return any(not app.is_other for app in self.apps)


def arrange(documents: Iterable[Mapping[str, Any]], readable: Iterable[ObjectDef],
            dashboards: Mapping[str, str], chosen: str | None, showing: str | None) -> Menu:
    """The menu from the app documents, the objects the person may read (in the order the
    navigation lists objects of no app), the dashboards' labels by name, the app they
    picked and the object of the page they are on."""
    readable = tuple(readable)
    # A child object's records are lines of another's: they are reached through it, never
    # from a list of their own in the navigation.
    listed = tuple(o for o in readable if not o.is_child)
    by_name = {o.api_name: o for o in listed}
    docs = sorted(documents, key=lambda d: (int(d.get("order", 0)), str(d["label"]).lower(), d["api_name"]))
    apps = []
    for doc in docs:
        objects = tuple(by_name[name] for name in doc.get("objects", []) if name in by_name)
        boards = tuple(Dashboard(name, dashboards[name]) for name in doc.get("dashboards", []) if name in dashboards)
        if objects or boards:
            apps.append(App(doc["api_name"], doc["label"], _letter(doc), str(doc.get("colour") or "blue"),
                            objects, boards, str(doc.get("description") or "")))
    grouped = {name for doc in docs for name in doc.get("objects", [])}
    rest = tuple(o for o in listed if o.api_name not in grouped)
    if not apps:
        everything = App(OTHER, "Objects", "", "grey", listed)
        return Menu((), everything, readable)
    if rest:
        apps.append(App(OTHER, "Other", "…", "grey", rest, (), "Objects in no app"))
    current = next((a for a in apps if a.api_name == chosen), None)
    if showing is not None and (current is None or all(o.api_name != showing for o in current.objects)):
        current = next((a for a in apps if any(o.api_name == showing for o in a.objects)), current)
    return Menu(tuple(apps), current or apps[0], readable)


def _letter(doc: Mapping[str, Any]) -> str:
    return str(doc.get("letter") or str(doc["label"]).strip()[:1].upper() or "?")


class AppMenu:
    """Builds a person's app menu in the transaction of the page being rendered."""

    def __init__(self, kernel: Kernel, documents: DocumentService, access: AccessService) -> None:
        self.kernel = kernel
        self.documents = documents
        self.access = access

    def menu(self, actor: Actor, chosen: str | None = None, showing: str | None = None) -> Menu:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            readable = [o for o in snap.objects.values() if self.access.object(actor, snap, o).may("read")]
            apps = [d.body for d in self.documents.active(conn, snap, "apps")]
            named = any(doc.get("dashboards") for doc in apps)
            boards = {d.api_name: str(d.body.get("label") or d.api_name)
                      for d in self.documents.active(conn, snap, "dashboards")} if named else {}
        return arrange(apps, readable, boards, chosen, showing)

    def apps(self) -> list[dict[str, Any]]:
        """Every app document, in menu order (for the builder)."""
        found = self.documents.list("apps")
        return sorted(found, key=lambda d: (int(d.get("order", 0)), str(d["label"]).lower(), d["api_name"]))

    def move(self, actor: Actor, api_name: str, offset: int) -> None:
        """Move an app up (-1) or down (+1) in the menu: every app is given its place anew,
        in one transaction."""
        with self.kernel.write():
            ordered = self.apps()
            names = [d["api_name"] for d in ordered]
            if api_name not in names:
                self.documents.get("apps", api_name)  # raises: there is no such app
            index = names.index(api_name)
            target = max(0, min(len(names) - 1, index + offset))
            names.insert(target, names.pop(index))
            by_name = {d["api_name"]: d for d in ordered}
            for place, name in enumerate(names, start=1):
                if by_name[name].get("order") != place * 10:
                    self.documents.update(actor, "apps", name, {"order": place * 10})
