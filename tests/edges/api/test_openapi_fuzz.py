"""Schemathesis over the generated OpenAPI document: every record operation of objects that
use every field type is called with generated input, on SQLite and PostgreSQL, and must
never answer 5xx nor contradict its documented status codes, media types or schemas.

Examples are bounded and derandomized so the run is repeatable and takes about a minute.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tessera.meta.fieldtypes import field_types

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 40
OPTIONS = [{"value": "red"}, {"value": "green", "label": "Green"}, {"value": "blue"}]

#: A record with a value in every field, so list and read responses show every type.
FULL = {"f_text": "t", "f_long_text": "long\ntext", "f_rich_text": "<p>rich</p>", "f_email": "a@b.co",
        "f_phone": "+49 30 1234", "f_url": "example.com", "f_integer": 7, "f_decimal": "1.234",
        "f_currency": "12.5", "f_percent": 50, "f_boolean": True, "f_date": "2025-01-31",
        "f_datetime": "2025-01-31T10:00:00Z", "f_duration": "1:30", "f_select": "red",
        "f_multi_select": ["blue", "red"], "f_user": 1, "f_json": {"a": [1, None]}, "f_rating": 4,
        "f_required": "yes"}

PARENT = {"api_name": "fuzz_parent", "label": "Fuzz parent", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True, "unique": True,
     "max_length": 40}]}


#: The child object whose records are fuzz_all's lines (created before it).
LINE = {"api_name": "line_of_fuzz", "label": "Line of fuzz", "child": True, "fields": [
    {"api_name": "amount", "label": "Amount", "type": "decimal"}]}


def _every_type() -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"api_name": "f_text", "label": "Text", "type": "text", "max_length": 50},
        {"api_name": "f_long_text", "label": "Long", "type": "long_text"},
        {"api_name": "f_rich_text", "label": "Rich", "type": "rich_text"},
        {"api_name": "f_email", "label": "Email", "type": "email"},
        {"api_name": "f_phone", "label": "Phone", "type": "phone"},
        {"api_name": "f_url", "label": "Url", "type": "url"},
        {"api_name": "f_integer", "label": "Integer", "type": "integer", "min": -1000, "max": 1000},
        {"api_name": "f_decimal", "label": "Decimal", "type": "decimal", "precision": 10, "scale": 3},
        {"api_name": "f_currency", "label": "Currency", "type": "currency", "currency": "EUR"},
        {"api_name": "f_percent", "label": "Percent", "type": "percent"},
        {"api_name": "f_boolean", "label": "Boolean", "type": "boolean"},
        {"api_name": "f_date", "label": "Date", "type": "date"},
        {"api_name": "f_datetime", "label": "Datetime", "type": "datetime"},
        {"api_name": "f_duration", "label": "Duration", "type": "duration"},
        {"api_name": "f_select", "label": "Select", "type": "select", "options": OPTIONS},
        {"api_name": "f_multi_select", "label": "Multi", "type": "multi_select", "options": OPTIONS},
        {"api_name": "f_lookup", "label": "Parent", "type": "lookup", "target": "fuzz_parent",
         "on_delete": "cascade"},
        {"api_name": "f_self", "label": "Parent record", "type": "lookup", "target": "fuzz_all",
         "related_name": "kids"},
        {"api_name": "f_user", "label": "User", "type": "user"},
        {"api_name": "f_autonumber", "label": "Number", "type": "autonumber", "prefix": "F-"},
        {"api_name": "f_attachment", "label": "Files", "type": "attachment", "max_files": 3},
        {"api_name": "f_json", "label": "Json", "type": "json"},
        {"api_name": "f_lines", "label": "Lines", "type": "child_table", "target": "line_of_fuzz"},
        {"api_name": "f_rating", "label": "Rating", "type": "rating"},
        {"api_name": "f_required", "label": "Required", "type": "text", "required": True},
        {"api_name": "f_formula", "label": "Formula", "type": "formula",
         "expression": 'IF(f_integer > 5, f_currency * 2, BLANK())'},
        {"api_name": "f_formula_text", "label": "Formula text", "type": "formula",
         "expression": 'CONCAT(UPPER(f_text), " / ", f_lookup.name)'},
        {"api_name": "f_formula_date", "label": "Formula date", "type": "formula",
         "expression": "DATEADD(f_date, 30, \"day\")"},
        {"api_name": "f_rollup", "label": "Rollup", "type": "rollup", "relation": "kids",
         "function": "sum", "field": "f_decimal", "filter": "kids.f_boolean"},
    ]
    assert {f["type"] for f in fields} >= set(field_types()), "a field type is not fuzzed"
    return {"api_name": "fuzz_all", "label": "Fuzz all", "fields": fields}


def test_record_endpoints_hold_to_their_openapi_description(api: Any, client: Any) -> None:
    api.ok(api.post("/meta/objects", PARENT), 201)
    api.ok(api.post("/meta/objects", LINE), 201)
    api.ok(api.post("/meta/objects", _every_type()), 201)
    parent = api.ok(api.post("/records/fuzz_parent", {"name": "p"}), 201)["id"]
    api.ok(api.post("/records/fuzz_all", [{"f_required": f"r{i}", "f_lookup": parent} for i in range(3)]), 201)


    upload = api.request("POST", "/attachments", files={"file": ("a.txt", b"abc", "text/plain")})
    file_id = api.ok(upload, 201)["id"]
    api.ok(api.post("/records/fuzz_all", FULL | {"f_lookup": parent, "f_attachment": [file_id]}), 201)
    references = {"f_lookup": parent, "f_user": 1, "owner": 1, "f_attachment": [file_id]}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    schema = schema.include(path_regex=r"^/api/v1/records/fuzz_")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16
    failures: list[str] = []
    statuses: dict[str, list[int]] = {}
    for operation in operations:
        failures += _fuzz(operation, api.headers, None, references, statuses)
        if "{record_id}" in operation.path:
            # Also aim at a record that exists, so the success paths are exercised too.
            failures += _fuzz(operation, api.headers, 1, references, statuses)
    assert not failures, "\n\n".join(failures[:12])
    # The fuzzer must also have got past validation on every operation, not only hit 4xx.
    assert all(any(code < 300 for code in codes) for codes in statuses.values()), statuses


def _aim_references(body: Any, references: dict[str, Any]) -> None:
    """Point generated ids at rows that exist, so creates and changes can succeed.

    Random ids would make nearly every write a 422 "no such record"; with real ones the
    fuzzer also reaches the write, the history and the response of a successful save.
    """
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, dict):
            for name, value in references.items():
                if item.get(name) is not None:
                    item[name] = value


def _fuzz(operation: Any, headers: dict[str, str], fixed_id: int | None,
          references: dict[str, Any], statuses: dict[str, list[int]]) -> list[str]:
    failures: list[str] = []
    params = {"record_id": fixed_id} if fixed_id is not None else None

    @given(case=operation.as_strategy(path_parameters=params))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        _aim_references(case.body, references)
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.setdefault(f"{operation.method.upper()} {operation.path}", []).append(response.status_code)
        except AssertionError as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
        except Exception as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {type(error).__name__}: {error}")

    run()
    return failures


def test_openapi_follows_metadata_changes(api: Any, client: Any) -> None:
    api.ok(api.post("/meta/objects", PARENT), 201)
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/records/fuzz_parent/{record_id}" in spec["paths"]
    assert set(spec["components"]["schemas"]) >= {
        "FuzzParentRecord", "FuzzParentInput", "FuzzParentPatch", "FuzzParentPage",
        "FuzzParentTrashedRecord", "FuzzParentTrashPage", "Problem"}
    assert "size" not in spec["components"]["schemas"]["FuzzParentInput"]["properties"]
    api.ok(api.post("/meta/objects/fuzz_parent/fields", {"api_name": "size", "label": "Size",
                                                          "type": "integer"}), 201)
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["components"]["schemas"]["FuzzParentInput"]["properties"]["size"]["anyOf"][0]["type"] == "integer"
    assert spec["components"]["schemas"]["FuzzParentRecord"]["properties"]["size"]
    assert "size" in spec["paths"]["/api/v1/records/fuzz_parent"]["get"]["parameters"][1]["schema"]["pattern"]
    api.ok(api.patch("/meta/objects/fuzz_parent", {"api_name": "fuzz_mother"}))
    spec = client.get("/api/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "FuzzMotherRecord" in schemas and "FuzzParentRecord" not in schemas
    assert "/api/v1/records/fuzz_parent" not in spec["paths"]
    assert "/api/v1/attachments" in spec["paths"]
