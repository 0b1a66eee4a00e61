"""The CRM's pipeline dashboard in a browser: the sales manager opens *Pipeline & funnel* from
the Sales app's navigation, sees its charts drawn, clicks the Proposal bar of the pipeline
by stage and lands on the list of the open deals in that stage, reading their names; back
on the dashboard, a step of the opportunity funnel opens the deals now in it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from templates.crm.conftest import PASSWORD, install, person  # tests/ is on the path (the suite's conftest)
from tessera.auth.actor import Actor

from .conftest import go
from .test_flows import _sign_in

STAGES = [("Qualification", "10", "open"), ("Needs Analysis", "20", "open"), ("Proposal", "50", "open"),
          ("Negotiation", "75", "open"), ("Won", "100", "won"), ("Lost", "0", "lost")]
#: name, stage, amount, owner
DEALS = [("Acme robots", "Proposal", "12000", "east"), ("Birch cloud", "Proposal", "8000", "west"),
         ("Cedar audit", "Qualification", "3000", "east"), ("Dune rollout", "Negotiation", "20000", "west"),
         ("Elm seats", "Won", "5000", "east")]


def _pipeline(runtime: Any) -> None:
    install(runtime, sample_data=False)
    system = Actor.system()
    stage = {name: runtime.records.create(system, "sales_stage", {
        "name": name, "position": i + 1, "probability": p, "category": category})["id"]
        for i, (name, p, category) in enumerate(STAGES)}
    person(runtime, "sales.manager@demo.tessera", roles=["sales_manager"], teams=["east", "west"], name="Grace Lin")
    reps = {"east": person(runtime, "east.rep1@demo.tessera", roles=["sales_rep"], teams=["east"],
                           manager="sales.manager@demo.tessera"),
            "west": person(runtime, "west.rep@demo.tessera", roles=["sales_rep"], teams=["west"],
                           manager="sales.manager@demo.tessera")}
    account = runtime.records.create(system, "account", {"name": "Northwind", "region": "east"})["id"]
    for name, at, amount, rep in DEALS:
        runtime.records.create(system, "opportunity", {
            "name": name, "account": account, "stage": stage[at], "manual_amount": amount,
            "close_date": "2027-06-30", "engage_date": "2026-09-01", "owner": reps[rep].user_id})


def _point(page: Any, widget: str, series: int, index: int, funnel: bool = False) -> tuple[float, float]:
    """Where the index-th bar (or funnel step) of a chart is on the page."""
    x, y = page.evaluate(
        """([id, series, index, funnel]) => {
             const chart = window.tesseraDashboards.charts.get(id);
             const data = chart.getModel().getSeriesByIndex(series).getData();
             if (funnel) {
               const layout = data.getItemLayout(index);
               const points = Array.isArray(layout) ? layout : layout.points;
               const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
               return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
             }
             const bar = data.getItemLayout(index);
             return [bar.x + bar.width / 2, bar.y + bar.height / 2];
           }""", [widget, series, index, funnel])
    box = page.locator(f"[data-widget-id={widget}]").bounding_box()
    return box["x"] + x, box["y"] + y


def test_the_sales_manager_drills_from_the_pipeline_dashboard_to_the_deals(page: Any, server: Any,
                                                                            shot: Any) -> None:
    base, runtime = server
    _pipeline(runtime)
    _sign_in(page, base, "sales.manager@demo.tessera", PASSWORD)
    page.locator("a.nav-dashboard", has_text="Pipeline & funnel").first.click()
    page.wait_for_url(f"{base}/dashboards/pipeline_funnel")
    expect(page.get_by_role("heading", name="Pipeline and weighted pipeline by stage")).to_be_visible()
    page.wait_for_selector("[data-widget-id=pipeline][data-drawn='1'] canvas")
    page.wait_for_selector("[data-widget-id=deal_funnel][data-drawn='1'] canvas")
    expect(page.locator("[data-widget=open_pipeline] .kpi-value")).to_have_text("43,000")
    shot(page, "crm-pipeline-dashboard")

    stages = page.evaluate("() => window.tesseraDashboards.charts.get('pipeline').getOption().xAxis[0].data")
    assert stages == ["Qualification", "Proposal", "Negotiation"]  # the stages' own order, open ones only
    # The chart reads as a person needs it: the value axis carries its scale (10K, 20K …)
    # and every stage is named under its bars, none dropped for want of room.
    drawn = page.evaluate("""() => {
        const model = window.tesseraDashboards.charts.get('pipeline').getModel();
        const labels = (axis) => model.getComponent(axis, 0).axis.getViewLabels().map((l) => l.formattedLabel);
        const shown = (axis) => model.getComponent(axis, 0).get(['axisLabel', 'show']);
        return {y: labels('yAxis'), x: labels('xAxis'), shown: [shown('xAxis'), shown('yAxis')]};
    }""")
    assert drawn["shown"] == [True, True] and drawn["x"] == stages
    assert len(drawn["y"]) >= 3 and drawn["y"][0] == "0" and any(re.fullmatch(r"\d+(\.\d)?K", v) for v in drawn["y"])
    x, y = _point(page, "pipeline", 0, stages.index("Proposal"))
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r".*/app/opportunity\?formula=.*"))
    assert "stage.id" in parse_qs(urlparse(page.url).query)["formula"][0]
    page.wait_for_selector("#rows a")
    names = page.locator("#rows a").all_inner_texts()
    assert sorted(n for n in names if n in {d[0] for d in DEALS}) == ["Acme robots", "Birch cloud"]
    shot(page, "crm-pipeline-drill")

    # A step of the funnel: the deals now in Negotiation.
    go(page, f"{base}/dashboards/pipeline_funnel")
    page.wait_for_selector("[data-widget-id=deal_funnel][data-drawn='1'] canvas")
    steps = [item["name"] for item in page.evaluate(
        "() => window.tesseraDashboards.charts.get('deal_funnel').getOption().series[0].data")]
    x, y = _point(page, "deal_funnel", 0, steps.index("Negotiation"), funnel=True)
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r".*/app/opportunity\?formula=.*"))
    page.wait_for_selector("#rows a")
    assert [n for n in page.locator("#rows a").all_inner_texts() if n in {d[0] for d in DEALS}] == ["Dune rollout"]

    # On a phone the widgets stand one under the other: a figure as tall as what it says,
    # a chart tall enough to read.
    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"{base}/dashboards/pipeline_funnel")
    page.wait_for_selector("[data-widget-id=pipeline][data-drawn='1'] canvas")
    figure = page.locator("[data-widget=open_pipeline]").bounding_box()
    chart = page.locator("[data-widget=pipeline]").bounding_box()
    assert figure is not None and chart is not None
    assert figure["height"] < 160 <= chart["height"] and figure["width"] > 300
    shot(page, "crm-pipeline-dashboard-phone")
