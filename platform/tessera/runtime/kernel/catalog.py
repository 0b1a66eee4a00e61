"""The metadata each process works from, cached and reloaded the moment it changes.

A snapshot holds every object definition and its SQLAlchemy table. Before using it, a
request reads the global metadata revision in its own transaction (one indexed row); when
another process has changed metadata the revision differs and the snapshot is rebuilt, so
every API and worker process sees a change at once without a message bus.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data import metastore
from tessera.data.schema import build_table
from tessera.errors import NotFound
from tessera.meta.model import FieldDef, ObjectDef

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, eq=False)
class Snapshot:
    revision: int
    objects: dict[str, ObjectDef]
    trashed: dict[str, ObjectDef]
    tables: dict[str, sa.Table]
    by_uid: dict[str, ObjectDef] = field(default_factory=dict)

    def object(self, api_name: str) -> ObjectDef:
        try:
            return self.objects[api_name]
        except KeyError:
            raise NotFound(f"There is no object named {api_name!r}.") from None

    def table(self, obj: ObjectDef) -> sa.Table:
        return self.tables[obj.api_name]

    @cached_property
    def has_stored_formulas(self) -> bool:
        """Whether any formula or rollup field keeps its value in a column."""
        return any(f.computed and f.stored for o in self.objects.values() for f in o.fields)

    @cached_property
    def lookups_to(self) -> dict[str, list[tuple[ObjectDef, FieldDef]]]:
        """Lookup fields of the active objects by the object they point at (worked out once
        per snapshot: record pages and formulas ask for an object's related lists often)."""
        out: dict[str, list[tuple[ObjectDef, FieldDef]]] = {}
        for other in self.objects.values():
            for f in other.stored_fields:
                if f.type == "lookup":
                    out.setdefault(str(f.props.get("target")), []).append((other, f))
        return out

    def children(self, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        """Lookup fields, on any active object, that point at `obj`."""
        return list(self.lookups_to.get(obj.api_name, ()))


class PerSnapshot(Generic[K, V]):
    """Values kept for one metadata snapshot, by key: emptied when another snapshot is
    asked about (what was worked out from the old one no longer holds)."""

    def __init__(self) -> None:
        self._snap: Snapshot | None = None
        self._values: dict[K, V] = {}

    def of(self, snap: Snapshot) -> dict[K, V]:
        if self._snap is not snap:
            self._snap, self._values = snap, {}
        return self._values


def load_snapshot(conn: Connection, revision: int, *, tables_on_demand: bool = False) -> Snapshot:
    """The metadata at `revision`. `tables_on_demand`: each table is built when first asked
    for (a transaction that changes metadata many times reads it again after each change,
    and each change touches few tables)."""
    objects: dict[str, ObjectDef] = {}
    trashed: dict[str, ObjectDef] = {}
    for doc in metastore.all_documents(conn, "objects", states=("active", "trash")):
        obj = ObjectDef(doc.body, version=doc.version)
        (objects if doc.state == "active" else trashed)[obj.api_name] = obj
    tables = _TablesOnDemand(objects)
    if not tables_on_demand:
        tables = dict(tables.all())  # type: ignore[assignment]
    by_uid = {o.uid: o for o in (*objects.values(), *trashed.values())}
    return Snapshot(revision, objects, trashed, tables, by_uid)


def with_objects(snap: Snapshot, bodies: list[dict[str, Any]], revision: int) -> Snapshot:
    """The metadata as it would be with these object documents added or changed (matched by
    uid): what a plan checks a package against before writing anything. `revision` must be
    one no committed metadata has (see `Kernel.draft_revision`)."""
    by_uid = {o.uid: o for o in snap.objects.values()}
    for body in bodies:
        by_uid[str(body["uid"])] = ObjectDef(body)
    objects = {o.api_name: o for o in by_uid.values()}
    return Snapshot(revision, objects, dict(snap.trashed), _TablesOnDemand(objects),
                    {**snap.by_uid, **{o.uid: o for o in objects.values()}})


class _TablesOnDemand(dict[str, sa.Table]):
    """A draft's tables, each built when first asked for (checks rarely need one)."""

    def __init__(self, objects: dict[str, ObjectDef]) -> None:
        super().__init__()
        self._objects = objects
        self._metadata = sa.MetaData()

    def __missing__(self, name: str) -> sa.Table:
        table = self[name] = build_table(self._objects[name], self._metadata)
        return table

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self._objects else default

    def all(self) -> dict[str, sa.Table]:
        return {name: self[name] for name in self._objects}


class Catalog:
    """The per-process cache of metadata snapshots."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def latest(self) -> Snapshot | None:
        """The newest snapshot this process has built, if any (without asking the database
        whether it is still current)."""
        return self._snapshot

    def current(self, conn: Connection, revision: int | None = None) -> Snapshot:
        """The snapshot for `revision` (read from the database when not given)."""
        if revision is None:
            revision = metastore.revision(conn)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.revision == revision:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot.revision != revision:
                snapshot = load_snapshot(conn, revision)
                # Only move forward: a slow reader must not replace a newer snapshot.
                if self._snapshot is None or self._snapshot.revision <= revision:
                    self._snapshot = snapshot
            return snapshot
