"""A form's section shows only while one of its fields does: a section whose every field a
condition hides (the reason of a deal not lost yet) is not left on the page as an empty
frame, and it appears as soon as a change makes one of its fields visible."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_list_views import _sign_in

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open", "label": "Open"}, {"value": "lost", "label": "Lost"}]},
    {"api_name": "lost_reason", "label": "Lost reason", "type": "text"}]}
FORM = {"api_name": "deal_main", "label": "Deal", "object": "deal", "default": True, "sections": [
    {"label": "Deal", "columns": [{"fields": [{"field": "name"}, {"field": "stage"}]}]},
    {"label": "Why it was lost", "columns": [{"fields": [
        {"field": "lost_reason", "visible_if": "stage = \"lost\""}]}]}]}


def test_a_section_whose_fields_are_all_hidden_is_hidden_until_one_shows(page: Any, server: Any, shot: Any,
                                                                         admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    runtime.documents.create(system, "forms", FORM)
    runtime.records.create(system, "deal", {"name": "Big one", "stage": "open"})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Deals")
    page.click("#rows >> text=Big one")
    page.wait_for_url(re.compile(r".*/app/deal/\d+$"))
    expect(page.get_by_text("Deal", exact=True).first).to_be_visible()
    expect(page.get_by_text("Why it was lost")).to_be_hidden()
    page.get_by_label("Stage").select_option(label="Lost")
    expect(page.get_by_text("Why it was lost")).to_be_visible()
    expect(page.get_by_label("Lost reason")).to_be_visible()
    shot(page, "form-section-shown")
    page.get_by_label("Stage").select_option(label="Open")
    expect(page.get_by_text("Why it was lost")).to_be_hidden()


def test_a_long_forms_save_button_stays_in_reach_at_the_bottom_of_the_window(page: Any, server: Any,
                                                                             admin_login: tuple[str, str]) -> None:
    base, runtime = server
    system = Actor.system()
    runtime.metadata.create_object(system, {"api_name": "survey", "label": "Survey", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        *({"api_name": f"answer_{n}", "label": f"Answer {n}", "type": "text"} for n in range(1, 31))]})
    runtime.records.create(system, "survey", {"name": "Spring"})
    _sign_in(page, base, admin_login)
    page.click("nav >> text=Surveys")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone, where the form is longest
    page.click("#rows >> text=Spring")
    page.wait_for_url(re.compile(r".*/app/survey/\d+$"))
    save = page.get_by_role("button", name="Save")
    expect(page.get_by_label("Answer 30")).not_to_be_in_viewport()
    expect(save).to_be_in_viewport()
    page.get_by_label("Answer 1", exact=True).fill("Yes")
    save.click()
    page.wait_for_load_state("networkidle")
    assert runtime.records.list(system, "survey")["data"][0]["answer_1"] == "Yes"
