"""Keeping each object's full-text index current.

A save writes the entries of the records it created or changed in its own transaction
(the `after_write` hook), so a search made after a save returns sees it. A change of which
fields are searchable (a field added, removed, retyped or weighted otherwise) replaces the
object's index tables in the metadata change's transaction and fills them again as a job
with progress (`search.index`); saves made meanwhile write into the new tables, and the job
never overwrites what they wrote. Renaming an object or a field touches nothing: the index
is named by uids. Trashing and restoring records touches nothing either (searches keep live
records only); purging an object drops its index.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.data import search as fulltext
from tessera.data.metastore import now
from tessera.data.tables import search_indexes
from tessera.meta.fieldtypes.base import FieldType
from tessera.meta.model import FieldDef, ObjectDef
from tessera.search.query import has_substrings, index_words

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobContext, JobService
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.save import SaveBatch

log = logging.getLogger("tessera.search")
JOB_KIND = "search.index"
#: Records read and indexed per transaction of a rebuild.
CHUNK = 2000

_LAYOUTS: weakref.WeakKeyDictionary[ObjectDef, fulltext.Layout | None] = weakref.WeakKeyDictionary()


def searchable_fields(obj: ObjectDef) -> list[FieldDef]:
    """The fields of `obj` in its index, in the document's order."""
    return [f for f in obj.fields
            if f.props.get("searchable") and f.stored and not f.computed and f.ftype.searchable]


def layout_of(obj: ObjectDef) -> fulltext.Layout | None:
    """The index of `obj` (None: nothing of it is searchable); the object's name field
    weighs high unless the builder says otherwise."""
    if obj in _LAYOUTS:
        return _LAYOUTS[obj]
    named = obj.name_field
    name_field = named.api_name if named is not None else None
    fields = tuple(
        fulltext.IndexField(f.uid, f.api_name,
                            f.props.get("search_weight") or ("high" if f.api_name == name_field else "normal"))
        for f in searchable_fields(obj))
    layout = fulltext.Layout(obj.uid, fields) if fields else None
    _LAYOUTS[obj] = layout
    return layout


def entry(obj: ObjectDef, layout: fulltext.Layout, values: Mapping[str, Any], dialect: str) -> dict[str, str | None]:
    """A record's words per index column, as `dialect`'s index keeps them."""
    return {f.key: words(value) if (value := values.get(name)) is not None else None
            for f, (name, words) in zip(layout.fields, _fields(obj, layout, dialect), strict=True)}


#: A field of an index as a save reads it: its name, and what the index keeps of a value of
#: it other than None (None: nothing).
Indexed = tuple[str, Callable[[Any], str | None]]
_FIELDS: weakref.WeakKeyDictionary[ObjectDef, tuple[fulltext.Layout, str, tuple[Indexed, ...]]] = \
    weakref.WeakKeyDictionary()


def _fields(obj: ObjectDef, layout: fulltext.Layout, dialect: str) -> tuple[Indexed, ...]:
    """Each field of `layout`, in its order, with `dialect`'s words of its values: made once
    per object (a save asks for every field of every record it indexes)."""
    found = _FIELDS.get(obj)
    if found is None or found[0] is not layout or found[1] != dialect:
        made = tuple((f.name, _words(obj.field(f.name), dialect)) for f in layout.fields)
        found = _FIELDS[obj] = (layout, dialect, made)
    return found[2]


def _words(fdef: FieldDef | None, dialect: str) -> Callable[[Any], str | None]:
    """What `dialect`'s index keeps of a value of `fdef` other than None (None: nothing)."""
    if fdef is None:
        return lambda value: None
    ftype = fdef.ftype
    # The search text of such a type is the value as a string: no call through the type.
    plain = type(ftype).search_text is FieldType.search_text and type(ftype).display is FieldType.display
    if dialect == "postgresql":
        if plain:
            return lambda value: index_words(value if value.__class__ is str else str(value)) or None
        return lambda value: index_words(ftype.search_text(fdef, value)) or None
    if plain:
        return lambda value: (value if value.__class__ is str else str(value)) or None
    return lambda value: ftype.search_text(fdef, value) or None


def substring_ids(rows: Iterable[tuple[Any, ...]]) -> set[int]:
    """The records among index rows (record id, then each field's words) whose text is also
    searched by substring."""
    return {row[0] for row in rows if has_substrings(" ".join(filter(None, row[1:])))}


class SearchIndex:
    def __init__(self, kernel: Kernel, jobs: JobService) -> None:
        self.kernel = kernel
        self.jobs = jobs
        #: The latest metadata revision at which no index was being filled (see `building`).
        self._all_built: int | None = None

    # -- saves ----------------------------------------------------------------------------
    def after_write(self, batch: SaveBatch) -> None:
        """The save pipeline's hook: index what the batch created or changed."""
        layout = layout_of(batch.obj)
        if layout is None:
            return
        fields = _fields(batch.obj, layout, batch.conn.dialect.name)
        # One tuple a record (id, words of each field): a batch of thousands makes nothing
        # more that lives until the write, which would only give the garbage collector work.
        if batch.creating:  # (a new record's values are all in `values`)
            rows = [(rid, *[words(value) if (value := get(name)) is not None else None for name, words in fields])
                    for rid, get in ((change.record_id, change.values.get) for change in batch.changes)
                    if rid is not None]
        else:
            rows = [(change.record_id, *[words(value) if (value := change.value(name)) is not None else None
                                         for name, words in fields])
                    for change in batch.changes
                    if change.record_id is not None
                    and (change.is_new or any(name in change.values for name, _ in fields))]
        # (A change that touches no searchable field leaves the entry as it stands.)
        fulltext.write_rows(batch.conn, layout, rows, mode="new" if batch.creating else "replace",
                            substrings=substring_ids(rows))

    # -- metadata changes ---------------------------------------------------------------
    def object_changed(self, conn: Connection, actor: Actor, before: ObjectDef | None,
                       after: ObjectDef | None) -> tuple[int, str] | None:
        """The metadata service's observer: build, rebuild or drop the object's index when
        which fields it holds changes. Returns the rebuild job (id, kind), if one was queued."""
        old, new = (layout_of(before) if before else None), (layout_of(after) if after else None)
        if (old.signature if old else None) == (new.signature if new else None):
            return None
        uid = (after or before).uid  # type: ignore[union-attr]
        fulltext.drop(conn, fulltext.Layout(uid, ()).table)
        conn.execute(sa.delete(search_indexes).where(search_indexes.c.object_uid == uid))
        if new is None or after is None:
            return None
        fulltext.create(conn, new)
        job = None
        if before is not None:  # a new object has no records to read
            job = self.jobs.submit(conn, JOB_KIND, {"object_uid": uid},
                                   title=f"Build the search index of {after.plural_label}", actor=actor)
        conn.execute(sa.insert(search_indexes).values(object_uid=uid, signature=new.signature,
                                                      ready=job is None, job_id=job, updated_at=now()))
        return None if job is None else (job, JOB_KIND)

    # -- the rebuild job ------------------------------------------------------------------
    def work(self, ctx: JobContext) -> dict[str, Any]:
        uid = ctx.params["object_uid"]
        done = last = 0
        total: int | None = None
        while True:
            with self.kernel.write() as conn:
                snap = self.kernel.snapshot(conn)
                obj = snap.by_uid.get(uid)
                layout = layout_of(obj) if obj is not None else None
                row = conn.execute(sa.select(search_indexes).where(search_indexes.c.object_uid == uid)).first()
                if obj is None or layout is None or row is None or row.signature != layout.signature \
                        or row.job_id != ctx.id:
                    return {"indexed": done, "superseded": True}  # a later change has its own job
                table = snap.table(obj)
                if total is None:
                    total = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                columns = [table.c[f.name] for f in layout.fields]
                rows = conn.execute(sa.select(table.c.id, *columns).where(table.c.id > last)
                                    .order_by(table.c.id).limit(CHUNK)).mappings().all()
                if not rows:
                    conn.execute(sa.update(search_indexes).where(search_indexes.c.object_uid == uid)
                                 .values(ready=True, updated_at=now()))
                    return {"indexed": done}
                fields = _fields(obj, layout, conn.dialect.name)
                made = [(r["id"], *[words(value) if (value := r[name]) is not None else None
                                    for name, words in fields]) for r in rows]
                fulltext.write_rows(conn, layout, made, mode="keep", substrings=substring_ids(made))
                last = rows[-1]["id"]
                done += len(rows)
            ctx.progress(done, total, f"{done:,} of {total:,} records indexed")

    # -- reading ------------------------------------------------------------------------
    def building(self, conn: Connection, revision: int | None = None) -> set[str]:
        """The uids of objects whose index a job is still filling. `revision`: the metadata
        revision `conn` reads at. An index starts to be filled only by a metadata change
        (`object_changed`, in that change's transaction) and a job only ever finishes one,
        so once none is being filled at a committed revision, none is until the next one:
        that is remembered, and the read saved."""
        if revision is not None and revision == self._all_built:
            return set()
        uids = set(conn.execute(_BUILDING).scalars())
        if not uids and revision is not None and revision > 0:  # not a draft's or an uncommitted revision
            self._all_built = max(self._all_built or 0, revision)
        return uids


#: Made once: every search asks it (and a statement made once keeps its cache key).
_BUILDING = sa.select(search_indexes.c.object_uid).where(search_indexes.c.ready.is_(False))
