"""Plugins (/admin/plugins): each installed plugin with its version, whether it loaded (or
why not) and what it adds, and the metadata that needs something no installed plugin
provides — a field of a removed type, a formula naming a missing function, a rule or flow
naming a missing action — each with a link to where it is built. Read only, through the
plugin service (`PluginService.list`), as `GET /api/v1/plugins` and `tessera plugins list`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin.page import page

router = APIRouter()
#: A plugin's status in words.
STATUS_WORDS = {"loaded": "Loaded", "failed": "Failed", "refused": "Refused"}
#: Where a problem is, by the first part of its place: the builder page that changes it.
BUILT_IN = {"objects": ("/builder/objects/{name}", "Object {label}"),
            "rules": ("/builder/rules/{name}", "Rule {label}"),
            "flows": ("/builder/flows/{name}", "Flow {label}")}


def _where(objects: dict[str, Any], where: str) -> dict[str, Any]:
    """A problem's place (`objects/payee/fields/iban`) as a link to the builder page it is fixed on."""
    kind, _, rest = where.partition("/")
    name = rest.split("/")[0]
    if kind not in BUILT_IN or not name:
        return {"text": where, "href": None}
    href, words = BUILT_IN[kind]
    label = objects[name].label if kind == "objects" and name in objects else name
    return {"text": words.format(label=label), "href": href.format(name=name)}


def figure(rt: Platform, me: Actor) -> dict[str, Any]:
    """The overview's line for plugins: how many loaded, failed, and metadata problems."""
    answer = rt.plugins.list(me)
    loaded = sum(p["status"] == "loaded" for p in answer["plugins"])
    broken = len(answer["plugins"]) - loaded
    parts = [f"{loaded} loaded"] if answer["plugins"] else \
        ["None installed" if rt.settings.plugins else "Switched off"]
    if broken:
        parts.append(f"{broken} not loaded")
    if answer["problems"]:
        parts.append(f"{len(answer['problems'])} problem{'s' if len(answer['problems']) != 1 else ''}")
    return {"text": ", ".join(parts), "alert": bool(broken or answer["problems"])}


@router.get("/plugins", response_class=HTMLResponse)
def plugins_page(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    answer = rt.plugins.list(me)
    with rt.read() as conn:
        objects = rt.snapshot(conn).objects
    problems = [{**p, "place": _where(objects, p["where"])} for p in answer["problems"]]
    return page(request, "admin/plugins.html", "plugins", me=me, plugins=answer["plugins"], problems=problems,
                plugin_api=answer["plugin_api"], switched_on=rt.settings.plugins, status_words=STATUS_WORDS)
