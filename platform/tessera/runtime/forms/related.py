"""The related lists and timeline sources of a record page, read with statements built once.

A related list is the list `records.list` reads — the child records the actor may read,
the fields they may see, in the list's order — filtered to the records reached from the
page's record. Building that SELECT (its row scope, computed columns and relation filter)
costs far more than running it, and only the record's id changes from one page to the
next: it is built once per metadata revision, person's access and list, with the record's
id as a parameter, and TODAY()/NOW() as parameters too (`clock_params`).

Not kept, so built for each page as `records.list` does: the lists of a person whose row
scope, or the computed fields shown, read `$user` (the user's own fields are no part of the
key), and a statement in which the record's id could not be told apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from tessera.auth.actor import Actor
from tessera.data.engine import is_sqlite, reads_together
from tessera.data.paging import order_by
from tessera.data.prepared import Prepared
from tessera.data.tables import users
from tessera.errors import TesseraError
from tessera.forms import relation_filter
from tessera.formula import EvalContext, FormulaError, clock_params
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.forms.together import POSITION, Together, together
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.service import RecordService, serializer

#: Stands for the page's record id while a statement is built; no record has this id.
_PLACEHOLDER = 987_654_321_987_654_321
_RECORD = "related_record"


@dataclass(frozen=True)
class ListRead:
    """A related list or a timeline's source to read: the records of `child` reached
    through `hops` (the relation's path), with these fields (None: all the actor may see),
    in this order, at most `limit`, and the names their lookup and user columns
    (`expand`) point at."""

    relation: str
    child: ObjectDef
    hops: list[tuple[ObjectDef, FieldDef]]
    fields: list[str] | None
    sort: str | None
    limit: int
    expand: list[str]


@dataclass(frozen=True)
class Page:
    """The records of a read as `records.list` gives them (`_expanded` holding the names
    only) — of a kept statement, their id, the fields asked for and the sort keys alone —
    and whether there are more."""

    data: list[dict[str, Any]]
    more: bool


def _merged(reads: list[ListRead]) -> ListRead:
    """One read for several of the same relation and order: every field and name any of
    them shows, as many records as the longest."""
    first = reads[0]
    if len(reads) == 1:
        return first
    fields = None if any(r.fields is None for r in reads) else list(dict.fromkeys(
        f for r in reads for f in r.fields or ()))
    return ListRead(first.relation, first.child, first.hops, fields, first.sort, max(r.limit for r in reads),
                    list(dict.fromkeys(c for r in reads for c in r.expand)))


@dataclass(frozen=True)
class _Prepared:
    """A related list's statement with the record's id as a parameter, its fields, and per
    expanded column the label of its target's name in the row and the key `_shown` reads."""

    statement: Prepared
    shown: list[FieldDef]
    names: tuple[tuple[str, str, str], ...]
    to_json: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: The statement as a part of one reading several lists (`together.py`).
    branch: sa.Select[Any]

    def records(self, rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The rows (read up to `limit` + 1) as records, and whether there are more."""
        to_json = self.to_json
        data = []
        for row in rows[:limit]:
            record = to_json(row)
            if self.names:
                record["_expanded"] = {column: None if row[label] is None else {key: row[label]}
                                       for column, label, key in self.names}
            data.append(record)
        return data, len(rows) > limit


#: In a `_Plan`: a read the actor may not make (a child they may not read, a field hidden from them).
_REFUSED = object()


@dataclass(frozen=True)
class _Plan:
    """How a page's reads are read for one access, the same on every page: the reads (kept,
    so that their identity stays theirs), the reads of one relation and order as groups of
    their places, one read per group, and its kept statement — None: read by `records.list`
    for each page; `_REFUSED`: not read."""

    reads: Sequence[ListRead]
    groups: list[list[int]]
    merged: list[ListRead]
    statements: list[_Prepared | object | None]


class RelatedReader:
    """Reads related lists for record pages, keeping their statements per revision and access."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.access = records.access
        self.formulas = records.formulas
        self._kept: dict[tuple[Any, ...], _Prepared | None] = {}
        #: Statements reading several kept lists at once, by the lists' (kept as long).
        self._together: dict[tuple[int, ...], tuple[Together, tuple[_Prepared, ...]]] = {}
        self._personal: dict[tuple[Any, ...], bool] = {}
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._revision = -1
        self._lock = threading.Lock()

    def read(self, conn: Connection, snap: Snapshot, actor: Actor, record_id: int, reads: Sequence[ListRead],
             clock: EvalContext) -> list[Page | None]:
        """For each read, the first `limit` records of its child reached from `record_id`,
        as `records.list` returns them (None: the actor may not read them). Reads of the
        same relation in the same order are one statement (the fields and the limit of
        both); on PostgreSQL the kept statements are read as one (see together.py)."""
        with reads_together(conn):
            pages = self.read_later(conn, snap, actor, record_id, reads, clock)
        return pages()

    def read_later(self, conn: Connection, snap: Snapshot, actor: Actor, record_id: int,
                   reads: Sequence[ListRead], clock: EvalContext) -> Callable[[], list[Page | None]]:
        """`read`, its kept statements sent now and the pages given when the function is
        called: inside `reads_together` they go out with whatever else is sent there, and
        are answered by the round trip that ends it (call the function after that)."""
        scope = self.access.scope_key(actor, snap)
        if snap.revision != self._revision:
            with self._lock:
                if snap.revision != self._revision:
                    self._kept, self._personal, self._together, self._plans, self._revision = \
                        {}, {}, {}, {}, snap.revision
        plan = self._plan(conn, snap, actor, reads, scope)
        groups, merged = plan.groups, plan.merged
        found: list[list[dict[str, Any]] | None] = [None] * len(merged)
        more: list[bool] = [False] * len(merged)
        kept: list[tuple[int, _Prepared]] = []
        for n, (wanted, prepared) in enumerate(zip(merged, plan.statements, strict=True)):
            if prepared is _REFUSED:
                continue  # a child the actor may not read, or a field hidden from them
            try:
                if prepared is None:
                    page = self.records.list(actor, wanted.child.api_name, fields=wanted.fields, sort=wanted.sort,
                                             limit=wanted.limit, filter=relation_filter(wanted.hops, record_id),
                                             expand=wanted.expand or None)
                    found[n], more[n] = page["data"], page.get("next_cursor") is not None
                else:
                    assert isinstance(prepared, _Prepared)
                    kept.append((n, prepared))
            except TesseraError:
                continue  # a child the actor may not read, or a field hidden from them
        params = {_RECORD: record_id, **clock_params(clock)}
        if len(kept) > 1 and not is_sqlite(conn):
            joined = self._joined([prepared for _n, prepared in kept])
            rows = joined.statement.read(conn, params)

            def each() -> list[list[dict[str, Any]]]:
                return joined.split(rows.values())
        else:
            pending = [prepared.statement.read(conn, params) for _n, prepared in kept]

            def each() -> list[list[dict[str, Any]]]:
                return [rows.all() for rows in pending]

        def pages() -> list[Page | None]:
            for (n, prepared), rows in zip(kept, each(), strict=True):
                found[n], more[n] = prepared.records(rows, merged[n].limit)
            out: list[Page | None] = [None] * len(reads)
            for (members, data, extra) in zip(groups, found, more, strict=True):
                if data is None:
                    continue
                for n in members:
                    limit = reads[n].limit
                    out[n] = Page(data[:limit], extra or len(data) > limit)
            return out

        return pages

    def _plan(self, conn: Connection, snap: Snapshot, actor: Actor, reads: Sequence[ListRead],
              scope: Any) -> _Plan:
        """How `reads` are read for this access (`_Plan`), worked out once per revision: a
        page asks for the same reads (kept per snapshot, form and access) every time."""
        key = (scope, id(reads))
        found = self._plans.get(key)
        if found is not None and found.reads is reads:
            return found
        groups: dict[tuple[str, str | None], list[int]] = {}
        for n, wanted in enumerate(reads):
            groups.setdefault((wanted.relation, wanted.sort), []).append(n)
        merged = [_merged([reads[n] for n in members]) for members in groups.values()]
        statements: list[_Prepared | object | None] = []
        for wanted in merged:
            try:
                statements.append(self._prepared(conn, snap, actor, wanted, scope))
            except TesseraError:
                statements.append(_REFUSED)
        found = _Plan(reads, list(groups.values()), merged, statements)
        with self._lock:
            if len(self._plans) > 2000:
                self._plans.clear()
            self._plans[key] = found
        return found

    def _joined(self, kept: list[_Prepared]) -> Together:
        """One statement for these lists' (see together.py), made once for them."""
        key = tuple(map(id, kept))
        found = self._together.get(key)
        if found is None:
            found = together([prepared.branch for prepared in kept]), tuple(kept)  # kept: their ids stay theirs
            with self._lock:
                if len(self._together) > 2000:
                    self._together.clear()
                self._together[key] = found
        return found[0]

    def _prepared(self, conn: Connection, snap: Snapshot, actor: Actor, wanted: ListRead,
                  scope: Any) -> _Prepared | None:
        key = (conn.dialect.name, snap.revision, scope, wanted.child.uid,
               None if wanted.fields is None else tuple(wanted.fields), wanted.sort, wanted.limit,
               tuple(wanted.expand), relation_filter(wanted.hops, _PLACEHOLDER))
        if key in self._kept:
            return self._kept[key]
        prepared = self._prepare(conn, snap, actor, wanted.child, wanted.hops, wanted.fields, wanted.sort,
                                 wanted.limit, wanted.expand, scope)
        with self._lock:
            if len(self._kept) > 2000:
                self._kept.clear()
            self._kept[key] = prepared
        return prepared

    def _prepare(self, conn: Connection, snap: Snapshot, actor: Actor, child: ObjectDef,
                 hops: list[tuple[ObjectDef, FieldDef]], fields: list[str] | None, sort: str | None,
                 limit: int, expand: list[str], scope: Any) -> _Prepared | None:
        """The list's statement with the record's id a parameter, or None when it cannot be
        kept (see the module's docstring). The names its lookup and user columns point at
        are read in the same statement, as the actor may read them."""
        if self._reads_user(snap, actor, scope):
            return None
        query, keys, shown, _signature, _extra, _live = self.records.list_query(
            conn, snap, actor, child, fields=fields, sort=sort, filter=relation_filter(hops, _PLACEHOLDER))
        # What a page shows of a row: its id, the fields asked for and what it is sorted by
        # (a timeline's date), not every system column of a record's JSON.
        wanted = {"id", *(f.column for f in shown), *(k.name for k in keys)}
        query = query.with_only_columns(*(c for c in query.selected_columns if c.key in wanted),
                                        maintain_column_froms=True)
        carried = frozenset(str(c.key) for c in query.selected_columns)
        if not self.formulas.context_free(snap, child, [*shown, *(f for f in child.fields
                                                                   if f.api_name in {k.name for k in keys})],
                                          clock=True):
            return None
        table = snap.table(child)
        hidden = self.access.object(actor, snap, child).hidden
        contexts: dict[str, EvalContext] = {}
        names: list[tuple[str, str, str]] = []
        for column in expand:
            fdef = child.field(column)
            if fdef is None or fdef.type not in ("lookup", "user") or column in hidden:
                return None  # refused by `records.list`, as it words it
            label = f"_name_{len(names)}"
            if fdef.type == "user":
                name = sa.select(users.c.name).where(users.c.id == table.c[fdef.column]).scalar_subquery()
                names.append((column, label, "name"))
            else:
                target = snap.objects.get(str(fdef.props.get("target")))
                if target is None or target.name_field is None:
                    continue  # nothing to name it by: the id is shown
                if not self.formulas.context_free(snap, target, [target.name_field], clock=True):
                    return None
                other = snap.table(target).alias(label)
                allowed = self.access.readable(conn, snap, actor, target, other, contexts)
                name = sa.select(self.access.name_column(conn, snap, actor, target, other, contexts)).where(
                    other.c.id == table.c[fdef.column], other.c.deleted_at.is_(None),
                    *([allowed] if allowed is not None else [])).scalar_subquery()
                names.append((column, label, target.name_field.api_name))
            query = query.add_columns(name.label(label))
        found = 0

        def swap(element: Any) -> Any:
            nonlocal found
            if isinstance(element, BindParameter) and isinstance(element.value, int | Decimal) \
                    and not isinstance(element.value, bool) and element.value == _PLACEHOLDER:
                found += 1
                return sa.bindparam(_RECORD, type_=element.type)
            if isinstance(element, BinaryExpression) and element.operator is operators.in_op \
                    and isinstance(element.right, BindParameter) and element.right.expanding \
                    and isinstance(element.right.value, list | tuple) and element.right.value:
                # A list of values (the actor's teams, part of the key) as one parameter each:
                # a prepared statement has a fixed number of them.
                return element.left.in_([sa.literal(v, element.right.type) for v in element.right.value])
            return None

        ordered = order_by(keys)
        branch = replacement_traverse(query.add_columns(sa.func.row_number().over(order_by=ordered).label(POSITION))
                                      .order_by(*ordered).limit(limit + 1), {}, swap)
        query = replacement_traverse(query.order_by(*ordered).limit(limit + 1), {}, swap)
        # Prepared on the server only as often as any repeated statement: the object's
        # columns can change type under a statement kept on another connection.
        statement = Prepared(query, prepare=False)
        try:
            sql = statement.sql(conn)
        except ValueError:
            return None  # a parameter that cannot be prepared once: built for each page
        if not found or str(_PLACEHOLDER) in sql:
            return None  # the id went into the SQL some other way: built for each page
        return _Prepared(statement, shown, tuple(names), serializer(shown, carried=carried), branch)

    def _reads_user(self, snap: Snapshot, actor: Actor, scope: Any) -> bool:
        """Whether a sharing rule that applies to the actor reads `$user` (compiled with the
        user's own values, which no key here follows)."""
        found = self._personal.get(scope)
        if found is None:
            found = False
            for obj in snap.objects.values():
                # A line's rules are its parent's, written on the parent.
                link = obj.parent_link if obj.is_child else None
                rules_of = snap.objects.get(str(link.props.get("target")), obj) if link is not None else obj
                for _access, condition in self.access.object(actor, snap, obj).sharing:
                    try:
                        found = found or self.formulas.checked(snap, rules_of, condition, "boolean").uses_user
                    except FormulaError:
                        found = True
            self._personal[scope] = found
        return found

