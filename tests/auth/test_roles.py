"""Roles through the API, on SQLite and PostgreSQL: role documents checked by JSON Schema and
against metadata with a problem per path, permissions kept across renames, built-in roles,
deleting roles in use, role changes in force from the next request, and builders."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.auth.permissions import permissions_for
from tessera.runtime.platform import Platform

PASSWORD = "a-long-password"
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "margin", "label": "Margin", "type": "currency"},
]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "deal": {"create": True, "read": "team", "edit": "own", "delete": "none",
             "fields": {"margin": "hidden", "amount": "read"}}}}


def _sign_in(api: Any, email: str) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def _rep(api: Any, roles: list[str]) -> Any:
    api.ok(api.post("/users", {"email": "rep@example.com", "password": PASSWORD, "roles": roles}), 201)
    return _sign_in(api, "rep@example.com")


@pytest.fixture
def crm(api: Any) -> Any:
    api.ok(api.post("/meta/objects", DEAL), 201)
    return api


def test_create_and_read_a_role_in_the_documented_shape(crm: Any) -> None:
    response = crm.post("/roles", SALES)
    role = crm.ok(response, 201)
    assert response.headers["location"] == "/api/v1/roles/sales"
    assert role["permissions"] == SALES["permissions"]
    assert (role["label"], role["built_in"], role["users"], role["description"]) == ("Sales", False, 0, "")
    assert crm.ok(crm.get("/roles/sales")) == role
    names = [r["api_name"] for r in crm.ok(crm.get("/roles"))["data"]]
    assert names == ["admin", "builder", "sales"]
    # Left-out keys default to nothing.
    crm.ok(crm.post("/roles", {"api_name": "viewer", "label": "Viewer", "permissions": {"deal": {"read": "all"}}}), 201)
    assert crm.ok(crm.get("/roles/viewer"))["permissions"]["deal"] == {
        "create": False, "read": "all", "edit": "none", "delete": "none", "fields": {}}


@pytest.mark.parametrize("doc,problems", [
    ({"api_name": "Sales!", "label": ""}, {"/api_name": "invalid", "/label": "invalid"}),
    ({"label": "x"}, {"/api_name": "required"}),
    ({"api_name": "s", "label": "S", "colour": "red"}, {"/colour": "unknown_field"}),
    ({"api_name": "s", "label": "S", "permissions": {"deal": {"read": "everyone", "edit": "team", "create": "yes"}}},
     {"/permissions/deal/read": "invalid", "/permissions/deal/create": "invalid"}),
    ({"api_name": "s", "label": "S", "permissions": {"deal": {"read": "all", "export": True,
                                                             "fields": {"margin": "secret"}}}},
     {"/permissions/deal/export": "unknown_field", "/permissions/deal/fields/margin": "invalid"}),
    ({"api_name": "s", "label": "S", "permissions": {"dael": {"read": "all"},
                                                     "deal": {"fields": {"marg1n": "hidden", "amount": "read"}}}},
     {"/permissions/dael": "unknown_object", "/permissions/deal/fields/marg1n": "unknown_field"}),
    ({"api_name": "s", "label": "S", "permissions": []}, {"/permissions": "invalid"}),
    (["not", "a", "role"], {"/": "invalid"}),
])
def test_bad_role_documents_get_a_problem_per_path_and_save_nothing(crm: Any, doc: Any,
                                                                    problems: dict[str, str]) -> None:
    response = crm.post("/roles", doc)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"]: e["code"] for e in response.json()["errors"]} == problems
    assert [r["api_name"] for r in crm.ok(crm.get("/roles"))["data"]] == ["admin", "builder"]


def test_a_taken_name_is_a_conflict(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    taken = crm.post("/roles", SALES)
    assert taken.status_code == 409 and taken.json()["errors"][0] == {
        "field": "/api_name", "message": "is taken", "code": "taken"}
    assert crm.post("/roles", {**SALES, "api_name": "admin"}).status_code == 409


def test_patch_replaces_permissions_and_refuses_renames(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    changed = crm.ok(crm.patch("/roles/sales", {"label": "Sales team", "permissions": {"deal": {"read": "own"}}}))
    assert changed["label"] == "Sales team"
    assert changed["permissions"] == {"deal": {"create": False, "read": "own", "edit": "none", "delete": "none",
                                               "fields": {}}}
    renamed = crm.patch("/roles/sales", {"api_name": "sellers"})
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["code"] == "immutable"
    bad = crm.patch("/roles/sales", {"permissions": {"deal": {"read": "most"}}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "/permissions/deal/read"
    assert crm.ok(crm.get("/roles/sales"))["permissions"]["deal"]["read"] == "own"
    assert crm.patch("/roles/nope", {"label": "x"}).status_code == 404


def test_permissions_survive_renaming_the_object_and_its_fields(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    crm.ok(crm.patch("/meta/objects/deal/fields/margin", {"api_name": "profit"}))
    crm.ok(crm.patch("/meta/objects/deal", {"api_name": "opportunity"}))
    role = crm.ok(crm.get("/roles/sales"))
    assert role["permissions"] == {"opportunity": {"create": True, "read": "team", "edit": "own", "delete": "none",
                                                   "fields": {"amount": "read", "profit": "hidden"}}}
    as_rep = _rep(crm, ["sales"])
    fields = as_rep.ok(as_rep.get("/me/permissions"))["objects"]["opportunity"]["fields"]
    assert fields == {"name": "edit", "amount": "read", "profit": "hidden"}


def test_permissions_on_an_object_in_the_trash_come_back_with_it(crm: Any) -> None:
    crm.ok(crm.post("/meta/objects", {"api_name": "ticket", "label": "Ticket",
                                      "fields": [{"api_name": "subject", "label": "Subject", "type": "text"}]}), 201)
    crm.ok(crm.post("/roles", {**SALES, "permissions": {**SALES["permissions"], "ticket": {"read": "all"}}}), 201)
    assert crm.delete("/meta/objects/deal").status_code == 204
    assert list(crm.ok(crm.get("/roles/sales"))["permissions"]) == ["ticket"]
    # Changing the role while deal is in the trash keeps what it says about deal.
    crm.ok(crm.patch("/roles/sales", {"permissions": {"ticket": {"read": "own"}}}))
    crm.ok(crm.post("/meta/objects/deal/restore"))
    assert crm.ok(crm.get("/roles/sales"))["permissions"] == {
        **SALES["permissions"], "ticket": {"create": False, "read": "own", "edit": "none", "delete": "none",
                                          "fields": {}}}


def test_built_in_roles_stay(crm: Any) -> None:
    for name in ("admin", "builder"):
        refused = crm.delete(f"/roles/{name}", params={"force": "true"})
        assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "built_in"
    admin = crm.patch("/roles/admin", {"permissions": {"deal": {"read": "own"}}})
    assert admin.status_code == 422 and admin.json()["errors"][0]["code"] == "immutable"
    assert crm.ok(crm.patch("/roles/admin", {"label": "Administrator"}))["label"] == "Administrator"
    builder = crm.ok(crm.patch("/roles/builder", {"permissions": {"deal": {"read": "all"}}}))
    assert builder["permissions"]["deal"]["read"] == "all"
    assert crm.ok(crm.get("/roles/admin"))["users"] == 1


def test_a_role_in_use_is_deleted_only_with_force(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    as_rep = _rep(crm, ["sales"])
    assert as_rep.ok(as_rep.get("/me/permissions"))["objects"]["deal"]["read"] == "team"
    refused = crm.delete("/roles/sales")
    assert refused.status_code == 409
    problem = refused.json()["errors"][0]
    assert problem["code"] == "in_use" and problem["users"] == ["rep@example.com"]
    assert "?force=true" in refused.json()["detail"]
    assert crm.delete("/roles/sales", params={"force": "true"}).status_code == 204
    assert crm.get("/roles/sales").status_code == 404
    assert as_rep.ok(as_rep.get("/me"))["roles"] == []
    assert as_rep.ok(as_rep.get("/me/permissions"))["objects"] == {}
    crm.ok(crm.post("/roles", {"api_name": "unused", "label": "Unused"}), 201)
    assert crm.delete("/roles/unused").status_code == 204
    assert crm.delete("/roles/unused").status_code == 404


def test_a_role_change_takes_effect_on_the_next_request(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    as_rep = _rep(crm, ["sales"])
    before = as_rep.ok(as_rep.get("/me/permissions"))["objects"]["deal"]
    assert before["read"] == "team" and before["fields"]["margin"] == "hidden"
    crm.ok(crm.patch("/roles/sales", {"permissions": {"deal": {"read": "all", "edit": "all"}}}))
    after = as_rep.ok(as_rep.get("/me/permissions"))["objects"]["deal"]
    assert after["read"] == "all" and after["fields"]["margin"] == "edit"
    # Taking the role away counts as much as changing it.
    crm.ok(crm.patch(f"/users/{as_rep.ok(as_rep.get('/me'))['id']}", {"roles": []}))
    assert as_rep.ok(as_rep.get("/me/permissions")) == {"is_admin": False, "is_builder": False, "objects": {}}


def test_a_role_change_in_another_process_reaches_the_record_service(crm: Any, runtime: Platform,
                                                                      db_url: str) -> None:
    """The resolver sees the roles re-read by the request's first transaction."""
    from tessera.settings import Settings

    crm.ok(crm.post("/roles", SALES), 201)
    as_rep = _rep(crm, ["sales"])
    as_rep.ok(as_rep.get("/me"))
    who = runtime.users.cached(as_rep.headers["Authorization"].split()[1])
    assert who is not None and who.roles == ("sales",)
    other = Platform(Settings(database_url=db_url))
    try:
        other.users.roles.update(Actor.system(), "sales", {"permissions": {"deal": {"read": "all"}}},
                                 other.snapshot)
    finally:
        other.dispose()
    from tessera.auth.actor import acting

    token = acting.set(who)
    try:
        with runtime.read() as conn:
            snap = runtime.snapshot(conn)  # re-checks the outdated sign-in
        assert permissions_for(who, snap).object("deal").read == "all"
    finally:
        acting.reset(token)


def test_permissions_for_the_ui(crm: Any) -> None:
    crm.ok(crm.post("/roles", SALES), 201)
    as_rep = _rep(crm, ["sales", "builder"])
    assert as_rep.ok(as_rep.get("/me/permissions")) == {"is_admin": False, "is_builder": True, "objects": {
        "deal": {"create": True, "read": "team", "edit": "own", "delete": "none",
                 "fields": {"name": "edit", "amount": "read", "margin": "hidden"}}}}
    admin = crm.ok(crm.get("/me/permissions"))
    assert admin["is_admin"] and admin["objects"]["deal"]["delete"] == "all"


def test_builders_may_change_metadata_and_others_may_not(crm: Any) -> None:
    crm.ok(crm.post("/users", {"email": "clerk@example.com", "password": PASSWORD}), 201)
    clerk = _sign_in(crm, "clerk@example.com")
    field = {"api_name": "notes", "label": "Notes", "type": "text"}
    refused = clerk.post("/meta/objects/deal/fields", field)
    assert refused.status_code == 403 and "builders" in refused.json()["detail"]
    builder = _rep(crm, ["builder"])
    builder.ok(builder.post("/meta/objects/deal/fields", field), 201)
    builder.ok(builder.get("/meta/objects/deal/history"))
    assert builder.get("/users").status_code == 403
    # Taking the builder role away holds from the next request.
    crm.ok(crm.patch(f"/users/{builder.ok(builder.get('/me'))['id']}", {"roles": []}))
    assert builder.post("/meta/objects/deal/fields", {**field, "api_name": "more"}).status_code == 403
