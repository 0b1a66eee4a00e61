"""The kernel every service stands on: settings, the database engine, transactions, the
metadata snapshot each transaction works from, and the save pipeline's hook points.

A `Kernel` builds no service. The assembly (`runtime/platform.py`) makes one per process and
hands it to each service that reads or writes; services never reach each other through it.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection, Engine

from tessera.auth.actor import Actor, acting
from tessera.data import metastore
from tessera.data.engine import read_transaction, schema_transaction, write_transaction
from tessera.runtime.kernel.catalog import Catalog, Snapshot, load_snapshot
from tessera.runtime.kernel.hooks import SaveHooks
from tessera.settings import Settings

#: Checks an acting user's sign-in again in `conn` at `auth_revision` (raises if it no longer holds).
Reverify = Callable[[Connection, Actor, int], object]

#: The transaction the current request or job is reading in, and each open transaction's
#: snapshot (metadata read once per transaction).
_open: ContextVar[Connection | None] = ContextVar("tessera_open_transaction", default=None)
#: The write transaction open in this context: writes made inside it join it.
_writing: ContextVar[Connection | None] = ContextVar("tessera_write_transaction", default=None)
_snapshots: weakref.WeakKeyDictionary[Connection, Snapshot] = weakref.WeakKeyDictionary()
_auth_revisions: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()
#: Transactions that change metadata more than once before they commit (a package install):
#: the database revision their snapshot was read at.
_assembling: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()
#: Revisions for snapshots of metadata nobody has committed: negative, never reused, so no
#: cache keyed by revision can serve them to another transaction or keep them after a rollback.
_uncommitted = itertools.count(-1, -1)


class Kernel:
    def __init__(self, settings: Settings, engine: Engine, reverify: Reverify) -> None:
        self.settings = settings
        self.engine = engine
        self.catalog = Catalog()
        self.hooks = SaveHooks()
        self._reverify = reverify

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction to read in. Inside another transaction of this request (a page
        that reads a record, its related lists and its lookups' names), that one is used:
        one snapshot, one round of BEGIN and revision checks."""
        outer = _open.get()
        if outer is not None:
            yield outer
            return
        with read_transaction(self.engine) as conn:
            token = _open.set(conn)
            try:
                yield conn
            finally:
                _open.reset(token)

    @contextmanager
    def write(self, *, pipelined: bool = False) -> Iterator[Connection]:
        """A write transaction. Writes made while one is open in this context (a record saved
        by an action of a flow step) join it: one unit that commits or rolls back whole.
        `pipelined` (PostgreSQL): the writes of `tessera.data.prepared` go out with the next
        statement that waits, or with the COMMIT (see `write_transaction`)."""
        outer = _writing.get()
        if outer is not None:
            yield outer
            return
        with write_transaction(self.engine, pipelined=pipelined) as conn:
            tokens = _open.set(conn), _writing.set(conn)
            try:
                yield conn
            finally:
                _writing.reset(tokens[1])
                _open.reset(tokens[0])

    #: Event handlers and timers name it so: what they write joins their transaction.
    joined = write

    @contextmanager
    def apart(self) -> Iterator[Connection | None]:
        """A write transaction of its own even inside another (a job's progress, seen while
        the work's own transaction is still open). None on SQLite inside a write: the open
        transaction holds the database's write lock, so such a write waits for its commit."""
        if _writing.get() is None:
            with self.write() as conn:
                yield conn
        elif self.engine.dialect.name == "sqlite":
            yield None
        else:
            with write_transaction(self.engine) as conn:
                yield conn

    @contextmanager
    def schema(self, *, assembling: bool = False) -> Iterator[Connection]:
        """A transaction that changes metadata and the tables under it together (see
        `schema_transaction`). Inside an open one it joins it. `assembling`: many metadata
        changes build on each other before the commit (a package install), so each change
        sees the ones before it: the snapshot is read again whenever the metadata moved.
        The metadata service's own changes open theirs through here, so they join."""
        outer = _writing.get()
        if outer is not None:
            yield outer
            return
        with schema_transaction(self.engine) as conn:
            tokens = _open.set(conn), _writing.set(conn)
            if assembling:
                _assembling[conn] = metastore.revision(conn)
            try:
                yield conn
            finally:
                _assembling.pop(conn, None)
                _writing.reset(tokens[1])
                _open.reset(tokens[0])

    def snapshot(self, conn: Connection, revisions: tuple[int, int] | None = None) -> Snapshot:
        """The metadata to work from in this transaction.

        The same one-row read also tells whether anything that can take access away has
        happened since the acting user's sign-in was last checked; if so, it is checked
        again here, in this transaction, before any work is done. `revisions`: the
        (revision, auth revision) the transaction's first statement carried
        (`metastore.revision_columns`), which saves that read.
        """
        known = _snapshots.get(conn)
        if conn in _assembling:
            return self._assembled(conn, known)
        if known is not None:
            return known
        revision, auth_revision = revisions if revisions is not None else metastore.revisions(conn)
        who = acting.get()
        if who is not None and who.token_digest is not None and who.verified_at != auth_revision:
            self._reverify(conn, who, auth_revision)
        snap = self.catalog.current(conn, int(revision))
        _snapshots[conn] = snap
        _auth_revisions[conn] = int(auth_revision)
        return snap

    def snapshot_carried(self, conn: Connection) -> tuple[Snapshot | None,
                                                          Callable[[tuple[int, int] | None], Snapshot]]:
        """For reads sent before the transaction's revision check is answered, by a statement
        that carries the revisions itself (`metastore.revision_columns`: a record page's
        read of its record): the snapshot they will most likely work from — the
        transaction's own once read, else the process's newest — and a function giving the
        one they do work from, as `snapshot` does (the acting user's sign-in checked again
        when needed), from the revisions the statement carried; it reads them on their own
        when it carried none (no row came back). Work done with the guess stands only if the
        function gives that very snapshot. No guess (None) before the process has one, or
        while metadata is being assembled."""
        known = _snapshots.get(conn)
        if conn in _assembling or (known is None and self.catalog.latest is None):
            return None, lambda _carried: self.snapshot(conn)
        if known is not None:
            return known, lambda _carried: known
        return self.catalog.latest, lambda carried: self.snapshot(conn, carried)

    def _assembled(self, conn: Connection, known: Snapshot | None) -> Snapshot:
        """The snapshot of a transaction that is changing metadata: read from the database
        again after each change, and never put in the process's catalog (the changes may yet
        roll back)."""
        revision = metastore.revision(conn)
        if known is not None and _assembling[conn] == revision:
            return known
        if known is None and _assembling[conn] == revision:
            snap = self.catalog.current(conn, revision)  # nothing changed yet: the committed one
        else:
            fresh = load_snapshot(conn, revision, tables_on_demand=True)
            snap = Snapshot(next(_uncommitted), fresh.objects, fresh.trashed, fresh.tables, fresh.by_uid)
        _assembling[conn] = revision
        _snapshots[conn] = snap
        _auth_revisions.setdefault(conn, metastore.revisions(conn)[1])
        return snap

    @staticmethod
    def draft_revision() -> int:
        """A revision for metadata nobody committed (a plan's draft of what will be)."""
        return next(_uncommitted)

    def auth_revision(self, conn: Connection) -> int:
        """The auth revision this transaction works at: every change to who is active, who
        holds a role or who is in a team bumps it, so it can key what those answer."""
        if conn not in _auth_revisions:
            self.snapshot(conn)
        return _auth_revisions[conn]

    def confirm_access(self) -> None:
        """Confirm the acting user's sign-in, for work that reads no metadata (files)."""
        with self.read() as conn:
            self.snapshot(conn)
