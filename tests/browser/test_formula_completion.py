"""Formula boxes suggest fields and options by the words people use (#17 defect 5): a user
types 'Sta' in the list's formula filter, picks Stage, types =, picks Closed won, and the
list filters by the stored value the formula needs; with the keyboard alone as with the
mouse, announced as a listbox. A field hidden from them is never suggested, and the
builder's formula boxes (a field's formula, the rule builder) suggest too."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "prospecting", "label": "Prospecting"}, {"value": "closed_won", "label": "Closed won"},
        {"value": "closed_lost", "label": "Closed lost"}]},
    {"api_name": "margin", "label": "Margin", "type": "currency"},
    {"api_name": "close_on", "label": "Expected close date", "type": "date"},
    {"api_name": "discounted", "label": "Discounted", "type": "formula", "expression": "margin * 0.9"}]}
REP = {"api_name": "rep", "label": "Rep", "permissions": {
    "deal": {"create": True, "read": "all", "edit": "own", "delete": "none", "fields": {"margin": "hidden"}}}}
REP_LOGIN = ("rep@example.com", "a-long-password")


def _setup(runtime: Any) -> None:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for name, stage in (("Acme", "closed_won"), ("Globex", "prospecting"), ("Initech", "closed_lost"),
                        ("Umbrella", "closed_won")):
        runtime.records.create(system, "deal", {"name": name, "stage": stage, "margin": 100})
    runtime.users.roles.create(system, REP, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": REP_LOGIN[0], "name": "Rita Rep", "password": REP_LOGIN[1],
                                        "roles": ["rep"]})


def test_a_user_picks_stage_and_closed_won_from_suggestions_and_the_list_filters(
        page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, REP_LOGIN)
    page.get_by_role("link", name="Deals").first.click()
    page.wait_for_url(f"{base}/app/deal")
    box = page.get_by_role("combobox", name="Formula filter")
    box.click()
    box.press_sequentially("Sta", delay=40)
    suggestions = page.get_by_role("listbox", name="Suggestions")
    expect(suggestions).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    stage = suggestions.get_by_role("option").filter(has_text="Stage")
    expect(stage).to_contain_text("stage · choice")
    shot(page, "formula-suggestions-fields")
    stage.click()  # the mouse
    expect(box).to_have_value("stage")
    expect(suggestions).to_be_hidden()
    box.press_sequentially(" =", delay=40)
    options = suggestions.get_by_role("option")
    expect(options).to_have_count(3)
    expect(options.locator(".suggestion-label")).to_have_text(["Prospecting", "Closed won", "Closed lost"])
    shot(page, "formula-suggestions-options")
    # The keyboard: down to Closed won (the highlighted option is the box's active descendant), Enter.
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("Enter")
    expect(box).to_have_value('stage = "closed_won"')
    expect(suggestions).to_be_hidden()
    assert page.url == f"{base}/app/deal"  # Enter took the suggestion; it did not submit the filter
    box.press("Enter")
    page.wait_for_url(f"{base}/app/deal?*formula=*")
    expect(page.locator("#rows a")).to_have_text(["Acme", "Umbrella"], ignore_case=False)
    shot(page, "formula-suggestions-filtered")

    # Escape closes; the hidden margin (and the formula that would reveal it) is never offered.
    box = page.get_by_role("combobox", name="Formula filter")
    box.fill("")
    box.press_sequentially("ma", delay=40)
    expect(suggestions.get_by_role("option").first).to_contain_text("MAX")  # functions, but no Margin
    assert not [t for t in suggestions.get_by_role("option").all_inner_texts() if "Margin" in t]
    box.fill("")
    box.press_sequentially("disc", delay=40)  # a formula reading the hidden margin would tell it
    page.wait_for_timeout(500)
    assert suggestions.is_hidden()
    box.fill("")
    box.press_sequentially("clo", delay=40)
    expect(suggestions.get_by_role("option").first).to_contain_text("Expected close date")
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    box.press("Tab")  # closed: Tab moves on as always
    expect(box).not_to_be_focused()

    page.set_viewport_size({"width": 390, "height": 844})
    # On a phone the list's filters fold behind "Filters": open them as a person would.
    page.get_by_role("button", name=re.compile(r"^Filters")).click()
    box.fill("")
    box.press_sequentially("stage = ", delay=40)
    expect(suggestions.get_by_role("option")).to_have_count(3)
    shot(page, "formula-suggestions-phone")


def test_a_builder_gets_suggestions_in_a_fields_formula_with_tab(page: Any, server: Any,
                                                                admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder/objects/deal/fields/discounted")
    box = page.get_by_role("combobox", name="Formula")
    box.fill("")
    box.press_sequentially("IF(mar", delay=40)
    suggestions = page.get_by_role("listbox", name="Suggestions")
    expect(suggestions.get_by_role("option").first).to_contain_text("Margin")
    box.press("Tab")
    expect(box).to_have_value("IF(margin")
    box.press_sequentially(" > 1, 1, 0) + ROUN", delay=30)
    expect(suggestions.get_by_role("option").first).to_contain_text("ROUND(number")
    box.press("Enter")
    expect(box).to_have_value("IF(margin > 1, 1, 0) + ROUND(")


def test_the_rule_builder_and_the_flow_designer_suggest_in_their_formula_boxes(
        page: Any, server: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/builder/rules/new?object=deal")
    editor = page.locator("[data-condition=condition]")
    editor.get_by_role("button", name="Edit as formula").click()
    box = editor.locator("textarea")
    # The caret goes to the formula box the click revealed: the person types straight on.
    expect(box).to_be_focused()
    page.keyboard.type("sta", delay=40)
    suggestions = page.get_by_role("listbox", name="Suggestions")
    expect(suggestions.get_by_role("option").first).to_contain_text("Stage")
    box.press("Enter")
    box.press_sequentially(' <> "closed l', delay=30)
    expect(suggestions.get_by_role("option").locator(".suggestion-label")).to_have_text(["Closed lost"])
    box.press("Tab")
    expect(box).to_have_value('stage <> "closed_lost"')
    # The rule builder's own check reads what was inserted (Alpine's model follows).
    expect(editor.locator(".formula-check")).to_contain_text("✓")

    go(page, f"{base}/builder/flows/new?object=deal")
    condition = page.get_by_label("Only if (condition)")
    condition.press_sequentially("clo", delay=40)
    expect(suggestions.get_by_role("option").first).to_contain_text("Expected close date")
    condition.press("Enter")
    expect(condition).to_have_value("close_on")


def test_an_option_written_by_its_label_is_refused_naming_the_value_meant(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    """#17 defect 5, the checker's half: `stage = "Closed lost"` (the label, not the stored
    value) is never true, so it is refused where it is written — the list's formula filter
    and the rule builder's condition — naming the option meant; the value it suggests works."""
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    go(page, f"{base}/app/deal")
    box = page.get_by_role("combobox", name="Formula filter")
    box.fill('stage = "Closed lost"')
    box.press("Escape")
    box.press("Enter")
    page.wait_for_url(f"{base}/app/deal?*formula=*")
    problem = page.locator("p.field-error[role=alert]")
    expect(problem).to_contain_text('"Closed lost" is not an option of Stage')
    expect(problem).to_contain_text('did you mean "closed_lost"? The list shows every record until it is fixed.')
    # Said once, in words: no second hint, no caret drawn for a fixed-width box.
    assert problem.inner_text().count("did you mean") == 1 and "^" not in problem.inner_text()
    expect(page.get_by_text("Showing records where")).to_have_count(0)
    # The list falls back to no filter rather than showing nothing.
    expect(page.locator("#rows a")).to_have_count(4)
    shot(page, "formula-option-by-label-refused")
    box = page.get_by_role("combobox", name="Formula filter")
    box.fill('stage = "closed_lost"')
    box.press("Escape")
    box.press("Enter")
    expect(page.locator("#rows a")).to_have_text(["Initech"])
    expect(page.locator("p.field-error[role=alert]")).to_have_count(0)

    go(page, f"{base}/builder/rules/new?object=deal")
    editor = page.locator("[data-condition=condition]")
    editor.get_by_role("button", name="Edit as formula").click()
    condition = editor.locator("textarea")
    condition.fill('stage = "Closed lost"')
    condition.press("Escape")
    expect(editor.locator(".formula-check")).to_contain_text('did you mean "closed_lost"?')
