"""Every bad request gets a clear 4xx problem+json (RFC 9457) with one entry per offending
field, and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

ITEM = {"api_name": "item", "label": "Item", "fields": [
    {"api_name": "code", "label": "Code", "type": "text", "required": True, "unique": True, "max_length": 5},
    {"api_name": "qty", "label": "Qty", "type": "integer"},
    {"api_name": "price", "label": "Price", "type": "currency"},
    {"api_name": "when", "label": "When", "type": "date"},
    {"api_name": "site", "label": "Site", "type": "url"},
    {"api_name": "data", "label": "Data", "type": "json"},
]}
PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def items(api: Any) -> Any:
    api.ok(api.post("/meta/objects", ITEM), 201)
    return api


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status
    return body


def _nothing_written(api: Any) -> None:
    assert api.ok(api.get("/records/item"))["data"] == []


def test_each_offending_field_gets_its_own_entry(items: Any) -> None:
    body = _problem(items.post("/records/item", {"code": "toolong", "qty": "many", "price": [1],
                                                 "when": "tomorrow", "colour": "red", "site": "::"}), 422)
    fields = {e["field"]: e["code"] for e in body["errors"]}
    assert fields == {"code": "invalid_value", "qty": "invalid_value", "price": "invalid_value",
                      "when": "invalid_value", "colour": "unknown_field", "site": "invalid_value"}
    assert all(e["message"] for e in body["errors"])
    _nothing_written(items)


def test_unknown_fields_suggest_the_near_name(items: Any) -> None:
    body = _problem(items.post("/records/item", {"code": "a", "qtty": 1}), 422)
    assert "did you mean 'qty'" in body["errors"][0]["message"]


def test_read_only_and_system_fields_cannot_be_written(items: Any) -> None:
    body = _problem(items.post("/records/item", {"code": "a", "id": 5, "created_at": "2020-01-01"}), 422)
    assert {e["field"] for e in body["errors"]} == {"id", "created_at"}


def test_a_unique_violation_is_a_409_naming_the_field(items: Any) -> None:
    first = items.ok(items.post("/records/item", {"code": "a"}), 201)
    body = _problem(items.post("/records/item", {"code": "a"}), 409)
    assert body["errors"][0]["field"] == "code" and body["errors"][0]["code"] == "not_unique"
    other = items.ok(items.post("/records/item", {"code": "b"}), 201)
    _problem(items.patch(f"/records/item/{other['id']}", {"code": "a"}), 409)
    assert items.ok(items.get(f"/records/item/{other['id']}"))["code"] == "b"
    assert items.ok(items.patch(f"/records/item/{first['id']}", {"code": "a", "qty": 1}))["qty"] == 1


@pytest.mark.parametrize("body", [b"{", b"", b"   ", b"[1,", b'{"code": NaN}', b'{"code": Infinity}',
                                  b'{"code": "\\ud800"}', b"\xff\xfe", b'{"code": "a", "qty": 1e400}', b"[" * 100_000])
def test_malformed_json_is_a_400(items: Any, body: bytes) -> None:
    response = items.request("POST", "/records/item", content=body,
                             headers={"Content-Type": "application/json"})
    _problem(response, 400)
    _nothing_written(items)


@pytest.mark.parametrize("body", [5, "text", None, True, [], [5]])
def test_a_body_that_is_not_a_record_is_a_422(items: Any, body: Any) -> None:
    response = items.request("POST", "/records/item", content=json.dumps(body),
                             headers={"Content-Type": "application/json"})
    _problem(response, 422)
    _nothing_written(items)


@pytest.mark.parametrize("path", ["/records/item/0", "/records/item/abc", "/records/item/-1",
                                  "/records/item/99999999999999999999999", "/records/item/1.5"])
def test_bad_ids_are_a_4xx(items: Any, path: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = items.request(method, path, json={"qty": 1})
        assert 400 <= response.status_code < 500, (method, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_unknown_objects_and_records_are_404(items: Any) -> None:
    _problem(items.get("/records/nope"), 404)
    _problem(items.post("/records/nope", {"a": 1}), 404)
    _problem(items.get("/records/item/42"), 404)
    _problem(items.get("/records/item/42/history"), 404)


@pytest.mark.parametrize("cursor", ["garbage", "e30", "W10", "WyJ4IiwxXQ", "!!!", "a" * 5000])
def test_a_bad_cursor_is_a_422(items: Any, cursor: str) -> None:
    body = _problem(items.get("/records/item", params={"cursor": cursor}), 422)
    assert body["errors"][0]["field"] == "cursor"


def test_a_cursor_of_another_sort_or_with_wrong_values_is_a_422(items: Any) -> None:
    import base64
    import json

    items.ok(items.post("/records/item", [{"code": f"c{i}", "qty": i} for i in range(3)]), 201)
    cursor = items.ok(items.get("/records/item", params={"sort": "qty", "limit": 1}))["next_cursor"]
    _problem(items.get("/records/item", params={"sort": "-qty", "cursor": cursor}), 422)
    signature, _values = json.loads(base64.urlsafe_b64decode(cursor + "=="))
    for wrong in (["x", 1], [{"a": 1}, 1], [1], [1, None], [1, 2**80]):
        forged = base64.urlsafe_b64encode(json.dumps([signature, wrong]).encode()).decode().rstrip("=")
        _problem(items.get("/records/item", params={"sort": "qty", "cursor": forged}), 422)


@pytest.mark.parametrize("sort", ["nope", "qty,nope", "data", "-", "deleted_batch", "price;drop"])
def test_a_bad_sort_field_is_a_422(items: Any, sort: str) -> None:
    body = _problem(items.get("/records/item", params={"sort": sort}), 422)
    assert body["errors"][0]["field"] == "sort"


def test_bad_fields_and_expand_are_a_422(items: Any) -> None:
    assert _problem(items.get("/records/item", params={"fields": "code,nope"}), 422)["errors"][0]["field"] == "fields"
    assert _problem(items.get("/records/item", params={"expand": "qty"}), 422)["errors"][0]["field"] == "expand"


@pytest.mark.parametrize("params", [{"limit": "x"}, {"limit": "0"}, {"limit": "1001"}, {"total": "maybe"}])
def test_bad_query_parameters_are_a_400(items: Any, params: dict[str, str]) -> None:
    _problem(items.get("/records/item", params=params), 400)


@pytest.mark.parametrize("header", ["abc", '"1', "1.5", "-1", '"99999999999999999999"', "W/x", ""])
def test_a_bad_if_match_is_a_400_and_changes_nothing(items: Any, header: str) -> None:
    record = items.ok(items.post("/records/item", {"code": "a", "qty": 1}), 201)
    _problem(items.patch(f"/records/item/{record['id']}", {"qty": 2}, headers={"If-Match": header}), 400)
    _problem(items.delete(f"/records/item/{record['id']}", headers={"If-Match": header}), 400)
    assert items.ok(items.get(f"/records/item/{record['id']}"))["qty"] == 1


def test_references_to_missing_records_are_a_422(items: Any) -> None:
    items.ok(items.post("/meta/objects", {"api_name": "line", "label": "Line", "fields": [
        {"api_name": "item", "label": "Item", "type": "lookup", "target": "item"},
        {"api_name": "who", "label": "Who", "type": "user"}]}), 201)
    body = _problem(items.post("/records/line", {"item": 12345, "who": 999, "owner": 777}), 422)
    assert {e["field"] for e in body["errors"]} == {"item", "who", "owner"}


def test_oversized_and_odd_values_never_reach_a_500(items: Any) -> None:
    odd = [{"code": "a", "qty": 10**30}, {"code": "a", "qty": 1e308}, {"code": "a", "price": "1e999"},
           {"code": "a", "price": 10**40}, {"code": "a", "when": "9999-99-99"}, {"code": "\x00"},
           {"code": "a", "data": {"k": "\u0000"}}, {"code": "a", "site": "http://[::1"},
           {"code": "a", "when": 20240101}, {"code": "a", "data": [[[[[]]]]] * 5}]
    for body in odd:
        response = items.post("/records/item", body)
        assert response.status_code in (201, 422), (body, response.text)
        if response.status_code == 201:
            items.ok(items.delete(f"/records/item/{response.json()['id']}"))
    assert items.ok(items.get("/records/item"))["data"] == []


def test_not_signed_in_is_a_401_with_a_bearer_challenge(client: Any) -> None:
    response = client.get("/api/v1/records/item")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    bad = client.get("/api/v1/records/item", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_unknown_routes_and_methods_are_problems_too(items: Any) -> None:
    _problem(items.get("/nowhere"), 404)
    _problem(items.request("PUT", "/records/item"), 405)


@pytest.mark.parametrize(("path", "params"), [
    ("/records/item", {"filter": 'code = "a\x00b"'}),
    ("/records/item", {"sort": "code\x00"}),
    ("/records/item", {"fields": "code,\x00"}),
    ("/records/item", {"cursor": "\x00"}),
    ("/records/item", {"expand": "\x00"}),
    ("/records/it%00em", {}),
    ("/records/item/1%00", {}),
    ("/meta/objects/item%00", {}),
    ("/meta/objects/item/fields/code%00", {}),
    ("/jobs", {"status": "\x00"}),
])
def test_a_nul_character_in_the_address_is_a_400_on_every_endpoint(items: Any, path: str,
                                                                      params: dict[str, str]) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        body = _problem(items.request(method, path, params=params, json={"qty": 1}), 400)
        assert "NUL" in body["detail"] and body["errors"][0]["code"] == "invalid"
    _nothing_written(items)


@pytest.mark.parametrize("path,body", [
    ("/teams", {"api_name": "t1", "label": "a\u0000b"}),
    ("/roles", {"api_name": "r1", "label": "a\u0000b", "permissions": {}}),
    ("/meta/objects", {"api_name": "o1", "label": "a\u0000b", "fields": []}),
    ("/users", {"email": "x@example.com", "name": "a\u0000", "password": "a-long-password"}),
    ("/records/item", {"code": "ok", "notes\u0000": 1}),
    ("/records/item", [{"code": "ok"}, {"code": "a\u0000"}]),
])
def test_a_nul_character_anywhere_in_a_body_is_a_422_naming_where(items: Any, path: str, body: Any) -> None:
    refused = _problem(items.post(path, body), 422)
    assert "NUL" in refused["detail"] and refused["errors"][0]["field"].startswith("/")
    _nothing_written(items)
    assert items.get("/teams/t1").status_code == 404
