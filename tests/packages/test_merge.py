"""The three-way merge and the difference behind upgrades and the customer layer (pure)."""

from __future__ import annotations

from tessera.packages.merge import ABSENT, diff, get_at, merge, path_of, path_text, set_at

BASE = {"label": "Account", "fields": [
    {"uid": "a", "api_name": "name", "label": "Name"},
    {"uid": "b", "api_name": "region", "label": "Region", "options": [{"value": "e"}, {"value": "w"}]}]}


def test_a_change_on_one_side_only_is_taken_from_that_side() -> None:
    package = {**BASE, "label": "Company"}
    assert merge(BASE, package, BASE).value["label"] == "Company"
    yours = {**BASE, "label": "Customer"}
    assert merge(BASE, BASE, yours).value["label"] == "Customer"


def test_different_changes_to_one_property_keep_yours_and_report_all_three_values() -> None:
    merged = merge(BASE, {**BASE, "label": "Company"}, {**BASE, "label": "Customer"})
    assert merged.value["label"] == "Customer"
    (clash,) = merged.clashes
    assert (clash.path, clash.base, clash.package, clash.yours) == (("label",), "Account", "Company", "Customer")


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    merged = merge(BASE, {**BASE, "label": "Company"}, {**BASE, "label": "Company"})
    assert merged.value["label"] == "Company" and not merged.clashes


def test_fields_merge_by_uid_adds_from_both_sides_and_new_ones_land_after_their_predecessor() -> None:
    package = {**BASE, "fields": [BASE["fields"][0], {"uid": "n", "api_name": "tier", "label": "Tier"},
                                  BASE["fields"][1]]}
    yours = {**BASE, "fields": [*BASE["fields"], {"uid": "y", "api_name": "mine", "label": "Mine"}]}
    merged = merge(BASE, package, yours)
    assert [f["uid"] for f in merged.value["fields"]] == ["a", "n", "b", "y"]
    assert not merged.clashes


def test_a_customer_reorder_wins_over_the_package_order() -> None:
    yours = {**BASE, "fields": [BASE["fields"][1], BASE["fields"][0]]}
    package = {**BASE, "fields": [*BASE["fields"], {"uid": "n", "api_name": "tier", "label": "Tier"}]}
    merged = merge(BASE, package, yours)
    assert [f["uid"] for f in merged.value["fields"]] == ["b", "n", "a"]


def test_a_field_the_package_drops_is_reported_as_dropped_even_when_nobody_else_changed_anything() -> None:
    package = {**BASE, "fields": [BASE["fields"][0]]}
    merged = merge(BASE, package, BASE)
    assert [p for p, _ in merged.dropped] == [("fields", {"uid": "b"})]
    assert [f["uid"] for f in merged.value["fields"]] == ["a"]


def test_an_option_the_package_drops_is_reported_inside_a_field_the_customer_relabelled() -> None:
    yours = {**BASE, "fields": [BASE["fields"][0], {**BASE["fields"][1], "label": "Territory"}]}
    package = {**BASE, "fields": [BASE["fields"][0], {**BASE["fields"][1], "options": [{"value": "e"}]}]}
    merged = merge(BASE, package, yours)
    assert [p for p, _ in merged.dropped] == [("fields", {"uid": "b"}, "options", {"value": "w"})]
    assert merged.value["fields"][1]["label"] == "Territory"


def test_a_package_removal_of_what_the_customer_changed_is_a_conflict_and_keeps_it() -> None:
    yours = {**BASE, "fields": [BASE["fields"][0], {**BASE["fields"][1], "label": "Territory"}]}
    package = {**BASE, "fields": [BASE["fields"][0]]}
    merged = merge(BASE, package, yours)
    assert [f["uid"] for f in merged.value["fields"]] == ["a", "b"]
    assert merged.clashes[0].reason == "package_removed_yours_changed"


def test_a_customer_removal_of_what_the_package_changed_stays_removed_and_is_a_conflict() -> None:
    yours = {**BASE, "fields": [BASE["fields"][0]]}
    package = {**BASE, "fields": [BASE["fields"][0], {**BASE["fields"][1], "label": "Sales region"}]}
    merged = merge(BASE, package, yours)
    assert [f["uid"] for f in merged.value["fields"]] == ["a"]
    assert merged.clashes[0].reason == "you_removed_package_changed"


def test_formulas_are_atomic_two_edits_are_a_conflict_never_a_text_merge() -> None:
    base = {"fields": [{"uid": "f", "expression": "a + b"}], "filter": {"all": [1, 2]}}
    package = {"fields": [{"uid": "f", "expression": "a + b + c"}], "filter": {"all": [1, 2, 3]}}
    yours = {"fields": [{"uid": "f", "expression": "(a + b) * 2"}], "filter": {"all": [0, 1, 2]}}
    merged = merge(base, package, yours)
    assert merged.value == yours
    assert {c.path[-1] for c in merged.clashes} == {"expression", "filter"}


def test_a_list_of_names_merges_as_a_set_in_the_customers_order() -> None:
    base = {"objects": ["account", "contact"]}
    package = {"objects": ["account", "contact", "lead"]}
    yours = {"objects": ["contact", "account", "deal"]}
    assert merge(base, package, yours).value["objects"] == ["contact", "lead", "account", "deal"]


def test_the_difference_names_elements_by_identity_and_survives_a_reorder() -> None:
    current = {"label": "Account", "fields": [{**BASE["fields"][1], "label": "Territory"}, BASE["fields"][0]]}
    changes = {(path_text(c.path), str(c.before), str(c.after)) for c in diff(BASE, current)}
    assert ('["fields",{"uid":"b"},"label"]', "Region", "Territory") in changes
    assert any(path.endswith('"order"]') for path, _, _ in changes)


def test_a_value_put_back_at_its_path_restores_it_and_a_missing_element_returns_after_its_predecessor() -> None:
    current = {"label": "Account", "fields": [{**BASE["fields"][1], "label": "Territory"}]}
    path = path_of('["fields",{"uid":"b"},"label"]')
    assert get_at(current, path) == "Territory"
    assert set_at(current, path, get_at(BASE, path))
    assert current["fields"][0]["label"] == "Region"
    assert set_at(current, ("fields", {"uid": "a"}), BASE["fields"][0], anchor_in=BASE)
    assert [f["uid"] for f in current["fields"]] == ["a", "b"]
    assert set_at(current, ("fields", {"uid": "a"}), ABSENT)
    assert [f["uid"] for f in current["fields"]] == ["b"]
    assert not set_at(current, ("fields", {"uid": "gone"}, "label"), "x")
