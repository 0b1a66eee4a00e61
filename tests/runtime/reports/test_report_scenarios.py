"""The report scenarios a sales and service team asks for, end to end on SQLite and
PostgreSQL, every figure worked out by hand from the records each test writes:

1. win rate and average won deal size by owner and quarter (formula measures over aggregates);
2. weighted pipeline (amount times a percent probability, and a formula field) by close month;
3. a lead-to-deal funnel over a select field's history, with skipped and reversed stages;
4. tickets by type and priority with the median first-reply time (formula fields over
   `first_replied_at - created_at`) and SLA compliance from an SLA policy on a calendar;
5. a salesperson and their manager running the same saved report and funnel, each seeing
   the numbers of the records they may read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()
OPPORTUNITY = {"api_name": "opportunity", "label": "Opportunity", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "probability", "label": "Probability", "type": "percent"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"},
                 {"value": "lost", "label": "Lost"}]},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "weighted", "label": "Weighted", "type": "formula", "expression": "amount * probability / 100",
     "scale": 2},
    {"api_name": "weighted_stored", "label": "Weighted (stored)", "type": "formula",
     "expression": "amount * probability / 100", "scale": 2, "store": True},
]}
LEAD_STAGES = ("new", "contacted", "qualified", "proposal", "won", "lost")
LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "status", "label": "Status", "type": "select",
     "options": [{"value": v, "label": v.title()} for v in LEAD_STAGES]},
]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "opportunity": {"create": True, "read": "own", "edit": "own", "delete": "none"},
    "lead": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}
MANAGER = {"api_name": "sales_manager", "label": "Sales manager", "permissions": {
    "opportunity": {"create": True, "read": "team", "edit": "team", "delete": "none"},
    "lead": {"create": True, "read": "team", "edit": "team", "delete": "none"}}}
DIRECTOR = {"api_name": "sales_director", "label": "Sales director", "permissions": {
    "opportunity": {"create": False, "read": "all", "edit": "none", "delete": "none"},
    "lead": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}
#: (key, role, team): Ana and Ben sell in the east under Mia; Cal sells in the west.
PEOPLE = (("ana", "sales", "east"), ("ben", "sales", "east"), ("cal", "sales", "west"),
          ("mia", "sales_manager", "east"), ("dan", "sales_director", "west"))


@pytest.fixture
def crm(runtime: Platform) -> dict[str, Any]:
    for doc in (OPPORTUNITY, LEAD):
        runtime.metadata.create_object(SYSTEM, doc)
    for role in (SALES, MANAGER, DIRECTOR):
        runtime.users.roles.create(SYSTEM, role, runtime.snapshot)
    for team in ("east", "west"):
        runtime.users.teams.create(SYSTEM, {"api_name": team, "label": team.title()})
    ids = {key: int(runtime.users.accounts.add(SYSTEM, {
        "email": f"{key}@example.com", "name": key.title(), "password": "a-long-password", "roles": [role],
        "teams": [team]})["id"]) for key, role, team in PEOPLE}
    return {"ids": ids, "actors": {key: runtime.users.actor_for_user(i) for key, i in ids.items()}}


def run(runtime: Platform, report: str | dict[str, Any], actor: Actor = SYSTEM, **params: Any) -> dict[str, Any]:
    if isinstance(report, dict):
        report = {"api_name": "scenario", "label": "Scenario", **report}
    return runtime.reports.run(actor, report, **params)


def measures(row: dict[str, Any] | None, *names: str) -> tuple[Any, ...]:
    assert row is not None
    return tuple(row[n] for n in names)


# -- 1. win rate and average won deal size by owner and quarter ---------------------------

#: (owner, stage, amount, close date)
DEALS = (
    ("ana", "won", "1000.00", "2024-01-15"), ("ana", "lost", "500.00", "2024-02-20"),
    ("ana", "won", "3000.50", "2024-03-31"), ("ana", "open", "2000.00", "2024-03-10"),
    ("ana", "won", "1200.00", "2024-04-01"), ("ana", "lost", "800.00", "2024-06-30"),
    ("ana", "lost", "700.00", "2024-05-05"),
    ("ben", "won", "4000.00", "2024-02-01"), ("ben", "won", "2500.25", "2024-05-31"),
    ("ben", "lost", "900.00", "2024-06-15"), ("ben", "open", "1500.00", "2024-04-20"),
    ("ben", "won", "600.00", "2024-07-01"),
    ("cal", "lost", "300.00", "2024-08-08"), ("cal", "lost", "450.00", "2024-09-30"),
    ("cal", "open", "5000.00", "2024-10-01"), ("cal", "won", "2000.00", "2024-11-11"),
    ("cal", "open", "750.00", None),
)
WIN_RATE = {
    "api_name": "win_rate_by_owner", "label": "Win rate by owner and quarter", "object": "opportunity",
    "group_by": [{"field": "owner", "label": "Owner"},
                 {"field": "close_date", "bucket": "quarter", "name": "quarter", "label": "Quarter"}],
    "measures": [
        {"name": "deals", "label": "Deals", "function": "count"},
        {"name": "won", "label": "Won", "formula": 'COUNT(stage = "won")'},
        {"name": "win_rate", "label": "Win rate", "formula": 'SUM(IF(stage = "won", 1, 0)) / COUNT(stage <> "open")'},
        {"name": "avg_won", "label": "Average won deal", "formula": 'AVG(IF(stage = "won", amount, BLANK()))'},
    ],
}
WIN_MEASURES = ("deals", "won", "win_rate", "avg_won")
#: By hand, per (owner, quarter): deals, won, won ÷ closed (10 places), average won amount.
WIN_ROWS = {
    ("ana", "2024-Q1"): ("4", "2", "0.6666666667", "2000.25"),     # 1000 + 3000.50; A4 open
    ("ana", "2024-Q2"): ("3", "1", "0.3333333333", "1200"),
    ("ben", "2024-Q1"): ("1", "1", "1", "4000"),
    ("ben", "2024-Q2"): ("3", "1", "0.5", "2500.25"),              # one open deal is not closed
    ("ben", "2024-Q3"): ("1", "1", "1", "600"),
    ("cal", "2024-Q3"): ("2", "0", "0", None),                     # only lost: no won deal to average
    ("cal", "2024-Q4"): ("2", "1", "1", "2000"),
    ("cal", None): ("1", "0", None, None),                         # nothing closed: x / 0 is blank
}
WIN_OWNERS = {
    "ana": ("7", "3", "0.5", "1733.5"),        # 5200.50 / 3
    "ben": ("5", "3", "0.75", "2366.75"),      # 7100.25 / 3
    "cal": ("5", "1", "0.3333333333", "2000"),
}
#: Everyone's: 7 won of 13 closed; 14300.75 / 7 = 2042.96428571428…
WIN_TOTALS = ("17", "7", "0.5384615385", "2042.9642857143")


@pytest.fixture
def deals(runtime: Platform, crm: dict[str, Any]) -> dict[str, Any]:
    ids = crm["ids"]
    for i, (owner, stage, amount, closes) in enumerate(DEALS):
        runtime.records.create(SYSTEM, "opportunity", {"name": f"Deal {i}", "owner": ids[owner], "stage": stage,
                                                       "amount": amount, "close_date": closes})
    gone = runtime.records.create(SYSTEM, "opportunity", {"name": "Deleted", "owner": ids["ana"], "stage": "won",
                                                          "amount": "99999.00", "close_date": "2024-01-20"})
    runtime.records.delete(SYSTEM, "opportunity", gone["id"])
    runtime.documents.create(SYSTEM, "reports", WIN_RATE)
    return crm


def owner_rows(result: dict[str, Any], ids: dict[str, int]) -> dict[tuple[str, Any], tuple[Any, ...]]:
    names = {v: k for k, v in ids.items()}
    return {(names[r["owner"]], r["quarter"]): measures(r, *WIN_MEASURES) for r in result["rows"]}


def owner_subtotals(result: dict[str, Any], ids: dict[str, int]) -> dict[str, tuple[Any, ...]]:
    names = {v: k for k, v in ids.items()}
    return {names[s["owner"]]: measures(s, *WIN_MEASURES) for s in result["subtotals"] if s["group_by"] == ["owner"]}


def test_win_rate_and_average_won_deal_size_by_owner_and_quarter(runtime: Platform, deals: dict[str, Any]) -> None:
    ids = deals["ids"]
    result = run(runtime, "win_rate_by_owner")
    assert owner_rows(result, ids) == WIN_ROWS
    # Sorted by owner, then quarter, blanks last.
    assert [(r["owner"], r["quarter"]) for r in result["rows"]] == [(ids[o], q) for o, q in WIN_ROWS]
    assert owner_subtotals(result, ids) == WIN_OWNERS
    assert measures(result["totals"], *WIN_MEASURES) == WIN_TOTALS
    assert [c["type"] for c in result["columns"]] == ["record", "text", "number", "number", "number", "number"]
    # A fiscal year starting in April moves January-March 2024 into 2023-Q4.
    fiscal = run(runtime, {**WIN_RATE, "api_name": "fiscal", "fiscal_year_start": 4})
    rows = owner_rows(fiscal, ids)
    assert rows[("ana", "2023-Q4")] == WIN_ROWS[("ana", "2024-Q1")]
    assert rows[("cal", "2024-Q3")] == WIN_ROWS[("cal", "2024-Q4")]
    assert measures(fiscal["totals"], *WIN_MEASURES) == WIN_TOTALS


# -- 2. weighted pipeline by close month ---------------------------------------------------

#: (stage, amount, probability %, close date) → amount * probability / 100
PIPELINE = (
    ("open", "10000.00", "25", "2024-07-10"),     # 2500
    ("open", "3333.33", "33.3", "2024-07-31"),    # 1109.99889 (the formula field: 1110.00)
    ("open", "800.00", "12.5", "2024-08-01"),     # 100
    ("open", "1200.40", "50", "2024-08-15"),      # 600.20
    ("open", "900.00", "10", None),               # 90, no close month
    ("open", "5000.00", None, "2024-09-05"),      # no probability: blank, adds nothing
    ("won", "99999.00", "100", "2024-07-20"),     # not pipeline: filtered out
)
WEIGHTED = {
    "object": "opportunity", "filter": 'stage = "open"',
    "group_by": [{"field": "close_date", "bucket": "month", "name": "month"}],
    "measures": [{"name": "weighted", "formula": "SUM(amount * probability / 100)"},
                 {"name": "weighted_field", "function": "sum", "field": "weighted_stored"},
                 {"name": "pipeline", "function": "sum", "field": "amount"},
                 {"name": "deals", "function": "count"}],
}


def pipeline(runtime: Platform) -> list[dict[str, Any]]:
    return [runtime.records.create(SYSTEM, "opportunity", {"name": f"P{i}", "stage": stage, "amount": amount,
                                                           "probability": probability, "close_date": closes})
            for i, (stage, amount, probability, closes) in enumerate(PIPELINE)]


def test_weighted_pipeline_by_close_month(runtime: Platform, crm: dict[str, Any]) -> None:
    records = pipeline(runtime)
    # Per record the formula field is shown (and stored) with its 2 places.
    assert [(r["weighted"], r["weighted_stored"]) for r in records[:2]] == [("2500.00", "2500.00"),
                                                                              ("1110.00", "1110.00")]
    result = run(runtime, WEIGHTED)
    got = [(r["month"], *(Decimal(r[m]) for m in ("weighted", "weighted_field", "pipeline")), r["deals"])
           for r in result["rows"]]
    assert got == [
        ("2024-07", Decimal("3609.99889"), Decimal("3610.00"), Decimal("13333.33"), "2"),
        ("2024-08", Decimal("700.20"), Decimal("700.20"), Decimal("2000.40"), "2"),
        ("2024-09", Decimal(0), Decimal(0), Decimal("5000.00"), "1"),
        (None, Decimal("90"), Decimal("90"), Decimal("900.00"), "1"),
    ]
    totals = result["totals"]
    assert (Decimal(totals["weighted"]), Decimal(totals["weighted_field"]), Decimal(totals["pipeline"]),
            totals["deals"]) == (Decimal("4400.19889"), Decimal("4400.20"), Decimal("21233.73"), "6")
    # Exact decimals, written as the record API writes numbers.
    assert result["rows"][0]["weighted"] == "3609.99889"
    assert totals["weighted"] == "4400.19889"
    # The biggest month first, and top-N keeps the totals of every record.
    top = run(runtime, {**WEIGHTED, "sort": [{"by": "weighted", "desc": True}]}, limit=1)
    assert [r["month"] for r in top["rows"]] == ["2024-07"]
    assert top["totals"]["weighted"] == totals["weighted"]


def test_summing_a_formula_field_adds_the_values_its_records_show(runtime: Platform, crm: dict[str, Any]) -> None:
    records = pipeline(runtime)
    july = [r for r in records if r["stage"] == "open" and (r["close_date"] or "").startswith("2024-07")]
    shown = sum((Decimal(r["weighted"]) for r in july), Decimal(0))
    assert shown == Decimal("3610.00")
    result = run(runtime, {**WEIGHTED, "measures": [{"name": "weighted", "function": "sum", "field": "weighted"}]})
    assert Decimal(result["rows"][0]["weighted"]) == shown  # unrounded, the sum was 3609.99889
    assert len(runtime.records.list(SYSTEM, "opportunity", filter="weighted = 1110")["data"]) == 1


# -- 3. lead-to-deal funnel over the status history ----------------------------------------

FUNNEL_STAGES = ["new", "contacted", "qualified", "proposal", "won"]
#: (owner, the statuses in order: created with the first, then each update)
LEAD_PATHS = (
    ("ana", ("new",)),                                          # furthest: new
    ("ben", ("new", "contacted")),                              # contacted
    ("ana", ("new", "contacted", "qualified", "proposal", "won")),
    ("ben", ("new", "qualified", "proposal")),                  # skipped contacted: still reached it
    ("cal", ("new", "contacted", "lost")),                      # lost counts for nothing: contacted
    ("ana", ("contacted", "qualified", "contacted")),           # went back: reached qualified
    ("ben", ("new", "proposal", "qualified", "lost")),          # proposal
    ("cal", ("qualified", "won")),                              # created mid-funnel: won
    ("ana", ("new", "won", "new")),                             # won, then reopened: won
    ("cal", ("lost",)),                                         # never in the funnel: not counted
)
LEAD_FUNNEL = {"api_name": "lead_to_deal", "label": "Lead to deal", "object": "lead", "type": "funnel",
               "field": "status", "stages": FUNNEL_STAGES}


def funnel_rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["stage"], r["reached"], r["from_previous"], r["from_first"]) for r in result["rows"]]


@pytest.fixture
def leads(runtime: Platform, crm: dict[str, Any]) -> dict[str, Any]:
    for n, (owner, path) in enumerate(LEAD_PATHS):
        record = runtime.records.create(SYSTEM, "lead", {"name": f"Lead {n}", "status": path[0],
                                                         "owner": crm["ids"][owner]})
        for status in path[1:]:
            record = runtime.records.update(SYSTEM, "lead", record["id"], {"status": status}, record["version"])
    runtime.documents.create(SYSTEM, "reports", LEAD_FUNNEL)
    return crm


def test_lead_to_deal_funnel_with_conversion_rates(runtime: Platform, leads: dict[str, Any]) -> None:
    result = run(runtime, "lead_to_deal")
    # Furthest stage per lead: new, contacted, won, proposal, contacted, qualified, proposal, won, won.
    assert funnel_rows(result) == [
        ("new", "9", None, "1"),
        ("contacted", "8", "0.8888888889", "0.8888888889"),
        ("qualified", "6", "0.75", "0.6666666667"),
        ("proposal", "5", "0.8333333333", "0.5555555556"),
        ("won", "3", "0.6", "0.3333333333"),
    ]
    assert [r["label"] for r in result["rows"]] == ["New", "Contacted", "Qualified", "Proposal", "Won"]
    # Without `stages`, every option in order; `lost` is then the last stage, so the three
    # leads that held it reached every stage before it (the one created lost included).
    every = run(runtime, {k: v for k, v in LEAD_FUNNEL.items() if k != "stages"} | {"api_name": "all_stages"})
    assert [(r["stage"], r["reached"]) for r in every["rows"]] == [
        ("new", "10"), ("contacted", "9"), ("qualified", "8"), ("proposal", "7"), ("won", "6"), ("lost", "3")]


# -- 4. tickets by type and priority: median first reply and SLA compliance ----------------

PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 3, 2, tzinfo=PARIS)  # a Monday with no holiday or clock change near it
TICKET = {"api_name": "ticket", "label": "Ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "type", "label": "Type", "type": "select", "options": [{"value": "bug"}, {"value": "question"}]},
    {"api_name": "priority", "label": "Priority", "type": "select",
     "options": [{"value": "high"}, {"value": "normal"}]},
    {"api_name": "status", "label": "Status", "type": "select", "options": [{"value": "new"}, {"value": "solved"}]},
    {"api_name": "first_replied_at", "label": "First replied at", "type": "datetime"},
    {"api_name": "reply_time", "label": "First reply time", "type": "formula",
     "expression": "first_replied_at - created_at"},
    {"api_name": "reply_hours", "label": "First reply (h)", "type": "formula",
     "expression": "HOURS(first_replied_at - created_at)"},
]}
OFFICE = {"api_name": "office", "label": "Office", "timezone": "Europe/Paris",
          "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
SUPPORT = {"api_name": "support", "label": "Support", "object": "ticket", "calendar": "office", "order": 1,
           "metrics": [{"metric": "first_reply", "targets": {"high": "PT2H", "normal": "PT4H"},
                        "achieved_when": "NOT ISBLANK(first_replied_at)"}]}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Office time `day` days after Monday 2 March 2026 (UTC+1)."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute)


#: (type, priority, created, first reply or None); business hours 09:00-17:00, targets high 2h, normal 4h.
TICKETS = (
    ("bug", "high", at(0, 10), at(0, 11)),              # 1h: met
    ("bug", "high", at(0, 10), at(0, 13)),              # 3h, due 12:00: breached
    ("bug", "high", at(0, 16), at(1, 9, 30)),           # 17.5h on the wall, 1.5 business hours: met
    ("bug", "normal", at(0, 10), at(0, 12)),            # 2h: met
    ("bug", "normal", at(0, 9), at(0, 15)),             # 6h, due 13:00: breached
    ("question", "high", at(0, 11), at(0, 12, 30)),     # 1.5h: met
    ("question", "normal", at(0, 10), at(0, 10, 30)),   # 0.5h: met
    ("question", "normal", at(0, 14), at(1, 9, 45)),    # 19.75h on the wall, 3.75 business hours: met
    ("question", "normal", at(0, 15), None),            # due Tuesday 11:00, no reply by noon: breached
    ("question", "high", at(1, 11, 30), None),          # due Tuesday 13:30: still open at noon
)
NOON = at(1, 12)


class Clock:
    def __init__(self) -> None:
        self.at = at(0, 9)

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@pytest.fixture
def desk(runtime: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The tickets above, each created and answered at its time: the save pipeline (created_at)
    and the SLA service read the same fixed clock."""
    import tessera.runtime.records.save

    clock = Clock()
    runtime.sla.clock = clock
    monkeypatch.setattr(tessera.runtime.records.save, "now", clock)
    runtime.metadata.create_object(SYSTEM, TICKET)
    runtime.documents.create(SYSTEM, "calendars", OFFICE)
    runtime.documents.create(SYSTEM, "sla_policies", SUPPORT)
    tickets = []
    for n, (kind, priority, created, replied) in enumerate(TICKETS):
        clock.at = created
        ticket = runtime.records.create(SYSTEM, "ticket", {"subject": f"T{n}", "type": kind, "priority": priority,
                                                           "status": "new"})
        if replied is not None:
            clock.at = replied
            ticket = runtime.records.update(SYSTEM, "ticket", ticket["id"],
                                            {"first_replied_at": replied.isoformat()}, ticket["version"])
        tickets.append(ticket)
    clock.at = NOON
    yield tickets


def test_tickets_by_type_and_priority_with_median_first_reply(runtime: Platform,
                                                              desk: list[dict[str, Any]]) -> None:
    assert [t["reply_time"] for t in desk] == [3600, 10800, 63000, 7200, 21600, 5400, 1800, 71100, None, None]
    assert desk[2]["reply_hours"] == "17.5" and desk[8]["reply_hours"] is None
    doc = {"object": "ticket", "group_by": [{"field": "type"}], "columns_by": {"field": "priority"},
           "measures": [{"name": "tickets", "function": "count"},
                        {"name": "replied", "function": "count", "field": "reply_time"},
                        {"name": "median_reply", "function": "median", "field": "reply_time"},
                        {"name": "median_hours", "function": "median", "field": "reply_hours"},
                        {"name": "average_hours", "formula": "AVG(HOURS(first_replied_at - created_at))"}]}
    result = run(runtime, doc)
    names = ("tickets", "replied", "median_reply", "median_hours", "average_hours")

    def shaped(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["tickets"], row["replied"], row["median_reply"], Decimal(row["median_hours"]),
                Decimal(row["average_hours"]))

    cells = {(r["type"], r["priority"]): shaped(r) for r in result["rows"]}
    assert cells == {
        ("bug", "high"): ("3", "3", 10800, Decimal(3), Decimal("7.1666666667")),      # 1, 3, 17.5
        ("bug", "normal"): ("2", "2", 14400, Decimal(4), Decimal(4)),                  # 2, 6
        ("question", "high"): ("2", "1", 5400, Decimal("1.5"), Decimal("1.5")),        # 1.5, no reply
        ("question", "normal"): ("3", "2", 36450, Decimal("10.125"), Decimal("10.125")),  # 0.5, 19.75, none
    }
    by_type = {s["type"]: shaped(s) for s in result["subtotals"] if s["group_by"] == ["type"]}
    assert by_type == {"bug": ("5", "5", 10800, Decimal(3), Decimal("5.9")),           # 1, 2, 3, 6, 17.5
                       "question": ("5", "3", 5400, Decimal("1.5"), Decimal("7.25"))}  # 0.5, 1.5, 19.75
    by_priority = {s["priority"]: shaped(s) for s in result["subtotals"] if s["group_by"] == ["priority"]}
    assert by_priority == {"high": ("5", "4", 8100, Decimal("2.25"), Decimal("5.75")),     # 1, 1.5, 3, 17.5
                           "normal": ("5", "4", 14400, Decimal(4), Decimal("7.0625"))}     # 0.5, 2, 6, 19.75
    assert shaped({n: result["totals"][n] for n in names}) == \
        ("10", "8", 9000, Decimal("2.5"), Decimal("6.40625"))  # median of 8: (2 + 3) / 2 hours
    assert [c["type"] for c in result["columns"] if c["kind"] == "measure"] == \
        ["number", "number", "duration", "number", "number"]


def test_sla_compliance_by_priority_on_the_business_calendar(runtime: Platform, desk: list[dict[str, Any]]) -> None:
    # The SLA counts business time: the overnight tickets took 1.5 and 3.75 hours, not 17.5 and 19.75.
    spent = {n: runtime.sla.clocks(SYSTEM, "ticket", desk[n]["id"], now=NOON)[0] for n in (2, 7, 8, 9)}
    assert [(c["stage"], c["met"], c["breached"], c["elapsed_seconds"]) for c in spent.values()] == [
        ("achieved", True, False, 5400), ("achieved", True, False, 13500),
        ("running", False, True, 5 * 3600), ("running", False, False, 1800)]
    by_priority = runtime.sla.compliance(SYSTEM, "ticket", group_by="priority", now=NOON)
    assert by_priority["groups"] == [
        {"priority": "high", "met": 3, "breached": 1, "open": 1, "total": 5, "compliance": 75.0},
        {"priority": "normal", "met": 3, "breached": 2, "open": 0, "total": 5, "compliance": 60.0}]
    by_metric = runtime.sla.compliance(SYSTEM, "ticket", group_by="metric", now=NOON)["groups"]
    assert by_metric == [{"metric": "first_reply", "met": 6, "breached": 3, "open": 1, "total": 10,
                          "compliance": 66.7}]
    # At 14:00 the high ticket created at 11:30 is past due too.
    later = runtime.sla.compliance(SYSTEM, "ticket", group_by="priority", now=at(1, 14))["groups"]
    assert [(g["priority"], g["met"], g["breached"], g["open"], g["compliance"]) for g in later] == [
        ("high", 3, 2, 0, 60.0), ("normal", 3, 2, 0, 60.0)]


# -- 5. the same report, a salesperson and their manager ------------------------------------

def test_a_salesperson_and_their_manager_see_their_own_correct_numbers(runtime: Platform,
                                                                       deals: dict[str, Any]) -> None:
    ids, actors = deals["ids"], deals["actors"]
    east = {k: v for k, v in WIN_ROWS.items() if k[0] in ("ana", "ben")}
    # Mia (read: team) first, so a cached result of hers could not be what Ana is given.
    as_mia = run(runtime, "win_rate_by_owner", actors["mia"])
    assert owner_rows(as_mia, ids) == east
    assert owner_subtotals(as_mia, ids) == {k: WIN_OWNERS[k] for k in ("ana", "ben")}
    # East: 6 won of 10 closed; (5200.50 + 7100.25) / 6.
    assert measures(as_mia["totals"], *WIN_MEASURES) == ("12", "6", "0.6", "2050.125")
    as_ana = run(runtime, "win_rate_by_owner", actors["ana"])
    assert owner_rows(as_ana, ids) == {k: v for k, v in WIN_ROWS.items() if k[0] == "ana"}
    assert measures(as_ana["totals"], *WIN_MEASURES) == WIN_OWNERS["ana"]
    as_ben = run(runtime, "win_rate_by_owner", actors["ben"])
    assert measures(as_ben["totals"], *WIN_MEASURES) == WIN_OWNERS["ben"]
    as_cal = run(runtime, "win_rate_by_owner", actors["cal"])
    assert owner_rows(as_cal, ids) == {k: v for k, v in WIN_ROWS.items() if k[0] == "cal"}
    # Read "all" (not on Mia's team) and the admin see everyone's figures.
    for everyone in (run(runtime, "win_rate_by_owner", actors["dan"]), run(runtime, "win_rate_by_owner")):
        assert owner_rows(everyone, ids) == WIN_ROWS
        assert measures(everyone["totals"], *WIN_MEASURES) == WIN_TOTALS
    # Asked again, each gets their own numbers back (from the cache or not).
    again = run(runtime, "win_rate_by_owner", actors["ana"])
    assert measures(again["totals"], *WIN_MEASURES) == WIN_OWNERS["ana"]
    assert measures(run(runtime, "win_rate_by_owner", actors["mia"])["totals"], *WIN_MEASURES) == \
        ("12", "6", "0.6", "2050.125")


def test_a_salesperson_and_their_manager_see_their_own_funnel(runtime: Platform, leads: dict[str, Any]) -> None:
    actors = leads["actors"]
    # Ana's leads reached: new, won, qualified, won.
    assert funnel_rows(run(runtime, "lead_to_deal", actors["ana"])) == [
        ("new", "4", None, "1"), ("contacted", "3", "0.75", "0.75"), ("qualified", "3", "1", "0.75"),
        ("proposal", "2", "0.6666666667", "0.5"), ("won", "2", "1", "0.5")]
    # East (Ana and Ben): new, contacted, won, proposal, qualified, proposal, won.
    assert funnel_rows(run(runtime, "lead_to_deal", actors["mia"])) == [
        ("new", "7", None, "1"), ("contacted", "6", "0.8571428571", "0.8571428571"),
        ("qualified", "5", "0.8333333333", "0.7142857143"), ("proposal", "4", "0.8", "0.5714285714"),
        ("won", "2", "0.5", "0.2857142857")]
    assert funnel_rows(run(runtime, "lead_to_deal", actors["dan"])) == funnel_rows(run(runtime, "lead_to_deal"))
