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
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from tessera.auth.actor import Actor
from tessera.data.paging import order_by
from tessera.data.tables import users
from tessera.forms import relation_filter
from tessera.formula import EvalContext, FormulaError, clock_params
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.service import RecordService, serializer

#: Stands for the page's record id while a statement is built; no record has this id.
_PLACEHOLDER = 987_654_321_987_654_321
_RECORD = "related_record"


@dataclass(frozen=True)
class _Prepared:
    """A related list's statement with the record's id as a parameter, its fields, and per
    expanded column the label of its target's name in the row and the key `_shown` reads."""

    query: sa.Select[Any]
    shown: list[FieldDef]
    names: tuple[tuple[str, str, str], ...]


class RelatedReader:
    """Reads related lists for record pages, keeping their statements per revision and access."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.access = records.access
        self.formulas = records.formulas
        self._kept: dict[tuple[Any, ...], _Prepared | None] = {}
        self._personal: dict[tuple[Any, ...], bool] = {}
        self._revision = -1
        self._lock = threading.Lock()

    def page(self, conn: Connection, snap: Snapshot, actor: Actor, child: ObjectDef,
             hops: list[tuple[ObjectDef, FieldDef]], record_id: int, *, fields: list[str] | None,
             sort: str | None, limit: int, expand: list[str] | None, clock: EvalContext) -> dict[str, Any]:
        """The first `limit` records of `child` reached from `record_id` through `hops`, as
        `records.list` returns them (`more` instead of a cursor)."""
        scope = self.access.scope_key(actor, snap)
        key = (conn.dialect.name, snap.revision, scope, child.uid, tuple(fields or ()), fields is None, sort, limit,
               tuple(expand or ()), relation_filter(hops, _PLACEHOLDER))
        if snap.revision != self._revision:
            with self._lock:
                if snap.revision != self._revision:
                    self._kept, self._personal, self._revision = {}, {}, snap.revision
        if key in self._kept:
            prepared = self._kept[key]
        else:
            prepared = self._prepare(conn, snap, actor, child, hops, fields, sort, limit, expand or [], scope)
            with self._lock:
                if len(self._kept) > 2000:
                    self._kept.clear()
                self._kept[key] = prepared
        if prepared is None:
            page = self.records.list(actor, child.api_name, fields=fields, sort=sort, limit=limit,
                                     filter=relation_filter(hops, record_id), expand=expand)
            return {"data": page["data"], "more": page.get("next_cursor") is not None}
        rows = conn.execute(prepared.query, {_RECORD: record_id, **clock_params(clock)}).mappings().all()
        to_json = serializer(prepared.shown)
        data = []
        for row in rows[:limit]:
            record = to_json(row)
            if prepared.names:
                record["_expanded"] = {column: None if row[label] is None else {key: row[label]}
                                       for column, label, key in prepared.names}
            data.append(record)
        return {"data": data, "more": len(rows) > limit}

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
            return None

        query = replacement_traverse(query.order_by(*order_by(keys)).limit(limit + 1), {}, swap)
        if not found or str(_PLACEHOLDER) in str(query.compile(dialect=conn.dialect)):
            return None  # the id went into the SQL some other way: built for each page
        return _Prepared(query, shown, tuple(names))

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

