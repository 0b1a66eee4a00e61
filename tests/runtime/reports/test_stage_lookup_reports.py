"""Reports over a lookup to a small master-data object (`opportunity.stage` → `sales_stage`,
ordered by its `order_field`) on SQLite and PostgreSQL, through the platform: funnels and
time in stage name their stages by the records' names (ids differ per database), resolved
when the report runs; the stages default to every stage record in order and follow a change
of that order at once; drilling into a step lists the records now in it; summary groups and
a dashboard's charts come in the stages' order; the report builder offers the lookup's
records as stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import record_history
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
SALES_STAGE = {"api_name": "sales_stage", "label": "Sales stage", "order_field": "position", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "position", "label": "Position", "type": "integer"},
    {"api_name": "probability", "label": "Probability", "type": "percent"},
]}
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "lookup", "target": "sales_stage"},
]}
#: Stage records are created in this order (their ids), and ordered by position.
STAGES = (("Won", 4), ("Qualification", 1), ("Closed lost", 5), ("Proposal", 2), ("Negotiation", 3))
ORDER = ["Qualification", "Proposal", "Negotiation", "Won", "Closed lost"]
FUNNEL = ["Qualification", "Proposal", "Won"]
PATHS: tuple[tuple[str, ...], ...] = (
    ("Qualification",),
    ("Qualification", "Proposal"),
    ("Qualification", "Negotiation", "Proposal"),  # moved back: reached Negotiation
    ("Proposal", "Won"),                            # created mid-way
    ("Qualification", "Won", "Qualification"),      # won, then reopened: reached Won
    ("Qualification", "Closed lost"),
)
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def report(**doc: Any) -> dict[str, Any]:
    return {"api_name": "r", "label": "R", "object": "opportunity", **doc}


@pytest.fixture
def pipeline(runtime: Platform) -> dict[str, Any]:
    """The stage records, the opportunities walked through PATHS (each change an hour after
    the one before, back-dated in the history) and their ids."""
    runtime.metadata.create_object(SYSTEM, SALES_STAGE)
    runtime.metadata.create_object(SYSTEM, OPPORTUNITY)
    ids = {name: runtime.records.create(SYSTEM, "sales_stage", {"name": name, "position": p})["id"]
           for name, p in STAGES}
    records = []
    for n, path in enumerate(PATHS):
        record = runtime.records.create(SYSTEM, "opportunity", {"name": f"Opp {n}", "stage": ids[path[0]],
                                                                "amount": str(100 * (n + 1))})
        for stage in path[1:]:
            record = runtime.records.update(SYSTEM, "opportunity", record["id"], {"stage": ids[stage]},
                                            record["version"])
        records.append(record)
    with runtime.read() as conn:
        snap = runtime.snapshot(conn)
        table = snap.table(snap.object("opportunity"))
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(table).values(created_at=T0))
        for record in records:
            changes = conn.execute(sa.select(record_history.c.id).where(
                record_history.c.record_id == record["id"], record_history.c.field_uid.is_not(None),
                record_history.c.object_uid == snap.object("opportunity").uid)
                .order_by(record_history.c.id)).scalars().all()
            for hours, change in enumerate(changes, start=1):
                conn.execute(sa.update(record_history).where(record_history.c.id == change)
                             .values(at=T0 + timedelta(hours=hours)))
    return {"ids": ids, "records": records}


def test_a_funnel_over_a_lookup_names_its_stages_by_the_stage_records_names(runtime: Platform,
                                                                            pipeline: dict[str, Any]) -> None:
    result = runtime.reports.run(SYSTEM, report(type="funnel", field="stage", stages=FUNNEL))
    assert [(r["stage"], r["label"], r["reached"]) for r in result["rows"]] == [
        ("Qualification", "Qualification", "6"), ("Proposal", "Proposal", "4"), ("Won", "Won", "2")]
    assert result["rows"][1]["from_previous"] == "0.6666666667"
    # The history holds the ids, as the save pipeline wrote them.
    with runtime.read() as conn:
        held = conn.execute(sa.select(record_history.c.new).where(record_history.c.field_uid.is_not(None))
                            .order_by(record_history.c.id)).scalars().first()
    assert held == pipeline["ids"]["Proposal"]


def test_a_funnel_without_stages_follows_the_stage_objects_order_field_and_its_changes(
        runtime: Platform, pipeline: dict[str, Any]) -> None:
    doc = report(type="funnel", field="stage")
    first = runtime.reports.run(SYSTEM, doc)
    assert [r["stage"] for r in first["rows"]] == ORDER
    assert [r["reached"] for r in first["rows"]] == ["6", "5", "4", "3", "1"]
    # An admin moves Negotiation before Proposal, as data: the next run follows (no stale cache).
    negotiation = runtime.records.get(SYSTEM, "sales_stage", pipeline["ids"]["Negotiation"])
    runtime.records.update(SYSTEM, "sales_stage", negotiation["id"], {"position": 0},
                           negotiation["version"])
    again = runtime.reports.run(SYSTEM, doc)
    assert again["meta"]["cached"] is False
    assert [r["stage"] for r in again["rows"]][:3] == ["Negotiation", "Qualification", "Proposal"]


def test_time_in_stage_over_a_lookup_measures_the_stays_named_by_stage(runtime: Platform,
                                                                       pipeline: dict[str, Any]) -> None:
    result = runtime.reports.run(SYSTEM, report(type="time_in_stage", field="stage", stages=ORDER))
    got = {r["stage"]: (r["records"], r["average"]) for r in result["rows"]}
    # Finished stays, an hour each: Qualification in opps 1, 2, 4, 5; Negotiation in 2;
    # Proposal in 3; Won in 4 (reopened).
    assert got == {"Qualification": ("4", 3600), "Proposal": ("1", 3600), "Negotiation": ("1", 3600),
                   "Won": ("1", 3600), "Closed lost": ("0", None)}
    assert [r["label"] for r in result["rows"]] == ORDER


def test_stage_names_that_name_no_stage_record_are_refused_at_their_place(runtime: Platform,
                                                                          pipeline: dict[str, Any],
                                                                          api: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        runtime.reports.run(SYSTEM, report(type="funnel", field="stage", stages=["Qualification", "Closing"]))
    assert [(p.field, p.code) for p in refused.value.errors] == [("/stages/1", "unknown_record")]
    answer = api.post("/reports/run", report(type="time_in_stage", field="stage", stages=["Nope"]))
    assert answer.status_code == 422 and "/stages/0" in answer.text and "Nope" in answer.text


def test_a_saved_report_may_name_stages_before_their_records_exist(runtime: Platform, api: Any) -> None:
    """A template installs its reports before its sample data: the names are resolved when
    the report runs."""
    runtime.metadata.create_object(SYSTEM, SALES_STAGE)
    runtime.metadata.create_object(SYSTEM, OPPORTUNITY)
    api.ok(api.post("/meta/reports", report(api_name="pipeline", label="Pipeline", type="funnel", field="stage",
                                            stages=FUNNEL)), 201)
    early = api.post("/reports/pipeline/run")
    assert early.status_code == 422 and "/stages/0" in early.text
    for name, p in STAGES:
        runtime.records.create(SYSTEM, "sales_stage", {"name": name, "position": p})
    result = api.ok(api.post("/reports/pipeline/run"))
    assert [(r["stage"], r["reached"]) for r in result["rows"]] == [(s, "0") for s in FUNNEL]


def test_a_funnel_step_over_a_lookup_drills_into_the_records_now_in_that_stage(
        runtime: Platform, pipeline: dict[str, Any], api: Any) -> None:
    api.ok(api.post("/meta/reports", report(api_name="pipeline", label="Pipeline", type="funnel", field="stage",
                                            stages=FUNNEL, filter="amount > 100")), 201)
    drill = api.ok(api.post("/reports/pipeline/drill", {"cell": {"stage": "Qualification", "label": "Qualification"}}))
    assert drill == {"object": "opportunity",
                     "filter": f"(amount > 100) AND stage.id = {pipeline['ids']['Qualification']}"}
    listed = api.ok(api.get("/records/opportunity", params={"filter": drill["filter"]}))
    assert sorted(r["name"] for r in listed["data"]) == ["Opp 4"]  # Opp 0 is in it too, but for 100
    unknown = api.post("/reports/pipeline/drill", {"cell": {"stage": "Negotiation"}})
    assert unknown.status_code == 422 and "/cell/stage" in unknown.text


def test_summary_groups_by_the_lookup_come_in_the_stage_objects_order(runtime: Platform,
                                                                      pipeline: dict[str, Any]) -> None:
    result = runtime.reports.run(SYSTEM, report(group_by=[{"field": "stage"}],
                                                measures=[{"name": "deals", "function": "count"}]))
    ids = pipeline["ids"]
    # Now: Qualification (0, 4), Proposal (1, 2), Won (3), Closed lost (5) — ids in creation order differ.
    assert [(r["stage"], r["deals"]) for r in result["rows"]] == [
        (ids["Qualification"], "2"), (ids["Proposal"], "2"), (ids["Won"], "1"), (ids["Closed lost"], "1")]


def test_a_dashboard_funnel_chart_over_a_lookup_draws_the_stages_in_order_with_drill_links(
        runtime: Platform, pipeline: dict[str, Any]) -> None:
    runtime.documents.create(SYSTEM, "reports", report(api_name="pipeline", label="Pipeline", type="funnel",
                                                       field="stage"))
    runtime.documents.create(SYSTEM, "dashboards", {"api_name": "sales", "label": "Sales", "widgets": [
        {"id": "funnel", "type": "funnel", "report": "pipeline", "x": 0, "y": 0, "w": 6, "h": 4},
        {"id": "bars", "type": "bar", "report": "pipeline", "x": 6, "y": 0, "w": 6, "h": 4}]})
    loaded = {w["id"]: w for w in runtime.dashboards.load(SYSTEM, "sales")["widgets"]}
    assert loaded["funnel"]["error"] is None, loaded["funnel"]["error"]
    items = loaded["funnel"]["data"]["items"]
    assert [(i["name"], i["value"]) for i in items] == list(zip(ORDER, ["6", "5", "4", "3", "1"], strict=True))
    assert items[3]["drill"] == f"/app/opportunity?formula=stage.id%20%3D%20{pipeline['ids']['Won']}"
    assert [c["label"] for c in loaded["bars"]["data"]["categories"]] == ORDER


def test_the_report_builder_offers_a_lookup_to_a_small_object_as_a_stage_field(runtime: Platform,
                                                                                pipeline: dict[str, Any]) -> None:
    design = runtime.dashboards.report_design(None, "opportunity")
    fields = {f["api_name"]: f for o in design["objects"] if o["api_name"] == "opportunity" for f in o["fields"]}
    assert [o["value"] for o in fields["stage"]["options"]] == ORDER
    assert "options" not in fields["name"]
