"""What a user may do with each object's records, worked out from the roles they hold.

A role grants, per object, `create` (yes or no), a scope for `read`, `edit` and `delete`
(`none` < `own` < `team` < `all`) and a level per field (`hidden` < `read` < `edit`); a field
the role does not name is editable where the record is. Several roles combine by the widest
grant. Only roles that grant something on an object (create, or a scope other than none)
have a say about its fields, so a role about tickets does not reveal a deal's hidden margin.
Whoever may change or delete records may see them: `read` is at least `edit` and `delete`.
Admins may do everything with every object.

Pure: no database. Roles are stored by object and field uid (so renaming a field keeps its
permissions); the metadata snapshot turns those into the api_names of the moment. An actor's
role documents are loaded with the sign-in (`Actor.grants`) and re-read when the auth revision
moves, so answers are cached per sign-in and metadata revision.

    access = permissions_for(actor, snapshot).object("deal")
    access.read, access.edit, access.delete   # "none" | "own" | "team" | "all"
    access.create                             # bool
    access.field_level("margin")              # "hidden" | "read" | "edit"
    access.hidden_fields, access.read_only_fields
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tessera.auth.actor import Actor, Grants, acting
from tessera.meta.model import ObjectDef

SCOPES = ("none", "own", "team", "all")
FIELD_LEVELS = ("hidden", "read", "edit")
OPERATIONS = ("read", "edit", "delete")


class Metadata(Protocol):
    """What the resolver needs of a metadata snapshot (tessera.runtime.kernel.catalog.Snapshot)."""

    @property
    def revision(self) -> int: ...

    @property
    def objects(self) -> Mapping[str, ObjectDef]: ...


def widest_scope(scopes: Iterable[str]) -> str:
    return max(scopes, key=SCOPES.index, default="none")


def widest_level(levels: Iterable[str]) -> str:
    return max(levels, key=FIELD_LEVELS.index, default="hidden")


@dataclass(frozen=True)
class ObjectPermissions:
    """One user's permissions on one object."""

    object: str
    create: bool
    read: str
    edit: str
    delete: str
    #: The level of every field of the object, by api_name.
    fields: Mapping[str, str] = field(default_factory=dict)
    #: The level of a name not in `fields` (system columns such as `owner`).
    default_level: str = "edit"
    hidden_fields: frozenset[str] = field(init=False)
    read_only_fields: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_fields",
                           frozenset(n for n, level in self.fields.items() if level == "hidden"))
        object.__setattr__(self, "read_only_fields",
                           frozenset(n for n, level in self.fields.items() if level == "read"))

    def field_level(self, name: str) -> str:
        return self.fields.get(name, self.default_level)

    def scope(self, operation: str) -> str:
        """The scope of "read", "edit" or "delete"."""
        if operation not in OPERATIONS:
            raise ValueError(f"not an operation: {operation!r}")
        return str(getattr(self, operation))

    @property
    def any_access(self) -> bool:
        return self.create or self.read != "none"

    def as_json(self) -> dict[str, Any]:
        return {"create": self.create, "read": self.read, "edit": self.edit, "delete": self.delete,
                "fields": dict(self.fields)}


def everything(obj: ObjectDef) -> ObjectPermissions:
    """An admin's permissions on an object."""
    return ObjectPermissions(obj.api_name, True, "all", "all", "all", {f.api_name: "edit" for f in obj.fields})


def nothing(name: str, obj: ObjectDef | None = None) -> ObjectPermissions:
    fields = {f.api_name: "hidden" for f in obj.fields} if obj is not None else {}
    return ObjectPermissions(name, False, "none", "none", "none", fields, "hidden")


def combine(documents: Iterable[Mapping[str, Any]], obj: ObjectDef) -> ObjectPermissions:
    """The widest grant of several stored role documents on one object."""
    entries = [e for doc in documents if isinstance(e := doc.get(obj.uid), Mapping) and _grants_anything(e)]
    if not entries:
        return nothing(obj.api_name, obj)
    edit = widest_scope(str(e.get("edit", "none")) for e in entries)
    delete = widest_scope(str(e.get("delete", "none")) for e in entries)
    read = widest_scope([*(str(e.get("read", "none")) for e in entries), edit, delete])
    fields = {
        f.api_name: widest_level(str((e.get("fields") or {}).get(f.uid, "edit")) for e in entries)
        for f in obj.fields
    }
    return ObjectPermissions(obj.api_name, any(bool(e.get("create")) for e in entries), read, edit, delete, fields)


def line_field_levels(documents: Iterable[Mapping[str, Any]], obj: ObjectDef, parent: ObjectDef) -> dict[str, str]:
    """The level of each field of a child object (line items), whose records a role reaches
    through their parent. Each role that reaches the parent or names the lines counts: one
    that names nothing of the lines leaves every field editable (as far as the parent is),
    one that names a field hides or locks just that field; a role about other objects
    widens nothing."""
    entries = []
    for doc in documents:
        entry, of_parent = doc.get(obj.uid), doc.get(parent.uid)
        if isinstance(entry, Mapping):
            entries.append(entry)
        elif isinstance(of_parent, Mapping) and _grants_anything(of_parent):
            entries.append({})
    return {f.api_name: widest_level(str((e.get("fields") or {}).get(f.uid, "edit")) for e in entries)
            for f in obj.fields}


def _grants_anything(entry: Mapping[str, Any]) -> bool:
    return bool(entry.get("create")) or any(entry.get(op, "none") != "none" for op in OPERATIONS)


class _Resolved:
    """Answers for one set of grants at one metadata revision, worked out object by object."""

    def __init__(self, grants: Grants, metadata: Metadata, admin: bool) -> None:
        self.grants = grants
        self.metadata = metadata
        self.revision = metadata.revision
        self.admin = admin
        self.objects: dict[str, ObjectPermissions] = {}

    def object(self, name: str) -> ObjectPermissions:
        found = self.objects.get(name)
        if found is None:
            obj = self.metadata.objects.get(name)
            if obj is None:
                found = nothing(name)
            else:
                found = everything(obj) if self.admin else combine(self.grants.documents, obj)
            self.objects[name] = found
        return found


@dataclass(frozen=True)
class Permissions:
    """Everything one actor may do, per object; from permissions_for()."""

    #: The actor the answers are for (re-read if roles or teams changed since the request began).
    actor: Actor
    is_admin: bool
    is_builder: bool
    _resolved: _Resolved = field(repr=False)

    def object(self, name: str) -> ObjectPermissions:
        """The permissions on the object `name` (none at all for an unknown object)."""
        return self._resolved.object(name)

    def line_fields(self, obj: ObjectDef, parent: ObjectDef) -> dict[str, str]:
        """Field levels of a child object's lines (`line_field_levels`)."""
        if self.is_admin:
            return {f.api_name: "edit" for f in obj.fields}
        return line_field_levels(self._resolved.grants.documents, obj, parent)

    def as_json(self) -> dict[str, Any]:
        """For GET /api/v1/me/permissions: every object the user may create or read."""
        objects = {}
        for name in sorted(self._resolved.metadata.objects):
            access = self.object(name)
            if access.any_access:
                objects[name] = access.as_json()
        return {"is_admin": self.is_admin, "is_builder": self.is_builder, "objects": objects}


_cache: weakref.WeakKeyDictionary[Grants, _Resolved] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def permissions_for(actor: Actor, metadata: Metadata) -> Permissions:
    """What `actor` may do with the objects of `metadata` (a runtime snapshot).

    When the request's first transaction found the sign-in outdated (Platform.snapshot checks
    it again and puts the fresh one in `acting`), the fresh actor's roles are used.
    """
    actor = _current(actor)
    if actor.is_admin:
        resolved = _Resolved(actor.grants, metadata, admin=True)
    else:
        resolved = _cache.get(actor.grants)
        if resolved is None or resolved.revision != metadata.revision or resolved.metadata is not metadata:
            resolved = _Resolved(actor.grants, metadata, admin=False)
            with _lock:
                _cache[actor.grants] = resolved
    return Permissions(actor, actor.is_admin, actor.is_admin or actor.is_builder, resolved)


def _current(actor: Actor) -> Actor:
    now = acting.get()
    if (now is not None and now is not actor and actor.token_digest is not None
            and now.token_digest == actor.token_digest and now.user_id == actor.user_id
            and (now.verified_at or 0) > (actor.verified_at or 0)):
        return now
    return actor
