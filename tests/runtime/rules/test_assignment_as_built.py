"""Assignment rules as the rule builder makes them (#17 defect 3), on SQLite and PostgreSQL:
a person creating leads (whose records default to being theirs) gets them spread over the
region's team; a pick made by the creator stands; editing a lead never takes it from its
owner, moving it to the other region does; by attribute matches a select's label; a team
that does not exist is refused and the builder is told who takes turns and who is left out."""

from __future__ import annotations

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "phone", "label": "Phone", "type": "text"},
    {"api_name": "region", "label": "Region", "type": "select",
     "options": [{"value": "east", "label": "East"}, {"value": "west", "label": "West"},
                 {"value": "north", "label": "North"}]}]}



def _people(rt: Platform) -> dict[str, int]:
    ids = {}
    for email, name in (("ann@x.com", "Ann"), ("bob@x.com", "Bob"), ("cat@x.com", "Cat"), ("dan@x.com", "Dan")):
        ids[name] = int(rt.users.accounts.add(SYSTEM, {"email": email, "name": name, "password": "a-long-password"})
                        ["id"])
    rt.users.teams.create(SYSTEM, {"api_name": "east", "label": "East", "members": ["ann@x.com", "bob@x.com"]})
    rt.users.teams.create(SYSTEM, {"api_name": "west", "label": "West", "members": ["cat@x.com", "dan@x.com"]})
    rt.users.teams.create(SYSTEM, {"api_name": "sales", "label": "Sales",
                                   "members": ["ann@x.com", "bob@x.com", "cat@x.com", "dan@x.com"]})
    return ids


def _regional(rt: Platform) -> None:
    # What the builder saves for "Region is East", team East, round robin, fills Owner.
    for region in ("east", "west"):
        rt.documents.create(SYSTEM, "rules", {
            "api_name": f"assign_{region}", "label": f"Assign {region}", "object": "lead", "kind": "assignment",
            "active": True, "order": 0, "trigger": {"on": "before_save"}, "condition": f'region = "{region}"',
            "assignment": {"team": region, "strategy": "round_robin"}})


def test_leads_a_person_creates_go_to_the_regions_reps_in_turn(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    people = _people(rt)
    _regional(rt)
    me = rt.users.actor_for_user(1)
    owners = [rt.records.create(me, "lead", {"name": f"L{i}", "region": region})["owner"]
              for i, region in enumerate(["east", "east", "west", "east", "west", "west"])]
    assert owners == [people["Ann"], people["Bob"], people["Cat"], people["Ann"], people["Dan"], people["Cat"]]
    # No region: no rule's condition holds, the lead stays with whoever created it.
    assert rt.records.create(me, "lead", {"name": "nowhere"})["owner"] == 1
    # Someone who picks the owner when creating keeps that choice.
    assert rt.records.create(me, "lead", {"name": "mine", "region": "east", "owner": people["Dan"]})["owner"] \
        == people["Dan"]
    runs = rt.rules.runs(me, "lead", 1)
    assert [(r["rule"], r["outcome"]) for r in runs] == [("assign_east", "fired")]


def test_an_edit_keeps_the_owner_and_a_move_to_another_region_reassigns(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    people = _people(rt)
    _regional(rt)
    me = rt.users.actor_for_user(1)
    lead = rt.records.create(me, "lead", {"name": "L", "region": "east"})
    assert lead["owner"] == people["Ann"]
    for phone in ("1", "2", "3"):
        assert rt.records.update(me, "lead", lead["id"], {"phone": phone}, None)["owner"] == people["Ann"]
    # The owner changed by hand stays, even on a lead the rule covers.
    assert rt.records.update(me, "lead", lead["id"], {"owner": people["Bob"]}, None)["owner"] == people["Bob"]
    # Moving it West newly meets the West rule: a West rep gets it.
    assert rt.records.update(me, "lead", lead["id"], {"region": "west"}, None)["owner"] == people["Cat"]


def test_by_attribute_finds_the_team_a_select_names_by_its_label(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {**LEAD, "fields": [
        *LEAD["fields"][:2], {"api_name": "region", "label": "Region", "type": "select",
                              "options": [{"value": "e", "label": "East"}, {"value": "w", "label": "WEST"},
                                          {"value": "n", "label": "North"}]}]})
    people = _people(rt)
    rule = {"api_name": "by_region", "label": "By region", "object": "lead", "kind": "assignment",
            "trigger": {"on": "before_save"},
            "assignment": {"team": "sales", "strategy": "by_attribute", "attribute": "region"}}
    rt.documents.create(SYSTEM, "rules", rule)
    me = rt.users.actor_for_user(1)
    owners = [rt.records.create(me, "lead", {"name": f"L{i}", "region": r})["owner"]
              for i, r in enumerate(["e", "w", "e", "w", "n"])]
    assert owners == [people["Ann"], people["Cat"], people["Bob"], people["Dan"], 1]
    # The region a by-attribute rule reads changes: the lead goes to the other team; a
    # change to anything else leaves it where it is.
    moved = rt.records.update(me, "lead", 1, {"region": "w"}, None)
    assert moved["owner"] == people["Cat"]
    assert rt.records.update(me, "lead", 1, {"phone": "1"}, None)["owner"] == people["Cat"]
    notes = rt.rules.assignment_notes(rule)
    assert [(n["field"], n["kind"]) for n in notes] == [("/assignment/attribute", "info"),
                                                       ("/assignment/attribute", "warning")]
    assert notes[0]["message"] == "East → Ann and Bob; WEST → Cat and Dan."
    assert notes[1]["message"] == "Left as they are: North (no team is named North)."


def test_a_rule_naming_no_team_is_refused_and_an_empty_team_is_pointed_out(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, LEAD)
    _people(rt)
    rule = {"api_name": "spread", "label": "Spread", "object": "lead", "kind": "assignment",
            "trigger": {"on": "before_save"}, "assignment": {"team": "emea", "strategy": "round_robin"}}
    with pytest.raises(InvalidInput) as refused:
        rt.documents.create(SYSTEM, "rules", rule)
    assert [(p.field, p.message) for p in refused.value.errors] == [
        ("/assignment/team", "there is no team named 'emea' (teams: East, Sales, West)")]
    with pytest.raises(InvalidInput) as refused:
        rt.documents.create(SYSTEM, "rules", {**rule, "assignment": {
            "team": "sales", "strategy": "by_attribute", "attribute": "region", "member_attribute": "territory"}})
    assert [p.field for p in refused.value.errors] == ["/assignment/member_attribute"]
    rt.users.teams.create(SYSTEM, {"api_name": "emea", "label": "EMEA"})
    assert rt.rules.assignment_notes({**rule}) == [
        {"field": "/assignment/team", "kind": "warning",
         "message": "EMEA has no active members: records stay as they are until someone joins it."}]
    assert rt.rules.assignment_notes({**rule, "assignment": {"team": "east", "strategy": "round_robin"}}) == [
        {"field": "/assignment/team", "kind": "info", "message": "Ann and Bob take turns."}]
    rt.documents.create(SYSTEM, "rules", rule)  # saved: it works once someone joins EMEA
