"""The builder's home as a newcomer finds it: every builder (flows, rules, reports,
dashboards, calendars, SLA policies) one click away, saved reports and dashboards listed,
and a new object asks what many of its records are called (Company → Companies)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

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
    page.get_by_label("Label", exact=True).fill("Company")
    expect(page.get_by_label(re.compile("Plural label"))).to_have_value("")
    page.get_by_role("button", name="Create object").click()
    page.wait_for_url(f"{base}/builder/objects/company")
    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Companies").click()
    page.wait_for_url(f"{base}/app/company")
    expect(page.locator("h1")).to_have_text("Companies")
