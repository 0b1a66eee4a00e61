"""An SLA metric's *achieved when* as a builder picks it: the choices an object's fields offer
(by label), the formula each writes, a stored formula read back as the pick it is (or kept as
a formula), and the picks that cannot work explained — by the picker and by the policy check."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.formula import SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.rules import achievement
from tessera.rules.sla import sla_policy_problems

TICKET = ObjectDef({"uid": "obj_ticket", "api_name": "ticket", "label": "Ticket", "fields": [
    {"uid": "t.subject", "api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"uid": "t.opened", "api_name": "opened_on", "label": "Opened on", "type": "date", "default": "TODAY()"},
    {"uid": "t.first", "api_name": "first_replied_at", "label": "First replied at", "type": "datetime"},
    {"uid": "t.status", "api_name": "status", "label": "Status", "type": "select", "default": "new", "options": [
        {"value": "new", "label": "New"}, {"value": "waiting", "label": "Waiting on customer"},
        {"value": "solved", "label": "Solved"}, {"value": "closed", "label": "Closed"}]},
    {"uid": "t.awaiting", "api_name": "awaiting_agent", "label": "Awaiting agent", "type": "boolean"},
    {"uid": "t.priority", "api_name": "priority", "label": "Priority", "type": "text"}]})
SCHEMA = SimpleSchema([TICKET])


def test_the_fields_offer_their_choices_by_label() -> None:
    offered = {c["value"]: (c["label"], c["group"]) for c in achievement.offered(TICKET)}
    assert offered == {
        "filled:opened_on": ("Opened on is filled in", "A date is filled in"),
        "filled:first_replied_at": ("First replied at is filled in", "A date is filled in"),
        "one_of:status": ("Status is one of …", "A choice is reached"),
        "ticked:awaiting_agent": ("Awaiting agent is ticked", "A checkbox"),
        "unticked:awaiting_agent": ("Awaiting agent is not ticked", "A checkbox")}
    status = next(c for c in achievement.offered(TICKET) if c["kind"] == "one_of")
    assert [o["label"] for o in status["options"]] == ["New", "Waiting on customer", "Solved", "Closed"]


@pytest.mark.parametrize(("choice", "formula"), [
    ({"kind": ""}, ""),
    ({"kind": "filled", "field": "first_replied_at"}, "NOT ISBLANK(first_replied_at)"),
    ({"kind": "one_of", "field": "status", "values": ["solved"]}, 'status = "solved"'),
    ({"kind": "one_of", "field": "status", "values": ["closed", "solved"]}, 'OR(status = "solved", status = "closed")'),
    ({"kind": "unticked", "field": "awaiting_agent"}, "awaiting_agent = FALSE"),
    ({"kind": "ticked", "field": "awaiting_agent"}, "awaiting_agent = TRUE"),
])
def test_each_pick_writes_its_formula_and_reads_back_as_itself(choice: dict[str, Any], formula: str) -> None:
    assert achievement.formula_of(TICKET, choice) == formula
    read = achievement.choice_of(TICKET, formula)
    assert achievement.formula_of(TICKET, read) == formula


@pytest.mark.parametrize("source", ["NOT(ISBLANK(first_replied_at))", 'status = "solved" OR status = "closed"',
                                    "awaiting_agent = FALSE"])
def test_stored_formulas_of_the_usual_shapes_are_read_as_picks(source: str) -> None:
    assert achievement.choice_of(TICKET, source)["kind"] in ("filled", "one_of", "unticked")


@pytest.mark.parametrize("source", ['status = "gone"', "LEN(subject) > 3", 'NOT ISBLANK(subject)',
                                    'OR(status = "solved", awaiting_agent = TRUE)', "((("])
def test_anything_else_stays_a_formula(source: str) -> None:
    assert achievement.choice_of(TICKET, source) == {"kind": "formula", "formula": source}


@pytest.mark.parametrize("choice", [{"kind": "one_of", "field": "status", "values": []},
                                    {"kind": "filled", "field": "subject"}, {"kind": "filled", "field": "nope"},
                                    {"kind": "ticked", "field": "status"}])
def test_an_incomplete_or_wrong_pick_is_refused_in_words(choice: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"Tick the status options|Pick what counts"):
        achievement.formula_of(TICKET, choice)


def test_picks_that_cannot_work_are_explained() -> None:
    def why(metric: str, **choice: Any) -> str:
        return " ".join(achievement.mistakes(TICKET, metric, choice, status_field="status", paused=["waiting"]))

    assert why("first_reply", kind="filled", field="first_replied_at") == ""
    assert "has a default" in why("first_reply", kind="filled", field="opened_on")
    assert "stays filled in after the first reply" in why("next_reply", kind="filled", field="first_replied_at")
    assert "New is the status a new record starts with" in why("resolution", kind="one_of", field="status",
                                                              values=["new", "solved"])
    assert why("resolution", kind="one_of", field="status", values=["solved"]) == ""
    assert "Waiting on customer also pauses the clocks" in why("resolution", kind="one_of", field="status",
                                                              values=["solved", "waiting"])
    assert "starts with Awaiting agent not ticked" in why("first_reply", kind="unticked", field="awaiting_agent")
    assert why("next_reply", kind="unticked", field="awaiting_agent") == ""


def test_the_policy_check_refuses_what_the_picker_explains() -> None:
    policy = {"api_name": "p", "label": "P", "object": "ticket", "calendar": "office",
              "pause_when_status": ["waiting"],
              "metrics": [{"metric": "first_reply", "targets": {"default": "PT2H"},
                           "achieved_when": "NOT ISBLANK(first_replied_at)"},
                          {"metric": "resolution", "targets": {"default": "PT8H"},
                           "achieved_when": 'OR(status = "waiting", status = "solved")'}]}
    problems = sla_policy_problems(policy, SCHEMA, calendars={"office"})
    assert [(p.field, p.code) for p in problems] == [("/metrics/1/achieved_when", "achieved_at_once")]
    assert "Waiting on customer also pauses the clocks" in problems[0].message
    policy["metrics"][1]["achieved_when"] = 'status = "solved"'
    assert sla_policy_problems(policy, SCHEMA, calendars={"office"}) == []
