"""The `forms` kind of metadata document: its schema, its checks against the metadata, and
the names and formulas a form holds, for the dependency graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.forms import NameRef, form_problems, formula_expectations, parse
from tessera.forms.checks import relation_path
from tessera.formula import Schema
from tessera.meta.dependencies import Reference
from tessera.meta.documents import base_schema
from tessera.runtime.metadata.documents import FIELD_VIA, LINK_VIA, OBJECT_VIA, DocumentFormula, DocumentKind


def _names(doc: Mapping[str, Any], schema: Schema) -> list[Reference]:
    form = parse(doc)
    obj = schema.object(form.object)
    children: dict[str, list[tuple[str, str]]] = {}
    for relation, *_rest in form.relations_used if obj is not None else ():
        hops = relation_path(obj, schema, relation)
        if not isinstance(hops, str):
            children[relation] = [(child.api_name, lookup.api_name) for child, lookup in hops]
    lines = {} if obj is None else {f.api_name: str(f.props.get("target")) for f in obj.line_fields}
    return [_reference(name) for name in form.names(children, lines)]


def _reference(name: NameRef) -> Reference:
    via = OBJECT_VIA if name.field is None else FIELD_VIA if name.follows_renames else LINK_VIA
    return Reference(via, name.path.lstrip("/"), name.object, name.field)


def _formulas(doc: Mapping[str, Any], schema: Schema) -> list[DocumentFormula]:
    form = parse(doc)
    obj = schema.object(form.object)
    if obj is None:
        return []
    return [DocumentFormula(path, form.object, source, expect)
            for path, source, expect in formula_expectations(form, obj)]


FORMS = DocumentKind("forms", "Form", "frm", lambda: base_schema("forms"), check=form_problems,
                     names=_names, formulas=_formulas)

KINDS = (FORMS,)
