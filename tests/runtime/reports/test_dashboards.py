"""Dashboards on SQLite and PostgreSQL: documents checked against the metadata with clear
problems; the same dashboard loaded by an admin, a salesperson who sees their own deals and
their manager who sees the team's — each number checked against the records; dashboard
filters narrowing every widget; a KPI against the previous period; drill links that list
exactly the records behind a data point; and the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput, NotFound
from tessera.runtime.platform import Platform

TODAY = date(2024, 5, 15)  # in Q2 2024
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"},
                 {"value": "lost", "label": "Lost"}]},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
]}
TICKET = {"api_name": "ticket", "label": "Ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "opened_on", "label": "Opened on", "type": "date"},
]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"},
    "ticket": {"create": True, "read": "own", "edit": "own", "delete": "none"}}}
MANAGER = {"api_name": "sales_manager", "label": "Sales manager", "permissions": {
    "deal": {"create": True, "read": "team", "edit": "team", "delete": "none"},
    "ticket": {"create": True, "read": "team", "edit": "team", "delete": "none"}}}
#: (owner key, stage, amount, close date)
DEALS = [
    ("rep", "won", "1000", "2024-04-10"), ("rep", "won", "2500", "2024-06-30"), ("rep", "open", "700", "2024-05-01"),
    ("rep", "won", "400", "2024-02-01"), ("rep", "lost", "300", "2024-01-20"),
    ("peer", "won", "5000", "2024-04-02"), ("peer", "open", "1200", "2024-05-20"), ("peer", "won", "800", "2024-03-03"),
    ("other", "won", "9000", "2024-04-15"), ("other", "lost", "100", "2024-05-05"),
    ("rep", "won", "50", "2023-12-31"), ("peer", "open", "60", None),
]
PIPELINE = {"api_name": "pipeline_by_stage", "label": "Pipeline by stage", "object": "deal",
            "group_by": [{"field": "stage", "label": "Stage"}],
            "measures": [{"name": "total", "label": "Total", "function": "sum", "field": "amount"},
                         {"name": "deals", "label": "Deals", "function": "count"}]}
WON = {"api_name": "won_revenue", "label": "Won revenue", "object": "deal", "filter": 'stage = "won"',
       "measures": [{"name": "revenue", "label": "Revenue", "function": "sum", "field": "amount"}]}
BY_OWNER = {"api_name": "won_by_owner", "label": "Won by owner", "object": "deal", "filter": 'stage = "won"',
            "group_by": [{"field": "owner", "label": "Owner"}],
            "measures": [{"name": "revenue", "label": "Revenue", "function": "sum", "field": "amount"}]}
DASHBOARD = {
    "api_name": "sales_home", "label": "Sales home",
    "filters": [
        {"name": "period", "label": "Close date", "type": "date_range",
         "field": {"deal": "close_date", "ticket": "opened_on"}, "default": "this_quarter"},
        {"name": "owner", "type": "owner"},
        {"name": "team", "type": "team"},
        {"name": "stage", "type": "field", "field": {"deal": "stage"}},
    ],
    "widgets": [
        {"id": "won", "title": "Won this period", "type": "kpi", "report": "won_revenue", "x": 0, "y": 0, "w": 3,
         "h": 2, "options": {"target": 10000, "compare": "previous_period"}},
        {"id": "pipeline", "type": "bar", "report": "pipeline_by_stage", "x": 3, "y": 0, "w": 5, "h": 3},
        {"id": "owners", "type": "pie", "report": "won_by_owner", "x": 8, "y": 0, "w": 4, "h": 3},
        {"id": "tickets", "title": "Tickets", "type": "kpi", "x": 0, "y": 3, "w": 3, "h": 2,
         "source": {"object": "ticket"}},
        {"id": "matrix", "type": "pivot", "x": 3, "y": 3, "w": 9, "h": 4,
         "source": {"object": "deal", "group_by": [{"field": "owner"}], "columns_by": {"field": "stage"},
                    "measures": [{"name": "total", "function": "sum", "field": "amount"}]}},
    ],
}


@pytest.fixture
def sales(runtime: Platform) -> dict[str, Any]:
    system = Actor.system()
    for doc in (DEAL, TICKET):
        runtime.metadata.create_object(system, doc)
    for role in (SALES, MANAGER):
        runtime.users.roles.create(system, role, runtime.snapshot)
    runtime.users.teams.create(system, {"api_name": "east", "label": "East"})
    runtime.users.teams.create(system, {"api_name": "west", "label": "West"})
    ids = {}
    for key, role, team in (("rep", "sales", "east"), ("peer", "sales", "east"), ("other", "sales", "west"),
                            ("boss", "sales_manager", "east")):
        ids[key] = runtime.users.accounts.add(system, {"email": f"{key}@example.com", "name": key.capitalize(),
                                                       "password": "a-long-password", "roles": [role],
                                                       "teams": [team]})["id"]
    deals = []
    for i, (owner, stage, amount, closes) in enumerate(DEALS):
        deals.append(runtime.records.create(system, "deal", {"name": f"Deal {i}", "stage": stage, "amount": amount,
                                                             "close_date": closes, "owner": ids[owner]}))
    for i, (owner, opened) in enumerate((("rep", "2024-04-03"), ("peer", "2024-05-09"), ("rep", "2024-01-09"))):
        runtime.records.create(system, "ticket", {"subject": f"T{i}", "opened_on": opened, "owner": ids[owner]})
    for report in (PIPELINE, WON, BY_OWNER):
        runtime.documents.create(system, "reports", report)
    runtime.documents.create(system, "dashboards", DASHBOARD)
    runtime.dashboards.today = lambda: TODAY
    actors = {key: runtime.users.actor_for_user(user_id) for key, user_id in ids.items()}
    return {"ids": ids, "deals": deals, "actors": actors}


def total(deals: list[dict[str, Any]]) -> str:
    return format(sum((Decimal(d["amount"]) for d in deals), Decimal(0)).normalize(), "f")


def deals_where(sales: dict[str, Any], owners: set[str] | None = None, stage: str | None = None,
                start: str = "2024-04-01", end: str = "2024-06-30") -> list[dict[str, Any]]:
    by_id = {v: k for k, v in sales["ids"].items()}
    return [d for d in sales["deals"] if (owners is None or by_id[d["owner"]] in owners)
            and (stage is None or d["stage"] == stage)
            and d["close_date"] is not None and start <= d["close_date"] <= end]


def widgets(loaded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in loaded["widgets"]}


def bar_values(widget: dict[str, Any], series: str = "total") -> dict[str, str | None]:
    data = next(s for s in widget["data"]["series"] if s["name"] == series)["data"]
    return {c["value"]: point["value"] for c, point in zip(widget["data"]["categories"], data, strict=True)}


# -- documents --------------------------------------------------------------------------

def test_a_dashboard_naming_missing_reports_fields_and_measures_is_refused_with_each_problem(
        runtime: Platform, sales: dict[str, Any]) -> None:
    broken = {"api_name": "broken", "label": "Broken",
              "filters": [{"name": "period", "type": "date_range", "field": "closing_day"},
                          {"name": "who", "type": "owner", "field": "stage"},
                          {"name": "again", "type": "team"}, {"name": "again", "type": "team"}],
              "widgets": [{"id": "a", "type": "bar", "report": "no_such_report"},
                          {"id": "b", "type": "kpi", "report": "won_revenue", "x": 10, "w": 4,
                           "options": {"measure": "profit"}},
                          {"id": "c", "type": "pie", "source": {"object": "deal", "group_by": [{"field": "nope"}]}}]}
    with pytest.raises(InvalidInput) as refused:
        runtime.documents.create(Actor.system(), "dashboards", broken)
    problems = {p.field: p.message for p in refused.value.errors}
    assert "no report named 'no_such_report'" in problems["/widgets/0/report"]
    assert "no field 'closing_day'" in problems["/filters/0/field"]
    assert "select field; a owner filter needs a user field" in problems["/filters/1/field"]
    assert "another filter is named 'again'" in problems["/filters/3/name"]
    assert "past the grid" in problems["/widgets/1/w"]
    assert "no measure 'profit'" in problems["/widgets/1/options/measure"]
    assert any(path.startswith("/widgets/2/source/group_by/0") for path in problems)
    with pytest.raises(NotFound):  # nothing was saved
        runtime.documents.get("dashboards", "broken")


def test_a_dashboard_that_breaks_its_json_schema_says_where(runtime: Platform, sales: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        runtime.documents.create(Actor.system(), "dashboards", {
            "api_name": "x", "label": "X", "widgets": [{"id": "a", "type": "sparkline", "report": "won_revenue"},
                                                       {"id": "b", "type": "bar"}]})
    paths = {p.field for p in refused.value.errors}
    assert "/widgets/0/type" in paths and "/widgets/1" in paths


def test_a_report_used_by_a_dashboard_checks_again_when_the_dashboard_is_changed(
        runtime: Platform, sales: dict[str, Any]) -> None:
    runtime.documents.delete(Actor.system(), "reports", "won_by_owner")
    problems = runtime.documents.stored_problems("dashboards", "sales_home")
    assert [p["field"] for p in problems] == ["/widgets/2/report"]


# -- loading as different people --------------------------------------------------------

def test_the_same_dashboard_shows_each_person_the_numbers_they_may_see(
        runtime: Platform, sales: dict[str, Any]) -> None:
    people = {"admin": (Actor.system(), None), "rep": (sales["actors"]["rep"], {"rep"}),
              "boss": (sales["actors"]["boss"], {"rep", "peer"})}
    seen = {}
    for who, (actor, owners) in people.items():
        board = widgets(runtime.dashboards.load(actor, "sales_home"))
        won = deals_where(sales, owners, "won")
        assert board["won"]["data"]["value"] == total(won), who
        quarter = deals_where(sales, owners)
        assert bar_values(board["pipeline"]) == {
            stage: total([d for d in quarter if d["stage"] == stage])
            for stage in ("won", "open", "lost") if any(d["stage"] == stage for d in quarter)}, who
        slices = {i["key"]: i["value"] for i in board["owners"]["data"]["items"]}
        assert slices == {sales["ids"][o]: total([d for d in won if d["owner"] == sales["ids"][o]])
                          for o in {"rep", "peer", "other"} & (owners or {"rep", "peer", "other"})}, who
        seen[who] = board["won"]["data"]["value"]
    assert len(set(seen.values())) == 3  # three people, three different totals
    board = widgets(runtime.dashboards.load(sales["actors"]["rep"], "sales_home"))
    assert {i["name"] for i in board["owners"]["data"]["items"]} == {"Rep"}  # owners are named
    assert [c["label"] for c in board["pipeline"]["data"]["categories"]] == ["Open", "Won"]


def test_a_widget_the_user_may_not_run_shows_why_and_the_others_still_load(
        runtime: Platform, sales: dict[str, Any]) -> None:
    runtime.users.roles.create(Actor.system(), {"api_name": "support", "label": "Support", "permissions": {
        "ticket": {"create": True, "read": "all", "edit": "all", "delete": "none"}}}, runtime.snapshot)
    agent_id = runtime.users.accounts.add(Actor.system(), {"email": "agent@example.com", "name": "Agent",
                                                            "password": "a-long-password", "roles": ["support"]})["id"]
    board = widgets(runtime.dashboards.load(runtime.users.actor_for_user(agent_id), "sales_home"))
    assert board["pipeline"]["data"] is None and board["pipeline"]["error_status"] == 403
    assert board["tickets"]["error"] is None and board["tickets"]["data"]["value"] == "2"


# -- filters ----------------------------------------------------------------------------

def test_filters_narrow_every_widget_on_each_objects_own_field(runtime: Platform, sales: dict[str, Any]) -> None:
    admin = Actor.system()
    board = widgets(runtime.dashboards.load(admin, "sales_home", {"period": "2024-01-01..2024-03-31"}))
    q1 = deals_where(sales, None, start="2024-01-01", end="2024-03-31")
    assert board["won"]["data"]["value"] == total([d for d in q1 if d["stage"] == "won"])
    assert bar_values(board["pipeline"])["lost"] == total([d for d in q1 if d["stage"] == "lost"])
    assert board["tickets"]["data"]["value"] == "1"  # the ticket opened in January, by opened_on

    board = widgets(runtime.dashboards.load(admin, "sales_home", {"owner": str(sales["ids"]["peer"])}))
    assert board["won"]["data"]["value"] == total(deals_where(sales, {"peer"}, "won"))
    assert board["tickets"]["data"]["value"] == "1"

    board = widgets(runtime.dashboards.load(admin, "sales_home", {"team": "east", "stage": "open"}))
    assert Decimal(board["won"]["data"]["value"] or 0) == 0  # won revenue AND stage open: nothing
    assert bar_values(board["pipeline"]) == {"open": total(deals_where(sales, {"rep", "peer"}, "open"))}
    assert board["tickets"]["data"]["value"] == "2"  # tickets have no stage: only the team narrows them

    board = widgets(runtime.dashboards.load(sales["actors"]["rep"], "sales_home", {"owner": "me", "period": "all"}))
    assert board["won"]["data"]["value"] == total([d for d in sales["deals"] if d["stage"] == "won"
                                                  and d["owner"] == sales["ids"]["rep"]])


def test_filter_values_that_do_not_fit_are_refused_with_the_filter_named(
        runtime: Platform, sales: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        runtime.dashboards.load(Actor.system(), "sales_home", {"period": "soon", "team": "north", "colour": "red"})
    assert {p.field for p in refused.value.errors} == {"filter.period", "filter.team", "filter.colour"}


# -- KPI --------------------------------------------------------------------------------

def test_a_kpi_compares_with_the_previous_period_and_its_target(runtime: Platform, sales: dict[str, Any]) -> None:
    kpi = widgets(runtime.dashboards.load(Actor.system(), "sales_home"))["won"]["data"]
    now = Decimal(total(deals_where(sales, None, "won")))
    before = Decimal(total(deals_where(sales, None, "won", "2024-01-01", "2024-03-31")))
    assert kpi["value"] == format(now, "f") and kpi["previous"] == format(before, "f")
    assert Decimal(kpi["change"]) == ((now - before) / before).quantize(Decimal("0.0001"))
    assert kpi["previous_period"] == "2024-01-01..2024-03-31"
    assert kpi["target"] == "10000" and Decimal(kpi["progress"]) == (now / 10000).quantize(Decimal("0.0001"))
    # The rep's own KPI compares their own quarters.
    mine = widgets(runtime.dashboards.load(sales["actors"]["rep"], "sales_home"))["won"]["data"]
    assert mine["previous"] == total(deals_where(sales, {"rep"}, "won", "2024-01-01", "2024-03-31"))
    # Without a date range there is nothing to compare with.
    timeless = widgets(runtime.dashboards.load(Actor.system(), "sales_home", {"period": "all"}))["won"]["data"]
    assert timeless["previous"] is None and timeless["change"] is None


# -- drill links ------------------------------------------------------------------------

def drilled(runtime: Platform, actor: Actor, link: str) -> set[int]:
    parsed = urlparse(link)
    formula = parse_qs(parsed.query).get("formula", [None])[0]
    found = runtime.records.list(actor, parsed.path.split("/")[2], filter=formula, limit=200)
    return {r["id"] for r in found["data"]}


def test_each_data_point_links_to_the_list_of_exactly_its_records(runtime: Platform, sales: dict[str, Any]) -> None:
    boss = sales["actors"]["boss"]
    board = widgets(runtime.dashboards.load(boss, "sales_home", {"stage": "won"}))
    pipeline = board["pipeline"]["data"]
    won_point = pipeline["series"][0]["data"][0]
    assert won_point["drill"].startswith("/app/deal?formula=")
    expected = {d["id"] for d in deals_where(sales, {"rep", "peer"}, "won")}
    assert drilled(runtime, boss, won_point["drill"]) == expected
    # A pie slice: the owner's won deals this quarter, as the manager sees them.
    rep_slice = next(i for i in board["owners"]["data"]["items"] if i["key"] == sales["ids"]["rep"])
    assert drilled(runtime, boss, rep_slice["drill"]) == {d["id"] for d in deals_where(sales, {"rep"}, "won")}
    # A pivot cell: one owner and one stage.
    matrix = board["matrix"]["data"]
    assert matrix["pivot"] is True
    row = next(r for r in matrix["rows"] if r["key"] == sales["ids"]["peer"])
    cell = row["cells"][[c["key"] for c in matrix["columns"]].index("won")]
    assert cell["value"] == total(deals_where(sales, {"peer"}, "won"))
    assert drilled(runtime, boss, cell["drill"]) == {d["id"] for d in deals_where(sales, {"peer"}, "won")}
    # The KPI's link lists everything it adds up.
    assert drilled(runtime, boss, board["won"]["data"]["drill"]) == expected


def test_every_widget_links_to_all_its_records_and_says_when_it_has_nothing_to_draw(
        runtime: Platform, sales: dict[str, Any]) -> None:
    boss = sales["actors"]["boss"]
    board = widgets(runtime.dashboards.load(boss, "sales_home"))
    assert drilled(runtime, boss, board["pipeline"]["drill"]) == {d["id"] for d in deals_where(sales, {"rep", "peer"})}
    assert not board["pipeline"]["empty"] and not board["owners"]["empty"]
    # Nothing closes in 2019: every chart is empty, and still links to its (empty) list.
    empty = widgets(runtime.dashboards.load(boss, "sales_home", {"period": "2019-01-01..2019-12-31"}))
    assert empty["pipeline"]["empty"] and empty["owners"]["empty"] and empty["matrix"]["empty"]
    assert empty["pipeline"]["drill"].startswith("/app/deal?formula=")
    assert drilled(runtime, boss, empty["pipeline"]["drill"]) == set()


# -- the API ----------------------------------------------------------------------------

def test_the_api_loads_a_dashboard_and_one_widget_with_filters_from_the_address(
        api: Any, runtime: Platform, sales: dict[str, Any]) -> None:
    loaded = api.ok(api.get("/dashboards/sales_home", params={"filter.period": "2024-01-01..2024-03-31"}))
    assert [w["id"] for w in loaded["widgets"]] == ["won", "pipeline", "owners", "tickets", "matrix"]
    assert next(f for f in loaded["filters"] if f["name"] == "period")["value"] == "2024-01-01..2024-03-31"
    one = api.ok(api.get("/dashboards/sales_home/widgets/pipeline", params={"filter.stage": "lost"}))
    assert bar_values(one) == {"lost": total([d for d in deals_where(sales) if d["stage"] == "lost"])}
    assert api.get("/dashboards/sales_home/widgets/nope").status_code == 404
    assert api.get("/dashboards/nothing_here").status_code == 404
    refused = api.get("/dashboards/sales_home", params={"filter.period": "soon"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "filter.period"
    assert api.client.get("/api/v1/dashboards/sales_home").status_code == 401
    assert [d["api_name"] for d in api.ok(api.get("/dashboards"))] == ["sales_home"]


def test_dashboards_are_written_through_the_metadata_api(api: Any, sales: dict[str, Any]) -> None:
    stored = api.ok(api.get("/meta/dashboards/sales_home"))
    moved = [{**w, "x": 0, "y": 10} if w["id"] == "pipeline" else w for w in stored["widgets"]]
    changed = api.ok(api.patch("/meta/dashboards/sales_home", {"widgets": moved, "version": stored["version"]}))
    assert changed["version"] == stored["version"] + 1
    bad = api.patch("/meta/dashboards/sales_home", {"widgets": [{"id": "x", "type": "bar", "report": "gone"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "/widgets/0/report"


# -- the pages --------------------------------------------------------------------------

@pytest.fixture
def site(runtime: Platform) -> Iterator[Any]:
    """A web client on the address sign-in cookies are set for."""
    from fastapi.testclient import TestClient

    from tessera.app import create_app

    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def test_dashboard_pages_send_signed_out_visitors_to_sign_in_and_keep_builders_pages_to_builders(
        site: Any, sales: dict[str, Any]) -> None:
    client = site
    answer = client.get("/dashboards/sales_home", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/dashboards/sales_home"
    signed_in = client.post("/login", data={"email": "rep@example.com", "password": "a-long-password",
                                            "next": "/dashboards"}, follow_redirects=False)
    assert signed_in.status_code == 303
    page = client.get("/dashboards/sales_home")
    assert page.status_code == 200 and 'data-chart="bar"' in page.text and "Won this period" in page.text
    fragment = client.get("/dashboards/sales_home?filter.period=all",
                          headers={"HX-Request": "true", "HX-Target": "dashboard-body"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'data-widget="won"' in fragment.text
    missing = client.get("/dashboards/nothing_here")
    assert missing.status_code == 404 and "nothing_here" in missing.text and "<html" in missing.text
    for path in ("/builder/dashboards/sales_home", "/builder/reports/new", "/builder/reports/won_revenue"):
        assert client.get(path).status_code == 403, path


def test_a_kpis_change_reads_in_the_house_style_of_percentages(site: Any, runtime: Platform,
                                                               sales: dict[str, Any]) -> None:
    """#17: the KPI's change against the period before is written by the server as percent
    fields are (85.7 %, a narrow no-break space, a rise with its plus), not by the browser."""
    import re

    from tessera.meta.percents import percent_text

    kpi = widgets(runtime.dashboards.load(sales["actors"]["rep"], "sales_home"))["won"]["data"]
    assert kpi["change"] is not None
    site.post("/login", data={"email": "rep@example.com", "password": "a-long-password", "next": "/dashboards"})
    page = site.get("/dashboards/sales_home").text
    shown = re.search(r'<span class="kpi-change[^"]*" data-share="([^"]+)"\s+title="[^"]*">([^<]+)</span>', page)
    assert shown is not None and shown.group(1) == kpi["change"]
    assert shown.group(2) == percent_text(kpi["change"], 1, share=True, signed=True)
    assert shown.group(2).endswith("\u202f%") and shown.group(2)[0] in "+-0"


def test_builders_open_the_dashboard_and_report_builders(site: Any, sales: dict[str, Any]) -> None:
    client = site
    client.post("/login", data={"email": "admin@example.com", "password": "admin-password", "next": "/app"})
    board = client.get("/builder/dashboards/sales_home")
    assert board.status_code == 200 and 'id="builder-grid"' in board.text and "won_revenue" in board.text
    assert client.get("/builder/dashboards/new").status_code == 200
    report = client.get("/builder/reports/pipeline_by_stage")
    assert report.status_code == 200 and 'id="r-rows"' in report.text and "pipeline_by_stage" in report.text
    assert client.get("/builder/reports/new?object=ticket").status_code == 200
    assert "Sales home" in client.get("/dashboards").text
