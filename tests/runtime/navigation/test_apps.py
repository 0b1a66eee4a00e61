"""Apps as metadata documents and the app menu they make, on SQLite and PostgreSQL: an app
names existing objects and dashboards once each, follows an object's rename, and shows
each person the objects they may read; Other holds the objects in no app; the app a person
is in follows the page's object."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.meta.model import ObjectDef
from tessera.runtime.navigation.apps import arrange

SYSTEM = Actor.system()


def _object(name: str, label: str) -> dict[str, Any]:
    return {"api_name": name, "label": label, "fields": [{"api_name": "name", "label": "Name", "type": "text"}]}


def _problems(runtime: Any, doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        runtime.documents.create(SYSTEM, "apps", doc)
    return {p.field: p.message for p in refused.value.errors}


@pytest.fixture
def crm(runtime: Any) -> Any:
    for name, label in (("account", "Account"), ("deal", "Deal"), ("ticket", "Ticket"), ("note", "Note")):
        runtime.metadata.create_object(SYSTEM, _object(name, label))
    return runtime


def test_an_app_names_existing_objects_and_dashboards_once(crm: Any) -> None:
    problems = _problems(crm, {"api_name": "sales", "label": "Sales", "objects": ["account", "nope", "account"],
                               "dashboards": ["missing"]})
    assert problems == {"/objects/1": "there is no object named 'nope'", "/objects/2": "Account is in the app already",
                        "/dashboards/0": "there is no dashboard named 'missing'"}
    assert "kept for the objects in no app" in _problems(crm, {"api_name": "other", "label": "Other"})["/api_name"]
    assert set(_problems(crm, {"api_name": "x", "label": "", "colour": "pink", "letter": "a b"})) == {
        "/label", "/colour", "/letter"}
    assert _problems(crm, {"api_name": "x", "label": ""})["/label"] == "must not be blank"
    made = crm.documents.create(SYSTEM, "apps", {"api_name": "sales", "label": "Sales", "objects": ["deal", "account"],
                                                 "letter": "S", "colour": "green"})
    assert made["uid"].startswith("app_") and made["version"] == 1


def test_renaming_an_object_renames_it_in_its_apps_and_where_used_lists_them(crm: Any) -> None:
    crm.documents.create(SYSTEM, "apps", {"api_name": "sales", "label": "Sales", "objects": ["deal", "account"]})
    used = crm.metadata.where_used("account")
    assert any(u["kind"] == "apps" and u["api_name"] == "sales" for u in used), used
    crm.metadata.update_object(SYSTEM, "account", {"api_name": "company"})
    assert crm.documents.get("apps", "sales")["objects"] == ["deal", "company"]
    assert crm.documents.stored_problems("apps", "sales") == []


def test_the_menu_shows_each_person_the_apps_and_objects_they_may_read(crm: Any) -> None:
    crm.documents.create(SYSTEM, "apps", {"api_name": "sales", "label": "Sales", "order": 20,
                                          "objects": ["deal", "account"]})
    crm.documents.create(SYSTEM, "apps", {"api_name": "service", "label": "Service", "order": 10,
                                          "objects": ["ticket", "account"]})
    admin = Actor(user_id=None, is_admin=True)
    menu = crm.app_menu.menu(admin)
    assert [a.api_name for a in menu.apps] == ["service", "sales", "other"]
    assert [o.api_name for o in menu.apps[-1].objects] == ["note"]
    assert menu.current.api_name == "service" and menu.switchable
    assert [o.api_name for o in crm.app_menu.menu(admin, "sales").current.objects] == ["deal", "account"]
    # A page of an object the picked app lacks shows the first app holding it.
    assert crm.app_menu.menu(admin, "sales", showing="ticket").current.api_name == "service"
    assert crm.app_menu.menu(admin, "sales", showing="account").current.api_name == "sales"
    assert crm.app_menu.menu(admin, "sales", showing="note").current.api_name == "other"
    # Someone who may read deals only: Sales with its deals, no Service, no Other.
    crm.users.roles.create(SYSTEM, {"api_name": "rep", "label": "Rep", "permissions": {
        "deal": {"read": "own"}}}, crm.snapshot)
    made = crm.users.accounts.add(SYSTEM, {"email": "rep@example.com", "name": "Rep", "password": "a-long-password",
                                           "roles": ["rep"]})
    rep = crm.users.actor_for_user(int(made["id"]))
    menu = crm.app_menu.menu(rep, "service")
    assert [a.api_name for a in menu.apps] == ["sales"]
    assert menu.current.api_name == "sales" and [o.api_name for o in menu.current.objects] == ["deal"]


def test_moving_an_app_up_and_down_the_menu(crm: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        crm.documents.create(SYSTEM, "apps", {"api_name": name, "label": name.title(), "objects": ["note"]})
    crm.app_menu.move(SYSTEM, "gamma", -1)
    assert [a["api_name"] for a in crm.app_menu.apps()] == ["alpha", "gamma", "beta"]
    crm.app_menu.move(SYSTEM, "alpha", -1)  # already first: stays
    crm.app_menu.move(SYSTEM, "alpha", 1)
    assert [a["api_name"] for a in crm.app_menu.apps()] == ["gamma", "alpha", "beta"]


def _obj(name: str) -> ObjectDef:
    return ObjectDef({"uid": f"obj_{name}", "api_name": name, "label": name.title(), "fields": []})


def test_without_apps_every_object_is_listed_and_nothing_to_pick() -> None:
    objects = [_obj("a"), _obj("b")]
    menu = arrange([], objects, {}, "sales", "a")
    assert not menu.switchable and menu.apps == ()
    assert [o.api_name for o in menu.current.objects] == ["a", "b"]
    # An app whose objects the person may not read and without dashboards is not theirs:
    # with no app of theirs, they see every object they may read, as without apps.
    menu = arrange([{"api_name": "hidden", "label": "Hidden", "objects": ["z"]}], objects, {}, None, None)
    assert menu.apps == () and [o.api_name for o in menu.current.objects] == ["a", "b"]
    # Dashboards alone make an app worth showing; a missing one is left out.
    menu = arrange([{"api_name": "boards", "label": "Boards", "dashboards": ["pipeline", "gone"]}], objects,
                   {"pipeline": "Pipeline"}, None, None)
    assert [(a.api_name, [d.label for d in a.dashboards]) for a in menu.apps] == [("boards", ["Pipeline"]),
                                                                                  ("other", [])]
    assert menu.current.letter == "B"
