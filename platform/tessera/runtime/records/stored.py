"""Stored formula fields: formula and rollup fields with `"store": true`, kept current in
a column of their own.

Per metadata snapshot, every stored field's formula is expanded into what it reads — its
own record's fields, fields reached through lookups, child records of its aggregates,
and, through other formula fields, whatever those read — each with the path it is reached
by. When records change (saves, deletes with their cascades, restores) the changed
records are walked back along those paths to the records whose stored values they feed,
and exactly those are recomputed in SQL, in the same transaction, one UPDATE per field,
in dependency order. When a formula itself changes, its column (and every stored field
that reads it) is recomputed for all records by a background job, batch by batch, with
progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.prepared import Prepared
from tessera.data.tables import trash_links
from tessera.errors import FieldProblem, InvalidInput
from tessera.formula import Checked, FormulaError, Step, compile_store, reads
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.background.jobs import JobContext, JobService
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.records.formulas import FormulaService, expression_of

if TYPE_CHECKING:
    from tessera.runtime.records.save import SaveBatch

log = logging.getLogger("tessera.stored")
#: The read that stands for "which records exist" (creations, deletions, restores).
MEMBERSHIP = ""
#: Rows recomputed per transaction by the recompute job: it starts at BATCH and grows
#: while a batch takes under BATCH_SECONDS, so cheap formulas go fast and costly ones
#: never hold the write lock long enough to keep the API waiting.
BATCH = 1000
MAX_BATCH = 50_000
BATCH_SECONDS = 0.1
#: Ids per IN list when walking changed records back to the stored values they feed.
CHUNK = 1000
#: A save batch's note: a list the after_write hook adds the batch's changes to instead of
#: recomputing; whoever set it recomputes them all at once (a parent saved with its lines
#: works its totals out once, over the parent and every line, not once per batch).
STORED_LATER = "stored_later"
#: Field properties whose change cannot change any value a formula reads from the field.
COSMETIC = frozenset({"label", "help_text", "description", "api_name", "indexed", "required", "unique",
                      "default", "default_formula", "read_only", "max_length", "min", "max", "pattern",
                      "related_name", "on_delete"})


@dataclass(frozen=True, eq=False)
class Trigger:
    """Changes to `reads` of records of object `source_uid` affect stored `field` of
    `target`, on the records reached from them backwards along `path`."""

    target: ObjectDef
    field: FieldDef
    source_uid: str
    reads: frozenset[str]
    path: tuple[Step, ...]


@dataclass
class Changed:
    """Records of `obj` that changed: `fields` (api_names; None for created, deleted or
    restored records), and, per lookup that changed, the records it pointed at before."""

    obj: ObjectDef
    ids: list[int]
    fields: frozenset[str] | None = None
    parents: dict[str, list[int]] = field(default_factory=dict)


#: What feeds a stored field in one recompute: each trigger with the change that fired it.
Fed = list[tuple[Trigger, Changed]]


class StoredFormulaError(FormulaError):
    pass


def expand(check: Any, obj: ObjectDef, fdef: FieldDef) -> list[tuple[tuple[Step, ...], ObjectDef, FieldDef | None]]:
    """Everything stored field `fdef` reads, through other formula fields too, as
    (path, object, field or None for membership). `check(obj, source)` gives a Checked.
    Raises StoredFormulaError when formula fields read each other in a circle."""
    out: list[tuple[tuple[Step, ...], ObjectDef, FieldDef | None]] = []

    def visit(o: ObjectDef, f: FieldDef, prefix: tuple[Step, ...], chain: tuple[str, ...]) -> None:
        checked: Checked = check(o, f)
        for read in reads(checked):
            path = (*prefix, *read.path)
            out.append((path, read.object, read.field))
            inner = read.field
            if inner is not None and inner.computed:
                if inner.uid in chain:
                    names = " → ".join([*chain_names(chain), f"{read.object.api_name}.{inner.api_name}"])
                    raise StoredFormulaError(f"formula fields read each other in a circle: {names}",
                                             checked.source, 0)
                visit(read.object, inner, path, (*chain, inner.uid))

    uid_names: dict[str, str] = {}

    def chain_names(chain: tuple[str, ...]) -> list[str]:
        return [uid_names.get(u, u) for u in chain]

    uid_names[fdef.uid] = f"{obj.api_name}.{fdef.api_name}"
    visit(obj, fdef, (), (fdef.uid,))
    return out


class StoredIndex:
    """The stored fields of one snapshot, in dependency order, and their triggers."""

    def __init__(self, service: StoredFormulas, snap: Snapshot) -> None:
        self.snap = snap
        self.order: list[tuple[ObjectDef, FieldDef]] = []
        self.by_source: dict[str, list[Trigger]] = {}
        #: Per stored field uid: the (object uid, field uid) pairs it reads, transitively.
        self.closure: dict[str, set[tuple[str, str]]] = {}
        self._updates: dict[tuple[str, str], Any] = {}
        #: The recompute UPDATEs with their WHERE, by its shape (see `_Ids`): built and keyed
        #: once, run again with other ids bound.
        self._updates_where: dict[tuple[Any, ...], Any] = {}
        self._service = service
        stored = [(o, f) for o in snap.objects.values() for f in o.fields if f.computed and f.stored]
        depends: dict[str, set[str]] = {}

        def check(o: ObjectDef, f: FieldDef) -> Checked:
            return service.formulas.checked(snap, o, expression_of(f))

        for obj, fdef in stored:
            try:
                found = expand(check, obj, fdef)
            except FormulaError as error:
                # Metadata keeps formulas valid; one broken behind its back stays as it is.
                log.warning("stored field %s.%s is not kept current: %s", obj.api_name, fdef.api_name, error)
                continue
            merged: dict[tuple[Any, ...], tuple[tuple[Step, ...], str, set[str]]] = {}
            closure: set[tuple[str, str]] = set()
            for path, source, read in found:
                key = (source.uid, *((s.kind, s.parent.uid, s.field.uid) for s in path))
                entry = merged.setdefault(key, (path, source.uid, set()))
                entry[2].add(MEMBERSHIP if read is None else read.api_name)
                if read is not None:
                    closure.add((source.uid, read.uid))
            self.closure[fdef.uid] = closure
            depends[fdef.uid] = {fuid for _o, fuid in closure if fuid != fdef.uid}
            for path, source_uid, names in merged.values():
                self.by_source.setdefault(source_uid, []).append(
                    Trigger(obj, fdef, source_uid, frozenset(names), path))
            # Its own record always: a new record's value is computed whatever it holds.
            self.by_source.setdefault(obj.uid, []).append(Trigger(obj, fdef, obj.uid, frozenset({MEMBERSHIP}), ()))
        by_uid = {f.uid: (o, f) for o, f in stored if f.uid in self.closure}
        seen: set[str] = set()

        def place(uid: str) -> None:
            if uid in seen:
                return
            seen.add(uid)
            for dep in sorted(depends.get(uid, ())):
                if dep in by_uid:
                    place(dep)
            self.order.append(by_uid[uid])

        for uid in by_uid:
            place(uid)
        self.rank = {f.uid: i for i, (_o, f) in enumerate(self.order)}

    def update(self, conn: Connection, obj: ObjectDef, fdef: FieldDef) -> Any:
        """`UPDATE … SET field = formula` (no WHERE yet), compiled once per snapshot."""
        key = (conn.dialect.name, fdef.uid)
        found = self._updates.get(key)
        if found is None:
            snap, formulas = self.snap, self._service.formulas
            table = snap.table(obj)
            checked = formulas.checked(snap, obj, expression_of(fdef))
            value = compile_store(checked, conn.dialect.name, formulas.table_for(snap), table.c[fdef.column].type,
                                  None, formulas.column_for(snap, conn.dialect.name, None))
            found = self._updates[key] = sa.update(table).values({fdef.column: value})
        return found

    def update_where(self, conn: Connection, obj: ObjectDef, fdef: FieldDef,
                     fed: Fed) -> tuple[Any, dict[str, Any]]:
        """The UPDATE recomputing `fdef` on the records the changes feed, and its parameters."""
        table = self.snap.table(obj)
        bound = _Ids()
        for source in [s for trigger, ch in fed for s in self._walk_back(trigger, ch, bound, build=False)]:
            bound.member(table.c.id, source, build=False)
        key = (conn.dialect.name, fdef.uid, tuple(bound.shape))
        statement = self._updates_where.get(key)
        if statement is None:
            built = _Ids()
            sources = [s for trigger, ch in fed for s in self._walk_back(trigger, ch, built, build=True)]
            where = sa.and_(sa.or_(*(built.member(table.c.id, s, build=True) for s in sources)),
                            table.c.deleted_at.is_(None))
            statement = self.update(conn, obj, fdef).where(where)
            if "ids" not in bound.shape:
                # No list to expand: compiled once and run on the driver, where SQLAlchemy
                # would walk the formula's whole expression for its cache key on every run
                # (and, pipelined, it goes out with the next statement that waits).
                statement = Prepared(statement)
            if len(self._updates_where) < 1000:
                self._updates_where[key] = statement
        return statement, bound.params

    def affected(self, changes: Iterable[Changed]) -> dict[str, tuple[ObjectDef, FieldDef, Fed]]:
        """Per stored field uid: the triggers and changes that pick the records to recompute."""
        out: dict[str, tuple[ObjectDef, FieldDef, Fed]] = {}
        for ch in changes:
            if not ch.ids:
                continue
            own: set[str] = set()  # fields whose records this change is (no need to say it twice)
            for trigger in self.by_source.get(ch.obj.uid, ()):
                if ch.fields is not None and not (trigger.reads & ch.fields):
                    continue
                if not trigger.path:
                    if trigger.field.uid in own:
                        continue
                    own.add(trigger.field.uid)
                entry = out.setdefault(trigger.field.uid, (trigger.target, trigger.field, []))
                entry[2].append((trigger, ch))
        return out

    def _walk_back(self, trigger: Trigger, ch: Changed, bound: _Ids, *, build: bool) -> list[Any]:
        """Id sets (lists, ranges, or SELECTs of ids) of the target records, from the
        changed ones; their ids go to `bound`, and the SELECTs are made only to `build`."""
        snap = self.snap
        bound.shape.append(id(trigger))
        ids = sorted(ch.ids)
        sources: list[Any] = ([range(ids[0], ids[-1] + 1)] if ids[-1] - ids[0] + 1 == len(ids)
                              else [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)])
        for depth, step in enumerate(reversed(trigger.path)):
            if step.kind == "up":
                table = snap.table(step.parent)
                column = table.c[step.field.column]
                members = [bound.member(column, s, build=build) for s in sources]
                sources = [sa.select(table.c.id).where(sa.or_(*members)) if build else _SELECT]
            else:
                assert step.child is not None
                table = snap.table(step.child)
                column = table.c[step.field.column]
                members = [bound.member(table.c.id, s, build=build) for s in sources]
                found: list[Any] = [sa.select(column).where(sa.or_(*members), column.is_not(None))
                                    if build else _SELECT]
                before = ch.parents.get(step.field.api_name) if depth == 0 else None
                if before:
                    found.append(sorted(set(before)))
                sources = found
        return sources


class StoredFormulas:
    """Keeps stored formula fields current: on writes, and in bulk when formulas change."""

    def __init__(self, kernel: Kernel, formulas: FormulaService, jobs: JobService) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self.jobs = jobs
        self._index: StoredIndex | None = None
        self._lock = threading.Lock()

    def index(self, snap: Snapshot) -> StoredIndex:
        current = self._index
        if current is None or current.snap is not snap:
            current = StoredIndex(self, snap)
            with self._lock:
                self._index = current
        return current

    # -- on writes ----------------------------------------------------------------------
    def after_write(self, batch: SaveBatch) -> None:
        """after_write hook of the save pipeline."""
        if not batch.snapshot.has_stored_formulas:
            return
        if batch.creating:
            changes = [Changed(batch.obj, [c.record_id for c in batch.changes if c.record_id is not None])]
        else:
            changes = []
            for c in batch.changes:
                if c.record_id is None or not c.values:
                    continue
                parents = {name: [c.before[name]] for name in c.values
                           if c.before and c.before.get(name) is not None and _is_lookup(batch.obj, name)}
                changes.append(Changed(batch.obj, [c.record_id], frozenset(c.values), parents))
        later = batch.notes.get(STORED_LATER)
        if later is not None:
            later.extend(changes)
            return
        self.recompute(batch.conn, batch.snapshot, changes)

    def recompute(self, conn: Connection, snap: Snapshot, changes: list[Changed]) -> None:
        """Recompute, in this transaction, the stored values the changed records feed."""
        if not changes or not snap.has_stored_formulas:
            return
        index = self.index(snap)
        affected = index.affected(changes)
        for uid in sorted(affected, key=lambda u: index.rank.get(u, 0)):
            obj, fdef, fed = affected[uid]
            if uid not in index.rank or not fed:
                continue
            statement, params = index.update_where(conn, obj, fdef, fed)
            if isinstance(statement, Prepared):
                statement.write(conn, params)
            else:
                conn.execute(statement, params)

    def trashed(self, conn: Connection, snap: Snapshot, batch: str) -> None:
        """After a deletion (with its cascades and unlinked children) went to the trash."""
        if not snap.has_stored_formulas:
            return
        index = self.index(snap)
        changes = []
        for obj in snap.objects.values():
            if obj.uid in index.by_source:
                table = snap.table(obj)
                ids = conn.execute(sa.select(table.c.id).where(table.c.deleted_batch == batch)).scalars().all()
                changes.append(Changed(obj, list(ids)))
        changes += self._links(conn, snap, batch, unlinked=True)
        self.recompute(conn, snap, changes)

    def restored(self, conn: Connection, snap: Snapshot, batch: str, ids: dict[str, list[int]]) -> None:
        """After a deletion was undone: the records are back and their children re-linked."""
        if not snap.has_stored_formulas:
            return
        changes = [Changed(snap.by_uid[uid], rids) for uid, rids in ids.items() if uid in snap.by_uid]
        changes += self._links(conn, snap, batch, unlinked=False)
        self.recompute(conn, snap, changes)

    @staticmethod
    def _links(conn: Connection, snap: Snapshot, batch: str, *, unlinked: bool) -> list[Changed]:
        """Children whose lookup a deletion set blank (or its restore set back)."""
        groups: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for link in conn.execute(sa.select(trash_links).where(trash_links.c.batch == batch)):
            ids, targets = groups.setdefault((link.object_uid, link.field_uid), ([], []))
            ids.append(link.record_id)
            targets.append(link.target_id)
        out = []
        for (object_uid, field_uid), (ids, targets) in groups.items():
            child = snap.by_uid.get(object_uid)
            fdef = child.field_by_uid(field_uid) if child else None
            if child is None or fdef is None or child.api_name not in snap.objects:
                continue
            out.append(Changed(child, ids, frozenset({fdef.api_name}),
                               {fdef.api_name: targets} if unlinked else {}))
        return out

    # -- when formulas change -----------------------------------------------------------
    def needs_recompute(self, snap: Snapshot, before: ObjectDef | None, after: ObjectDef) -> list[list[str]]:
        """(object uid, field uid) of the fields of a changed object whose change can alter
        stored values: stored formulas that are new, newly stored or changed, and fields
        whose values changed meaning (a type conversion). Empty when nothing is stored."""
        if not any(f.computed and f.stored for f in after.fields) and not snap.has_stored_formulas:
            return []
        old = {f.uid: f for f in before.fields} if before else {}
        out: list[list[str]] = []
        for new in after.fields:
            prior = old.get(new.uid)
            if prior is None:
                if new.computed and new.stored:
                    out.append([after.uid, new.uid])
                continue
            if _material(prior.props) != _material(new.props) or (new.computed and new.stored and not prior.stored):
                out.append([after.uid, new.uid])
        return out

    def submit(self, conn: Connection, actor: Any, obj: ObjectDef, changed: list[list[str]]) -> int | None:
        if not changed:
            return None
        table = sa.table(obj.table_name, sa.column("id"))
        if conn.execute(sa.select(table.c.id).limit(1)).first() is None:
            # No record (live or in the trash) to recompute, here or through it elsewhere:
            # a stored value over an object without records is the value of no records,
            # and every record saved from now on is computed as it is saved. A template's
            # install adds its stored fields to objects it has only just made.
            return None
        names = [f.api_name for uid in {c[1] for c in changed} if (f := obj.field_by_uid(uid)) is not None]
        return self.jobs.submit(conn, "formula.recompute", {"changed": changed},
                                title=f"Recompute formulas of {obj.label} ({', '.join(sorted(names))})",
                                actor=actor)

    def request(self, actor: Any, object_name: str, field_names: list[str] | None = None) -> int:
        """Queue a recompute of an object's stored formula fields (all of them when none
        are named), e.g. after data was changed behind the platform's back."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            stored = [f for f in obj.fields if f.computed and f.stored]
            if field_names:
                unknown = [n for n in field_names if n not in {f.api_name for f in stored}]
                if unknown:
                    raise InvalidInput(
                        f"Not stored formula fields of {obj.label}: {', '.join(unknown)}.",
                        [FieldProblem("fields", f"{n!r} is not a stored formula field") for n in unknown])
                stored = [f for f in stored if f.api_name in field_names]
            if not stored:
                raise InvalidInput(f"{obj.label} has no stored formula fields.",
                                   [FieldProblem("object", "has no stored formula fields")])
            job = self.submit(conn, actor, obj, [[obj.uid, f.uid] for f in stored])
            assert job is not None
            return job

    def recompute_all(self, ctx: JobContext) -> dict[str, Any]:
        """The recompute job: every record of every stored field that reads (or is) one of
        the changed fields, in dependency order, BATCH records per transaction."""
        changed = {(o, f) for o, f in ctx.params.get("changed", [])}
        explicit = {f for _o, f in changed}
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            index = self.index(snap)
            targets = [(o, f) for o, f in index.order
                       if f.uid in explicit or index.closure.get(f.uid, set()) & changed]
            counts = {f.uid: conn.execute(sa.select(sa.func.count()).select_from(snap.table(o))).scalar_one()
                      for o, f in targets}
        total, done = sum(counts.values()), 0
        ctx.progress(0, total, "starting", force=True)
        size = BATCH
        for obj, fdef in targets:
            last = 0
            while True:
                started = time.perf_counter()
                with self.kernel.write() as conn:
                    snap = self.kernel.snapshot(conn)
                    current = snap.objects.get(obj.api_name)
                    now_field = current.field_by_uid(fdef.uid) if current and current.uid == obj.uid else None
                    if now_field is None or not now_field.stored or not now_field.computed:
                        break  # changed again meanwhile; a newer job has it
                    index = self.index(snap)
                    table = snap.table(current)
                    batch = sa.select(table.c.id).where(table.c.id > last).order_by(table.c.id).limit(size).subquery()
                    bounds = conn.execute(sa.select(sa.func.min(batch.c.id), sa.func.max(batch.c.id),
                                                    sa.func.count())).one()
                    if not bounds[2]:
                        break
                    conn.execute(index.update(conn, current, now_field)
                                 .where(table.c.id >= bounds[0], table.c.id <= bounds[1]))
                last = bounds[1]
                done += bounds[2]
                if time.perf_counter() - started < BATCH_SECONDS / 2:
                    size = min(size * 2, MAX_BATCH)
                elif time.perf_counter() - started > BATCH_SECONDS * 2:
                    size = max(size // 2, 100)
                ctx.progress(done, total, f"{obj.label}: {fdef.label}")
        ctx.progress(done, total, "done", force=True)
        return {"fields": [f"{o.api_name}.{f.api_name}" for o, f in targets], "records": done}


#: Stands for a SELECT of ids where the SQL is not being made (`_Ids`, build=False).
_SELECT = object()


class _Ids:
    """The ids a recompute's WHERE binds (lists, ranges), and the shape they give it: two
    recomputes of the same shape run the same statement with other ids bound."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.shape: list[Any] = []

    def member(self, column: Any, ids: Any, *, build: bool) -> Any:
        """`column` in a set of ids: a range of consecutive ids (a bulk create's), a list,
        or a SELECT of ids; None when not building."""
        n = len(self.params)
        if isinstance(ids, range):
            self.params[f"lo{n}"], self.params[f"hi{n}"] = ids.start, ids.stop - 1
            self.shape.append("range")
            return column.between(sa.bindparam(f"lo{n}"), sa.bindparam(f"hi{n}")) if build else None
        if isinstance(ids, list):
            self.params[f"ids{n}"] = ids
            self.shape.append("ids")
            return column.in_(sa.bindparam(f"ids{n}", expanding=True)) if build else None
        self.shape.append("select")
        return column.in_(ids) if build else None


def _is_lookup(obj: ObjectDef, name: str) -> bool:
    f = obj.field(name)
    return f is not None and f.type == "lookup"


def _material(props: Any) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in COSMETIC}

