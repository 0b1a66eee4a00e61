"""Conversion documents are checked when saved, with every problem at its place, and follow
the fields they name: a renamed field is renamed in them, a field they use cannot be
deleted unless forced — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.errors import InvalidInput, TesseraError
from tessera.runtime.platform import Platform

from .conftest import CONVERT_LEAD, SYSTEM, lead


def _problems(rt: Platform, doc: dict[str, Any]) -> dict[str, str]:
    return {p["field"]: p["message"] for p in rt.documents.check("conversions", doc)}


def test_a_good_document_has_no_problems_and_is_listed_with_the_other_documents(crm: Platform) -> None:
    assert _problems(crm, {**CONVERT_LEAD, "api_name": "other"}) == {}
    assert [d["api_name"] for d in crm.documents.list("conversions", object_name="lead")] == ["convert_lead"]
    assert "conversions" in [k["name"] for k in crm.documents.kinds()]


def test_the_shape_is_checked_first(crm: Platform) -> None:
    problems = _problems(crm, {"api_name": "Bad Name", "label": "", "object": "lead", "targets": [],
                               "surprise": 1})
    assert set(problems) == {"/", "/api_name", "/label", "/targets"}
    assert "surprise" in problems["/"]


def test_unknown_objects_fields_and_wrong_formulas_are_told_at_their_place(crm: Platform) -> None:
    doc = {"api_name": "bad", "label": "Bad", "object": "lead", "when": "status + 1", "targets": [
        {"key": "account", "object": "acount"},
        {"key": "contact", "object": "contact", "fields": {"surname": "last_name", "last_name": "last_nam",
                                                            "account": "deal.id", "email": "amount"}},
        {"key": "deal", "object": "opportunity", "match": {"name": "company"},
         "fields": {"amount": "deal.amount", "contact": "contact.id"}}],
        "after": {"statuss": '"converted"', "full_name": '"x"', "converted_contact": "contact.id",
                  "industry": 'IF(ISCHANGED(status), "a", "b")'}}
    problems = _problems(crm, doc)
    assert problems["/targets/0/object"] == "there is no object named 'acount'"
    assert problems["/targets/1/fields/surname"] == "Contact has no field 'surname'"
    assert problems["/targets/1/fields/last_name"].startswith('unknown field "last_nam"; did you mean "last_name"?')
    assert problems["/targets/1/fields/account"].startswith("'deal' is made by a later target (targets/2)")
    assert problems["/targets/1/fields/email"] == "the formula gives a number, but E-mail takes a text"
    assert problems["/targets/2/fields/amount"].startswith("'deal' is this target's own record")
    assert problems["/after/statuss"] == "Lead has no field 'statuss'"
    assert problems["/after/full_name"] == "Full name is worked out by the platform and cannot be set"
    assert problems["/after/industry"].startswith("a conversion takes the record as it is")
    assert "/when" in problems and "/after/converted_contact" not in problems
    assert "/targets/2/fields/contact" not in problems
    with pytest.raises(InvalidInput) as refused:
        crm.documents.create(SYSTEM, "conversions", doc)
    assert {p.field for p in refused.value.errors} == set(problems)


def test_keys_are_unique_and_do_not_hide_the_sources_fields(crm: Platform) -> None:
    doc = {"api_name": "keys", "label": "Keys", "object": "lead", "targets": [
        {"key": "company", "object": "account"}, {"key": "a", "object": "account"},
        {"key": "a", "object": "contact"}, {"key": "owner", "object": "contact"}]}
    problems = _problems(crm, doc)
    assert problems["/targets/0/key"].startswith("Lead has a field named 'company'")
    assert problems["/targets/2/key"] == "another target is keyed 'a' already"
    assert "/targets/3/key" in problems and "/targets/1/key" not in problems


def test_lines_name_line_items_fields(crm: Platform) -> None:
    doc = {"api_name": "lines", "label": "Lines", "object": "lead", "targets": [
        {"key": "deal", "object": "opportunity", "lines": {"from": "company", "to": "nope"}}]}
    problems = _problems(crm, doc)
    assert problems == {"/targets/0/lines/from": "Lead has no line-items field 'company'",
                        "/targets/0/lines/to": "Opportunity has no line-items field 'nope'"}


def test_a_renamed_field_is_renamed_in_the_conversion_keys_and_formulas(crm: Platform) -> None:
    crm.metadata.update_field(SYSTEM, "lead", "company", {"api_name": "company_name"})
    crm.metadata.update_field(SYSTEM, "opportunity", "contact", {"api_name": "main_contact"})
    doc = crm.documents.get("conversions", "convert_lead")
    assert doc["targets"][0]["match"] == {"name": "company_name"}
    assert doc["targets"][2]["fields"]["name"] == 'company_name & " deal"'
    assert set(doc["targets"][2]["fields"]) == {"name", "main_contact", "stage"}
    assert crm.documents.stored_problems("conversions", "convert_lead") == []
    jane = crm.records.create(SYSTEM, "lead", {"last_name": "Doe", "company_name": "Acme", "status": "qualified"})
    result = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    deal = crm.records.get(SYSTEM, "opportunity", result["records"][2]["id"])
    assert deal["name"] == "Acme deal" and deal["main_contact"] == result["records"][1]["id"]


def test_a_field_a_conversion_writes_cannot_be_deleted_unless_forced(crm: Platform) -> None:
    with pytest.raises(TesseraError) as refused:
        crm.metadata.delete_field(SYSTEM, "lead", "converted_account")
    assert refused.value.status == 409 and "convert_lead" in str(refused.value)
    crm.metadata.delete_field(SYSTEM, "lead", "converted_account", force=True)
    problems = crm.documents.stored_problems("conversions", "convert_lead")
    assert [p["field"] for p in problems] == ["/after/converted_account"]
    jane = lead(crm)
    with pytest.raises(TesseraError) as broken:
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    assert broken.value.status == 409 and "no longer fits" in broken.value.detail
