"""Records: list, read, create, change, delete to the trash, restore, and their history.

Reads are single SQL statements (plus one per expanded lookup, never one per row). Writes go
through the save pipeline. Deleting follows each child lookup's `on_delete` in SQL, over the
whole cascade at once, and remembers what it did so a restore can undo it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Container, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor, acting
from tessera.data import history, metastore, outbox
from tessera.data.engine import after_commit
from tessera.data.metastore import now
from tessera.data.paging import SortKey, after, decode_cursor, encode_cursor, order_by
from tessera.data.prepared import Prepared
from tessera.data.tables import trash_links, users
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tessera.formula import EvalContext, clock_params
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import PerSnapshot, Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.formulas import LINES_FOLLOW, FormulaService
from tessera.runtime.records.lines import (
    LineSet,
    LinesWritten,
    LineWriter,
    Made,
    line_sets,
    look_up_ahead,
    missing_lines,
    read_lines,
    refuse_direct_write,
)
from tessera.runtime.records.plan import OWNER
from tessera.runtime.records.save import SYSTEM_OUTPUT, RecordChange, SaveBatch, SavePipeline
from tessera.runtime.records.schemas import InputShapes
from tessera.runtime.records.stored import STORED_LATER, Changed, StoredFormulas

MAX_LIMIT = 1000
MAX_BULK = 1000
TOTAL_CAP = 10_000
_DATETIME = FieldDef({"uid": "sys_dt", "api_name": "at", "label": "At", "type": "datetime"})
_INTEGER = FieldDef({"uid": "sys_int", "api_name": "n", "label": "N", "type": "integer"})
#: A sort key that is not a field: its SQL over the object's table, and what its values are.
ExtraSort = tuple[Callable[[sa.Table], sa.ColumnElement[Any]], FieldDef]
_SYSTEM_SORT = {"id": _INTEGER, "version": _INTEGER, "created_at": _DATETIME, "updated_at": _DATETIME,
                "owner": _INTEGER}


#: How lines just written are echoed: the computed fields read back; the keys of a line's
#: JSON in order; and (name, key, conversion) of the values written and of those read back.
_LinesEcho = tuple[list[FieldDef], tuple[str, ...], list[tuple[str, str, Any]], list[tuple[str, str, Any]]]


class RecordService:
    def __init__(self, kernel: Kernel, formulas: FormulaService, access: AccessService,
                 stored_formulas: StoredFormulas) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self.access = access
        self.stored_formulas = stored_formulas
        self.pipeline = SavePipeline(kernel.hooks)
        self.shapes = InputShapes()
        #: Selects of live rows by one column's value (a record by id, a parent's lines),
        #: built and compiled once per metadata revision and reused with the value bound:
        #: building, keying and executing a select with formula columns through SQLAlchemy
        #: costs more than running it.
        self._by_value: dict[tuple[Any, ...], Prepared] = {}
        self._by_value_revision = -1
        #: How the lines of a record just created are echoed (`_lines_echo`), per metadata
        #: revision.
        self._echoes: PerSnapshot[tuple[Any, ...], _LinesEcho | None] = PerSnapshot()
        #: The records matching a list's full-text box, as a condition on the object's table
        #: (conn, snapshot, actor, object, table, text → clause or None). Search sets it.
        self.full_text: Callable[[Connection, Snapshot, Actor, ObjectDef, sa.Table, str], Any | None] | None = None

    # -- reading ------------------------------------------------------------------------
    def list(
        self, actor: Actor, object_name: str, *, fields: list[str] | None = None,
        sort: str | None = None, limit: int = 50, cursor: str | None = None,
        expand: list[str] | None = None, total: bool = False, trash: bool = False,
        filter: str | None = None, sorts: Mapping[str, ExtraSort] | None = None,
        search: str | None = None,
    ) -> dict[str, Any]:
        """A page of records. `sorts`: sort keys that are not fields, by name — each an SQL
        expression over the object's table and a field saying what its values are (an SLA
        clock's due time: the list's SLA columns sort by it). `search`: words the records
        must hold in their searchable fields (a full-text box)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.",
                               [FieldProblem("limit", f"must be between 1 and {MAX_LIMIT}")])
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            table = snap.table(obj)
            query, keys, shown, signature, extra, live = self.list_query(conn, snap, actor, obj, fields=fields,
                                                                         sort=sort, trash=trash, filter=filter,
                                                                         sorts=sorts, search=search)
            if cursor:
                try:
                    raw = decode_cursor(cursor, signature)
                    values = [_sort_value(obj, k, v, extra) for k, v in zip(keys, raw, strict=True)]
                except (ValueError, TypeError, FieldValueError) as error:
                    raise InvalidInput(f"The cursor is not valid: {error}.",
                                       [FieldProblem("cursor", str(error))]) from None
                query = query.where(after(keys, values))
            rows = conn.execute(query.order_by(*order_by(keys)).limit(limit + 1)).mappings().all()
            page, more = rows[:limit], len(rows) > limit
            to_json = serializer(shown, trash=trash)
            data = [to_json(row) for row in page]
            if expand:
                self._expand(conn, snap, obj, page, data, expand, actor)
            result: dict[str, Any] = {"data": data, "next_cursor": None}
            if more:
                last = page[-1]
                result["next_cursor"] = encode_cursor(
                    signature, [_json_value(last[k.name]) for k in keys])
            if total:
                counted = conn.execute(sa.select(sa.func.count()).select_from(
                    sa.select(sa.literal(1)).select_from(table).where(live).limit(TOTAL_CAP + 1)
                    .subquery())).scalar_one()
                result["total"] = min(counted, TOTAL_CAP)
                result["total_capped"] = counted > TOTAL_CAP
            return result

    def list_query(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, *,
                   fields: list[str] | None = None, sort: str | None = None, trash: bool = False,
                   filter: str | None = None, sorts: Mapping[str, ExtraSort] | None = None,
                   search: str | None = None) -> tuple[sa.Select[Any], list[SortKey], list[FieldDef], str,
                                                       dict[str, Any], Any]:
        """The SELECT of a list before its cursor, order and limit — the records of `obj`
        the actor may read, with the fields they may see — its sort keys, the fields shown,
        the cursor's signature, the extra sort keys and the WHERE clause."""
        table = snap.table(obj)
        access = self.access.object(actor, snap, obj)
        access.refuse("read")
        shown = _projection(obj, fields, access.hidden)
        formulas = self.formulas
        dialect = conn.dialect.name
        # Only the computed fields shown or sorted by are compiled into this query.
        sorted_by = {part.strip().lstrip("-+") for part in (sort or "").split(",")}
        if sorted_by & access.hidden:
            name = sorted(sorted_by & access.hidden)[0]
            raise InvalidInput(f"Cannot sort by {name!r}.",
                               [FieldProblem("sort", f"{name!r} is not a sortable field of {obj.label}")])
        if filter:
            self.access.filter_reads_hidden(access, snap, filter)
        wanted = [f for f in obj.fields if not f.stored and (f in shown or f.api_name in sorted_by)]
        ctx = self.access.viewer_context(conn, snap, actor) if filter or wanted else None
        computed = {f.api_name: column for f, column in
                    zip(wanted, formulas.computed_columns(snap, obj, wanted, dialect, ctx), strict=True)}
        extra = {name: (build(table), kind) for name, (build, kind) in (sorts or {}).items()
                 if name in sorted_by}
        keys = _sort_keys(obj, table, sort, computed, dialect, extra)
        signature = f"{obj.uid}:{sort or 'id'}:{int(trash)}:{filter or ''}:{search or ''}"
        live = table.c.deleted_at.is_not(None) if trash else table.c.deleted_at.is_(None)
        if filter:
            live = sa.and_(live, formulas.filter_clause(snap, obj, filter, dialect, ctx))
        if search and self.full_text is not None:
            matching = self.full_text(conn, snap, actor, obj, table, search)
            if matching is not None:
                live = sa.and_(live, matching)
        allowed = self._allowed(conn, snap, obj, actor, "read")
        if allowed is not None:
            live = sa.and_(live, allowed)
        # Sort columns are selected even when `fields` leaves them out: the cursor needs them.
        selected: list[Any] = [*_columns(table, shown, trash),
                               *(computed[f.api_name] for f in shown if not f.stored)]
        names = {c.name for c in selected}
        selected += [k.column.label(k.name) if k.name in computed or k.name in extra else k.column
                     for k in keys if k.name not in names]
        query = sa.select(*selected).where(live)
        return query, keys, shown, signature, extra, live

    def get(self, actor: Actor, object_name: str, record_id: int, *,
            fields: list[str] | None = None, expand: list[str] | None = None) -> dict[str, Any]:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            return self._get(conn, snap, obj, record_id, fields, expand, actor)

    def get_carrying_later(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef,
                           record_id: int) -> tuple[Callable[[], dict[str, Any]],
                                                    Callable[[], tuple[int, int] | None]]:
        """`get` in the caller's transaction and metadata, its statement sent now, carrying
        the metadata's revisions too (see `Kernel.snapshot_carried`): inside `reads_together`
        it goes out with the reads sent meanwhile (a record page's related lists). The
        record, and the (revision, auth revision) its row carried — None when no row came
        back (no such record, or not one the actor may read)."""
        record, rows = self._record_later(conn, snap, obj, record_id, actor=actor, carry=True)

        def carried() -> tuple[int, int] | None:
            found = rows()
            if not found:
                return None
            return int(found[0][metastore.REVISION]), int(found[0][metastore.AUTH_REVISION])

        return record, carried

    def _get(self, conn: Connection, snap: Snapshot, obj: ObjectDef, record_id: int,
             fields: list[str] | None = None, expand: list[str] | None = None,
             actor: Actor | None = None) -> dict[str, Any]:
        return self._get_later(conn, snap, obj, record_id, fields, expand, actor)()

    def _get_later(self, conn: Connection, snap: Snapshot, obj: ObjectDef, record_id: int,
                   fields: list[str] | None = None, expand: list[str] | None = None,
                   actor: Actor | None = None,
                   made: Made | None = None) -> Callable[[], dict[str, Any]]:
        """The record as `_get` reads it, given when the returned function is called. Its
        statements are sent now; in a pipelined transaction (a write's echo) their answer
        may come with the COMMIT's round trip, so call it once the transaction is over.
        `made`: lines this transaction created as all of the record's lines (see
        `_lines_made`)."""
        return self._record_later(conn, snap, obj, record_id, fields, expand, actor, made)[0]

    def _record_later(self, conn: Connection, snap: Snapshot, obj: ObjectDef, record_id: int,
                      fields: list[str] | None = None, expand: list[str] | None = None,
                      actor: Actor | None = None, made: Made | None = None, *,
                      carry: bool = False) -> tuple[Callable[[], dict[str, Any]],
                                                    Callable[[], list[Mapping[str, Any]]]]:
        """`_get_later`, and the function giving the record's row as read (`carry`: with
        the metadata's revisions, `metastore.revision_columns`)."""
        actor = actor or acting_actor()
        table = snap.table(obj)
        access = self.access.object(actor, snap, obj)
        access.refuse("read")
        shown = _projection(obj, fields, access.hidden)
        allowed = self._allowed(conn, snap, obj, actor, "read")
        if allowed is None:
            rows = self._read_by(conn, snap, obj, shown, "id", record_id, carry=carry)
        else:
            found = self._rows(conn, snap, obj, shown, sa.and_(table.c.id == record_id, allowed), carry=carry)

            def rows() -> list[Mapping[str, Any]]:
                return found

        if expand:  # expanding reads the row at once
            rows = _now(rows())
        with_lines = [(lines.field.api_name,
                       self._lines_made(conn, snap, lines, record_id, actor, *made[lines.field.api_name])
                       if made and lines.field.api_name in made else
                       self._lines_later(conn, snap, lines, record_id, actor))
                      for lines in line_sets(snap, obj) if fields is None or lines.field.api_name in fields]

        def record() -> dict[str, Any]:
            found = rows()
            if not found:
                raise NotFound(f"There is no {obj.label} record with id {record_id}.")
            data = [serialize(obj, found[0], shown)]
            if expand:
                self._expand(conn, snap, obj, [found[0]], data, expand, actor)
            for name, lines in with_lines:
                data[0][name] = lines()
            return data[0]

        if expand:
            done = record()
            return (lambda: done), rows
        return record, rows

    def _lines(self, conn: Connection, snap: Snapshot, lines: LineSet, parent_ids: list[int],
               actor: Actor) -> dict[int, list[dict[str, Any]]]:
        """Each parent's lines in order, with the fields of them the actor may see (whoever
        may read the parent may read its lines)."""
        if len(parent_ids) == 1:  # a record's page or API read: the reusable select
            return {parent_ids[0]: self._lines_later(conn, snap, lines, parent_ids[0], actor)()}
        to_json, queried, order = self._lines_shape(snap, lines, actor)

        def rows(conn: Connection, snap: Snapshot, child: ObjectDef, where: Any, limit: int) -> list[Any]:
            return self._rows(conn, snap, child, queried, where, order=order, limit=limit)

        found = read_lines(conn, snap, lines, parent_ids, rows)
        return {pid: [to_json(row) for row in found[pid]] for pid in parent_ids}

    def _lines_later(self, conn: Connection, snap: Snapshot, lines: LineSet, parent_id: int,
                     actor: Actor) -> Callable[[], list[dict[str, Any]]]:
        """One parent's lines, read as `_read_by` reads (given when called)."""
        to_json, queried, order = self._lines_shape(snap, lines, actor)
        rows = self._read_by(conn, snap, lines.child, queried, lines.link.column, parent_id, order=order,
                             limit=lines.cap)
        return lambda: [to_json(row) for row in rows()]

    def _lines_made(self, conn: Connection, snap: Snapshot, lines: LineSet, parent_id: int, actor: Actor,
                    at: datetime, changes: list[RecordChange]) -> Callable[[], list[dict[str, Any]]]:
        """The lines of a record created in this transaction, all made by one save batch at
        `at`: as `_lines_later` gives them, built from the values written (as `_echo` builds
        a record), with only the computed fields — which the database works out — read.
        Each line's JSON is built at once from a template holding what every line shares
        (its moments, version and author), in the serializer's key order."""
        echo = self._lines_echo(snap, lines, actor)
        if echo is None:
            return self._lines_later(conn, snap, lines, parent_id, actor)
        computed, keys, given, worked = echo
        # In no order: each line's computed values are found by its id (and a new record's
        # lines are all within the cap), so the database sorts nothing.
        rows = self._read_by(conn, snap, lines.child, computed, lines.link.column, parent_id, limit=lines.cap,
                             bare=True) if computed else _now([])
        user, moment = actor.user_id, _json_value(at)
        template: dict[str, Any] = dict.fromkeys(keys)
        template.update({"version": 1, "created_by": user, "updated_by": user, "created_at": moment,
                         "updated_at": moment})

        # The values taken as they are apart from those converted: no test per value.
        as_they_are = [(name, key) for name, key, convert in given if convert is None]
        converted = [(name, key, convert) for name, key, convert in given if convert is not None]

        def made() -> list[dict[str, Any]]:
            worked_out = {row["id"]: row for row in rows()}
            out = []
            for change in changes:
                values = change.values
                line = template.copy()
                line["id"] = change.record_id
                line["owner"] = values.get("owner")
                for name, key in as_they_are:
                    line[name] = values.get(key)
                for name, key, convert in converted:
                    value = values.get(key)
                    line[name] = None if value is None else convert(value)
                found = worked_out.get(change.record_id, _NOTHING)
                for name, key, convert in worked:
                    value = found.get(key)
                    line[name] = convert(value) if convert is not None and value is not None else value
                out.append(line)
            return out

        return made

    def _lines_echo(self, snap: Snapshot, lines: LineSet, actor: Actor) -> _LinesEcho | None:
        """How `_lines_made` echoes the lines the actor may see, worked out once per metadata
        revision and fields shown (None: their formulas need a reader's context, so the
        lines are read back instead)."""
        shown = self._lines_shown(snap, lines, actor)
        key = (lines.field.uid, tuple(f.uid for f in shown))
        echoes = self._echoes.of(snap)
        if key in echoes:
            return echoes[key]
        queried = _lines_query(snap, lines, shown)[0]
        computed = [f for f in queried if f.computed]
        echo: _LinesEcho | None = None
        if not computed or self.formulas.context_free(snap, lines.child, computed):
            plain, moments, converted = json_fields(shown)
            by_api = {f.api_name: f for f in shown}
            # Per field: where its value comes from (the values written, by name; or the
            # database's answer, by column) and its conversion to JSON.
            given: list[tuple[str, str, Any]] = []
            worked: list[tuple[str, str, Any]] = []
            for name, column, convert in [*((n, n, None) for n in plain if n in by_api), *converted]:
                if by_api[name].computed:
                    worked.append((name, column, convert))
                else:
                    given.append((name, name, convert))
            echo = (computed, (*plain, *moments, *(name for name, _, _ in converted)), given, worked)
        if len(echoes) > 1000:
            echoes.clear()
        echoes[key] = echo
        return echo

    def _lines_shown(self, snap: Snapshot, lines: LineSet, actor: Actor) -> list[FieldDef]:
        """The fields of the lines the actor may see."""
        hidden = self.access.object(actor, snap, lines.child).hidden
        return [f for f in lines.child.fields if f.api_name not in hidden]

    def _lines_shape(self, snap: Snapshot, lines: LineSet, actor: Actor) -> tuple[
            Callable[[Mapping[str, Any]], dict[str, Any]], list[FieldDef], tuple[Any, ...]]:
        """How the lines are read: their JSON, the fields queried, their order."""
        shown = self._lines_shown(snap, lines, actor)
        return (serializer(shown), *_lines_query(snap, lines, shown))

    def _allowed(self, conn: Connection, snap: Snapshot, obj: ObjectDef, actor: Actor,
                 operation: str) -> Any | None:
        """The WHERE clause of the records of `obj` the actor may `operation` (None: all)."""
        access = self.access.object(actor, snap, obj)
        if access.unrestricted or access.scopes.get(operation) == "all":
            return None
        ctx = self.formulas.context(conn, snap, actor) if access.sharing else None
        return access.where(operation, snap.table(obj), self.access.condition(snap, obj, conn.dialect.name,
                                                                              ctx))

    def _refuse_live(self, conn: Connection, snap: Snapshot, obj: ObjectDef, actor: Actor, record_id: int) -> None:
        """Restoring a record that is not in the trash but live:
        409, when the actor may see it (else it stays unknown to them: the caller's 404)."""
        table = snap.table(obj)
        allowed = self._allowed(conn, snap, obj, actor, "read")
        where = [table.c.id == record_id, table.c.deleted_at.is_(None), *([allowed] if allowed is not None else [])]
        if conn.execute(sa.select(table.c.id).where(*where)).first() is not None:
            raise Conflict(f"The {obj.label} record {record_id} is not in the trash: it was never deleted, or it "
                           "has been restored already.")

    def require(self, conn: Connection, snap: Snapshot, obj: ObjectDef, actor: Actor, record_id: int,
                 operation: str, *, trashed: bool = False) -> None:
        """Refuse unless the actor may `operation` the record: 404 when they may not even
        see it (its existence is not theirs to know), 403 when they may see but not do."""
        access = self.access.object(actor, snap, obj)
        if access.unrestricted:
            return
        table = snap.table(obj)
        state = table.c.deleted_at.is_not(None) if trashed else table.c.deleted_at.is_(None)

        def exists(clause: Any | None) -> bool:
            where = [table.c.id == record_id, state, *([clause] if clause is not None else [])]
            return conn.execute(sa.select(table.c.id).where(*where)).first() is not None

        if not exists(self._allowed(conn, snap, obj, actor, "read")):
            if trashed:
                self._refuse_live(conn, snap, obj, actor, record_id)
            raise NotFound(f"There is no {obj.label} record with id {record_id}"
                           f"{' in the trash' if trashed else ''}.")
        if operation == "read":
            return
        if not exists(self._allowed(conn, snap, obj, actor, operation)):
            verb = {"edit": "change", "delete": "delete"}[operation]
            raise Forbidden(f"You may not {verb} this {obj.label} record.")

    def may(self, actor: Actor, object_name: str, record_id: int, operation: str) -> bool:
        """Whether the actor may `operation` ("edit", "delete") the record: what a page asks
        before offering a control, so it offers only what `require` would let through."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            try:
                self.require(conn, snap, snap.object(object_name), actor, record_id, operation)
            except (Forbidden, NotFound):
                return False
        return True

    def _rows_by(self, conn: Connection, snap: Snapshot, obj: ObjectDef, shown: list[FieldDef], column: str,
                 value: int, *, order: tuple[Any, ...] = (), limit: int | None = None) -> list[Mapping[str, Any]]:
        """Live rows whose `column` is `value`, as `_rows` reads them (the caller may read
        every record of the object: no row scope to add)."""
        return self._read_by(conn, snap, obj, shown, column, value, order=order, limit=limit)()

    def _read_by(self, conn: Connection, snap: Snapshot, obj: ObjectDef, shown: list[FieldDef], column: str,
                 value: int, *, order: tuple[Any, ...] = (), limit: int | None = None,
                 bare: bool = False, carry: bool = False) -> Callable[[], list[Mapping[str, Any]]]:
        """`_rows_by`, its rows given when the returned function is called: a select that
        needs no reader's context is a `Prepared` statement, whose answer a pipelined
        transaction may bring with a later round trip (see `_get_later`). `bare`: the id and
        the shown fields only, without the other system columns. `carry`: with the
        metadata's revisions (`metastore.revision_columns`)."""
        key = (conn.dialect.name, snap.revision, obj.uid, tuple(f.uid for f in shown), column,
               tuple(str(o) for o in order), limit, bare, carry)
        params = {"row_value": value, **clock_params(EvalContext())}
        prepared = self._by_value.get(key)
        if prepared is None:
            table = snap.table(obj)
            query = self._select(conn, snap, obj, shown, table.c[column] == sa.bindparam("row_value"), order, limit,
                                 bare=bare, carry=carry)
            # A formula reading the clock is kept too: TODAY() and NOW() are parameters.
            kept: Prepared | None = None
            if self.formulas.context_free(snap, obj, shown, clock=True):
                kept = Prepared(query, prepare=False)
                try:
                    kept.sql(conn)
                except ValueError:  # a list parameter cannot be prepared once
                    kept = None
            if kept is None:
                found = list(conn.execute(query, params).mappings())
                return lambda: found
            if snap.revision != self._by_value_revision or len(self._by_value) > 1000:
                self._by_value = {}
                self._by_value_revision = snap.revision
            prepared = self._by_value[key] = kept
        return prepared.read(conn, params).all

    def _rows(self, conn: Connection, snap: Snapshot, obj: ObjectDef, shown: list[FieldDef],
              where: sa.ColumnElement[bool], *, order: tuple[Any, ...] = (),
              limit: int | None = None, carry: bool = False) -> list[Mapping[str, Any]]:
        """Live rows with the shown fields, computed ones worked out in the same query."""
        return list(conn.execute(self._select(conn, snap, obj, shown, where, order, limit, carry=carry)).mappings())

    def _select(self, conn: Connection, snap: Snapshot, obj: ObjectDef, shown: list[FieldDef],
                where: sa.ColumnElement[bool], order: tuple[Any, ...], limit: int | None, *,
                bare: bool = False, carry: bool = False) -> sa.Select[Any]:
        table = snap.table(obj)
        computed = [f for f in shown if not f.stored]
        extra: list[Any] = []
        if computed:
            ctx = self.access.viewer_context(conn, snap, acting_actor())
            extra = self.formulas.computed_columns(snap, obj, computed, conn.dialect.name, ctx)
        columns = [table.c.id, *(table.c[f.column] for f in shown if f.stored)] if bare else \
            _columns(table, shown, False)
        if carry:
            extra = [*extra, *metastore.revision_columns()]
        query = sa.select(*columns, *extra).where(where, table.c.deleted_at.is_(None))
        if order:
            query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        return query

    def _expand(self, conn: Connection, snap: Snapshot, obj: ObjectDef,
                rows: list[Mapping[str, Any]], data: list[dict[str, Any]], expand: list[str],
                actor: Actor) -> None:
        """Embed the records lookups point at: one query per expanded field, only records
        and fields the actor may see."""
        hidden = self.access.object(actor, snap, obj).hidden
        for name in expand:
            fdef = obj.field(name) if name != "owner" else OWNER
            kind = getattr(fdef.ftype, "reference", None) if fdef else None
            if fdef is None or kind not in ("record", "user") or name in hidden:
                raise InvalidInput(f"{name!r} is not a lookup or user field of {obj.label}.",
                                   [FieldProblem("expand", f"{name!r} cannot be expanded")])
            table = snap.table(obj)
            ids = sorted({r[fdef.column] for r in rows if r.get(fdef.column)})
            if not ids and rows and fdef.column not in rows[0]:
                ids = sorted({v for (v,) in conn.execute(
                    sa.select(table.c[fdef.column]).where(table.c.id.in_([r["id"] for r in rows])))
                    if v})
            found: dict[int, dict[str, Any]] = {}
            if ids and kind == "record":
                target = snap.objects.get(fdef.props["target"])
                target_access = self.access.object(actor, snap, target) if target is not None else None
                if target is not None and target_access is not None and target_access.may("read"):
                    ttable = snap.table(target)
                    shown = [f for f in target.stored_fields if f.api_name not in target_access.hidden]
                    to_json = serializer(shown)
                    allowed = self._allowed(conn, snap, target, actor, "read")
                    for row in conn.execute(sa.select(*_columns(ttable, shown, False)).where(
                            ttable.c.id.in_(ids), ttable.c.deleted_at.is_(None),
                            *([allowed] if allowed is not None else []))).mappings():
                        found[row["id"]] = to_json(row)
            elif ids:
                for row in conn.execute(sa.select(users.c.id, users.c.name, users.c.email)
                                        .where(users.c.id.in_(ids))).mappings():
                    found[row["id"]] = dict(row)
            if rows and fdef.column not in rows[0]:
                pairs = dict(conn.execute(sa.select(table.c.id, table.c[fdef.column]).where(
                    table.c.id.in_([r["id"] for r in rows]))).all())
            else:
                pairs = {r["id"]: r[fdef.column] for r in rows}
            for record in data:
                target_id = pairs.get(record["id"])
                record.setdefault("_expanded", {})[name] = found.get(target_id) if target_id else None

    def history(self, actor: Actor, object_name: str, record_id: int, *, limit: int = 200,
                before: int | None = None) -> list[dict[str, Any]]:
        """The record's changes, newest first; `before` (an entry id) pages to older ones."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            table = snap.table(obj)
            access = self.access.object(actor, snap, obj)
            access.refuse("read")
            allowed = self._allowed(conn, snap, obj, actor, "read")
            row = conn.execute(sa.select(table.c.created_at, table.c.created_by)
                               .where(table.c.id == record_id, *([allowed] if allowed is not None else []))).first()
            if row is None:
                raise NotFound(f"There is no {obj.label} record with id {record_id}.")
            names = {f.uid: f.api_name for f in (*obj.fields, *obj.line_fields) if f.api_name not in access.hidden}
            if access.unrestricted:
                # Fields in the trash have no permissions of their own any more.
                names.update({f["uid"]: f["api_name"] for f in obj.doc.get("trash", [])})
            names[OWNER.uid] = "owner"
            entries = [e for e in history.read(conn, obj.uid, record_id, limit=limit, before_id=before)
                       if e.field_uid is None or e.field_uid in names]
            hidden_in_lines = {lines.field.uid: self.access.object(actor, snap, lines.child).hidden
                               for lines in line_sets(snap, obj)}
            out = []
            for e in entries:
                old, new = e.old, e.new
                if e.field_uid in hidden_in_lines:
                    hidden_here = hidden_in_lines[e.field_uid]
                    if any(isinstance(v, dict) and v.get("field") in hidden_here for v in (old, new)):
                        continue  # a change of a line field the reader may not see
                    old, new = _without_hidden(old, hidden_here), _without_hidden(new, hidden_here)
                out.append({"id": e.id, "at": _json_value(e.at), "actor": e.actor_id, "action": e.action,
                            "field": names.get(e.field_uid or ""), "old": old, "new": new})
            if len(entries) < limit:
                # The oldest entry is the creation, told by the record itself rather than
                # stored: a bulk load writes no history rows.
                out.append({"id": 0, "at": _json_value(row.created_at), "actor": row.created_by,
                            "action": "create", "field": None, "old": None, "new": None})
            return out

    # -- writing ------------------------------------------------------------------------
    def create(self, actor: Actor, object_name: str, data: Any, *, exact: bool = False) -> dict[str, Any]:
        """`exact`: the values must have the JSON types the API documents (API writes);
        otherwise each field type reads them leniently (pages, flows, imports)."""
        return self._create(actor, object_name, [data], bulk=False, exact=exact)[0]

    def bulk_create(self, actor: Actor, object_name: str, items: Any, *, exact: bool = False) -> list[dict[str, Any]]:
        if not isinstance(items, list) or not items:
            raise InvalidInput("A bulk create takes a non-empty JSON array of records.",
                               [FieldProblem("/", "must be a non-empty array")])
        if len(items) > MAX_BULK:
            raise InvalidInput(f"A bulk create takes at most {MAX_BULK} records.",
                               [FieldProblem("/", f"has {len(items)} records")])
        return self._create(actor, object_name, items, bulk=True, exact=exact)

    def _create(self, actor: Actor, object_name: str, items: list[Any], *, bulk: bool,
                echo: bool = True, exact: bool = False) -> list[dict[str, Any]]:
        # Pipelined (PostgreSQL): the events go out with the next statement, and the echo's
        # reads with the COMMIT, instead of waiting for an answer each.
        with self.kernel.write(pipelined=True) as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            refuse_direct_write(snap, obj)
            access = self.access.object(actor, snap, obj)
            access.refuse("create")
            names = {lines.field.api_name for lines in line_sets(snap, obj)}
            given = [_take_lines(item, names) for item in items]
            if not access.unrestricted:
                access.refuse_unwritable(sorted({k for item in items if isinstance(item, dict) for k in item}))
            shape = self.shapes.checker(snap, obj) if exact else None
            follow = any(given) or any(lines.field.required for lines in line_sets(snap, obj))
            # The parent's stored formulas (its totals over its lines) are worked out once,
            # when its lines are in (STORED_LATER), not at its insert and again after them.
            later: list[Changed] = []
            ahead = look_up_ahead(conn, snap, obj, given) if follow else None
            batch = self.pipeline.create(conn, actor, snap, obj, items, bulk=bulk, shape=shape,
                                         notes={LINES_FOLLOW: True, STORED_LATER: later} if follow else None)
            if ahead is not None:
                ahead()
            made = self._write_lines_of_new(conn, actor, snap, batch, given, later, exact=exact, bulk=bulk) \
                if follow else {}
            if echo and names:
                echoes = [self._get_later(conn, snap, obj, c.record_id or 0, actor=actor,
                                          made=made.get(c.record_id or 0)) for c in batch.changes]
                out = []
            else:
                echoes = []
                out = self._echo(batch, access.hidden) if echo else [{"id": c.record_id} for c in batch.changes]
            after_commit(conn, lambda: self.pipeline.after_commit(batch))
        return [record() for record in echoes] if echoes else out

    def _line_writer(self, actor: Actor, snap: Snapshot, exact: bool) -> LineWriter:
        def shapes(child: ObjectDef, patch: bool) -> Any:
            return self.shapes.checker(snap, child, patch=patch) if exact else None

        accesses: dict[str, Any] = {}

        def refuse_unwritable(child: ObjectDef, names: list[str]) -> None:
            access = accesses.get(child.uid)
            if access is None:
                access = accesses[child.uid] = self.access.object(actor, snap, child)
            if not access.unrestricted:
                access.refuse_unwritable(names)

        return LineWriter(self.pipeline, shapes, refuse_unwritable)

    def _write_lines_of_new(self, conn: Connection, actor: Actor, snap: Snapshot, batch: SaveBatch,
                            given: list[dict[str, Any]], later: list[Changed], *, exact: bool,
                            bulk: bool) -> dict[int, Made]:
        """The lines of records just created; a problem names its record's row in a bulk create.
        Returns the lines made, by record id (see `LinesWritten.made`)."""
        writer = self._line_writer(actor, snap, exact)
        problems: list[FieldProblem] = []
        made: dict[int, Made] = {}
        for row, (change, lines) in enumerate(zip(batch.changes, given, strict=True)):
            # Every record of the batch: one given no lines still has its rules to run.
            if change.record_id is None:
                continue
            problems += [FieldProblem(p.field, p.message, p.code, row=row if bulk else None)
                         for p in missing_lines(snap, batch.obj, lines, creating=True)]
            try:
                written = writer.write(conn, actor, snap, batch.obj, change.record_id, lines, batch.at,
                                       owner=change.values.get("owner"), new=True, notes={STORED_LATER: later})
                self._recompute_later(conn, snap, later)
                self._after_lines(conn, actor, snap, batch.obj, change.record_id, written, batch.at, bump=False,
                                  created=True)
                made[change.record_id] = written.made
            except InvalidInput as error:
                problems += [FieldProblem(p.field, p.message, p.code, row=row if bulk else None, detail=p.detail)
                             for p in error.errors]
        if problems:
            raise InvalidInput("The record is not valid; nothing was saved." if not bulk else
                               f"{len({p.row for p in problems})} of {len(batch.changes)} records are not valid; "
                               "nothing was saved.", problems)
        return made

    def _recompute_later(self, conn: Connection, snap: Snapshot, later: list[Changed]) -> None:
        """The stored formulas the parent and line batches left for later, in one go."""
        changes = list(later)
        later.clear()
        self.stored_formulas.recompute(conn, snap, changes)

    def _after_lines(self, conn: Connection, actor: Actor, snap: Snapshot, obj: ObjectDef, record_id: int,
                     written: LinesWritten, at: datetime, *, bump: bool, created: bool = False) -> None:
        """What follows a change of lines on the parent: its history (not for a record just
        created: its creation tells it), the lines the change sent to the trash counted out
        of stored totals, its validation rules checked again (they may read the lines), and
        — when nothing else moved it — its version."""
        for batch_id in written.trash_batches:
            self.stored_formulas.trashed(conn, snap, batch_id)
        table = snap.table(obj)
        # The validation rules the save deferred (LINES_FOLLOW) run over the record with its
        # lines written, even when they did not change (its own values may have); a record
        # just created is still new to them (ISNEW). The other validate hooks judged the
        # values the save changed already.
        if any(r.get("active", True) for r in obj.doc.get("validation_rules", [])):
            row = dict(conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one())
            change = RecordChange(row=None, record_id=record_id, values=row) if created else \
                RecordChange(row=None, record_id=record_id, before=row)
            self.formulas.check_rules(SaveBatch(conn, actor, snap, obj, table, [change], at))
            if change.problems:
                raise InvalidInput("The record is not valid; nothing was saved.", change.problems)
        if not written.changed:
            return
        if not created:
            history.write(conn, [history.entry(obj.uid, record_id, e["field_uid"], "update", actor.user_id, at,
                                               old=e["old"], new=e["new"]) for e in written.entries])
        if bump:
            conn.execute(sa.update(table).where(table.c.id == record_id).values(
                version=table.c.version + 1, updated_at=at, updated_by=actor.user_id))
            outbox.emit(conn, "record.updated", obj.uid, [record_id],
                        {"object": obj.api_name, "changed": written.changed}, actor.user_id, at)

    def create_many(self, actor: Actor, object_name: str, items: list[Any]) -> int:
        """Create records in batches of MAX_BULK without echoing them back (imports, loads)."""
        return len(self.create_many_ids(actor, object_name, items))

    def create_many_ids(self, actor: Actor, object_name: str, items: list[Any]) -> list[int]:
        """`create_many`, giving back the new records' ids in the items' order (loads that
        remember what they made: a package's sample records by key)."""
        ids: list[int] = []
        for offset in range(0, len(items), MAX_BULK):
            made = self._create(actor, object_name, items[offset:offset + MAX_BULK], bulk=True, echo=False)
            ids += [int(m["id"]) for m in made]
        return ids

    def _echo(self, batch: SaveBatch, hidden: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """The saved records as the API returns them, built from what was written (read
        back when the object has computed fields, which only the database can work out)."""
        obj, out = batch.obj, []
        if any(f.computed for f in obj.fields):
            shown = _projection(obj, None, hidden)
            table = batch.table
            ids = [c.record_id for c in batch.changes]
            to_json = serializer(shown)
            by_id = {r["id"]: to_json(r) for r in self._rows(batch.conn, batch.snapshot, obj, shown,
                                                                table.c.id.in_(ids))}
            return [by_id[i] for i in ids]
        for change in batch.changes:
            record: dict[str, Any] = {
                "id": change.record_id, "version": 1, "created_at": _json_value(batch.at),
                "created_by": batch.actor.user_id, "updated_at": _json_value(batch.at),
                "updated_by": batch.actor.user_id, "owner": change.values.get("owner"),
            }
            for fdef in obj.stored_fields:
                if fdef.api_name not in hidden:
                    record[fdef.api_name] = fdef.ftype.to_json(fdef, change.values.get(fdef.api_name))
            out.append(record)
        return out

    def update(self, actor: Actor, object_name: str, record_id: int, data: Any,
               expected_version: int | None, *, exact: bool = False, echo: bool = True) -> dict[str, Any]:
        """`echo`: answer with the record as it is now (False: only its id; imports)."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            version = data.get("version") if isinstance(data, dict) else None
            if expected_version is None and isinstance(version, int) and not isinstance(version, bool):
                expected_version = data["version"]
            refuse_direct_write(snap, obj)
            self.require(conn, snap, obj, actor, record_id, "edit")
            access = self.access.object(actor, snap, obj)
            lines = _take_lines(data, {lines.field.api_name for lines in line_sets(snap, obj)})
            if isinstance(data, dict) and not access.unrestricted:
                access.refuse_unwritable([k for k in data if k not in ("id", "version")])
            shape = self.shapes.checker(snap, obj, patch=True) if exact else None
            later: list[Changed] = []
            batch = self.pipeline.update(conn, actor, snap, obj, record_id, data, expected_version, shape=shape,
                                         notes={LINES_FOLLOW: True, STORED_LATER: later} if lines else None)
            if lines:
                if missing := missing_lines(snap, obj, lines, creating=False):
                    raise InvalidInput("The record is not valid; nothing was saved.", missing)
                written = self._line_writer(actor, snap, exact).write(
                    conn, actor, snap, obj, record_id, lines, batch.at, owner=batch.changes[0].value("owner"),
                    notes={STORED_LATER: later})
                self._recompute_later(conn, snap, later)
                self._after_lines(conn, actor, snap, obj, record_id, written, batch.at,
                                  bump=not batch.changes[0].values)
            record = self._get(conn, snap, obj, record_id, actor=actor) if echo else {"id": record_id}
            after_commit(conn, lambda: self.pipeline.after_commit(batch))
        return record

    def delete(self, actor: Actor, object_name: str, record_id: int,
               expected_version: int | None = None) -> dict[str, Any]:
        """Move a record to the trash, applying each child lookup's on_delete."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            refuse_direct_write(snap, obj)
            table = snap.table(obj)
            self.require(conn, snap, obj, actor, record_id, "delete")
            row = conn.execute(sa.select(table.c.id, table.c.version).where(
                table.c.id == record_id, table.c.deleted_at.is_(None))).first()
            if row is None:
                raise NotFound(f"There is no {obj.label} record with id {record_id}.")
            if expected_version is not None and row.version != expected_version:
                from tessera.errors import StaleVersion

                raise StaleVersion(f"The record is at version {row.version}, not {expected_version}.")
            batch, at = secrets.token_hex(16), now()
            trashed = {"deleted_at": at, "deleted_by": actor.user_id, "deleted_batch": batch}
            # The version moves on delete and restore so an ETag taken before either is stale.
            conn.execute(sa.update(table).where(table.c.id == record_id)
                         .values({**trashed, "version": table.c.version + 1}))
            counts = _cascade(conn, snap, obj, batch, trashed, actor, at)
            self.stored_formulas.trashed(conn, snap, batch)
            history.write(conn, [history.entry(obj.uid, record_id, None, "delete", actor.user_id, at)])
            outbox.emit(conn, "record.deleted", obj.uid, [record_id],
                        {"object": obj.api_name, "batch": batch, "affected": counts}, actor.user_id, at)
        return {"id": record_id, "deleted": True, "batch": batch, "affected": counts}

    def restore(self, actor: Actor, object_name: str, record_id: int) -> dict[str, Any]:
        """Bring back a record from the trash with everything its deletion took along.

        A deletion is undone as a whole: restoring a record that went to the trash with its
        parent brings the parent (and the parent's other children) back too, so no restored
        record points at a trashed one.
        """
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            refuse_direct_write(snap, obj)
            table = snap.table(obj)
            self.require(conn, snap, obj, actor, record_id, "delete", trashed=True)
            row = conn.execute(sa.select(table.c.deleted_batch).where(
                table.c.id == record_id, table.c.deleted_at.is_not(None))).first()
            if row is None:
                self._refuse_live(conn, snap, obj, actor, record_id)
                raise NotFound(f"There is no {obj.label} record with id {record_id} in the trash.")
            batch, at = row.deleted_batch, now()
            restored: dict[str, list[int]] = {}
            for other in snap.objects.values():
                t = snap.table(other)
                ids = conn.execute(
                    sa.update(t).where(t.c.deleted_batch == batch)
                    .values(deleted_at=None, deleted_by=None, deleted_batch=None, version=t.c.version + 1)
                    .returning(t.c.id)).scalars().all()
                if ids:
                    restored[other.uid] = list(ids)
                    history.write(conn, [history.entry(other.uid, i, None, "restore", actor.user_id, at)
                                         for i in ids])
                    outbox.emit(conn, "record.restored", other.uid, sorted(ids),
                                {"object": other.api_name, "batch": batch}, actor.user_id, at)
            _relink(conn, snap, batch, actor, at)
            self.stored_formulas.restored(conn, snap, batch, restored)
            return self._get(conn, snap, obj, record_id, actor=actor)


def _relink(conn: Connection, snap: Snapshot, batch: str, actor: Actor, at: datetime) -> None:
    """Point the children a deletion set blank back at their restored parents.

    A child someone re-linked meanwhile keeps its new value. One UPDATE per (field, parent).
    """
    links = conn.execute(sa.select(trash_links).where(trash_links.c.batch == batch)).all()
    groups: dict[tuple[str, str, int], list[int]] = {}
    for link in links:
        groups.setdefault((link.object_uid, link.field_uid, link.target_id), []).append(link.record_id)
    for (object_uid, field_uid, target_id), record_ids in groups.items():
        child = snap.by_uid.get(object_uid)
        fdef = child.field_by_uid(field_uid) if child else None
        if child is None or fdef is None or child.api_name not in snap.objects:
            continue
        t = snap.table(child)
        done = conn.execute(
            sa.update(t).where(t.c.id.in_(record_ids), t.c[fdef.column].is_(None), t.c.deleted_at.is_(None))
            .values({fdef.column: target_id, "version": t.c.version + 1, "updated_at": at,
                     "updated_by": actor.user_id})
            .returning(t.c.id)).scalars().all()
        if done:
            history.write(conn, [history.entry(child.uid, i, fdef.uid, "update", actor.user_id, at,
                                               old=None, new=target_id) for i in done])
            outbox.emit(conn, "record.updated", child.uid, sorted(done),
                        {"object": child.api_name, "changed": [fdef.api_name]}, actor.user_id, at)
    conn.execute(sa.delete(trash_links).where(trash_links.c.batch == batch))


def _cascade(conn: Connection, snap: Snapshot, root: ObjectDef, batch: str,
             trashed: dict[str, Any], actor: Actor, at: datetime) -> dict[str, dict[str, int]]:
    """Apply on_delete to the children of everything trashed in `batch`, level by level;
    returns per child object how many records went to the trash and how many were unlinked.

    Each trashed or unlinked child gets its history entry and outbox event, like any write.
    """
    counts: dict[str, dict[str, int]] = {"deleted": {}, "unlinked": {}}
    pending = [root]
    while pending:
        parent = pending.pop(0)
        ptable = snap.table(parent)
        parent_ids = sa.select(ptable.c.id).where(ptable.c.deleted_batch == batch).scalar_subquery()
        for child, fdef in snap.children(parent):
            ctable = snap.table(child)
            column = ctable.c[fdef.column]
            linked = sa.and_(column.in_(parent_ids), ctable.c.deleted_at.is_(None))
            rule = fdef.props.get("on_delete", "set_null")
            if rule == "restrict":
                blocking = conn.execute(sa.select(ctable.c.id).where(linked).order_by(ctable.c.id)
                                        .limit(10)).scalars().all()
                if blocking:
                    raise Conflict(
                        f"{child.label} records still point at this record through "
                        f"{fdef.label!r} (ids {', '.join(map(str, blocking))}); "
                        "delete or re-link them first.",
                        [FieldProblem(f"{child.api_name}.{fdef.api_name}", "restricts the delete",
                                      "restricted", detail={"record_ids": list(blocking)})])
            elif rule == "cascade":
                ids = conn.execute(sa.update(ctable).where(linked)
                                   .values({**trashed, "version": ctable.c.version + 1})
                                   .returning(ctable.c.id)).scalars().all()
                if ids:
                    deleted = counts["deleted"]
                    deleted[child.api_name] = deleted.get(child.api_name, 0) + len(ids)
                    history.write(conn, [history.entry(child.uid, i, None, "delete", actor.user_id, at)
                                         for i in ids])
                    outbox.emit(conn, "record.deleted", child.uid, sorted(ids),
                                {"object": child.api_name, "batch": batch, "cascaded": True},
                                actor.user_id, at)
                    pending.append(child)
            else:
                pairs = conn.execute(sa.select(ctable.c.id, column).where(linked)).all()
                if not pairs:
                    continue
                conn.execute(sa.insert(trash_links), [
                    {"batch": batch, "object_uid": child.uid, "field_uid": fdef.uid,
                     "record_id": rid, "target_id": target} for rid, target in pairs])
                ids = [rid for rid, _ in pairs]
                for chunk in range(0, len(ids), 1000):
                    conn.execute(sa.update(ctable).where(ctable.c.id.in_(ids[chunk:chunk + 1000])).values(
                        {fdef.column: None, "version": ctable.c.version + 1,
                         "updated_at": at, "updated_by": actor.user_id}))
                history.write(conn, [history.entry(child.uid, rid, fdef.uid, "update", actor.user_id, at,
                                                   old=target, new=None) for rid, target in pairs])
                outbox.emit(conn, "record.updated", child.uid, sorted(ids),
                            {"object": child.api_name, "changed": [fdef.api_name]}, actor.user_id, at)
                unlinked = counts["unlinked"]
                unlinked[child.api_name] = unlinked.get(child.api_name, 0) + len(ids)
    return counts


def _lines_query(snap: Snapshot, lines: LineSet, shown: list[FieldDef]) -> tuple[list[FieldDef], tuple[Any, ...]]:
    """The fields of lines queried when `shown` are shown, and the lines' order."""
    table = snap.table(lines.child)
    order = (table.c[lines.link.column], table.c[lines.number.column], table.c.id)
    # The link and place are read even when a role hides them: they sort and group the lines.
    return [*shown, *(f for f in (lines.link, lines.number) if f not in shown)], order


def json_fields(fields: list[FieldDef], *, trash: bool = False) -> tuple[
        list[str], list[str], list[tuple[str, str, Any]]]:
    """How a row becomes the record's JSON, in its key order: the names taken as they are,
    the moments (written as UTC text), and (name, column, conversion) of the others."""
    plain = ["id", "version", "created_by", "updated_by", "owner", *(["deleted_by"] if trash else [])]
    moments = ["created_at", "updated_at", *(["deleted_at"] if trash else [])]
    converted = []
    for fdef in fields:
        convert = fdef.ftype.json_converter(fdef)
        if convert is None and fdef.column == fdef.api_name:
            plain.append(fdef.column)
        else:
            converted.append((fdef.api_name, fdef.column, convert))
    return plain, moments, converted


def serializer(fields: list[FieldDef], *, trash: bool = False,
               carried: Container[str] | None = None) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function turning a row into the record's JSON, with the per-field decisions made
    once per request rather than once per row (a page of 1,000 rows has 20,000 values).
    `carried`: the columns the rows hold, when not every system column is among them (those
    missing are left out of the JSON)."""
    plain, moments, converted = json_fields(fields, trash=trash)
    if carried is not None:
        plain, moments = [n for n in plain if n in carried], [n for n in moments if n in carried]

    # The last moment written and its text (one tuple: swapped whole): rows written
    # together share theirs.
    last: list[tuple[Any, Any]] = [(None, None)]

    def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {name: row[name] for name in plain}
        for name in moments:
            value = row[name]
            seen = last[0]
            if value is not seen[0]:
                seen = last[0] = (value, value.isoformat().replace("+00:00", "Z") if value is not None else None)
            out[name] = seen[1]
        for name, column, convert in converted:
            value = row[column]
            out[name] = convert(value) if convert is not None and value is not None else value
        return out

    return to_json


#: `serializer`s of single records' fields, by the fields' identities (the fields kept with
#: it, so that no other field can take an identity while it is here).
_serializers: dict[tuple[Any, ...], tuple[tuple[FieldDef, ...], Callable[[Mapping[str, Any]], dict[str, Any]]]] = {}


def serialize(obj: ObjectDef, row: Mapping[str, Any], fields: list[FieldDef],
              *, trash: bool = False) -> dict[str, Any]:
    """One row as the record's JSON: the serializer of these fields made once, not for
    every record read (a record page reads one each time it is shown)."""
    key = (trash, *map(id, fields))
    found = _serializers.get(key)
    if found is None:
        if len(_serializers) > 500:
            _serializers.clear()
        found = _serializers[key] = (tuple(fields), serializer(fields, trash=trash))
    return found[1](row)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _without_hidden(entry: Any, hidden: frozenset[str]) -> Any:
    """A line's history value without the fields the reader may not see."""
    if not hidden or not isinstance(entry, dict) or not isinstance(entry.get("values"), dict):
        return entry
    return {**entry, "values": {k: v for k, v in entry["values"].items() if k not in hidden}}


def _take_lines(data: Any, names: set[str]) -> dict[str, Any]:
    """The line lists of a record's input, taken out of it (they are written after it)."""
    if not names or not isinstance(data, dict):
        return {}
    return {name: data.pop(name) for name in sorted(names) if name in data}


_NOTHING: Mapping[str, Any] = {}


def _now(rows: list[Mapping[str, Any]]) -> Callable[[], list[Mapping[str, Any]]]:
    return lambda: rows


def acting_actor() -> Actor:
    """Who the current request or job acts as (the platform itself when nobody is signed in)."""
    return acting.get() or Actor.system()


def _projection(obj: ObjectDef, names: list[str] | None, hidden: frozenset[str] = frozenset()) -> list[FieldDef]:
    """The fields a request shows: those named, or all; a field the user may not see is
    unknown to them."""
    if not names:
        return [f for f in obj.fields if f.api_name not in hidden]
    # Line fields are read by the record (records/lines.py), not as columns of a row.
    names = [n for n in names if obj.line_field(n) is None]
    unknown = [n for n in names if n not in SYSTEM_OUTPUT and (obj.field(n) is None or n in hidden)]
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(unknown)}.",
                           [FieldProblem("fields", f"{n!r} is not a field of {obj.label}") for n in unknown])
    # A field named twice is shown once (`fields=amount,amount` is not two columns).
    return [f for n in dict.fromkeys(names) if (f := obj.field(n)) is not None]


def _columns(table: sa.Table, fields: list[FieldDef], trash: bool) -> list[sa.Column[Any]]:
    """The table columns of a projection (computed fields are added by the caller)."""
    names = [*SYSTEM_OUTPUT, *(("deleted_at", "deleted_by") if trash else ()),
             *(f.column for f in fields if f.stored)]
    return [table.c[n] for n in dict.fromkeys(names)]


def _sort_keys(obj: ObjectDef, table: sa.Table, sort: str | None,
               computed: Mapping[str, sa.ColumnElement[Any]] | None = None,
               dialect: str = "postgresql",
               extra: Mapping[str, tuple[sa.ColumnElement[Any], FieldDef]] | None = None) -> list[SortKey]:
    keys: list[SortKey] = []
    for part in (sort or "").split(","):
        part = part.strip()
        if not part:
            continue
        descending = part.startswith("-")
        name = part.lstrip("-+")
        fdef = obj.field(name)
        if name in _SYSTEM_SORT:
            # Of the system columns only the owner may be blank (a record the platform made).
            keys.append(SortKey(name, table.c[name], descending, nullable=name == "owner"))
        elif fdef is not None and fdef.stored and (
                fdef.ftype.indexable or (fdef.computed and fdef.props.get("formula_type") in _SORTABLE_RESULTS)):
            keys.append(SortKey(fdef.column, table.c[fdef.column], descending, nullable=not fdef.required))
        elif fdef is not None and computed and fdef.api_name in computed \
                and fdef.props.get("formula_type") in _SORTABLE_RESULTS:
            expr = getattr(computed[fdef.api_name], "element", computed[fdef.api_name])
            if dialect == "sqlite" and fdef.props.get("formula_type") == "number":
                # Computed numbers come out of SQLite as exact decimal text; order them as numbers.
                expr = sa.cast(expr, sa.Float)
            keys.append(SortKey(fdef.api_name, expr, descending, nullable=True))
        elif extra and name in extra:
            keys.append(SortKey(name, extra[name][0], descending, nullable=True))
        else:
            raise InvalidInput(f"Cannot sort by {name!r}.",
                               [FieldProblem("sort", f"{name!r} is not a sortable field of {obj.label}")])
    if not any(k.name == "id" for k in keys):
        keys.append(SortKey("id", table.c.id, keys[-1].descending if keys else False, nullable=False))
    return keys


def _sort_value(obj: ObjectDef, key: SortKey, raw: Any,
                extra: Mapping[str, tuple[sa.ColumnElement[Any], FieldDef]] | None = None) -> Any:
    """A sort value read back from a cursor, as the column's Python type.

    Strings are taken as they are rather than through the field type's coercion: a value
    stored before a field's options or length limit changed must still be a valid position.
    """
    if raw is None:
        if not key.nullable:
            raise ValueError(f"the cursor has no value for {key.name!r}")
        return None
    if isinstance(raw, dict | list):
        raise ValueError(f"the cursor's value for {key.name!r} is not a sort value")
    if isinstance(key.column.type, sa.String):
        if not isinstance(raw, str):
            raise ValueError(f"the cursor's value for {key.name!r} is not text")
        return raw
    fdef = _SYSTEM_SORT.get(key.name) or obj.field(key.name) or (extra[key.name][1] if extra and key.name in extra
                                                                else None)
    if fdef is None:
        raise ValueError(f"the cursor names an unknown field {key.name!r}")
    if fdef.computed:
        return _computed_value(str(fdef.props.get("formula_type")), raw)
    return fdef.ftype.coerce(fdef, raw)


#: Result types of computed fields a list can be sorted by.
_SORTABLE_RESULTS = ("text", "number", "date", "datetime", "duration", "boolean")


def _computed_value(result_type: str, raw: Any) -> Any:
    """A computed field's sort value from its JSON form in a cursor."""
    if result_type == "number":
        return Decimal(str(raw))
    if result_type == "date":
        return date.fromisoformat(str(raw))
    if result_type == "datetime":
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if result_type in ("duration",) and not isinstance(raw, int):
        raise ValueError("the cursor's value is not a whole number")
    return raw
