"""When an SLA metric counts as achieved, as a builder picks it rather than writes it.

A policy's `achieved_when` is a condition in the formula language. The SLA page offers the
conditions builders actually mean, by the labels of the object's fields:

- *a date is filled in* — `NOT ISBLANK(first_replied_at)`: the date or date-time the
  platform (or a rule, or the agent) fills when the reply is sent or the ticket resolved;
- *a choice is one of …* — `status = "solved"`, `OR(status = "solved", status = "closed")`;
- *a checkbox is ticked / not ticked* — `awaiting_agent = TRUE` / `awaiting_agent = FALSE`.

`formula_of` writes the formula of such a choice, `choice_of` reads one back (anything else
is kept as a formula), and `mistakes` explains a choice that cannot mean what the builder
wants: a clock met the moment it starts (the field is filled, or has the chosen value,
from the record's creation), a status that also pauses the clocks, a date that stays
filled for every next reply. The SLA policy check reports the same mistakes, so the API
refuses what the page explains. Pure: it reads metadata, never a database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tessera.formula import FormulaError, parse
from tessera.formula.ast import Binary, Call, Literal, Node, Path, Unary
from tessera.formula.checker import field_type
from tessera.meta.model import FieldDef, ObjectDef

#: The kinds of choice, in the order the page offers them (a formula is the way out).
FILLED, ONE_OF, TICKED, UNTICKED, FORMULA = "filled", "one_of", "ticked", "unticked", "formula"
GROUPS = {FILLED: "A date is filled in", ONE_OF: "A choice is reached", TICKED: "A checkbox",
          UNTICKED: "A checkbox"}
_DATES = ("date", "datetime")


def offered(obj: ObjectDef) -> list[dict[str, Any]]:
    """The choices an object's fields allow, each with the words the page shows:
    `{"value": "filled:first_replied_at", "kind", "field", "label", "group", "options"}`."""
    out: list[dict[str, Any]] = []
    for fdef in obj.fields:
        kind = field_type(fdef)
        if kind in _DATES:
            out.append(_entry(FILLED, fdef, f"{fdef.label} is filled in"))
        elif fdef.type == "select" and _options(fdef):
            out.append(_entry(ONE_OF, fdef, f"{fdef.label} is one of …", _options(fdef)))
        elif kind == "boolean":
            out.append(_entry(TICKED, fdef, f"{fdef.label} is ticked"))
            out.append(_entry(UNTICKED, fdef, f"{fdef.label} is not ticked"))
    order = {FILLED: 0, ONE_OF: 1, TICKED: 2, UNTICKED: 2}
    return sorted(out, key=lambda c: order[c["kind"]])


def _entry(kind: str, fdef: FieldDef, label: str, options: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"value": f"{kind}:{fdef.api_name}", "kind": kind, "field": fdef.api_name, "label": label,
            "group": GROUPS[kind], "options": options or []}


def _options(fdef: FieldDef) -> list[dict[str, str]]:
    return [{"value": str(o.get("value")), "label": str(o.get("label") or o.get("value"))}
            for o in fdef.props.get("options", []) if isinstance(o, Mapping) and o.get("value") is not None]


def formula_of(obj: ObjectDef, choice: Mapping[str, Any]) -> str:
    """The achieved_when formula of a choice `{"kind", "field", "values"}` ("" for none).
    A choice that names no field of the right type, or no value, is a ValueError whose
    message is for the builder."""
    kind = str(choice.get("kind") or "")
    if not kind:
        return ""
    if kind == FORMULA:
        return str(choice.get("formula") or "").strip()
    fdef = obj.field(str(choice.get("field") or ""))
    entry = next((c for c in offered(obj) if fdef is not None and c["value"] == f"{kind}:{fdef.api_name}"), None)
    if fdef is None or entry is None:
        raise ValueError(f"Pick what counts as achieved among the fields of {obj.label}.")
    name = fdef.api_name
    if kind == FILLED:
        return f"NOT ISBLANK({name})"
    if kind in (TICKED, UNTICKED):
        return f"{name} = {'TRUE' if kind == TICKED else 'FALSE'}"
    known = [o["value"] for o in entry["options"]]
    values = [str(v) for v in choice.get("values") or [] if str(v) in known]
    if not values:
        raise ValueError(f"Tick the {fdef.label.lower()} options that count as achieved.")
    # In the field's own order, so the same ticks always write the same formula.
    parts = [f'{name} = "{_quoted(v)}"' for v in known if v in values]
    return parts[0] if len(parts) == 1 else f"OR({', '.join(parts)})"


def _quoted(text: str) -> str:
    return text.replace('"', '""')


def choice_of(obj: ObjectDef, source: str | None) -> dict[str, Any]:
    """The choice a stored achieved_when makes: `{"kind": ""}` for none, a picked kind with
    its field (and values), or `{"kind": "formula", "formula"}` for anything the picker
    cannot say (kept as it is)."""
    text = (source or "").strip()
    if not text:
        return {"kind": ""}
    kept = {"kind": FORMULA, "formula": text}
    try:
        node = parse(text)
    except FormulaError:
        return kept
    found = _read(obj, node)
    if found is None:
        return kept
    # Only what the picker can say is read as a pick: a value that is no option of the
    # field stays in the formula, where the check names it.
    fdef = obj.field(found["field"])
    known = {o["value"] for o in _options(fdef)} if fdef is not None else set()
    if found["kind"] == ONE_OF and not set(found["values"]) <= known:
        return kept
    return found


def _read(obj: ObjectDef, node: Node) -> dict[str, Any] | None:
    blank = _blank_test(node)
    if blank is not None:
        fdef = obj.field(blank)
        return {"kind": FILLED, "field": blank} if fdef is not None and field_type(fdef) in _DATES else None
    equal = _equality(node)
    if equal is not None:
        name, value = equal
        fdef = obj.field(name)
        if fdef is None:
            return None
        if isinstance(value, bool) and field_type(fdef) == "boolean":
            return {"kind": TICKED if value else UNTICKED, "field": name}
        if isinstance(value, str) and fdef.type == "select":
            return {"kind": ONE_OF, "field": name, "values": [value]}
        return None
    terms = _either(node)
    if terms is None:
        return None
    picked = [_equality(t) for t in terms]
    names = {p[0] for p in picked if p is not None}
    if None in picked or len(names) != 1 or not all(isinstance(p[1], str) for p in picked if p):
        return None
    name = names.pop()
    fdef = obj.field(name)
    if fdef is None or fdef.type != "select":
        return None
    return {"kind": ONE_OF, "field": name, "values": [str(p[1]) for p in picked if p]}


def _blank_test(node: Node) -> str | None:
    """`NOT ISBLANK(x)` or `NOT(ISBLANK(x))` → x."""
    inner = node.operand if isinstance(node, Unary) and node.op == "NOT" else (
        node.args[0] if isinstance(node, Call) and node.name == "NOT" and len(node.args) == 1 else None)
    if isinstance(inner, Call) and inner.name == "ISBLANK" and len(inner.args) == 1:
        return _name(inner.args[0])
    return None


def _equality(node: Node | None) -> tuple[str, Any] | None:
    """`x = "value"` or `x = TRUE` → (x, value)."""
    if isinstance(node, Binary) and node.op == "=":
        name = _name(node.left)
        if name is not None and isinstance(node.right, Literal) and node.right.kind in ("text", "boolean"):
            return name, node.right.value
    return None


def _either(node: Node) -> list[Node] | None:
    """The terms of `a OR b OR c` or `OR(a, b, c)`."""
    if isinstance(node, Call) and node.name == "OR" and node.args:
        return list(node.args)
    if isinstance(node, Binary) and node.op == "OR":
        left, right = _either(node.left) or [node.left], _either(node.right) or [node.right]
        return [*left, *right]
    return None


def _name(node: Node) -> str | None:
    if isinstance(node, Path) and not node.context and len(node.parts) == 1:
        return node.parts[0]
    return None


def mistakes(obj: ObjectDef, metric: str, choice: Mapping[str, Any], *, status_field: str = "status",
             paused: Collection[str] = ()) -> list[str]:
    """Why a picked choice cannot mean what the builder wants (none: it can). `paused`: the
    statuses that pause the clocks, of `status_field`."""
    kind = str(choice.get("kind") or "")
    fdef = obj.field(str(choice.get("field") or ""))
    if kind in ("", FORMULA) or fdef is None:
        return []
    label = fdef.label
    starts = "when a customer writes again" if metric == "next_reply" else "when the record is created"
    out: list[str] = []
    if kind == FILLED:
        if fdef.required or fdef.default not in (None, ""):
            why = "is required" if fdef.required else "has a default"
            out.append(f"{label} {why}: it is filled in {starts}, so the clock would be met at once. Pick a date "
                       "that is filled in later, when the reply is sent or the record resolved.")
        elif metric == "next_reply":
            out.append(f"{label} stays filled in after the first reply: every next reply would count as met at "
                       "once. Pick a checkbox that is ticked while the customer waits (such as 'Awaiting agent "
                       "is not ticked') or a status.")
    elif kind in (TICKED, UNTICKED):
        ticked = kind == TICKED
        starts_ticked = fdef.default is True or str(fdef.default).upper() == "TRUE"
        if metric != "next_reply" and ticked == starts_ticked:
            state = "ticked" if ticked else "not ticked"
            out.append(f"A new record starts with {label} {state}, so the clock would be met at once. Pick the "
                       "other state, or a field that changes when the work is done.")
    elif kind == ONE_OF:
        options = {o["value"]: o["label"] for o in _options(fdef)}
        values = [str(v) for v in choice.get("values") or []]
        default = fdef.default
        if metric != "next_reply" and default not in (None, "") and str(default) in values:
            out.append(f"{options.get(str(default), default)} is the {label.lower()} a new record starts with, so "
                       "the clock would be met at once. Untick it.")
        if fdef.api_name == status_field:
            both = [options.get(v, v) for v in values if v in set(paused)]
            if both:
                names = ", ".join(both)
                out.append(f"{names} also {'pauses' if len(both) == 1 else 'pause'} the clocks (Pause while): a "
                           f"record waiting there would count as achieved. Untick {names} here or under Pause "
                           "while.")
    return out


__all__ = ["FILLED", "FORMULA", "ONE_OF", "TICKED", "UNTICKED", "choice_of", "formula_of", "mistakes", "offered"]
