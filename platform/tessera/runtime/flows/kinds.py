"""The `flows` kind of metadata document: drafts are checked for their shape and formulas as
they are saved; publishing (flows/service.py) checks the rest (people, action parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta.documents import base_schema
from tessera.runtime.metadata.documents import DocumentKind
from tessera.workflow import flow_problems, structure_problems


def _check(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    # A draft may be unfinished; what it names must exist, and its formulas type-check.
    return flow_problems(doc, schema) if not structure_problems(doc) else structure_problems(doc)


FLOWS = DocumentKind("flows", "Flow", "flw", lambda: base_schema("flows"), check=_check)

KINDS = (FLOWS,)
