"""App packages for admins: what is available and installed, plans, installs, upgrades,
uninstalls, the customer layer (what changed since the package, reset to the package), the
review list of upgrades, and exports.

Planning reads the world, decides purely (`plan.decide`) and checks every document against
the metadata as it will be; a dry run also tries the plan in a transaction that is rolled
back, so it reports every problem the real run would meet. The real run is a job: metadata
and schema in one transaction (refused whole if the metadata moved since the plan), roles,
then sample data in batches. A package's teams are made in the metadata's transaction,
before its documents (assignment rules name them); the demo's people (`tessera demo`) after
the roles, before the sample data (see `people`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import schemas as role_schemas
from tessera.auth.actor import Actor
from tessera.auth.roles import named_permissions, stored_permissions
from tessera.auth.users import UserService
from tessera.data import metastore
from tessera.data.tables import (
    documents,
    package_conflicts,
    package_documents,
    package_records,
    package_uploads,
    packages,
)
from tessera.data.tables import roles as roles_table
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tessera.meta.documents import normalize_object
from tessera.packages import export as exporting
from tessera.packages import people, samples
from tessera.packages.apply import Applier, Then
from tessera.packages.files import (
    EXTENSIONS,
    ROLES,
    TEAMS,
    Package,
    compact,
    problem,
    read_folder,
    read_zip,
    walk_files,
)
from tessera.packages.files import parse as parse_files
from tessera.packages.identity import platform_uid
from tessera.packages.merge import ABSENT, Change, get_at, path_of, path_text, set_at
from tessera.packages.plan import Base, Current, Plan, Step, World, comparable, decide, layer
from tessera.registry import DuplicateName
from tessera.runtime.background.jobs import JobContext, JobService
from tessera.runtime.kernel.catalog import with_objects
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.metadata.documents import DocumentService
from tessera.runtime.metadata.objects import MetadataService
from tessera.runtime.records.service import RecordService

JOB_KIND = "package.apply"
#: The bundled templates `tessera demo` installs, in this order.
DEMO_TEMPLATES = ("crm", "sms")


class PlanStale(Conflict):
    """The metadata moved since the plan sent back was made."""

    title = "Plan out of date"
    type_slug = "plan-stale"


class _Rollback(Exception):
    """Ends a trial transaction."""


@dataclass(frozen=True)
class Source:
    """Where a package comes from: a bundled template's name, or an uploaded zip."""

    name: str | None = None
    content: bytes | None = None


class PackageService:
    def __init__(self, kernel: Kernel, metadata: MetadataService, documents: DocumentService,
                 records: RecordService, jobs: JobService, users: UserService,
                 more_templates: Callable[[], dict[str, Path]] | None = None) -> None:
        """`more_templates`: template folders by name beside the bundled ones (plugins')."""
        self.kernel = kernel
        self.more_templates = more_templates
        self.metadata = metadata
        self.documents = documents
        self.jobs = jobs
        self.users = users
        self.applier = Applier(metadata, documents, records)

    def when_written(self, kind: str, then: Then) -> None:
        """Also do `then(actor, api_name)` whenever a package writes a document of `kind`
        (the flows' wiring: publish the flow)."""
        if kind in self.applier.then:
            raise DuplicateName(f"what follows writing {kind} from a package is registered already")
        self.applier.then[kind] = then

    # -- reading packages ---------------------------------------------------------------
    def kinds(self) -> dict[str, str]:
        """Document kind → uid prefix (objects, and every kind registered)."""
        out = {"objects": "obj"}
        for kind in self.documents.kinds():
            if kind["name"] != "objects":
                out[kind["name"]] = self.documents.kind(kind["name"]).uid_prefix
        return out

    def read(self, source: Source) -> Package:
        kinds = frozenset(self.kinds())
        if source.content is not None:
            return read_zip(source.content, kinds)
        name = (source.name or "").strip()
        folder = self._bundled().get(name)
        if folder is None:
            known = ", ".join(sorted(self._bundled())) or "none"
            raise NotFound(f"There is no template named {name!r}; the bundled ones are: {known}.",
                           [FieldProblem("/source", "is not a bundled template", "unknown_template")])
        return read_folder(folder, kinds)

    def _bundled(self) -> dict[str, Path]:
        root = self.kernel.settings.templates_dir
        found = {p.name: p for p in sorted(root.iterdir()) if (p / "manifest.json").is_file()} if root.is_dir() else {}
        # A bundled template keeps its name; a plugin's of the same name is not offered.
        return {**(self.more_templates() if self.more_templates else {}), **found}

    def demo_templates(self) -> list[Package]:
        """The demo's templates (`DEMO_TEMPLATES`) bundled here, read, in their order; those
        not bundled are left out (InvalidInput when one cannot be read)."""
        root = self.kernel.settings.templates_dir
        return [read_folder(root / name, frozenset(self.kinds())) for name in DEMO_TEMPLATES
                if (root / name / "manifest.json").is_file()]

    def available(self) -> list[dict[str, Any]]:
        installed = {p["name"]: p for p in self.installed()}
        out = []
        for name, folder in self._bundled().items():
            try:
                package = read_folder(folder, frozenset(self.kinds()))
            except InvalidInput as error:
                out.append({"source": name, "name": name, "problems": [p.as_json() for p in error.errors]})
                continue
            have = installed.get(package.name)
            out.append({"source": name, "name": package.name, "title": package.title,
                        "version": package.version, "description": package.manifest.get("description", ""),
                        "publisher": package.manifest.get("publisher", ""),
                        "installed_version": have["version"] if have else None,
                        "objects": len([d for d in package.documents if d.kind == "objects"]),
                        "records": sum(len(d.body.get("records", [])) for d in package.data)})
        return out

    def installed(self) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            rows = conn.execute(sa.select(packages).order_by(packages.c.name)).all()
            conflicts = dict(conn.execute(
                sa.select(package_conflicts.c.package, sa.func.count()).where(package_conflicts.c.status == "open")
                .group_by(package_conflicts.c.package)).all())
            out = []
            for row in rows:
                changes = sum(len(c["changes"]) for c in self._layer(conn, row.name, row.version))
                out.append({"name": row.name, "version": row.version, "title": row.title,
                            "description": row.manifest.get("description", ""),
                            "installed_at": _at(row.installed_at), "updated_at": _at(row.updated_at),
                            "customizations": changes, "conflicts": int(conflicts.get(row.name, 0)),
                            "depends": [d["name"] for d in row.manifest.get("depends", [])],
                            "pending_extensions": self._pending(conn, row.name)})
            return out

    def get(self, name: str) -> dict[str, Any]:
        for found in self.installed():
            if found["name"] == name:
                return found
        raise NotFound(f"No package named {name!r} is installed.")

    def mark(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Documents as the API shows them: those a package installed carry
        `"package": {"name", "version"}` (the version installed now)."""
        uids = [str(d["uid"]) for d in docs if d.get("uid")]
        if not uids:
            return docs
        with self.kernel.read() as conn:
            owners = {r.uid: {"name": r.package, "version": r.version} for r in conn.execute(
                sa.select(package_documents.c.uid, package_documents.c.package, package_documents.c.version)
                .join(packages, sa.and_(packages.c.name == package_documents.c.package,
                                        packages.c.version == package_documents.c.version))
                .where(package_documents.c.uid.in_(uids[:5000])))}
        for doc in docs:
            if doc.get("uid") in owners:
                doc["package"] = owners[doc["uid"]]
        return docs

    # -- planning -------------------------------------------------------------------------
    def _world(self, conn: Connection, package: Package) -> World:
        rows = conn.execute(sa.select(packages)).all()
        installed = {r.name: r.version for r in rows}
        bases: dict[str, Base] = {}
        waiting: list[Base] = []
        for r in conn.execute(sa.select(package_documents).where(
                sa.tuple_(package_documents.c.package, package_documents.c.version).in_(
                    [(n, v) for n, v in installed.items()]) if installed else sa.false())):
            base = Base(r.package, r.kind, r.uid, r.author_uid, r.path, dict(r.base))
            if r.package == package.name:
                bases[r.uid] = base
            elif r.kind == EXTENSIONS:
                waiting.append(base)
        current = {d.uid: Current(d.kind, d.api_name, d.state, d.body)
                   for d in metastore.find_by_uids(conn, _uids(package, self.kinds(), bases)).values()}
        names = {(r.kind, r.api_name): r.uid for r in conn.execute(
            sa.select(documents.c.kind, documents.c.api_name, documents.c.uid))}
        tables = frozenset(sa.inspect(conn).get_table_names())
        return World(self.kinds(), current, names, tables, installed, bases, tuple(waiting),
                     {r.name: r.manifest for r in rows})

    @contextmanager
    def _assembling(self) -> Iterator[Connection]:
        with self.kernel.schema(assembling=True) as conn:
            metastore.lock_revision(conn)  # one package job at a time, deciding from what holds
            yield conn

    def plan(self, actor: Actor, package: Package, *, upgrade: bool, sample_data: bool = True,
             trial: bool = True, demo: bool = False) -> Plan:
        """What installing or upgrading would do, with every problem — nothing is written.
        Every document is checked against the metadata as it will be; `trial`: the plan is
        also carried out in a transaction that is rolled back, which finds what only the
        database can tell (values already stored that a change would not fit). `demo`: the
        demo's people (`demo/people.json`) are checked too."""
        _require_admin(actor)
        result: Plan | None = None
        try:
            with self._assembling() as conn:
                plan = decide(package, self._world(conn, package), upgrade=upgrade, sample_data=sample_data)
                if not plan.problems:
                    plan.problems += self._teams(conn, actor, plan, demo=demo)
                    plan.problems += self._check(conn, plan)
                if trial and not plan.problems:
                    plan.problems += self.applier.apply(conn, actor, plan, collect=True)
                result = plan
                raise _Rollback()
        except _Rollback:
            pass
        assert result is not None
        return result

    def _teams(self, conn: Connection, actor: Actor, plan: Plan, *, demo: bool) -> list[FieldProblem]:
        """The package's teams checked and made in `conn` (before its documents, which may
        name them: kept only if the whole install is), with the demo's people checked."""
        problems = people.team_steps(conn, plan)
        people.make_teams(conn, actor, plan)
        if demo:
            problems += people.demo_problems(conn, plan)
        return problems

    def _check(self, conn: Connection, plan: Plan) -> list[FieldProblem]:
        """Every document of the plan against the metadata as it will be once all are in."""
        snap = self.kernel.snapshot(conn)
        objects = [s for s in plan.steps if s.kind == "objects" and s.action in ("create", "update") and s.body]
        bodies = [normalize_object(s.body or {}) for s in objects]
        for step in plan.steps:  # extensions: their target with the fields they add
            if step.kind == EXTENSIONS and step.action == "extend" and step.body and step.target:
                target = next((b for b in bodies if b["uid"] == step.target[1]), None)
                if target is None and step.target[1] in snap.by_uid:
                    target = copy.deepcopy(snap.by_uid[step.target[1]].doc)
                    bodies.append(target)
                if target is not None:
                    target["fields"] = [step.body["updates"].get(f["uid"], f) for f in target.get("fields", [])]
                    target["fields"] += step.body["fields"]
        draft = with_objects(snap, bodies, self.kernel.draft_revision())
        for _ in range(3):  # formulas over other new objects' formulas: their types first
            types = [[f.get("formula_type") for f in b.get("fields", [])] for b in bodies]
            for body in bodies:
                self.metadata.formulas.check_object(draft, body)
            draft = with_objects(snap, bodies, self.kernel.draft_revision())
            if types == [[f.get("formula_type") for f in b.get("fields", [])] for b in bodies]:
                break
        problems: list[FieldProblem] = []
        for step, body in zip(objects, bodies, strict=False):
            problems += [problem(step.path, p.field, p.message, p.code) for p in self.metadata.problems(draft, body)]
        pending: dict[str, dict[str, Any]] = {}
        for step in plan.steps:
            if step.kind not in ("objects", EXTENSIONS, TEAMS) and step.action in ("create", "update") and step.body:
                pending.setdefault(step.kind, {})[step.api_name] = step.body
        for step in plan.steps:
            if step.kind not in ("objects", EXTENSIONS, ROLES, TEAMS) and step.action in ("create", "update") \
                    and step.body:
                body = {k: v for k, v in step.body.items() if k not in ("uid", "version")}
                problems += [problem(step.path, p.field, p.message, p.code)
                             for p in self.documents.problems(draft, step.kind, body, pending)]
        problems += self._role_steps(conn, plan, draft)
        if plan.data:
            problems += samples.problems(plan.package.data, draft)
        return problems

    def _role_steps(self, conn: Connection, plan: Plan, draft: Any) -> list[FieldProblem]:
        """What the package's roles do — a new role is created; a role that exists (the
        customer's, or one they changed) only gains entries for objects it has none for:
        what the customer set always wins — with their problems. Roles are written after
        the metadata commits (see `_grant`)."""
        problems: list[FieldProblem] = []
        held = {r.api_name: dict(r.permissions or {}) for r in conn.execute(
            sa.select(roles_table.c.api_name, roles_table.c.permissions))}
        for item in plan.package.roles:
            doc = {k: v for k, v in item.body.items() if k != "uid"}
            found = role_schemas.problems("roles", doc)
            if not found:
                stored, found = stored_permissions(doc.get("permissions") or {}, draft)
            problems += [problem(item.path, p.field, p.message, p.code) for p in found]
            if found:
                continue
            name = str(doc["api_name"])
            step = Step(ROLES, platform_uid(plan.package.identity, "rol", item.uid), item.uid, item.path, name,
                        str(doc.get("label", name)), "create", body=doc, base=doc, owner=plan.package.name)
            if name in held:
                new = {uid: entry for uid, entry in stored.items() if uid not in held[name]}
                step.action = "grant" if new else "unchanged"
                step.body = {"permissions": {**held[name], **new}} if new else None
                if new:
                    step.notes.append(f"gains access to {len(new)} of the template's objects; what you set stays")
            plan.steps.append(step)
        return problems

    def _grant(self, actor: Actor, plan: Plan) -> None:
        """Create the package's new roles and give existing ones their new objects."""
        for step in plan.steps:
            if step.kind != ROLES or step.action not in ("create", "grant") or step.body is None:
                continue
            if step.action == "create":
                try:
                    self.users.roles.create(actor, step.body, self.kernel.snapshot)
                    continue
                except Conflict:  # made since the plan: only what it lacks
                    pass
            with self.kernel.read() as conn:
                held = dict(conn.execute(sa.select(roles_table.c.permissions).where(
                    roles_table.c.api_name == step.api_name)).scalar() or {})
                snap = self.kernel.snapshot(conn)
            if step.action == "grant":
                wanted = dict(step.body.get("permissions") or {})
            else:
                wanted, _ = stored_permissions(step.body.get("permissions") or {}, snap)
            merged = {**{uid: e for uid, e in wanted.items() if uid not in held}, **held}
            if merged != held:
                self.users.roles.update(actor, step.api_name,
                                        {"permissions": named_permissions(merged, snap)}, self.kernel.snapshot)

    def stage(self, package: Package) -> int:
        """Keep a package's files for the job that installs it (a job's parameters stay small)."""
        with self.kernel.write() as conn:
            return int(conn.execute(sa.insert(package_uploads).values(
                package=package.name, version=package.version, files=_files(package), created_at=metastore.now())
                .returning(package_uploads.c.id)).scalar_one())

    def submit(self, actor: Actor, package: Package, *, upgrade: bool, sample_data: bool = True,
               expected_plan: str | None = None, strict: bool = False, demo: bool = False) -> tuple[int, Plan]:
        """Check the package whole against the metadata as it will be, then queue the job
        that applies it (which checks again as it goes: nothing is kept unless all is well).
        `demo`: the job also makes the demo's people (`tessera demo`), before the samples."""
        plan = self.plan(actor, package, upgrade=upgrade, sample_data=sample_data, trial=False, demo=demo)
        _refuse(plan, expected_plan, strict)
        upload = self.stage(package)
        with self.kernel.write() as conn:
            job = self.jobs.submit(conn, JOB_KIND, {
                "action": "upgrade" if upgrade else "install", "upload": upload, "package": package.name,
                "version": package.version, "sample_data": sample_data, "plan": plan.digest, "strict": strict,
                "demo": demo,
            }, title=f"{'Upgrade' if upgrade else 'Install'} {package.title} {package.version}", actor=actor)
        return job, plan

    def run(self, ctx: JobContext) -> dict[str, Any]:
        """The job: apply the plan (refused if the metadata moved since it was made; every
        problem met refuses it whole), then load sample data in batches."""
        params = ctx.params
        actor = self.users.actor_for_user(ctx.created_by) if ctx.created_by else Actor.system()
        if params.get("action") == "uninstall":
            return self._uninstall(ctx, actor, str(params["name"]))
        with self.kernel.read() as conn:
            files = conn.execute(sa.select(package_uploads.c.files).where(
                package_uploads.c.id == int(params["upload"]))).scalar()
        if files is None:
            raise NotFound("The package's files are gone (installed already?); submit it again.")
        package = parse_files({p: t.encode() for p, t in files.items()}, frozenset(self.kinds()))
        upgrade = params["action"] == "upgrade"
        ctx.progress(0, None, "checking the package", force=True)
        summary: dict[str, Any] = {}
        with self._assembling() as conn:
            plan = decide(package, self._world(conn, package), upgrade=upgrade,
                          sample_data=bool(params.get("sample_data", True)))
            resumed = params.get("plan") != plan.digest and self._metadata_done(conn, package)
            if not resumed:
                _refuse(plan, params.get("plan"), bool(params.get("strict")))
                problems = self._teams(conn, actor, plan, demo=bool(params.get("demo")))
                problems += self.applier.apply(conn, actor, plan, collect=True, record=False,
                                               progress=lambda d, t: ctx.progress(d, t, "applying metadata and schema"))
                problems += self._role_steps(conn, plan, self.kernel.snapshot(conn))
                if not problems:
                    self.applier.record(conn, actor, plan)
                if problems:
                    lines = "; ".join(f"{p.as_json().get('file', '')} {p.field}: {p.message}" for p in problems)
                    raise InvalidInput(f"{package.title} {package.version} was not installed, nothing was written: "
                                       f"{lines}", problems)
            summary = plan.as_json()["summary"]
            made = [{"kind": s.kind, "api_name": s.api_name, "label": s.label, "action": s.action,
                     "object": (s.body or {}).get("object")}
                    for s in plan.steps if s.action in ("create", "update", "extend", "unchanged")]
        self._grant(actor, plan)
        demo: dict[str, int] = {}
        if params.get("demo") and package.demo is not None:
            ctx.progress(0, None, "making the demo's people", force=True)
            demo = people.make_people(self.users, actor, package, self.kernel.settings.demo_password)
        loaded = {"records": 0}
        if params.get("sample_data", True) and package.data:
            loaded = self.applier.load_data(actor, package, progress=lambda d, t: ctx.progress(
                d, t, "loading sample records"))
        with self.kernel.write() as conn:
            conn.execute(sa.delete(package_uploads).where(package_uploads.c.id == int(params["upload"])))
        ctx.progress(1, 1, "done", force=True)
        return {"package": package.name, "version": package.version, "documents": summary, "made": made, **loaded,
                **({"people": demo} if demo else {})}

    def _metadata_done(self, conn: Connection, package: Package) -> bool:
        """Whether a job that stopped after its metadata step is being run again."""
        version = conn.execute(sa.select(packages.c.version).where(packages.c.name == package.name)).scalar()
        return version == package.version

    # -- uninstall -------------------------------------------------------------------------
    def uninstall(self, actor: Actor, name: str, *, dry_run: bool = False) -> dict[str, Any]:
        _require_admin(actor)
        with self.kernel.read() as conn:
            row = conn.execute(sa.select(packages).where(packages.c.name == name)).first()
            if row is None:
                raise NotFound(f"No package named {name!r} is installed.")
            dependents = self._dependents(conn, name)
            owned = conn.execute(sa.select(package_documents.c.kind, package_documents.c.uid).where(
                package_documents.c.package == name, package_documents.c.version == row.version)).all()
        if dependents:
            raise Conflict(f"{name} cannot be uninstalled while other packages need it: {', '.join(dependents)}. "
                           "Uninstall them first.", [FieldProblem("/", f"{d} depends on or extends it", "in_use")
                                                     for d in dependents], extra={"dependents": dependents})
        with self.kernel.read() as conn:
            found = metastore.find_by_uids(conn, [u for _, u in owned])
        plan = {"package": name, "title": row.title, "version": row.version,
                "documents": [{"kind": k, "api_name": found[u].api_name, "label": found[u].body.get("label", ""),
                               "state": found[u].state} for k, u in owned if u in found],
                "note": "objects and documents go to the trash with their data (restorable); nothing is dropped"}
        if dry_run:
            return plan
        with self.kernel.write() as conn:
            job = self.jobs.submit(conn, JOB_KIND, {"action": "uninstall", "name": name},
                                   title=f"Uninstall {row.title}", actor=actor)
        return {**plan, "job": job}

    def _uninstall(self, ctx: JobContext, actor: Actor, name: str) -> dict[str, Any]:
        with self._assembling() as conn:
            version = conn.execute(sa.select(packages.c.version).where(packages.c.name == name)).scalar()
            if version is None:
                return {"package": name, "removed": 0}
            if dependents := self._dependents(conn, name):
                raise Conflict(f"{name} cannot be uninstalled while {', '.join(dependents)} need it.")
            owned = conn.execute(sa.select(package_documents).where(
                package_documents.c.package == name, package_documents.c.version == version)).all()
            removed = 0
            ctx.progress(0, len(owned), "moving the template's documents to the trash", force=True)
            for done, row in enumerate(sorted(owned, key=lambda r: r.kind == "objects")):  # documents first
                ctx.progress(done, len(owned), "moving the template's documents to the trash")
                if row.kind == EXTENSIONS:
                    removed += self._drop_extension(actor, row)
                elif self.applier.trash(actor, row.kind, row.uid):
                    removed += 1
            for table in (package_documents, package_conflicts, package_records):
                conn.execute(sa.delete(table).where(table.c.package == name))
            conn.execute(sa.delete(packages).where(packages.c.name == name))
        ctx.progress(len(owned), len(owned), "done", force=True)
        return {"package": name, "removed": removed}

    def _drop_extension(self, actor: Actor, row: Any) -> int:
        body = dict(row.base)
        target = platform_uid(str(body["extends"]["package"]), "obj", str(body["extends"]["uid"]))
        ours = {platform_uid(row.package, "fld", str(f["uid"])) for f in body.get("fields", [])}
        with self.kernel.read() as conn:
            stored = metastore.find_by_uid(conn, target)
        if stored is None or stored.state != "active":
            return 0
        names = [f["api_name"] for f in stored.body.get("fields", []) if f["uid"] in ours]
        for field_name in names:  # to the trash, data kept and restorable
            self.metadata.delete_field(actor, stored.api_name, field_name, force=True)
        return len(names)

    def _dependents(self, conn: Connection, name: str) -> list[str]:
        out = []
        for row in conn.execute(sa.select(packages.c.name, packages.c.manifest)):
            if row.name == name:
                continue
            needs = {d["name"] for d in row.manifest.get("depends", [])}
            if name in needs:
                out.append(row.name)
        extending = conn.execute(sa.select(package_documents.c.package, package_documents.c.base).where(
            package_documents.c.kind == EXTENSIONS, package_documents.c.package != name)).all()
        out += [r.package for r in extending if r.base.get("extends", {}).get("package") == name
                and r.package not in out]
        return sorted(set(out))

    def _added_by_others(self, conn: Connection, name: str) -> set[str]:
        """The uids of fields other installed packages' extensions added (to this package's
        objects): theirs, not this package's nor the customer's."""
        rows = conn.execute(sa.select(package_documents.c.package, package_documents.c.base).join(
            packages, sa.and_(packages.c.name == package_documents.c.package,
                              packages.c.version == package_documents.c.version)).where(
            package_documents.c.kind == EXTENSIONS, package_documents.c.package != name)).all()
        return {platform_uid(r.package, "fld", str(f["uid"])) for r in rows for f in r.base.get("fields", [])}

    def _pending(self, conn: Connection, name: str) -> list[str]:
        """The packages this one's extensions wait for."""
        version = conn.execute(sa.select(packages.c.version).where(packages.c.name == name)).scalar()
        installed = {r[0] for r in conn.execute(sa.select(packages.c.name))}
        rows = conn.execute(sa.select(package_documents.c.base).where(
            package_documents.c.package == name, package_documents.c.version == version,
            package_documents.c.kind == EXTENSIONS)).all()
        return sorted({str(r.base["extends"]["package"]) for r in rows} - installed)

    # -- the customer layer -------------------------------------------------------------
    def customizations(self, actor: Actor, name: str) -> list[dict[str, Any]]:
        """Per document of the package: each property the customer changed, with the
        package's value, theirs, and who changed it when."""
        _require_admin(actor)
        with self.kernel.read() as conn:
            version = self._version(conn, name)
            return self._layer(conn, name, version, attribute=True)

    def _version(self, conn: Connection, name: str) -> str:
        version = conn.execute(sa.select(packages.c.version).where(packages.c.name == name)).scalar()
        if version is None:
            raise NotFound(f"No package named {name!r} is installed.")
        return str(version)

    def _layer(self, conn: Connection, name: str, version: str, *, attribute: bool = False) -> list[dict[str, Any]]:
        rows = conn.execute(sa.select(package_documents).where(
            package_documents.c.package == name, package_documents.c.version == version,
            package_documents.c.kind != EXTENSIONS).order_by(package_documents.c.id)).all()
        current = _without_fields(metastore.find_by_uids(conn, [r.uid for r in rows]),
                                  self._added_by_others(conn, name))
        out = []
        for row in rows:
            stored = current.get(row.uid)
            if stored is None:
                continue
            if stored.state != "active":
                out.append({"kind": row.kind, "uid": row.author_uid, "api_name": stored.api_name,
                            "label": stored.body.get("label", stored.api_name), "state": stored.state,
                            "changes": [{"path": [], "label": "the whole document", "package": "present",
                                         "yours": "in the trash"}]})
                continue
            changes = layer(row.kind, row.base, stored.body)
            if not changes:
                continue
            history = metastore.history(conn, row.uid, limit=200) if attribute else []
            out.append({"kind": row.kind, "uid": row.author_uid, "api_name": stored.api_name,
                        "label": stored.body.get("label", stored.api_name), "state": stored.state,
                        "changes": [_change_json(row.kind, stored.body, c, history) for c in changes]})
        return out

    def reset(self, actor: Actor, name: str, api_name: str, kind: str, path: list[Any] | None = None) -> dict[str, Any]:
        """Put one property (`path`) of a package document, or the whole document, back to
        the package's value. Fields the customer added stay (their data with them)."""
        _require_admin(actor)
        with self.kernel.read() as conn:
            version = self._version(conn, name)
            stored = metastore.find_document(conn, kind, api_name)
            base_row = conn.execute(sa.select(package_documents.c.base).where(
                package_documents.c.package == name, package_documents.c.version == version,
                package_documents.c.uid == (stored.uid if stored else ""))).first()
        if stored is None or base_row is None:
            raise NotFound(f"{kind} {api_name!r} is not a document of the package {name}.")
        base = dict(base_row.base)
        mine = comparable(kind, stored.body)
        if path:
            try:
                where = path_of(path_text(tuple(path)))
            except (ValueError, TypeError):
                raise InvalidInput("The path is not one of the document's.",
                                   [FieldProblem("/path", "is not a path")]) from None
            after = copy.deepcopy(mine)
            if not set_at(after, where, get_at(base, where), anchor_in=base):
                raise InvalidInput("That property is not in the document any more.",
                                   [FieldProblem("/path", "names nothing in the document", "gone")])
        else:
            after = copy.deepcopy(base)
            if kind == "objects":  # the customer's own fields stay, with their data
                shipped = {f["uid"] for f in base.get("fields", [])}
                after["fields"] = [*after.get("fields", []),
                                   *(f for f in mine.get("fields", []) if f["uid"] not in shipped)]
        saved = self._save(actor, kind, stored, after)
        # What was on the review list at that place is settled: the package's value runs.
        with self.kernel.write() as conn:
            for row in conn.execute(sa.select(package_conflicts.c.id, package_conflicts.c.path).where(
                    package_conflicts.c.package == name, package_conflicts.c.uid == stored.uid,
                    package_conflicts.c.status == "open")).all():
                if not path or tuple(path_of(row.path)[:len(path)]) == tuple(path):
                    conn.execute(sa.update(package_conflicts).where(package_conflicts.c.id == row.id)
                                 .values(status="taken"))
        return saved

    def _save(self, actor: Actor, kind: str, stored: metastore.StoredDocument, body: dict[str, Any]) -> dict[str, Any]:
        from tessera.packages.apply import _replacing

        body = {k: v for k, v in body.items() if k not in ("uid", "version")}
        if kind == "objects":
            kept = [f for f in stored.body.get("fields", []) if f.get("system")]
            ours = {f["uid"] for f in body.get("fields", [])}
            body["fields"] = [*body.get("fields", []), *(f for f in kept if f["uid"] not in ours)]
            return self.metadata.update_object(actor, stored.api_name, _replacing(comparable(kind, stored.body), body),
                                               given_uids=True)
        return self.documents.update(actor, kind, stored.api_name, _replacing(stored.body, body))

    # -- the review list -------------------------------------------------------------------
    def conflicts(self, actor: Actor, name: str, *, status: str = "open") -> list[dict[str, Any]]:
        _require_admin(actor)
        with self.kernel.read() as conn:
            self._version(conn, name)
            rows = conn.execute(sa.select(package_conflicts).where(
                package_conflicts.c.package == name, package_conflicts.c.status == status)
                .order_by(package_conflicts.c.id)).all()
        return [{"id": r.id, "version": r.version, "status": r.status, "at": _at(r.at), **r.values} for r in rows]

    def resolve(self, actor: Actor, name: str, conflict_id: int, choice: str) -> dict[str, Any]:
        """"keep" the customer's value (it is already what runs), or "take" the package's."""
        _require_admin(actor)
        if choice not in ("keep", "take"):
            raise InvalidInput("Choose keep (yours) or take (the package's).",
                               [FieldProblem("/choice", "must be keep or take")])
        with self.kernel.read() as conn:
            row = conn.execute(sa.select(package_conflicts).where(
                package_conflicts.c.id == conflict_id, package_conflicts.c.package == name)).first()
            stored = metastore.find_by_uid(conn, row.uid) if row else None
        if row is None:
            raise NotFound(f"There is no conflict {conflict_id} of {name}.")
        if row.status != "open":
            settled = "yours kept" if row.status == "kept" else "the package's value taken"
            raise Conflict(f"That conflict was resolved already ({settled}); change the property itself to "
                           "change it again.")
        if choice == "take":
            if stored is None or stored.state != "active":
                raise Conflict("The document is not there (deleted or in the trash); restore it first to take "
                               "the package's value.")
            where = path_of(row.path)
            value = ABSENT if "package" in row.values.get("absent", []) else row.values.get("package")
            after = comparable(row.kind, stored.body)
            if where:
                set_at(after, where, value, anchor_in=None)
            elif isinstance(value, dict):
                after = value
            self._save(actor, row.kind, stored, after)
        with self.kernel.write() as conn:
            conn.execute(sa.update(package_conflicts).where(package_conflicts.c.id == conflict_id)
                         .values(status="kept" if choice == "keep" else "taken"))
        return {"id": conflict_id, "status": "kept" if choice == "keep" else "taken"}

    def resolve_all(self, actor: Actor, name: str, choice: str, ids: list[int] | None = None) -> dict[str, Any]:
        """Keep yours / take the package's for every open conflict (or those in `ids`), in
        the list's order; one that can no longer be applied is left open and reported."""
        done, left = [], []
        for found in self.conflicts(actor, name):
            if ids is not None and found["id"] not in ids:
                continue
            try:
                self.resolve(actor, name, int(found["id"]), choice)
                done.append(found["id"])
            except (InvalidInput, Conflict, NotFound) as error:
                left.append({"id": found["id"], "label": found["label"], "error": error.detail})
        return {"resolved": done, "left": left}

    # -- export ---------------------------------------------------------------------------
    def export(self, actor: Actor, name: str, *, layer_only: bool = False) -> tuple[str, bytes]:
        """A zip of the package as it runs now (base + the customer's changes, the author's
        uids, canonical JSON), or only the customer's changes as an overlay package."""
        _require_admin(actor)
        with self.kernel.read() as conn:
            row = conn.execute(sa.select(packages).where(packages.c.name == name)).first()
            if row is None:
                raise NotFound(f"No package named {name!r} is installed.")
            bases = conn.execute(sa.select(package_documents).where(
                package_documents.c.package == name, package_documents.c.version == row.version)).all()
            current = _without_fields(metastore.find_by_uids(conn, [b.uid for b in bases]),
                                      self._added_by_others(conn, name))
        kept_apart = {}
        for base in bases:
            if base.kind == TEAMS and not layer_only:  # a team is kept as it is: no change to carry
                with self.kernel.read() as conn:
                    team = people.team_now(conn, str(base.base["api_name"]), base.author_uid)
                if team is not None:
                    kept_apart[base.uid] = team
            if base.kind == ROLES:
                try:
                    role = self.users.roles.get(str(base.base["api_name"]), self.kernel.snapshot)
                except NotFound:
                    continue
                now = {k: role[k] for k in ("api_name", "label", "description", "permissions")
                       if role.get(k) not in (None, "")}
                with self.kernel.read() as conn:
                    snap = self.kernel.snapshot(conn)
                shipped = {**base.base, "permissions": named_permissions(
                    stored_permissions(base.base.get("permissions") or {}, snap)[0], snap)}
                if not layer_only or now != {k: v for k, v in shipped.items() if v not in (None, "")}:
                    kept_apart[base.uid] = now
        files = exporting.package_files(dict(row.manifest), bases, current, layer_only=layer_only, roles=kept_apart)
        return f"{name}-{row.manifest['version']}{'-layer' if layer_only else ''}.zip", exporting.zip_of(files)


def _without_fields(found: dict[str, metastore.StoredDocument], uids: set[str]) -> dict[str, metastore.StoredDocument]:
    """Documents as if the fields in `uids` were not on them."""
    if not uids:
        return found
    return {uid: dataclasses.replace(d, body={**d.body, "fields": [f for f in d.body.get("fields", [])
                                                                   if f.get("uid") not in uids]})
            if d.kind == "objects" else d for uid, d in found.items()}


def _uids(package: Package, kinds: dict[str, str], bases: dict[str, Base]) -> list[str]:
    uids = [platform_uid(package.identity, kinds.get(d.kind, d.kind[:3]), d.uid) for d in package.documents]
    uids += [platform_uid(str(e.body["extends"]["package"]), "obj", str(e.body["extends"]["uid"]))
             for e in package.extensions]
    return sorted({*uids, *bases})


def _files(package: Package) -> dict[str, str]:
    """The package's files as texts (compact JSON: they are read back by `parse`, not people)."""
    out = {"manifest.json": compact(package.manifest)}
    for item in walk_files(package):
        out[item.path] = compact(item.body)
    return out


def _refuse(plan: Plan, expected: str | None, strict: bool) -> None:
    if plan.problems:
        raise InvalidInput(f"{plan.package.title} {plan.package.version} cannot be "
                           f"{'upgraded' if plan.action == 'upgrade' else 'installed'}; nothing was written.",
                           plan.problems, extra={"plan": plan.as_json()})
    if expected is not None and expected != plan.digest:
        raise PlanStale("The metadata changed since the plan was made; look at the new plan and apply again.",
                        extra={"plan": plan.as_json()})
    clashes = [c for s in plan.steps for c in s.clashes]
    if strict and clashes:
        raise Conflict(f"{len(clashes)} conflicts are unresolved and --strict was asked: nothing was written.",
                       extra={"plan": plan.as_json()})


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only admins install, upgrade, export and uninstall packages.")


def _at(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _change_json(kind: str, body: dict[str, Any], change: Change, history: list[dict[str, Any]]) -> dict[str, Any]:
    from tessera.packages.plan import Step, label_path

    step = Step(kind, "", "", "", str(body.get("api_name", "")), str(body.get("label", "")), "update", body=body)
    out: dict[str, Any] = {"path": list(change.path), "label": label_path(step, change.path),
                           "package": None if change.before is ABSENT else change.before,
                           "yours": None if change.after is ABSENT else change.after,
                           "change": "added" if change.before is ABSENT else
                           "removed" if change.after is ABSENT else "changed"}
    for entry in history:  # newest first: the change that last touched this place
        if entry["action"] == "create":
            break
        if get_at(entry.get("before") or {}, change.path) != get_at(entry.get("after") or {}, change.path):
            out["by"], out["at"] = entry["actor"], entry["at"]
            break
    return out
