"""A board grouped by a lookup to a small master-data object (opportunities by sales
stage) over HTTP, on SQLite and PostgreSQL: a lane per stage record the person may read,
in the stage object's `order_field` order, and one for none; the "group by" picker offers
such lookups beside selects (not a lookup to a large object, which is refused in words);
a card dragged to a lane sets the lookup through the save pipeline, so validation rules and
permissions apply as for a select."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.meta.model import MAX_CHOICES

SALES_STAGE = {"api_name": "sales_stage", "label": "Sales stage", "order_field": "position", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "position", "label": "Position", "type": "integer"},
]}
ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "priority", "label": "Priority", "type": "select", "options": [{"value": "low"}, {"value": "high"}]},
    {"api_name": "stage", "label": "Stage", "type": "lookup", "target": "sales_stage"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
], "validation_rules": [{"name": "won_needs_amount", "error_if": 'AND(stage.name = "Won", ISBLANK(amount))',
                         "message": "A won deal needs its amount", "field": "amount"}]}
#: Created in this order (their ids), shown by position; the rep may read all but Secret.
STAGES = (("Won", 4), ("Qualification", 1), ("Secret", 5), ("Proposal", 2))
LANES = ["Qualification", "Proposal", "Won", "Secret", "No stage"]


@pytest.fixture
def site(runtime: Any) -> Iterator[dict[str, Any]]:
    system = Actor.system()
    for doc in (SALES_STAGE, ACCOUNT, OPPORTUNITY):
        runtime.metadata.create_object(system, doc)
    runtime.users.roles.create(system, {"api_name": "rep", "label": "Rep", "permissions": {
        "opportunity": {"create": True, "read": "all", "edit": "all", "delete": "none"},
        "sales_stage": {"create": False, "read": "own", "edit": "none", "delete": "none"},
        "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    runtime.users.roles.create(system, {"api_name": "reader", "label": "Reader", "permissions": {
        "opportunity": {"create": False, "read": "all", "edit": "none", "delete": "none"},
        "sales_stage": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    rep = runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rep", "password": "rep-password",
                                              "roles": ["rep"]})
    runtime.users.accounts.add(system, {"email": "reader@example.com", "name": "Reader",
                                        "password": "reader-password", "roles": ["reader"]})
    rep_id = rep["id"] if isinstance(rep, dict) else rep
    ids = {name: runtime.records.create(system, "sales_stage", {"name": name, "position": p,
                                                                "owner": None if name == "Secret" else rep_id})["id"]
           for name, p in STAGES}
    for i in range(MAX_CHOICES + 1):
        runtime.records.create(system, "account", {"name": f"Account {i}"})
    deals = {name: runtime.records.create(system, "opportunity", {"name": name, "stage": ids[stage]})
             for name, stage in (("Alpha", "Qualification"), ("Beta", "Qualification"), ("Gamma", "Proposal"))}
    deals["Delta"] = runtime.records.create(system, "opportunity", {"name": "Delta"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield {"client": client, "runtime": runtime, "ids": ids, "deals": deals}


def lanes(html: str) -> list[tuple[str, int]]:
    """Each lane's label and the count its heading shows, in the page's order."""
    return [(label, int(count)) for label, count in
            re.findall(r'<section class="column" aria-label="([^"]+)">\s*<h2><span>[^<]*</span>'
                       r'<span class="muted" data-count>(\d+)</span>', html)]


def test_a_board_grouped_by_a_lookup_has_a_lane_per_stage_in_the_objects_order(site: dict[str, Any]) -> None:
    admin = SignedIn(site["client"], "admin@example.com", "admin-password")
    page = admin.get("/app/opportunity/board", params={"group_by": "stage"})
    assert page.status_code == 200, page.text
    assert lanes(page.text) == [("Qualification", 2), ("Proposal", 1), ("Won", 0), ("Secret", 0), ("No stage", 1)]
    assert f'data-value="{site["ids"]["Proposal"]}"' in page.text
    assert "Opportunities by Stage" in page.text


def test_the_group_by_picker_offers_selects_and_lookups_to_small_objects_only(site: dict[str, Any]) -> None:
    admin = SignedIn(site["client"], "admin@example.com", "admin-password")
    page = admin.get("/app/opportunity/board").text
    picker = page[page.index('name="group_by"'):page.index("</select>", page.index('name="group_by"'))]
    assert re.findall(r'<option value="(\w+)"', picker) == ["priority", "stage"]  # not account: too many
    assert "Opportunities by Stage" in page  # by default: the lookup to records kept in order (stages)
    refused = admin.get("/app/opportunity/board", params={"group_by": "account"})
    assert refused.status_code == 422
    assert f"at most {MAX_CHOICES} records" in refused.text and "Accounts has more" in refused.text


def test_a_person_sees_only_the_lanes_of_the_stages_they_may_read(site: dict[str, Any]) -> None:
    rep = SignedIn(site["client"], "rep@example.com", "rep-password")
    page = rep.get("/app/opportunity/board", params={"group_by": "stage"})
    assert [label for label, _n in lanes(page.text)] == [lane for lane in LANES if lane != "Secret"]


def test_dragging_a_card_to_a_stage_lane_sets_the_lookup_through_the_save_pipeline(site: dict[str, Any]) -> None:
    rep = SignedIn(site["client"], "rep@example.com", "rep-password")
    alpha, ids = site["deals"]["Alpha"], site["ids"]
    moved = rep.post(f"/app/opportunity/{alpha['id']}/move", params={"field": "stage"},
                     data={"value": str(ids["Proposal"]), "version": str(alpha["version"])})
    assert moved.status_code == 200, moved.text
    assert site["runtime"].records.get(Actor.system(), "opportunity", alpha["id"])["stage"] == ids["Proposal"]
    # A validation rule refuses the move, with its message for the card.
    won = rep.post(f"/app/opportunity/{alpha['id']}/move", params={"field": "stage"},
                   data={"value": str(ids["Won"]), "version": str(moved.json()["version"])})
    assert won.status_code == 422 and won.json()["detail"] == "A won deal needs its amount"
    # To no stage, and to a stage record that is not there.
    blank = rep.post(f"/app/opportunity/{alpha['id']}/move", params={"field": "stage"},
                     data={"value": "", "version": str(moved.json()["version"])})
    assert blank.status_code == 200
    assert site["runtime"].records.get(Actor.system(), "opportunity", alpha["id"])["stage"] is None
    missing = rep.post(f"/app/opportunity/{alpha['id']}/move", params={"field": "stage"},
                       data={"value": "999999", "version": str(blank.json()["version"])})
    assert missing.status_code == 422 and "no sales_stage record" in missing.json()["detail"]
    page = rep.get("/app/opportunity/board", params={"group_by": "stage"}).text
    assert dict(lanes(page))["No stage"] == 2


def test_a_person_who_may_not_edit_cannot_move_a_card(site: dict[str, Any]) -> None:
    reader = SignedIn(site["client"], "reader@example.com", "reader-password")
    beta, ids = site["deals"]["Beta"], site["ids"]
    assert [label for label, _n in lanes(reader.get("/app/opportunity/board?group_by=stage").text)] == LANES
    refused = reader.post(f"/app/opportunity/{beta['id']}/move", params={"field": "stage"},
                          data={"value": str(ids["Proposal"]), "version": str(beta["version"])})
    assert refused.status_code == 403
    assert site["runtime"].records.get(Actor.system(), "opportunity", beta["id"])["stage"] == ids["Qualification"]


def test_a_board_of_an_object_without_selects_groups_by_its_small_lookup(site: dict[str, Any]) -> None:
    runtime = site["runtime"]
    runtime.metadata.create_object(Actor.system(), {"api_name": "visit", "label": "Visit", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": "account"},
        {"api_name": "stage", "label": "Stage", "type": "lookup", "target": "sales_stage"}]})
    runtime.records.create(Actor.system(), "visit", {"name": "Kick-off", "stage": site["ids"]["Won"]})
    admin = SignedIn(site["client"], "admin@example.com", "admin-password")
    page = admin.get("/app/visit/board").text
    assert "Visits by Stage" in page
    assert dict(lanes(page)) == {"Qualification": 0, "Proposal": 0, "Won": 1, "Secret": 0, "No stage": 0}
