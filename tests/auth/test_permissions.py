"""The permission resolver on its own (no database): roles combine by the widest grant,
fields not named are editable where the record is, roles without access to an object have
no say about its fields, admins may do everything, answers follow renames and new fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tessera.auth.actor import Actor, Grants, acting
from tessera.auth.permissions import ObjectPermissions, combine, permissions_for, widest_level, widest_scope
from tessera.meta.model import ObjectDef


def _object(name: str, *fields: str, uid: str | None = None) -> ObjectDef:
    return ObjectDef({"uid": uid or f"obj_{name}", "api_name": name, "label": name.title(),
                      "fields": [{"uid": f"fld_{name}_{f}", "api_name": f, "label": f, "type": "text"}
                                 for f in fields]})


@dataclass(frozen=True, eq=False)
class Metadata:
    revision: int
    objects: dict[str, ObjectDef] = field(default_factory=dict)


DEAL = _object("deal", "name", "amount", "margin")
TICKET = _object("ticket", "subject")
META = Metadata(1, {"deal": DEAL, "ticket": TICKET})


def _entry(create: bool = False, read: str = "none", edit: str = "none", delete: str = "none",
           **fields: str) -> dict[str, Any]:
    return {"create": create, "read": read, "edit": edit, "delete": delete,
            "fields": {f"fld_deal_{name}": level for name, level in fields.items()}}


def _actor(*documents: dict[str, Any], **kwargs: Any) -> Actor:
    return Actor(user_id=7, email="rep@example.com", grants=Grants(tuple(documents)), **kwargs)


def test_one_role_answers_as_written() -> None:
    access = permissions_for(_actor({"obj_deal": _entry(True, "team", "own", margin="hidden", amount="read")}),
                             META).object("deal")
    assert (access.create, access.read, access.edit, access.delete) == (True, "team", "own", "none")
    assert access.field_level("margin") == "hidden" and access.field_level("amount") == "read"
    assert access.field_level("name") == "edit"
    assert access.hidden_fields == {"margin"} and access.read_only_fields == {"amount"}
    assert access.scope("read") == "team"
    with pytest.raises(ValueError):
        access.scope("create")


def test_several_roles_combine_by_the_widest_grant() -> None:
    actor = _actor({"obj_deal": _entry(False, "own", "own", "none", margin="hidden", amount="read")},
                   {"obj_deal": _entry(True, "team", "none", "own", margin="read", amount="hidden")},
                   {"obj_deal": _entry(False, "all", "none", "none", margin="hidden", name="read")})
    access = permissions_for(actor, META).object("deal")
    assert (access.create, access.read, access.edit, access.delete) == (True, "all", "own", "own")
    assert access.field_level("margin") == "read"  # hidden < read
    assert access.field_level("amount") == "edit"  # the third role does not name it: editable there
    assert access.field_level("name") == "edit"


def test_a_role_without_access_to_an_object_does_not_reveal_its_fields() -> None:
    hides = {"obj_deal": _entry(False, "all", margin="hidden")}
    about_tickets = {"obj_ticket": {"create": True, "read": "all", "edit": "all", "delete": "all"}}
    nothing_on_deals = {"obj_deal": _entry(False, "none")}
    access = permissions_for(_actor(hides, about_tickets, nothing_on_deals), META).object("deal")
    assert access.hidden_fields == {"margin"}


def test_whoever_may_change_or_delete_records_may_see_them() -> None:
    access = permissions_for(_actor({"obj_deal": _entry(False, "own", "team", "all")}), META).object("deal")
    assert access.read == "all"


def test_no_role_on_an_object_means_nothing_and_every_field_hidden() -> None:
    access = permissions_for(_actor(), META).object("deal")
    assert (access.create, access.read, access.edit, access.delete) == (False, "none", "none", "none")
    assert access.hidden_fields == {"name", "amount", "margin"}
    assert not access.any_access
    unknown = permissions_for(_actor(), META).object("nowhere")
    assert unknown.read == "none" and unknown.field_level("x") == "hidden"


def test_a_create_only_role_may_fill_in_fields() -> None:
    access = permissions_for(_actor({"obj_deal": _entry(True)}), META).object("deal")
    assert access.create and access.read == "none" and access.field_level("amount") == "edit"


def test_admins_may_do_everything() -> None:
    perms = permissions_for(Actor(user_id=1, is_admin=True), META)
    access = perms.object("deal")
    assert (access.create, access.read, access.edit, access.delete) == (True, "all", "all", "all")
    assert access.hidden_fields == frozenset() and access.read_only_fields == frozenset()
    assert perms.is_admin and perms.is_builder
    assert permissions_for(Actor.system(), META).object("ticket").delete == "all"


def test_answers_follow_renamed_and_new_fields_by_uid() -> None:
    actor = _actor({"obj_deal": _entry(False, "all", margin="hidden")})
    assert permissions_for(actor, META).object("deal").hidden_fields == {"margin"}
    renamed = _object("deal", "name", "amount", "profit")
    renamed.doc["fields"][2]["uid"] = "fld_deal_margin"  # same field, new name, one new field below
    renamed = ObjectDef({**renamed.doc, "fields": [*renamed.doc["fields"],
                                                   {"uid": "fld_new", "api_name": "notes", "type": "text"}]})
    later = Metadata(2, {"deal": renamed})
    access = permissions_for(actor, later).object("deal")
    assert access.hidden_fields == {"profit"} and access.field_level("notes") == "edit"


def test_answers_are_cached_per_grants_and_metadata_revision() -> None:
    actor = _actor({"obj_deal": _entry(False, "all")})
    first = permissions_for(actor, META).object("deal")
    assert permissions_for(actor, META).object("deal") is first
    assert permissions_for(actor, Metadata(2, {"deal": DEAL})).object("deal") is not first


def test_as_json_lists_objects_the_user_may_use_with_every_field() -> None:
    actor = _actor({"obj_deal": _entry(True, "own", margin="hidden")}, is_builder=True)
    shown = permissions_for(actor, META).as_json()
    assert shown == {"is_admin": False, "is_builder": True, "objects": {"deal": {
        "create": True, "read": "own", "edit": "none", "delete": "none",
        "fields": {"name": "edit", "amount": "edit", "margin": "hidden"}}}}


def test_a_fresher_sign_in_of_the_same_request_is_used() -> None:
    """Platform.snapshot re-reads an outdated sign-in and makes it the acting one; answers
    asked for with the actor the request began with use the fresh roles."""
    old = Actor(user_id=7, token_digest="d", verified_at=1, grants=Grants(({"obj_deal": _entry(False, "all")},)))
    fresh = Actor(user_id=7, token_digest="d", verified_at=2, grants=Grants())
    token = acting.set(fresh)
    try:
        assert permissions_for(old, META).object("deal").read == "none"
        assert permissions_for(old, META).actor is fresh
    finally:
        acting.reset(token)
    assert permissions_for(old, META).object("deal").read == "all"


def test_widest_helpers() -> None:
    assert widest_scope(["own", "none", "team"]) == "team" and widest_scope([]) == "none"
    assert widest_level(["read", "hidden"]) == "read" and widest_level([]) == "hidden"
    assert combine([], DEAL) == ObjectPermissions("deal", False, "none", "none", "none",
                                                  dict.fromkeys(("name", "amount", "margin"), "hidden"), "hidden")
