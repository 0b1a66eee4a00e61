"""Reports in the running platform: a report document checked against the current
metadata, run as the caller (their row scope is part of the one SQL statement, fields they
may not see are unknown to them), drilled into, and exported as CSV or XLSX.

Summary reports (groupings and measures), funnels and time-in-stage reports all run
through `ReportService.run`. Results are cached (see `ReportCache`): per the compiled
statement — which holds the report document, the run's parameters and the caller's row
scope — the caller's permission identity, the metadata revision, and the data version of
every object the statement reads: the newest `tessera_outbox` id of each (every record
write adds one in its own transaction), read in one query before the report runs. A write
to any of those objects changes the key, so a stale result is never found again; old
entries age out of the LRU (in process) or expire (Redis, when `settings.redis_url` is set).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from sqlalchemy.sql import visitors

from tessera.auth.actor import Actor
from tessera.data.spreadsheets import csv_text, xlsx_value
from tessera.data.tables import outbox, record_history, team_members
from tessera.errors import FieldProblem, InvalidInput
from tessera.formula import FormulaError, Schema
from tessera.meta.documents import base_schema, schema_problems
from tessera.meta.model import FieldDef, ObjectDef
from tessera.reports import (
    KINDS,
    LEVEL,
    Choice,
    Plan,
    ReportError,
    StagePlan,
    compile_report,
    compile_stages,
    drill_filter,
    grouping_labels,
    plan,
    plan_stages,
    stage_drill_filter,
)
from tessera.runtime.records.choices import ordered_choices
from tessera.runtime.records.formulas import SnapshotSchema
from tessera.runtime.reports.names import GroupNames

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.formulas import FormulaService

MAX_ROWS = 10_000
#: Results kept by the in-process cache, and how long Redis keeps one (a key whose data
#: changed is never asked for again; this only bounds the memory it holds meanwhile).
CACHE_ENTRIES = 512
CACHE_SECONDS = 24 * 3600
log = logging.getLogger("tessera.reports")


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(base_schema("reports"))


def _is_stages(doc: Mapping[str, Any]) -> bool:
    return doc.get("type") in KINDS


def report_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """What is wrong with a report document (valid against its JSON Schema) given the
    metadata: the object, fields, paths and formulas it names, and its delivery schedules."""
    from tessera.runtime.reports.subscriptions import subscription_problems

    return _definition_problems(doc, schema) + subscription_problems(doc)


def _definition_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    obj = schema.object(str(doc.get("object")))
    if obj is None:
        return [FieldProblem("/object", f"there is no object named {doc.get('object')!r}", "unknown_object")]
    try:
        if _is_stages(doc):
            plan_stages(doc, obj, schema)
        else:
            plan(doc, obj, schema)
    except ReportError as error:
        return [FieldProblem(p.path, p.message, p.code) for p in error.problems]
    return []


def _invalid(problems: list[FieldProblem]) -> InvalidInput:
    return InvalidInput("The report is not valid.", problems)


class ReportCache(Protocol):
    """Where results are kept: `get` gives None on a miss (or when the store is down)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, result: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


class MemoryCache:
    """An in-process LRU of report results (the default)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self._data: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            self._data.move_to_end(key)
        return json.loads(found)

    def put(self, key: str, result: dict[str, Any]) -> None:
        text = json.dumps(result)  # a copy nobody can change behind the cache's back
        with self._lock:
            self._data[key] = text
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class RedisCache:
    """Report results in Redis, shared by every process of the platform. A Redis that
    cannot be reached is a miss (the report runs), logged, never an error."""

    def __init__(self, url: str, seconds: int = CACHE_SECONDS, prefix: str = "tessera:report:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._down = (redis.RedisError, OSError)
        self.seconds = seconds
        self.prefix = prefix

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            found = self.client.get(self.prefix + key)
        except self._down as error:  # a cache that is down is a miss
            log.warning("report cache unavailable: %s", error)
            return None
        return None if found is None else json.loads(found)

    def put(self, key: str, result: dict[str, Any]) -> None:
        try:
            self.client.set(self.prefix + key, json.dumps(result), ex=self.seconds)
        except self._down as error:
            log.warning("report cache unavailable: %s", error)

    def clear(self) -> None:
        for key in self.client.scan_iter(self.prefix + "*"):
            self.client.delete(key)


def cache_for(settings: Any) -> ReportCache:
    """Redis when the platform has one (`TESSERA_REDIS_URL`), otherwise in process."""
    url = getattr(settings, "redis_url", None)
    return RedisCache(url) if url else MemoryCache()


class ReportService:
    def __init__(self, kernel: Kernel, documents: DocumentService, formulas: FormulaService, access: AccessService,
                 names: GroupNames, cache: ReportCache | None = None) -> None:
        self.kernel = kernel
        self.documents = documents
        self.formulas = formulas
        self.access = access
        #: The names of users and records a grouping shows, as the reader may see them.
        self.names = names
        self.cache: ReportCache = cache if cache is not None else cache_for(kernel.settings)

    def _doc(self, report: str | Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(report, str):
            return self.documents.get("reports", report)
        problems = schema_problems(_validator(), report, "")
        if problems:
            raise _invalid(problems)
        return report

    def _plan(self, conn: Any, snap: Any, actor: Actor, doc: Mapping[str, Any], filter: str | None = None,
              limit: int | None = None) -> Plan | StagePlan:
        obj = snap.objects.get(str(doc["object"]))
        if obj is None:
            raise _invalid([FieldProblem("/object", f"there is no object named {doc['object']!r}",
                                         "unknown_object")])
        access = self.access.object(actor, snap, obj)
        access.refuse("read")

        def visible(o: ObjectDef, f: FieldDef) -> bool:
            if o.api_name not in snap.objects:
                return True
            return f.api_name not in self.access.object(actor, snap, o).hidden

        def choices(target: ObjectDef) -> list[Choice] | None:
            # A small object's records: a funnel's stages, the order of a lookup's groups.
            return ordered_choices(conn, target, snap.table(target))

        try:
            if _is_stages(doc):
                return plan_stages(doc, obj, SnapshotSchema(snap), visible, filter, choices)
            return plan(doc, obj, SnapshotSchema(snap), visible, filter, limit, choices)
        except ReportError as error:
            raise _invalid([FieldProblem(p.path, p.message, p.code) for p in error.problems]) from None

    def run(self, actor: Actor, report: str | Mapping[str, Any], *, filter: str | None = None,
            limit: int | None = None, use_cache: bool = True) -> dict[str, Any]:
        """Run a saved report (by api_name) or a report document: columns, the detail rows,
        subtotals (each naming the groupings it is grouped by) and the grand totals; for a
        funnel or time-in-stage report a row per stage. `meta.cached` tells whether the
        result came from the cache."""
        doc = self._doc(report)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ROWS):
            raise InvalidInput(f"limit must be between 1 and {MAX_ROWS}.",
                               [FieldProblem("limit", f"must be between 1 and {MAX_ROWS}")])
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            p = self._plan(conn, snap, actor, doc, filter, limit)
            dialect = conn.dialect.name
            formulas = self.formulas
            ctx = self.access.viewer_context(conn, snap, actor)
            table = snap.table(p.object)
            access = self.access.object(actor, snap, p.object)
            allowed = access.where("read", table, self.access.condition(snap, p.object, dialect, ctx))
            where = [allowed] if allowed is not None else []
            volatile = self._volatile(snap, p, access)
            if isinstance(p, StagePlan):
                statement = compile_stages(p, dialect, formulas.table_for(snap), record_history, ctx,
                                           formulas.column_for(snap, dialect, ctx), where,
                                           now=datetime.now(UTC) if p.include_current else None)
            else:
                query = compile_report(p, dialect, formulas.table_for(snap), ctx,
                                       formulas.column_for(snap, dialect, ctx), where=where)
                statement = query.statement.limit(MAX_ROWS * 2)
            key = None
            if use_cache and not volatile and _reads_only(conn):
                key = self._key(conn, snap, actor, access, statement, _columns_of(p))
            if key is not None and (found := self.cache.get(key)) is not None:
                found["meta"] = {"cached": True}
                return found
            result = conn.execute(statement).mappings().all()
        shaped = _shape_stages(p, result) if isinstance(p, StagePlan) else _shape(p, result, query.all_levels)
        if key is not None:
            self.cache.put(key, shaped)
        return {**shaped, "meta": {"cached": False}}

    def _volatile(self, snap: Any, p: Plan | StagePlan, access: Any) -> bool:
        """Whether the result depends on the clock (TODAY, NOW, a stay open until now): such
        results are not cached."""
        if isinstance(p, StagePlan):
            checked = [p.filter, p.value]
            if p.include_current:
                return True
        else:
            checked = [p.filter, *(g.checked for g in p.groupings),
                       *(a.checked for m in p.measures for a in m.aggregates)]
        if any(c is not None and c.volatile for c in checked):
            return True
        # A child object's (line items') sharing rules are its parent's, over the parent.
        ruled = access.parent.obj if access.parent is not None else p.object
        for _access, condition in access.sharing:
            try:
                if self.formulas.checked(snap, ruled, condition, "boolean").volatile:
                    return True
            except FormulaError:
                return True
        return False

    def _key(self, conn: Any, snap: Any, actor: Actor, access: Any, statement: Any,
             shape: list[Any]) -> str | None:
        """The cache key of a run, or None when its data has no version to key it by (it
        reads a platform table that record writes do not announce, such as users)."""
        objects = {t.name: o.uid for name, o in snap.objects.items() if (t := snap.tables.get(name)) is not None}
        read_uids: set[str] = set()
        teams = False
        for name in _tables(statement):
            if name in objects:
                read_uids.add(objects[name])
            elif name == team_members.name:
                teams = True
            elif name != record_history.name:  # written with its object's outbox event
                return None
        uids = sorted(read_uids)
        columns: list[Any] = [sa.select(outbox.c.id).where(outbox.c.object_uid == uid).order_by(outbox.c.id.desc())
                              .limit(1).scalar_subquery() for uid in uids]
        if any(f.computed and f.stored for o in snap.objects.values() if o.uid in read_uids for f in o.fields):
            # A stored formula changes with the records it reads, whose writes are announced
            # on their own objects: any write anywhere is a new version.
            columns.append(sa.select(sa.func.max(outbox.c.id)).scalar_subquery())
        if conn.dialect.name == "postgresql":
            # Write transactions still open that drew an outbox id: one of them may commit an
            # id below the newest seen now, so the set of them is part of the version (see
            # docs/reports.md). Drawing from the outbox's id sequence locks it until the
            # transaction ends; others (other databases, the dispatcher marking events done)
            # do not count.
            columns.append(sa.literal_column(
                "(SELECT string_agg(virtualtransaction, ',' ORDER BY virtualtransaction) FROM pg_locks "
                f"WHERE locktype = 'relation' AND relation = pg_get_serial_sequence('{outbox.name}', 'id')::regclass "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"))
        versions = list(conn.execute(sa.select(*columns)).one()) if columns else []
        members: list[int] = []
        if teams and access.actor.team_ids:
            members = sorted(conn.execute(sa.select(team_members.c.team_id, team_members.c.user_id)
                                          .where(team_members.c.team_id.in_(sorted(access.actor.team_ids))))
                             .tuples())
        compiled = statement.compile(dialect=conn.dialect)
        who = access.actor  # as re-checked for this transaction
        identity = None if access.unrestricted else [who.user_id, sorted(who.roles), sorted(who.team_ids)]
        material = json.dumps([str(compiled), _params(compiled.params), snap.revision, identity, uids, versions,
                               members, shape], default=str)
        return hashlib.sha256(material.encode()).hexdigest()

    def drill(self, actor: Actor, report: str | Mapping[str, Any], cell: Any) -> dict[str, Any]:
        """The record-list filter selecting the records behind a cell ({grouping: value})."""
        if not isinstance(cell, dict):
            raise InvalidInput("A cell is an object of grouping names and values.",
                               [FieldProblem("/cell", "must be an object")])
        doc = self._doc(report)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            p = self._plan(conn, snap, actor, doc)
        try:
            found = stage_drill_filter(p, cell) if isinstance(p, StagePlan) else drill_filter(p, cell)
            return {"object": p.object.api_name, "filter": found}
        except ReportError as error:
            raise _invalid([FieldProblem(e.path, e.message, e.code) for e in error.problems]) from None

    def export(self, actor: Actor, report: str | Mapping[str, Any], fmt: str) -> bytes:
        """The report as CSV or XLSX: a header, the detail rows, then subtotals and totals,
        a select's groups by their options' labels."""
        return export_result(self.readable(actor, report, self.run(actor, report)), fmt)

    def readable(self, actor: Actor, report: str | Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
        """`result` of `report` with its groupings as people read them — a select's option
        labels (*Closed won*, not `closed_won`), Yes/No, the names of users and of records the
        reader may see — for exports and e-mails."""
        doc = self._doc(report)
        if _is_stages(doc):
            return dict(result)  # a row per stage already carries the stage's label
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
        labels = grouping_labels(SnapshotSchema(snap), snap.object(str(doc["object"])), doc, result,
                                 lambda fdef, values: self.names(actor, snap, fdef, values))
        if not labels:
            return dict(result)

        def named(row: Mapping[str, Any]) -> dict[str, Any]:
            return {k: labels[k].get(v, v) if k in labels and v is not None else v for k, v in row.items()}

        return {**result, "rows": [named(r) for r in result["rows"]],
                "subtotals": [named(r) for r in result["subtotals"]]}


def export_result(data: Mapping[str, Any], fmt: str) -> bytes:
    """A report's result as CSV or XLSX: a header, the detail rows, then subtotals and totals."""
    header = [c["label"] for c in data["columns"]]
    names = [c["name"] for c in data["columns"]]
    lines = [[row.get(n) for n in names] for row in data["rows"]]
    lines += [[row.get(n) for n in names] for row in data["subtotals"]]
    if data["totals"] is not None:
        lines.append([data["totals"].get(n, "Total" if i == 0 else None) for i, n in enumerate(names)])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([csv_text(h) for h in header])
        writer.writerows([[csv_text(v) for v in line] for line in lines])
        return out.getvalue().encode("utf-8")
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet.append([csv_text(h) for h in header])
    for line in lines:
        sheet.append([xlsx_value(v) for v in line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _reads_only(conn: Any) -> bool:
    """Whether `conn` is a plain read (not a write transaction that may hold uncommitted
    writes, whose outbox ids could be rolled back and handed out again)."""
    options = conn.get_execution_options()
    if conn.dialect.name == "sqlite":
        return options.get("sqlite_begin") != "IMMEDIATE"
    return options.get("isolation_level") == "AUTOCOMMIT"


def _tables(statement: Any) -> set[str]:
    """The names of the tables a statement reads (through CTEs, subqueries and aliases)."""
    return {e.name for e in visitors.iterate(statement) if isinstance(e, sa.Table)}


def _columns_of(p: Plan | StagePlan) -> list[Any]:
    """What the result says beside the numbers: the columns' names, labels and types (an
    unsaved preview may rename a column without changing the SQL)."""
    if isinstance(p, StagePlan):
        return [p.label, list(p.labels), [list(c) for c in p.columns]]
    return [[g.name, g.label, g.type] for g in p.groupings] + [[m.name, m.label, m.type] for m in p.measures]


def _params(params: Mapping[str, Any]) -> list[Any]:
    return [[k, repr(v)] for k, v in sorted(params.items())]


def _shape_stages(p: StagePlan, result: list[Mapping[str, Any]]) -> dict[str, Any]:
    columns = [{"name": "stage", "label": p.label, "kind": "grouping", "type": "text"},
               {"name": "label", "label": "Label", "kind": "grouping", "type": "text"}]
    columns += [{"name": n, "label": label, "kind": "measure", "type": t} for n, label, t in p.columns]
    rows = []
    for record in result:
        row = {"stage": record["stage"], "label": record["label"]}
        for name, _label, t in p.columns:
            value = record[name]
            row[name] = str(value) if t == "number" and isinstance(value, int) else _json(value)
        rows.append(row)
    return {"object": p.object.api_name, "type": p.kind, "field": p.field.api_name, "columns": columns,
            "rows": rows, "subtotals": [], "totals": None}


def _shape(p: Plan, result: list[Mapping[str, Any]], all_levels: int) -> dict[str, Any]:
    groupings = p.groupings
    columns = [{"name": g.name, "label": g.label, "kind": "grouping", "type": g.type} for g in groupings]
    columns += [{"name": m.name, "label": m.label, "kind": "measure", "type": m.type} for m in p.measures]
    rows, subtotals, totals = [], [], None
    for record in result:
        level = record[LEVEL]
        values = {c["name"]: _json(record[c["name"]]) for c in columns}
        if level == 0 and groupings:
            rows.append(values)
        elif level == all_levels:
            totals = {m.name: values[m.name] for m in p.measures}
            if not groupings:
                rows.append(values)
        else:
            by = [g.name for i, g in enumerate(groupings) if not level & (1 << (len(groupings) - 1 - i))]
            subtotals.append({"group_by": by, **{k: v for k, v in values.items()
                                                 if k in by or k in {m.name for m in p.measures}}})
    return {"object": p.object.api_name, "columns": columns, "rows": rows, "subtotals": subtotals,
            "totals": totals}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value else None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value
