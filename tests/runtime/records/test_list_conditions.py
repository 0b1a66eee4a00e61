"""A list's conditions as a person picks them: an option chosen or typed by its label, in
any case, filters by the option's stored value (a formula compares stored values)."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import ListQuery

SYSTEM = Actor.system()
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open", "label": "Open"}, {"value": "closed_won", "label": "Closed won"}]}]}


@pytest.mark.parametrize("typed", ["Closed won", "closed WON", "closed_won"])
def test_an_option_picked_by_its_label_filters_by_its_value(runtime: Platform, typed: str) -> None:
    runtime.metadata.create_object(SYSTEM, DEAL)
    runtime.records.create(SYSTEM, "deal", {"name": "A", "stage": "closed_won"})
    runtime.records.create(SYSTEM, "deal", {"name": "B", "stage": "open"})
    query = ListQuery(conditions=[{"field": "stage", "op": "equals", "value": typed}])
    page: dict[str, Any] = runtime.views.page(SYSTEM, "deal", query)
    assert [r["name"] for r in page["records"]] == ["A"]
    assert page["filter"] == 'stage = "closed_won"'


def test_a_formula_comparing_an_option_with_its_label_says_which_value_is_meant(runtime: Platform) -> None:
    runtime.metadata.create_object(SYSTEM, DEAL)
    with pytest.raises(InvalidInput) as refused:
        runtime.views.page(SYSTEM, "deal", ListQuery(formula='stage = "Closed won"'))
    assert 'did you mean "closed_won"' in refused.value.errors[0].message


@pytest.mark.parametrize("sort", ["owner", "-owner"])
def test_a_list_sorted_by_owner_pages_through_records_without_one(runtime: Platform, sort: str) -> None:
    runtime.metadata.create_object(SYSTEM, DEAL)
    for i in range(5):
        runtime.records.create(SYSTEM, "deal", {"name": f"d{i}", "owner": None if i % 2 else 1})
    seen, cursor = [], None
    while True:
        page = runtime.records.list(SYSTEM, "deal", sort=sort, limit=2, cursor=cursor)
        seen += [r["name"] for r in page["data"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == [f"d{i}" for i in range(5)] and len(seen) == 5
