"""The app templates page for admins (`/builder/apps`): install, upgrade, customizations,
review list, export and uninstall of app templates (the technical word is *package*; see
`tessera.packages`).

- `/builder/apps`: the templates installed (version, dates, how many customizations and
  conflicts to review, Upgrade, Export, Uninstall) and those available (the bundled ones as
  cards, and "Upload a template (.zip)").
- `/builder/apps/install?source=` (a bundled template) or a zip posted to
  `/builder/apps/install`, and `/builder/apps/{name}/upgrade[?source=]`: the plan first —
  what will be created and changed, the schema changes, the sample records, every problem
  at its file and place; for an upgrade each changed property in three columns (the
  template before, the template now, yours) — then Install / Upgrade runs the job, whose
  progress `/builder/apps/jobs/{id}` shows (htmx polls it) with links to what it made.
- `/builder/apps/{name}/customizations`: what the customer changed per document, the
  template's value beside theirs, who and when, *Reset to template* per property or document.
- `/builder/apps/{name}/review`: the conflicts an upgrade left, three columns, *Keep mine*
  or *Take template's* one by one or all at once.
- `/builder/apps/{name}/export[?layer_only=1]` (a zip), `/builder/apps/{name}/uninstall`
  (what goes to the trash, or why it cannot go, then the job).

Pages only parse, call the package service (`platform.packages`) and render; the values
in the three columns are shown as people read them (labels, short JSON), never as Python.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, TesseraError
from tessera.meta.model import english_plural
from tessera.packages.files import EXTENSIONS, ROLES, TEAMS, Package, read_zip
from tessera.packages.merge import ABSENT, IDENTITY, Clash, get_at
from tessera.packages.plan import Plan, Step, comparable, label_path, version_key
from tessera.packages.service import JOB_KIND, Source
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render

router = APIRouter(prefix="/builder/apps", include_in_schema=False)

#: What happens to a document, in the admin's words.
ACTIONS = {"create": "New", "update": "Changed", "unchanged": "No change", "remove": "Goes to the trash",
           "keep": "Kept as yours", "extend": "Fields added", "pending": "Waits for another template",
           "grant": "Gains the template's new objects"}
#: The same, counted: "4 new", "2 changed".
COUNTED = {"create": "new", "update": "changed", "unchanged": "unchanged", "remove": "to the trash",
           "keep": "kept as yours", "extend": "given fields", "pending": "waiting for another template",
           "grant": "given access"}
#: What a finished job did to so many documents: "4 documents created".
DONE = {"create": "created", "update": "changed", "unchanged": "left as they were", "remove": "moved to the trash",
        "keep": "kept as yours", "extend": "given new fields", "pending": "waiting for another template",
        "grant": "given access to new objects"}
#: A job's progress messages in the admin's words.
STAGES = {"checking the package": "Checking the template", "applying metadata and schema":
          "Creating and changing objects, fields and documents", "loading sample records": "Adding sample records"}
#: Why a property is on the review list.
REASONS = {"both_changed": "You and the template both changed it: yours stays.",
           "package_removed_yours_changed": "The template removed it, but you had changed it: yours stays.",
           "you_removed_package_changed": "You removed it, but the template changed it: it stays removed."}
#: Where a document of each kind is opened ({name} is its api_name, {object} its object).
OPEN = {"apps": "/app?app={name}", "dashboards": "/dashboards/{name}", "reports": "/builder/reports/{name}",
        "flows": "/builder/flows/{name}", "rules": "/builder/rules/{name}",
        "conversions": "/builder/conversions/{name}", "calendars": "/builder/calendars/{name}",
        "sla_policies": "/builder/sla/{name}", "forms": "/builder/objects/{object}/form?form={name}"}
#: What joins the steps of a place in words (a right angle quote, as the package service writes them).
STEP = " \u203a "
#: How long a value is shown in a column before the rest is folded away.
SHORT = 120


async def admin(request: Request) -> Actor:
    """Only admins install, upgrade, export and uninstall templates."""
    who = await deps.confirmed_actor(request)
    if not who.is_admin:
        raise Forbidden("Only admins install, upgrade, export and uninstall app templates.")
    return who


# -- values as people read them ----------------------------------------------------------------


def _without_uids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_uids(v) for k, v in value.items() if k != "uid"}
    if isinstance(value, list):
        return [_without_uids(v) for v in value]
    return value


def _name_of(value: Mapping[str, Any]) -> str | None:
    for key in ("label", "name", "api_name", "field", "value"):
        if isinstance(value.get(key), str) and value[key]:
            return str(value[key])
    return None


def compact(value: Any) -> str:
    """An object or a list in short words, JSON without its quotes and in the order of its
    keys (the same on both databases): a form's sections are `Account (columns: [fields:
    [name, region]])`; an element named by its identity (`{"field": "name"}`) is its name."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in IDENTITY:
            return compact(next(iter(value.values())))
        name = value.get("label") if isinstance(value.get("label"), str) else None
        rest = ", ".join(f"{k}: {compact(v)}" for k, v in sorted(value.items()) if k != "label" or name is None)
        return f"{name} ({rest})" if name and rest else name or rest or "{}"
    if isinstance(value, list):
        return "[" + ", ".join(compact(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value is None else str(value)


def _cut(text: str) -> str:
    return text if len(text) <= SHORT else text[:SHORT - 1] + "…"


def shown(value: Any) -> dict[str, Any]:
    """A value for one column: `text` (words), `code` (an object or a list in short),
    `full` (all of it as JSON, when `code` had to be cut) and `absent` (nothing there)."""
    if value is None or value is ABSENT:
        return {"text": "—", "absent": True}
    if isinstance(value, bool):
        return {"text": "Yes" if value else "No"}
    if isinstance(value, int | float):
        return {"text": str(value)}
    if isinstance(value, str):
        return {"text": value} if value else {"text": "(blank)", "absent": True}
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return {"text": ", ".join(str(v) for v in value) if value else "(none)"}
    plain = _without_uids(value)
    out: dict[str, Any] = {}
    if isinstance(plain, dict) and (name := _name_of(plain)):
        out["text"] = name
        rest = {k: v for k, v in plain.items() if k != "label" and v != name}
        text = ", ".join(f"{k}: {compact(v)}" for k, v in sorted(rest.items()))
    else:
        text = compact(plain)
    if text:
        out["code"] = _cut(text)
    if len(text) > SHORT:
        out["full"] = json.dumps(plain, ensure_ascii=False, indent=2, sort_keys=True)
    return out


def _names_in(items: Any) -> dict[Any, str]:
    """Element identity → its name, for the elements of a list (to show an order by names)."""
    out: dict[Any, str] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and (name := _name_of(item)):
                for key in IDENTITY:
                    if key in item and isinstance(item[key], str | int):
                        out.setdefault(item[key], name)
    return out


def place(body: Any, pointer: str) -> str:
    """A JSON pointer in words, naming the elements it passes through where the document is
    known: `/fields/1/label` of an object is "field Region, then label" (joined by STEP);
    "field 2, then label" where it is not."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/") if t]
    if not tokens:
        return "the whole file"
    words: list[str] = []
    holder = body
    for token in tokens:
        if token.isdigit() and words:
            index = int(token)
            item = holder[index] if isinstance(holder, list) and index < len(holder) else None
            name = _name_of(item) if isinstance(item, dict) else None
            noun = words.pop()
            noun = {"depends": "dependency", "enhances": "enhanced template", "data": "record"}.get(
                noun, noun.removesuffix("s"))
            words.append(f"{noun} {name}" if name else f"{noun} {index + 1}")
            holder = item
        else:
            words.append(token.replace("_", " "))
            holder = holder.get(token) if isinstance(holder, dict) else None
    return STEP.join(words)


def bodies_of(package: Package | None = None, content: bytes | None = None) -> dict[str, Any]:
    """The files of a package (or, best effort, of an uploaded zip that could not be read as
    one) by path, to name the elements a problem is in."""
    out: dict[str, Any] = {}
    if package is not None:
        out["manifest.json"] = package.manifest
        for item in (*package.documents, *package.extensions, *package.data):
            out[item.path] = item.body
    elif content is not None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
            names = [n for n in archive.namelist() if n.endswith(".json")]
            top = {n.split("/", 1)[0] for n in names}
            prefix = f"{next(iter(top))}/" if "manifest.json" not in names and len(top) == 1 else ""
            for name in names:
                info = archive.getinfo(name)
                if info.file_size <= 5 * 1024 * 1024:
                    with contextlib.suppress(ValueError):
                        out[name.removeprefix(prefix)] = json.loads(archive.read(name).decode("utf-8-sig"))
        except (zipfile.BadZipFile, OSError, ValueError, KeyError):
            return {}
    return out


def problems_view(problems: Iterable[FieldProblem | Mapping[str, Any]],
                  bodies: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
    """Problems with their file and their place in it, in words."""
    out = []
    for found in problems:
        data = found.as_json() if isinstance(found, FieldProblem) else dict(found)
        file = str(data.get("file") or "")
        pointer = str(data.get("field") or "/")
        out.append({"file": file, "place": place((bodies or {}).get(file), pointer), "pointer": pointer,
                    "message": str(data.get("message") or "")})
    return out


# -- the plan ----------------------------------------------------------------------------------


def kind_labels(rt: Platform) -> dict[str, str]:
    labels = {k["name"]: str(k["label"]) for k in rt.documents.kinds()}
    labels[EXTENSIONS] = "Fields on another object"
    labels[ROLES] = "Role"
    labels[TEAMS] = "Team"
    return labels


def _current(rt: Platform, kind: str, api_name: str) -> dict[str, Any] | None:
    """A document as it runs now (None when it is not there)."""
    try:
        return rt.metadata.get_object(api_name) if kind == "objects" else rt.documents.get(kind, api_name)
    except TesseraError:
        return None


def _under(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether one path is the other or inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _column_values(path: tuple[Any, ...], values: dict[str, Any], docs: Iterable[Any]) -> dict[str, Any]:
    """Each column's value shown; an order of elements by their names."""
    if path and path[-1] == "order":
        names: dict[Any, str] = {}
        for doc in docs:
            names.update(_names_in(get_at(doc, path[:-1])))
        values = {k: [names.get(i, i) for i in v] if isinstance(v, list) else v for k, v in values.items()}
    return {k: shown(v) for k, v in values.items()}


def upgrade_changes(step: Step) -> list[dict[str, Any]]:
    """What the new version changes in one document, property by property: the template
    before, the template now, yours, and what the upgrade does with it."""
    rows: list[dict[str, Any]] = []
    used: set[int] = set()
    if step.action != "unchanged":
        for path, before, now, yours in step.changes:
            clash = next((n for n, c in enumerate(step.clashes) if _under(tuple(c.path), path)), None)
            if clash is not None:
                used.add(clash)
                outcome, tone = "Yours stays; on the review list", "conflict"
            elif yours == now:
                outcome, tone = "Already the same", "same"
            elif before is ABSENT:
                outcome, tone = "Added", "take"
            elif now is ABSENT:
                outcome, tone = _dropped(path), "take"
            elif yours == before:
                outcome, tone = "Takes the template's", "take"
            else:
                outcome, tone = "Merged with yours", "take"
            rows.append({"label": label_path(step, path), "outcome": outcome, "tone": tone,
                         **_column_values(path, {"before": before, "now": now, "yours": yours},
                                          (step.base, step.body))})
    for n, clash in enumerate(step.clashes):
        if n not in used:
            rows.append(_clash_row(step, clash))
    return rows


def _dropped(path: tuple[Any, ...]) -> str:
    """What an upgrade does with an element the new version no longer has (fields and
    options are kept for their data; see plan._deprecate)."""
    if len(path) == 2 and path[0] == "fields":
        return "No longer in the template: kept, hidden and read-only, with its data"
    if len(path) == 4 and path[0] == "fields" and path[2] == "options":
        return "No longer in the template: kept for the values that use it, no longer offered"
    return "Removed, as in the template"


def _clash_row(step: Step, clash: Clash) -> dict[str, Any]:
    whole = f"{step.label or step.api_name} (the whole document)"
    return {"label": label_path(step, clash.path) if clash.path else whole,
            "outcome": REASONS.get(clash.reason, "Yours stays; on the review list"), "tone": "conflict",
            **_column_values(tuple(clash.path), {"before": clash.base, "now": clash.package, "yours": clash.yours}, ())}


def extension_changes(step: Step) -> list[dict[str, Any]]:
    """The fields an extension adds to another template's object (and its conflicts)."""
    rows = []
    for fdoc in (step.body or {}).get("fields", []):
        name = fdoc.get("label") or fdoc.get("api_name")
        rows.append({"label": f"{step.label}{STEP}field {name}", "outcome": "Added", "tone": "take",
                     "before": shown(None), "now": shown(fdoc), "yours": shown(None)})
    return rows + [_clash_row(step, c) for c in step.clashes]


def _schema_line(line: str, labels: Mapping[str, str]) -> str:
    """`create table account (name, region)` → New table for Account: name, region."""
    if found := re.fullmatch(r"create table (\w+) \((.*)\)", line):
        name = found.group(1)
        return f"New table for {labels.get(name, name)} ({name}) with columns {found.group(2) or 'none'}"
    if found := re.fullmatch(r"add column (\w+)\.(\w+)", line):
        name = found.group(1)
        return f"New column {found.group(2)} on {labels.get(name, name)} ({name})"
    return line


def plan_view(rt: Platform, me: Actor, plan: Plan) -> dict[str, Any]:
    """The plan as the page shows it."""
    data = plan.as_json()
    kinds = kind_labels(rt)
    labels = {s.api_name: s.label for s in plan.steps if s.kind == "objects"}
    labels |= {o["api_name"]: o["label"] for o in rt.metadata.list_objects() if o["api_name"] not in labels}
    documents = []
    for step in plan.steps:
        changes: list[dict[str, Any]] = []
        if step.kind == EXTENSIONS:
            changes = extension_changes(step) if step.action == "extend" else []
        elif plan.action == "upgrade":
            changes = upgrade_changes(step)
        for row in changes:  # within the document's own section, its name need not be repeated
            short = str(row["label"]).removeprefix(f"{step.label or step.api_name}{STEP}")
            row["short"] = short[:1].upper() + short[1:]
        documents.append({"kind": kinds.get(step.kind, step.kind), "label": step.label or step.api_name,
                          "api_name": step.api_name, "file": step.path, "action": step.action,
                          "action_text": ACTIONS.get(step.action, step.action), "notes": step.notes,
                          "changes": changes, "conflicts": len(step.clashes)})
    counts = [(n, COUNTED.get(action, action)) for action, n in data["summary"].items()]
    records = [{"file": d["file"], "object": labels.get(d["object"], d["object"]), "records": d["records"]}
               for d in data["data"]]
    return {"action": plan.action, "from_version": plan.from_version, "digest": plan.digest,
            "documents": documents, "counts": counts, "conflicts": len(data["conflicts"]),
            "schema": [_schema_line(s, labels) for s in data["schema"]], "data": records,
            "records": sum(d["records"] for d in data["data"]),
            "problems": problems_view(plan.problems, bodies_of(plan.package)),
            "changes_anything": plan.changes_anything}


# -- reading what is asked ----------------------------------------------------------------------


class Asked:
    """The template a form names: a bundled one (`source`) or an uploaded zip (`content`,
    carried base64 from the plan to Install so the two are the same bytes)."""

    def __init__(self, source: str | None = None, content: bytes | None = None, filename: str = "") -> None:
        self.source = source
        self.content = content
        self.filename = filename

    @property
    def encoded(self) -> str:
        return base64.b64encode(self.content).decode() if self.content is not None else ""

    def read(self, rt: Platform) -> Package:
        return rt.packages.read(Source(name=self.source) if self.content is None else Source(content=self.content))


async def _asked(request: Request) -> tuple[Asked, Any]:
    form = await request.form()
    upload = form.get("file")
    if upload is not None and not isinstance(upload, str):
        content = await upload.read()
        if not content:
            raise InvalidInput("Choose a .zip file of a template.", [FieldProblem("/file", "no file was chosen",
                                                                                  "required")])
        return Asked(content=content, filename=upload.filename or "template.zip"), form
    if encoded := str(form.get("content") or ""):
        try:
            return Asked(content=base64.b64decode(encoded, validate=True),
                         filename=str(form.get("filename") or "")), form
        except (binascii.Error, ValueError):
            raise InvalidInput("The uploaded template was damaged on the way; upload it again.",
                               [FieldProblem("/file", "is not the file uploaded", "damaged")]) from None
    if source := str(form.get("source") or ""):
        return Asked(source=source), form
    raise InvalidInput("Choose a .zip file of a template.", [FieldProblem("/file", "no file was chosen", "required")])


# -- the templates page -----------------------------------------------------------------------


def template_cards(available: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bundled templates, one card per template (its versions newest first)."""
    cards: dict[str, dict[str, Any]] = {}
    for found in available:
        card = cards.setdefault(str(found["name"]), {"name": found["name"], "versions": [], "problems": []})
        if found.get("problems"):
            card["problems"] += [{"source": found["source"], **p} for p in problems_view(found["problems"])]
            continue
        card["versions"].append(found)
    out = []
    for card in cards.values():
        card["versions"].sort(key=lambda v: version_key(str(v["version"])), reverse=True)
        newest = card["versions"][0] if card["versions"] else {}
        have = newest.get("installed_version")
        out.append({**card, "newest": newest, "title": newest.get("title") or card["name"], "installed_version": have,
                    "newer": bool(have and version_key(str(newest["version"])) > version_key(str(have)))})
    return sorted(out, key=lambda c: str(c["title"]).lower())


def _page(request: Request, me: Actor, rt: Platform, *, status: int = 200, flash: dict[str, str] | None = None,
          upload: dict[str, Any] | None = None) -> HTMLResponse:
    """The templates page; `upload` is a refused upload: {"for": "" or a template's name,
    "problems": [...]} shown beside that file input."""
    installed = rt.packages.installed()
    available = rt.packages.available()
    titles = {str(a["name"]): str(a.get("title") or a["name"]) for a in available}
    titles |= {p["name"]: p["title"] for p in installed}
    for item in installed:
        item["upgrades"] = sorted(
            [a for a in available if a.get("name") == item["name"] and not a.get("problems")
             and version_key(str(a["version"])) > version_key(str(item["version"]))],
            key=lambda a: version_key(str(a["version"])), reverse=True)
        item["depends_titles"] = [titles.get(d, d) for d in item["depends"]]
        item["pending_titles"] = [titles.get(d, d) for d in item["pending_extensions"]]
    response = render(request, "packages/index.html", status=status, me=me, installed=installed,
                      cards=template_cards(available), flash=flash, upload=upload or {})
    if request.method == "POST":
        response.headers["HX-Push-Url"] = "/builder/apps"
    return response


@router.get("", response_class=HTMLResponse)
def templates_page(request: Request, me: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> Response:
    return _page(request, me, rt)


# -- plan, install, upgrade ------------------------------------------------------------------


def _plan_page(request: Request, me: Actor, rt: Platform, asked: Asked, package: Package, *, upgrade: bool,
               sample_data: bool = True, status: int = 200, flash: dict[str, str] | None = None) -> HTMLResponse:
    plan = rt.packages.plan(me, package, upgrade=upgrade, sample_data=True)
    installed = next((p for p in rt.packages.installed() if p["name"] == package.name), None)
    response = render(request, "packages/plan.html", status=status, me=me, package=package,
                      manifest=package.manifest, plan=plan_view(rt, me, plan), asked=asked, upgrade=upgrade,
                      sample_data=sample_data, flash=flash, installed=installed)
    if request.method == "POST":  # a reload goes back to where the template was chosen
        response.headers["HX-Push-Url"] = "false"
    return response


def _refused_upload(request: Request, me: Actor, rt: Platform, error: TesseraError, target: str,
                    asked: Asked | None = None) -> HTMLResponse:
    problems = problems_view(error.errors, bodies_of(content=asked.content if asked else None))
    return _page(request, me, rt, status=error.status, upload={"for": target, "detail": error.detail,
                                                               "problems": problems})


@router.get("/install", response_class=HTMLResponse)
def install_plan(request: Request, source: str = "", me: Actor = Depends(admin),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """The plan of installing a bundled template."""
    if not source:
        return RedirectResponse("/builder/apps", status_code=303)
    asked = Asked(source=source)
    package = asked.read(rt)
    installed = {p["name"]: p["version"] for p in rt.packages.installed()}
    have = installed.get(package.name)
    if have is not None and have != package.version and version_key(package.version) > version_key(have):
        return RedirectResponse(f"/builder/apps/{package.name}/upgrade?source={source}", status_code=303)
    return _plan_page(request, me, rt, asked, package, upgrade=False)


@router.post("/install", response_class=HTMLResponse)
async def upload_plan(request: Request, me: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> Response:
    """The plan of installing an uploaded zip (or of upgrading to it, when an older version
    of the same template is installed)."""
    try:
        asked, _ = await _asked(request)
    except InvalidInput as error:
        return _refused_upload(request, me, rt, error, "")
    try:
        package = asked.read(rt)
    except (InvalidInput, NotFound) as error:
        return _refused_upload(request, me, rt, error, "", asked)
    installed = {p["name"]: p for p in rt.packages.installed()}
    have = installed.get(package.name)
    if have is not None and have["version"] != package.version \
            and version_key(package.version) > version_key(str(have["version"])):
        flash = {"kind": "info", "text": f"{have['title']} {have['version']} is installed: this is the plan to "
                                         f"upgrade it to {package.version}."}
        return _plan_page(request, me, rt, asked, package, upgrade=True, flash=flash)
    return _plan_page(request, me, rt, asked, package, upgrade=False)


@router.get("/{name}/upgrade", response_class=HTMLResponse)
def upgrade_plan(name: str, request: Request, source: str = "", me: Actor = Depends(admin),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """The plan of upgrading to a bundled newer version."""
    have = rt.packages.get(name)
    if not source:
        return RedirectResponse("/builder/apps", status_code=303)
    asked = Asked(source=source)
    package = asked.read(rt)
    if package.name != name:
        raise NotFound(f"The bundled template {source} is {package.title}, not a version of {have['title']}.")
    return _plan_page(request, me, rt, asked, package, upgrade=True)


@router.post("/{name}/upgrade", response_class=HTMLResponse)
async def upgrade_upload(name: str, request: Request, me: Actor = Depends(admin),
                         rt: Platform = Depends(deps.runtime)) -> Response:
    """The plan of upgrading to an uploaded zip of the template's new version."""
    have = rt.packages.get(name)
    try:
        asked, _ = await _asked(request)
    except InvalidInput as error:
        return _refused_upload(request, me, rt, error, name)
    try:
        package = asked.read(rt)
        if package.name != name:
            raise InvalidInput(f"This zip holds the template {package.title} ({package.name}), not {have['title']}.",
                               [FieldProblem("/name", f"is {package.name}, not {name}", "other_template",
                                             detail={"file": "manifest.json"})])
    except (InvalidInput, NotFound) as error:
        return _refused_upload(request, me, rt, error, name, asked)
    return _plan_page(request, me, rt, asked, package, upgrade=True)


@router.post("/apply", response_class=HTMLResponse)
async def apply(request: Request, me: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> Response:
    """Install or upgrade as the plan the admin saw said: refused with the new plan when the
    metadata moved since, with the problems when there are any."""
    asked, form = await _asked(request)
    upgrade = str(form.get("action")) == "upgrade"
    sample_data = bool(form.get("sample_data")) and not upgrade
    package = asked.read(rt)
    try:
        job, _ = rt.packages.submit(me, package, upgrade=upgrade, sample_data=sample_data,
                                    expected_plan=str(form.get("plan") or "") or None)
    except Conflict as error:
        flash = {"kind": "error", "text": "The metadata changed since you looked at the plan; this is the plan "
                                          "as it is now. Check it, then press the button again."}
        return _plan_page(request, me, rt, asked, package, upgrade=upgrade, sample_data=sample_data,
                          status=error.status, flash=flash)
    except InvalidInput as error:
        return _plan_page(request, me, rt, asked, package, upgrade=upgrade, sample_data=sample_data,
                          status=error.status, flash={"kind": "error", "text": error.detail})
    return _go(request, f"/builder/apps/jobs/{job}")


# -- jobs --------------------------------------------------------------------------------------


def _job(rt: Platform, me: Actor, job_id: int) -> dict[str, Any]:
    job = rt.jobs.get(me, job_id)
    if job["kind"] != JOB_KIND:
        raise NotFound(f"Job {job_id} is not an install, upgrade or uninstall of a template.")
    return job


def made_links(rt: Platform, made: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Links to what a template holds: its objects' records, its app, dashboards, reports…
    (`made`: the documents the job's result lists)."""
    objects = {o["api_name"]: o for o in rt.metadata.list_objects()}
    kinds = kind_labels(rt)
    links = []
    for item in sorted(made, key=lambda m: (m.get("kind") not in ("apps", "objects"), str(m.get("kind")),
                                            str(m.get("api_name")))):
        kind, name = str(item.get("kind") or ""), str(item.get("api_name") or "")
        if not name:
            continue
        if kind == "objects":
            found = objects.get(name)
            if found is None:
                continue
            plural = found.get("plural_label") or english_plural(str(found["label"]))
            links.append({"kind": kinds["objects"], "label": str(plural),
                          "href": f"/app/{name}", "builder": f"/builder/objects/{name}"})
        elif kind in OPEN:
            links.append({"kind": kinds.get(kind, kind), "label": str(item.get("label") or name),
                          "href": OPEN[kind].format(name=name, object=item.get("object") or "")})
    return links


def job_view(rt: Platform, me: Actor, job: dict[str, Any]) -> dict[str, Any]:
    params = job.get("params") or {}
    action = str(params.get("action") or "install")
    message = str(job["message"] or "waiting to start")
    view: dict[str, Any] = {"id": job["id"], "title": job["title"], "status": job["status"], "action": action,
                            "percent": job["percent"], "message": STAGES.get(message, message),
                            "error": job["error"], "finished": job["status"] in ("succeeded", "failed", "cancelled")}
    result = job.get("result") or {}
    if job["status"] == "succeeded" and action in ("install", "upgrade"):
        name = str(result.get("package") or "")
        view["links"] = made_links(rt, list(result.get("made") or []))
        view["documents"] = [f"{n} document{'' if n == 1 else 's'} {DONE.get(a, a)}"
                             for a, n in (result.get("documents") or {}).items()]
        view["records"] = int(result.get("records") or 0)
        try:
            view["package"] = rt.packages.get(name)
        except NotFound:
            view["package"] = None
    elif job["status"] == "succeeded":
        view["removed"] = int(result.get("removed") or 0)
    return view


@router.get("/jobs/{job_id:int}", response_class=HTMLResponse)
def job_page(job_id: int, request: Request, me: Actor = Depends(admin),
             rt: Platform = Depends(deps.runtime)) -> Response:
    """An install, upgrade or uninstall under way, then what it did."""
    return render(request, "packages/job.html", me=me, job=job_view(rt, me, _job(rt, me, job_id)))


@router.get("/jobs/{job_id:int}/progress", response_class=HTMLResponse)
def job_progress(job_id: int, request: Request, me: Actor = Depends(admin),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """The progress fragment the job page polls until the job has finished; then the whole
    page again, so its menu shows the objects and apps the template brought."""
    job = job_view(rt, me, _job(rt, me, job_id))
    if job["finished"] and request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return render(request, "packages/_progress.html", me=me, job=job)


# -- customizations ----------------------------------------------------------------------------


def _people(rt: Platform, ids: Iterable[Any]) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for user_id in {i for i in ids if isinstance(i, int)}:
        try:
            found = rt.users.accounts.get(user_id)
            out[user_id] = str(found.get("name") or found.get("email"))
        except NotFound:
            out[user_id] = f"user {user_id}"
    return out


def customizations_view(rt: Platform, me: Actor, name: str) -> list[dict[str, Any]]:
    found = rt.packages.customizations(me, name)
    kinds = kind_labels(rt)
    people = _people(rt, (c.get("by") for d in found for c in d["changes"]))
    out = []
    for doc in found:
        changes = []
        current = comparable(doc["kind"], _current(rt, doc["kind"], doc["api_name"]) or {})
        for change in doc["changes"]:
            path = tuple(change.get("path") or ())
            values = _column_values(path, {"package": change.get("package"), "yours": change.get("yours")},
                                    (current,))
            changes.append({"label": change["label"], "change": change.get("change", "changed"),
                            "path": json.dumps(list(path), ensure_ascii=False), "whole": not path,
                            "by": people.get(change.get("by")) if change.get("by") is not None else None,
                            "at": change.get("at"), **values})
        out.append({"kind": doc["kind"], "kind_label": kinds.get(doc["kind"], doc["kind"]), "label": doc["label"],
                    "api_name": doc["api_name"], "state": doc.get("state", "active"), "changes": changes})
    return out


def _customizations(request: Request, me: Actor, rt: Platform, name: str, *, status: int = 200,
                    flash: dict[str, str] | None = None, refused: dict[str, str] | None = None) -> HTMLResponse:
    package = rt.packages.get(name)
    documents = customizations_view(rt, me, name)
    if refused and not any(f"{d['kind']}/{d['api_name']}" == refused.get("key") for d in documents):
        flash = {"kind": "error", "text": refused["text"]}  # nowhere beside to say it
    response = render(request, "packages/customizations.html", status=status, me=me, package=package,
                      documents=documents, flash=flash, refused=refused or {})
    if request.method == "POST":
        response.headers["HX-Push-Url"] = f"/builder/apps/{name}/customizations"
    return response


@router.get("/{name}/customizations", response_class=HTMLResponse)
def customizations_page(name: str, request: Request, me: Actor = Depends(admin),
                        rt: Platform = Depends(deps.runtime)) -> Response:
    """What was changed in the template's documents since it was installed or upgraded."""
    return _customizations(request, me, rt, name)


@router.post("/{name}/customizations/reset", response_class=HTMLResponse)
async def reset(name: str, request: Request, me: Actor = Depends(admin),
                rt: Platform = Depends(deps.runtime)) -> Response:
    """Put one property, or a whole document, back to the template's value."""
    form = await request.form()
    kind, api_name = str(form.get("kind") or ""), str(form.get("api_name") or "")
    label = str(form.get("label") or api_name)
    try:
        try:
            path = json.loads(str(form.get("path") or "[]"))
        except ValueError:
            path = None
        if not isinstance(path, list):  # never taken for "the whole document"
            raise InvalidInput("The property to reset was not understood; reload the page and try again.",
                               [FieldProblem("/path", "is not a path", "invalid")])
        rt.packages.reset(me, name, api_name, kind, path or None)  # settles the conflicts there too
    except (InvalidInput, NotFound, Conflict) as error:
        reasons = "; ".join(p.message for p in error.errors)
        text = f"{error.detail.rstrip('.')}: {reasons}." if reasons else error.detail
        return _customizations(request, me, rt, name, status=error.status,
                               refused={"key": f"{kind}/{api_name}", "text": text})
    done = f"{label} is back to the template's value." if path else f"{label}: every change is back to the template."
    return _customizations(request, me, rt, name, flash={"kind": "ok", "text": done})


# -- the review list ---------------------------------------------------------------------------


def conflict_view(found: Mapping[str, Any]) -> dict[str, Any]:
    values = {"before": found.get("base"), "now": found.get("package"), "yours": found.get("yours")}
    return {"id": found["id"], "label": found.get("label") or "", "version": found.get("version"),
            "at": found.get("at"), "status": found.get("status"),
            "reason": REASONS.get(str(found.get("reason")), ""),
            **_column_values(tuple(found.get("path") or ()), values, ())}


def _review(request: Request, me: Actor, rt: Platform, name: str, *, status: int = 200,
            flash: dict[str, str] | None = None, left: Mapping[int, str] | None = None) -> HTMLResponse:
    package = rt.packages.get(name)
    open_ = [conflict_view(c) for c in rt.packages.conflicts(me, name)]
    resolved = [conflict_view(c) for s in ("taken", "kept") for c in rt.packages.conflicts(me, name, status=s)]
    resolved.sort(key=lambda c: int(c["id"]), reverse=True)
    response = render(request, "packages/review.html", status=status, me=me, package=package, conflicts=open_,
                      resolved=resolved, flash=flash, left=left or {})
    if request.method == "POST":
        response.headers["HX-Push-Url"] = f"/builder/apps/{name}/review"
    return response


@router.get("/{name}/review", response_class=HTMLResponse)
def review_page(name: str, request: Request, me: Actor = Depends(admin),
                rt: Platform = Depends(deps.runtime)) -> Response:
    """What the upgrades changed where the admin had changed it too: keep theirs or take the template's."""
    return _review(request, me, rt, name)


@router.post("/{name}/review", response_class=HTMLResponse)
async def resolve_all(name: str, request: Request, me: Actor = Depends(admin),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    choice = str(form.get("choice") or "")
    try:
        done = rt.packages.resolve_all(me, name, choice)
    except InvalidInput as error:
        return _review(request, me, rt, name, status=error.status, flash={"kind": "error", "text": error.detail})
    words = "kept as yours" if choice == "keep" else "set to the template's value"
    count = len(done["resolved"])
    text = f"{count} conflict{'' if count == 1 else 's'} resolved: {words}."
    if done["left"]:
        text += f" {len(done['left'])} could not be resolved; see beside them."
    return _review(request, me, rt, name, flash={"kind": "ok" if not done["left"] else "error", "text": text},
                   left={int(i["id"]): str(i["error"]) for i in done["left"]})


@router.post("/{name}/review/{conflict_id:int}", response_class=HTMLResponse)
async def resolve(name: str, conflict_id: int, request: Request, me: Actor = Depends(admin),
                  rt: Platform = Depends(deps.runtime)) -> Response:
    form = await request.form()
    choice = str(form.get("choice") or "")
    label = next((c["label"] for c in rt.packages.conflicts(me, name) if c["id"] == conflict_id), None)
    if label is None:  # resolved already (another tab): choosing again would only relabel it
        return _review(request, me, rt, name, status=409,
                       flash={"kind": "error", "text": "That conflict was resolved already; this is the list now."})
    try:
        rt.packages.resolve(me, name, conflict_id, choice)
    except (InvalidInput, Conflict) as error:
        return _review(request, me, rt, name, status=error.status, left={conflict_id: error.detail})
    words = "yours is kept" if choice == "keep" else "the template's value is taken"
    return _review(request, me, rt, name, flash={"kind": "ok", "text": f"{label}: {words}."})


# -- export and uninstall ----------------------------------------------------------------------


@router.get("/{name}/export", response_class=Response)
def export(name: str, layer_only: bool = False, me: Actor = Depends(admin),
           rt: Platform = Depends(deps.runtime)) -> Response:
    """The template as it runs here (its documents with the changes made), or only the changes."""
    filename, content = rt.packages.export(me, name, layer_only=layer_only)
    return Response(content, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _uninstall_view(rt: Platform, me: Actor, name: str) -> dict[str, Any]:
    """What uninstalling takes away, by kind and label — or why it cannot be done."""
    package = rt.packages.get(name)
    try:
        rt.packages.uninstall(me, name, dry_run=True)
    except Conflict as error:
        titles = {p["name"]: p["title"] for p in rt.packages.installed()}
        others = [titles.get(d, d) for d in error.extra.get("dependents", [])]
        listed = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
        one = len(others) == 1
        refusal = (f"{package['title']} cannot be uninstalled while {listed} {'needs' if one else 'need'} it: "
                   f"{'it depends' if one else 'they depend'} on it or {'adds' if one else 'add'} fields to its "
                   f"objects. Uninstall {listed} first.")
        return {"package": package, "refusal": refusal, "groups": []}
    kinds = kind_labels(rt)
    groups: dict[str, list[str]] = {}
    try:
        _, content = rt.packages.export(me, name)
        shipped = read_zip(content, frozenset(kinds))
        for item in shipped.documents:
            groups.setdefault(kinds.get(item.kind, item.kind), []).append(
                str(item.body.get("label") or item.body.get("api_name") or item.uid))
        for item in shipped.extensions:
            groups.setdefault(kinds[EXTENSIONS], []).append(
                ", ".join(str(f.get("label") or f.get("api_name")) for f in item.body.get("fields", [])))
    except TesseraError:
        groups = {}
    return {"package": package, "refusal": None, "groups": sorted(groups.items())}


@router.get("/{name}/uninstall", response_class=HTMLResponse)
def uninstall_page(name: str, request: Request, me: Actor = Depends(admin),
                   rt: Platform = Depends(deps.runtime)) -> Response:
    """Asks first: what goes to the trash, or why it cannot go yet."""
    return render(request, "packages/uninstall.html", me=me, **_uninstall_view(rt, me, name))


@router.post("/{name}/uninstall", response_class=HTMLResponse)
def uninstall(name: str, request: Request, me: Actor = Depends(admin),
              rt: Platform = Depends(deps.runtime)) -> Response:
    try:
        done = rt.packages.uninstall(me, name)
    except Conflict:
        return render(request, "packages/uninstall.html", status=409, me=me, **_uninstall_view(rt, me, name))
    return _go(request, f"/builder/apps/jobs/{done['job']}")


def _go(request: Request, target: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
