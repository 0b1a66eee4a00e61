"""The builder's home as a newcomer finds it: every builder (flows, rules, reports,
dashboards, calendars, SLA policies) one click away, saved reports and dashboards listed,
and a new object asks what many of its records are called (Company → Companies)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_dashboards import PIPELINE, _setup
from .test_list_views import _sign_in


def test_a_builder_reaches_every_builder_and_names_a_new_object_in_plural(page: Any, server: Any, shot: Any,
                                                                         admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Builder", exact=True).click()
    page.wait_for_url(f"{base}/builder")
    sections = page.get_by_role("navigation", name="Build")
    for name in ("Flows", "Rules", "New report", "New dashboard", "Business calendars", "SLA policies"):
        expect(sections.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=PIPELINE["label"])).to_be_visible()
    shot(page, "builder-home")
    page.get_by_role("link", name=PIPELINE["label"]).click()
    page.wait_for_url(f"{base}/builder/reports/{PIPELINE['api_name']}")
    page.go_back()
    page.wait_for_url(f"{base}/builder")
    # "New object" at the top leads to its form, at the bottom of a long page.
    page.get_by_role("link", name="New object").click()
    expect(page.get_by_label("Label", exact=True)).to_be_in_viewport()
    page.get_by_label("Label", exact=True).fill("Company")
    expect(page.get_by_label(re.compile("Plural label"))).to_have_value("")
    page.get_by_role("button", name="Create object").click()
    page.wait_for_url(f"{base}/builder/objects/company")
    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Companies").click()
    page.wait_for_url(f"{base}/app/company")
    expect(page.locator("h1")).to_have_text("Companies")


def test_the_builder_lists_objects_by_label_with_each_objects_lines_under_it(page: Any, server: Any,
                                                                           admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    for label in ("Zebra", "Quote line", "Quote", "apple"):
        runtime.metadata.create_object(system, {"api_name": label.lower().replace(" ", "_"), "label": label,
                                                "child": label == "Quote line",
                                                "fields": [{"api_name": "name", "label": "Name", "type": "text"}]})
    runtime.metadata.add_field(system, "quote", {"api_name": "lines", "label": "Lines", "type": "child_table",
                                                 "target": "quote_line"})
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Builder", exact=True).click()
    page.wait_for_url(f"{base}/builder")
    names = page.locator("table.records tbody tr td:first-child > a").all_inner_texts()
    assert names == ["apple", "Quote", "Quote line", "Zebra"]
