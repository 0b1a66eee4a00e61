"""Completions for formula editors: what may be typed at the cursor — fields (following
lookups), child lists, functions with their signatures, $user, and after a select field
and `=` (or `<>`, or in `INCLUDES(list, `) that field's options.

People find a field by any word of its label or by its name (`Sta`, `stage` and `date`
all find "Close date"'s neighbours by what they are called); a suggestion shows the label
and inserts the name the formula needs. An option is found by its label or its stored
value and inserts the stored value, quoted (`Closed won` → `"closed_won"`), which is what
the formula compares with. Fields the caller may not see are never offered: `visible`
says which (the platform passes the reader's field permissions).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tessera.formula.checker import field_type, record_target
from tessera.formula.functions import all_functions
from tessera.formula.schema import USER_OBJECT, Schema, child_lists, field_names, find_field
from tessera.formula.types import RECORD
from tessera.meta.model import FieldDef, ObjectDef

_TAIL = re.compile(r"(\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.?|\$)$")
#: A word of a label that is no name (other scripts: 阶段, Größe).
_LABEL_TAIL = re.compile(r"(?<![\w.$])([^\W\d_]\w*)$")
_PATH = r"\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
#: A select compared with what is being typed: `stage = "Clo`, `stage <> Clo`, `stage =`.
_COMPARED = re.compile(rf"(?P<path>{_PATH})\s*(=|<>|!=)(?P<space>\s*)(?P<typed>\"[^\"]*|\w*)$")
#: A multi-select asked whether it holds what is being typed: `INCLUDES(tags, "vi`.
_INCLUDES = re.compile(rf"\bINCLUDES\(\s*(?P<path>{_PATH})\s*,(?P<space>\s*)(?P<typed>\"[^\"]*|\w*)$",
                       re.IGNORECASE)
#: Whether the caller may see a field (hidden fields are never offered).
Visible = Callable[[ObjectDef, FieldDef], bool]
#: How a field's type is named beside it.
_TYPE_WORDS = {"lookup": "lookup", "user": "person", "select": "choice", "multi_select": "choices",
               "boolean": "yes/no", "datetime": "date and time"}


@dataclass(frozen=True)
class Completion:
    """One suggestion: `label` is what people read, `insert` replaces the `replace`
    characters before the cursor."""

    label: str
    kind: str  # "field" | "relation" | "function" | "context" | "option"
    detail: str
    insert: str
    replace: int


def complete(source: str, cursor: int, obj: ObjectDef, schema: Schema, limit: int = 50,
             visible: Visible | None = None) -> list[Completion]:
    """What may come at `cursor` (an offset into `source`), best first."""
    seen = visible or (lambda _o, _f: True)
    before = source[: max(0, min(cursor, len(source)))]
    options = _options(before, obj, schema, seen)
    if options is not None:
        found, typed = options
        if not typed or typed.startswith('"'):  # an option goes here (inside the text: only one)
            return found[:limit]
        return (found + _names(typed, obj, schema, seen))[:limit]
    if before.count('"') % 2:  # inside a text: nothing to suggest
        return []
    m = _TAIL.search(before)
    if m is None and (label := _LABEL_TAIL.search(before)) is not None:
        # A label typed in another script (阶段): the fields it finds, their names put in.
        return _fields(obj, label.group(1), seen, schema)[:limit]
    word = m.group(1) if m else ""
    parts = word.split(".")
    prefix = parts[-1].lstrip("$")
    if len(parts) == 1:
        if word.startswith("$"):
            return [Completion("$user", "context", "the signed-in user", "$user", len(word))]
        if not prefix:
            return []
        return _names(prefix, obj, schema, seen)[:limit]
    target = _resolve(parts[:-1], obj, schema, seen)
    return _fields(target, prefix, seen, schema)[:limit] if target is not None else []


def _names(prefix: str, obj: ObjectDef, schema: Schema, seen: Visible) -> list[Completion]:
    """Fields, child lists, functions and $user starting a formula word with `prefix`."""
    out = _fields(obj, prefix, seen, schema)
    relations = []
    for name, (child, lookup) in child_lists(schema, obj).items():
        if not seen(child, lookup):
            continue
        plural = str(child.doc.get("plural_label") or child.label)
        rank = _rank(prefix, name, plural)
        if rank is not None:
            relations.append((rank, Completion(plural, "relation", f"{name} · list of {child.label} records", name,
                                               len(prefix))))
    out += [c for _r, c in sorted(relations, key=lambda rc: rc[0])]
    functions = [spec for spec in all_functions().values() if spec.name.lower().startswith(prefix.lower())]
    out += [Completion(spec.name, "function", spec.signature, spec.name + "(", len(prefix))
            for spec in sorted(functions, key=lambda s: s.name)]
    if prefix and "user".startswith(prefix.lower()):
        out.append(Completion("$user", "context", "the signed-in user", "$user", len(prefix)))
    return out


def _rank(prefix: str, name: str, label: str) -> int | None:
    """How well `prefix` finds a thing called `label` and named `name`: 0 the start of
    either, 1 the start of a word of the label, 2 inside either (None: not at all)."""
    wanted = prefix.lower()
    if not wanted or name.lower().startswith(wanted) or label.lower().startswith(wanted):
        return 0
    if any(word.startswith(wanted) for word in re.split(r"[\W_]+", label.lower())):
        return 1
    if len(wanted) > 1 and (wanted in name.lower() or wanted in label.lower()):
        return 2
    return None


def _fields(obj: ObjectDef, prefix: str, seen: Visible, schema: Schema) -> list[Completion]:
    found = []
    for i, name in enumerate(field_names(obj)):
        f = find_field(obj, name)
        assert f is not None
        if not seen(obj, f):
            continue
        rank = _rank(prefix, name, f.label)
        if rank is None:
            continue
        kind = _TYPE_WORDS.get(f.type, f.type)
        target = schema.object(str(f.props.get("target"))) if f.type == "lookup" else None
        if target is not None:
            kind = f"lookup to {target.label}"
        found.append((rank, i, Completion(f.label, "field", f"{name} · {kind}", name, len(prefix))))
    return [c for _r, _i, c in sorted(found, key=lambda x: (x[0], x[1]))]


def _options(before: str, obj: ObjectDef, schema: Schema,
             seen: Visible) -> tuple[list[Completion], str] | None:
    """The options of a select being compared at the cursor, and what was typed of one
    (None: the cursor is not where an option goes)."""
    m = _INCLUDES.search(before) or _COMPARED.search(before)
    if m is None:
        return None
    path, space, typed = m.group("path"), m.group("space"), m.group("typed")
    parts = path.split(".")
    holder = _resolve(parts[:-1], obj, schema, seen) if len(parts) > 1 else obj
    if holder is None:
        return None
    field = find_field(holder, parts[-1])
    wanted = "multi_select" if m.re is _INCLUDES else "select"
    if field is None or field.type != wanted or not seen(holder, field):
        return None
    partial = typed.lstrip('"')
    lead = "" if space or typed else " "
    found = []
    for i, option in enumerate(field.props.get("options") or []):
        if not isinstance(option, dict):
            continue
        value = str(option.get("value"))
        label = str(option.get("label") or value)
        rank = _rank(partial, value, label)
        if rank is not None:
            found.append((rank, i, Completion(label, "option", f"{field.label} · {value}", lead + _quoted(value),
                                              len(typed))))
    return [c for _r, _i, c in sorted(found, key=lambda x: (x[0], x[1]))], typed


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resolve(parts: list[str], obj: ObjectDef, schema: Schema, seen: Visible) -> ObjectDef | None:
    first = parts[0]
    if first.startswith("$"):
        current: ObjectDef | None = USER_OBJECT if first == "$user" else None
    elif find_field(obj, first) is None and first in child_lists(schema, obj):
        child, lookup = child_lists(schema, obj)[first]
        if not seen(child, lookup):
            return None
        return _walk(child, parts[1:], schema, seen)
    else:
        return _walk(obj, parts, schema, seen)
    return _walk(current, parts[1:], schema, seen) if current is not None else None


def _walk(current: ObjectDef | None, parts: list[str], schema: Schema, seen: Visible) -> ObjectDef | None:
    for name in parts:
        if current is None:
            return None
        f = find_field(current, name)
        if f is None or field_type(f) != RECORD or not seen(current, f):
            return None
        current = record_target(f, schema)
    return current
