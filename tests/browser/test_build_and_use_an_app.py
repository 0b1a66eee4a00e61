"""The whole no-code loop in a real browser: a builder makes an object and arranges its form
by dragging; an end user fills it in, sees a validation message beside the field, saves,
finds the record in a filtered list, moves it on the kanban (a refused move snaps back with
the reason) and sees the history."""

from __future__ import annotations

import re
from typing import Any

from tessera.auth.actor import Actor

from .conftest import go


def sign_in(page: Any, base: str, email: str, password: str) -> None:
    go(page, f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def drag(page: Any, source: Any, target: Any) -> None:
    """A mouse drag SortableJS follows (it listens to pointer events, as on a touch screen)."""
    box, goal = source.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + box["height"] / 2 + 5, steps=3)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 2, steps=12)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 2 + 2, steps=2)
    page.mouse.up()


def test_a_builder_builds_an_object_and_an_end_user_works_its_records(page: Any, server: Any, shot: Any,
                                                                      admin_login: tuple[str, str]) -> None:
    base, runtime = server
    sign_in(page, base, *admin_login)
    # -- the builder: an object, its fields, its form --------------------------------------
    go(page, f"{base}/builder")
    page.fill("#object-label", "Ticket")
    page.click("text=Create object")
    page.wait_for_url(f"{base}/builder/objects/ticket")
    for label, kind, options in (("Priority", "select", "Low\nHigh"), ("Stage", "select", "New\nDoing\nDone"),
                                 ("Hours", "integer", None)):
        page.fill("#field-label", label)
        page.select_option("#field-type", kind)
        if options:
            page.fill("#field-options", options)
        page.click("text=Add field")
        page.wait_for_selector(f"#fields >> text={label}")
    shot(page, "builder-object")
    # A field without a label is refused with the message beside the input.
    page.select_option("#field-type", "text")
    page.evaluate("document.querySelector('#field-label').removeAttribute('required')")
    page.click("text=Add field")
    page.wait_for_selector(".field-error")
    runtime.metadata.update_object(Actor.system(), "ticket", {"validation_rules": [
        {"name": "done_needs_hours", "error_if": 'AND(stage = "done", ISBLANK(hours))',
         "message": "Log the hours before closing", "field": "hours"}]})

    go(page, f"{base}/builder/objects/ticket/form")
    page.click("#add-section")
    new_column = page.locator("#canvas [data-section]").last.locator("[data-column]")
    drag(page, page.locator("#canvas .placement[data-field=hours]"), new_column)
    page.locator("#canvas [data-section]").last.locator(".section-label").fill("Effort")
    page.locator("#canvas .placement[data-field=priority]").click()
    page.fill("#p-required_if", 'stage = "doing"')
    page.wait_for_selector("#check-required_if >> text=boolean")
    page.click("#save-form")
    page.wait_for_selector("#designer-status.ok")
    shot(page, "form-designer")

    # -- the end user ---------------------------------------------------------------------
    runtime.users.roles.create(Actor.system(), {"api_name": "agent", "label": "Agent", "permissions": {
        "ticket": {"create": True, "read": "all", "edit": "all", "delete": "own"}}}, runtime.snapshot)
    runtime.users.accounts.add(Actor.system(), {
        "email": "agent@example.com", "name": "Agent", "password": "agent-password", "roles": ["agent"]})
    page.get_by_role("button", name="Your account").click()
    page.click("text=Sign out")
    page.wait_for_url(f"{base}/login")
    sign_in(page, base, "agent@example.com", "agent-password")
    go(page, f"{base}/app/ticket/new")
    # The hours sit in the builder's "Effort" section.
    assert page.locator("section:has-text('Effort') [name=hours]").count() == 1
    page.select_option("[name=stage]", "doing")
    page.click("button[type=submit]")
    page.wait_for_selector(".field-error")
    messages = page.locator(".field-error").all_inner_texts()
    assert any("required" in m for m in messages), messages
    shot(page, "record-refused")
    page.fill("[name=name]", "Printer on fire")
    page.select_option("[name=priority]", "high")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/app/ticket/\d+$"))
    record_url = page.url
    shot(page, "record-saved")

    go(page, f"{base}/app/ticket")
    page.fill("#formula-filter", 'priority = "high"')
    page.click("text=Apply")
    page.wait_for_selector("text=Printer on fire")
    shot(page, "list-filtered")

    go(page, f"{base}/app/ticket/board?group_by=stage")
    card = page.locator(".card[data-id]", has_text="Printer on fire")
    done = page.locator(".cards[data-value=done]")
    drag(page, card, done)
    page.wait_for_selector(".card.refused")
    assert "Log the hours before closing" in card.inner_text()
    assert page.locator(".cards[data-value=doing] >> text=Printer on fire").count() == 1  # snapped back
    shot(page, "board-refused")

    go(page, record_url)
    page.fill("[name=hours]", "3")
    page.click("button[type=submit]")
    page.wait_for_url(record_url)
    go(page, f"{base}/app/ticket/board?group_by=stage")
    drag(page, page.locator(".card[data-id]", has_text="Printer on fire"), page.locator(".cards[data-value=done]"))
    page.wait_for_function("document.querySelector('.cards[data-value=done]').innerText.includes('Printer')")
    go(page, f"{base}/app/ticket/board?group_by=stage")
    assert page.locator(".cards[data-value=done] >> text=Printer on fire").count() == 1

    go(page, record_url)
    timeline = page.locator(".timeline").inner_text()
    # What a person reads: labels, not the internal names (stage, done, hours).
    assert "Stage: Doing → Done" in timeline and "Hours: — → 3" in timeline and "done" not in timeline
    shot(page, "record-history")
    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"{base}/app/ticket")
    shot(page, "list-phone")
    assert page.locator("#rows >> text=Printer on fire").is_visible()  # the sidebar's Recent names it too
