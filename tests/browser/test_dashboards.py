"""Dashboards in a real browser: a dashboard draws a canvas per chart widget and a click on
a bar lands on the record list filtered to that bar's records; filters reload the widgets;
a report is built by dragging fields into rows and values with a live preview and saved;
a widget is moved and resized in the dashboard builder and the layout saved."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from tessera.auth.actor import Actor

from .conftest import go

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"},
                 {"value": "lost", "label": "Lost"}]},
    {"api_name": "close_date", "label": "Close date", "type": "date"}]}
DEALS = [("won", "1000"), ("won", "2500"), ("open", "700"), ("lost", "300"), ("won", "900"), ("open", "150")]
PIPELINE = {"api_name": "pipeline_by_stage", "label": "Pipeline by stage", "object": "deal",
            "group_by": [{"field": "stage", "label": "Stage"}],
            "measures": [{"name": "total", "label": "Total", "function": "sum", "field": "amount"}]}
DASHBOARD = {"api_name": "pipeline", "label": "Pipeline", "filters": [
    {"name": "stage", "label": "Stage", "type": "field", "field": "stage"}],
    "widgets": [
        {"id": "by_stage", "title": "By stage", "type": "bar", "report": "pipeline_by_stage", "x": 0, "y": 0,
         "w": 6, "h": 4},
        {"id": "share", "title": "Share", "type": "donut", "report": "pipeline_by_stage", "x": 6, "y": 0,
         "w": 6, "h": 4},
        {"id": "total", "title": "Total", "type": "kpi", "report": "pipeline_by_stage", "x": 0, "y": 4, "w": 3,
         "h": 2, "options": {"target": 10000}},
        {"id": "trend", "title": "Trend", "type": "line", "report": "pipeline_by_stage", "x": 3, "y": 4, "w": 9,
         "h": 3}]}


def _sign_in(page: Any, base: str, login: tuple[str, str]) -> None:
    go(page, f"{base}/login")
    page.fill("#email", login[0])
    page.fill("#password", login[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def _setup(runtime: Any) -> dict[str, int]:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    ids = {}
    for i, (stage, amount) in enumerate(DEALS):
        ids[f"Deal {i}"] = runtime.records.create(system, "deal", {"name": f"Deal {i}", "stage": stage,
                                                                   "amount": amount})["id"]
    runtime.documents.create(system, "reports", PIPELINE)
    runtime.documents.create(system, "dashboards", DASHBOARD)
    return ids


def _bar_pixel(page: Any, widget: str, index: int) -> tuple[float, float]:
    """Where the index-th bar of a chart is on the page (from the chart's own coordinates)."""
    x, y = page.evaluate(
        """([id, index]) => {
             const chart = window.tesseraDashboards.charts.get(id);
             const bar = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(index);
             return [bar.x + bar.width / 2, bar.y + bar.height / 2];
           }""", [widget, index])
    box = page.locator(f"[data-widget-id={widget}]").bounding_box()
    return box["x"] + x, box["y"] + y


def test_a_dashboard_draws_its_charts_and_a_bar_opens_the_filtered_list(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/dashboards/pipeline")
    page.wait_for_selector("[data-widget-id=by_stage][data-drawn='1'] canvas")
    for widget in ("by_stage", "share", "trend"):
        assert page.locator(f"[data-widget-id={widget}] canvas").count() >= 1
    assert page.locator("[data-widget=total] .kpi-value").inner_text() == "5,550"
    shot(page, "dashboard")

    categories = page.evaluate(
        "() => window.tesseraDashboards.charts.get('by_stage').getOption().xAxis[0].data")
    won = categories.index("Won")
    x, y = _bar_pixel(page, "by_stage", won)
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r".*/app/deal\?formula=.*"))
    formula = parse_qs(urlparse(page.url).query)["formula"][0]
    assert formula == 'stage = "won"'
    page.wait_for_selector("#rows a")
    assert sorted(page.locator("#rows a").all_inner_texts()) == ["Deal 0", "Deal 1", "Deal 4"]
    shot(page, "dashboard-drill")


def test_a_dashboard_filter_reloads_every_widget(page: Any, server: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/dashboards/pipeline")
    page.wait_for_selector("[data-widget-id=by_stage][data-drawn='1']")
    page.select_option("[data-filter=stage]", "open")
    page.wait_for_function("() => document.querySelector('[data-widget=total] .kpi-value').textContent === '850'")
    assert "filter.stage=open" in page.url
    page.wait_for_selector("[data-widget-id=by_stage][data-drawn='1'] canvas")
    categories = page.evaluate(
        "() => window.tesseraDashboards.charts.get('by_stage').getOption().xAxis[0].data")
    assert categories == ["Open"]


def _drag(page: Any, source: Any, target: Any) -> None:
    """Drag with the mouse, in steps, as a person would (SortableJS uses mouse events)."""
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 5, start["y"] + start["height"] / 2 + 5, steps=3)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.move(end["x"] + end["width"] / 2 + 2, end["y"] + end["height"] / 2 + 2, steps=2)
    page.mouse.up()
    page.wait_for_timeout(200)  # SortableJS's drop animation


def test_a_report_is_built_by_dragging_fields_with_a_live_preview_and_saved(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder/reports/new?object=deal")
    page.fill("#r-label", "Amount by stage")
    _drag(page, page.locator("#r-palette .chip[data-field=stage]"), page.locator("#r-rows"))
    _drag(page, page.locator("#r-palette .chip[data-field=amount]"), page.locator("#r-values"))
    assert page.locator("#r-values select[aria-label=Function]").input_value() == "sum"
    page.wait_for_selector("#r-result th:has-text('Sum of Amount')")
    rows = page.locator("#r-result tbody tr").all_inner_texts()
    # Stages by their labels, in the order of the field's options (not alphabetically).
    assert [r.split("\t") for r in rows] == [["Open", "850"], ["Won", "4,400"], ["Lost", "300"]]
    assert page.locator("#r-result tfoot").inner_text().split("\t") == ["Total", "5,550"]
    shot(page, "report-builder")
    page.click("#save-report")
    page.wait_for_url(f"{base}/builder/reports/amount_by_stage")
    saved = runtime.documents.get("reports", "amount_by_stage")
    assert saved["group_by"][0]["field"] == "stage" and saved["measures"][0] == {
        "name": "sum_amount", "label": "Sum of Amount", "function": "sum", "field": "amount"}
    # The saved report opens with its fields in place and its preview.
    page.wait_for_selector("#r-result tbody tr")
    assert page.locator("#r-rows .chip[data-field=stage]").count() == 1


def test_a_widget_is_moved_and_resized_in_the_dashboard_builder_and_saved(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder/dashboards/pipeline")
    widget = page.locator("#builder-grid [data-widget=total]")
    grid = page.locator("#builder-grid").bounding_box()
    cell = grid["width"] / 12
    widget.scroll_into_view_if_needed()
    head = widget.locator(".widget-head h2").bounding_box()
    page.mouse.move(head["x"] + 5, head["y"] + 5)
    page.mouse.down()
    page.mouse.move(head["x"] + 5 + cell * 3, head["y"] + 5 + 102 * 3, steps=10)  # three columns right, rows down
    page.mouse.up()
    assert (widget.get_attribute("data-x"), widget.get_attribute("data-y")) == ("3", "7")
    widget.locator(".resize-handle").scroll_into_view_if_needed()
    corner = widget.locator(".resize-handle").bounding_box()
    page.mouse.move(corner["x"] + 8, corner["y"] + 8)
    page.mouse.down()
    page.mouse.move(corner["x"] + 8 + cell * 2, corner["y"] + 8 + 102, steps=10)
    page.mouse.up()
    assert (widget.get_attribute("data-w"), widget.get_attribute("data-h")) == ("5", "3")
    # A new widget from a report and a chart type.
    page.fill("#w-title", "Stages")
    page.select_option("#w-type", "funnel")
    page.click("#add-widget")
    shot(page, "dashboard-builder")
    page.click("#save-dashboard")
    page.wait_for_selector("#dashboard-status.ok")
    saved = {w["id"]: w for w in runtime.documents.get("dashboards", "pipeline")["widgets"]}
    assert (saved["total"]["x"], saved["total"]["y"], saved["total"]["w"], saved["total"]["h"]) == (3, 7, 5, 3)
    assert saved["total"]["options"] == {"target": 10000}
    assert saved["w5"]["type"] == "funnel" and saved["w5"]["report"] == "pipeline_by_stage"
    go(page, f"{base}/dashboards/pipeline")
    page.wait_for_selector("[data-widget-id=w5][data-drawn='1'] canvas")
