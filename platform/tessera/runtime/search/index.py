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
    words = _words(dialect)
    return {key: words(fdef, values.get(name)) for key, name, fdef in _indexed(obj, layout)}


def _words(dialect: str) -> Callable[[FieldDef | None, Any], str | None]:
    """What `dialect`'s index keeps of a field's value (None: nothing)."""
    def text(fdef: FieldDef | None, value: Any) -> str | None:
        return fdef.ftype.search_text(fdef, value) or None if fdef is not None and value is not None else None

    def words(fdef: FieldDef | None, value: Any) -> str | None:
        return index_words(fdef.ftype.search_text(fdef, value)) or None \
            if fdef is not None and value is not None else None

    return words if dialect == "postgresql" else text


_INDEXED: weakref.WeakKeyDictionary[ObjectDef, tuple[fulltext.Layout, tuple[tuple[str, str, FieldDef | None], ...]]] \
    = weakref.WeakKeyDictionary()


def _indexed(obj: ObjectDef, layout: fulltext.Layout) -> tuple[tuple[str, str, FieldDef | None], ...]:
    """(index column, field name, field) of each field of `layout`, looked up once per object
    (a save asks for every record it indexes)."""
    found = _INDEXED.get(obj)
    if found is None or found[0] is not layout:
        found = _INDEXED[obj] = (layout, tuple((f.key, f.name, obj.field(f.name)) for f in layout.fields))
    return found[1]


def substring_ids(rows: Iterable[tuple[Any, ...]]) -> set[int]:
    """The records among index rows (record id, then each field's words) whose text is also
    searched by substring."""
    return {row[0] for row in rows if has_substrings(" ".join(t for t in row[1:] if t))}


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
        indexed = _indexed(batch.obj, layout)
        names = {name for _, name, _ in indexed}
        words = _words(batch.conn.dialect.name)
        # One tuple a record (id, words of each field): a batch of thousands makes nothing
        # more that lives until the write, which would only give the garbage collector work.
        rows = [(change.record_id, *[words(fdef, change.value(name)) for _, name, fdef in indexed])
                for change in batch.changes
                if change.record_id is not None and (change.is_new or not names.isdisjoint(change.values))]
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
                words, indexed = _words(conn.dialect.name), _indexed(obj, layout)
                made = [(r["id"], *[words(fdef, r[name]) for _, name, fdef in indexed]) for r in rows]
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
