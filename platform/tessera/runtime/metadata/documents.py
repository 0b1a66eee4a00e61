"""Metadata documents of every kind but objects: forms, flows, rules, reports, dashboards,
and any kind a plugin registers.

A kind registers its JSON Schema, a check against the current metadata, and where its
documents name objects and fields (names and formulas); each engine's wiring registers its
kinds from its `kinds.py` when the assembly installs it, and this module imports none. With that, one service stores
every kind the same way objects are stored — versions, history, a trash — and keeps their
references in the dependency graph: "where is this used?" finds a form that places a field,
deleting that field is refused while the form uses it (unless forced), and renaming the
field rewrites the form. Rewrites go by the place recorded in the graph, so they need no
metadata: a name at a path is replaced when it still reads the old name, and a formula's
field reference is found again by its position in the formula's syntax tree.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound, StaleVersion
from tessera.formula import USER_OBJECT, FormulaError, Schema, parse
from tessera.formula.ast import Path, walk
from tessera.meta import dependencies as deps
from tessera.meta.documents import one_per_path, schema_problems
from tessera.registry import Registry
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.records.formulas import FormulaService, SnapshotSchema, formula_problem

#: Vias of the dependency graph for what documents of these kinds hold: a field's name, an
#: object's name, a field they depend on without holding its name (a related list's
#: relation), and a field a formula reads.
FIELD_VIA = "document_field"
OBJECT_VIA = "document_object"
LINK_VIA = "document_link"
FORMULA_VIA = "document_formula"
NAME_PATTERN = "^[a-z][a-z0-9_]{0,62}$"


@dataclass(frozen=True)
class DocumentFormula:
    """A formula in a document: at JSON pointer `path`, about records of `object`, of the
    formula type `expect` (None: any)."""

    path: str
    object: str
    source: str
    expect: str | None = "boolean"


Check = Callable[[Mapping[str, Any], Schema], list[FieldProblem]]
Names = Callable[[Mapping[str, Any], Schema], Iterable[deps.Reference]]
Formulas = Callable[[Mapping[str, Any], Schema], Iterable[DocumentFormula]]
Observer = Callable[[Connection, metastore.StoredDocument], None]


def _no_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    return []


def _no_formulas(doc: Mapping[str, Any], schema: Schema) -> list[DocumentFormula]:
    return []


def _object_name(doc: Mapping[str, Any], schema: Schema) -> list[deps.Reference]:
    return [deps.Reference(OBJECT_VIA, "object", str(doc["object"]))] if doc.get("object") else []


@dataclass(frozen=True)
class DocumentKind:
    """What the service needs to know about one kind of document.

    `check(doc, schema)` finds what the JSON Schema cannot (names that do not exist) and
    returns problems with JSON pointers; `names(doc, schema)` lists the objects and fields
    the document names, as dependency-graph references (via FIELD_VIA, OBJECT_VIA or
    LINK_VIA, path without the leading slash); `formulas(doc, schema)` lists its formulas,
    which the service type-checks and whose fields it adds to the graph. All three get
    documents that passed the schema, and the metadata as the formula engine's Schema.
    """

    name: str
    label: str
    uid_prefix: str
    schema: Callable[[], dict[str, Any]]
    check: Check = _no_problems
    names: Names = _object_name
    formulas: Formulas = _no_formulas


def provisional_schema(name: str, title: str) -> Callable[[], dict[str, Any]]:
    """The schema of a kind whose engine has not defined its documents yet: a name, a
    label, an optional object; anything else is kept as it is."""

    def schema() -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://tessera.dev/schemas/{name}.schema.json",
            "title": title,
            "description": f"A {title.lower()}. Its engine defines the rest of the document; until then "
                           "other properties are stored as they are.",
            "type": "object",
            "required": ["api_name", "label"],
            "properties": {
                "uid": {"type": "string"},
                "version": {"type": "integer"},
                "api_name": {"type": "string", "pattern": NAME_PATTERN,
                             "description": "lower-case letters, digits and _, starting with a letter"},
                "label": {"type": "string", "minLength": 1, "maxLength": 120},
                "description": {"type": "string", "maxLength": 2000},
                "object": {"type": "string", "pattern": NAME_PATTERN},
            },
        }

    return schema


def _object_exists(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    name = doc.get("object")
    if name and schema.object(str(name)) is None:
        return [FieldProblem("/object", f"there is no object named {name!r}", "unknown_object")]
    return []


class DocumentService:
    """Creates, changes, trashes, restores and purges documents of the registered kinds."""

    def __init__(self, kernel: Kernel, formulas: FormulaService) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self._kinds: Registry[DocumentKind] = Registry("document kind")
        self._validators: dict[str, Draft202012Validator] = {}
        self._cache: dict[tuple[int, str], list[metastore.StoredDocument]] = {}
        self._lock = threading.Lock()
        self._observers: dict[str, list[Observer]] = {}

    # -- kinds ----------------------------------------------------------------------------
    def register(self, kind: DocumentKind) -> DocumentKind:
        """Make a kind of document available at /api/v1/meta/{kind} (an engine's or a
        plugin's `install` registers its kinds)."""
        if kind.name == "objects":
            raise ValueError("objects are not documents of this service")
        return self._kinds.register(kind.name, kind)

    def kind(self, name: str) -> DocumentKind:
        if name == "objects":
            raise NotFound("Objects have their own endpoints: /api/v1/meta/objects.")
        found = self._kinds.get(name)
        if found is None:
            known = ", ".join(["objects", *sorted(self._kinds)])
            raise NotFound(f"There is no metadata kind {name!r}; the kinds are {known}.")
        return found

    def _validator(self, kind: str) -> Draft202012Validator:
        found = self._validators.get(kind)
        if found is None:
            schema = self.kind(kind).schema()
            found = self._validators[kind] = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return found

    def observe(self, kind: str, observer: Observer) -> None:
        """Call `observer(conn, stored)` in the transaction of every change to a document of
        `kind` (stored.state tells a trashed one): engines schedule a rule's timers there."""
        self._observers.setdefault(kind, []).append(observer)

    def _changed(self, conn: Connection, kind: str, stored: metastore.StoredDocument) -> None:
        for observer in self._observers.get(kind, []):
            observer(conn, stored)

    # -- reading ------------------------------------------------------------------------
    def kinds(self) -> list[dict[str, Any]]:
        return [{"name": "objects", "label": "Object"}] + [
            {"name": k.name, "label": k.label} for k in sorted(self._kinds.as_dict().values(), key=lambda k: k.name)]

    def schema(self, kind: str) -> dict[str, Any]:
        return self.kind(kind).schema()

    def list(self, kind: str, *, object_name: str | None = None, trash: bool = False) -> list[dict[str, Any]]:
        self.kind(kind)
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            found = metastore.all_documents(conn, kind, ("trash",) if trash else ("active",))
        return [_out(d) for d in found if object_name is None or d.body.get("object") == object_name]

    def get(self, kind: str, api_name: str) -> dict[str, Any]:
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            return _out(self._stored(conn, kind, api_name))

    def history(self, kind: str, api_name: str) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name, states=("active", "trash"))
            return metastore.history(conn, stored.uid)

    def check(self, kind: str, doc: Any) -> list[dict[str, Any]]:
        """The problems a document would be refused with, without saving it."""
        self.kind(kind)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return [p.as_json() for p in self.problems(snap, kind, doc)]

    def stored_problems(self, kind: str, api_name: str) -> list[dict[str, Any]]:
        """What is wrong with a stored document now (the metadata may have changed under
        it, e.g. a field it used was deleted with force)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name)
            return [p.as_json() for p in self.problems(snap, kind, _without_identity(stored.body))]

    def active(self, conn: Connection, snap: Snapshot, kind: str) -> list[metastore.StoredDocument]:
        """The active documents of a kind for engines, read once per metadata revision."""
        key = (snap.revision, kind)
        found = self._cache.get(key)
        if found is None:
            found = metastore.all_documents(conn, kind)
            with self._lock:
                if any(k[0] != snap.revision for k in self._cache):
                    self._cache.clear()
                self._cache[key] = found
        return found

    # -- writing ------------------------------------------------------------------------
    def create(self, actor: Actor, kind: str, doc: Any, *, uid: str | None = None) -> dict[str, Any]:
        """`uid`: the one the document must have (a package's, derived from its author's);
        otherwise a new one."""
        spec = self.kind(kind)
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            body = _without_identity(doc) if isinstance(doc, dict) else doc
            _raise(self.problems(snap, kind, body))
            body["uid"] = uid or f"{spec.uid_prefix}_{secrets.token_hex(8)}"
            if metastore.find_document(conn, kind, body["api_name"]) is not None:
                raise Conflict(f"A {spec.label.lower()} named {body['api_name']!r} exists already (or is in the "
                               "trash).", [FieldProblem("/api_name", "is taken", "taken")])
            stored = metastore.insert_document(conn, kind, body, actor.user_id)
            self._resolve(conn, snap, stored)
            self._changed(conn, kind, stored)
            return _out(stored)

    def update(self, actor: Actor, kind: str, api_name: str, changes: Any, *,
               expected_version: int | None = None) -> dict[str, Any]:
        """Apply a partial document: given keys replace stored ones, null removes one."""
        spec = self.kind(kind)
        if not isinstance(changes, dict):
            raise InvalidInput("The change must be a JSON object.", [FieldProblem("/", "must be an object")])
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name, for_update=True)
            incoming = _without_identity(changes)
            body_version = changes.get("version")
            if expected_version is None and isinstance(body_version, int) and not isinstance(body_version, bool):
                expected_version = body_version
            if expected_version is not None and expected_version != stored.version:
                raise StaleVersion(f"The {spec.label.lower()} is at version {stored.version}, not "
                                   f"{expected_version}; reload it.", extra={"current_version": stored.version})
            after = _without_identity(stored.body)
            for key, value in incoming.items():
                if value is None and key not in ("api_name", "label"):
                    after.pop(key, None)
                else:
                    after[key] = value
            if after == _without_identity(stored.body):
                return _out(stored)  # nothing changed: no new version
            _raise(self.problems(snap, kind, after))
            if after["api_name"] != stored.api_name and metastore.find_document(conn, kind, after["api_name"]):
                raise Conflict(f"The name {after['api_name']!r} is taken.",
                               [FieldProblem("/api_name", "is taken", "taken")])
            changed = sorted(k for k in {*after, *stored.body} - {"uid", "version"}
                             if after.get(k) != stored.body.get(k))
            updated = metastore.update_document(conn, stored, after, actor.user_id,
                                                summary=f"changed: {', '.join(changed)}")
            self._resolve(conn, snap, updated)
            self._changed(conn, kind, updated)
            return _out(updated)

    def delete(self, actor: Actor, kind: str, api_name: str) -> None:
        """Move a document to the trash; it no longer holds on to what it names."""
        with self.kernel.write() as conn:
            self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name, for_update=True)
            trashed = metastore.update_document(conn, stored, stored.body, actor.user_id, action="delete",
                                                summary="moved to the trash", state="trash")
            metastore.set_dependencies(conn, trashed, [])
            self._changed(conn, kind, trashed)

    def restore(self, actor: Actor, kind: str, api_name: str) -> dict[str, Any]:
        """Bring a document back from the trash, if it still fits the metadata."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name, states=("trash",), for_update=True)
            problems = self.problems(snap, kind, _without_identity(stored.body))
            if problems:
                raise InvalidInput(f"The {self.kind(kind).label.lower()} no longer fits the metadata and "
                                   "cannot be restored as it is.", problems)
            restored = metastore.update_document(conn, stored, stored.body, actor.user_id, action="restore",
                                                 summary="restored", state="active")
            self._resolve(conn, snap, restored)
            self._changed(conn, kind, restored)
            return _out(restored)

    def purge(self, actor: Actor, kind: str, api_name: str) -> None:
        """Remove a document in the trash for good (its history stays)."""
        with self.kernel.write() as conn:
            self.kernel.snapshot(conn)
            stored = self._stored(conn, kind, api_name, states=("trash",), for_update=True)
            metastore.delete_document(conn, stored, actor.user_id)

    # -- checking and the dependency graph ----------------------------------------------
    def _by_name(self, snap: Snapshot, kind: str,
                 pending: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> dict[str, Mapping[str, Any]]:
        # Read in the transaction the check runs in (Platform.read joins it).
        with self.kernel.read() as conn:
            found: dict[str, Mapping[str, Any]] = {d.api_name: d.body for d in self.active(conn, snap, kind)}
        return {**found, **(pending or {}).get(kind, {})}

    def problems(self, snap: Snapshot, kind: str, doc: Any,
                 pending: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> list[FieldProblem]:
        """Everything wrong with a document of `kind` against the snapshot, all at once.
        `pending`: documents about to be written with it (kind → api_name → body), which it
        may name (a package's dashboard names the package's reports)."""
        spec = self.kind(kind)
        if not isinstance(doc, dict):
            return [FieldProblem("/", f"a {spec.label.lower()} must be a JSON object")]
        problems = schema_problems(self._validator(kind), doc, "")
        if problems:
            return problems
        schema = SnapshotSchema(snap, documents=lambda other: self._by_name(snap, other, pending))
        problems = list(spec.check(doc, schema))
        for formula in spec.formulas(doc, schema):
            obj = snap.objects.get(formula.object)
            if obj is None:
                continue
            try:
                self.formulas.checked(snap, obj, formula.source, formula.expect)
            except FormulaError as error:
                problems.append(formula_problem(formula.path, error))
        return sorted(one_per_path(problems), key=lambda p: [(0, int(t), "") if t.isdigit() else (1, 0, t)
                                                              for t in p.field.split("/")])

    def references(self, snap: Snapshot, kind: str, doc: Mapping[str, Any]) -> list[deps.Reference]:
        """What a (valid) document names and reads, as references for the graph."""
        spec = self.kind(kind)
        schema = SnapshotSchema(snap)
        found = list(spec.names(doc, schema))
        for formula in spec.formulas(doc, schema):
            obj = snap.objects.get(formula.object)
            if obj is None:
                continue
            try:
                checked = self.formulas.checked(snap, obj, formula.source, formula.expect)
            except FormulaError:
                continue
            places = _places(formula.source)
            for ref in checked.references:
                place = places.get(ref.start)
                if ref.object is USER_OBJECT or ref.field.uid.startswith("sys") or place is None:
                    continue
                found.append(deps.Reference(FORMULA_VIA, f"{formula.path.lstrip('/')}@{place}",
                                            ref.object.api_name, ref.field.api_name))
        return found

    def _resolve(self, conn: Connection, snap: Snapshot, stored: metastore.StoredDocument) -> None:
        resolved: list[tuple[deps.Reference, str, str | None]] = []
        for ref in self.references(snap, stored.kind, stored.body):
            target = snap.objects.get(ref.object)
            if target is None:
                continue
            fdef = (target.field(ref.field) or target.line_field(ref.field)) if ref.field else None
            if ref.field and fdef is None:
                continue
            resolved.append((ref, target.uid, fdef.uid if fdef else None))
        metastore.set_dependencies(conn, stored, resolved)

    def _stored(self, conn: Connection, kind: str, api_name: str, *, states: tuple[str, ...] = ("active",),
                for_update: bool = False) -> metastore.StoredDocument:
        spec = self.kind(kind)
        stored = metastore.find_document(conn, kind, api_name, for_update=for_update)
        if stored is None or stored.state not in states:
            where = " in the trash" if states == ("trash",) else ""
            raise NotFound(f"There is no {spec.label.lower()} named {api_name!r}{where}.")
        return stored


def _out(stored: metastore.StoredDocument) -> dict[str, Any]:
    return {**copy.deepcopy(stored.body), "version": stored.version}


def _without_identity(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without what the platform sets (uid, version, the package that installed it)."""
    return {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("uid", "version", "package")}


def _raise(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidInput("The metadata document is not valid.", problems)


# -- rewriting on renames ---------------------------------------------------------------

def _nothing(doc: Mapping[str, Any]) -> Iterable[deps.Reference]:
    """References of these kinds need the metadata to find; the service records them."""
    return ()


def _keep(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
    """A place that depends on a field without holding its name has nothing to rewrite."""


def _rewrite_name(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
    """The name at the reference's path becomes the new name, if it still reads the old."""
    holder, key = _locate(doc, ref.path)
    renames_field = ref.via == FIELD_VIA
    if holder is not None and rename.field_renamed == renames_field and holder[key] == rename.old:
        holder[key] = rename.new


def _rewrite_formula(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
    """Rename one field reference in a formula, found by its place in the syntax tree
    (`path@node.part`), which renames never change."""
    if not rename.field_renamed:
        return
    path, _, place = ref.path.rpartition("@")
    holder, key = _locate(doc, path)
    if holder is None or not isinstance(holder[key], str):
        return
    source = holder[key]
    node, _, part = place.partition(".")
    try:
        paths = [n for n in walk(parse(source)) if isinstance(n, Path) and not n.context]
        target = paths[int(node)]
        name, start = target.parts[int(part)], target.offsets[int(part)]
    except (FormulaError, IndexError, ValueError):
        return
    if name == rename.old:
        holder[key] = source[:start] + rename.new + source[start + len(name):]


def _places(source: str) -> dict[int, str]:
    """Where each name of a formula's paths starts → `node.part` (its place in the tree)."""
    try:
        paths = [n for n in walk(parse(source)) if isinstance(n, Path) and not n.context]
    except FormulaError:
        return {}
    return {offset: f"{n}.{i}" for n, node in enumerate(paths) for i, offset in enumerate(node.offsets)}


def _locate(doc: Any, path: str) -> tuple[Any, Any]:
    """The container and key of a JSON pointer (without its leading slash), or (None, None)."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path.strip("/").split("/")]
    holder = doc
    try:
        for token in tokens[:-1]:
            holder = holder[int(token)] if isinstance(holder, list) else holder[token]
        key: Any = int(tokens[-1]) if isinstance(holder, list) else tokens[-1]
        holder[key]
    except (KeyError, IndexError, ValueError, TypeError):
        return None, None
    return holder, key


# What documents of every kind hold at these vias is rewritten so when a name changes.
for _via, _rewriter in ((FIELD_VIA, _rewrite_name), (OBJECT_VIA, _rewrite_name), (LINK_VIA, _keep),
                        (FORMULA_VIA, _rewrite_formula)):
    deps.register("documents", _via, _nothing, _rewriter)

__all__ = [
    "FIELD_VIA", "FORMULA_VIA", "LINK_VIA", "OBJECT_VIA", "DocumentFormula", "DocumentKind", "DocumentService",
    "provisional_schema",
]
