"""Line items in the metadata: a parent's `child_table` field attaches its child object.

When a builder gives an object a `child_table` field, the child object (`"child": true`)
gets the two fields that make its records lines: a required lookup to the parent
(`"system": "parent"`, deleted with it, named after the parent object, its `related_name`
the line field's name so a parent formula can say `SUM(lines.net)`) and a read-only
`line_number`. They are ordinary fields in the child's document, so reports, formulas,
imports and the API see lines as they see any record.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data import metastore
from tessera.errors import FieldProblem, InvalidInput
from tessera.meta.documents import normalize_field
from tessera.meta.fieldtypes.lines import line_number_doc, max_lines, parent_link_doc
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.kernel.catalog import Snapshot

#: Applies a changed object document (the object service's one path for every change).
Apply = Callable[[metastore.StoredDocument, dict[str, Any]], Any]
LINE_NUMBER = "line_number"


def line_problems(snap: Snapshot, obj: ObjectDef) -> list[FieldProblem]:
    """Why the line-item fields of `obj` cannot be attached as they are."""
    problems: list[FieldProblem] = []
    if obj.line_fields and obj.is_child:
        problems.append(FieldProblem(f"/fields/{obj.line_fields[0].api_name}/type",
                                     "a child object's lines cannot have lines of their own", "nested_lines"))
    claimed: dict[str, str] = {}
    for fdef in obj.line_fields:
        path = f"/fields/{fdef.api_name}/target"
        target = fdef.props.get("target")
        child = snap.objects.get(str(target))
        if target in claimed:
            problems.append(FieldProblem(path, f"{claimed[target]} holds these lines already", "taken"))
            continue
        claimed[str(target)] = fdef.api_name
        if child is None or child.uid == obj.uid:
            problems.append(FieldProblem(path, f"there is no object named {target!r} to hold the lines",
                                         "unknown_object"))
        elif not child.is_child:
            problems.append(FieldProblem(path, f"{child.label} is not a child object: "
                                         'set "child": true on it first', "not_a_child"))
        elif (link := child.parent_link) is not None and link.props.get("target") != obj.api_name:
            holder = snap.objects.get(str(link.props.get("target")))
            owner = holder.label if holder is not None else link.props.get("target")
            problems.append(FieldProblem(
                path, f"{child.label} lines belong to {owner} already (through {child.label}'s field "
                f"{link.label!r}): add them back to {owner}, or delete that field on {child.label} to free them",
                "taken"))
        elif (taken := child.field(obj.api_name)) is not None and taken.system != "parent":
            problems.append(FieldProblem(path, f"{child.label} has a field named {obj.api_name!r} that is not "
                                         "its link to the parent; rename it first", "taken"))
        elif (number := child.field(LINE_NUMBER)) is not None and number.system != "line_number":
            problems.append(FieldProblem(path, f"{child.label} has a field named {LINE_NUMBER!r} of its own; "
                                         "rename it first", "taken"))
        else:
            for index, name in enumerate(fdef.props.get("totals") or []):
                summed = child.field(str(name))
                if summed is None or not (summed.ftype.formula_type == "number"
                                          or summed.props.get("formula_type") == "number"):
                    problems.append(FieldProblem(f"/fields/{fdef.api_name}/totals/{index}",
                                                 f"{name!r} is not a number field of {child.label}", "not_a_number"))
    return problems


#: What a builder may change on a field the platform added to a child object.
_OWN_WORDS = frozenset({"label", "help_text"})
#: What the platform itself changes on the link when the line field or the parent is renamed.
_MIRRORED = frozenset({"target", "related_name", "related_label"})


def cap_problems(conn: Connection, snap: Snapshot, before: ObjectDef, after: ObjectDef) -> list[FieldProblem]:
    """A lower cap of lines (`max_lines`) than a stored record already holds is refused:
    its lines past the cap could no longer be read, and writing the record back would
    remove them."""
    problems = []
    for fdef in after.line_fields:
        old = before.line_field(fdef.api_name) or next((f for f in before.line_fields if f.uid == fdef.uid), None)
        child = snap.objects.get(str(fdef.props.get("target")))
        if old is None or max_lines(fdef) >= max_lines(old) or child is None or child.parent_link is None:
            continue
        table = snap.table(child)
        link = table.c[child.parent_link.column]
        counted = sa.select(link, sa.func.count().label("n")).where(table.c.deleted_at.is_(None)).group_by(link)
        most = conn.execute(sa.select(sa.func.max(counted.subquery().c.n))).scalar()
        if most is not None and most > max_lines(fdef):
            problems.append(FieldProblem(f"/fields/{fdef.api_name}/max_lines",
                                         f"a {before.label} record holds {most} lines already; "
                                         f"the cap cannot be lower", "too_many_lines"))
    return problems


def holder(snap: Snapshot, child_name: str) -> tuple[ObjectDef, FieldDef] | None:
    """The object and line-items field holding `child_name`'s records as lines, if any."""
    for obj in snap.objects.values():
        for fdef in obj.line_fields:
            if fdef.props.get("target") == child_name and obj.api_name != child_name:
                return obj, fdef
    return None


def system_field_problems(snap: Snapshot, before: ObjectDef, after: ObjectDef, *,
                          attaching: bool = False) -> list[FieldProblem]:
    """Why a change to a child object would break what makes its records lines. While a
    parent's line-items field holds them, the object stays a child and the fields the
    platform added (the link to the parent, the line number) stay as it made them: a builder
    may only relabel them or change their help text. `attaching`: the platform itself is
    bringing the link up to date."""
    held = holder(snap, before.api_name) if before.is_child else None  # only a child's lines are held
    if held is None:
        return []
    parent, lines = held
    where = f"{parent.label}'s field {lines.label}"
    problems: list[FieldProblem] = []
    if not after.is_child:
        problems.append(FieldProblem("/child", f"{where} holds these records as its lines: remove that field "
                                     "first", "held_by_parent"))
    kept = {f.uid: f for f in after.fields}
    free = _OWN_WORDS | (_MIRRORED if attaching else frozenset())
    for fdef in before.fields:
        if not fdef.system:
            continue
        now = kept.get(fdef.uid)
        if now is None:
            problems.append(FieldProblem(f"/fields/{fdef.api_name}", f"{fdef.label} is kept by the platform while "
                                         f"{where} holds these lines: remove that field first", "system_field"))
            continue
        changed = sorted(k for k in set(fdef.props) | set(now.props)
                         if k not in free and fdef.props.get(k) != now.props.get(k))
        if changed:
            problems.append(FieldProblem(f"/fields/{fdef.api_name}/{changed[0]}", f"{fdef.label} is kept by the "
                                         "platform: only its label and help text can change", "system_field"))
    return problems


def attach_children(snap: Snapshot, find: Callable[[str], metastore.StoredDocument | None],
                    apply: Apply, obj: ObjectDef) -> None:
    """Give each child object of `obj`'s line fields its link and line number (or bring the
    link's related name up to date after the line field was renamed)."""
    problems = line_problems(snap, obj)
    if problems:
        raise InvalidInput("The line items cannot be set up.", problems)
    for fdef in obj.line_fields:
        child = snap.objects[str(fdef.props["target"])]
        stored = find(child.api_name)
        if stored is None:
            continue
        after = copy.deepcopy(stored.body)
        fields = after.setdefault("fields", [])
        link = next((f for f in fields if f.get("system") == "parent"), None)
        if link is None:
            fields.append(normalize_field(parent_link_doc(obj.api_name, obj.label, fdef)))
        else:
            link.update({"target": obj.api_name, "related_name": fdef.api_name, "related_label": fdef.label})
        if not any(f.get("system") == "line_number" for f in fields):
            fields.append(normalize_field(line_number_doc(fdef)))
        if after != stored.body:
            apply(stored, after)

