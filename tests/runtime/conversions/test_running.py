"""Running a conversion, on SQLite and PostgreSQL: targets matched (text ignoring case, among
the records the caller may read) or created, fields from formulas and by default from the
source's field of the same name or label, the source's `after` fields, a second run
refused unless allowed, permissions, and one transaction — a failing target leaves nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tessera.data.tables import conversions, outbox
from tessera.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleVersion
from tessera.runtime.platform import Platform

from .conftest import CONVERT_LEAD, SYSTEM, lead


def _count(rt: Platform, table: Any) -> int:
    with rt.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _objects(rt: Platform, name: str) -> list[dict[str, Any]]:
    return rt.records.list(SYSTEM, name, limit=100, sort="id")["data"]


def test_an_account_is_matched_by_name_ignoring_case_and_the_rest_is_created(crm: Platform) -> None:
    acme = crm.records.create(SYSTEM, "account", {"name": "ACME"})
    jane = lead(crm, amount="1200.50")
    result = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    assert [(r["key"], r["object"], r["outcome"]) for r in result["records"]] == [
        ("account", "account", "matched"), ("contact", "contact", "created"), ("deal", "opportunity", "created")]
    account, contact, deal = result["records"]
    assert (account["id"], account["name"]) == (acme["id"], "ACME")
    assert result["conversion"] == "convert_lead" and result["source"]["object"] == "lead"
    assert result["source"]["id"] == jane["id"] and result["source"]["name"] == "Doe"
    made = crm.records.get(SYSTEM, "opportunity", deal["id"])
    assert made["name"] == "Acme deal" == deal["name"]
    assert (made["account"], made["contact"], made["amount"], made["stage"]) == (acme["id"], contact["id"],
                                                                                "1200.50", "prospecting")
    assert crm.records.get(SYSTEM, "contact", contact["id"])["account"] == acme["id"]
    assert len(_objects(crm, "account")) == 1


def test_no_match_creates_the_account_and_the_match_values_fill_it(crm: Platform) -> None:
    crm.records.create(SYSTEM, "account", {"name": "Other"})
    result = crm.conversions.convert(SYSTEM, "lead", lead(crm, industry="Retail")["id"], "convert_lead")
    account = result["records"][0]
    assert account["outcome"] == "created" and account["name"] == "Acme"
    assert crm.records.get(SYSTEM, "account", account["id"])["industry"] == "Retail"


def test_a_contact_is_matched_by_two_fields_one_of_them_an_earlier_target(crm: Platform) -> None:
    acme = crm.records.create(SYSTEM, "account", {"name": "Acme"})
    other = crm.records.create(SYSTEM, "account", {"name": "Other"})
    crm.records.create(SYSTEM, "contact", {"last_name": "Doe", "email": "jane@acme.test", "account": other["id"]})
    same = crm.records.create(SYSTEM, "contact", {"last_name": "Doe", "email": "jane@acme.test", "account": acme["id"]})
    result = crm.conversions.convert(SYSTEM, "lead", lead(crm)["id"], "convert_lead")
    assert result["records"][1] == {"key": "contact", "label": "Contact", "object": "contact", "id": same["id"],
                                    "name": "Doe", "outcome": "matched"}


def test_a_blank_match_value_never_matches_and_a_target_that_may_not_create_is_left_out(crm: Platform) -> None:
    crm.records.create(SYSTEM, "account", {"name": "Blank-named is impossible, so anything"})
    doc = {**CONVERT_LEAD, "api_name": "find_only", "when": None, "after": None, "targets": [
        {"key": "account", "object": "account", "match": {"name": "company"}, "create": False},
        {"key": "contact", "object": "contact", "fields": {"account": "account"}}]}
    crm.documents.create(SYSTEM, "conversions", {k: v for k, v in doc.items() if v is not None})
    result = crm.conversions.convert(SYSTEM, "lead", lead(crm, company=None)["id"], "find_only")
    account = result["records"][0]
    assert (account["key"], account["outcome"], account["id"]) == ("account", "not_found", None)
    contact = crm.records.get(SYSTEM, "contact", result["records"][1]["id"])
    assert contact["account"] is None


def test_unmapped_fields_take_the_source_field_of_the_same_name_else_label_when_the_types_fit(crm: Platform) -> None:
    jane = lead(crm, phone_number="+33 1 23 45 67 89", employees=40, industry="Retail", stage="won")
    result = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    account = crm.records.get(SYSTEM, "account", result["records"][0]["id"])
    contact = crm.records.get(SYSTEM, "contact", result["records"][1]["id"])
    deal = crm.records.get(SYSTEM, "opportunity", result["records"][2]["id"])
    # Same name: first and last name, e-mail, industry; same label: Phone number.
    assert (contact["first_name"], contact["last_name"], contact["email"]) == ("Jane", "Doe", "jane@acme.test")
    assert contact["phone"] == "+33 1 23 45 67 89"
    assert account["industry"] == "Retail"
    # An integer does not go into a text field by default; the mapped stage wins over the lead's.
    assert account["employees"] is None and deal["stage"] == "prospecting"
    # An earlier target's key is a default too: the contact's account is the account made.
    assert contact["account"] == result["records"][0]["id"]


def test_formulas_read_the_source_its_computed_fields_and_earlier_targets(crm: Platform) -> None:
    doc = {"api_name": "welcome", "label": "Welcome", "object": "lead", "targets": [
        {"key": "account", "object": "account", "fields": {"name": 'UPPER(company) & " (" & full_name & ")"'}},
        {"key": "deal", "object": "opportunity", "fields": {"name": 'account.name & " — first deal"',
                                                            "amount": "amount * 2", "account": "account.id"}}]}
    crm.documents.create(SYSTEM, "conversions", doc)
    result = crm.conversions.convert(SYSTEM, "lead", lead(crm, amount="10.25")["id"], "welcome")
    deal = crm.records.get(SYSTEM, "opportunity", result["records"][1]["id"])
    assert result["records"][0]["name"] == "ACME (Jane Doe)"
    assert deal["name"] == "ACME (Jane Doe) — first deal" and deal["amount"] == "20.50"


def test_after_sets_the_source_fields_with_links_to_what_was_made(crm: Platform) -> None:
    jane = lead(crm)
    result = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    after = crm.records.get(SYSTEM, "lead", jane["id"])
    assert after["status"] == "converted"
    assert after["converted_account"] == result["records"][0]["id"]
    assert after["converted_contact"] == result["records"][1]["id"]
    assert result["source"]["version"] == after["version"] == jane["version"] + 1
    history = crm.records.history(SYSTEM, "lead", jane["id"])
    assert {h["field"] for h in history if h["action"] == "update"} >= {"status", "converted_account"}


def test_converting_twice_is_refused_unless_the_conversion_allows_it(crm: Platform) -> None:
    jane = lead(crm)
    first = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    crm.records.update(SYSTEM, "lead", jane["id"], {"status": "qualified"}, None)
    with pytest.raises(Conflict) as refused:
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    assert "converted already" in refused.value.detail and "Contact Doe" in refused.value.detail
    assert refused.value.extra["previous"]["result"] == first
    assert _count(crm, conversions) == 1 and len(_objects(crm, "contact")) == 1
    crm.documents.update(SYSTEM, "conversions", "convert_lead", {"allow_again": True})
    again = crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    # The account and the contact are found again; a second deal is made.
    assert [r["outcome"] for r in again["records"]] == ["matched", "matched", "created"]
    assert len(_objects(crm, "opportunity")) == 2 and _count(crm, conversions) == 2
    runs = crm.conversions.runs(SYSTEM, "lead", jane["id"])
    assert [r["result"] for r in runs] == [again, first]


def test_a_record_the_condition_does_not_hold_for_is_refused(crm: Platform) -> None:
    jane = lead(crm, status="new")
    with pytest.raises(Conflict) as refused:
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    assert "cannot be converted now" in refused.value.detail
    assert [p.code for p in refused.value.errors] == ["not_applicable"]
    offered = crm.conversions.offered(SYSTEM, "lead", jane["id"])
    assert [(o["api_name"], o["available"]) for o in offered] == [("convert_lead", False)]


def test_unknown_conversions_records_and_stale_versions(crm: Platform) -> None:
    jane = lead(crm)
    with pytest.raises(NotFound):
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "nope")
    with pytest.raises(NotFound):
        crm.conversions.convert(SYSTEM, "lead", 999_999, "convert_lead")
    with pytest.raises(NotFound):
        crm.conversions.convert(SYSTEM, "account", crm.records.create(SYSTEM, "account", {"name": "A"})["id"],
                                "convert_lead")
    with pytest.raises(StaleVersion):
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead", expected_version=jane["version"] + 1)
    assert _count(crm, conversions) == 0


def test_a_failing_target_leaves_nothing_behind(crm: Platform) -> None:
    jane = lead(crm, amount="2000000")  # the deal's validation rule refuses more than a million
    events = _count(crm, outbox)
    with pytest.raises(InvalidInput) as refused:
        crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead")
    assert refused.value.detail.startswith("The Opportunity could not be created")
    assert [(p.field, p.message) for p in refused.value.errors] == [("deal.amount", "Too big a deal")]
    assert _objects(crm, "account") == [] and _objects(crm, "contact") == []
    assert crm.records.get(SYSTEM, "lead", jane["id"])["status"] == "qualified"
    assert _count(crm, conversions) == 0 and _count(crm, outbox) == events


def test_the_match_is_one_query_on_an_index_of_the_lower_case_name(crm: Platform) -> None:
    from tessera.runtime.conversions import matching

    with crm.read() as conn:
        snap = crm.snapshot(conn)
        account = snap.object("account")
        name = matching.index_name(account, account.field("name"))
        table = snap.table(account)
        query = sa.select(table.c.id).where(sa.func.lower(table.c.name) == sa.func.lower(sa.literal("x")),
                                            table.c.deleted_at.is_(None))
        compiled = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a few rows: make the planner show it can
            plan = " ".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            conn.exec_driver_sql("SET enable_seqscan = on")
    assert name in plan, plan


def test_the_convert_action_runs_a_conversion_from_a_rule(crm: Platform) -> None:
    crm.documents.create(SYSTEM, "rules", {
        "api_name": "convert_qualified", "label": "Convert qualified leads", "object": "lead", "kind": "automation",
        "trigger": {"on": "after_save", "changed": ["status"]}, "condition": 'status = "qualified"',
        "actions": [{"action": "convert", "conversion": "convert_lead"}]})
    jane = lead(crm, status="new")
    crm.records.update(SYSTEM, "lead", jane["id"], {"status": "qualified"}, None)
    crm.scheduler.drain()
    converted = crm.records.get(SYSTEM, "lead", jane["id"])
    assert converted["status"] == "converted" and converted["converted_account"] is not None
    runs = crm.rules.runs(SYSTEM, "lead", jane["id"])
    fired = next(r for r in runs if r["rule"] == "convert_qualified" and r["outcome"] == "fired")
    assert fired["changes"]["actions"][0]["converted"] == "convert_lead"
    assert [r["outcome"] for r in crm.conversions.runs(SYSTEM, "lead", jane["id"])[0]["result"]["records"]] == [
        "created", "created", "created"]


def test_the_convert_action_is_checked_when_the_rule_is_saved(crm: Platform) -> None:
    rule = {"api_name": "r", "label": "R", "object": "account", "kind": "automation", "trigger": {"on": "after_save"},
            "actions": [{"action": "convert", "conversion": "convert_lead"}, {"action": "convert", "conversion": "x"}]}
    problems = {p["field"]: p["message"] for p in crm.documents.check("rules", rule)}
    assert problems == {"/actions/0/conversion": "'convert_lead' converts lead records, not account records",
                        "/actions/1/conversion": "there is no conversion named 'x'"}


# -- permissions ---------------------------------------------------------------------------

def _rep(rt: Platform, permissions: dict[str, Any]) -> Any:
    rt.users.roles.create(SYSTEM, {"api_name": "rep", "label": "Rep", "permissions": permissions}, rt.snapshot)
    made = rt.users.accounts.add(SYSTEM, {"email": "rep@x.com", "name": "Rita Rep", "password": "a-long-password",
                                          "roles": ["rep"]})
    return rt.users.actor_for_user(int(made["id"]))


ALL = {"create": True, "read": "all", "edit": "all", "delete": "none"}


def test_a_match_finds_only_records_the_caller_may_read(crm: Platform) -> None:
    rep = _rep(crm, {"lead": ALL, "contact": ALL, "opportunity": ALL,
                     "account": {"create": True, "read": "own", "edit": "own", "delete": "none"}})
    theirs = crm.records.create(SYSTEM, "account", {"name": "Acme"})  # owned by nobody the rep is
    result = crm.conversions.convert(rep, "lead", lead(crm)["id"], "convert_lead")
    assert result["records"][0]["outcome"] == "created" and result["records"][0]["id"] != theirs["id"]


def test_the_caller_needs_create_on_what_is_created_and_edit_on_the_source(crm: Platform) -> None:
    rep = _rep(crm, {"lead": {"create": True, "read": "all", "edit": "own", "delete": "none"}, "account": ALL,
                     "contact": ALL, "opportunity": {"create": False, "read": "all", "edit": "none", "delete": "none"}})
    jane = lead(crm)  # the platform's, not the rep's: the rep may not edit it
    with pytest.raises(Forbidden):
        crm.conversions.convert(rep, "lead", jane["id"], "convert_lead")
    own = crm.records.create(rep, "lead", {"last_name": "Roe", "company": "Beta", "status": "qualified"})
    with pytest.raises(Forbidden) as refused:
        crm.conversions.convert(rep, "lead", own["id"], "convert_lead")
    assert refused.value.detail.startswith("The Opportunity could not be created")
    assert _objects(crm, "account") == [] and _objects(crm, "contact") == []
    assert crm.conversions.offered(rep, "lead", jane["id"])[0]["available"] is False


def test_defaults_skip_fields_the_caller_may_not_see_or_write(crm: Platform) -> None:
    rep = _rep(crm, {"lead": {**ALL, "fields": {"industry": "hidden"}}, "account": ALL, "opportunity": ALL,
                     "contact": {**ALL, "fields": {"phone": "read"}}})
    jane = lead(crm, industry="Secret", phone_number="123")
    result = crm.conversions.convert(rep, "lead", jane["id"], "convert_lead")
    assert crm.records.get(SYSTEM, "account", result["records"][0]["id"])["industry"] is None
    assert crm.records.get(SYSTEM, "contact", result["records"][1]["id"])["phone"] is None


def test_a_run_that_waited_for_another_on_the_same_record_sees_it_and_is_refused(crm: Platform) -> None:
    import threading
    import time

    jane = lead(crm)
    uid = crm.documents.get("conversions", "convert_lead")["uid"]
    with crm.read() as conn:
        lead_table = crm.snapshot(conn).table(crm.snapshot(conn).object("lead"))
        object_uid = crm.snapshot(conn).object("lead").uid
    outcome: list[Any] = []

    def convert() -> None:
        try:
            outcome.append(crm.conversions.convert(SYSTEM, "lead", jane["id"], "convert_lead"))
        except Conflict as error:
            outcome.append(error)

    # Another run holds the lead and logs itself; ours starts meanwhile and must wait for it.
    with crm.engine.begin() as other:
        other.execute(sa.select(lead_table.c.id).where(lead_table.c.id == jane["id"]).with_for_update())
        other.execute(sa.insert(conversions).values(conversion_uid=uid, conversion="convert_lead",
                                                    object_uid=object_uid, record_id=jane["id"],
                                                    result={"records": []}, actor_id=None,
                                                    at=sa.func.current_timestamp()))
        waiting = threading.Thread(target=convert)
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and outcome == []
    waiting.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict), outcome
    assert _objects(crm, "contact") == [] and _count(crm, conversions) == 1
