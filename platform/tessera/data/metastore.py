"""Metadata documents in the database: versions, history, trash and the dependency graph.

Every write bumps a global revision number in the same transaction; each process compares
it with the revision of its cached metadata to know, at once, that it must reload.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.prepared import Prepared
from tessera.data.tables import dependencies, document_history, documents, meta_state
from tessera.meta.dependencies import Reference


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class StoredDocument:
    uid: str
    kind: str
    api_name: str
    version: int
    state: str
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Dependent:
    """A document that refers to an object or field, and where."""

    source_uid: str
    source_kind: str
    source_name: str
    via: str
    path: str
    target_object_uid: str
    target_field_uid: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.source_kind, "api_name": self.source_name, "uid": self.source_uid,
            "via": self.via, "path": self.path,
        }


def _stored(row: sa.Row[Any]) -> StoredDocument:
    return StoredDocument(
        uid=row.uid, kind=row.kind, api_name=row.api_name, version=row.version,
        state=row.state, body=dict(row.body), created_at=row.created_at, updated_at=row.updated_at,
    )


_REVISIONS = sa.select(meta_state.c.revision, meta_state.c.auth_revision).where(meta_state.c.id == 1)
#: Compiled once: every transaction starts with it.
_READ_REVISIONS = Prepared(_REVISIONS)


#: The names of the columns of `revision_columns` in a row.
REVISION, AUTH_REVISION = "tessera_revision", "tessera_auth_revision"


def revision_columns() -> tuple[sa.Label[Any], sa.Label[Any]]:
    """The two revisions as columns a transaction's first statement can carry, to hand to
    `Platform.snapshot(conn, revisions=...)` instead of reading them on their own."""
    return (sa.select(meta_state.c.revision).where(meta_state.c.id == 1).scalar_subquery().label(REVISION),
            sa.select(meta_state.c.auth_revision).where(meta_state.c.id == 1).scalar_subquery()
            .label(AUTH_REVISION))


def revision(conn: Connection) -> int:
    return revisions(conn)[0]


def revisions(conn: Connection) -> tuple[int, int]:
    """The metadata revision and the auth revision, in one indexed read."""
    row = _READ_REVISIONS.read(conn).one()
    return int(row["revision"]), int(row["auth_revision"])


def bump_auth_revision(conn: Connection) -> None:
    conn.execute(sa.update(meta_state).where(meta_state.c.id == 1)
                 .values(auth_revision=meta_state.c.auth_revision + 1))


def lock_revision(conn: Connection) -> None:
    """Hold the metadata's revision row until the transaction ends, so no other metadata
    change interleaves with work that decides from what it reads first (a package's plan).
    SQLite's write transactions are serial already."""
    if conn.dialect.name != "sqlite":
        conn.execute(sa.select(meta_state.c.revision).where(meta_state.c.id == 1).with_for_update())


def bump_revision(conn: Connection) -> None:
    conn.execute(sa.update(meta_state).where(meta_state.c.id == 1)
                 .values(revision=meta_state.c.revision + 1))


def all_documents(conn: Connection, kind: str, states: tuple[str, ...] = ("active",)) -> list[StoredDocument]:
    rows = conn.execute(
        sa.select(documents).where(documents.c.kind == kind, documents.c.state.in_(states))
        .order_by(documents.c.id)
    )
    return [_stored(r) for r in rows]


def find_document(
    conn: Connection, kind: str, api_name: str, *, for_update: bool = False
) -> StoredDocument | None:
    query = sa.select(documents).where(documents.c.kind == kind, documents.c.api_name == api_name)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _stored(row) if row else None


def find_by_uid(conn: Connection, uid: str) -> StoredDocument | None:
    """A document of any kind and state by its uid."""
    row = conn.execute(sa.select(documents).where(documents.c.uid == uid)).first()
    return _stored(row) if row else None


def find_by_uids(conn: Connection, uids: list[str]) -> dict[str, StoredDocument]:
    found: dict[str, StoredDocument] = {}
    for offset in range(0, len(uids), 500):
        rows = conn.execute(sa.select(documents).where(documents.c.uid.in_(uids[offset:offset + 500])))
        found.update({r.uid: _stored(r) for r in rows})
    return found


def insert_document(conn: Connection, kind: str, body: dict[str, Any], actor_id: int | None,
                    summary: str = "created") -> StoredDocument:
    at = now()
    body = {**body, "version": 1}
    conn.execute(sa.insert(documents).values(
        uid=body["uid"], kind=kind, api_name=body["api_name"], version=1, state="active",
        body=body, created_at=at, created_by=actor_id, updated_at=at, updated_by=actor_id,
    ))
    _history(conn, body["uid"], kind, 1, "create", summary, actor_id, None, body)
    bump_revision(conn)
    found = find_document(conn, kind, body["api_name"])
    assert found is not None
    return found


def update_document(
    conn: Connection, before: StoredDocument, body: dict[str, Any], actor_id: int | None,
    *, action: str = "update", summary: str = "", state: str | None = None,
) -> StoredDocument:
    version = before.version + 1
    body = {**copy.deepcopy(body), "uid": before.uid, "version": version}
    conn.execute(sa.update(documents).where(documents.c.uid == before.uid).values(
        api_name=body["api_name"], version=version, body=body, updated_at=now(),
        updated_by=actor_id, state=state or before.state,
    ))
    _history(conn, before.uid, before.kind, version, action, summary, actor_id, before.body, body)
    bump_revision(conn)
    found = find_document(conn, before.kind, body["api_name"])
    assert found is not None
    return found


def delete_document(conn: Connection, doc: StoredDocument, actor_id: int | None) -> None:
    """Remove a document for good (purge); its history stays."""
    conn.execute(sa.delete(documents).where(documents.c.uid == doc.uid))
    conn.execute(sa.delete(dependencies).where(dependencies.c.source_uid == doc.uid))
    _history(conn, doc.uid, doc.kind, doc.version + 1, "purge", "purged", actor_id, doc.body, None)
    bump_revision(conn)


def _history(conn: Connection, uid: str, kind: str, version: int, action: str, summary: str,
             actor_id: int | None, before: Any, after: Any) -> None:
    conn.execute(sa.insert(document_history).values(
        doc_uid=uid, kind=kind, version=version, action=action, summary=summary[:500],
        actor_id=actor_id, at=now(), before=before, after=after,
    ))


def history(conn: Connection, uid: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(document_history).where(document_history.c.doc_uid == uid)
        .order_by(document_history.c.id.desc()).limit(limit)
    )
    return [
        {"version": r.version, "action": r.action, "summary": r.summary, "actor": r.actor_id,
         "at": r.at.isoformat().replace("+00:00", "Z"), "before": r.before, "after": r.after}
        for r in rows
    ]


def set_dependencies(
    conn: Connection, source: StoredDocument,
    resolved: list[tuple[Reference, str, str | None]],
) -> None:
    """Replace what `source` depends on: (reference, target object uid, target field uid)."""
    conn.execute(sa.delete(dependencies).where(dependencies.c.source_uid == source.uid))
    if resolved:
        conn.execute(sa.insert(dependencies), [
            {"source_uid": source.uid, "source_kind": source.kind, "via": ref.via,
             "path": ref.path, "target_object_uid": obj_uid, "target_field_uid": field_uid}
            for ref, obj_uid, field_uid in resolved
        ])


def dependents(conn: Connection, object_uid: str, field_uid: str | None = None,
               *, whole_object: bool = False) -> list[Dependent]:
    """Who refers to an object (`whole_object`: to it or any of its fields) or to one field."""
    where = [dependencies.c.target_object_uid == object_uid]
    if not whole_object:
        where.append(dependencies.c.target_field_uid.is_(None) if field_uid is None
                     else dependencies.c.target_field_uid == field_uid)
    query = (
        sa.select(dependencies, documents.c.api_name)
        .join(documents, documents.c.uid == dependencies.c.source_uid)
        .where(*where).order_by(dependencies.c.id)
    )
    return [
        Dependent(r.source_uid, r.source_kind, r.api_name, r.via, r.path,
                  r.target_object_uid, r.target_field_uid)
        for r in conn.execute(query)
    ]
