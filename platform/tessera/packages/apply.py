"""Carrying out a plan: metadata and schema in one transaction, then sample data in batches.

Every document goes through the same services the API and the builder pages use, so a
package can do nothing a builder could not, and every check they make holds. Each object is
made whole, those it points at first; objects that name each other (or a formula over a
relation made later) are made in passes — plain fields, then lookups and line items, then
formulas and rules — so documents can name each other in any order. Each step runs under a
savepoint so every problem is found at once; the caller keeps nothing unless all is well
(a dry run rolls everything back).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.actions import people as people_specs
from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.data.tables import package_conflicts, package_documents, package_records, packages, users
from tessera.errors import FieldProblem, InvalidInput, TesseraError
from tessera.packages import sample_history, samples
from tessera.packages.files import EXTENSIONS, ROLES, TEAMS, Package, problem, sha256
from tessera.packages.identity import element_names
from tessera.packages.merge import path_text
from tessera.packages.plan import KIND_ORDER, Plan, Step, clash_json, comparable, label_path
from tessera.runtime.metadata.documents import DocumentService
from tessera.runtime.metadata.objects import MetadataService
from tessera.runtime.records.service import RecordService

#: Field types whose values or checks need other objects: added in the later passes.
RELATIONAL = frozenset({"lookup", "child_table", "formula", "rollup"})
#: Sample records are written this many at a time, one transaction each.
DATA_BATCH = 1000


def _plain(body: dict[str, Any], keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An object with only what needs nothing else (and fields of the types in `keep`):
    the first passes of creating it."""
    out = copy.deepcopy(body)
    out["fields"] = [f for f in out.get("fields", []) if (f.get("type") not in RELATIONAL or f.get("type") in keep)
                     and "default_formula" not in f]
    out.pop("validation_rules", None)
    out.pop("sharing_rules", None)
    if out.get("name_field") and out["name_field"] not in {f["api_name"] for f in out["fields"]}:
        out.pop("name_field")
    return out


def _held(conn: Connection, write: Callable[[], Any]) -> bool:
    """Try `write` under a savepoint: whether it held (refused: rolled back, to try later)."""
    savepoint = conn.begin_nested()
    try:
        write()
    except TesseraError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _targets_first(steps: list[Step]) -> list[Step]:
    """Objects ordered so that those a lookup or a line-items field points at come before
    the object pointing (a formula over `lines.net` needs `net` to exist)."""
    by_name = {s.api_name: s for s in steps}
    placed: list[Step] = []
    seen: set[str] = set()

    def place(step: Step) -> None:
        if step.api_name in seen:
            return
        seen.add(step.api_name)
        for fdoc in (step.body or {}).get("fields", []):
            target = by_name.get(str(fdoc.get("target")))
            if fdoc.get("type") in ("lookup", "child_table") and target is not None:
                place(target)
        placed.append(step)

    for step in steps:
        place(step)
    return placed


def _replacing(current: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A partial change that makes a document `body`: its keys, and null for keys it lacks."""
    out: dict[str, Any] = {k: v for k, v in body.items() if k not in ("uid", "version")}
    for key in current:
        if key not in body and key not in ("uid", "version", "api_name", "label"):
            out[key] = None
    return out


#: What else writing a document of a kind from a package does, given its api_name (a flow
#: is published, so the template's flows run — a running instance keeps its version).
Then = Callable[[Actor, str], object]


class Applier:
    def __init__(self, metadata: MetadataService, documents: DocumentService, records: RecordService) -> None:
        self.metadata = metadata
        self.documents = documents
        self.records = records
        self.then: dict[str, Then] = {}

    # -- metadata -------------------------------------------------------------------------
    def apply(self, conn: Connection, actor: Actor, plan: Plan, *, collect: bool = False, record: bool = True,
              progress: Callable[[int, int], None] | None = None) -> list[FieldProblem]:
        """Write what the plan says. `collect`: each step under a savepoint, and every
        problem collected rather than the first raised (the caller rolls back if any).
        `record`: keep the new base and the review list (else the caller calls `record`).
        The package's roles are written after its metadata: its flows may name them."""
        coming = people_specs.COMING.set(frozenset(
            ("role", str(item.body.get("api_name"))) for item in plan.package.roles))
        try:
            return self._apply(conn, actor, plan, collect=collect, record=record, progress=progress)
        finally:
            people_specs.COMING.reset(coming)

    def _apply(self, conn: Connection, actor: Actor, plan: Plan, *, collect: bool, record: bool,
               progress: Callable[[int, int], None] | None) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        failed: set[str] = set()
        steps = [s for s in plan.steps if s.action in ("create", "update", "remove", "extend")
                 and s.kind not in (ROLES, TEAMS)]
        objects = [s for s in steps if s.kind == "objects"]
        total = len(steps) + len([s for s in objects if s.action == "create"])
        done = 0

        def run(step: Step, write: Callable[[], Any]) -> None:
            nonlocal done
            done += 1
            if step.uid in failed:
                return
            if not collect:
                write()
            else:
                savepoint = conn.begin_nested()
                try:
                    write()
                except TesseraError as error:
                    savepoint.rollback()
                    failed.add(step.uid)
                    problems.extend(_located(step, error))
                else:
                    savepoint.commit()
            if progress:
                progress(done, total)

        # Each object whole, those it points at first; one that names what is not there yet
        # (objects pointing at each other, a formula over a relation) is made in passes.
        later: list[Step] = []
        for step in _targets_first([s for s in objects if s.action == "create"]):
            if not _held(conn, lambda s=step: self.metadata.create_object(actor, s.body or {})):
                later.append(step)
                continue
            done += 2
            if progress:
                progress(done, total)
        for step in later:
            run(step, lambda s=step: self.metadata.create_object(actor, _plain(s.body or {})))
        for step in later:  # then the lookups and line items between them
            run(step, lambda s=step: self._write_object(actor, s, _plain(s.body or {}, frozenset({"lookup",
                                                                                               "child_table"}))))
        # Whole at last; an object whose formulas read another's formula fields (an account
        # summing its deals' amounts) waits until that one is whole: retried while any moves.
        pending = _targets_first([*later, *(s for s in objects if s.action == "update")])
        while pending:
            waiting = []
            for step in pending:
                if not _held(conn, lambda s=step: self._write_object(actor, s)):
                    waiting.append(step)
                    continue
                done += 1
                if progress:
                    progress(done, total)
            if len(waiting) == len(pending):  # no progress: say what is wrong with each
                for step in waiting:
                    run(step, lambda s=step: self._write_object(actor, s))
                break
            pending = waiting
        for step in steps:
            if step.kind == EXTENSIONS:
                run(step, lambda s=step: self._extend(actor, s))
        # (Roles and teams live with users, not metadata: the service makes the teams before
        # this, as assignment rules name them, and grants the roles once it commits.)
        for kind in KIND_ORDER[1:] + tuple(sorted({s.kind for s in steps} - {*KIND_ORDER, EXTENSIONS})):
            for step in steps:
                if step.kind == kind and step.action in ("create", "update"):
                    run(step, lambda s=step: self._write_document(actor, s))
        for step in reversed(steps):
            if step.action == "remove":
                run(step, lambda s=step: self._remove(actor, s))
        if record and not problems:
            self.record(conn, actor, plan)
        return problems

    def _write_object(self, actor: Actor, step: Step, body: dict[str, Any] | None = None) -> None:
        body = copy.deepcopy(step.body or {} if body is None else body)
        with self.metadata.kernel.read() as conn:
            stored = metastore.find_by_uid(conn, step.uid)
        assert stored is not None
        kept = [f for f in stored.body.get("fields", []) if f.get("system")]
        ours = {f["uid"] for f in body.get("fields", [])}
        body["fields"] = [*(f for f in body.get("fields", []) if not f.get("system")),
                          *(f for f in kept if f["uid"] not in ours)]
        body.pop("uid", None)
        self.metadata.update_object(actor, stored.api_name, _replacing(comparable("objects", stored.body), body),
                                    given_uids=True)

    def _extend(self, actor: Actor, step: Step) -> None:
        assert step.body is not None and step.target is not None
        with self.metadata.kernel.read() as conn:
            stored = metastore.find_by_uid(conn, step.target[1])
        assert stored is not None
        fields = [step.body["updates"].get(f["uid"], f) for f in stored.body.get("fields", [])]
        fields += step.body["fields"]
        self.metadata.update_object(actor, stored.api_name, {"fields": fields}, given_uids=True)

    def _write_document(self, actor: Actor, step: Step) -> None:
        body = {k: v for k, v in (step.body or {}).items() if k not in ("uid", "version")}
        if step.action == "create":
            written = self.documents.create(actor, step.kind, body, uid=step.uid)
        else:
            with self.metadata.kernel.read() as conn:
                stored = metastore.find_by_uid(conn, step.uid)
            assert stored is not None
            written = self.documents.update(actor, step.kind, stored.api_name, _replacing(stored.body, body))
        if (then := self.then.get(step.kind)) is not None:
            then(actor, str(written["api_name"]))

    def _remove(self, actor: Actor, step: Step) -> None:
        self.trash(actor, step.kind, step.uid)

    def trash(self, actor: Actor, kind: str, uid: str) -> bool:
        """Move a package's document to the trash (an object with its table and data, all
        restorable); False when it is not there or in the trash already."""
        with self.metadata.kernel.read() as conn:
            stored = metastore.find_by_uid(conn, uid)
        if stored is None or stored.state != "active":
            return False
        if kind == "objects":
            self.metadata.delete_object(actor, stored.api_name, force=True)
        else:
            self.documents.delete(actor, kind, stored.api_name)
        return True

    def record(self, conn: Connection, actor: Actor, plan: Plan) -> None:
        """Keep the new version's base, the package's row and the review list (an overlay
        of customizations keeps none: its changes are the customer's)."""
        package = plan.package
        if package.overlay:
            return
        at = metastore.now()
        conn.execute(sa.delete(package_documents).where(package_documents.c.package == package.name,
                                                        package_documents.c.version == package.version))
        rows = []
        authored = {f.path: f.body for f in (*package.documents, *package.extensions)}
        for step in plan.steps:
            if step.base is None or step.action == "remove" or step.owner != package.name:
                continue
            base = step.base if step.kind == EXTENSIONS else comparable(step.kind, step.base)
            rows.append({"package": package.name, "version": package.version, "kind": step.kind, "uid": step.uid,
                         "author_uid": step.author_uid, "path": step.path, "base": base, "sha256": sha256(base),
                         "elements": element_names(package.name, step.kind, authored.get(step.path, {}))})
        if rows:
            conn.execute(sa.insert(package_documents), rows)
        if plan.from_version and plan.from_version != package.version:
            # The base before the one before is no longer needed for diffs or merges.
            conn.execute(sa.delete(package_documents).where(
                package_documents.c.package == package.name,
                package_documents.c.version.not_in([package.version, plan.from_version])))
        values = {"version": package.version, "title": package.title, "manifest": package.manifest,
                  "updated_at": at}
        if plan.from_version is None:
            conn.execute(sa.insert(packages).values(name=package.name, installed_at=at,
                                                    installed_by=actor.user_id, **values))
        else:
            conn.execute(sa.update(packages).where(packages.c.name == package.name).values(**values))
        clashes = [{"package": package.name, "version": package.version, "kind": s.kind, "uid": s.uid,
                    "path": path_text(c.path), "label": label_path(s, c.path)[:500],
                    "values": clash_json(s, c), "status": "open", "at": at}
                   for s in plan.steps for c in s.clashes]
        if clashes:
            conn.execute(sa.insert(package_conflicts), clashes)

    # -- sample data --------------------------------------------------------------------
    def load_data(self, actor: Actor, package: Package, *,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Create the package's sample records that are not there yet, in batches, each batch
        with its keys in one transaction: a job stopped half-way finishes when run again."""
        kernel = self.metadata.kernel
        files = list(package.data)
        wanted = sorted(samples.emails(files))
        with kernel.read() as conn:
            snap = kernel.snapshot(conn)
            known = {(r.object_uid, r.key): int(r.record_id) for r in conn.execute(
                sa.select(package_records).where(package_records.c.package == package.name))}
            # Relative dates count from the install (the same day when a stopped job is run again).
            moment = conn.execute(sa.select(packages.c.installed_at).where(
                packages.c.name == package.name)).scalar() or metastore.now()
            people = {str(r.email): int(r.id) for r in conn.execute(sa.select(users.c.email, users.c.id).where(
                users.c.email.in_(wanted), users.c.is_active.is_(True)))} if wanted else {}
        install = samples.Install.at(moment, kernel.settings.time_zone, people)
        order = _data_order(files, snap)
        total = sum(len(f.body.get("records", [])) for f in files)
        done = created = 0
        deferred: list[tuple[str, str, dict[str, tuple[str, str]]]] = []
        for item in order:
            obj = snap.object(str(item.body["object"]))
            where = {str(r["key"]): index for index, r in enumerate(item.body.get("records", []))}
            pending = [r for r in item.body.get("records", []) if (obj.uid, r["key"]) not in known]
            done += len(item.body.get("records", [])) - len(pending)
            for offset in range(0, len(pending), DATA_BATCH):
                batch = pending[offset:offset + DATA_BATCH]
                with kernel.write() as conn:
                    snap = kernel.snapshot(conn)
                    values = []
                    pasts = []
                    for record in batch:
                        try:
                            value, later = _resolve(snap, obj, record, known, install)
                            resolve = functools.partial(_resolve, snap, obj, known=known, install=install)
                            pasts.append(sample_history.worked_out(obj, record, value, resolve, install))
                        except samples.SampleValueError as error:
                            raise InvalidInput(f"A sample record of {item.path} cannot be loaded: {error.message}.",
                                               [problem(item.path, f"/records/{where[str(record['key'])]}"
                                                        f"{error.pointer}", error.message, "invalid_sample")]) from None
                        values.append(value)
                        if later:
                            deferred.append((obj.api_name, record["key"], later))
                    try:
                        made = self.records.create_many_ids(actor, obj.api_name, values)
                    except InvalidInput as error:
                        raise _refused(item.path, error, [where[str(r["key"])] for r in batch]) from None
                    for past, m in zip(pasts, made, strict=True):
                        sample_history.write(conn, snap, obj, m, past, actor.user_id)
                    conn.execute(sa.insert(package_records), [
                        {"package": package.name, "object_uid": obj.uid, "key": r["key"], "record_id": m}
                        for r, m in zip(batch, made, strict=True)])
                for r, m in zip(batch, made, strict=True):
                    known[(obj.uid, r["key"])] = m
                done += len(batch)
                created += len(batch)
                if progress:
                    progress(done, total)
        for object_name, key, later in deferred:
            with kernel.write() as conn:
                snap = kernel.snapshot(conn)
                obj = snap.object(object_name)
                patch = {name: known.get((target, ref)) for name, (target, ref) in later.items()}
                self.records.update(actor, object_name, known[(obj.uid, key)], patch, None)
        return {"records": created}


def _refused(path: str, error: InvalidInput, indexes: list[int]) -> InvalidInput:
    """Sample records the record service refused, as problems of their data file: each at
    its record's place in the file (`/records/3/opportunity`, `/records/0/lines/1/price`)."""
    problems = []
    for found in error.errors:
        inside = re.sub(r"\[(\d+)\]", r"/\1", found.field).replace(".", "/").strip("/")
        at = f"/records/{indexes[found.row]}" if found.row is not None and found.row < len(indexes) else ""
        problems.append(problem(path, f"{at}/{inside}" if inside else at or "/", found.message, found.code))
    shown = "; ".join(f"{p.field} {p.message}" for p in problems[:5]) + ("; …" if len(problems) > 5 else "")
    return InvalidInput(f"{path}: sample records cannot be loaded ({error.detail.rstrip('.')}): {shown}.",
                        problems)


def _data_order(files: list[Any], snap: Any) -> list[Any]:
    """Data files with the objects their lookups point at first. Only the lookups the
    records set count; where they go round in a circle, a record's required lookups are
    honoured and an optional one is written in a second step (see `load_data`)."""
    by_object = {str(f.body["object"]): f for f in files}
    placed: list[Any] = []
    seen: set[str] = set()

    def targets(name: str) -> list[tuple[str, bool]]:
        """The objects the records' lookups point at, with whether the lookup is required,
        required ones first; their lines' lookups included (lines are written with their
        record, so what they point at must be there first)."""
        obj = snap.objects.get(name)
        if obj is None:
            return []
        records = [r for r in by_object[name].body.get("records", []) if isinstance(r, dict)]
        used = {k for r in records for k in r}
        out = [(str(f.props.get("target")), f.required) for f in obj.stored_fields
               if f.type == "lookup" and (f.required or f.api_name in used)]
        for line_field in obj.line_fields:
            child = snap.objects.get(str(line_field.props.get("target")))
            if child is None or line_field.api_name not in used:
                continue
            in_lines = {k for r in records for line in r.get(line_field.api_name) or [] if isinstance(line, dict)
                        for k in line}
            out += [(str(f.props.get("target")), f.required) for f in child.stored_fields
                    if f.type == "lookup" and (f.required or f.api_name in in_lines)]
        return sorted(out, key=lambda t: not t[1])

    needs: dict[str, set[str]] = {}

    def required_of(name: str) -> set[str]:
        """The objects `name`'s records cannot be written without, through required lookups."""
        if name not in needs:
            needs[name] = set()
            for target, required in targets(name) if name in by_object else []:
                if required and target != name:
                    needs[name] |= {target, *required_of(target)}
        return needs[name]

    def place(name: str, path: tuple[str, ...]) -> None:
        if name in seen or name not in by_object:
            return
        seen.add(name)
        here = {*path, name}
        for target, required in targets(name):
            # An optional lookup to an object that needs one on the way here waits instead.
            if target not in here and (required or not required_of(target) & here):
                place(target, (*path, name))
        placed.append(by_object[name])

    for name in by_object:
        if name not in snap.objects:
            raise InvalidInput("A data file names an object the package does not have.",
                               [problem(by_object[name].path, "/object", f"there is no object named {name!r}")])
    for name in by_object:
        place(name, ())
    return placed


def _resolve(snap: Any, obj: Any, record: Mapping[str, Any], known: Mapping[tuple[str, str], int],
             install: samples.Install) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """A sample record's values with lookups given by key (`{"key": "acme"}`) made ids,
    dates relative to the install and people by e-mail worked out (see `samples`); lookups
    to records not loaded yet come back to be set afterwards."""
    values: dict[str, Any] = {}
    later: dict[str, tuple[str, str]] = {}
    for name, value in record.items():
        if name == "key" or (name == sample_history.KEY and sample_history.takes_history(obj)):
            continue
        ftype, fdef = samples.field_type(obj, name)
        sample = samples.special(value) if ftype is not None and ftype not in samples.VERBATIM else None
        if ftype is not None and sample is not None:
            if (wrong := samples.problem_of(ftype, sample)) is not None:
                raise samples.SampleValueError(f"/{name}", wrong)
            worked_out = samples.value(ftype, sample, install)
            if worked_out is not samples.OMITTED:
                values[name] = worked_out
        elif fdef is not None and fdef.type == "lookup" and isinstance(value, dict) and "key" in value:
            target = snap.objects.get(str(fdef.props.get("target")))
            found = known.get((target.uid, str(value["key"]))) if target is not None else None
            if found is None:
                later[name] = (target.uid if target is not None else "", str(value["key"]))
                continue
            values[name] = found
        elif fdef is not None and fdef.type == "child_table" and isinstance(value, list):
            child = snap.objects.get(str(fdef.props.get("target")))
            lines = []
            for index, line in enumerate(value):
                try:
                    lines.append(_resolve(snap, child, {**line, "key": ""}, known, install)[0]
                                 if child is not None and isinstance(line, dict) else line)
                except samples.SampleValueError as error:
                    raise samples.SampleValueError(f"/{name}/{index}{error.pointer}", error.message) from None
            values[name] = lines
        else:
            values[name] = value
    return values, later


def _located(step: Step, error: TesseraError) -> list[FieldProblem]:
    """A service's error as problems of the package file the step came from."""
    if not error.errors:
        return [problem(step.path, "/", error.detail, "refused")]
    return [problem(step.path, p.field, f"{p.message} ({error.detail.rstrip('.')})" if p.field in ("", "/")
                    else p.message, p.code) for p in error.errors]
