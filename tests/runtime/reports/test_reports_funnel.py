"""Funnel and time-in-stage reports on SQLite and PostgreSQL: stages reached over a select
field's history (skipped stages count as reached, moving back keeps the furthest), exact
conversion rates, time spent per stage from consecutive history entries, the caller's row
scope, the created-date range, the API run and CSV/XLSX exports — every figure checked
against Python over the stage paths the test wrote."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tessera.auth.actor import Actor
from tessera.data.tables import record_history
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

OPTIONS = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
FUNNEL = ("lead", "qualified", "proposal", "won")
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": v, "label": v.title()} for v in OPTIONS]},
    {"api_name": "region", "label": "Region", "type": "select", "options": [{"value": "east"}, {"value": "west"}]},
]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "opportunity": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}
#: Each record's stages in order (created with the first); the owner is rep 0 or rep 1.
PATHS: tuple[tuple[str, ...], ...] = (
    ("lead",),                                    # stays a lead
    ("lead", "qualified"),
    ("lead", "proposal", "qualified"),            # skips qualified, then moves back
    ("qualified", "won"),                         # created mid-funnel, skips proposal
    ("lead", "won", "lead"),                      # won, then reopened: it did reach won
    ("lead", "lost"),                             # lost is no stage of this funnel
    ("proposal",),
    ("lead", "qualified", "negotiation"),         # negotiation is not listed: reached qualified
    ("qualified", "proposal", "won"),
)
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def rate(a: int, b: int) -> str | None:
    if not b:
        return None
    return format((Decimal(a) / Decimal(b)).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP).normalize(), "f")


def expected_funnel(paths: list[tuple[str, ...]], stages: tuple[str, ...] = FUNNEL) -> list[tuple[str, str, Any, Any]]:
    furthest = [max((stages.index(s) for s in path if s in stages), default=-1) for path in paths]
    reached = [sum(1 for f in furthest if f >= i) for i in range(len(stages))]
    return [(stage, str(n), rate(n, reached[i - 1]) if i else None, rate(n, reached[0]))
            for i, (stage, n) in enumerate(zip(stages, reached, strict=True))]


def walk(runtime: Platform, actor: Actor, path: tuple[str, ...], owner: int, n: int, **extra: Any) -> dict[str, Any]:
    record = runtime.records.create(actor, "opportunity", {"name": f"Opp {n}", "stage": path[0], "owner": owner,
                                                           "amount": str(1000 * (n + 1)), **extra})
    for stage in path[1:]:
        record = runtime.records.update(actor, "opportunity", record["id"], {"stage": stage}, record["version"])
    return record


@pytest.fixture
def pipeline(runtime: Platform) -> dict[str, Any]:
    system = Actor.system()
    runtime.metadata.create_object(system, OPPORTUNITY)
    runtime.users.roles.create(system, SALES, runtime.snapshot)
    reps = []
    for i in range(2):
        rep = runtime.users.accounts.add(system, {"email": f"rep{i}@example.com", "name": f"Rep {i}",
                                                  "password": "a-long-password", "roles": ["sales"]})
        reps.append(rep["id"] if isinstance(rep, dict) else rep)
    records = [walk(runtime, system, path, reps[n % 2], n, region=("east", "west")[n % 3 == 0])
               for n, path in enumerate(PATHS)]
    gone = walk(runtime, system, ("lead", "qualified", "won"), reps[0], 99)
    runtime.records.delete(system, "opportunity", gone["id"])
    return {"reps": reps, "records": records}


def run(runtime: Platform, doc: dict[str, Any], actor: Actor | None = None, **params: Any) -> dict[str, Any]:
    return runtime.reports.run(actor or Actor.system(), {"api_name": "f", "label": "F", "object": "opportunity",
                                                         **doc}, **params)


def cells(result: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    return [(r["stage"], r["reached"], r["from_previous"], r["from_first"]) for r in result["rows"]]


def test_funnel_counts_records_reaching_each_stage_with_conversion_rates(runtime: Platform,
                                                                         pipeline: dict[str, Any]) -> None:
    result = run(runtime, {"type": "funnel", "field": "stage", "stages": list(FUNNEL)})
    assert cells(result) == expected_funnel(list(PATHS))
    # lead 8 (all but the one only ever lost... which was a lead first), qualified 6, proposal 4, won 3
    assert [r["reached"] for r in result["rows"]] == ["9", "7", "5", "3"]
    assert result["rows"][1]["from_previous"] == "0.7777777778"
    assert [c["name"] for c in result["columns"]] == ["stage", "label", "reached", "from_previous", "from_first"]
    assert result["rows"][0]["label"] == "Lead" and result["totals"] is None


def test_funnel_stages_default_to_the_select_options_in_order(runtime: Platform, pipeline: dict[str, Any]) -> None:
    result = run(runtime, {"type": "funnel", "field": "stage"})
    assert [r["stage"] for r in result["rows"]] == list(OPTIONS)
    assert cells(result) == expected_funnel(list(PATHS), OPTIONS)


def test_a_funnel_sums_a_number_field_over_the_records_reaching_each_stage(runtime: Platform,
                                                                          pipeline: dict[str, Any]) -> None:
    doc = {"type": "funnel", "field": "stage", "stages": list(FUNNEL),
           "measure": {"function": "sum", "field": "amount"}}
    result = run(runtime, doc)
    assert [c["name"] for c in result["columns"]] == ["stage", "label", "reached", "value", "from_previous",
                                                       "from_first"]
    assert result["columns"][3]["label"] == "Sum of Amount"
    amounts = [1000 * (n + 1) for n in range(len(PATHS))]
    furthest = [max((FUNNEL.index(s) for s in path if s in FUNNEL), default=-1) for path in PATHS]
    totals = [sum(a for a, f in zip(amounts, furthest, strict=True) if f >= i) for i in range(len(FUNNEL))]
    counts = [sum(1 for f in furthest if f >= i) for i in range(len(FUNNEL))]
    got = [(r["stage"], r["reached"], r["value"], r["from_previous"], r["from_first"]) for r in result["rows"]]
    assert got == [(stage, str(counts[i]), f"{totals[i]}", rate(totals[i], totals[i - 1]) if i else None,
                    rate(totals[i], totals[0])) for i, stage in enumerate(FUNNEL)]
    labelled = run(runtime, {**doc, "measure": {"function": "sum", "field": "amount", "label": "Pipeline value"}})
    assert labelled["columns"][3]["label"] == "Pipeline value"
    counted = run(runtime, {**doc, "measure": {"function": "count"}})
    assert cells(counted) == expected_funnel(list(PATHS))


def test_a_funnel_step_drills_into_the_records_now_in_it_within_the_reports_range(
        runtime: Platform, pipeline: dict[str, Any]) -> None:
    doc = {"type": "funnel", "field": "stage", "stages": list(FUNNEL), "filter": 'region = "west"',
           "created": {"from": "2024-01-01", "to": "2030-12-31"}}
    system = Actor.system()
    found = runtime.reports.drill(system, {"api_name": "f", "label": "F", "object": "opportunity", **doc},
                                  {"stage": "won"})
    assert found["filter"] == ('(region = "west") AND created_at >= DATETIME(2024, 1, 1, 0, 0, 0) AND '
                               'created_at < DATETIME(2031, 1, 1, 0, 0, 0) AND stage = "won"')
    listed = runtime.records.list(system, "opportunity", filter=found["filter"], fields=["name"])
    assert sorted(r["name"] for r in listed["data"]) == sorted(
        f"Opp {n}" for n, p in enumerate(PATHS) if n % 3 == 0 and p[-1] == "won")


def test_funnel_applies_the_filter_parameter_and_created_range(runtime: Platform, pipeline: dict[str, Any]) -> None:
    doc = {"type": "funnel", "field": "stage", "stages": list(FUNNEL), "filter": 'region = "west"'}
    west = [p for n, p in enumerate(PATHS) if n % 3 == 0]
    assert cells(run(runtime, doc)) == expected_funnel(west)
    assert cells(run(runtime, doc, filter="amount > 3000")) == \
        expected_funnel([p for n, p in enumerate(PATHS) if n % 3 == 0 and 1000 * (n + 1) > 3000])
    table = opportunities(runtime)
    first_ids = [r["id"] for r in pipeline["records"][:4]]
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id.in_(first_ids))
                     .values(created_at=datetime(2023, 5, 5, tzinfo=UTC)))
    recent = {"type": "funnel", "field": "stage", "stages": list(FUNNEL), "created": {"from": "2024-01-01"}}
    assert cells(run(runtime, recent)) == expected_funnel(list(PATHS[4:]))
    old = {**recent, "created": {"from": "2023-05-05", "to": "2023-05-05"}}
    assert cells(run(runtime, old)) == expected_funnel(list(PATHS[:4]))


def test_a_restricted_users_funnel_counts_only_their_records(runtime: Platform, pipeline: dict[str, Any]) -> None:
    doc = {"type": "funnel", "field": "stage", "stages": list(FUNNEL)}
    for i, rep_id in enumerate(pipeline["reps"]):
        rep = runtime.users.actor_for_user(rep_id)
        mine = [p for n, p in enumerate(PATHS) if n % 2 == i]
        assert cells(run(runtime, doc, rep)) == expected_funnel(mine)
        stays = run(runtime, {**doc, "type": "time_in_stage"}, rep)["rows"]
        left_lead = sum(1 for p in mine if len(p) > 1 and p[0] == "lead")
        assert stays[0]["stage"] == "lead" and stays[0]["records"] == str(left_lead)


def opportunities(runtime: Platform) -> sa.Table:
    with runtime.read() as conn:
        snap = runtime.snapshot(conn)
        return snap.table(snap.object("opportunity"))


def set_times(runtime: Platform, record_id: int, created: datetime, changes: list[datetime]) -> None:
    """Back-date a record's creation and its stage changes (in the order they were made)."""
    table = opportunities(runtime)
    with runtime.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == record_id).values(created_at=created))
        ids = conn.execute(sa.select(record_history.c.id).where(record_history.c.record_id == record_id,
                                                                 record_history.c.field_uid.is_not(None))
                           .order_by(record_history.c.id)).scalars().all()
        assert len(ids) == len(changes)
        for hid, at in zip(ids, changes, strict=True):
            conn.execute(sa.update(record_history).where(record_history.c.id == hid).values(at=at))


@pytest.fixture
def timed(runtime: Platform) -> dict[str, Any]:
    """Four records with known stays (hours after T0)."""
    system = Actor.system()
    runtime.metadata.create_object(system, OPPORTUNITY)
    plans = [
        (("lead", "qualified", "proposal", "qualified", "won"), [1, 3, 4, 10]),
        (("lead", "qualified", "won"), [2, 5]),
        (("lead", "qualified", "proposal", "won"), [0.5, 1.5, 3.5]),
        (("lead",), []),
    ]
    stays: dict[str, list[int]] = {}
    for n, (path, hours) in enumerate(plans):
        record = walk(runtime, system, path, 1, n)
        moments = [T0 + timedelta(hours=h) for h in hours]
        set_times(runtime, record["id"], T0, moments)
        spent: dict[str, int] = {}
        for stage, start, end in zip(path, [T0, *moments], moments, strict=False):
            spent[stage] = spent.get(stage, 0) + int((end - start).total_seconds())
        for stage, seconds in spent.items():
            stays.setdefault(stage, []).append(seconds)
    return {"stays": stays}


def test_time_in_stage_averages_and_medians_finished_stays_per_record(runtime: Platform,
                                                                      timed: dict[str, Any]) -> None:
    result = run(runtime, {"type": "time_in_stage", "field": "stage", "stages": list(FUNNEL)})
    got = {r["stage"]: (r["records"], r["average"], r["median"]) for r in result["rows"]}
    stays = timed["stays"]
    # lead: 1h, 2h, 0.5h; qualified: 2h + 6h (moved back), 3h, 1h; proposal: 1h, 2h; won: still open.
    assert stays == {"lead": [3600, 7200, 1800], "qualified": [28800, 10800, 3600], "proposal": [3600, 7200]}
    for stage in FUNNEL:
        values = stays.get(stage, [])
        expected = (str(len(values)), round(sum(values) / len(values)) if values else None,
                    int(statistics.median(values)) if values else None)
        assert got[stage] == expected, stage
    assert got["proposal"] == ("2", 5400, 5400)  # the median of two is their average
    assert [c["type"] for c in result["columns"][2:]] == ["number", "duration", "duration"]


def test_time_in_stage_can_count_the_current_stay_until_now(runtime: Platform, timed: dict[str, Any]) -> None:
    doc = {"type": "time_in_stage", "field": "stage", "stages": list(FUNNEL), "include_current": True}
    got = {r["stage"]: r for r in run(runtime, doc)["rows"]}
    assert got["won"]["records"] == "3"
    since = (datetime.now(UTC) - T0).total_seconds()
    assert since - 11 * 3600 - 60 < got["won"]["median"] < since
    assert got["lead"]["records"] == "4"  # the record that is still a lead: created T0, until now
    assert run(runtime, doc)["meta"]["cached"] is False


@pytest.mark.parametrize(("change", "path"), [
    ({"field": "amount"}, "/field"),
    ({"field": "nope"}, "/field"),
    ({"stages": ["lead", "closed"]}, "/stages/1"),
    ({"stages": ["lead", "lead"]}, "/stages/1"),
    ({"filter": "amount + 1"}, "/filter"),
    ({"created": {"from": "2024-02-30"}}, "/created/from"),
    ({"group_by": [{"field": "stage"}]}, "/group_by"),
    ({"include_current": True}, "/include_current"),
    ({"measure": {"function": "sum"}}, "/measure/field"),
    ({"measure": {"function": "sum", "field": "region"}}, "/measure/field"),
    ({"measure": {"function": "sum", "field": "nope"}}, "/measure/field"),
    ({"measure": {"function": "count", "field": "amount"}}, "/measure/field"),
])
def test_bad_funnel_documents_are_refused_with_pinpointed_problems(runtime: Platform, pipeline: dict[str, Any],
                                                                  change: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(runtime, {"type": "funnel", "field": "stage", **change})
    assert path in [p.field for p in refused.value.errors], refused.value.errors


def test_funnels_run_and_export_through_the_api(api: Any) -> None:
    api.ok(api.post("/meta/objects", OPPORTUNITY), 201)
    for n, path in enumerate(PATHS):
        record = api.ok(api.post("/records/opportunity", {"name": f"O{n}", "stage": path[0]}), 201)
        for stage in path[1:]:
            record = api.ok(api.patch(f"/records/opportunity/{record['id']}", {"stage": stage},
                                      headers={"If-Match": str(record["version"])}))
    report = {"api_name": "pipeline", "label": "Pipeline", "object": "opportunity", "type": "funnel",
              "field": "stage", "stages": list(FUNNEL)}
    api.ok(api.post("/meta/reports", report), 201)
    result = api.ok(api.post("/reports/pipeline/run"))
    assert cells(result) == expected_funnel(list(PATHS))
    preview = api.ok(api.post("/reports/run", {"object": "opportunity", "type": "time_in_stage", "field": "stage"}))
    assert [r["stage"] for r in preview["rows"]] == list(OPTIONS)
    bad = api.post("/meta/reports", {**report, "api_name": "broken", "field": "amount"})
    assert bad.status_code == 422 and "/field" in bad.text
    lines = list(csv.reader(io.StringIO(api.get("/reports/pipeline/export.csv").text)))
    assert lines[0] == ["Stage", "Label", "Reached", "Conversion from previous", "Conversion from first"]
    assert [line[:3] for line in lines[1:]] == [[s, s.title(), n] for s, n, _p, _f in expected_funnel(list(PATHS))]
    sheet = load_workbook(io.BytesIO(api.get("/reports/pipeline/export.xlsx").content)).active
    assert [c.value for c in sheet[2]][:3] == ["lead", "Lead", 9]
    # A step drills into the records now in that stage (and the report's own filter).
    drill = api.ok(api.post("/reports/pipeline/drill", {"cell": {"stage": "won", "label": "Won"}}))
    assert drill == {"object": "opportunity", "filter": 'stage = "won"'}
    listed = api.ok(api.get("/records/opportunity", params={"filter": drill["filter"]}))
    assert sorted(r["name"] for r in listed["data"]) == sorted(f"O{n}" for n, p in enumerate(PATHS) if p[-1] == "won")
    unknown = api.post("/reports/pipeline/drill", {"cell": {"stage": "lost"}})
    assert unknown.status_code == 422 and "/cell/stage" in unknown.text
