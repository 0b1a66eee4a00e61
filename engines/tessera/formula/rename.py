"""Rewriting formulas when a field they name is renamed (the dependency graph's rewriter)."""

from __future__ import annotations

from tessera.formula.checker import check
from tessera.formula.errors import FormulaError
from tessera.formula.schema import Schema
from tessera.meta.model import ObjectDef


def rename_field(source: str, obj: ObjectDef, schema: Schema, object_name: str, old: str, new: str) -> str:
    """`source` with every reference to field `old` of object `object_name` renamed to `new`.

    Check against the metadata as it is before the rename. Only real references change
    (through lookups too), never texts or other fields of the same name. A formula that
    does not check is returned unchanged.
    """
    try:
        checked = check(source, obj, schema)
    except FormulaError:
        return source
    spans = sorted({(ref.start, ref.end) for ref in checked.references
                    if ref.object.api_name == object_name and ref.field.api_name == old}, reverse=True)
    out = source
    for start, end in spans:
        out = out[:start] + new + out[end:]
    return out
