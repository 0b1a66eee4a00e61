"""Rule documents checked against the metadata (every formula type-checked, every field of
the right kind, triggers and kinds consistent, problems at JSON pointers), parsed into
Rule dataclasses, and matched against saves; schedule and date-relative times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from tessera.formula import SimpleSchema
from tessera.meta.model import ObjectDef
from tessera.rules.definition import (
    Rule,
    RuleFormula,
    Trigger,
    date_relative_runs,
    matches_trigger,
    next_run,
    ordered,
    parse_rule,
    rule_fields,
    rule_formulas,
    rule_problems,
)


def _obj(name: str, label: str, fields: list[dict[str, Any]]) -> ObjectDef:
    return ObjectDef({"uid": f"obj_{name}", "api_name": name, "label": label,
                      "fields": [{"uid": f"{name}.{f['api_name']}", "label": f["api_name"].replace("_", " ").title(),
                                  **f} for f in fields]})


ACCOUNT = _obj("account", "Account", [
    {"api_name": "name", "type": "text"},
    {"api_name": "vip", "type": "boolean"},
    {"api_name": "tier", "type": "select", "options": [{"value": "gold"}, {"value": "silver"}]},
])
ORDER = _obj("order", "Order", [
    {"api_name": "order_date", "type": "date"},
    {"api_name": "amount", "type": "currency"},
    {"api_name": "account", "type": "lookup", "target": "account", "related_name": "orders"},
])
LEAD = _obj("lead", "Lead", [
    {"api_name": "name", "type": "text"},
    {"api_name": "email", "type": "email"},
    {"api_name": "status", "type": "select", "options": [{"value": v} for v in ("new", "working", "qualified")]},
    {"api_name": "region", "type": "text"},
    {"api_name": "score", "type": "integer"},
    {"api_name": "budget", "type": "currency"},
    {"api_name": "reviewer", "type": "user"},
    {"api_name": "account", "type": "lookup", "target": "account"},
    {"api_name": "contract_end", "type": "date"},
    {"api_name": "last_call", "type": "datetime"},
    {"api_name": "hot", "type": "boolean"},
    {"api_name": "double_budget", "type": "formula", "expression": "budget * 2", "formula_type": "number"},
])
SCHEMA = SimpleSchema([ACCOUNT, ORDER, LEAD])


def rule(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"api_name": "qualify", "label": "Qualify", "object": "lead", "kind": "automation",
                           "trigger": {"on": "after_save", "when": "created_or_updated"},
                           "actions": [{"action": "notify", "to": "owner", "message": "Hot lead"}]}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def problems_by_path(doc: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {p.field: p.message for p in rule_problems(doc, SCHEMA, **kwargs)}


# -- valid rules of every kind ------------------------------------------------------------------

VALID = {
    "before_save_sets_and_refuses": rule(
        trigger={"on": "before_save", "when": "updated", "changed": ["status", "budget"]},
        condition='status = "qualified" AND ISCHANGED(status)',
        actions=[{"action": "set_fields", "set": {"hot": "budget > 10000", "reviewer": "$user", "owner": "owner",
                                                  "status": '"working"', "account": "account"}},
                 {"action": "refuse", "message": "A qualified lead needs a budget", "field": "budget"}]),
    "after_save_registry_actions": rule(condition="hot"),
    "schedule": rule(trigger={"on": "schedule", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris"},
                     condition='status = "new" AND created_at < NOW() - DURATION(7 * 24)'),
    "date_relative": rule(trigger={"on": "date_relative", "field": "contract_end",
                                   "offsets": [{"days": -90}, {"days": -60}], "at": "09:00"}),
    "event": rule(trigger={"on": "event", "event": "sla.breach", "source": "gold"}),
    "round_robin": rule(kind="assignment", actions=None, trigger={"on": "before_save", "when": "created"},
                        assignment={"team": "east", "strategy": "round_robin"}),
    "least_open": rule(kind="assignment", actions=None,
                       assignment={"field": "reviewer", "team": "east", "strategy": "least_open",
                                   "open_condition": 'status <> "qualified"'}),
    "by_attribute": rule(kind="assignment", actions=None,
                         assignment={"team": "sales", "strategy": "by_attribute", "attribute": "region",
                                     "member_attribute": "territory"}),
    "scoring": rule(kind="scoring", actions=None, trigger={"on": "before_save"},
                    scoring={"field": "score", "rules": [{"when": "budget > 10000", "points": 20},
                                                          {"when": 'RIGHT(email, 4) = ".com"', "points": -5}]}),
    "segment": rule(object="account", kind="segment", actions=None,
                    trigger={"on": "schedule", "cron": "0 2 * * *"},
                    segment={"condition": "COUNT(orders, orders.order_date > TODAY() - 90) >= 3", "field": "vip"}),
}


@pytest.mark.parametrize("name", list(VALID))
def test_a_valid_rule_has_no_problems(name: str) -> None:
    assert rule_problems(VALID[name], SCHEMA) == []


# -- problems -------------------------------------------------------------------------------------


def test_a_condition_must_be_a_boolean_and_its_error_points_at_the_character() -> None:
    problems = rule_problems(rule(condition="budget + 1"), SCHEMA)
    assert [p.field for p in problems] == ["/condition"]
    assert "must give a boolean" in problems[0].message and problems[0].code == "formula"
    problem = rule_problems(rule(condition="statuz = 1"), SCHEMA)[0]
    assert 'unknown field "statuz"' in problem.message and problem.detail["formula"]["column"] == 1  # type: ignore[index]


def test_before_save_rules_only_set_fields_or_refuse() -> None:
    doc = rule(trigger={"on": "before_save"}, actions=[{"action": "send_email", "to": "owner"}])
    assert "run 'send_email' after the save" in problems_by_path(doc)["/actions/0/action"]


def test_only_before_save_rules_refuse() -> None:
    doc = rule(actions=[{"action": "refuse", "message": "No"}])
    assert problems_by_path(doc) == {"/actions/0/action": "only a before-save rule can refuse a save"}


def test_set_fields_values_must_fit_their_fields() -> None:
    doc = rule(trigger={"on": "before_save"}, actions=[{"action": "set_fields", "set": {
        "budget": '"a lot"', "reviewer": "account", "status": '"lost"', "nope": "1", "double_budget": "2",
        "created_at": "NOW()", "account": "$user", "score": "budget / 1000"}}])
    by_path = problems_by_path(doc)
    assert "must give a number, but it gives a text" in by_path["/actions/0/set/budget"]
    assert "Reviewer takes a record of User; the formula gives a record of Account" in \
        by_path["/actions/0/set/reviewer"]
    assert "'lost' is not an option of Status" in by_path["/actions/0/set/status"]
    assert "no field named 'nope'" in by_path["/actions/0/set/nope"]
    assert "cannot set it" in by_path["/actions/0/set/double_budget"]
    assert "cannot set it" in by_path["/actions/0/set/created_at"]
    assert "Account takes a record of Account; the formula gives a record of User" in by_path["/actions/0/set/account"]
    assert "/actions/0/set/score" not in by_path


def test_the_assignment_field_must_be_a_user_field() -> None:
    doc = rule(kind="assignment", actions=None, assignment={"field": "region", "team": "east",
                                                            "strategy": "round_robin"})
    assert "assignment fills a user field" in problems_by_path(doc)["/assignment/field"]


def test_assignment_options_belong_to_their_strategy() -> None:
    doc = rule(kind="assignment", actions=None, assignment={
        "team": "east", "strategy": "round_robin", "open_condition": "TRUE", "member_attribute": "x"})
    by_path = problems_by_path(doc)
    assert "least_open" in by_path["/assignment/open_condition"]
    assert "by_attribute" in by_path["/assignment/member_attribute"]


def test_by_attribute_needs_an_existing_record_field() -> None:
    missing = rule(kind="assignment", actions=None, assignment={"team": "east", "strategy": "by_attribute"})
    assert "'attribute' is a required property" in problems_by_path(missing)["/assignment"]
    unknown = rule(kind="assignment", actions=None, assignment={"team": "east", "strategy": "by_attribute",
                                                                "attribute": "regoin"})
    assert "did you mean 'region'?" in problems_by_path(unknown)["/assignment/attribute"]


def test_least_open_condition_is_a_boolean_over_the_object() -> None:
    doc = rule(kind="assignment", actions=None, assignment={"team": "east", "strategy": "least_open",
                                                            "open_condition": "status"})
    assert "must give a boolean" in problems_by_path(doc)["/assignment/open_condition"]


def test_the_score_goes_into_a_number_field_and_points_are_integers() -> None:
    doc = rule(kind="scoring", actions=None, scoring={"field": "status", "rules": [{"when": "hot", "points": 5}]})
    assert "a score goes into a number field" in problems_by_path(doc)["/scoring/field"]
    doc = rule(kind="scoring", actions=None, scoring={"field": "score", "rules": [{"when": "hot", "points": 1.5}]})
    assert "/scoring/rules/0/points" in problems_by_path(doc)
    doc = rule(kind="scoring", actions=None, scoring={"field": "score", "rules": [{"when": "score", "points": 1}]})
    assert "must give a boolean" in problems_by_path(doc)["/scoring/rules/0/when"]


def test_a_segment_is_a_boolean_condition_kept_in_a_checkbox() -> None:
    doc = rule(object="account", kind="segment", actions=None,
               segment={"condition": "COUNT(orders)", "field": "name"})
    by_path = problems_by_path(doc)
    assert "must give a boolean" in by_path["/segment/condition"]
    assert "checkbox" in by_path["/segment/field"]
    changed = rule(object="account", kind="segment", actions=None, segment={"condition": "ISCHANGED(vip)"})
    assert "ISCHANGED" in problems_by_path(changed)["/segment/condition"]


def test_a_segment_runs_as_records_change_or_on_a_schedule_and_has_one_condition() -> None:
    before = rule(object="account", kind="segment", actions=None, trigger={"on": "before_save"},
                  condition="TRUE", segment={"condition": "COUNT(orders) > 2"})
    by_path = problems_by_path(before)
    assert "follows its records" in by_path["/trigger/on"] and "does not run before save" in by_path["/trigger/on"]
    assert "/segment/condition" in by_path["/condition"]
    fixed = {k: v for k, v in before.items() if k != "condition"}
    assert problems_by_path({**fixed, "trigger": {"on": "schedule", "cron": "0 6 * * *"}}) == {}


def test_a_date_relative_trigger_needs_a_date_field() -> None:
    doc = rule(trigger={"on": "date_relative", "field": "region", "offsets": [{"days": 1}, {"hours": 24}]})
    by_path = problems_by_path(doc)
    assert "needs a date or date-time field" in by_path["/trigger/field"]
    assert "the same offset is listed twice" in by_path["/trigger/offsets"]
    at_on_datetime = rule(trigger={"on": "date_relative", "field": "last_call", "offsets": [{"days": 7}],
                                   "at": "09:00"})
    assert "/trigger/at" in problems_by_path(at_on_datetime)
    assert "'offsets' is a required property" in problems_by_path(
        rule(trigger={"on": "date_relative", "field": "contract_end"}))["/trigger"]


@pytest.mark.parametrize("cron", ["0 8 * *", "61 8 * * *", "0 8 * * * 30", "every day"])
def test_a_schedule_needs_five_valid_cron_fields(cron: str) -> None:
    assert "five cron fields" in problems_by_path(rule(trigger={"on": "schedule", "cron": cron}))["/trigger/cron"]


def test_trigger_options_must_belong_to_the_trigger() -> None:
    doc = rule(trigger={"on": "after_save", "cron": "0 8 * * *", "timezone": "Mars/Olympus",
                        "changed": ["stauts"]})
    by_path = problems_by_path(doc)
    assert "'cron' does not apply to a after save trigger" in by_path["/trigger/cron"]
    assert "/trigger/timezone" in by_path
    assert "did you mean 'status'?" in by_path["/trigger/changed/0"]
    created = rule(trigger={"on": "after_save", "when": "created", "changed": ["status"]})
    assert "changed applies to updates" in problems_by_path(created)["/trigger/changed"]
    bad_zone = rule(trigger={"on": "schedule", "cron": "0 8 * * *", "timezone": "Mars/Olympus"})
    assert "unknown time zone" in problems_by_path(bad_zone)["/trigger/timezone"]


def test_change_functions_only_apply_to_save_triggers() -> None:
    doc = rule(trigger={"on": "schedule", "cron": "0 8 * * *"}, condition="ISCHANGED(status)")
    assert "only have a meaning when a record is saved" in problems_by_path(doc)["/condition"]


def test_each_kind_needs_its_section_and_no_other() -> None:
    assert "'scoring' is a required property" in problems_by_path(rule(kind="scoring"))["/"]
    doc = rule(segment={"condition": "hot"})
    assert "only a segment rule has a segment section" in problems_by_path(doc)["/segment"]
    assert "at least one action" in problems_by_path(rule(actions=[]))["/actions"]
    assert "'actions' is a required property" in problems_by_path(rule(actions=None))["/"]


def test_an_unknown_object_stops_the_field_checks() -> None:
    problems = rule_problems(rule(object="prospect", condition="nope"), SCHEMA)
    assert [(p.field, p.code) for p in problems] == [("/object", "unknown_object")]


def test_schema_problems_come_alone_and_first() -> None:
    doc = rule(kind="workflow", trigger={"on": "on_save"}, extra=1, condition="nope")
    by_path = problems_by_path(doc)
    assert set(by_path) == {"/", "/kind", "/trigger/on"}
    assert "extra" in by_path["/"]


def test_formula_errors_can_be_left_to_the_caller() -> None:
    doc = rule(condition="nope", trigger={"on": "before_save"},
               actions=[{"action": "set_fields", "set": {"status": '"lost"', "budget": "1 +"}},
                        {"action": "send_email"}])
    by_path = problems_by_path(doc, check_formulas=False)
    assert set(by_path) == {"/actions/0/set/status", "/actions/1/action"}


def test_rule_formulas_lists_each_formula_with_its_type() -> None:
    assert rule_formulas(VALID["before_save_sets_and_refuses"], SCHEMA) == [
        RuleFormula("/condition", "lead", 'status = "qualified" AND ISCHANGED(status)', "boolean"),
        RuleFormula("/actions/0/set/hot", "lead", "budget > 10000", "boolean"),
        RuleFormula("/actions/0/set/reviewer", "lead", "$user", "record"),
        RuleFormula("/actions/0/set/owner", "lead", "owner", "record"),
        RuleFormula("/actions/0/set/status", "lead", '"working"', "text"),
        RuleFormula("/actions/0/set/account", "lead", "account", "record"),
    ]
    assert [f.path for f in rule_formulas(VALID["scoring"])] == ["/scoring/rules/0/when", "/scoring/rules/1/when"]
    assert [f.path for f in rule_formulas(VALID["least_open"])] == ["/assignment/open_condition"]
    assert [f.path for f in rule_formulas(VALID["segment"])] == ["/segment/condition"]


# -- parsing and matching ---------------------------------------------------------------------------


def test_parse_rule_gives_the_runtime_its_dataclasses() -> None:
    parsed = parse_rule(VALID["before_save_sets_and_refuses"])
    assert parsed.trigger == Trigger(on="before_save", when="updated", changed=frozenset({"status", "budget"}))
    assert parsed.active and parsed.order == 0 and parsed.kind == "automation"
    assert [a.name for a in parsed.actions] == ["set_fields", "refuse"]
    assert parsed.actions[0].set["hot"] == "budget > 10000"
    assert parsed.actions[1].params["field"] == "budget"
    assignment = parse_rule(VALID["by_attribute"]).assignment
    assert assignment is not None and (assignment.field, assignment.member_attribute) == ("owner", "territory")
    scoring = parse_rule(VALID["scoring"]).scoring
    assert scoring is not None and scoring.total([True, True]) == 15 and scoring.total([False, True]) == -5
    segment = parse_rule(VALID["segment"]).segment
    assert segment is not None and segment.field == "vip"
    dated = parse_rule(VALID["date_relative"]).trigger
    assert dated.offsets == (timedelta(days=-90), timedelta(days=-60)) and dated.at == time(9)


def save_rule(when: str = "created_or_updated", changed: list[str] | None = None, on: str = "after_save",
              active: bool = True) -> Rule:
    trigger: dict[str, Any] = {"on": on, "when": when}
    if changed:
        trigger["changed"] = changed
    return parse_rule(rule(trigger=trigger, active=active))


@pytest.mark.parametrize(("when", "event", "expected"), [
    ("created", "created", True), ("created", "updated", False),
    ("updated", "created", False), ("updated", "updated", True),
    ("created_or_updated", "created", True), ("created_or_updated", "updated", True),
])
def test_a_save_rule_matches_the_saves_it_is_for(when: str, event: str, expected: bool) -> None:
    assert matches_trigger(save_rule(when), event, set()) is expected


def test_changed_fields_filter_updates_but_not_creations() -> None:
    watched = save_rule(changed=["status", "budget"])
    assert matches_trigger(watched, "updated", {"budget", "name"})
    assert not matches_trigger(watched, "updated", {"name"})
    assert matches_trigger(watched, "created", set())


def test_inactive_and_non_save_rules_never_match_a_save() -> None:
    assert not matches_trigger(save_rule(active=False), "created", set())
    assert not matches_trigger(parse_rule(VALID["schedule"]), "updated", {"status"})
    with pytest.raises(ValueError, match="'created' or 'updated'"):
        matches_trigger(save_rule(), "deleted", set())


def test_rules_run_by_order_then_name() -> None:
    rules = [parse_rule(rule(api_name=n, order=o)) for n, o in (("b", 10), ("a", 10), ("c", 5))]
    assert [r.api_name for r in ordered(rules)] == ["c", "a", "b"]


def test_a_schedule_fires_at_local_time_across_a_clock_change() -> None:
    trigger = parse_rule(VALID["schedule"]).trigger  # 08:00 Paris on weekdays
    assert next_run(trigger, datetime(2026, 3, 27, 7, 0, tzinfo=UTC)) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert next_run(trigger, datetime(2026, 3, 26, 6, 0, tzinfo=UTC)) == datetime(2026, 3, 26, 7, 0, tzinfo=UTC)


def test_date_relative_runs_before_a_date_at_its_local_time() -> None:
    trigger = Trigger(on="date_relative", field="contract_end", offsets=(timedelta(days=-90), timedelta(days=-60)),
                      at=time(9), timezone="Europe/Paris")
    assert date_relative_runs(trigger, date(2026, 12, 31)) == [datetime(2026, 10, 2, 7, 0, tzinfo=UTC),
                                                                datetime(2026, 11, 1, 8, 0, tzinfo=UTC)]
    stamp = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert date_relative_runs(Trigger(on="date_relative", offsets=(timedelta(hours=-2),)), stamp) == \
        [datetime(2026, 6, 1, 10, 0, tzinfo=UTC)]
    assert date_relative_runs(trigger, None) == []


def test_rule_fields_lists_the_fields_named_outside_formulas() -> None:
    assert rule_fields(VALID["before_save_sets_and_refuses"]) == [
        ("/trigger/changed/0", "status"), ("/trigger/changed/1", "budget"), ("/actions/0/set/hot", "hot"),
        ("/actions/0/set/reviewer", "reviewer"), ("/actions/0/set/owner", "owner"),
        ("/actions/0/set/status", "status"), ("/actions/0/set/account", "account"), ("/actions/1/field", "budget"),
    ]
    assert rule_fields(VALID["by_attribute"]) == [("/assignment/field", "owner"), ("/assignment/attribute", "region")]
    assert rule_fields(VALID["date_relative"]) == [("/trigger/field", "contract_end")]
