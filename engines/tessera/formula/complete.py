"""Completions for formula editors: what may be typed at the cursor — fields (following
lookups), child lists, functions with their signatures, and $user."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tessera.formula.checker import field_type, record_target
from tessera.formula.functions import all_functions
from tessera.formula.schema import USER_OBJECT, Schema, child_lists, field_names, find_field
from tessera.formula.types import RECORD
from tessera.meta.model import ObjectDef

_TAIL = re.compile(r"(\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.?|\$)$")


@dataclass(frozen=True)
class Completion:
    """One suggestion: `insert` replaces the `replace` characters before the cursor."""

    label: str
    kind: str  # "field" | "relation" | "function" | "context"
    detail: str
    insert: str
    replace: int


def complete(source: str, cursor: int, obj: ObjectDef, schema: Schema, limit: int = 50) -> list[Completion]:
    """What may come at `cursor` (an offset into `source`)."""
    before = source[: max(0, min(cursor, len(source)))]
    if before.count('"') % 2:  # inside a text: nothing to suggest
        return []
    m = _TAIL.search(before)
    word = m.group(1) if m else ""
    parts = word.split(".")
    prefix = parts[-1].lstrip("$")
    out: list[Completion] = []
    if len(parts) == 1:
        if word.startswith("$"):
            return [Completion("$user", "context", "the signed-in user", "$user", len(word))]
        children = child_lists(schema, obj)
        out += _fields(obj, prefix, len(prefix))
        out += [Completion(name, "relation", f"list of {child.label} records", name, len(prefix))
                for name, (child, _) in children.items() if name.lower().startswith(prefix.lower())]
        out += [Completion(spec.name, "function", spec.signature, spec.name + "(", len(prefix))
                for spec in all_functions().values() if spec.name.lower().startswith(prefix.lower())]
        if "user".startswith(prefix.lower()):
            out.append(Completion("$user", "context", "the signed-in user", "$user", len(prefix)))
        return out[:limit]
    target = _resolve(parts[:-1], obj, schema)
    return _fields(target, prefix, len(prefix))[:limit] if target is not None else []


def _resolve(parts: list[str], obj: ObjectDef, schema: Schema) -> ObjectDef | None:
    first = parts[0]
    if first.startswith("$"):
        current: ObjectDef | None = USER_OBJECT if first == "$user" else None
    elif find_field(obj, first) is None and first in child_lists(schema, obj):
        current = child_lists(schema, obj)[first][0]
        parts = parts[1:] if len(parts) > 1 else []
        return _walk(current, parts, schema)
    else:
        return _walk(obj, parts, schema)
    return _walk(current, parts[1:], schema) if current is not None else None


def _walk(current: ObjectDef | None, parts: list[str], schema: Schema) -> ObjectDef | None:
    for name in parts:
        if current is None:
            return None
        f = find_field(current, name)
        if f is None or field_type(f) != RECORD:
            return None
        current = record_target(f, schema)
    return current


def _fields(obj: ObjectDef, prefix: str, replace: int) -> list[Completion]:
    out = []
    for name in field_names(obj):
        if not name.lower().startswith(prefix.lower()):
            continue
        f = find_field(obj, name)
        assert f is not None
        out.append(Completion(name, "field", f"{f.label} ({field_type(f)})", name, replace))
    return out
