"""Funnels, time in stage and report groups over a lookup to a small object (a sales stage)
instead of a select, in the report engine alone: the stages are the target's records named
by their name field, handed to the engine in order as choices; the history holds their ids,
ranked by a CASE over those ids in SQL. Compiled and run on SQLite and on PostgreSQL over
tables built here from the objects' column types (no platform services)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.data.engine import make_engine
from tessera.formula import SimpleSchema
from tessera.meta.columns import UtcDateTime, json_column
from tessera.meta.model import ObjectDef
from tessera.reports import (
    ReportError,
    chart_data,
    compile_report,
    compile_stages,
    plan,
    plan_stages,
    stage_drill_filter,
)

STAGE = ObjectDef({"uid": "obj_stage", "api_name": "sales_stage", "label": "Sales stage", "order_field": "position",
                   "fields": [{"uid": "fld_stage_name", "api_name": "name", "label": "Name", "type": "text"},
                              {"uid": "fld_stage_position", "api_name": "position", "label": "Position",
                               "type": "integer"}]})
UNORDERED = ObjectDef({"uid": "obj_region", "api_name": "region", "label": "Region", "fields": [
    {"uid": "fld_region_name", "api_name": "name", "label": "Name", "type": "text"}]})
DEAL = ObjectDef({"uid": "obj_deal", "api_name": "deal", "label": "Deal", "fields": [
    {"uid": "fld_deal_name", "api_name": "name", "label": "Name", "type": "text"},
    {"uid": "fld_deal_amount", "api_name": "amount", "label": "Amount", "type": "currency"},
    {"uid": "fld_deal_stage", "api_name": "stage", "label": "Stage", "type": "lookup", "target": "sales_stage"},
    {"uid": "fld_deal_region", "api_name": "region", "label": "Region", "type": "lookup", "target": "region"},
]})
SCHEMA = SimpleSchema([STAGE, UNORDERED, DEAL])
#: The stage records as the runtime reads them: ids differ from the order (position).
STAGES = ((30, "Qualification"), (10, "Proposal"), (20, "Negotiation"), (40, "Won"), (50, "Lost"))
ID = dict((name, i) for i, name in STAGES)
#: Each deal's stages in order, created in the first.
PATHS: tuple[tuple[str, ...], ...] = (
    ("Qualification",),
    ("Qualification", "Proposal"),
    ("Qualification", "Negotiation", "Proposal"),  # skips Proposal, then moves back
    ("Proposal", "Won"),                            # created mid-way, skips Negotiation
    ("Qualification", "Won", "Qualification"),      # won, then reopened: it did reach Won
    ("Qualification", "Lost"),                      # Lost is no stage of the funnel below
)
FUNNEL = ["Qualification", "Proposal", "Negotiation", "Won"]
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def choices(target: ObjectDef) -> Sequence[tuple[int, str]] | None:
    """The records of a small object in its order, as the runtime gives them."""
    return STAGES if target.api_name == "sales_stage" else ((7, "North"), (3, "South"))


def _table(md: sa.MetaData, obj: ObjectDef) -> sa.Table:
    return sa.Table(obj.api_name, md, sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
                    *(sa.Column(f.column, f.ftype.column_type(f)) for f in obj.stored_fields),
                    sa.Column("created_at", UtcDateTime, nullable=False), sa.Column("deleted_at", UtcDateTime))


@pytest.fixture
def db(db_url: str) -> Iterator[dict[str, Any]]:
    """The deals walked through PATHS (an hour per step), their stage history as the save
    pipeline writes it (lookup ids as JSON numbers), and a trashed deal that reached Won."""
    engine = make_engine(db_url)
    md = sa.MetaData()
    tables = {o.api_name: _table(md, o) for o in (STAGE, UNORDERED, DEAL)}
    history = sa.Table("stage_history", md, sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
                       sa.Column("object_uid", sa.String(40)), sa.Column("record_id", sa.BigInteger),
                       sa.Column("field_uid", sa.String(40)), sa.Column("at", UtcDateTime),
                       sa.Column("old", json_column()), sa.Column("new", json_column()))
    md.create_all(engine)
    deals, changes = [], []
    for n, path in enumerate([*PATHS, ("Qualification", "Won")], start=1):
        deals.append({"id": n, "name": f"Deal {n}", "amount": 100 * n, "stage": ID[path[-1]], "region": None,
                      "created_at": T0, "deleted_at": T0 if n > len(PATHS) else None})
        for step, (old, new) in enumerate(pairwise(path), start=1):
            changes.append({"id": len(changes) + 1, "object_uid": DEAL.uid, "record_id": n,
                            "field_uid": "fld_deal_stage", "at": T0 + timedelta(hours=step),
                            "old": ID[old], "new": ID[new]})
    with engine.begin() as conn:
        conn.execute(sa.insert(tables["sales_stage"]), [
            {"id": i, "name": name, "position": p, "created_at": T0} for p, (i, name) in enumerate(STAGES)])
        conn.execute(sa.insert(tables["deal"]), deals)
        conn.execute(sa.insert(history), changes)
    yield {"engine": engine, "tables": tables, "history": history}
    engine.dispose()


def run_stages(db: dict[str, Any], doc: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    p = plan_stages({"object": "deal", **doc}, DEAL, SCHEMA, choices=choices)
    engine = db["engine"]
    statement = compile_stages(p, engine.dialect.name, lambda o: db["tables"][o.api_name], db["history"], **kwargs)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(statement).mappings()]


def test_a_funnel_over_a_lookup_counts_records_reaching_each_stage_named_by_its_record(db: dict[str, Any]) -> None:
    rows = run_stages(db, {"type": "funnel", "field": "stage", "stages": FUNNEL})
    assert [r["stage"] for r in rows] == FUNNEL
    assert [r["label"] for r in rows] == FUNNEL
    # Qualification: all six (deal 4 was created at Proposal, past it); Proposal: deals 2-5;
    # Negotiation: 3 (moved back, keeps the furthest), 4 and 5 (skipped it); Won: 4 and 5.
    assert [int(r["reached"]) for r in rows] == [6, 4, 3, 2]


def test_a_funnel_over_a_lookup_without_stages_takes_every_record_in_the_objects_order(
        db: dict[str, Any]) -> None:
    rows = run_stages(db, {"type": "funnel", "field": "stage"})
    assert [r["stage"] for r in rows] == [name for _i, name in STAGES]
    # Lost is the last stage now: deal 6, lost after Qualification, got through every stage.
    assert [int(r["reached"]) for r in rows] == [6, 5, 4, 3, 1]


def test_time_in_stage_over_a_lookup_adds_up_the_stays_between_changes_of_its_ids(db: dict[str, Any]) -> None:
    rows = run_stages(db, {"type": "time_in_stage", "field": "stage", "stages": FUNNEL})
    by_stage = {r["stage"]: r for r in rows}
    # Finished stays of an hour each: Qualification in deals 2, 3, 5, 6; Negotiation in 3;
    # Proposal in 4; Won in 5 (reopened).
    assert {s: int(r["records"]) for s, r in by_stage.items()} == {"Qualification": 4, "Proposal": 1,
                                                                  "Negotiation": 1, "Won": 1}
    assert {r["average"] for r in rows} == {3600}


def test_time_in_stage_over_a_lookup_counts_the_open_stay_until_now(db: dict[str, Any]) -> None:
    now = T0 + timedelta(hours=10)
    rows = run_stages(db, {"type": "time_in_stage", "field": "stage", "stages": ["Won"], "include_current": True},
                      now=now)
    # Deal 4 has been Won for 9 hours; deal 5 was Won for an hour, then reopened.
    assert [(r["stage"], int(r["records"]), r["average"]) for r in rows] == [("Won", 2, 5 * 3600)]


def test_stage_names_that_are_no_record_of_the_target_are_problems_at_their_place() -> None:
    with pytest.raises(ReportError) as raised:
        plan_stages({"object": "deal", "type": "funnel", "field": "stage",
                     "stages": ["Proposal", "Closed", "Proposal"]}, DEAL, SCHEMA, choices=choices)
    assert [(p.path, p.code) for p in raised.value.problems] == [("/stages/1", "unknown_record"),
                                                                  ("/stages/2", "duplicate")]
    assert "no Sales stage is named 'Closed'" in raised.value.problems[0].message


def test_a_lookup_to_an_object_of_too_many_records_makes_no_stages() -> None:
    with pytest.raises(ReportError) as raised:
        plan_stages({"object": "deal", "type": "funnel", "field": "stage"}, DEAL, SCHEMA, choices=lambda _t: None)
    assert [(p.path, p.code) for p in raised.value.problems] == [("/field", "too_many")]


def test_a_document_checked_without_the_stage_records_passes_but_cannot_be_compiled() -> None:
    """A template's report names stages its sample data creates later: the check against the
    metadata alone accepts the names; only a run, with the records, resolves them."""
    p = plan_stages({"object": "deal", "type": "funnel", "field": "stage", "stages": ["Anything"]}, DEAL, SCHEMA)
    assert p.stages == ("Anything",) and p.keys == ()
    with pytest.raises(ValueError, match="choices"):
        compile_stages(p, "sqlite", lambda o: sa.table(o.api_name), sa.table("h"))


def test_drilling_into_a_lookup_stage_selects_the_records_now_in_it_by_id() -> None:
    p = plan_stages({"object": "deal", "type": "funnel", "field": "stage", "filter": "amount > 100",
                     "stages": FUNNEL}, DEAL, SCHEMA, choices=choices)
    assert stage_drill_filter(p, {"stage": "Proposal"}) == "(amount > 100) AND stage.id = 10"
    assert stage_drill_filter(p, {"stage": None}) == "(amount > 100) AND ISBLANK(stage)"
    with pytest.raises(ReportError):
        stage_drill_filter(p, {"stage": "Lost"})


def test_summary_groups_by_a_lookup_to_an_ordered_object_come_in_its_order(db: dict[str, Any]) -> None:
    doc = {"object": "deal", "group_by": [{"field": "stage"}], "measures": [{"name": "n", "function": "count"}]}
    p = plan(doc, DEAL, SCHEMA, choices=choices)
    assert p.rows[0].options == STAGES
    engine = db["engine"]
    query = compile_report(p, engine.dialect.name, lambda o: db["tables"][o.api_name])
    with engine.connect() as conn:
        rows = [r for r in conn.execute(query.statement).mappings() if r["_lvl"] == 0]
    # Current stages: Qualification (1, 5), Proposal (2, 3), Won (4), Lost (6) — by position, not id.
    assert [(r["stage"], r["n"]) for r in rows] == [(30, 2), (10, 2), (40, 1), (50, 1)]


def test_summary_groups_by_a_lookup_to_an_object_without_order_field_keep_their_own_order() -> None:
    p = plan({"object": "deal", "group_by": [{"field": "region"}]}, DEAL, SCHEMA, choices=choices)
    assert p.rows[0].options == ()


def test_a_chart_draws_a_lookup_series_in_the_order_of_the_reports_column_totals() -> None:
    """A pivot of deals by region and stage: the stages' columns follow the column totals
    (which the report ordered by the stage object's order), not the rows' first sighting."""
    result = {"columns": [{"name": "region", "label": "Region", "kind": "grouping", "type": "record"},
                          {"name": "stage", "label": "Stage", "kind": "grouping", "type": "record"},
                          {"name": "n", "label": "Deals", "kind": "measure", "type": "number"}],
              "rows": [{"region": 7, "stage": 40, "n": "1"}, {"region": 3, "stage": 30, "n": "2"},
                       {"region": 3, "stage": 40, "n": "1"}],
              "subtotals": [{"group_by": ["stage"], "stage": 30, "n": "2"},
                            {"group_by": ["stage"], "stage": 40, "n": "2"}],
              "totals": {"n": "4"}}
    labels = {"region": {7: "North", 3: "South"}, "stage": {40: "Won", 30: "Qualification"}}
    pivot = chart_data({"id": "w", "type": "pivot"}, result, labels, lambda cell: "")
    assert [c["label"] for c in pivot["columns"]] == ["Qualification", "Won"]
    bars = chart_data({"id": "w", "type": "bar"}, result, labels, lambda cell: "")
    assert [s["label"] for s in bars["series"]] == ["Qualification", "Won"]
