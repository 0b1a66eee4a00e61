"""The report engine run as the platform runs it, on SQLite and PostgreSQL: groupings,
date buckets with a fiscal year, measures and formulas over aggregates, subtotals, totals,
top-N, drill-down and permissions — every number checked against Python over the same data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "industry", "label": "Industry", "type": "select",
     "options": [{"value": "retail"}, {"value": "tech"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "probability", "label": "Probability", "type": "integer"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
    {"api_name": "cost", "label": "Cost", "type": "currency"},
]}
TICKET = {"api_name": "ticket", "label": "Ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "type", "label": "Type", "type": "select",
     "options": [{"value": "bug"}, {"value": "question"}]},
    {"api_name": "priority", "label": "Priority", "type": "select",
     "options": [{"value": "high"}, {"value": "low"}]},
    {"api_name": "reply_hours", "label": "First reply (h)", "type": "decimal", "scale": 2},
]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none", "fields": {"cost": "hidden"}},
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}
STAGES = ("won", "lost", "open", "won", "open", "won", "lost", "won")
DATES = (date(2024, 1, 15), date(2024, 3, 31), date(2024, 4, 1), date(2024, 6, 30), date(2024, 7, 2),
         date(2024, 12, 31), date(2025, 2, 10), date(2025, 3, 3))


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def avg(values: list[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)


def fiscal_quarter(d: date, start: int) -> str:
    months = d.year * 12 + d.month - start
    return f"{months // 12}-Q{months % 12 // 3 + 1}"


@pytest.fixture
def crm(runtime: Platform) -> dict[str, Any]:
    system = Actor.system()
    for doc in (ACCOUNT, DEAL, TICKET):
        runtime.metadata.create_object(system, doc)
    runtime.users.roles.create(system, SALES, runtime.snapshot)
    reps = [runtime.users.accounts.add(system, {"email": f"rep{i}@example.com", "name": f"Rep {i}",
                                                "password": "a-long-password", "roles": ["sales"]})
            for i in range(2)]
    rep_ids = [r["id"] if isinstance(r, dict) else r for r in reps]
    accounts = [runtime.records.create(system, "account", {"name": n, "industry": i})["id"]
                for n, i in (("Acme", "retail"), ("Globex", "tech"))]
    deals = []
    for n in range(24):
        deal = {"name": f"Deal {n}", "amount": str(Decimal(1000 + 137 * n) + Decimal(n % 7) / 100),
                "probability": (n * 13) % 100, "stage": STAGES[n % len(STAGES)], "close_date":
                DATES[n % len(DATES)].isoformat(), "account": accounts[n % 2], "owner": rep_ids[n % 3 % 2],
                "cost": str(100 + n)}
        if n == 5:
            deal["amount"] = None
        if n == 9:
            deal["close_date"] = None
        deals.append(runtime.records.create(system, "deal", deal))
    tickets = []
    for n in range(19):
        ticket = {"subject": f"T{n}", "type": ("bug", "question")[n % 2], "priority": ("high", "low", "low")[n % 3],
                  "reply_hours": str(Decimal(n * n % 17) + Decimal(n % 4) / 4)}
        tickets.append(runtime.records.create(system, "ticket", ticket))
    return {"reps": rep_ids, "deals": deals, "tickets": tickets, "accounts": accounts}


def run(runtime: Platform, doc: dict[str, Any], actor: Actor | None = None, **params: Any) -> dict[str, Any]:
    return runtime.reports.run(actor or Actor.system(), {"api_name": "r", "label": "R", **doc}, **params)


def grouped(records: Iterable[dict[str, Any]], *keys: Callable[[dict[str, Any]], Any]) -> dict[tuple, list]:
    out: dict[tuple, list] = defaultdict(list)
    for r in records:
        out[tuple(k(r) for k in keys)].append(r)
    return out


def by_key(rows: list[dict[str, Any]], *names: str) -> dict[tuple, dict[str, Any]]:
    return {tuple(r[n] for n in names): r for r in rows}


def test_win_rate_and_average_deal_size_by_owner_and_fiscal_quarter(runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {"object": "deal", "filter": 'stage <> "open"',
           "group_by": [{"field": "owner"}, {"field": "close_date", "bucket": "quarter", "name": "quarter"}],
           "measures": [{"name": "deals", "function": "count"},
                        {"name": "avg_size", "function": "avg", "field": "amount"},
                        {"name": "win_rate", "formula": 'SUM(IF(stage = "won", amount, 0)) / SUM(amount)'},
                        {"name": "won", "formula": 'COUNT(stage = "won")'}],
           "fiscal_year_start": 4}
    result = run(runtime, doc)
    closed = [d for d in crm["deals"] if d["stage"] != "open"]
    expected = grouped(closed, lambda d: d["owner"],
                       lambda d: d["close_date"] and fiscal_quarter(date.fromisoformat(d["close_date"]), 4))
    rows = by_key(result["rows"], "owner", "quarter")
    assert set(rows) == set(expected)
    for key, deals in expected.items():
        amounts = [dec(d["amount"]) for d in deals if d["amount"] is not None]
        won = sum((dec(d["amount"]) for d in deals if d["stage"] == "won" and d["amount"]), Decimal(0))
        row = rows[key]
        assert row["deals"] == str(len(deals))
        assert dec(row["avg_size"]) == avg(amounts)
        assert dec(row["win_rate"]) == (won / sum(amounts)).quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)
        assert row["won"] == str(sum(d["stage"] == "won" for d in deals))
    # Subtotals per owner and the grand total are part of the same statement.
    owners = {s["owner"]: s for s in result["subtotals"] if s["group_by"] == ["owner"]}
    assert {o: int(s["deals"]) for o, s in owners.items()} == \
        {o: len(v) for o, v in grouped(closed, lambda d: d["owner"]).items() for o in o}
    assert result["totals"]["deals"] == str(len(closed))
    all_amounts = [dec(d["amount"]) for d in closed if d["amount"] is not None]
    assert dec(result["totals"]["avg_size"]) == avg(all_amounts)
    assert "2023-Q4" in {r["quarter"] for r in result["rows"]}  # 2024-01-15 is in FY2023 starting April


def test_weighted_pipeline_by_close_month_sorted_with_top_n(runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {"object": "deal", "filter": 'stage = "open"',
           "group_by": [{"field": "close_date", "bucket": "month", "name": "month"}],
           "measures": [{"name": "weighted", "formula": "SUM(amount * probability / 100)"},
                        {"name": "pipeline", "function": "sum", "field": "amount"}],
           "sort": [{"by": "weighted", "desc": True}]}
    open_deals = [d for d in crm["deals"] if d["stage"] == "open"]
    expected = {k[0]: sum((dec(d["amount"]) * d["probability"] / 100 for d in v if d["amount"]), Decimal(0))
                for k, v in grouped(open_deals, lambda d: d["close_date"] and d["close_date"][:7]).items()}
    result = run(runtime, doc)
    assert {r["month"]: dec(r["weighted"]) for r in result["rows"]} == expected
    assert [dec(r["weighted"]) for r in result["rows"]] == sorted(expected.values(), reverse=True)
    assert dec(result["totals"]["weighted"]) == sum(expected.values())
    top = run(runtime, doc, limit=2)
    assert [r["month"] for r in top["rows"]] == [r["month"] for r in result["rows"][:2]]
    assert top["totals"] == result["totals"]


def test_tickets_by_type_and_priority_with_exact_median(runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {"object": "ticket", "group_by": [{"field": "type"}],
           "columns_by": {"field": "priority"},
           "measures": [{"name": "tickets", "function": "count"},
                        {"name": "median_reply", "function": "median", "field": "reply_hours"},
                        {"name": "slowest", "function": "max", "field": "reply_hours"}]}
    result = run(runtime, doc)

    def median(values: list[Decimal]) -> Decimal:
        ordered, n = sorted(values), len(values)
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

    tickets = crm["tickets"]
    cells = by_key(result["rows"], "type", "priority")
    for (t, p), group in grouped(tickets, lambda r: r["type"], lambda r: r["priority"]).items():
        assert cells[(t, p)]["tickets"] == str(len(group))
        assert dec(cells[(t, p)]["median_reply"]) == median([dec(r["reply_hours"]) for r in group])
        assert dec(cells[(t, p)]["slowest"]) == max(dec(r["reply_hours"]) for r in group)
    by_type = {s["type"]: s for s in result["subtotals"] if s["group_by"] == ["type"]}
    for t, group in grouped(tickets, lambda r: r["type"]).items():
        assert dec(by_type[t[0]]["median_reply"]) == median([dec(r["reply_hours"]) for r in group])
    by_priority = {s["priority"]: s for s in result["subtotals"] if s["group_by"] == ["priority"]}
    assert {p: int(s["tickets"]) for p, s in by_priority.items()} == {"high": 7, "low": 12}
    assert dec(result["totals"]["median_reply"]) == median([dec(r["reply_hours"]) for r in tickets])


def test_lookup_paths_group_and_drill_down_to_the_same_records(runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {"object": "deal", "group_by": [{"field": "account.industry"},
                                          {"field": "close_date", "bucket": "quarter", "name": "q"}],
           "measures": [{"name": "deals", "function": "count"}]}
    result = run(runtime, doc)
    assert sum(int(r["deals"]) for r in result["rows"]) == len(crm["deals"])
    for row in result["rows"]:
        cell = {"account_industry": row["account_industry"], "q": row["q"]}
        found = runtime.reports.drill(Actor.system(), {"api_name": "r", "label": "R", **doc}, cell)
        listed = runtime.records.list(Actor.system(), "deal", filter=found["filter"], limit=1000)["data"]
        assert len(listed) == int(row["deals"]), found["filter"]


def test_a_salesperson_sees_only_their_numbers_and_hidden_fields_are_unknown(
        runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {"object": "deal", "group_by": [{"field": "stage"}],
           "measures": [{"name": "deals", "function": "count"}, {"name": "total", "function": "sum",
                                                                 "field": "amount"}]}
    rep = runtime.users.actor_for_user(crm["reps"][0])
    mine = [d for d in crm["deals"] if d["owner"] == crm["reps"][0]]
    as_admin, as_rep = run(runtime, doc), run(runtime, doc, rep)
    assert as_admin["totals"]["deals"] == str(len(crm["deals"]))
    assert as_rep["totals"]["deals"] == str(len(mine))
    expected = {k[0]: sum((dec(d["amount"]) for d in v if d["amount"]), Decimal(0))
                for k, v in grouped(mine, lambda d: d["stage"]).items()}
    assert {r["stage"]: dec(r["total"]) for r in as_rep["rows"]} == expected
    hidden = {**doc, "measures": [{"name": "cost", "function": "sum", "field": "cost"}]}
    assert run(runtime, hidden)["totals"]["cost"]
    with pytest.raises(InvalidInput) as refused:
        run(runtime, hidden, rep)
    assert [(p.field, p.message) for p in refused.value.errors] == [("/measures/0/field", 'unknown field "cost"')]


@pytest.mark.parametrize(("change", "path"), [
    ({"group_by": [{"field": "stage", "bucket": "month"}]}, "/group_by/0/bucket"),
    ({"group_by": [{"field": "account.nope"}]}, "/group_by/0/field"),
    ({"measures": [{"name": "x", "function": "sum", "field": "stage"}]}, "/measures/0/function"),
    ({"measures": [{"name": "x", "formula": "SUM(amount) / amount"}]}, "/measures/0/formula"),
    ({"measures": [{"name": "x", "formula": "SUM(amout)"}]}, "/measures/0/formula"),
    ({"measures": [{"name": "x", "function": "median"}]}, "/measures/0/field"),
    ({"sort": [{"by": "nothing"}]}, "/sort/0/by"),
    ({"filter": "amount + 1"}, "/filter"),
    ({"group_by": [{"field": "stage"}] * 4}, "/group_by"),
    ({"measures": [{"name": "x", "function": "mode", "field": "amount"}]}, "/measures/0/function"),
    ({"object": "nothing"}, "/object"),
])
def test_bad_documents_are_refused_with_pinpointed_problems(runtime: Platform, crm: dict[str, Any],
                                                           change: dict[str, Any], path: str) -> None:
    doc = {"object": "deal", "measures": [{"name": "n", "function": "count"}], **change}
    with pytest.raises(InvalidInput) as refused:
        run(runtime, doc)
    assert path in [p.field for p in refused.value.errors], refused.value.errors
