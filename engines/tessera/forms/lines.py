"""Line items on a form: which of a child object's fields a placed `child_table` field shows
as its columns, and in what order.

The builder chooses them on the placement (`{"field": "lines", "columns": ["product",
"quantity", "net"]}`); a placement without its own falls back to the field's `columns`, then
to every field of the child the builder made, in the child's order. The fields the platform
adds to a child (its link to the parent, the line number) are never columns to choose: the
link is always the record on the form, and the grid numbers its rows itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tessera.forms.layout import Placement
from tessera.meta.model import FieldDef, ObjectDef

#: The most columns a grid shows (the field type allows as many in its own `columns`).
MOST_COLUMNS = 50


def placeable(obj: ObjectDef, name: str) -> FieldDef | None:
    """The field of `obj` a placement names: one holding a value, or line items."""
    return obj.field(name) or obj.line_field(name)


def choosable(child: ObjectDef) -> tuple[FieldDef, ...]:
    """The child's fields a builder may show as columns: all but the ones the platform adds."""
    return tuple(f for f in child.fields if not f.system)


def columns(placement: Placement | None, fdef: FieldDef, child: ObjectDef | None) -> tuple[FieldDef, ...]:
    """The child's fields the placed line field shows, in order. Names that are no (longer
    a) choosable field of the child are left out, so a grid never breaks on a renamed field."""
    if child is None:
        return ()
    by_name = {f.api_name: f for f in choosable(child)}
    chosen: Sequence[Any] = (placement.columns if placement is not None and placement.columns
                             else fdef.props.get("columns") or ())
    picked = tuple(by_name[str(name)] for name in chosen if str(name) in by_name)
    return picked or tuple(by_name.values())[:MOST_COLUMNS]


def column_props(fields: Sequence[FieldDef]) -> list[dict[str, Any]]:
    """The columns as the widget reads them: each field's own document (name, label, type,
    required, read-only, options…)."""
    return [dict(f.props) for f in fields]
