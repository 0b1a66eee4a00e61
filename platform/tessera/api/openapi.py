"""`/api/v1/openapi.json`: the static routes plus, for every object, its record paths and
schemas, rebuilt whenever metadata changes so generated clients know every field."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from tessera.api.problems import MEDIA_TYPE, PROBLEM_SCHEMA
from tessera.meta.model import ObjectDef
from tessera.requests import deps
from tessera.requests.deps import IF_MATCH_PATTERN
from tessera.runtime.platform import Platform
from tessera.runtime.records.schemas import SYSTEM, object_schemas, ref, schema_name
from tessera.runtime.records.service import MAX_BULK, MAX_LIMIT

_GENERIC = "/api/v1/records/{object}"
#: The generic record routes `object_paths` writes out for each object instead. Other
#: routes under a record (its SLA clocks, its conversions) stay documented as they are.
_PER_OBJECT = frozenset(_GENERIC + suffix for suffix in (
    "", "/trash", "/{record_id}", "/{record_id}/restore", "/{record_id}/history"))
_PROBLEMS = {
    "400": "Malformed request", "401": "Not signed in", "403": "Not allowed",
    "404": "Not found", "409": "Conflicts with stored data", "412": "Stale version",
    "422": "Invalid input", "429": "Too many failed sign-ins (Retry-After says for how long)",
}
SORTABLE_SYSTEM = ("id", "version", "created_at", "updated_at", "owner")
HISTORY_ENTRY = {
    "type": "object", "required": ["id", "at", "actor", "action", "field", "old", "new"],
    "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
        "actor": {"type": ["integer", "null"]},
        "action": {"type": "string", "enum": ["create", "update", "delete", "restore"]},
        "field": {"type": ["string", "null"]}, "old": {}, "new": {},
    },
}
DELETED = {
    "type": "object", "required": ["id", "deleted", "batch", "affected"],
    "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean"},
                   "batch": {"type": "string"},
                   "affected": {"type": "object", "required": ["deleted", "unlinked"], "properties": {
                       "deleted": {"type": "object", "additionalProperties": {"type": "integer"},
                                   "description": "per child object, records moved to the trash with it"},
                       "unlinked": {"type": "object", "additionalProperties": {"type": "integer"},
                                    "description": "per child object, records whose lookup was cleared"}}}},
}


NO_NUL = "^[^\\u0000]*$"


def _name_list(names: list[str], *, signed: bool) -> dict[str, Any]:
    """A comma-separated list of names (empty: the default), as a pattern clients and
    fuzzers can follow."""
    if not names:
        return {"type": "string", "maxLength": 0}
    one = ("[-+]?" if signed else "") + "(" + "|".join(sorted(set(names))) + ")"
    return {"type": "string", "pattern": f"^({one}(,{one})*)?$"}


_READ = ("400", "401", "403", "404", "422")
_WRITE = ("400", "401", "403", "404", "409", "412", "422")


def _problem_responses(*codes: str) -> dict[str, Any]:
    return {
        code: {"description": _PROBLEMS[code],
               "content": {MEDIA_TYPE: {"schema": ref("Problem")}}}
        for code in codes
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def object_paths(obj: ObjectDef) -> dict[str, Any]:
    name, base = schema_name(obj), f"/api/v1/records/{obj.api_name}"
    record_id = {"name": "record_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
    if_match = {"name": "If-Match", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": IF_MATCH_PATTERN}}
    query = [
        {"name": "fields", "in": "query", "description": "comma-separated fields to return",
         "schema": _name_list([*SYSTEM, *(f.api_name for f in (*obj.fields, *obj.line_fields))], signed=False)},
        {"name": "sort", "in": "query", "description": "comma-separated fields, `-` for descending",
         "schema": _name_list([*SORTABLE_SYSTEM, *(f.api_name for f in obj.stored_fields
                                                   if f.ftype.indexable)], signed=True)},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        {"name": "expand", "in": "query", "description": "comma-separated lookup and user fields to embed",
         "schema": _name_list(["owner", *(f.api_name for f in obj.stored_fields
                                         if getattr(f.ftype, "reference", None) in ("record", "user"))],
                              signed=False)},
        {"name": "total", "in": "query", "schema": {"type": "boolean"}},
        {"name": "filter", "in": "query", "description": "a formula; only records where it is TRUE",
         "schema": {"type": "string", "maxLength": 10000}},
    ]
    tag = [f"records: {obj.api_name}"]
    single = ref(f"{name}Record")
    return {
        base: {
            "get": {"tags": tag, "operationId": f"list_{obj.api_name}", "parameters": query,
                    "summary": f"List {obj.label} records",
                    "responses": {"200": _json(ref(f"{name}Page")), **_problem_responses(*_READ)}},
            "post": {"tags": tag, "operationId": f"create_{obj.api_name}",
                     "summary": f"Create one {obj.label} record, or up to {MAX_BULK} in one array",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                         ref(f"{name}Input"),
                         {"type": "array", "minItems": 1, "maxItems": MAX_BULK, "items": ref(f"{name}Input")},
                     ]}}}},
                     # A record always has an `id`, the answer to an array never: one schema
                     # fits, even for an object with a field named `data`.
                     "responses": {"201": _json({"oneOf": [single, {
                         "type": "object", "required": ["data"], "additionalProperties": False,
                         "properties": {"data": {"type": "array", "items": single}}}]}, "Created"),
                         **_problem_responses("400", "401", "403", "404", "409", "422")}},
        },
        f"{base}/trash": {
            "get": {"tags": tag, "operationId": f"trash_{obj.api_name}", "parameters": query[1:4],
                    "summary": f"{obj.label} records in the trash",
                    "responses": {"200": _json(ref(f"{name}TrashPage")), **_problem_responses(*_READ)}},
        },
        f"{base}/{{record_id}}": {
            "parameters": [record_id],
            "get": {"tags": tag, "operationId": f"get_{obj.api_name}",
                    "parameters": [query[0], query[4]],
                    "responses": {"200": _json(single), **_problem_responses(*_READ)}},
            "patch": {"tags": tag, "operationId": f"update_{obj.api_name}", "parameters": [if_match],
                      "requestBody": {"required": True,
                                      "content": {"application/json": {"schema": ref(f"{name}Patch")}}},
                      "responses": {"200": _json(single), **_problem_responses(*_WRITE)}},
            "delete": {"tags": tag, "operationId": f"delete_{obj.api_name}", "parameters": [if_match],
                       "summary": f"Move a {obj.label} record (and what its lookups cascade to) to the trash",
                       "responses": {"200": _json(DELETED),
                                     **_problem_responses("400", "401", "403", "404", "409", "412")}},
        },
        f"{base}/{{record_id}}/restore": {
            "parameters": [record_id],
            "post": {"tags": tag, "operationId": f"restore_{obj.api_name}",
                     "responses": {"200": _json(single), **_problem_responses("400", "401", "403", "404", "409")}},
        },
        f"{base}/{{record_id}}/history": {
            "parameters": [record_id],
            "get": {"tags": tag, "operationId": f"history_{obj.api_name}",
                    "summary": f"Every change of a {obj.label} record, newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "before", "in": "query", "description": "an entry id: older entries",
                         "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}],
                    "responses": {"200": _json({"type": "array", "items": HISTORY_ENTRY}),
                                  **_problem_responses("400", "401", "403", "404")}},
        },
    }


def _bodies_required(app: FastAPI) -> list[tuple[str, str]]:
    """(path, method) of the routes that read a JSON body they cannot do without."""
    out = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, APIRoute) and any(d.call is deps.json_body for d in original.dependant.dependencies):
            out += [(str(route.path_format), method.lower()) for method in route.methods or ()]
    return out


def _no_nul(schema: Any) -> None:
    """A text parameter holds no NUL character (the server refuses one at the door)."""
    if not isinstance(schema, dict):
        return
    for branch in schema.get("anyOf", []):
        _no_nul(branch)
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = NO_NUL


def build(app: FastAPI, objects: list[ObjectDef]) -> dict[str, Any]:
    spec = get_openapi(title="Tessera API", version=app.version, routes=app.routes,
                       description="Every object's records, and the metadata that defines them.")
    paths = {p: item for p, item in spec.get("paths", {}).items() if p not in _PER_OBJECT}
    for item in paths.values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.update(_problem_responses("400", "401", "403", "404", "409", "412", "422"))
    for path, method in _bodies_required(app):
        operation = paths.get(path, {}).get(method)
        if operation is not None:
            body = operation.setdefault("requestBody", {"content": {"application/json": {"schema": {}}}})
            body["required"] = True
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for obj in objects:
        paths.update(object_paths(obj))
        schemas.update(object_schemas(obj))
    spec["paths"] = paths
    for item in paths.values():
        for operation in [item, *item.values()]:
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") in ("path", "query"):
                    _no_nul(parameter.get("schema"))
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    spec["security"] = [{"bearer": []}]
    for sign_in in ("/api/v1/auth/token", "/api/v1/auth/session"):
        if (operation := paths.get(sign_in, {}).get("post")) is not None:
            operation["responses"].update(_problem_responses("429"))
            operation["security"] = []
    token_path = paths.get("/api/v1/auth/token", {}).get("post")
    if token_path is not None:
        token_path["security"] = []
        token_path["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["email", "password"],
            "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}}
    return spec


def install(app: FastAPI, runtime: Platform) -> None:
    """Serve `build`'s spec as the app's OpenAPI, built again only when metadata changed."""
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def current_openapi() -> dict[str, Any]:
        with runtime.read() as conn:
            snap = runtime.snapshot(conn)
        with lock:
            if cache.get("revision") != snap.revision:
                cache["spec"] = build(app, list(snap.objects.values()))
                cache["revision"] = snap.revision
            return cache["spec"]

    app.openapi = current_openapi  # type: ignore[method-assign]
