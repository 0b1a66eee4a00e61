"""Per-object save plans: what the save pipeline needs to know of each field, worked out
once per metadata snapshot instead of once per record.

A bulk create of 50,000 records asks "which fields are writable, required, constrained,
referencing, unique?" half a million times; the answers only change with metadata.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tessera.meta.fieldtypes import FieldType, FieldValueError
from tessera.meta.fieldtypes.base import no_problem
from tessera.meta.model import FieldDef, ObjectDef

#: The record owner behaves like a user field in checks, history and output.
OWNER = FieldDef({"uid": "sys_owner", "api_name": "owner", "label": "Owner", "type": "user"})


@dataclass(frozen=True, eq=False)
class FieldPlan:
    fdef: FieldDef
    name: str
    column: str
    ftype: FieldType
    #: The type's coerce and check, bound to this field (`FieldType.coercer`, `checker`).
    coerce: Callable[[FieldDef, Any], Any]
    check: Callable[[FieldDef, Any], str | None]
    is_blank: Callable[[Any], bool]
    required: bool
    generated: bool
    #: Whether `ftype.check` can say anything (a constraint is set or the type checks itself).
    constrained: bool
    reference: str | None
    unique: bool


@dataclass(frozen=True, eq=False)
class ObjectPlan:
    obj: ObjectDef
    #: Input keys a client may write, owner included.
    writable: dict[str, FieldPlan]
    #: Fields a client may not write (computed, read-only, generated).
    read_only: frozenset[str]
    stored: tuple[FieldPlan, ...]
    by_name: dict[str, FieldPlan]
    #: (name, coerced default or None, message when the default itself is invalid)
    defaults: tuple[tuple[str, Any, str | None], ...]
    references: tuple[FieldPlan, ...]
    unique: tuple[FieldPlan, ...]
    generated: tuple[FieldPlan, ...]
    insert_columns: tuple[tuple[str, str], ...]
    #: `insert_columns` apart: the field names, and their columns.
    insert_names: tuple[str, ...] = ()
    insert_only: tuple[str, ...] = ()
    #: Per input shape checker (None: none), what the save pipeline reads each writable
    #: key with: (coerce, fdef, the types taken whole or None); filled on first use.
    readers: dict[Any, dict[str, tuple[Callable[[FieldDef, Any], Any], FieldDef, frozenset[type] | None]]] = \
        field(default_factory=dict)
    #: What `_check` asks of each stored field the platform does not generate and that is
    #: required or constrained, unpacked once: (name, is_blank, required, constrained,
    #: check, fdef).
    checks: tuple[tuple[str, Callable[[Any], bool], bool, bool, Callable[[FieldDef, Any], str | None], FieldDef],
                  ...] = ()


def _field_plan(fdef: FieldDef) -> FieldPlan:
    ftype = fdef.ftype
    check = ftype.checker(fdef)
    constrained = check is not no_problem and (type(ftype).check is not FieldType.check or any(
        fdef.props.get(key) not in (None, "") for key in ftype.constraints))
    return FieldPlan(
        fdef=fdef, name=fdef.api_name, column=fdef.column, ftype=ftype, coerce=ftype.coercer(fdef),
        check=check, is_blank=ftype.is_blank,
        required=fdef.required and ftype.available, generated=ftype.system_generated, constrained=constrained,
        reference=getattr(ftype, "reference", None), unique=fdef.unique,
    )


def _default(plan: FieldPlan) -> tuple[str, Any, str | None]:
    try:
        return plan.name, plan.coerce(plan.fdef, plan.fdef.default), None
    except FieldValueError as error:
        return plan.name, None, f"its default is not valid: {error}"


def _build(obj: ObjectDef) -> ObjectPlan:
    # Stored formulas have columns but are the platform's to fill (records/stored.py).
    stored = tuple(_field_plan(f) for f in obj.stored_fields if not f.computed)
    owner = _field_plan(OWNER)
    writable = {p.name: p for p in stored if not p.generated and not p.fdef.read_only}
    writable["owner"] = owner
    return ObjectPlan(
        obj=obj,
        writable=writable,
        read_only=frozenset(f.api_name for f in obj.fields if f.api_name not in writable),
        stored=stored,
        by_name={**{p.name: p for p in stored}, "owner": owner},
        defaults=tuple(_default(p) for p in stored if p.fdef.default is not None and not p.generated),
        references=tuple(p for p in (*stored, owner) if p.reference),
        unique=tuple(p for p in stored if p.unique),
        generated=tuple(p for p in stored if p.generated),
        insert_columns=tuple((p.name, p.column) for p in stored if not p.generated),
        insert_names=tuple(p.name for p in stored if not p.generated),
        insert_only=tuple(p.column for p in stored if not p.generated),
        # A field neither required nor constrained has nothing to check.
        checks=tuple((p.name, p.is_blank, p.required, p.constrained, p.check, p.fdef)
                     for p in stored if not p.generated and (p.required or p.constrained)),
    )


_PLANS: weakref.WeakKeyDictionary[ObjectDef, ObjectPlan] = weakref.WeakKeyDictionary()


def plan_for(obj: ObjectDef) -> ObjectPlan:
    """The plan of an object definition; definitions are immutable, so it is kept with it."""
    plan = _PLANS.get(obj)
    if plan is None:
        plan = _PLANS[obj] = _build(obj)
    return plan
