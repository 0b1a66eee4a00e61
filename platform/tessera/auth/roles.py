"""Roles: named sets of permissions on objects and fields, held by users.

A role document is what the API reads and writes:

    {"api_name": "sales", "label": "Sales", "permissions": {
       "deal": {"create": true, "read": "team", "edit": "own", "delete": "none",
                "fields": {"margin": "hidden", "amount": "read"}}}}

It is checked against roles.schema.json, then against the metadata: every object and field
it names must exist. It is stored by object and field uid, so renaming an object or a field
keeps what roles say about it, and a role's entries for objects in the trash come back with
them. The built-in roles `admin` (everything) and `builder` (may change metadata) come with
the database and cannot be deleted; admin's permissions are not set, it has all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import audit, schemas
from tessera.auth.actor import Actor, Grants
from tessera.auth.permissions import Metadata
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.tables import roles, user_roles, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound

if TYPE_CHECKING:
    from tessera.auth.users import UserService

#: Reads the metadata of the moment within a transaction (Platform.snapshot).
MetadataReader = Callable[[Connection], Metadata]
BUILT_IN = ("admin", "builder")
_ENTRY_DEFAULTS: dict[str, Any] = {"create": False, "read": "none", "edit": "none", "delete": "none"}


def stored_permissions(named: dict[str, Any], metadata: Metadata,
                       previous: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Permissions by object and field name → by uid, with a problem for every unknown name.
    Entries of `previous` for objects or fields not in the metadata now (in the trash) stay."""
    previous = previous or {}
    by_uid = {o.uid: o for o in metadata.objects.values()}
    stored: dict[str, Any] = {uid: entry for uid, entry in previous.items() if uid not in by_uid}
    problems: list[FieldProblem] = []
    for name, entry in named.items():
        obj = metadata.objects.get(name)
        if obj is None:
            problems.append(FieldProblem(f"/permissions/{name}", f"there is no object {name!r}", "unknown_object"))
            continue
        kept = (previous.get(obj.uid) or {}).get("fields") or {}
        fields = {uid: level for uid, level in kept.items() if obj.field_by_uid(uid) is None}
        for field_name, level in (entry.get("fields") or {}).items():
            fdef = obj.field(field_name)
            if fdef is None:
                problems.append(FieldProblem(f"/permissions/{name}/fields/{field_name}",
                                             f"{obj.label} has no field {field_name!r}", "unknown_field"))
            else:
                fields[fdef.uid] = level
        stored[obj.uid] = {**_ENTRY_DEFAULTS, **{k: v for k, v in entry.items() if k != "fields"}, "fields": fields}
    return stored, problems


def named_permissions(stored: dict[str, Any], metadata: Metadata) -> dict[str, Any]:
    """Stored permissions as the API shows them: by the names objects and fields have now."""
    by_uid = {o.uid: o for o in metadata.objects.values()}
    out: dict[str, Any] = {}
    for uid, entry in stored.items():
        obj = by_uid.get(uid)
        if obj is None:
            continue
        fields = {}
        for field_uid, level in (entry.get("fields") or {}).items():
            fdef = obj.field_by_uid(field_uid)
            if fdef is not None:
                fields[fdef.api_name] = level
        out[obj.api_name] = {**{k: entry.get(k, v) for k, v in _ENTRY_DEFAULTS.items()},
                             "fields": dict(sorted(fields.items()))}
    return dict(sorted(out.items()))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class RoleService:
    def __init__(self, users: UserService) -> None:
        self.users = users

    def list(self, metadata: MetadataReader) -> list[dict[str, Any]]:
        with read_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            rows = conn.execute(sa.select(roles).order_by(roles.c.api_name)).all()
            counts = dict(conn.execute(sa.select(user_roles.c.role_id, sa.func.count())
                                       .group_by(user_roles.c.role_id)).all())
            return [self._out(r, snap, counts.get(r.id, 0)) for r in rows]

    def get(self, api_name: str, metadata: MetadataReader) -> dict[str, Any]:
        with read_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            row = self._row(conn, api_name)
            return self._out(row, snap, self._holders(conn, row.id))

    def acting_as(self, actor: Actor, api_name: str) -> Actor:
        """`actor` as if they held only role `api_name` (for a builder previewing a form as
        that role sees it); never an admin."""
        with read_transaction(self.users.engine) as conn:
            row = self._row(conn, api_name)
        return replace(actor, is_admin=False, is_builder=False, roles=(row.api_name,),
                       grants=Grants((dict(row.permissions or {}),)))

    def create(self, actor: Actor, doc: Any, metadata: MetadataReader) -> dict[str, Any]:
        problems = schemas.problems("roles", doc)
        if problems:
            raise InvalidInput("The role is not valid; nothing was saved.", problems)
        at = datetime.now(UTC)
        with write_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            stored, problems = stored_permissions(doc.get("permissions") or {}, snap)
            if problems:
                raise InvalidInput("The role names objects or fields that do not exist; nothing was saved.", problems)
            if conn.execute(sa.select(roles.c.id).where(roles.c.api_name == doc["api_name"])).first():
                raise Conflict(f"There is a role named {doc['api_name']!r} already.",
                               [FieldProblem("/api_name", "is taken", "taken")])
            try:
                conn.execute(sa.insert(roles).values(
                    api_name=doc["api_name"], label=doc["label"], description=doc.get("description", ""),
                    permissions=stored, created_at=at, updated_at=at))
            except sa.exc.IntegrityError:  # made meanwhile by another request
                raise Conflict(f"There is a role named {doc['api_name']!r} already.",
                               [FieldProblem("/api_name", "is taken", "taken")]) from None
            row = self._row(conn, doc["api_name"])
            audit.record(conn, "role.created", actor_id=actor.user_id, target=f"role:{row.api_name}",
                         detail={"label": row.label, "after": named_permissions(stored, snap)})
            return self._out(row, snap, 0)

    def update(self, actor: Actor, api_name: str, changes: Any, metadata: MetadataReader) -> dict[str, Any]:
        """Change the label, description or permissions; `permissions`, when sent, replaces
        the role's permissions as a whole."""
        problems = schemas.problems("roles", changes, partial=True)
        if problems:
            raise InvalidInput("The change is not valid; nothing was saved.", problems)
        with write_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            row = self._row(conn, api_name)
            if changes.get("api_name", api_name) != api_name:
                problems.append(FieldProblem("/api_name", "a role keeps its api_name; create a new role instead",
                                             "immutable"))
            if api_name == "admin" and "permissions" in changes:
                problems.append(FieldProblem("/permissions", "the admin role may do everything; its permissions "
                                                             "cannot be set", "immutable"))
            values: dict[str, Any] = {k: changes[k] for k in ("label", "description") if k in changes}
            before = named_permissions(row.permissions or {}, snap)
            if "permissions" in changes:
                values["permissions"], found = stored_permissions(changes["permissions"], snap, row.permissions)
                problems += found
            if problems:
                raise InvalidInput("The change is not valid; nothing was saved.", problems)
            values = {k: v for k, v in values.items() if v != getattr(row, k)}
            if values:
                conn.execute(sa.update(roles).where(roles.c.id == row.id)
                             .values(**values, updated_at=datetime.now(UTC)))
                detail: dict[str, Any] = {"changed": sorted(values)}
                if "permissions" in values:
                    detail |= {"before": before, "after": named_permissions(values["permissions"], snap)}
                    self.users.access_changed(conn)
                audit.record(conn, "role.changed", actor_id=actor.user_id, target=f"role:{api_name}", detail=detail)
                row = self._row(conn, api_name)
            return self._out(row, snap, self._holders(conn, row.id))

    def delete(self, actor: Actor, api_name: str, metadata: MetadataReader, *, force: bool = False) -> None:
        """Delete a role; one that users hold or sharing rules name only with `force`."""
        with write_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            row = self._row(conn, api_name)
            if row.built_in:
                raise Conflict(f"The role {api_name!r} comes with Tessera and cannot be deleted.",
                               [FieldProblem("/api_name", "is a built-in role", "built_in")])
            holders = list(conn.execute(sa.select(users.c.email).select_from(user_roles.join(users))
                                        .where(user_roles.c.role_id == row.id).order_by(users.c.email)).scalars())
            rules = sharing_rules_naming(snap, "roles", api_name)
            if (holders or rules) and not force:
                uses = [f"held by {len(holders)} user{'s' if len(holders) != 1 else ''}"] if holders else []
                uses += [f"named by {len(rules)} sharing rule{'s' if len(rules) != 1 else ''}"] if rules else []
                raise Conflict(f"The role {api_name!r} is {' and '.join(uses)}; delete it with ?force=true to take "
                               "it away from them.",
                               [FieldProblem("/api_name", " and ".join(uses), "in_use",
                                             detail={"users": holders[:100], "sharing_rules": rules})])
            conn.execute(sa.delete(user_roles).where(user_roles.c.role_id == row.id))
            conn.execute(sa.delete(roles).where(roles.c.id == row.id))
            audit.record(conn, "role.deleted", actor_id=actor.user_id, target=f"role:{api_name}",
                         detail={"label": row.label, "before": named_permissions(row.permissions or {}, snap),
                                 "users": holders[:100], "forced": bool(holders or rules)})
            self.users.access_changed(conn)

    @staticmethod
    def _row(conn: Connection, api_name: str) -> Any:
        row = conn.execute(sa.select(roles).where(roles.c.api_name == api_name)).first()
        if row is None:
            raise NotFound(f"There is no role named {api_name!r}.")
        return row

    @staticmethod
    def _holders(conn: Connection, role_id: int) -> int:
        return int(conn.execute(sa.select(sa.func.count()).where(user_roles.c.role_id == role_id)).scalar_one())

    @staticmethod
    def _out(row: Any, metadata: Metadata, holders: int) -> dict[str, Any]:
        return {"api_name": row.api_name, "label": row.label, "description": row.description,
                "built_in": row.built_in, "permissions": named_permissions(row.permissions or {}, metadata),
                "users": holders, "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def sharing_rules_naming(metadata: Metadata, key: str, name: str) -> list[str]:
    """The sharing rules ("object.rule") whose `roles` or `teams` (`key`) name `name`."""
    return [f"{obj.api_name}.{rule.get('name', '')}"
            for obj in metadata.objects.values() for rule in obj.doc.get("sharing_rules") or []
            if isinstance(rule, dict) and name in (rule.get(key) or [])]
