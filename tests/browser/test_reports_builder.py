"""The report builder's funnel in a real browser (#17 defect 7): a sales manager builds a
stage funnel in the report builder, sees the stages in the pipeline's order (not
alphabetically) with the conversion from each step to the next, saves it, puts it on a new
dashboard from the report builder and drills from a funnel step into the deals in that
stage. A grouped report's preview shows stages by their labels in the pipeline's order."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go

STAGES = [("prospecting", "Prospecting"), ("qualified", "Qualified"), ("proposal", "Proposal"),
          ("closed_won", "Closed won"), ("closed_lost", "Closed lost")]
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": v, "label": label} for v, label in STAGES]}]}
#: Each deal's way through the pipeline (it is created in the first stage).
PATHS = {
    "Acme renewal": ("prospecting",),
    "Globex rollout": ("prospecting", "qualified"),
    "Initech pilot": ("prospecting", "qualified", "proposal"),
    "Umbrella deal": ("prospecting", "qualified", "proposal", "closed_won"),
    "Stark upgrade": ("prospecting", "proposal", "closed_won"),
    "Wayne audit": ("prospecting", "qualified", "closed_lost"),
    "Hooli trial": ("qualified", "proposal"),
}
MANAGER = ("manager@example.com", "a-long-password")
SALES_MANAGER = {"api_name": "sales_manager", "label": "Sales manager", "permissions": {
    "deal": {"create": True, "read": "all", "edit": "all", "delete": "none"}}}


def _setup(runtime: Any) -> None:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for n, (name, path) in enumerate(PATHS.items()):
        record = runtime.records.create(system, "deal", {"name": name, "stage": path[0], "amount": 1000 * (n + 1)})
        for stage in path[1:]:
            record = runtime.records.update(system, "deal", record["id"], {"stage": stage}, record["version"])
    runtime.users.roles.create(system, SALES_MANAGER, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": MANAGER[0], "name": "Maria Manager", "password": MANAGER[1],
                                        "roles": ["builder", "sales_manager"]})


def _sign_in(page: Any, base: str) -> None:
    go(page, f"{base}/login")
    page.fill("#email", MANAGER[0])
    page.fill("#password", MANAGER[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def _funnel_step_pixel(page: Any, widget: str, index: int) -> tuple[float, float]:
    """Where the index-th step of a funnel chart is on the page (from the chart's own layout)."""
    x, y = page.evaluate(
        """([id, index]) => {
             const chart = window.tesseraDashboards.charts.get(id);
             const points = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(index).points;
             const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
             return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
           }""", [widget, index])
    box = page.locator(f"[data-widget-id={widget}]").bounding_box()
    return box["x"] + x, box["y"] + y


def test_a_sales_manager_builds_a_stage_funnel_puts_it_on_a_dashboard_and_drills_into_a_stage(
        page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base)
    page.get_by_role("link", name="Builder", exact=True).first.click()
    page.wait_for_url(f"{base}/builder")
    page.get_by_role("link", name="New report", exact=True).click()
    page.wait_for_url(re.compile(r".*/builder/reports/new.*"))

    page.get_by_label("Object", exact=True).select_option(label="Deal")
    page.get_by_role("radio", name=re.compile("Funnel")).check()
    expect(page.get_by_label("Stage field")).to_have_value("stage")
    # The stages come in the pipeline's order, each ticked; Closed lost is no step of the funnel.
    stages = page.locator("#r-stages li label")
    expect(stages).to_have_text([label for _v, label in STAGES])
    page.get_by_label("Closed lost", exact=True).uncheck()
    page.get_by_label("Label", exact=True).fill("Deal funnel")
    steps = page.locator("#r-funnel .funnel-label")
    expect(steps).to_have_text(["Prospecting", "Qualified", "Proposal", "Closed won"])
    # Reached: 7 prospects (Hooli started qualified: it got that far), 6 qualified (Stark
    # skipped it on its way to a proposal, Wayne was qualified before it was lost), 4
    # proposals, 2 won.
    expect(page.locator("#r-funnel .funnel-step")).to_have_count(4)
    reached = page.locator("#r-result tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in reached] == [["Prospecting", "7"], ["Qualified", "6"], ["Proposal", "4"],
                                                     ["Closed won", "2"]]
    # Conversions read as percent fields do (one house style: 85.7 %, never 85.7%).
    expect(page.locator("#r-funnel .funnel-step").nth(3)).to_contain_text("50\u202f% of Proposal")
    expect(page.locator("#r-funnel .funnel-step").nth(1)).to_contain_text("85.7\u202f% of Prospecting")
    assert reached[1].split("\t")[2:4] == ["85.7\u202f%", "85.7\u202f%"], reached[1]
    shot(page, "report-builder-funnel")

    # The measure: what each stage totals, here the amounts of the deals that got this far.
    page.get_by_label("Measure").select_option(label="Sum of Amount")
    expect(page.locator("#r-result thead")).to_contain_text("Sum of Amount")
    page.get_by_label("Measure").select_option(label="Number of records")
    expect(page.locator("#r-result thead")).not_to_contain_text("Sum of Amount")

    page.get_by_role("button", name="Save report").click()
    page.wait_for_url(f"{base}/builder/reports/deal_funnel")
    saved = runtime.documents.get("reports", "deal_funnel")
    assert (saved["type"], saved["field"], saved["stages"]) == (
        "funnel", "stage", ["prospecting", "qualified", "proposal", "closed_won"])
    # Opened again, the report is a funnel with the stages it was saved with.
    expect(page.get_by_role("radio", name=re.compile("Funnel"))).to_be_checked()
    expect(page.get_by_label("Closed lost", exact=True)).not_to_be_checked()
    expect(page.locator("#r-funnel .funnel-step")).to_have_count(4)

    # Onto a new dashboard, from the report builder.
    page.get_by_label("Add to a dashboard").select_option(label="A new dashboard")
    page.get_by_role("button", name="Add to dashboard").click()
    page.wait_for_url(re.compile(r".*/builder/dashboards/new\?add=deal_funnel"))
    expect(page.locator("#builder-grid [data-widget]")).to_have_count(1)
    expect(page.locator("#builder-grid [data-widget]")).to_contain_text("Deal funnel")
    page.get_by_label("Label", exact=True).fill("Sales pipeline")
    shot(page, "dashboard-builder-funnel-added")
    page.get_by_role("button", name="Save dashboard").click()
    page.wait_for_url(f"{base}/builder/dashboards/sales_pipeline")
    widget = runtime.documents.get("dashboards", "sales_pipeline")["widgets"][0]
    assert (widget["type"], widget["report"]) == ("funnel", "deal_funnel")
    page.get_by_role("link", name="Open dashboard").click()
    page.wait_for_url(f"{base}/dashboards/sales_pipeline")
    page.wait_for_selector(f"[data-widget-id={widget['id']}][data-drawn='1'] canvas")
    names = page.evaluate(f"() => window.tesseraDashboards.charts.get('{widget['id']}').getOption()"
                          ".series[0].data.map((d) => d.name)")
    assert names == ["Prospecting", "Qualified", "Proposal", "Closed won"]
    page.wait_for_timeout(1200)  # the chart's opening animation, for the screenshot
    shot(page, "dashboard-funnel")

    # A click on the Proposal step lists the deals now in that stage.
    x, y = _funnel_step_pixel(page, widget["id"], 2)
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r".*/app/deal\?formula=.*"))
    assert parse_qs(urlparse(page.url).query)["formula"][0] == 'stage = "proposal"'
    page.wait_for_selector("#rows a")
    assert sorted(page.locator("#rows a").all_inner_texts()) == ["Hooli trial", "Initech pilot"]
    shot(page, "dashboard-funnel-drill")

    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"{base}/builder/reports/deal_funnel")
    expect(page.locator("#r-funnel .funnel-step")).to_have_count(4)
    shot(page, "report-builder-funnel-phone")


def test_a_grouped_report_shows_stages_by_label_in_the_pipelines_order(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base)
    go(page, f"{base}/builder/reports/new?object=deal")
    page.locator("#r-filter").fill('stage <> "prospecting"')
    page.locator("#r-filter").dispatch_event("change")
    source, rows = page.locator("#r-palette .chip[data-field=stage]"), page.locator("#r-rows")
    start, end = source.bounding_box(), rows.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.move(end["x"] + end["width"] / 2 + 2, end["y"] + end["height"] / 2 + 2, steps=2)
    page.mouse.up()
    expect(page.locator("#r-result tbody tr")).to_have_count(4)
    rows_seen = [r.split("\t") for r in page.locator("#r-result tbody tr").all_inner_texts()]
    assert rows_seen == [["Qualified", "1"], ["Proposal", "2"], ["Closed won", "2"], ["Closed lost", "1"]]
    # Time in stage: the same stages, how long deals stayed in each (no measure to pick).
    page.get_by_role("radio", name=re.compile("Time in stage")).check()
    expect(page.locator("#r-result thead")).to_contain_text("Average time")
    expect(page.get_by_label("Measure")).to_be_hidden()
    expect(page.locator("#r-result tbody tr").first).to_contain_text("Prospecting")
    page.get_by_role("radio", name=re.compile("Summary")).check()
    expect(page.locator("#r-result tbody tr")).to_have_count(4)
    # A group opens the records behind it.
    page.get_by_role("link", name="Closed won").click()
    page.wait_for_url(re.compile(r".*/app/deal\?formula=.*"))
    assert sorted(page.locator("#rows a").all_inner_texts()) == ["Stark upgrade", "Umbrella deal"]
