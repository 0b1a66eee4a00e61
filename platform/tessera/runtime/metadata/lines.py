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

from tessera.data import metastore
from tessera.errors import FieldProblem, InvalidInput
from tessera.meta.documents import normalize_field
from tessera.meta.fieldtypes.lines import line_number_doc, parent_link_doc
from tessera.meta.model import ObjectDef
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
            problems.append(FieldProblem(path, f"{child.label} lines belong to {link.props.get('target')} already",
                                         "taken"))
        elif (taken := child.field(obj.api_name)) is not None and taken.system != "parent":
            problems.append(FieldProblem(path, f"{child.label} has a field named {obj.api_name!r} that is not "
                                         "its link to the parent; rename it first", "taken"))
        elif (number := child.field(LINE_NUMBER)) is not None and number.system != "line_number":
            problems.append(FieldProblem(path, f"{child.label} has a field named {LINE_NUMBER!r} of its own; "
                                         "rename it first", "taken"))
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

