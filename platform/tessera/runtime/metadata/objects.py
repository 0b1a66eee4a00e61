"""Changes to objects and fields: validated, applied to the physical schema and recorded.

Every change is computed as the difference between the stored object document and the
new one, so the object endpoint, the field endpoints and template installs share one path.
Each runs in one transaction with its DDL: data that would not survive the change (blanks
in a field made required, values that do not convert, options still in use) refuse it with
the ids of the records in the way, and nothing changes.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.data.schema import SchemaEditor, build_table, field_indexes, foreign_key
from tessera.data.tables import sequences, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tessera.meta import dependencies as deps
from tessera.meta.documents import normalize_field, normalize_object, object_problems
from tessera.meta.fieldtypes import FieldValueError, field_type, field_types
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.metadata.lines import attach_children, cap_problems, line_problems, system_field_problems
from tessera.runtime.records.formulas import FormulaService
from tessera.runtime.records.stored import StoredFormulas

#: Told of every change of an object in its transaction (before, after: None when the object
#: is new or purged); returns (id, kind) of a job it queued, or None. Search keeps its index so.
ObjectObserver = Callable[[Connection, Actor, ObjectDef | None, ObjectDef | None], tuple[int, str] | None]
#: Lists of rules in an object document that a forced field delete may switch off.
RULE_LISTS = ("validation_rules/", "sharing_rules/")
#: How many offending record ids an error lists.
SHOWN_IDS = 100
_BATCH = 1000


class MetadataService:
    """Creates, changes, trashes, restores and purges objects and fields."""

    def __init__(self, kernel: Kernel, formulas: FormulaService, stored_formulas: StoredFormulas) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self.stored_formulas = stored_formulas
        self.observers: list[ObjectObserver] = []

    def observe(self, observer: ObjectObserver) -> None:
        """Tell `observer` of every object created, changed or purged (in its transaction)."""
        self.observers.append(observer)

    def _tell(self, conn: Connection, actor: Actor, before: ObjectDef | None,
              after: ObjectDef | None) -> list[dict[str, Any]]:
        """The observers told; the jobs they queued, as a change's answer lists them."""
        return [_job_ref(*job) for observer in self.observers
                if (job := observer(conn, actor, before, after)) is not None]

    # -- reading ------------------------------------------------------------------------
    def list_objects(self) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            return [self._out(obj) for obj in self.kernel.snapshot(conn).objects.values()]

    def get_object(self, api_name: str) -> dict[str, Any]:
        with self.kernel.read() as conn:
            return self._out(self.kernel.snapshot(conn).object(api_name))

    def get_field(self, object_name: str, field_name: str) -> dict[str, Any]:
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).object(object_name)
            return dict(_field(obj, field_name).props)

    def history(self, api_name: str, field_name: str | None = None) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            doc = self._stored(conn, api_name, states=("active", "trash"))
            entries = metastore.history(conn, doc.uid)
        if field_name is None:
            return entries
        uid = _field(ObjectDef(doc.body), field_name).uid
        return [e for e in entries if _field_doc(e["before"], uid) != _field_doc(e["after"], uid)]

    def where_used(self, api_name: str, field_name: str | None = None) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).object(api_name)
            field_uid = _field(obj, field_name).uid if field_name else None
            found = metastore.dependents(conn, obj.uid, field_uid, whole_object=False)
            return [d.as_json() for d in found if d.source_uid != obj.uid or field_uid]

    def trash(self) -> dict[str, Any]:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return {
                "objects": [self._out(o) for o in snap.trashed.values()],
                "fields": [
                    {"object": o.api_name, **f} for o in snap.objects.values()
                    for f in o.doc.get("trash", [])
                ],
            }

    def problems(self, snap: Snapshot, doc: Any) -> list[FieldProblem]:
        """What creating an object as `doc` (or changing one to it) would be refused for, as
        far as the metadata in `snap` tells — its schema, formulas, lookups and line items —
        without writing anything: a package's plan checks every object it brings so, against
        the metadata as it will be."""
        found = object_problems(doc)
        if found:
            return found
        body = normalize_object(doc)
        found = self.formulas.check_object(snap, body)
        obj = ObjectDef(body)
        try:
            self._check_references(snap, obj, snap.by_uid.get(obj.uid))
        except InvalidInput as error:
            found += error.errors
        return found + line_problems(snap, obj)

    # -- objects ------------------------------------------------------------------------
    def create_object(self, actor: Actor, doc: Any) -> dict[str, Any]:
        if isinstance(doc, dict) and "package" in doc:
            doc = {k: v for k, v in doc.items() if k != "package"}  # shown on reads, set by packages only
        _raise_problems(object_problems(doc))
        body = normalize_object(doc)
        body.pop("trash", None)
        with self.kernel.schema() as conn:
            snap = self.kernel.snapshot(conn)
            if metastore.find_document(conn, "objects", body["api_name"]):
                raise Conflict(f"An object named {body['api_name']!r} exists already (or is in the trash).",
                               [FieldProblem("/api_name", "is taken", "taken")])
            if _table_exists(conn, body["api_name"]):
                raise Conflict(f"A table named {body['api_name']!r} exists in the database.",
                               [FieldProblem("/api_name", "is taken", "taken")])
            _raise_problems(self.formulas.check_object(snap, body))
            obj = ObjectDef(body)
            self._check_references(snap, obj)
            for field in obj.stored_fields:
                if (default := _coerced_default(field)) is not None:
                    _refuse_missing_reference(conn, field, default, obj)
            _raise_problems(line_problems(snap, obj))
            SchemaEditor(conn).create_object(obj)
            stored = metastore.insert_document(conn, "objects", body, actor.user_id)
            self._resolve_dependencies(conn, snap, stored, obj)
            self._attach_children(conn, actor, snap, ObjectDef(stored.body, stored.version))
            self._tell(conn, actor, None, ObjectDef(stored.body, stored.version))
            return self._out(ObjectDef(stored.body, stored.version))

    def update_object(self, actor: Actor, api_name: str, changes: Any, *, force: bool = False,
                      expected_version: int | None = None, given_uids: bool = False) -> dict[str, Any]:
        """Apply a partial object document: given keys replace stored ones; a `fields`
        list is the complete new list of fields (missing ones go to the trash).
        `given_uids`: new fields keep the uids they come with (a package's, derived from
        its author's); otherwise they get new ones."""
        if not isinstance(changes, dict):
            raise InvalidInput("The change must be a JSON object.")
        with self.kernel.schema() as conn:
            stored = self._stored(conn, api_name, for_update=True)
            _check_version(stored, expected_version)
            after = copy.deepcopy(stored.body)
            incoming = copy.deepcopy(changes)
            incoming.pop("uid", None)
            incoming.pop("package", None)  # shown on reads: which package installed it
            body_version = incoming.pop("version", None)
            if expected_version is None and isinstance(body_version, int):
                _check_version(stored, body_version)
            if "fields" in incoming:
                incoming["fields"] = _match_fields(stored.body.get("fields", []), incoming["fields"],
                                                   keep_new=given_uids)
            after.update(incoming)
            for key, value in incoming.items():
                if value is None and key not in ("api_name", "label"):
                    after.pop(key)  # null removes an optional property, as on fields
            after.pop("trash", None)
            if isinstance(after.get("fields"), list) and all(isinstance(f, dict) for f in after["fields"]):
                _follow_own_renames(stored.body, after)
                # Removing a field someone uses is a conflict to report as such, before the
                # document is validated (which would only see a dangling name).
                self._check_removals(conn, stored, after, force=force)
            _raise_problems(object_problems(after))
            after = normalize_object(after)
            after["uid"] = stored.uid
            after["trash"] = stored.body.get("trash", [])
            return self._apply(conn, actor, stored, after, force=force)

    def delete_object(self, actor: Actor, api_name: str, *, force: bool = False) -> None:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, api_name, for_update=True)
            outside = [d for d in metastore.dependents(conn, stored.uid, whole_object=True)
                       if d.source_uid != stored.uid]
            if outside and not force:
                raise _in_use(f"object {api_name!r}", outside)
            metastore.update_document(conn, stored, stored.body, actor.user_id, action="delete",
                                      summary="moved to the trash", state="trash")

    def restore_object(self, actor: Actor, api_name: str) -> dict[str, Any]:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, api_name, states=("trash",), for_update=True)
            restored = metastore.update_document(conn, stored, stored.body, actor.user_id,
                                                 action="restore", summary="restored", state="active")
            return self._out(ObjectDef(restored.body, restored.version))

    def purge_object(self, actor: Actor, api_name: str) -> None:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, api_name, states=("trash",), for_update=True)
            snap = self.kernel.snapshot(conn)
            obj = ObjectDef(stored.body)
            pointing = [
                f"{o.api_name}.{f.api_name}"
                for o in (*snap.objects.values(), *snap.trashed.values()) if o.uid != obj.uid
                for f in (*o.stored_fields, *(FieldDef(t) for t in o.doc.get("trash", [])))
                if f.type == "lookup" and f.props.get("target") == obj.api_name
            ]
            if pointing:
                raise Conflict(
                    f"Lookup fields still point at {api_name!r}: {', '.join(pointing)}. "
                    "Delete and purge them first.",
                    [FieldProblem(p, "points at this object", "in_use") for p in pointing],
                )
            self._tell(conn, actor, obj, None)
            SchemaEditor(conn).drop_object(obj)
            conn.execute(sa.delete(sequences).where(
                sequences.c.field_uid.in_([f["uid"] for f in stored.body.get("fields", [])])))
            metastore.delete_document(conn, stored, actor.user_id)

    # -- fields -------------------------------------------------------------------------
    def add_field(self, actor: Actor, object_name: str, fdoc: Any) -> dict[str, Any]:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, object_name, for_update=True)
            if isinstance(fdoc, dict):
                fdoc = {k: v for k, v in fdoc.items() if k != "uid"}
                taken = {f["api_name"] for f in stored.body.get("trash", [])}
                if fdoc.get("api_name") in taken:
                    raise Conflict(f"A field named {fdoc['api_name']!r} is in the trash; restore or purge it.",
                                   [FieldProblem("/api_name", "is taken by a field in the trash", "taken")])
            after = copy.deepcopy(stored.body)
            after["fields"] = [*after.get("fields", []), fdoc]
            problems = object_problems(after)
            _raise_problems([_relative(p, len(after["fields"]) - 1) for p in problems])
            after["fields"][-1] = normalize_field(fdoc)
            new_uid = after["fields"][-1]["uid"]
            result = self._apply(conn, actor, stored, after)
            return _with_jobs(next(f for f in result["fields"] if f["uid"] == new_uid), result)

    def update_field(self, actor: Actor, object_name: str, field_name: str, changes: Any, *,
                     force: bool = False) -> dict[str, Any]:
        if not isinstance(changes, dict):
            raise InvalidInput("The change must be a JSON object.")
        with self.kernel.schema() as conn:
            stored = self._stored(conn, object_name, for_update=True)
            after = copy.deepcopy(stored.body)
            index, current = _field_index(after, field_name)
            updated = {**current, **{k: v for k, v in changes.items() if k != "uid"}}
            for key, value in changes.items():
                if value is None and key not in ("default",):
                    updated.pop(key, None)
            _drop_options_of_old_type(current, updated, changes)
            after["fields"][index] = updated
            name = updated.get("api_name")
            if name != current["api_name"] and name in {f["api_name"] for f in after["fields"]
                                                        if f is not updated}:
                raise InvalidInput("The metadata document is not valid.",
                                   [FieldProblem("/api_name", f"another field is already named {name!r}")])
            _follow_own_renames(stored.body, after)
            problems = object_problems(after)
            _raise_problems([_relative(p, index) for p in problems])
            after["fields"][index] = normalize_field(updated)
            result = self._apply(conn, actor, stored, after, force=force)
            return _with_jobs(next(f for f in result["fields"] if f["uid"] == current["uid"]), result)

    def delete_field(self, actor: Actor, object_name: str, field_name: str, *,
                     force: bool = False) -> None:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, object_name, for_update=True)
            after = copy.deepcopy(stored.body)
            index, _ = _field_index(after, field_name)
            after["fields"].pop(index)
            self._apply(conn, actor, stored, after, force=force)

    def restore_field(self, actor: Actor, object_name: str, field_name: str) -> dict[str, Any]:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, object_name, for_update=True)
            after, found = _take_from_trash(stored.body, field_name)
            found.pop("deleted_at", None)
            after["fields"].append(found)
            snap = self.kernel.snapshot(conn)
            after_obj = ObjectDef(after)
            self._check_references(snap, after_obj)
            updated = metastore.update_document(conn, stored, after, actor.user_id, action="update",
                                                summary=f"field {field_name} restored")
            self._resolve_dependencies(conn, snap, updated, after_obj)
            jobs = self._tell(conn, actor, ObjectDef(stored.body), ObjectDef(after))
            restored = FieldDef(found)
            if restored.computed and restored.stored:
                # Its column kept the values it had when it went to the trash.
                job = self.stored_formulas.submit(conn, actor, after_obj, [[after_obj.uid, restored.uid]])
                jobs.insert(0, _job_ref(job))
            return {**found, "jobs": jobs} if jobs else dict(found)

    def purge_field(self, actor: Actor, object_name: str, field_name: str) -> None:
        with self.kernel.schema() as conn:
            stored = self._stored(conn, object_name, for_update=True)
            after, found = _take_from_trash(stored.body, field_name)
            field = FieldDef(found)
            if field.stored:
                SchemaEditor(conn).drop_field(ObjectDef(stored.body), field)
            conn.execute(sa.delete(sequences).where(sequences.c.field_uid == field.uid))
            metastore.update_document(conn, stored, after, actor.user_id, action="update",
                                      summary=f"field {field_name} purged")

    # -- the one path every change takes ------------------------------------------------
    def _apply(self, conn: Connection, actor: Actor, stored: metastore.StoredDocument,
               after: dict[str, Any], *, force: bool = False, snap: Snapshot | None = None,
               attaching: bool = False) -> dict[str, Any]:
        """`snap`: the metadata to check against, when it is not the transaction's own;
        `attaching`: the platform is bringing a child object's link to its parent up to date."""
        snap = snap or self.kernel.snapshot(conn)
        before_obj = ObjectDef(stored.body, stored.version)
        if _without_version(after) == _without_version(stored.body):
            return self._out(before_obj)  # nothing changed: no new version, no history entry
        if kept_by_platform := system_field_problems(snap, before_obj, ObjectDef(after), attaching=attaching):
            raise Conflict("The fields that make these records lines are kept by the platform.", kept_by_platform)
        self._follow_own_formula_renames(snap, stored.body, after)
        # A field still in use is a conflict to report as such, before its users' formulas
        # are found to name a missing field.
        self._check_removals(conn, stored, after, force=force)
        _raise_problems(self.formulas.check_object(snap, after))
        after_obj = ObjectDef(after)
        self._check_references(snap, after_obj, before_obj)
        _raise_problems(line_problems(snap, after_obj))
        _raise_problems(cap_problems(conn, snap, before_obj, after_obj))
        editor = SchemaEditor(conn)
        summary: list[str] = []
        table = build_table(before_obj, sa.MetaData())

        if after_obj.api_name != before_obj.api_name:
            if metastore.find_document(conn, "objects", after_obj.api_name) or _table_exists(
                conn, after_obj.api_name
            ):
                raise Conflict(f"The name {after_obj.api_name!r} is taken.",
                               [FieldProblem("/api_name", "is taken", "taken")])
            editor.rename_object(before_obj.api_name, after_obj.api_name)
            table = build_table(ObjectDef({**stored.body, "api_name": after_obj.api_name}), sa.MetaData())
            summary.append(f"renamed {before_obj.api_name} to {after_obj.api_name}")

        before_fields = {f.uid: f for f in before_obj.fields}
        after_fields = {f.uid: f for f in after_obj.fields}
        trashed_names = {f["api_name"] for f in after.get("trash", [])}
        for new in after_obj.fields:
            old = before_fields.get(new.uid)
            if new.api_name in trashed_names and (old is None or old.api_name != new.api_name):
                # The trashed field still has its column under that name.
                raise Conflict(f"A field named {new.api_name!r} is in the trash; restore or purge it.",
                               [FieldProblem(f"/fields/{new.api_name}/api_name",
                                             "is taken by a field in the trash", "taken")])
        removed = self._check_removals(conn, stored, after, force=force)
        for field in removed:
            trashed_at = metastore.now().isoformat().replace("+00:00", "Z")
            after.setdefault("trash", []).append({**field.props, "deleted_at": trashed_at})
            summary.append(f"field {field.api_name} moved to the trash")

        obj_for_ddl = ObjectDef({**after, "fields": [f.props for f in before_obj.fields]})
        for uid, new in after_fields.items():
            old = before_fields.get(uid)
            if old is None:
                self._add_field(conn, editor, obj_for_ddl, table, new)
                summary.append(f"field {new.api_name} added")
            else:
                summary += self._change_field(conn, editor, obj_for_ddl, table, old, new)

        renames = [(o, after_fields[uid]) for uid, o in before_fields.items()
                   if uid in after_fields and after_fields[uid].api_name != o.api_name]
        after_lines = {f.uid: f for f in after_obj.line_fields}  # forms name them too
        renames += [(o, after_lines[o.uid]) for o in before_obj.line_fields
                    if o.uid in after_lines and after_lines[o.uid].api_name != o.api_name]
        updated = metastore.update_document(conn, stored, after, actor.user_id,
                                            summary="; ".join(summary) or "properties changed")
        self._resolve_dependencies(conn, snap, updated, after_obj)
        if after_obj.api_name != before_obj.api_name:
            self._rewrite_dependents(conn, actor, snap, before_obj.uid, None, deps.Rename(
                before_obj.api_name, before_obj.api_name, after_obj.api_name, field_renamed=False))
        for old, new in renames:
            self._rewrite_dependents(conn, actor, snap, before_obj.uid, old.uid, deps.Rename(
                after_obj.api_name, old.api_name, new.api_name, field_renamed=True))
        if after_obj.line_fields:
            self._attach_children(conn, actor, snap, after_obj)
        final = metastore.find_document(conn, "objects", after_obj.api_name)
        assert final is not None
        out = self._out(ObjectDef(final.body, final.version))
        keeper = self.stored_formulas
        job = keeper.submit(conn, actor, after_obj, keeper.needs_recompute(snap, before_obj, after_obj))
        jobs = [*([_job_ref(job)] if job is not None else []),
                *self._tell(conn, actor, before_obj, ObjectDef(final.body))]
        if jobs:
            out["jobs"] = jobs
        return out

    def _check_removals(self, conn: Connection, stored: metastore.StoredDocument, after: dict[str, Any],
                        *, force: bool) -> list[FieldDef]:
        """The fields `after` removes; refused while used elsewhere unless forced. Forced
        removals take the object's own references to them (name_field, order_field, a rule's
        field) along, so the document stays valid."""
        kept = {f.get("uid") for f in after.get("fields", [])}
        before_obj = ObjectDef(stored.body)
        removed = [f for f in (*before_obj.fields, *before_obj.line_fields) if f.uid not in kept]
        switched_off: set[tuple[str, str]] = set()
        for field in removed:
            outside = [d for d in metastore.dependents(conn, before_obj.uid, field.uid)
                       if not (d.source_uid == before_obj.uid and _within_field(d.path, field.uid))]
            if outside and not force:
                raise _in_use(f"field {before_obj.api_name}.{field.api_name}", outside)
            # Even forced, a computed value cannot lose its input; a rule can be switched off.
            computing = [d for d in outside if d.via == "formula" and not d.path.startswith(RULE_LISTS)]
            if computing:
                raise _in_use(f"field {before_obj.api_name}.{field.api_name}", computing,
                              hint="change those formulas first")
            rules = [d for d in outside if d.via == "formula" and d.path.startswith(RULE_LISTS)]
            switched_off |= {_rule_key(d.path) for d in rules if d.source_uid == before_obj.uid}
            for other in {d.source_uid for d in rules if d.source_uid != before_obj.uid}:
                self._switch_off_rules(conn, other, {_rule_key(d.path) for d in rules if d.source_uid == other},
                                       f"field {before_obj.api_name}.{field.api_name} deleted")
        for kind in ("validation_rules", "sharing_rules"):
            for rule in after.get(kind, []):
                if isinstance(rule, dict) and (kind, rule.get("name")) in switched_off:
                    rule["active"] = False
        names = {f.api_name for f in removed}
        for key in ("name_field", "order_field"):
            if after.get(key) in names:
                after.pop(key)
        for rule in after.get("validation_rules", []):
            if isinstance(rule, dict) and rule.get("field") in names:
                rule.pop("field")
        return removed

    def _add_field(self, conn: Connection, editor: SchemaEditor, obj: ObjectDef,
                   table: sa.Table, field: FieldDef) -> None:
        if not field.stored:
            return
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        default = _coerced_default(field)
        if field.required and default is None and count and not field.ftype.system_generated:
            raise Conflict(
                f"{count} records exist; a new required field needs a default to fill them.",
                [FieldProblem(f"/fields/{field.api_name}/default", "is needed to fill existing records",
                              "default_needed")],
            )
        if field.unique and default is not None and count > 1:
            raise Conflict("A unique field cannot fill existing records with one default value.",
                           [FieldProblem(f"/fields/{field.api_name}/default", "would repeat", "not_unique")])
        if default is not None:
            _refuse_missing_reference(conn, field, default)
        editor.add_field(obj, field)
        target = _column_table(table.name, field)
        if default is not None and count:
            conn.execute(sa.update(target).values({field.column: default}))
        if field.ftype.system_generated:
            self._backfill_autonumber(conn, target, field)

    def _backfill_autonumber(self, conn: Connection, table: sa.Table, field: FieldDef) -> None:
        ftype: Any = field.ftype
        start = int(field.props.get("start", 1))
        ids = [r[0] for r in conn.execute(sa.select(table.c.id).order_by(table.c.id))]
        for offset in range(0, len(ids), _BATCH):
            chunk = ids[offset:offset + _BATCH]
            conn.execute(
                sa.update(table).where(table.c.id == sa.bindparam("rid"))
                .values({field.column: sa.bindparam("num")}),
                [{"rid": rid, "num": ftype.format(field, start + offset + i)} for i, rid in enumerate(chunk)],
            )
        conn.execute(sa.insert(sequences).values(field_uid=field.uid, next_value=start + len(ids)))

    def _change_field(self, conn: Connection, editor: SchemaEditor, obj: ObjectDef,
                      table: sa.Table, old: FieldDef, new: FieldDef) -> list[str]:
        summary: list[str] = []
        if old.computed and new.computed:
            return self._change_computed(editor, obj, old, new)
        if old.stored != new.stored:
            raise InvalidInput(f"Field {old.api_name!r} cannot change between stored and computed; "
                               "add a new field instead.",
                               [FieldProblem(f"/fields/{old.api_name}/type", "cannot change", "type_change")])
        if not new.stored:
            return [f"field {new.api_name} changed"] if old.props != new.props else []
        if old.type in ("lookup",) and new.type == "lookup" and old.props.get("target") != new.props.get("target"):
            raise InvalidInput("A lookup's target cannot change; add a new lookup field instead.",
                               [FieldProblem(f"/fields/{old.api_name}/target", "cannot change", "immutable")])
        live = table.c.deleted_at.is_(None)
        if old.column != new.column:
            editor.rename_field(obj, old.column, new)
            summary.append(f"field {old.api_name} renamed to {new.api_name}")
            table = sa.Table(table.name, sa.MetaData(),
                             *[sa.Column(c.name if c.name != old.column else new.column, c.type)
                               for c in table.columns])
        if old.type != new.type or _storage_key(old) != _storage_key(new):
            self._convert(conn, editor, obj, table, old, new)
            summary.append(f"field {new.api_name} changed from {old.type} to {new.type}")
        else:
            if foreign_key(old) is not None and old.props.get("on_delete") != new.props.get("on_delete"):
                editor.replace_foreign_key(obj, old, new)
                summary.append(f"field {new.api_name}: on delete now {new.props.get('on_delete')}")
            if _value_rules_changed(old, new):
                # A tightened max_length, pattern, min or max must hold for the stored values too.
                _, failed, failure = _scan(conn, table, old, new)
                if failed:
                    raise Conflict(
                        f"{len(failed)} records of {obj.api_name!r} break the new rules of "
                        f"{new.api_name!r} (first: {failure}); change them first.",
                        [FieldProblem(f"/fields/{new.api_name}", "existing values break it",
                                      "violates_constraint", detail={"record_ids": failed[:SHOWN_IDS]})])
            if field_indexes(obj, old) != field_indexes(obj, new):
                if new.unique and not old.unique:
                    _refuse_duplicates(conn, table, new)
                editor.replace_indexes(obj, old, new)
                summary.append(f"field {new.api_name} indexes changed")
        if new.required and not old.required:
            blank = _ids(conn, sa.select(table.c.id).where(table.c[new.column].is_(None), live))
            if blank:
                raise Conflict(
                    f"Field {new.api_name!r} cannot become required: {len(blank)}"
                    f"{'+' if len(blank) >= SHOWN_IDS else ''} records have no value.",
                    [FieldProblem(f"/fields/{new.api_name}/required", "blank in existing records",
                                  "blank_values", detail={"record_ids": blank})],
                )
        removed = set(_options(old)) - set(_options(new))
        if removed and new.type in ("select", "multi_select"):
            self._refuse_removed_options(conn, table, new, removed)
        if not summary and old.props != new.props:
            summary.append(f"field {new.api_name} changed")
        return summary

    @staticmethod
    def _change_computed(editor: SchemaEditor, obj: ObjectDef, old: FieldDef, new: FieldDef) -> list[str]:
        """A formula or rollup changed: its column comes and goes with `store`, and is made
        anew when its result type changes (the recompute job fills it either way)."""
        if not old.stored and not new.stored:
            return [f"field {new.api_name} changed"] if old.props != new.props else []
        if not new.stored:
            editor.drop_field(obj, old)
            return [f"field {new.api_name} no longer stored"]
        if not old.stored:
            editor.add_field(obj, new)
            return [f"field {new.api_name} now stored"]
        summary: list[str] = []
        if old.column != new.column:
            editor.rename_field(obj, old.column, new)
            summary.append(f"field {old.api_name} renamed to {new.api_name}")
        if _storage_key(old) != _storage_key(new):
            editor.drop_field(obj, FieldDef({**old.props, "api_name": new.api_name}))
            editor.add_field(obj, new)
            summary.append(f"field {new.api_name} now stores {new.props.get('formula_type')}")
        elif field_indexes(obj, old) != field_indexes(obj, new):
            editor.replace_indexes(obj, old, new)
            summary.append(f"field {new.api_name} indexes changed")
        if not summary and old.props != new.props:
            summary.append(f"field {new.api_name} changed")
        return summary

    def _refuse_removed_options(self, conn: Connection, table: sa.Table, field: FieldDef,
                                removed: set[str]) -> None:
        column = table.c[field.column]
        if field.type == "select":
            used = _ids(conn, sa.select(table.c.id).where(column.in_(sorted(removed))).order_by(table.c.id))
        else:
            used = []
            rows = conn.execute(sa.select(table.c.id, column).where(column.is_not(None)).order_by(table.c.id))
            for rid, values in rows:
                if removed & set(values or ()):
                    used.append(rid)
                    if len(used) >= SHOWN_IDS:
                        break
        if used:
            raise Conflict(
                f"Options {', '.join(sorted(removed))} of {field.api_name!r} are still used by "
                f"{len(used)}{'+' if len(used) >= SHOWN_IDS else ''} records; change those records first.",
                [FieldProblem(f"/fields/{field.api_name}/options", "still in use", "option_in_use",
                              detail={"record_ids": used})],
            )

    def _convert(self, conn: Connection, editor: SchemaEditor, obj: ObjectDef, table: sa.Table,
                 old: FieldDef, new: FieldDef) -> None:
        """Move a field's values to a new column type, or refuse naming the records that
        do not convert. Values convert when the new type accepts their JSON form as input."""
        if old.type != new.type and not (old.ftype.convertible and new.ftype.convertible):
            raise InvalidInput(
                f"A {old.type} field cannot be converted to {new.type}; add a new field instead.",
                [FieldProblem(f"/fields/{new.api_name}/type", "cannot convert", "type_change")])
        converted, failed, failure = _scan(conn, table, old, new)
        if failed:
            raise Conflict(
                f"{len(failed)} records of {obj.api_name!r} do not convert to {new.type} "
                f"(first: {failure}); change or clear them first.",
                [FieldProblem(f"/fields/{new.api_name}/type", "values do not convert", "not_convertible",
                              detail={"record_ids": failed[:SHOWN_IDS]})],
            )
        if new.unique:
            # "1" and "01" are different texts but the same integer: name every record involved.
            owners: dict[str, list[int]] = {}
            for item in converted:
                owners.setdefault(repr(item["value"]), []).append(item["rid"])
            clashing = sorted(rid for rids in owners.values() if len(rids) > 1 for rid in rids)
            if clashing:
                raise Conflict(f"Converted values of {new.api_name!r} would not be unique.",
                               [FieldProblem(f"/fields/{new.api_name}/unique", "duplicate values", "not_unique",
                                             detail={"record_ids": clashing[:SHOWN_IDS]})])

        def rewrite(temp: str) -> None:
            target = _column_table(table.name, new, temp)
            for offset in range(0, len(converted), _BATCH):
                conn.execute(
                    sa.update(target).where(target.c.id == sa.bindparam("rid"))
                    .values({temp: sa.bindparam("value", type_=new.ftype.column_type(new))}),
                    converted[offset:offset + _BATCH],
                )

        editor.retype_field(obj, old.__class__({**old.props, "api_name": new.api_name}), new, rewrite)

    # -- references and the dependency graph --------------------------------------------
    def _check_references(self, snap: Snapshot, obj: ObjectDef, before: ObjectDef | None = None) -> None:
        problems = []
        kept = {f.uid: f.props.get("target") for f in before.fields} if before else {}
        for field in obj.fields:
            target = field.props.get("target")
            # A lookup whose target was force-deleted to the trash keeps working (the table is
            # still there); a new or restored one may not point into the trash.
            unchanged = kept.get(field.uid) == target and target in snap.trashed
            if field.type == "lookup" and target != obj.api_name and target not in snap.objects \
                    and not unchanged:
                problems.append(FieldProblem(f"/fields/{field.api_name}/target",
                                             f"there is no object named {target!r}", "unknown_object"))
        related: dict[tuple[str, str], str] = {}
        # The object as it is about to be stands in for its stored self (a renamed object or
        # lookup must not clash with its own old name).
        for other in (*(o for o in snap.objects.values() if o.uid != obj.uid), obj):
            for field in other.fields:
                name = field.props.get("related_name")
                if field.type == "lookup" and name:
                    key = (field.props["target"], name)
                    owner = f"{other.api_name}.{field.api_name}"
                    if related.get(key, owner) != owner and other.uid == obj.uid:
                        problems.append(FieldProblem(f"/fields/{field.api_name}/related_name",
                                                     f"{related[key]} uses this related name", "taken"))
                    related.setdefault(key, owner)
        _raise_problems(problems)

    def _resolve_dependencies(self, conn: Connection, snap: Snapshot,
                              stored: metastore.StoredDocument, obj: ObjectDef) -> None:
        resolved: list[tuple[deps.Reference, str, str | None]] = []
        found = deps.references(stored.kind, stored.body)
        if stored.kind == "objects":
            found += self.formulas.references(snap, obj)
        for ref in found:
            target = obj if ref.object == obj.api_name else snap.objects.get(ref.object)
            if target is None:
                continue
            field = (target.field(ref.field) or target.line_field(ref.field)) if ref.field else None
            if ref.field and field is None:
                continue
            resolved.append((ref, target.uid, field.uid if field else None))
        metastore.set_dependencies(conn, stored, resolved)

    def _rewrite_dependents(self, conn: Connection, actor: Actor, snap: Snapshot, object_uid: str,
                            field_uid: str | None, rename: deps.Rename) -> None:
        found = metastore.dependents(conn, object_uid, field_uid, whole_object=field_uid is None)
        by_source: dict[str, list[metastore.Dependent]] = {}
        for dep in found:
            by_source.setdefault(dep.source_uid, []).append(dep)
        for source_uid, refs in by_source.items():
            kind = refs[0].source_kind
            stored = next(d for d in metastore.all_documents(conn, kind, ("active", "trash"))
                          if d.uid == source_uid)
            body = copy.deepcopy(stored.body)
            for dep in refs:
                if dep.via != "formula":
                    deps.rewrite(body, deps.Reference(dep.via, dep.path, rename.object), rename)
            source = snap.by_uid.get(source_uid)
            if rename.field_renamed and source is not None and any(d.via == "formula" for d in refs):
                self.formulas.rename(snap, body, source, rename.object, rename.old, rename.new)
            if body != stored.body:
                what = "field" if rename.field_renamed else "object"
                metastore.update_document(conn, stored, body, actor.user_id, summary=(
                    f"references updated: {what} {rename.old} renamed to {rename.new}"))

    def _switch_off_rules(self, conn: Connection, source_uid: str, keys: set[tuple[str, str]], why: str) -> None:
        """Switch off another object's validation or sharing rules whose formulas lost a field."""
        stored = next((d for d in metastore.all_documents(conn, "objects", ("active", "trash"))
                       if d.uid == source_uid), None)
        if stored is None:
            return
        body = copy.deepcopy(stored.body)
        active = [r for kind in ("validation_rules", "sharing_rules") for r in body.get(kind, [])
                  if (kind, r.get("name")) in keys and r.get("active", True)]
        if not active:
            return  # switched off already (removals are checked more than once per change)
        for rule in active:
            rule["active"] = False
        names = ", ".join(sorted(name for _kind, name in keys))
        metastore.update_document(conn, stored, body, None, summary=f"rules {names} switched off: {why}")

    def _follow_own_formula_renames(self, snap: Snapshot, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Rewrite the object's own formulas for fields this change renames, so they check."""
        old_names = {f["uid"]: f["api_name"] for f in before.get("fields", [])}
        source = ObjectDef(before)
        for fdoc in after.get("fields", []):
            old = old_names.get(fdoc.get("uid"))
            if old is not None and old != fdoc.get("api_name"):
                self.formulas.rename(snap, after, source, str(before["api_name"]), old, fdoc["api_name"])

    def _attach_children(self, conn: Connection, actor: Actor, snap: Snapshot, obj: ObjectDef) -> None:
        """Each child object of the line fields gets its link to `obj` and its line number.
        The children's changes are checked against the metadata with `obj` as it now is
        (it may be new in this transaction)."""
        if not obj.line_fields:
            return
        table = build_table(obj, sa.MetaData())
        current = dataclasses.replace(snap, objects={**snap.objects, obj.api_name: obj},
                                      tables={**snap.tables, obj.api_name: table},
                                      by_uid={**snap.by_uid, obj.uid: obj})
        attach_children(current, lambda name: metastore.find_document(conn, "objects", name, for_update=True),
                        lambda stored, after: self._apply(conn, actor, stored, after, snap=current, attaching=True),
                        obj)

    # -- small pieces -------------------------------------------------------------------
    def _stored(self, conn: Connection, api_name: str, *, states: tuple[str, ...] = ("active",),
                for_update: bool = False) -> metastore.StoredDocument:
        stored = metastore.find_document(conn, "objects", api_name, for_update=for_update)
        if stored is None or stored.state not in states:
            where = " in the trash" if states == ("trash",) else ""
            raise NotFound(f"There is no object named {api_name!r}{where}.")
        return stored

    @staticmethod
    def _out(obj: ObjectDef) -> dict[str, Any]:
        out = copy.deepcopy(dict(obj.doc))
        out["version"] = obj.version
        out.pop("trash", None)
        return out


def _rule_key(path: str) -> tuple[str, str]:
    """("validation_rules", name) of a dependency path like validation_rules/<name>/error_if."""
    kind, name = path.split("/")[:2]
    return kind, name


def _job_ref(job_id: int, kind: str = "formula.recompute") -> dict[str, Any]:
    return {"id": job_id, "kind": kind, "url": f"/api/v1/jobs/{job_id}"}


def _with_jobs(field_doc: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A field as the field endpoints return it, with the jobs its change started."""
    return {**field_doc, "jobs": result["jobs"]} if result.get("jobs") else field_doc


def _take_from_trash(body: dict[str, Any], field_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of an object document without one field of its trash, and that field."""
    after = copy.deepcopy(body)
    trash = after.get("trash", [])
    found = next((f for f in trash if f["api_name"] == field_name), None)
    if found is None:
        raise NotFound(f"There is no field {field_name!r} of {body['api_name']!r} in the trash.")
    trash.remove(found)
    return after, found


def _without_version(body: dict[str, Any]) -> dict[str, Any]:
    """A document as compared for "did anything change" (an empty trash is no trash)."""
    return {k: v for k, v in body.items() if k != "version" and not (k == "trash" and not v)}


def _raise_problems(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidInput("The metadata document is not valid.", problems)


def _relative(problem: FieldProblem, index: int) -> FieldProblem:
    prefix = f"/fields/{index}"
    if problem.field.startswith(prefix):
        problem.field = problem.field[len(prefix):] or "/"
    return problem


def _check_version(stored: metastore.StoredDocument, expected: int | None) -> None:
    from tessera.errors import StaleVersion

    if expected is not None and expected != stored.version:
        raise StaleVersion(f"The object is at version {stored.version}, not {expected}; reload it.")


def _field(obj: ObjectDef, name: str | None) -> FieldDef:
    field = obj.field(name or "") or obj.line_field(name or "")
    if field is None:
        raise NotFound(f"Object {obj.api_name!r} has no field named {name!r}.")
    return field


def _field_index(body: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
    for index, fdoc in enumerate(body.get("fields", [])):
        if fdoc["api_name"] == name:
            return index, fdoc
    raise NotFound(f"Object {body['api_name']!r} has no field named {name!r}.")


def _field_doc(body: Any, uid: str) -> Any:
    if not body:
        return None
    return next((f for f in body.get("fields", []) if f.get("uid") == uid), None)


def _match_fields(current: list[dict[str, Any]], incoming: Any, *, keep_new: bool = False) -> Any:
    """Give incoming fields without a uid the uid of the stored field of the same name
    (`keep_new`: a new field with a uid of its own keeps it)."""
    if not isinstance(incoming, list):
        return incoming
    by_name = {f["api_name"]: f["uid"] for f in current}
    known = {f["uid"] for f in current}
    out = []
    for fdoc in incoming:
        if isinstance(fdoc, dict):
            fdoc = dict(fdoc)
            if keep_new and isinstance(fdoc.get("uid"), str) and fdoc.get("api_name") not in by_name:
                pass
            elif fdoc.get("uid") not in known:
                fdoc.pop("uid", None)
                if fdoc.get("api_name") in by_name:
                    fdoc["uid"] = by_name[fdoc["api_name"]]
        out.append(fdoc)
    return out


def _scan(conn: Connection, table: sa.Table, old: FieldDef,
          new: FieldDef) -> tuple[list[dict[str, Any]], list[int], str]:
    """Read every stored value of `old` as `new` would accept it: the converted values
    ({"rid", "value"}), the ids of records whose value does not fit, and the first reason."""
    column = table.c[new.column]
    converted: list[dict[str, Any]] = []
    failed: list[int] = []
    failure = ""
    rows = conn.execute(sa.select(table.c.id, column).where(column.is_not(None))
                        .order_by(table.c.id).execution_options(yield_per=_BATCH))
    for rid, value in rows:
        try:
            new_value = new.ftype.coerce(new, old.ftype.to_json(old, value))
            if new_value is not None and (message := new.ftype.check(new, new_value)):
                raise FieldValueError(message)
        except FieldValueError as error:
            failed.append(rid)
            failure = failure or f"record {rid}: {error}"
            continue
        converted.append({"rid": rid, "value": new_value})
    return converted, failed, failure


def _value_rules_changed(old: FieldDef, new: FieldDef) -> bool:
    """Whether a type option that limits values (max_length, pattern, min, max, …) changed.
    Options of choices have their own check, which names the options in use."""
    keys = set(new.ftype.options_schema) - {"options"}
    return any(old.props.get(k) != new.props.get(k) for k in keys)


def _follow_own_renames(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Rewrite the object's references to its own fields renamed by this change, so the
    document validates; other documents are rewritten once the change is applied."""
    old_names = {f["uid"]: f["api_name"] for f in before.get("fields", [])}
    for fdoc in after.get("fields", []):
        old = old_names.get(fdoc.get("uid"))
        new = fdoc.get("api_name")
        if old is None or old == new or not isinstance(new, str):
            continue
        rename = deps.Rename(str(after.get("api_name")), old, new, field_renamed=True)
        for ref in deps.references("objects", after):
            if ref.field == old:
                deps.rewrite(after, ref, rename)


def _drop_options_of_old_type(current: dict[str, Any], updated: dict[str, Any], changes: dict[str, Any]) -> None:
    """On a type change, forget the options only the old type knew (a select's `options`
    when it becomes text), unless the change sets them."""
    old_type, new_type = current.get("type"), updated.get("type")
    if old_type == new_type or old_type not in field_types() or new_type not in field_types():
        return
    kept = set(field_type(new_type).options_schema)
    for key in field_type(old_type).options_schema:
        if key not in kept and key not in changes:
            updated.pop(key, None)


def _within_field(path: str, field_uid: str) -> bool:
    return path.startswith(f"fields/{field_uid}/")


def _in_use(what: str, found: Iterable[metastore.Dependent], hint: str = "") -> Conflict:
    found = list(found)
    return Conflict(
        f"The {what} is used by {len(found)} other place(s); "
        + (hint or "remove those uses first or pass force=true") + ".",
        [FieldProblem(f"{d.source_kind}/{d.source_name}", f"uses it ({d.via} at {d.path})", "in_use",
                      detail={"dependent": d.as_json()}) for d in found],
    )


def _coerced_default(field: FieldDef) -> Any:
    if field.default is None or field.ftype.system_generated:
        return None
    try:
        return field.ftype.coerce(field, field.default)
    except FieldValueError as error:
        raise InvalidInput(f"The default of {field.api_name!r} is not valid: {error}",
                           [FieldProblem(f"/fields/{field.api_name}/default", str(error))]) from None


def _refuse_missing_reference(conn: Connection, field: FieldDef, value: Any,
                              new_object: ObjectDef | None = None) -> None:
    """A lookup's or user field's default must name a live record or user: it fills
    existing rows (where a dangling id breaks the foreign key) and every new record."""
    kind = getattr(field.ftype, "reference", None)
    if kind == "record":
        target_name = str(field.props["target"])
        if new_object is not None and target_name == new_object.api_name:
            found = None  # a new object's own table is empty
        else:
            target = sa.table(target_name, sa.column("id"), sa.column("deleted_at"))
            found = conn.execute(sa.select(target.c.id).where(
                target.c.id == value, target.c.deleted_at.is_(None))).first()
        what = f"{target_name} record"
    elif kind == "user":
        found = conn.execute(sa.select(users.c.id).where(
            users.c.id == value, users.c.is_active.is_(True))).first()
        what = "active user"
    else:
        return
    if found is None:
        raise InvalidInput(f"The default of {field.api_name!r} names no {what}.",
                           [FieldProblem(f"/fields/{field.api_name}/default", f"no {what} with id {value}",
                                         "unknown_reference")])


def _storage_key(field: FieldDef) -> tuple[Any, ...]:
    column = field.ftype.column_type(field)
    return (type(column).__name__, getattr(column, "precision", None), getattr(column, "scale", None))


def _options(field: FieldDef) -> list[str]:
    return [o["value"] for o in field.props.get("options", [])]


def _ids(conn: Connection, query: sa.Select[Any]) -> list[int]:
    return [r[0] for r in conn.execute(query.limit(SHOWN_IDS))]


def _refuse_duplicates(conn: Connection, table: sa.Table, field: FieldDef) -> None:
    column = table.c[field.column]
    dupes = conn.execute(
        sa.select(column).where(column.is_not(None)).group_by(column)
        .having(sa.func.count() > 1).limit(SHOWN_IDS)
    ).scalars().all()
    if dupes:
        ids = _ids(conn, sa.select(table.c.id).where(column.in_(dupes)).order_by(column, table.c.id))
        raise Conflict(f"Field {field.api_name!r} cannot become unique: records share values.",
                       [FieldProblem(f"/fields/{field.api_name}/unique", "duplicate values", "not_unique",
                                     detail={"record_ids": ids})])


def _column_table(table_name: str, field: FieldDef, column: str | None = None) -> sa.TableClause:
    """A table clause with just `id` and one field's column, for updates during DDL."""
    return sa.table(table_name, sa.column("id"),
                    sa.column(column or field.column, field.ftype.column_type(field)))


def _table_exists(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)
