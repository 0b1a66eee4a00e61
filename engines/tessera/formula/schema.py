"""What a formula may refer to: an object's fields, system columns, lookups to other
objects, users, and child lists (a lookup's `related_name`).

The formula engine is pure, so it learns about other objects through the small `Schema`
protocol the caller implements over its metadata; `SimpleSchema` implements it over a list
of ObjectDefs for tests and one-off checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol, runtime_checkable

from tessera.meta.model import FieldDef, ObjectDef


@runtime_checkable
class Schema(Protocol):
    """The objects a formula's paths and aggregates may reach."""

    def object(self, api_name: str) -> ObjectDef | None:
        """The object named `api_name` (a lookup's target), or None."""

    def children(self, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        """(child object, its lookup field) for every lookup that targets `obj`."""


#: The users of the platform as formulas see them (`owner.email`, `$user.name`). Its
#: table is `tessera_users`; a field's physical column is `props["column"]` when given.
USER_OBJECT = ObjectDef({
    "uid": "tessera-users", "api_name": "user", "label": "User", "system": "users",
    "fields": [
        {"uid": "tessera-users-email", "api_name": "email", "label": "E-mail", "type": "email"},
        {"uid": "tessera-users-name", "api_name": "name", "label": "Name", "type": "text"},
        {"uid": "tessera-users-is-active", "api_name": "is_active", "label": "Active", "type": "boolean"},
        {"uid": "tessera-users-is-admin", "api_name": "is_admin", "label": "Admin", "type": "boolean"},
        {"uid": "tessera-users-manager", "api_name": "manager", "label": "Manager", "type": "user",
         "column": "manager_id"},
    ],
})

#: System columns every object table has, as fields formulas may read.
_SYSTEM_FIELDS = (
    ("id", "ID", "integer"),
    ("created_at", "Created at", "datetime"),
    ("updated_at", "Updated at", "datetime"),
    ("created_by", "Created by", "user"),
    ("updated_by", "Updated by", "user"),
    ("owner", "Owner", "user"),
)


@lru_cache(maxsize=1)
def _system_fields() -> dict[str, FieldDef]:
    return {
        name: FieldDef({"uid": f"system-{name}", "api_name": name, "label": label, "type": ftype,
                        "system": True})
        for name, label, ftype in _SYSTEM_FIELDS
    }


def is_user_object(obj: ObjectDef) -> bool:
    return obj.doc.get("system") == "users"


def find_field(obj: ObjectDef, name: str) -> FieldDef | None:
    """A field of `obj` by api_name, including the system columns (`id`, `owner`…)."""
    found = obj.field(name)
    if found is not None:
        return found
    if is_user_object(obj):
        return _system_fields()["id"] if name == "id" else None
    return _system_fields().get(name)


def field_names(obj: ObjectDef) -> list[str]:
    names = [f.api_name for f in obj.fields]
    if is_user_object(obj):
        return [*names, "id"]
    return names + [n for n in _system_fields() if n not in names]


def column_name(field: FieldDef) -> str:
    """The physical column of a field (users' columns may differ from their names)."""
    return str(field.props.get("column") or field.column)


def child_lists(schema: Schema, obj: ObjectDef) -> dict[str, tuple[ObjectDef, FieldDef]]:
    """Child lists of `obj` by name: each lookup's `related_name` (or `<child>_set`)."""
    out: dict[str, tuple[ObjectDef, FieldDef]] = {}
    for child, lookup in schema.children(obj):
        name = lookup.props.get("related_name")
        if name:
            out[str(name)] = (child, lookup)
    return out


class SimpleSchema:
    """A Schema over a fixed set of objects."""

    def __init__(self, objects: Iterable[ObjectDef]) -> None:
        self._objects = {o.api_name: o for o in objects}

    def object(self, api_name: str) -> ObjectDef | None:
        return self._objects.get(api_name)

    def children(self, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        out = []
        for child in self._objects.values():
            for f in child.fields:
                if f.type == "lookup" and f.props.get("target") == obj.api_name:
                    out.append((child, f))
        return out
