"""A change of a record's lines, in its history, as a person reads it.

The record service keeps a change of lines in the parent's history under its line field
(records/lines.py): a changed value `{"line": 3, "field": "quantity", "value": "2.00"}` →
`{… "value": "4.00"}`, an added line `new={"line": 4, "values": {…}}`, a removed one
`old={"line": 2, "values": {…}}`, a moved one `{"line": 2}` → `{"line": 3}`. Here each
becomes one sentence — "line 3: Quantity 2.00 → 4.00", "line 4 added: Product Bolt,
Quantity 2", "line 2 removed: …", "line 2 moved to 3" — with the child's field labels and
values as list cells show them (the caller's `shown`: option labels, record names). A
field the reader may not see is left out; an entry about nothing else is not told at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tessera.meta.model import FieldDef, ObjectDef

#: A value of a field of the lines (as the API gives it) as a list cell shows it.
Shown = Callable[[FieldDef, Any], str]
BLANK = "—"


def named_values(old: Any, new: Any) -> Iterator[tuple[str, Any]]:
    """(field of the lines, value) of every value an entry names, to look names up for."""
    for side in (old, new):
        if not isinstance(side, Mapping):
            continue
        if isinstance(side.get("field"), str):
            yield side["field"], side.get("value")
        values = side.get("values")
        if isinstance(values, Mapping):
            yield from ((str(name), value) for name, value in values.items())


def line_sentence(child: ObjectDef, old: Any, new: Any, shown: Shown, hidden: frozenset[str]) -> str | None:
    """The entry in words, or None when it tells only of a field the reader may not see."""
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    if "field" in after or "field" in before:
        name = str(after.get("field") or before.get("field"))
        if name in hidden:
            return None
        fdef = child.field(name)
        label = fdef.label if fdef is not None else name
        was, now = (_text(child, name, side.get("value"), shown) for side in (before, after))
        return f"line {after.get('line') or before.get('line')}: {label} {was} → {now}"
    if "values" in after and not before:
        return _with_values(f"line {after.get('line')} added", child, after["values"], shown, hidden)
    if "values" in before and not after:
        return _with_values(f"line {before.get('line')} removed", child, before["values"], shown, hidden)
    if "line" in before and "line" in after:
        return f"line {before['line']} moved to {after['line']}"
    return "lines changed"


def _with_values(head: str, child: ObjectDef, values: Any, shown: Shown, hidden: frozenset[str]) -> str:
    """"line 4 added: Product Bolt, Quantity 2" — the line's values in the order of the
    child's fields."""
    if not isinstance(values, Mapping):
        return head
    order = {f.api_name: i for i, f in enumerate(child.fields)}
    told = [(child.field(str(name)), str(name), value) for name, value in values.items()
            if name not in hidden and value is not None]
    told.sort(key=lambda item: order.get(item[1], len(order)))
    parts = [f"{fdef.label if fdef is not None else name} {_text(child, name, value, shown)}"
             for fdef, name, value in told]
    return f"{head}: {', '.join(parts)}" if parts else head


def _text(child: ObjectDef, name: str, value: Any, shown: Shown) -> str:
    if value is None or value == "":
        return BLANK
    fdef = child.field(name)
    return (shown(fdef, value) if fdef is not None else str(value)) or BLANK
