"""Deciding what installing or upgrading a package does — pure: no database, no services.

`decide` is given the package, the base of the version installed now (if any), the
documents that run (by uid), the names in use and the packages installed, and returns the
`Plan`: for every document, create / update / leave / remove, the body to write, the new
base to keep, the clashes for the review list, the extensions to apply or hold, the sample
data to load, and every problem found. `apply.py` carries a plan out in one transaction.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tessera.errors import FieldProblem
from tessera.meta.documents import normalize_field, normalize_object
from tessera.packages.files import EXTENSIONS, ROLES, TEAMS, Package, PackageFile, problem, sha256
from tessera.packages.identity import ELEMENT_PREFIX, platform_uid, to_platform
from tessera.packages.merge import ABSENT, Clash, Path, diff, get_at, merge, set_at

#: Kinds are applied in this order, so what a document names exists before it (objects
#: first; a dashboard after its reports; an app after its dashboards).
KIND_ORDER = ("objects", "calendars", "sla_policies", "forms", "reports", "dashboards", "conversions", "flows",
              "rules", "apps")
#: Properties the platform keeps on a stored document that are nobody's change.
PLATFORM_KEPT = ("version", "trash")


@dataclass(frozen=True)
class Base:
    """A document as a version of a package shipped it (platform form)."""

    package: str
    kind: str
    uid: str
    author_uid: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Current:
    """A document as it runs now."""

    kind: str
    api_name: str
    state: str
    body: dict[str, Any]


@dataclass
class Step:
    """What happens to one document."""

    kind: str
    uid: str
    author_uid: str
    path: str
    api_name: str
    label: str
    action: str  # create | update | unchanged | remove | keep | extend | pending
    body: dict[str, Any] | None = None
    base: dict[str, Any] | None = None
    clashes: list[Clash] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What the package changes in this document since the version installed: (path,
    #: package before, package now, what runs here now).
    changes: list[tuple[Path, Any, Any, Any]] = field(default_factory=list)
    #: For `extend`: the package whose object the fields go on, and that object's uid.
    target: tuple[str, str] | None = None
    owner: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "uid": self.author_uid, "file": self.path,
                               "api_name": self.api_name, "label": self.label, "action": self.action}
        if self.notes:
            out["notes"] = self.notes
        if self.clashes:
            out["conflicts"] = [clash_json(self, c) for c in self.clashes]
        if self.changes:
            out["changes"] = [change_json(self, *c) for c in self.changes]
        return out


@dataclass
class Plan:
    package: Package
    action: str  # install | upgrade
    from_version: str | None
    steps: list[Step] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    ddl: list[str] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    #: sha256 of each document read (uid → digest, "" for absent) and the installed version:
    #: an apply whose reads differ from its plan's is refused (metadata moved in between).
    reads: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256({"reads": self.reads, "package": self.package.digest(), "from": self.from_version})[:32]

    @property
    def changes_anything(self) -> bool:
        return any(s.action not in ("unchanged", "pending") for s in self.steps) or bool(self.data)

    def as_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.action] = counts.get(step.action, 0) + 1
        return {
            "package": self.package.name, "title": self.package.title, "version": self.package.version,
            "action": self.action, "from_version": self.from_version, "plan": self.digest,
            "summary": counts, "documents": [s.as_json() for s in self.steps],
            "conflicts": [clash_json(s, c) for s in self.steps for c in s.clashes],
            "schema": self.ddl, "data": self.data, "problems": [p.as_json() for p in self.problems],
        }


def clash_json(step: Step, clash: Clash) -> dict[str, Any]:
    """A conflict for people and the review list; `absent` names the sides that do not have
    the property or element at all (as against having it blank)."""
    sides = {"base": clash.base, "package": clash.package, "yours": clash.yours}
    return {"kind": step.kind, "document": step.api_name, "uid": step.uid, "path": list(clash.path),
            "label": label_path(step, clash.path), **{k: _shown(v) for k, v in sides.items()},
            "absent": [k for k, v in sides.items() if v is ABSENT], "reason": clash.reason}


def change_json(step: Step, path: Path, before: Any, now: Any, yours: Any) -> dict[str, Any]:
    sides = {"before": before, "now": now, "yours": yours}
    return {"path": list(path), "label": label_path(step, path), **{k: _shown(v) for k, v in sides.items()},
            "absent": [k for k, v in sides.items() if v is ABSENT]}


def _shown(value: Any) -> Any:
    return None if value is ABSENT else value


def label_path(step: Step, path: Path) -> str:
    """A path in people's words: Account, field Region, label — joined by a right angle quote."""
    parts = [step.label or step.api_name]
    holder: Any = step.body or step.base or {}
    for n, segment in enumerate(path):
        if isinstance(segment, dict):
            (_, ident), = segment.items()
            found = get_at(holder, (segment,)) if isinstance(holder, list) else ABSENT
            name = (found.get("label") or found.get("api_name") or found.get("name")) if isinstance(found, dict) \
                else None
            parts[-1] = f"{parts[-1].removesuffix('s')} {name or ident}" if n else str(name or ident)
            holder = found if found is not ABSENT else {}
        else:
            parts.append(str(segment).replace("_", " "))
            holder = holder.get(segment, {}) if isinstance(holder, dict) else {}
    return " \u203a ".join(parts)


def comparable(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A document without what the platform keeps on it (its version, an object's trash and
    the fields the platform adds to a child object), as a package or a customer sees it."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k not in PLATFORM_KEPT}
    if kind == "objects":
        out["fields"] = [{k: v for k, v in f.items() if k not in _derived(f)} for f in out.get("fields", [])
                         if isinstance(f, dict) and not f.get("system")]
    return out


def _derived(fdoc: Mapping[str, Any]) -> tuple[str, ...]:
    """What the platform works out for a field on every save (a formula's result type, a
    rollup's expression): never a change of anyone's."""
    return ("formula_type", "expression") if fdoc.get("type") == "rollup" else ("formula_type",)


def platform_kept(kind: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The fields the platform added to an object (kept as they are on every write)."""
    if kind != "objects":
        return []
    return [copy.deepcopy(f) for f in body.get("fields", []) if isinstance(f, dict) and f.get("system")]


def shipped(package: Package, item: PackageFile, prefix: str) -> dict[str, Any]:
    """A package document in the platform's form, as the platform stores it."""
    body = to_platform(package.identity, item.kind, prefix, item.body)
    if item.kind == "objects":
        body = normalize_object(body)
    body.pop("version", None)
    return body


def version_key(version: str) -> tuple[int, ...]:
    core = version.split("-", 1)[0].split("+", 1)[0]
    return tuple(int(p) if p.isdigit() else 0 for p in core.split("."))


def satisfies(version: str, spec: str | None) -> bool:
    """Whether `version` meets a range like ">=1.0,<2" (empty: any)."""
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^(>=|<=|==|>|<|=)?\s*([0-9][0-9A-Za-z.+-]*)$", part)
        if not match:
            return False
        op, wanted = match.group(1) or "==", version_key(match.group(2))
        have = version_key(version)
        width = max(len(have), len(wanted))
        have, wanted = have + (0,) * (width - len(have)), wanted + (0,) * (width - len(wanted))
        ok = {">=": have >= wanted, "<=": have <= wanted, ">": have > wanted, "<": have < wanted,
              "==": have == wanted, "=": have == wanted}[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class World:
    """What `decide` reads: the metadata that runs and the packages installed."""

    prefixes: Mapping[str, str]  # kind → uid prefix
    current: Mapping[str, Current]  # uid → document
    names: Mapping[tuple[str, str], str]  # (kind, api_name) → uid, every state
    tables: frozenset[str]  # table names in the database
    installed: Mapping[str, str]  # package → version
    bases: Mapping[str, Base]  # uid → base of the installed version of this package
    #: Extensions of other installed packages (their bases), to apply when their target arrives.
    waiting: tuple[Base, ...] = ()
    #: Other installed packages' manifests (for dependents).
    manifests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def decide(package: Package, world: World, *, upgrade: bool, sample_data: bool = True) -> Plan:
    if package.overlay:
        return _overlay(package, world)
    installed = world.installed.get(package.name)
    plan = Plan(package, "upgrade" if upgrade else "install", installed)
    plan.reads["@version"] = installed or ""
    _check_versions(package, world, plan, upgrade=upgrade, installed=installed)
    if plan.problems:
        return plan
    for item in package.documents:
        if item.kind not in world.prefixes:
            plan.problems.append(problem(item.path, "/", f"{item.kind} is not a kind of document here"))
    if plan.problems:
        return plan

    shipped_now: dict[str, tuple[PackageFile, dict[str, Any]]] = {}
    for item in sorted(package.documents, key=lambda f: (_kind_rank(f.kind), f.path)):
        body = shipped(package, item, world.prefixes[item.kind])
        shipped_now[body["uid"]] = (item, body)
    for item, body in shipped_now.values():
        plan.steps.append(_document_step(package, item, body, world, plan))
    for uid, base in world.bases.items():
        if uid not in shipped_now and base.kind not in (EXTENSIONS, ROLES, TEAMS):  # roles, teams: apart
            plan.steps.append(_removed_step(base, world, plan))
    will_exist = {s.uid for s in plan.steps if s.kind == "objects" and s.action in ("create", "update",
                                                                                     "unchanged", "keep")}
    for item in package.extensions:
        plan.steps.append(_extension_step(package, item, world, plan, will_exist, owner=package.name))
    for base in world.waiting:
        target = platform_uid(str(base.body["extends"]["package"]), "obj", str(base.body["extends"]["uid"]))
        if target in shipped_now and base.package != package.name:
            item = PackageFile(EXTENSIONS, base.path, base.body)
            step = _extension_step(_named(base.package), item, world, plan, will_exist, owner=base.package,
                                   base=base)
            if step.action == "extend":
                plan.steps.append(step)
    if sample_data and not installed:
        for item in package.data:
            plan.data.append({"file": item.path, "object": item.body["object"],
                              "records": len(item.body.get("records", []))})
    _ddl(plan, world)
    return plan


def _overlay(package: Package, world: World) -> Plan:
    """Customizations exported alone, applied to the installed documents they change: each
    becomes what runs (as if the admin had made the change here); no base is kept for them."""
    plan = Plan(package, "customize", world.installed.get(str(package.overlay)))
    plan.reads["@version"] = plan.from_version or ""
    if plan.from_version is None:
        plan.problems.append(problem("manifest.json", "/overlay", f"changes {package.overlay}, which is not "
                                     "installed here; install it first", "missing_dependency"))
        return plan
    for item in package.documents:
        if item.kind not in world.prefixes:
            plan.problems.append(problem(item.path, "/", f"{item.kind} is not a kind of document here"))
            continue
        body = shipped(package, item, world.prefixes[item.kind])
        now = world.current.get(body["uid"])
        plan.reads[body["uid"]] = _digest(now.body) if now else ""
        step = Step(item.kind, body["uid"], item.uid, item.path, str(body.get("api_name", "")),
                    str(body.get("label", "")), "update", body=body)
        if now is None or now.state != "active":
            plan.problems.append(problem(item.path, "/uid", f"there is no {item.kind[:-1].replace('_', ' ')} "
                                         f"{item.uid!r} of {package.overlay} here to change", "unknown_document"))
            continue
        mine = comparable(item.kind, now.body)
        if comparable(item.kind, body) == mine:
            step.action = "unchanged"
        else:
            step.changes = [(c.path, c.before, c.after, c.before) for c in diff(mine, comparable(item.kind, body))]
        plan.steps.append(step)
    return plan


def _named(name: str) -> Package:
    return Package({"name": name, "version": "0.0.0", "title": name})


def _kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def _check_versions(package: Package, world: World, plan: Plan, *, upgrade: bool, installed: str | None) -> None:
    if upgrade and installed is None:
        plan.problems.append(problem("manifest.json", "/name", f"{package.name} is not installed; install it first",
                                     "not_installed"))
    if upgrade and installed is not None and version_key(package.version) < version_key(installed):
        plan.problems.append(problem("manifest.json", "/version",
                                     f"{package.version} is lower than the installed {installed}; a package "
                                     "never goes back a version", "version_lower"))
    if not upgrade and installed is not None and installed != package.version:
        plan.problems.append(problem("manifest.json", "/version",
                                     f"{package.name} {installed} is installed; upgrade it to {package.version} "
                                     "instead", "installed"))
    floor = package.manifest.get("min_upgrade_from")
    if upgrade and installed and floor and version_key(installed) < version_key(str(floor)):
        plan.problems.append(problem("manifest.json", "/min_upgrade_from",
                                     f"{package.version} upgrades only from {floor} on; {installed} is installed",
                                     "too_old"))
    for index, need in enumerate(package.manifest.get("depends", [])):
        have = world.installed.get(need["name"])
        if have is None:
            plan.problems.append(problem("manifest.json", f"/depends/{index}",
                                         f"needs the package {need['name']} installed first", "missing_dependency"))
        elif not satisfies(have, need.get("version")):
            plan.problems.append(problem("manifest.json", f"/depends/{index}",
                                         f"needs {need['name']} {need['version']}; {have} is installed",
                                         "dependency_version"))


def _document_step(package: Package, item: PackageFile, body: dict[str, Any], world: World, plan: Plan) -> Step:
    uid = body["uid"]
    old = world.bases.get(uid)
    now = world.current.get(uid)
    plan.reads[uid] = _digest(now.body) if now else ""
    step = Step(item.kind, uid, item.uid, item.path, str(body.get("api_name", "")),
                str(body.get("label", body.get("api_name", ""))), "create", body=body, base=body,
                owner=package.name)
    if now is None:
        taken = world.names.get((item.kind, step.api_name))
        if taken is not None and taken != uid:
            plan.problems.append(problem(item.path, "/api_name",
                                         f"a {item.kind[:-1].replace('_', ' ')} named {step.api_name!r} exists "
                                         "already and is not this package's: rename it, then install again",
                                         "name_taken"))
        elif item.kind == "objects" and step.api_name in world.tables:
            plan.problems.append(problem(item.path, "/api_name",
                                         f"a table named {step.api_name!r} exists in the database", "name_taken"))
        return step
    mine = comparable(item.kind, now.body)
    if now.state != "active":
        step.action = "keep"
        step.body = None
        if old is not None and comparable(item.kind, old.body) != body:
            step.clashes.append(Clash((), comparable(item.kind, old.body), body, ABSENT,
                                      "you_removed_package_changed"))
        step.notes.append("you moved it to the trash; it stays there")
        return step
    original = comparable(item.kind, old.body) if old is not None else mine
    step.changes = [(c.path, c.before, c.after, get_at(mine, c.path)) for c in diff(original, body)]
    merged = merge(original, body, mine)
    value = merged.value
    step.clashes = merged.clashes
    if item.kind == "objects":
        _deprecate(value, merged.dropped, package, step, mine)
        _suffix_clashing_fields(value, original, mine, package, step)
        value["fields"] = [*value.get("fields", []), *platform_kept(item.kind, now.body)]
    step.body = value
    step.action = "unchanged" if comparable(item.kind, value) == mine else "update"
    return step


def _deprecate(value: dict[str, Any], dropped: list[tuple[Path, Any]], package: Package, step: Step,
               mine: dict[str, Any]) -> None:
    """Fields and options the new version removed stay, marked: their data is kept."""
    for path, element in dropped:
        if len(path) == 2 and path[0] == "fields":
            kept = {**element, "deprecated": {"package": package.name, "version": package.version},
                    "read_only": True}
            set_at(value, path, kept, anchor_in=mine)
            step.notes.append(f"field {element.get('label') or element.get('api_name')} is no longer in the "
                              "package: kept, hidden from forms and read-only; its data stays")
        elif len(path) == 4 and path[0] == "fields" and path[2] == "options":
            set_at(value, path, {**element, "deprecated": True}, anchor_in=mine)
            step.notes.append(f"option {element.get('label') or element.get('value')} is no longer in the package: "
                              "kept for the values that use it, no longer offered")


def _suffix_clashing_fields(value: dict[str, Any], original: dict[str, Any], mine: dict[str, Any],
                            package: Package, step: Step) -> None:
    """A field the package adds under a name the customer's own field has gets the
    package's namespace as a suffix, never a failure."""
    theirs = {f["uid"] for f in mine.get("fields", [])} | {f["uid"] for f in original.get("fields", [])}
    names = {f["api_name"] for f in mine.get("fields", [])}
    for fdoc in value.get("fields", []):
        if fdoc["uid"] not in theirs and fdoc["api_name"] in names:
            old = fdoc["api_name"]
            fdoc["api_name"] = f"{old[:60 - len(package.namespace)]}__{package.namespace}"
            step.notes.append(f"your field {old!r} keeps its name; the package's new field {old!r} is named "
                              f"{fdoc['api_name']!r}")


def _removed_step(base: Base, world: World, plan: Plan) -> Step:
    now = world.current.get(base.uid)
    plan.reads[base.uid] = _digest(now.body) if now else ""
    step = Step(base.kind, base.uid, base.author_uid, base.path, str(base.body.get("api_name", "")),
                str(base.body.get("label", "")), "remove", owner=base.package)
    if now is None or now.state != "active":
        step.action = "unchanged"
        return step
    step.body = comparable(base.kind, now.body)
    if comparable(base.kind, base.body) != step.body:
        step.action = "keep"
        step.clashes.append(Clash((), base.body, ABSENT, step.body, "package_removed_yours_changed"))
        step.notes.append("no longer in the package, but you changed it: it stays, as yours")
    else:
        step.notes.append("no longer in the package: moved to the trash (its data stays, restorable)")
    return step


def _extension_step(package: Package, item: PackageFile, world: World, plan: Plan, will_exist: set[str], *,
                    owner: str, base: Base | None = None) -> Step:
    extends = item.body["extends"]
    target = platform_uid(str(extends["package"]), "obj", str(extends["uid"]))
    uid = platform_uid(package.name, "ext", str(item.body["uid"]))
    fields = [normalize_field({**copy.deepcopy(f),
                               "uid": platform_uid(package.name, ELEMENT_PREFIX["fields"], str(f["uid"]))})
              for f in item.body.get("fields", [])]
    body = {"uid": uid, "extends": {"package": extends["package"], "uid": target}, "fields": fields}
    step = Step(EXTENSIONS, uid, str(item.body["uid"]), item.path, str(extends["uid"]),
                f"fields for {extends['package']} {extends['uid']}", "pending", base=item.body,
                target=(str(extends["package"]), target), owner=owner)
    old = world.bases.get(uid) if base is None else None
    now = world.current.get(target)
    if now is None or now.state != "active":
        if target in will_exist:
            step.action = "extend"
            step.body = {**body, "updates": {}}
        else:
            step.notes.append(f"waits for {extends['package']}: applied when it is installed")
        return step
    step.api_name = now.api_name
    step.label = f"fields for {now.body.get('label', now.api_name)}"
    plan.reads[f"{uid}@{target}"] = _digest(now.body)
    mine_fields = {f["uid"]: f for f in now.body.get("fields", [])}
    old_fields = {platform_uid(package.name, ELEMENT_PREFIX["fields"], str(f["uid"])):
                  normalize_field({**f, "uid": platform_uid(package.name, ELEMENT_PREFIX["fields"], str(f["uid"]))})
                  for f in (old.body.get("fields", []) if old else [])}
    adds: list[dict[str, Any]] = []
    updates: dict[str, dict[str, Any]] = {}
    for fdoc in fields:
        have = mine_fields.get(fdoc["uid"])
        if have is None:
            adds.append(fdoc)
            continue
        merged = merge(old_fields.get(fdoc["uid"], have), fdoc, have, ("fields", {"uid": fdoc["uid"]}))
        step.clashes += merged.clashes
        if merged.value != have:
            updates[fdoc["uid"]] = merged.value
    names = {f["api_name"] for f in now.body.get("fields", [])}
    for fdoc in adds:
        if fdoc["api_name"] in names:
            old_name = fdoc["api_name"]
            fdoc["api_name"] = f"{old_name[:60 - len(package.namespace)]}__{package.namespace}"
            step.notes.append(f"the field {old_name!r} exists on {now.api_name}; the extension's is named "
                              f"{fdoc['api_name']!r}")
    step.body = {**body, "fields": adds, "updates": updates}
    step.action = "extend" if adds or updates else "unchanged"
    return step


def _ddl(plan: Plan, world: World) -> None:
    """The schema changes in people's words (never a drop: removed things are kept)."""
    for step in plan.steps:
        if step.kind == "objects" and step.action == "create" and step.body:
            columns = [f["api_name"] for f in step.body.get("fields", []) if f.get("type") not in
                       ("formula", "rollup", "child_table")]
            plan.ddl.append(f"create table {step.api_name} ({', '.join(columns)})")
        elif step.kind == "objects" and step.action == "update" and step.body:
            now = world.current[step.uid]
            had = {f["uid"] for f in now.body.get("fields", [])}
            for fdoc in step.body.get("fields", []):
                if fdoc["uid"] not in had and fdoc.get("type") not in ("formula", "rollup", "child_table"):
                    plan.ddl.append(f"add column {step.api_name}.{fdoc['api_name']}")
        elif step.kind == EXTENSIONS and step.action == "extend" and step.body:
            for fdoc in step.body.get("fields", []):
                plan.ddl.append(f"add column {step.api_name}.{fdoc['api_name']}")


def _digest(body: Mapping[str, Any]) -> str:
    return sha256(dict(body))


def layer(kind: str, base: Mapping[str, Any], current: Mapping[str, Any]) -> list[Any]:
    """The customer's changes to a package document: the difference from its base."""
    return list(diff(comparable(kind, base), comparable(kind, current)))
