"""Deciding what each row of an import does: create, update, leave unchanged, or refuse.

`ImportPlan` is an import's settings made concrete against the metadata (which field each
column feeds, with its options), checked once. `Decider` then takes the file's rows a
chunk at a time and works out, with a handful of set queries per chunk and none per row,
each row's values, the records its lookups name, the record its key matches and what
would change. The preview and the run decide the same way; only the run writes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data.schema import field_indexes
from tessera.data.tables import users
from tessera.errors import FieldProblem, InvalidInput
from tessera.imports.values import CellError
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.imports.cells import (
    REFERENCES,
    ColumnOptions,
    Reader,
    as_text,
    blank,
    column_reader,
    importable,
    mapped,
    reader_of,
)
from tessera.runtime.imports.keys import live_by_key
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.records.save import found_live

MODES = ("insert", "update", "upsert")
#: Rows decided and written together: one transaction and checkpoint each.
CHUNK = 1000
#: A row's outcomes.
CREATE, UPDATE, UNCHANGED, REFUSE = "create", "update", "unchanged", "refuse"


@dataclass(frozen=True)
class Column:
    """One mapped column: where it goes and how its cells read."""

    index: int
    name: str
    field: FieldDef
    options: ColumnOptions
    #: For a column of line items: the parent's child_table field (the column's field is
    #: then the line object's).
    lines: FieldDef | None = None
    #: Worked out once, used for every cell: the field's name, whether its cells name
    #: records, how they read, and whether the column maps values.
    name_of_field: str = ""
    reference: bool = False
    reader: Reader | None = None
    maps_values: bool = False
    #: The reader with the field and options bound (cell → value), for the record's own cells.
    read: Callable[[Any], Any] | None = None

    @property
    def target(self) -> str:
        return f"{self.lines.api_name}.{self.field.api_name}" if self.lines else self.field.api_name


@dataclass(frozen=True)
class ImportPlan:
    obj: ObjectDef
    columns: tuple[Column, ...]
    mode: str
    key: tuple[FieldDef, ...]
    parent_columns: tuple[Column, ...] = ()
    line_columns: tuple[Column, ...] = ()
    #: The columns of unique fields whose repeats in the file are refused (not the key's).
    unique_columns: tuple[Column, ...] = ()


def column(index: int, name: str, fdef: FieldDef, options: ColumnOptions, lines: FieldDef | None) -> Column:
    reference = fdef.type in REFERENCES
    return Column(index, name, fdef, options, lines, name_of_field=fdef.api_name, reference=reference,
                  reader=None if reference else reader_of(fdef), maps_values=bool(options.values),
                  read=None if reference else column_reader(fdef, options))


def targets(snap: Snapshot, obj: ObjectDef) -> dict[str, tuple[FieldDef, FieldDef | None]]:
    """What columns can be imported into, by name: the object's fields, and its line items'
    fields as "lines.quantity"."""
    out: dict[str, tuple[FieldDef, FieldDef | None]] = {
        f.api_name: (f, None) for f in obj.fields if importable(f)}
    if obj.is_child and obj.parent_link is not None:
        # Lines from a file of their own: each row names its record (by its key or name).
        out[obj.parent_link.api_name] = (obj.parent_link, None)
    for lines in obj.line_fields:
        child = snap.objects.get(str(lines.props.get("target")))
        if child is None:
            continue
        for f in child.fields:
            if importable(f):
                out[f"{lines.api_name}.{f.api_name}"] = (f, lines)
    return out


#: Between a line field's label and its field's label (a single right-pointing angle quote).
INTO = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "


def label(snap: Snapshot, obj: ObjectDef, target: str) -> str:
    """What people call a place a column can go: a field's label; for a field of the line
    items, the line field's label and its own, joined by INTO."""
    if "." not in target:
        fdef = obj.field(target)
        return fdef.label if fdef else target
    lines_name, child_name = target.split(".", 1)
    lines = obj.line_field(lines_name)
    child = snap.objects.get(str(lines.props.get("target"))) if lines else None
    fdef = child.field(child_name) if child else None
    return f"{lines.label if lines else lines_name}{INTO}{fdef.label if fdef else child_name}"


def plan(snap: Snapshot, obj: ObjectDef, headers: list[str], settings: dict[str, Any]) -> ImportPlan:
    """The settings made concrete; InvalidInput lists every problem with them."""
    problems: list[FieldProblem] = []
    known = targets(snap, obj)
    mapping = settings.get("mapping") or {}
    options = settings.get("options") or {}
    columns: list[Column] = []
    used: dict[str, str] = {}
    for index, name in enumerate(headers):
        target = mapping.get(name)
        if not target:
            continue
        if target not in known:
            problems.append(FieldProblem(f"mapping.{name}", f"{target!r} is not a field you can import into"))
            continue
        if target in used:
            problems.append(FieldProblem(f"mapping.{name}", f"{label(snap, obj, target)} is fed by column "
                                                            f"{used[target]!r} already"))
            continue
        used[target] = name
        fdef, lines = known[target]
        columns.append(column(index, name, fdef, ColumnOptions.of(options.get(name)), lines))
        match = columns[-1].options.match
        if match and fdef.type == "lookup":
            target_obj = snap.objects.get(str(fdef.props.get("target")))
            found = target_obj.field(match) if target_obj else None
            if found is None or not found.stored:
                problems.append(FieldProblem(f"options.{name}.match",
                                             f"{match!r} is not a field of {target_obj.label if target_obj else '?'}"))
    mode = settings.get("mode") or "insert"
    if mode not in MODES:
        problems.append(FieldProblem("mode", f"must be one of {', '.join(MODES)}"))
    key_names = list(settings.get("key") or [])
    key: list[FieldDef] = []
    for name in key_names:
        fdef = obj.field(name)
        if fdef is None or not fdef.stored:
            problems.append(FieldProblem("key", f"{name!r} is not a field of {obj.label}"))
        elif name not in used:
            problems.append(FieldProblem("key", f"{fdef.label!r} is a key, so a column must be mapped to it"))
        else:
            key.append(fdef)
    if mode != "insert" and not key_names:
        problems.append(FieldProblem("key", f"an {mode} needs a key: the field (or fields) that find each record"))
    link = obj.parent_link if obj.is_child else None
    if link is not None:
        if mode != "insert":
            problems.append(FieldProblem("mode", f"{obj.plural_label} are added to their records' lines: "
                                                 "choose Add new records"))
        if link.api_name not in used:
            problems.append(FieldProblem("mapping", f"map a column to {link.label!r}: it says which record "
                                                    "each line belongs to"))
    if not columns:
        problems.append(FieldProblem("mapping", "map at least one column to a field"))
    if problems:
        raise InvalidInput("The import's settings need attention.", problems)
    parents = tuple(c for c in columns if c.lines is None)
    keyed = set(key) if mode != "insert" else set()
    return ImportPlan(obj, tuple(columns), mode, tuple(key), parents, tuple(c for c in columns if c.lines is not None),
                      tuple(c for c in parents if c.field.unique and c.field not in keyed))


@dataclass
class Row:
    """One record's row of the file (and its continuation rows of line items)."""

    line: int
    cells: list[Any]
    #: Continuation rows: (line, cells) of further line items.
    more: list[tuple[int, list[Any]]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    #: Line items by the parent's line field.
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: [{column, field, value, reason}]
    problems: list[dict[str, Any]] = field(default_factory=list)
    #: Per column name: the reason its cell was refused (for the preview's red cells).
    bad: dict[str, str] = field(default_factory=dict)
    key: tuple[Any, ...] | None = None
    record_id: int | None = None
    version: int | None = None
    #: What an update changes (the fields whose value differs from what is stored).
    changes: dict[str, Any] = field(default_factory=dict)
    outcome: str = CREATE

    def refuse(self, column: str | None, fdef: FieldDef | str | None, value: Any, reason: str) -> None:
        name = fdef.api_name if isinstance(fdef, FieldDef) else fdef
        self.problems.append({"column": column, "field": name,
                              "value": None if value is None else as_text(value), "reason": reason})
        if column:
            self.bad.setdefault(column, reason)
        self.outcome = REFUSE

    @property
    def all_lines(self) -> list[tuple[int, list[Any]]]:
        return [(self.line, self.cells), *self.more]


def records_of(numbered: Iterable[tuple[int, list[Any]]], plan: ImportPlan) -> Iterator[Row]:
    """Rows grouped into records: a row whose parent columns are all blank but that has line
    items continues the record above it."""
    parents, lines = plan.parent_columns, plan.line_columns
    current: Row | None = None
    for line, cells in numbered:
        if lines and current is not None and all(blank(cells[c.index]) for c in parents) \
                and any(not blank(cells[c.index]) for c in lines):
            current.more.append((line, cells))
            continue
        if current is not None:
            yield current
        current = Row(line, cells)
    if current is not None:
        yield current


def chunks(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def quiet_chunks(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    """chunks(), each read and worked on with the cyclic garbage collector paused; it runs
    again between chunks. A chunk's rows, cells and values (some 20,000 objects) live until
    it is done, long enough for the collector to move them to its oldest generation, whose
    growth then sets off full collections of the whole process, over and over (a third of a
    preview's time). They hold no cycles: reference counting frees them with their chunk.
    Use it with contextlib.closing, so the pause ends even when the work stops half-way."""
    iterator = chunks(rows, size)
    while True:
        paused = gc.isenabled()
        gc.disable()
        try:
            chunk = next(iterator, None)
            if chunk is None:
                return
            yield chunk
        finally:
            if paused:
                gc.enable()


#: Finds the ids of records of an object an actor may do something to: (conn, object,
#: operation) → a WHERE clause, or None when they may do it to all.
Allowed = Callable[[Connection, ObjectDef, str], Any]


class Decider:
    """Decides rows chunk by chunk; remembers across chunks the keys the file used (a key
    twice in one file is an error on its second row) and the records lookups named."""

    def __init__(self, snap: Snapshot, plan: ImportPlan, actor: Actor, allowed: Allowed) -> None:
        self.snap = snap
        self.plan = plan
        self.actor = actor
        self.allowed = allowed
        self.seen: dict[tuple[Any, ...], int] = {}
        #: (unique field, value) → the line that had it first.
        self.unique_seen: dict[tuple[str, Any], int] = {}
        #: Per reference column: folded name → record id, or a list of ids when ambiguous.
        self.found: dict[str, dict[str, Any]] = {}
        #: Per reference column: names no record has (the run may create them), folded → as first written.
        self.missing: dict[str, dict[str, str]] = {}
        #: Per reference column of the record's own: a cell's trimmed text → the id of the one
        #: record it names (found so in this import: `found` by the text's folded form).
        self.ids: dict[str, dict[str, int]] = {}
        #: Per reference column of the record's own: the rows of the chunk whose names wait for _resolve.
        self.waiting: dict[str, list[Row]] = {}

    # -- reading cells -----------------------------------------------------------------
    def decide(self, conn: Connection, rows: list[Row]) -> None:
        self._read_all(rows)
        self._resolve(conn, rows)
        if self.plan.mode != "insert":
            for row in rows:
                if row.outcome != REFUSE:
                    self._key(row)
            self._match(conn, rows)
        else:
            for row in rows:
                if row.outcome != REFUSE:
                    row.outcome = CREATE

    def vouch(self, conn: Connection) -> None:
        """Tell the save pipeline that the records lookups named were found live in this
        transaction, among those the importer may read: each save need not look them up again."""
        for column in self.plan.columns:
            if column.reference and column.field.type == "lookup":
                ids = [v for v in self.found.get(column.name, {}).values() if isinstance(v, int)]
                found_live(conn, str(column.field.props["target"]), ids)

    def note_keys(self, conn: Connection, rows: list[Row]) -> None:
        """Rows an earlier run of this import wrote already (a resumed job skips them): their
        keys and unique values still count as seen, so a later row repeating one is refused
        as it would have been."""
        self._read_all(rows)
        if self.plan.mode != "insert":
            self._resolve(conn, rows)
            for row in rows:
                if row.outcome != REFUSE:
                    self._key(row)

    def _read_all(self, rows: list[Row]) -> None:
        """Read a chunk's cells a column at a time (what a column needs is looked up once,
        not once per cell), then each record's line items and repeats. A lookup cell naming
        a record found already for the same text takes its id at once; the others wait for
        _resolve (`self.waiting`: the rows with names to find, per column)."""
        self.waiting = {}
        for column in self.plan.parent_columns:
            index, name, options = column.index, column.name_of_field, column.options
            maps, clear, reference, read = column.maps_values, options.clear, column.reference, column.read
            ids = self.ids.setdefault(column.name, {}) if reference else {}
            waiting: list[Row] = []
            for row in rows:
                cell = row.cells[index]
                if cell.__class__ is str:
                    if maps or cell[:1] == "'":
                        cell = mapped(cell, options)
                    if cell is None or not cell.strip():
                        cell = None
                if cell is None:
                    if clear:
                        row.values[name] = None
                    continue
                if reference:
                    text = cell.strip() if cell.__class__ is str else as_text(cell).strip()
                    hit = ids.get(text)
                    if hit is None:
                        row.values[name] = _Name(text)
                        waiting.append(row)
                    else:
                        row.values[name] = hit
                    continue
                try:
                    row.values[name] = read(cell)  # type: ignore[misc]
                except Exception as error:  # what is wrong with the cell is sorted out by _refused
                    self._refused(row, column, row.cells, error)
            if reference:
                self.waiting[column.name] = waiting
        if self.plan.line_columns:
            for row in rows:
                self._read(row)
        if self.plan.unique_columns:
            self._unique([r for r in rows if r.outcome != REFUSE])

    def _refused(self, row: Row, column: Column, cells: list[Any], error: Exception, line: int | None = None) -> None:
        if isinstance(error, CellError | FieldValueError):
            where = f" (line {line})" if line is not None and line != row.line else ""
            row.refuse(column.name, column.field, cells[column.index], f"{error}{where}")
        elif isinstance(error, ValueError | TypeError | ArithmeticError):
            # A field type (a plugin's too) that trips over odd input refuses the cell, never the import.
            row.refuse(column.name, column.field, cells[column.index],
                       f"is not a valid {column.field.ftype.label.lower()} value")
        else:
            raise error

    def _read(self, row: Row) -> None:
        """A record's line items (its own cells are read by _read_all)."""
        plan = self.plan
        for line, cells in row.all_lines:
            items: dict[str, dict[str, Any]] = {}
            for column in plan.line_columns:
                assert column.lines is not None
                target = items.setdefault(column.lines.api_name, {})
                self._cell(row, column, cells, target, line=line)
            for name, item in items.items():
                if item:
                    row.lines.setdefault(name, []).append(item)

    def _unique(self, rows: list[Row]) -> None:
        """A unique field's value twice in the file: the second row is refused, naming the
        first (the key's repeats are the key's to tell). `rows`: those not refused before."""
        seen = self.unique_seen
        for column in self.plan.unique_columns:
            fdef = column.field
            name = fdef.api_name
            for row in rows:
                value = row.values.get(name)
                if value is None or value.__class__ is _Name:
                    continue
                folded = value.casefold() if isinstance(value, str) else value
                first = seen.setdefault((name, folded), row.line)
                if first != row.line:
                    row.refuse(column.name, fdef, row.cells[column.index], f"repeats the {fdef.label} of line {first}")

    def _cell(self, row: Row, column: Column, cells: list[Any], into: dict[str, Any], *,
              line: int | None = None) -> None:
        """One cell of a line item (a record's own cells are read by _read_all)."""
        cell = cells[column.index]
        if isinstance(cell, str):
            if column.maps_values or cell[:1] == "'":
                cell = mapped(cell, column.options)
            if cell is None or not cell.strip():
                cell = None
        if cell is None:
            return
        if column.reference:
            into[column.name_of_field] = _Name(as_text(cell).strip())
            return
        try:
            into[column.name_of_field] = column.reader(cell, column.field, column.options)  # type: ignore[misc]
        except Exception as error:  # what is wrong with the cell is sorted out by _refused
            self._refused(row, column, cells, error, line)

    def _key(self, row: Row) -> None:
        parts = []
        for fdef in self.plan.key:
            value = row.values.get(fdef.api_name)
            if value is None:
                if not any(p["field"] == fdef.api_name for p in row.problems):
                    row.refuse(self._column_of(fdef), fdef, None, f"{fdef.label} is the key and is blank")
                return
            if isinstance(value, _Name):  # a lookup that named no record: refused already
                return
            if fdef.type == "text" and value.__class__ is str:
                parts.append(value)  # read trimmed already: as a text field stores it
                continue
            try:
                # As the field stores it (trimmed; an e-mail in lower case): found through its index.
                value = fdef.ftype.coerce(fdef, value)
            except (FieldValueError, ValueError, TypeError) as error:
                row.refuse(self._column_of(fdef), fdef, value, str(error))
                return
            parts.append(value)
        row.key = tuple(parts)
        first = self.seen.setdefault(row.key, row.line)
        if first != row.line:
            row.refuse(self._column_of(self.plan.key[0]), self.plan.key[0], row.values.get(self.plan.key[0].api_name),
                       f"repeats the key of line {first}")

    def _column_of(self, fdef: FieldDef) -> str | None:
        return next((c.name for c in self.plan.parent_columns if c.field is fdef), None)

    # -- lookups -----------------------------------------------------------------------
    def _resolve(self, conn: Connection, rows: list[Row]) -> None:
        """Lookup and user cells name records; each name is looked for once per import
        (found or not), among the records the importer may read, by the target's match
        field (trimmed, any case)."""
        for column in self.plan.columns:
            if not column.reference:
                continue
            name = column.name_of_field
            found = self.found.setdefault(column.name, {})
            pending: list[tuple[Row, dict[str, Any], _Name]] = []
            unknown: dict[str, str] = {}
            # The record's own cells: only the rows _read_all left names in; line items: all.
            waiting = self.waiting.get(column.name) if column.lines is None else None
            holders = ((row, item) for row in rows for item in self._holders(row, column)) if waiting is None \
                else ((row, row.values) for row in waiting)
            for row, item in holders:
                value = item.get(name)
                if value.__class__ is not _Name:
                    continue
                hit = found.get(value.folded, _UNSEEN)
                if hit is not _UNSEEN and hit.__class__ is int:
                    self._settle(row, item, value, column, hit)
                    continue
                if hit is _UNSEEN:
                    unknown.setdefault(value.folded, value.text)
                pending.append((row, item, value))
            if unknown:
                hits = self._find(conn, column, list(unknown.values()))
                for folded in unknown:
                    found[folded] = hits.get(folded)  # None: no such record (asked once)
            for row, item, value in pending:
                self._settle(row, item, value, column, found.get(value.folded))

    def _settle(self, row: Row, item: dict[str, Any], value: _Name, column: Column, hit: Any) -> None:
        fdef = column.field
        if isinstance(hit, int):
            item[fdef.api_name] = hit
            if column.lines is None:
                self.ids.setdefault(column.name, {})[value.text] = hit
            return
        del item[fdef.api_name]
        what = self._target_label(fdef)
        if isinstance(hit, list):
            row.refuse(column.name, fdef, value.text, f"{len(hit)} {what} records are named {value.text!r} "
                       f"(ids {', '.join(map(str, hit[:5]))}); name one by a unique field")
        elif column.options.create_missing and fdef.type == "lookup":
            self.missing.setdefault(column.name, {}).setdefault(value.folded, value.text)
            item[fdef.api_name] = value  # the run creates it, then fills the id
        else:
            row.refuse(column.name, fdef, value.text, f"no {what} record is named {value.text!r}")

    @staticmethod
    def _holders(row: Row, column: Column) -> list[dict[str, Any]]:
        """Where a column's values of a record are: the record's values, or each of its lines'."""
        if column.lines is None:
            return [row.values]
        return row.lines.get(column.lines.api_name, [])

    def _target_label(self, fdef: FieldDef) -> str:
        if fdef.type == "user":
            return "user"
        target = self.snap.objects.get(str(fdef.props.get("target")))
        return target.label if target else str(fdef.props.get("target"))

    def _find(self, conn: Connection, column: Column, names: list[str]) -> dict[str, Any]:
        fdef = column.field
        out: dict[str, Any] = {}
        folded = sorted({n.casefold() for n in names})
        if fdef.type == "user":
            for part in _parts(folded):
                for uid, email, name in conn.execute(sa.select(users.c.id, users.c.email, users.c.name).where(
                        users.c.is_active.is_(True),
                        sa.or_(sa.func.lower(users.c.email).in_(part), sa.func.lower(users.c.name).in_(part)))):
                    for key in {str(email or "").casefold(), str(name or "").casefold()} & set(part):
                        _add(out, key, uid)
            return out
        target = self.snap.objects.get(str(fdef.props.get("target")))
        if target is None:
            return out
        match = target.field(column.options.match) if column.options.match else target.name_field
        if match is None:
            return out
        table = self.snap.table(target)
        matched = table.c[match.column]
        allowed = self.allowed(conn, target, "read")
        compare = sa.func.lower(sa.func.trim(matched)) if _texty(match) else matched
        written = {n.casefold(): n.strip() for n in names}
        for part in _parts(folded):
            values: list[Any] = part if _texty(match) else _typed(match, part)
            if not values:
                continue
            where = compare.in_(values)
            if _texty(match):
                # SQLite's lower() folds only ASCII: "ÉLAN" is also looked for as written.
                where = sa.or_(where, matched.in_([written[v] for v in part]))
            query = sa.select(table.c.id, matched).where(where, table.c.deleted_at.is_(None))
            if allowed is not None:
                query = query.where(allowed)
            for rid, value in conn.execute(query):
                _add(out, as_text(value).strip().casefold(), rid)
        return out

    # -- keys and what changes -----------------------------------------------------------
    def _match(self, conn: Connection, rows: list[Row]) -> None:
        """Find each row's record by its key, and what an update of it would change."""
        plan, obj = self.plan, self.plan.obj
        table = self.snap.table(obj)
        keyed = [r for r in rows if r.key is not None and r.outcome != REFUSE]
        compared = [c for c in plan.parent_columns if c.field not in plan.key]
        key_cols = [table.c[f.column] for f in plan.key]
        cols = [table.c.id, table.c.version, *key_cols, *(table.c[c.field.column] for c in compared)]
        # Each compared field with its place in the rows read (after id, version and the key).
        stored = _Compared([(c.name_of_field, c.field, 2 + len(key_cols) + n) for n, c in enumerate(compared)])
        width = len(key_cols)
        indexed = width == 1 and bool(field_indexes(obj, plan.key[0]))
        by_key: dict[tuple[Any, ...], list[Any]] = {}
        for part in _parts([r.key for r in keyed if r.key is not None], CHUNK):
            # Keys are matched exactly, as stored, so the field's unique index finds them (a
            # chunk's keys in one query, as the save pipeline checks a batch's unique values).
            for found in live_by_key(conn, table, key_cols, cols, part, indexed=indexed):
                by_key.setdefault((found[2],) if width == 1 else tuple(found[2:2 + width]), []).append(found)
        editable: set[int] | None = None
        allowed = self.allowed(conn, obj, "edit")
        ids = [m[0] for found in by_key.values() for m in found]
        if allowed is not None and ids:
            editable = set()
            for part in _parts(ids):
                editable.update(conn.execute(sa.select(table.c.id).where(table.c.id.in_(part), allowed)).scalars())
        for row in keyed:
            found = by_key.get(row.key or (), [])
            if len(found) > 1:
                row.refuse(self._column_of(plan.key[0]), plan.key[0], row.values.get(plan.key[0].api_name),
                           f"the key matches {len(found)} records (ids {', '.join(str(m[0]) for m in found[:5])})")
                continue
            if not found:
                if plan.mode == "update":
                    shown = " and ".join(f"{f.label} {_plain(row.values.get(f.api_name))!r}" for f in plan.key)
                    row.refuse(self._column_of(plan.key[0]), plan.key[0], row.values.get(plan.key[0].api_name),
                               f"no {obj.label} record has {shown}")
                else:
                    row.outcome = CREATE
                continue
            record = found[0]
            if editable is not None and record[0] not in editable:
                row.refuse(None, None, None, f"you may not change {obj.label} record {record[0]}")
                continue
            row.record_id, row.version = int(record[0]), int(record[1])
            row.changes = stored.changes(row.values, record)
            row.outcome = UPDATE if row.changes or row.lines else UNCHANGED
        for row in rows:
            if row.outcome != REFUSE and row.key is None and plan.mode == "upsert":
                row.outcome = CREATE


class _Name:
    """A lookup cell's text, until the record it names is found."""

    __slots__ = ("folded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()

    def __repr__(self) -> str:
        return f"_Name({self.text!r})"


def reason(fdef: FieldDef | None, message: str) -> str:
    """A pipeline's message about a field as a sentence of its own ("is required" → "Deal
    name is required"); messages that say what they mean already are kept."""
    if fdef is not None and message.startswith(("is ", "must ", "repeats ", "needs ", "has ")):
        return f"{fdef.label} {message}"
    return message


#: Not looked for yet (None in `Decider.found` means looked for and not found).
_UNSEEN: Any = object()


def is_name(value: Any) -> bool:
    return isinstance(value, _Name)


def name_of(value: Any) -> str:
    return value.text if isinstance(value, _Name) else str(value)


def _add(out: dict[str, Any], key: str, rid: int) -> None:
    had = out.get(key)
    if had is None:
        out[key] = rid
    elif isinstance(had, list):
        if rid not in had:
            had.append(rid)
    elif had != rid:
        out[key] = [had, rid]


def _plain(value: Any) -> Any:
    return value.text if isinstance(value, _Name) else value.strip() if isinstance(value, str) else value


def _texty(fdef: FieldDef) -> bool:
    return fdef.type in ("text", "long_text", "email", "phone", "url", "select")


def _typed(fdef: FieldDef, names: list[str]) -> list[Any]:
    out = []
    for name in names:
        try:
            out.append(fdef.ftype.coerce(fdef, name))
        except (FieldValueError, ValueError, TypeError):
            continue
    return out


def _parts(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class _Compared:
    """The fields an update compares with the stored record (not the key, which found it):
    each with its name in a row's values and its place in the stored row."""

    def __init__(self, fields: list[tuple[str, FieldDef, int]]) -> None:
        self.fields = fields
        self.names = [name for name, _, _ in fields]
        self.stored = itemgetter(*(place for _, _, place in fields)) if len(fields) > 1 else None

    def changes(self, values: dict[str, Any], stored: Sequence[Any]) -> dict[str, Any]:
        """The values that differ from the stored record. A value read as the stored type is
        compared as it is; one that differs is compared again as the field type stores it
        (an e-mail in lower case, an amount at its scale) before it counts as a change. A
        row equal in every value and type (an unchanged row, the common case) is told at
        once, a whole row at a time (a blank cell, absent from the values, reads None there:
        equal only to a stored None, and the field by field comparison skips it anyway)."""
        if self.stored is not None:
            now, before = tuple(map(values.get, self.names)), self.stored(stored)
            if now == before and tuple(map(type, now)) == tuple(map(type, before)):
                return {}
        out = {}
        for name, fdef, place in self.fields:
            value = values.get(name, _UNSEEN)
            if value is _UNSEEN:
                continue
            was = stored[place]
            if value == was and value.__class__ is was.__class__:
                continue
            if isinstance(value, _Name):
                out[name] = value  # a target the run will create: certainly a change
                continue
            try:
                coerced = fdef.ftype.coerce(fdef, value)
            except (FieldValueError, ValueError, TypeError):
                out[name] = value  # the pipeline says what is wrong with it
                continue
            if coerced != was:
                out[name] = value
        return out
