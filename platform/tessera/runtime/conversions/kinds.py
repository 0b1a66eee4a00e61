"""The `conversions` kind of metadata document: its schema, its check against the metadata
(problems at their place, like `/targets/1/fields/name`), and what it names for the
dependency graph — so renaming a field renames it in the conversions that write or read
it, and deleting one is refused while a conversion uses it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta import dependencies as deps
from tessera.meta.documents import base_schema
from tessera.runtime.conversions.plan import line_source, plain_formulas, read
from tessera.runtime.metadata.documents import FIELD_VIA, OBJECT_VIA, DocumentFormula, DocumentKind

#: A field named by a key of the document (`"fields": {"name": …}`): a rename moves the key.
KEY_VIA = "document_key"


def _check(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    return read(doc, schema)[1]


def _names(doc: Mapping[str, Any], schema: Schema) -> list[deps.Reference]:
    source = str(doc["object"])
    found = [deps.Reference(OBJECT_VIA, "object", source)]
    found += [deps.Reference(KEY_VIA, f"after/{name}", source, name) for name in doc.get("after", {})]
    for index, tdoc in enumerate(doc["targets"]):
        here, target = f"targets/{index}", str(tdoc["object"])
        found.append(deps.Reference(OBJECT_VIA, f"{here}/object", target))
        for part in ("match", "fields"):
            found += [deps.Reference(KEY_VIA, f"{here}/{part}/{name}", target, name) for name in tdoc.get(part, {})]
        ldoc = tdoc.get("lines")
        if not ldoc:
            continue
        origin = str(ldoc["from"])
        if "." in origin:  # a lookup's record's lines: both fields are in use (a rename is not followed)
            source_obj = schema.object(source)
            via, parent, fdef, _why = line_source(source_obj, origin, schema) if source_obj else (None, None, None, "")
            found += [deps.Reference(KEY_VIA, f"{here}/lines/from", source, origin.partition(".")[0])]
            if via is not None and parent is not None and fdef is not None:
                found.append(deps.Reference(KEY_VIA, f"{here}/lines/from", parent.api_name, fdef.api_name))
        else:
            found.append(deps.Reference(FIELD_VIA, f"{here}/lines/from", source, origin))
        found.append(deps.Reference(FIELD_VIA, f"{here}/lines/to", target, str(ldoc["to"])))
        target_obj = schema.object(target)
        lines = target_obj.line_field(str(ldoc["to"])) if target_obj is not None else None
        if lines is not None and lines.props.get("target"):
            child = str(lines.props["target"])
            found += [deps.Reference(KEY_VIA, f"{here}/lines/fields/{name}", child, name)
                      for name in ldoc.get("fields", {})]
    return found


def _formulas(doc: Mapping[str, Any], schema: Schema) -> list[DocumentFormula]:
    # Formulas that read a target's key are checked by _check against the source with the
    # keys; those that read the source alone are also kept in the graph for renames.
    return [DocumentFormula(path, obj, source, expect) for path, obj, source, expect in plain_formulas(doc, schema)]


def _no_references(doc: Mapping[str, Any]) -> Iterable[deps.Reference]:
    return ()


def _rewrite_key(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
    """A renamed field named by a key: the key becomes the new name, keeping its place."""
    if not rename.field_renamed:
        return
    holder: Any = doc
    *parents, name = ref.path.split("/")
    try:
        for token in parents:
            holder = holder[int(token)] if isinstance(holder, list) else holder[token]
    except (KeyError, IndexError, ValueError, TypeError):
        return
    if not isinstance(holder, dict) or name != rename.old or rename.old not in holder or rename.new in holder:
        return
    items = [(rename.new if key == rename.old else key, value) for key, value in holder.items()]
    holder.clear()
    holder.update(items)


deps.register("documents", KEY_VIA, _no_references, _rewrite_key)

CONVERSIONS = DocumentKind("conversions", "Conversion", "cnv", lambda: base_schema("conversions"), check=_check,
                           names=_names, formulas=_formulas)

KINDS = (CONVERSIONS,)
