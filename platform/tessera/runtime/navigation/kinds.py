"""The `apps` kind of metadata document: a named group of objects and dashboards that the
navigation shows together. An app is plain metadata — a package can carry it like a form or
a report — and names its objects in the dependency graph, so renaming an object renames it
in every app and "where is this used?" lists the apps it is in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta import dependencies as deps
from tessera.meta.documents import base_schema
from tessera.runtime.metadata.documents import OBJECT_VIA, DocumentKind

#: The group of the objects in no app; no app may take its name.
OTHER = "other"


def app_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """What the JSON Schema cannot say: the objects and dashboards must exist, each once."""
    problems: list[FieldProblem] = []
    if doc["api_name"] == OTHER:
        problems.append(FieldProblem("/api_name", f"{OTHER!r} is kept for the objects in no app", "reserved"))
    seen: set[str] = set()
    for index, name in enumerate(doc.get("objects", [])):
        obj = schema.object(name)
        if obj is None:
            problems.append(FieldProblem(f"/objects/{index}", f"there is no object named {name!r}", "unknown_object"))
        elif name in seen:
            problems.append(FieldProblem(f"/objects/{index}", f"{obj.label} is in the app already", "duplicate"))
        seen.add(name)
    known = schema.documents("dashboards") if hasattr(schema, "documents") else None
    seen = set()
    for index, name in enumerate(doc.get("dashboards", [])):
        if known is not None and name not in known:
            problems.append(FieldProblem(f"/dashboards/{index}", f"there is no dashboard named {name!r}",
                                         "unknown_dashboard"))
        elif name in seen:
            problems.append(FieldProblem(f"/dashboards/{index}", "the dashboard is in the app already", "duplicate"))
        seen.add(name)
    return problems


def app_names(doc: Mapping[str, Any], schema: Schema) -> Iterable[deps.Reference]:
    """Each object of the app, at its place in the list."""
    return [deps.Reference(OBJECT_VIA, f"objects/{index}", name) for index, name in enumerate(doc.get("objects", []))]


APPS = DocumentKind("apps", "App", "app", lambda: base_schema("apps"), check=app_problems, names=app_names)

KINDS = (APPS,)
