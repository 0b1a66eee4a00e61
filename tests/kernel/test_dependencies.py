"""The dependency graph: what documents refer to, "where is this used?", and renames that
rewrite every dependent while uids keep the graph intact."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tessera.meta import dependencies as deps
from tessera.runtime.platform import Platform

DEAL = {
    "api_name": "deal", "name_field": "title",
    "fields": [
        {"uid": "fld_title01", "api_name": "title", "type": "text"},
        {"uid": "fld_amount1", "api_name": "amount", "type": "decimal"},
        {"uid": "fld_acct001", "api_name": "account", "type": "lookup", "target": "account"},
    ],
    "validation_rules": [{"name": "positive", "error_if": "amount < 0", "message": "m", "field": "amount"}],
}


def test_references_finds_lookup_targets_name_field_and_rule_fields() -> None:
    found = {(r.via, r.path, r.object, r.field) for r in deps.references("objects", DEAL)}
    assert found == {
        ("lookup_target", "fields/fld_acct001/target", "account", None),
        ("name_field", "name_field", "deal", "title"),
        ("validation_rule_field", "validation_rules/positive/field", "deal", "amount"),
    }


def test_references_skip_parts_not_yet_complete() -> None:
    doc = {"api_name": "x", "fields": [{"api_name": "a", "type": "lookup", "target": "y"}, "junk"],
           "validation_rules": [{"field": "a"}]}
    assert deps.references("objects", doc) == []
    assert deps.references("unknown_kind", DEAL) == []


def test_rewrite_follows_a_field_rename_and_an_object_rename() -> None:
    import copy

    doc = copy.deepcopy(DEAL)
    for ref in deps.references("objects", doc):
        deps.rewrite(doc, ref, deps.Rename("deal", "amount", "value", field_renamed=True))
        deps.rewrite(doc, ref, deps.Rename("deal", "title", "headline", field_renamed=True))
    assert doc["validation_rules"][0]["field"] == "value"
    assert doc["name_field"] == "headline"
    assert doc["fields"][2]["target"] == "account"
    for ref in deps.references("objects", doc):
        if ref.object == "account":
            deps.rewrite(doc, ref, deps.Rename("account", "account", "company", field_renamed=False))
    assert doc["fields"][2]["target"] == "company"
    assert doc["name_field"] == "headline"


def test_a_plugin_can_register_a_new_kind_of_reference() -> None:
    def extract(doc: Any) -> list[deps.Reference]:
        return [deps.Reference("test_report_group", "group_by", doc["object"], doc["group_by"])]

    def rewrite(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
        if rename.field_renamed and doc["group_by"] == rename.old:
            doc["group_by"] = rename.new

    deps.register("test_reports", "test_report_group", extract, rewrite)
    report = {"object": "deal", "group_by": "stage"}
    [ref] = deps.references("test_reports", report)
    deps.rewrite(report, ref, deps.Rename("deal", "stage", "phase", field_renamed=True))
    assert report["group_by"] == "phase"


# -- through the API ----------------------------------------------------------------------

def _objects(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "account", "label": "Account", "name_field": "name",
                                      "fields": [{"api_name": "name", "label": "Name", "type": "text"}]}), 201)
    api.ok(api.post("/meta/objects", {
        "api_name": "deal", "label": "Deal", "name_field": "title",
        "fields": [{"api_name": "title", "label": "Title", "type": "text"},
                   {"api_name": "amount", "label": "Amount", "type": "decimal"},
                   {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"}],
        "validation_rules": [{"name": "positive", "error_if": "amount < 0", "message": "m", "field": "amount"}],
    }), 201)


def test_where_used_lists_lookups_pointing_at_an_object(api: Any) -> None:
    _objects(api)
    used = api.ok(api.get("/meta/objects/account/where-used"))
    assert [(d["kind"], d["api_name"], d["via"]) for d in used] == [("objects", "deal", "lookup_target")]
    assert api.ok(api.get("/meta/objects/deal/where-used")) == []


def test_where_used_lists_uses_of_a_field_inside_its_own_object(api: Any) -> None:
    _objects(api)
    title = api.ok(api.get("/meta/objects/deal/fields/title/where-used"))
    assert [d["via"] for d in title] == ["name_field"]
    amount = api.ok(api.get("/meta/objects/deal/fields/amount/where-used"))
    assert sorted((d["via"], d["path"]) for d in amount) == [
        ("formula", "validation_rules/positive/error_if"), ("validation_rule_field", "validation_rules/positive/field")]
    assert api.ok(api.get("/meta/objects/deal/fields/account/where-used")) == []
    assert api.get("/meta/objects/deal/fields/nothing/where-used").status_code == 404


def test_the_graph_survives_renames_because_it_is_keyed_by_uid(api: Any) -> None:
    _objects(api)
    api.ok(api.patch("/meta/objects/account", {"api_name": "company"}))
    api.ok(api.patch("/meta/objects/deal/fields/amount", {"api_name": "value"}))
    api.ok(api.patch("/meta/objects/deal", {"api_name": "opportunity"}))
    used = api.ok(api.get("/meta/objects/company/where-used"))
    assert [(d["api_name"], d["via"]) for d in used] == [("opportunity", "lookup_target")]
    doc = api.ok(api.get("/meta/objects/opportunity"))
    assert doc["fields"][2]["target"] == "company"
    assert doc["validation_rules"][0]["field"] == "value"
    # The rule's formula was rewritten too, and the graph still knows both uses.
    assert "value" in doc["validation_rules"][0]["error_if"]
    assert sorted(d["via"] for d in api.ok(api.get("/meta/objects/opportunity/fields/value/where-used"))) == [
        "formula", "validation_rule_field"]


def test_rename_of_a_self_referencing_object_rewrites_its_own_lookup(api: Any, runtime: Platform) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "employee", "label": "Employee", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "manager", "label": "Manager", "type": "lookup", "target": "employee"}]}), 201)
    boss = api.ok(api.post("/records/employee", {"name": "Boss"}), 201)["id"]
    worker = api.ok(api.post("/records/employee", {"name": "W", "manager": boss}), 201)["id"]
    api.ok(api.patch("/meta/objects/employee", {"api_name": "person"}))
    assert api.ok(api.get("/meta/objects/person"))["fields"][1]["target"] == "person"
    assert api.ok(api.get(f"/records/person/{worker}"))["manager"] == boss
    fks = sa.inspect(runtime.engine).get_foreign_keys("person")
    assert [f["referred_table"] for f in fks] == ["person"]
    api.ok(api.patch("/meta/objects/person", {"label": "Person"}))


def test_deleting_the_lookup_removes_the_dependency_but_purge_still_guards_the_target(api: Any) -> None:
    _objects(api)
    assert api.delete("/meta/objects/deal/fields/account").status_code == 204
    assert api.ok(api.get("/meta/objects/account/where-used")) == []
    assert api.delete("/meta/objects/account").status_code == 204
    # The trashed lookup still points at the account table: it cannot be dropped under it.
    assert api.post("/meta/objects/account/purge").status_code == 409
    # Nor can the lookup come back while its target is in the trash.
    assert api.post("/meta/objects/deal/fields/account/restore").status_code == 422
    api.ok(api.post("/meta/objects/account/restore"))
    api.ok(api.post("/meta/objects/deal/fields/account/restore"))
    assert [d["api_name"] for d in api.ok(api.get("/meta/objects/account/where-used"))] == ["deal"]


def test_renamed_dependents_get_a_history_entry_of_their_own(api: Any) -> None:
    _objects(api)
    api.ok(api.patch("/meta/objects/account", {"api_name": "company"}))
    history = api.ok(api.get("/meta/objects/deal/history"))
    assert history[0]["summary"] == "references updated: object account renamed to company"
    assert history[0]["before"]["fields"][2]["target"] == "account"
    assert history[0]["after"]["fields"][2]["target"] == "company"
