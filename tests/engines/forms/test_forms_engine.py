"""The forms engine on its own, without a database: layouts, conditions, choosing a form,
checks of a submission, the JSON Schema of a form, and rewrites of the names a form holds."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import jsonschema

from tessera.forms import (
    choose,
    coerce_values,
    form_problems,
    formula_expectations,
    generated,
    json_schema,
    parse,
    state,
    submission_problems,
    unchanged,
)
from tessera.formula import SimpleSchema, check, evaluate
from tessera.meta import dependencies as deps
from tessera.meta.documents import normalize_object
from tessera.meta.model import ObjectDef
from tessera.runtime.metadata.documents import FIELD_VIA, FORMULA_VIA

ACCOUNT = ObjectDef(normalize_object({"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "tier", "label": "Tier", "type": "select", "options": [{"value": "gold"}, {"value": "silver"}]},
]}))
DEAL = ObjectDef(normalize_object({"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "lost_reason", "label": "Lost reason", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
    {"api_name": "number", "label": "Number", "type": "autonumber"},
    {"api_name": "big", "label": "Big", "type": "formula", "expression": "amount > 1000", "formula_type": "boolean"},
]}))
SCHEMA = SimpleSchema([ACCOUNT, DEAL])

FORM = {
    "api_name": "deal_main", "label": "Deal", "object": "deal",
    "tabs": [{"label": "Main", "sections": [{"label": "Deal", "columns": [
        {"fields": [{"field": "name"}, {"field": "amount", "help": "Net"}, {"field": "stage", "default": "new"}]},
        {"fields": [
            {"field": "lost_reason", "visible_if": 'stage = "lost"', "required_if": 'stage = "lost"'},
            {"field": "account", "read_only": True},
            {"field": "number"},
        ]},
    ]}]}],
    "buttons": [{"label": "Escalate", "action": "escalate", "visible_if": "big"}],
}


def run(source: str, record: Mapping[str, Any]) -> Any:
    return evaluate(check(source, DEAL, SCHEMA), record)


def test_a_document_parses_into_tabs_sections_columns_and_placements() -> None:
    form = parse(FORM)
    assert form.tabbed and [t.label for t in form.tabs] == ["Main"]
    assert [p.field for p in form.placements] == ["name", "amount", "stage", "lost_reason", "account", "number"]
    lost = form.placement("lost_reason")
    assert lost is not None and lost.path == "/tabs/0/sections/0/columns/1/fields/0"
    assert [(f.path, f.role) for f in form.formulas()] == [
        ("/tabs/0/sections/0/columns/1/fields/0/visible_if", "condition"),
        ("/tabs/0/sections/0/columns/1/fields/0/required_if", "condition"),
        ("/buttons/0/visible_if", "condition")]
    untabbed = parse({"api_name": "x", "label": "X", "object": "deal", "sections": FORM["tabs"][0]["sections"]})
    assert not untabbed.tabbed and untabbed.placement("stage").path == "/sections/0/columns/0/fields/2"


def test_an_object_without_a_form_gets_one_generated_from_its_fields() -> None:
    form = generated(DEAL, hidden={"amount"})
    assert form.generated and form.api_name is None
    assert [p.field for p in form.placements] == ["name", "stage", "lost_reason", "account", "number", "big"]


def test_conditions_decide_visible_and_required_for_the_values_at_hand() -> None:
    form = parse(FORM)
    new = state(form, DEAL, {"stage": "new"}, run)
    assert new.fields["lost_reason"].as_json() == {"visible": False, "required": False, "read_only": False}
    lost = state(form, DEAL, {"stage": "lost"}, run)
    assert lost.fields["lost_reason"].as_json() == {"visible": True, "required": True, "read_only": False}
    assert lost.fields["name"].required  # the field itself is required
    assert lost.fields["account"].read_only and lost.fields["number"].read_only  # the form, the platform
    assert state(form, DEAL, {"stage": "new"}, run, locked=frozenset({"amount"})).fields["amount"].read_only
    assert "amount" not in state(form, DEAL, {}, run, hidden=frozenset({"amount"})).fields
    assert new.buttons == {"escalate": False}
    assert state(form, DEAL, {"big": True}, run).buttons == {"escalate": True}


def test_a_condition_that_cannot_run_shows_the_field_and_does_not_require_it() -> None:
    broken = copy.deepcopy(FORM)
    broken["tabs"][0]["sections"][0]["columns"][1]["fields"][0]["visible_if"] = "gone = 1"
    broken["tabs"][0]["sections"][0]["columns"][1]["fields"][0]["required_if"] = "gone = 2"
    now = state(parse(broken), DEAL, {"stage": "lost"}, run)
    assert now.fields["lost_reason"].as_json() == {"visible": True, "required": False, "read_only": False}
    assert now.broken == ("/tabs/0/sections/0/columns/1/fields/0/visible_if",
                          "/tabs/0/sections/0/columns/1/fields/0/required_if")


def test_the_first_fitting_form_by_priority_is_chosen_default_forms_last() -> None:
    base = {"object": "deal", "sections": [{"columns": [{"fields": [{"field": "name"}]}]}]}
    fallback = parse({**base, "api_name": "fallback", "label": "F", "default": True})
    support = parse({**base, "api_name": "support", "label": "S", "roles": ["support"], "priority": 1})
    lost = parse({**base, "api_name": "lost", "label": "L", "applies_if": 'stage = "lost"', "priority": 2})
    forms = [fallback, lost, support]
    assert choose(forms, {"stage": "lost"}, run, frozenset({"support"})) is support
    assert choose(forms, {"stage": "lost"}, run) is lost
    assert choose(forms, {"stage": "new"}, run) is fallback
    assert choose([support], {}, run, frozenset({"sales"})) is None


def test_a_submission_may_only_write_what_the_form_shows_as_writable() -> None:
    form = parse(FORM)
    values = {"lost_reason": "price", "account": 3, "big": True, "amount": "abc", "nonsense": 1}
    typed, bad = coerce_values(DEAL, values)
    now = state(form, DEAL, {"stage": "new", **typed}, run)
    problems = {p.field: p.code for p in submission_problems(form, DEAL, values, now, typed, bad)}
    assert problems == {"lost_reason": "hidden", "account": "read_only", "big": "not_on_form",
                        "amount": "invalid_value", "nonsense": "not_on_form", "name": "required"}


def test_required_if_applies_to_the_record_as_it_would_be_saved() -> None:
    form = parse(FORM)
    record = {"name": "Deal", "stage": "lost"}
    now = state(form, DEAL, record, run)
    [problem] = submission_problems(form, DEAL, {"stage": "lost"}, now, record)
    assert (problem.field, problem.code, problem.message) == ("lost_reason", "required", "is required")
    assert submission_problems(form, DEAL, {"stage": "lost", "lost_reason": "x"}, now,
                               {**record, "lost_reason": "x"}) == []


def test_unchanged_values_of_fields_not_writable_here_are_dropped_not_refused() -> None:
    now = state(parse(FORM), DEAL, {"stage": "new", "account": 3}, run)
    assert unchanged(now, {"lost_reason": "", "account": 3, "amount": "5"}, {"account": 3}) == {"lost_reason",
                                                                                                 "account"}
    assert unchanged(now, {"account": 4}, {"account": 3}) == set()


def test_the_json_schema_accepts_what_the_form_accepts() -> None:
    schema = json_schema(parse(FORM), DEAL)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {"name", "amount", "stage", "lost_reason"}
    assert schema["required"] == ["name"]
    assert schema["properties"]["lost_reason"]["x-required-if"] == 'stage = "lost"'
    assert schema["properties"]["stage"]["default"] == "new"
    valid = jsonschema.Draft202012Validator(schema)
    assert not list(valid.iter_errors({"name": "A", "amount": "12.50", "stage": "won", "lost_reason": None}))
    errors = {e.message.split(" ")[0] for e in valid.iter_errors({"amount": [1], "account": 3})}
    assert errors == {"'name'", "[1]", "Additional"}


def test_form_problems_point_at_each_place_to_fix() -> None:
    doc = copy.deepcopy(FORM)
    column = doc["tabs"][0]["sections"][0]["columns"][0]["fields"]
    column.append({"field": "amont"})
    column.append({"field": "stage"})
    column[2]["default"] = "nope"
    column.append({"field": "big", "required": True})
    doc["tabs"][0]["sections"].append({"label": "Deals", "related": {"relation": "nope", "columns": ["name"]}})
    found = {p.field: p.message for p in form_problems(doc, SCHEMA)}
    at = "/tabs/0/sections/0/columns/0/fields"
    assert found == {
        f"{at}/2/default": "'nope' is not an option; choose one of: new, won, lost",
        f"{at}/3/field": "Deal has no field named 'amont'; did you mean 'amount'?",
        f"{at}/4/field": "'stage' is placed twice on this form (first at /tabs/0/sections/0/columns/0/fields/2)",
        f"{at}/5/required": "Big is set by the platform and cannot be required",
        "/tabs/0/sections/1/related/relation": "Deal has no related list named 'nope' (known: none)",
    }
    assert form_problems({**FORM, "object": "ghost"}, SCHEMA)[0].field == "/object"
    both = {**FORM, "sections": FORM["tabs"][0]["sections"]}
    assert [p.field for p in form_problems(both, SCHEMA)] == ["/sections"]


def test_default_formulas_are_checked_against_their_fields_type() -> None:
    doc = copy.deepcopy(FORM)
    doc["tabs"][0]["sections"][0]["columns"][0]["fields"][1]["default_formula"] = "1000 * 2"
    expected = formula_expectations(parse(doc), DEAL)
    assert ("/tabs/0/sections/0/columns/0/fields/1/default_formula", "1000 * 2", "number") in expected
    assert run("1000 * 2", {}) == Decimal("2000")


def test_renames_rewrite_names_and_formulas_by_their_place_in_the_document() -> None:
    doc = copy.deepcopy(FORM)
    place = "tabs/0/sections/0/columns/1/fields/0"
    placed = doc["tabs"][0]["sections"][0]["columns"][1]["fields"][0]
    placed["visible_if"] = 'AND(stage = "lost", account.name = "stage")'
    rename = deps.Rename("deal", "stage", "phase", field_renamed=True)
    deps.rewrite(doc, deps.Reference(FIELD_VIA, "tabs/0/sections/0/columns/0/fields/2/field", "deal"), rename)
    deps.rewrite(doc, deps.Reference(FORMULA_VIA, f"{place}/visible_if@0.0", "deal"), rename)
    assert doc["tabs"][0]["sections"][0]["columns"][0]["fields"][2]["field"] == "phase"
    assert placed["visible_if"] == 'AND(phase = "lost", account.name = "stage")'  # the text stays
    renamed_account = deps.Rename("account", "name", "title", field_renamed=True)
    deps.rewrite(doc, deps.Reference(FORMULA_VIA, f"{place}/visible_if@1.1", "account"), renamed_account)
    assert placed["visible_if"] == 'AND(phase = "lost", account.title = "stage")'
    # A stale place (the formula was changed since) rewrites nothing.
    deps.rewrite(doc, deps.Reference(FORMULA_VIA, f"{place}/visible_if@1.1", "account"), renamed_account)
    deps.rewrite(doc, deps.Reference(FORMULA_VIA, "tabs/9/nothing@0.0", "deal"), rename)
    assert placed["visible_if"] == 'AND(phase = "lost", account.title = "stage")'
