"""Capturing leads through every door — the API and an import from a spreadsheet — gives
each the same treatment as a lead typed in: assigned round robin in its region, scored and
graded; and a deal moved back to an earlier stage keeps its stage history."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.runtime.platform import Platform

from .conftest import PASSWORD, admin
from .test_rules import SYSTEM, day, people, stages


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_a_lead_posted_to_the_api_is_assigned_in_its_region_and_scored(crm: Platform) -> None:
    team = people(crm)
    with TestClient(create_app(crm), base_url="http://127.0.0.1") as client:
        token = client.post("/api/v1/auth/token", json={"email": "sales.manager@demo.tessera",
                                                        "password": PASSWORD}).json()["access_token"]
        made = client.post("/api/v1/records/lead", headers={"Authorization": f"Bearer {token}"}, json={
            "last_name": "Webform", "company": "Orbit Ltd", "region": "West", "source": "Referral",
            "title": "VP Operations", "employees_band": "201-500"})
    assert made.status_code == 201, made.text
    lead = made.json()
    assert lead["owner"] == team["west"].user_id
    assert lead["score"] == 20 + 15 + 10
    assert crm.records.get(SYSTEM, "lead", lead["id"])["grade"] == "C"


def test_leads_imported_from_a_spreadsheet_are_assigned_and_scored_like_typed_ones(crm: Platform) -> None:
    team = people(crm)
    draft = crm.imports.start(SYSTEM, "lead", "leads.csv", _csv([
        ["External ID", "First name", "Last name", "Company", "Region", "Source", "Title"],
        ["W-1", "Ann", "Ames", "Acme", "East", "Webinar", "Head of IT"],
        ["W-2", "Bo", "Berg", "Birch", "East", "Cold call", "Analyst"],
        ["W-3", "Cy", "Cole", "Cedar", "Central", "Paid search", "CEO"]]))
    started = crm.imports.run(SYSTEM, int(draft["id"]))
    assert crm.jobs.wait(int(started["job"]), timeout=120)["status"] == "succeeded"
    assert crm.imports.get(SYSTEM, int(draft["id"]))["counts"]["created"] == 3
    leads = {r["external_id"]: r for r in crm.records.list(SYSTEM, "lead", limit=10)["data"]}
    assert {leads["W-1"]["owner"], leads["W-2"]["owner"]} == {team["east1"].user_id, team["east2"].user_id}
    assert leads["W-3"]["owner"] == team["central"].user_id
    assert (leads["W-1"]["score"], leads["W-2"]["score"], leads["W-3"]["score"]) == (15 + 15, 0, 10 + 15)


def test_a_deal_moved_back_to_an_earlier_stage_shows_its_stage_history(crm: Platform) -> None:
    me = admin(crm)
    stage = stages(crm)
    account = crm.records.create(me, "account", {"name": "Northwind"})
    deal = crm.records.create(me, "opportunity", {"name": "Northwind seats", "account": account["id"],
                                                  "stage": stage["Qualification"], "close_date": day(30)})
    deal = crm.records.update(me, "opportunity", deal["id"], {"stage": stage["Proposal"]}, None)
    assert deal["probability"] == "50"
    deal = crm.records.update(me, "opportunity", deal["id"], {"stage": stage["Needs Analysis"]}, None)
    assert deal["probability"] == "20" and deal["stage_entered_at"]
    moves = [(e["old"], e["new"]) for e in crm.records.history(me, "opportunity", deal["id"]) if e["field"] == "stage"]
    assert moves == [(stage["Proposal"], stage["Needs Analysis"]), (stage["Qualification"], stage["Proposal"])]
