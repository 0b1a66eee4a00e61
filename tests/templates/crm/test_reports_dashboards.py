"""The CRM's reports and its two dashboards over a few records made here, on SQLite and
PostgreSQL: win rate (by month, owner and region), the pipeline and its weighted value by
stage in the stages' order, the funnels over the stage history, collections by month, the
campaign ROI table, contracts expiring in 30/60/90 days; both dashboards load through the
API with every widget holding data or saying it is empty, and a drill link that lists
exactly the records behind it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

from .conftest import PASSWORD, admin, person

#: name, position, probability, category, forecast category
STAGES = [("Qualification", 1, "10", "open", "pipeline"), ("Needs Analysis", 2, "20", "open", "pipeline"),
          ("Proposal", 3, "50", "open", "best_case"), ("Negotiation", 4, "75", "open", "commit"),
          ("Won", 5, "100", "won", "closed"), ("Lost", 6, "0", "lost", "omitted")]


def rows_by(result: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in result["rows"]}


def num(text: Any) -> Decimal:
    return Decimal(str(text))


@pytest.fixture
def sales(crm: Platform) -> dict[str, Any]:
    """Stages, two regions' accounts, a manager and two reps, a campaign, leads and deals —
    some moved through their stages (the funnel reads the history) — contracts and payments."""
    me = admin(crm)
    C = crm.records.create
    stage = {name: C(me, "sales_stage", {"name": name, "position": pos, "probability": p, "category": cat,
                                          "forecast_category": fc, "rot_days": 30})["id"]
             for name, pos, p, cat, fc in STAGES}
    person(crm, "boss@demo.tessera", roles=["sales_manager"], teams=["east", "west"], name="Bea Boss")
    ann = person(crm, "ann@demo.tessera", roles=["sales_rep"], teams=["east"], manager="boss@demo.tessera",
                 name="Ann Archer")
    bob = person(crm, "bob@demo.tessera", roles=["sales_rep"], teams=["west"], manager="boss@demo.tessera",
                 name="Bob Baker")
    east = C(me, "account", {"name": "Eastwind", "region": "east", "owner": ann.user_id})["id"]
    west = C(me, "account", {"name": "Westhold", "region": "west", "owner": bob.user_id})["id"]
    price = C(me, "lost_reason", {"name": "Too expensive", "category": "price"})["id"]
    rival = C(me, "lost_reason", {"name": "Went with a rival", "category": "competitor"})["id"]
    webinar = C(me, "campaign", {"name": "Spring webinar", "type": "webinar", "actual_cost": "2000"})["id"]
    fair = C(me, "campaign", {"name": "Trade fair", "type": "trade_show", "actual_cost": "10000"})["id"]
    leads = [C(me, "lead", {"last_name": f"Webinar {i}", "campaign": webinar, "source": "webinar",
                            "status": "new"})["id"] for i in range(4)]
    leads += [C(me, "lead", {"last_name": f"Fair {i}", "campaign": fair, "source": "trade_show",
                             "status": "new"})["id"] for i in range(2)]
    # Two webinar leads qualified then converted, one only contacted; one fair lead qualified.
    for lead_id, path in ((leads[0], ["contacted", "qualified", "converted"]), (leads[1], ["qualified", "converted"]),
                          (leads[2], ["contacted"]), (leads[4], ["qualified"])):
        for status in path:
            changes: dict[str, Any] = {"status": status}
            if status == "converted":
                changes["converted"] = True
            crm.records.update(me, "lead", lead_id, changes, None)

    def deal(name: str, account: int, owner: Actor, amount: str, path: list[str], **values: Any) -> int:
        made = C(me, "opportunity", {"name": name, "account": account, "owner": owner.user_id,
                                     "stage": stage[path[0]], "manual_amount": amount, "close_date": "2026-12-31",
                                     "engage_date": "2026-01-01", **values})
        for step in path[1:]:
            closing = {"closed_at": values["closed_at"]} if step in ("Won", "Lost") and "closed_at" in values else {}
            extra = {"lost_reason": values["lost_reason"]} if step == "Lost" else {}
            crm.records.update(me, "opportunity", made["id"], {"stage": stage[step], **closing, **extra}, None)
        return int(made["id"])

    deals = {
        # won: Ann twice (March and April), Bob once (April); lost: Ann once (April), Bob twice (March)
        "a_won_mar": deal("Eastwind seats", east, ann, "1000", ["Qualification", "Proposal", "Won"],
                          closed_at="2026-03-10", campaign=webinar),
        "a_won_apr": deal("Eastwind support", east, ann, "3000", ["Qualification", "Needs Analysis", "Proposal",
                                                                   "Negotiation", "Won"], closed_at="2026-04-02"),
        "b_won_apr": deal("Westhold rollout", west, bob, "6000", ["Qualification", "Won"], closed_at="2026-04-20",
                          campaign=fair),
        "a_lost_apr": deal("Eastwind extra", east, ann, "500", ["Qualification", "Lost"], closed_at="2026-04-11",
                           lost_reason=price),
        "b_lost_mar": deal("Westhold pilot", west, bob, "700", ["Qualification", "Proposal", "Lost"],
                           closed_at="2026-03-05", lost_reason=rival),
        "b_lost_mar2": deal("Westhold audit", west, bob, "300", ["Qualification", "Lost"], closed_at="2026-03-25",
                            lost_reason=price),
        # open
        "a_open_prop": deal("Eastwind phase 2", east, ann, "2000", ["Qualification", "Proposal"],
                            close_date="2027-01-15"),
        "b_open_qual": deal("Westhold training", west, bob, "400", ["Qualification"], close_date="2027-02-10"),
        "b_open_neg": deal("Westhold renewal", west, bob, "1000", ["Qualification", "Negotiation"],
                           close_date="2027-01-20"),
    }
    today = date.today()
    contracts = {
        "soon": C(me, "contract", {"name": "Eastwind 2026", "account": east, "status": "activated",
                                   "start_date": (today - timedelta(days=340)).isoformat(), "term_months": 12,
                                   "contract_value": "12000", "payment_terms": "net_30"})["id"],
        "later": C(me, "contract", {"name": "Westhold 2026", "account": west, "status": "activated",
                                    "start_date": (today - timedelta(days=290)).isoformat(), "term_months": 12,
                                    "contract_value": "8000", "payment_terms": "net_30"})["id"],
    }
    oldco = C(me, "account", {"name": "Oldco", "region": "central"})["id"]
    for i, status in enumerate(("renewed", "expired", "expired")):
        C(me, "contract", {"name": f"Oldco {2020 + i}", "account": oldco, "status": status, "start_date": "2021-01-01",
                           "term_months": 12, "contract_value": "1000", "payment_terms": "prepaid"})
    payments = [("soon", "2026-01-15", "3000", "received"), ("soon", "2026-01-28", "1000", "received"),
                ("later", "2026-02-03", "2500", "received"), ("later", "2026-02-20", "900", "bounced"),
                ("later", "2026-03-01", "400", "expected")]
    for key, day, amount, status in payments:
        C(me, "payment", {"contract": contracts[key], "received_date": day, "amount": amount, "status": status,
                          "method": "bank_transfer"})
    return {"me": me, "stage": stage, "deals": deals, "leads": leads, "contracts": contracts,
            "ann": ann, "bob": bob, "east": east, "west": west, "webinar": webinar, "fair": fair,
            "price": price, "rival": rival}


def test_win_rate_is_won_over_closed_by_month_owner_and_region(crm: Platform, sales: dict[str, Any]) -> None:
    me = sales["me"]
    by_month = rows_by(crm.reports.run(me, "win_rate_by_month"), "month")
    # March: 1 won of 3 closed; April: 2 won of 3.
    assert (by_month["2026-03"]["won"], by_month["2026-03"]["closed"], num(by_month["2026-03"]["win_rate"])) == \
        ("1", "3", Decimal("33.3"))
    assert (by_month["2026-04"]["won"], by_month["2026-04"]["closed"], num(by_month["2026-04"]["win_rate"])) == \
        ("2", "3", Decimal("66.7"))
    by_owner = rows_by(crm.reports.run(me, "win_rate_by_owner"), "owner")
    assert num(by_owner[sales["ann"].user_id]["win_rate"]) == Decimal("66.7")  # 2 of 3
    assert num(by_owner[sales["bob"].user_id]["win_rate"]) == Decimal("33.3")  # 1 of 3
    by_region = rows_by(crm.reports.run(me, "win_rate_by_region"), "region")
    assert num(by_region["east"]["win_rate"]) == Decimal("66.7")
    assert num(by_region["west"]["win_rate"]) == Decimal("33.3")
    size = crm.reports.run(me, "average_deal_size")["totals"]
    assert (num(size["average_amount"]), size["deals"]) == (Decimal("3333.3333333333"), "3")  # 10,000 / 3
    # Engaged 1 January: won 10 March (68 days), 2 April (91), 20 April (109).
    assert num(crm.reports.run(me, "average_sales_cycle")["totals"]["average_days"]) == Decimal("89.3")


def test_the_pipeline_by_stage_comes_in_the_stages_order_with_its_weighted_value(
        crm: Platform, sales: dict[str, Any]) -> None:
    result = crm.reports.run(sales["me"], "pipeline_by_stage")
    stage = sales["stage"]
    assert [r["stage"] for r in result["rows"]] == [stage["Qualification"], stage["Proposal"], stage["Negotiation"]]
    rows = rows_by(result, "stage")
    assert num(rows[stage["Qualification"]]["amount"]) == 400 and num(rows[stage["Qualification"]]["weighted"]) == 40
    assert num(rows[stage["Proposal"]]["amount"]) == 2000 and num(rows[stage["Proposal"]]["weighted"]) == 1000
    assert num(rows[stage["Negotiation"]]["amount"]) == 1000 and num(rows[stage["Negotiation"]]["weighted"]) == 750
    assert num(result["totals"]["amount"]) == 3400 and num(result["totals"]["weighted"]) == 1790
    # The forecast splits the same pipeline by close month and the stage's forecast category.
    forecast = {(r["month"], r["forecast_category"]): num(r["amount"])
                for r in crm.reports.run(sales["me"], "forecast_by_month")["rows"]}
    assert forecast == {("2027-01", "best_case"): 2000, ("2027-01", "commit"): 1000, ("2027-02", "pipeline"): 400}


def test_the_funnels_count_how_far_records_got_through_their_history(crm: Platform, sales: dict[str, Any]) -> None:
    deals = crm.reports.run(sales["me"], "opportunity_funnel")
    reached = {r["stage"]: r["reached"] for r in deals["rows"]}
    # 9 deals; lost ones count up to the furthest open stage they held.
    assert reached == {"Qualification": "9", "Needs Analysis": "6", "Proposal": "6", "Negotiation": "4", "Won": "3"}
    leads = crm.reports.run(sales["me"], "lead_funnel")  # a lead that skipped "contacted" still reached it
    assert {r["stage"]: r["reached"] for r in leads["rows"]} == {"new": "6", "contacted": "4", "qualified": "3",
                                                                  "converted": "2"}
    lost = rows_by(crm.reports.run(sales["me"], "lost_reasons"), "lost_reason")
    assert lost[sales["price"]]["deals"] == "2" and num(lost[sales["price"]]["amount"]) == 800
    assert lost[sales["rival"]]["deals"] == "1"


def test_collections_by_month_add_up_the_payments_received(crm: Platform, sales: dict[str, Any]) -> None:
    result = crm.reports.run(sales["me"], "collections_by_month")
    months = {r["month"]: (num(r["amount"]), r["payments"]) for r in result["rows"]}
    # The bounced payment and the one still expected are no collections.
    assert months == {"2026-01": (Decimal(4000), "2"), "2026-02": (Decimal(2500), "1")}
    assert num(result["totals"]["amount"]) == 6500
    value = rows_by(crm.reports.run(sales["me"], "contract_collections"), "account")
    assert (num(value[sales["east"]]["value"]), num(value[sales["east"]]["collected"]),
            num(value[sales["east"]]["outstanding"])) == (12000, 4000, 8000)
    assert (num(value[sales["west"]]["collected"]), num(value[sales["west"]]["outstanding"])) == (2500, 5500)
    # Ending in about 25 and about 75 days: one in 0-30, one in 61-90.
    expiring = rows_by(crm.reports.run(sales["me"], "contracts_expiring"), "expiry_window")
    assert set(expiring) == {"0-30 days", "61-90 days"}
    assert num(expiring["0-30 days"]["value"]) == 12000 and expiring["61-90 days"]["contracts"] == "1"
    # Of the three contracts that came to their end, one was renewed.
    renewals = crm.reports.run(sales["me"], "renewal_rate")["totals"]
    assert (renewals["renewed"], renewals["ended"], num(renewals["rate"])) == ("1", "3", Decimal("33.3"))


def test_the_campaign_table_gives_cost_leads_conversion_won_amount_roi_and_cost_per_lead(
        crm: Platform, sales: dict[str, Any]) -> None:
    table = rows_by(crm.reports.run(sales["me"], "campaign_roi"), "name")
    webinar, fair = table["Spring webinar"], table["Trade fair"]
    assert (num(webinar["cost"]), webinar["leads"], webinar["converted"], num(webinar["won_amount"])) == \
        (2000, "4", "2", 1000)
    assert num(webinar["roi"]) == Decimal("-50") and num(webinar["cost_per_lead"]) == 500
    assert (num(fair["cost"]), fair["leads"], fair["converted"], num(fair["won_amount"])) == (10000, "2", "0", 6000)
    assert num(fair["roi"]) == Decimal("-40") and num(fair["cost_per_lead"]) == 5000
    sources = rows_by(crm.reports.run(sales["me"], "lead_source_effectiveness"), "source")
    assert (sources["webinar"]["leads"], sources["webinar"]["converted"], num(sources["webinar"]["conversion"])) == \
        ("4", "2", 50)
    top = crm.reports.run(sales["me"], "top_accounts")["rows"]
    assert [(r["account"], num(r["won"])) for r in top] == [(sales["west"], 6000), (sales["east"], 4000)]


def test_a_rep_sees_their_teams_numbers_and_the_manager_everyones(crm: Platform, sales: dict[str, Any]) -> None:
    ann_sees = crm.reports.run(sales["ann"], "win_rate_by_owner")
    assert {r["owner"] for r in ann_sees["rows"]} == {sales["ann"].user_id}
    boss = crm.users.actor_for_user(crm.users.id_for_email("boss@demo.tessera"))
    assert {r["owner"] for r in crm.reports.run(boss, "win_rate_by_owner")["rows"]} == \
        {sales["ann"].user_id, sales["bob"].user_id}


def drilled(crm: Platform, actor: Actor, link: str) -> set[int]:
    parsed = urlparse(link)
    formula = parse_qs(parsed.query).get("formula", [None])[0]
    return {r["id"] for r in crm.records.list(actor, parsed.path.split("/")[2], filter=formula, limit=500)["data"]}


@pytest.mark.parametrize("dashboard", ["pipeline_funnel", "revenue_contracts_marketing"])
def test_both_dashboards_load_with_every_widget_drawn_or_empty_and_a_drill_link(
        crm: Platform, sales: dict[str, Any], dashboard: str) -> None:
    with TestClient(create_app(crm), base_url="http://127.0.0.1") as client:
        boss = SignedIn(client, "boss@demo.tessera", PASSWORD)
        answer = boss.get(f"/api/v1/dashboards/{dashboard}")
        assert answer.status_code == 200, answer.text
        board = answer.json()
        assert len(board["widgets"]) >= 10
        for widget in board["widgets"]:
            assert widget["error"] is None, (widget["id"], widget["error"])
            assert widget["data"] is not None and widget["drill"].startswith(f"/app/{widget['object']}")
            if widget["type"] != "kpi":
                assert isinstance(widget["empty"], bool)
        page = boss.get(f"/dashboards/{dashboard}")
        assert page.status_code == 200 and 'data-dashboard="' + dashboard + '"' in page.text
    widgets = {w["id"]: w for w in board["widgets"]}
    manager = crm.users.actor_for_user(crm.users.id_for_email("boss@demo.tessera"))
    if dashboard == "pipeline_funnel":
        assert not widgets["pipeline"]["empty"] and not widgets["deal_funnel"]["empty"]
        assert widgets["stale_deals"]["empty"]  # nothing has sat in its stage for 30 days yet
        # A bar of the pipeline lists exactly the open deals in that stage.
        proposal = widgets["pipeline"]["data"]["categories"].index(
            next(c for c in widgets["pipeline"]["data"]["categories"] if c["label"] == "Proposal"))
        link = widgets["pipeline"]["data"]["series"][0]["data"][proposal]["drill"]
        assert drilled(crm, manager, link) == {sales["deals"]["a_open_prop"]}
        # A step of the funnel lists the deals now in it.
        won = next(i for i in widgets["deal_funnel"]["data"]["items"] if i["name"] == "Won")
        assert won["value"] == "3"
        assert drilled(crm, manager, won["drill"]) == {sales["deals"][k] for k in ("a_won_mar", "a_won_apr",
                                                                                    "b_won_apr")}
    else:
        assert not widgets["collections"]["empty"] and not widgets["campaigns"]["empty"]
        january = widgets["collections"]["data"]["series"][0]["data"][0]
        assert num(january["value"]) == 4000
        assert len(drilled(crm, manager, january["drill"])) == 2
        rows = {r["labels"]["name"]: r for r in widgets["campaigns"]["data"]["rows"]}
        assert num(rows["Trade fair"]["values"]["roi"]) == Decimal("-40")
        assert drilled(crm, manager, rows["Trade fair"]["drill"]) == {sales["fair"]}


def test_open_deals_show_how_long_they_have_been_in_their_current_stage(crm: Platform) -> None:
    """Needs no stage history: a new database's deals (the sample data's too) fill it at once."""
    from datetime import UTC, datetime, timedelta

    from .conftest import admin

    me = admin(crm)
    stage = {name: crm.records.create(me, "sales_stage", {"name": name, "position": i + 1, "category": category})["id"]
             for i, (name, category) in enumerate([("Qualification", "open"), ("Proposal", "open"), ("Won", "won")])}
    account = crm.records.create(me, "account", {"name": "Northwind"})["id"]
    now = datetime.now(UTC)
    for name, at, days in (("A", "Proposal", 10), ("B", "Proposal", 20), ("C", "Qualification", 3), ("D", "Won", 40)):
        deal = crm.records.create(me, "opportunity", {"name": name, "account": account, "stage": stage[at],
                                                      "close_date": "2030-01-31", "manual_amount": "100"})
        crm.records.update(me, "opportunity", deal["id"], {
            "stage_entered_at": (now - timedelta(days=days, hours=1)).isoformat()}, None)
    result = crm.reports.run(me, "days_in_current_stage")
    assert [r["stage"] for r in result["rows"]] == [stage["Qualification"], stage["Proposal"]]  # open deals only
    rows = rows_by(result, "stage")
    assert (num(rows[stage["Proposal"]]["days"]), rows[stage["Proposal"]]["deals"]) == (15, "2")
    assert num(rows[stage["Qualification"]]["days"]) == 3
