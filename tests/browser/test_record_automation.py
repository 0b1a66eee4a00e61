"""The record page's "Why did this happen" reads as a person writes: a rule by its label,
what started it and what it did, the values it set by field label (the owner it picked by
name) — not api names, trigger keys or JSON."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_list_views import _sign_in

LEAD = {"api_name": "lead", "label": "Lead", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "employees", "label": "Employees", "type": "integer"},
    {"api_name": "score", "label": "Lead score", "type": "integer"}]}


def test_why_did_this_happen_names_the_rule_and_the_fields_it_set(page: Any, server: Any, shot: Any,
                                                                  admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, LEAD)
    runtime.documents.create(system, "rules", {
        "api_name": "size_points", "label": "Points for size", "object": "lead", "kind": "scoring",
        "trigger": {"on": "before_save"},
        "scoring": {"field": "score", "rules": [{"when": "employees > 500", "points": 40}]}})
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="Leads").first.click()
    page.get_by_role("link", name="New").first.click()
    page.wait_for_url(f"{base}/app/lead/new")
    page.get_by_label(re.compile(r"^Name")).fill("Big Co")
    page.get_by_label("Employees").fill("900")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r".*/app/lead/\d+$"))
    runs = page.locator(".rule-runs")
    expect(runs).to_contain_text("Points for size ran before the save: Lead score: 40")
    assert "size_points" not in runs.inner_text() and "{" not in runs.inner_text()
    shot(page, "record-why-did-this-happen")
