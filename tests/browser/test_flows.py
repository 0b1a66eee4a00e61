"""Flows in a real browser: a builder draws an approval flow in the block designer (with
the formula checker flagging a bad branch condition as it is typed) and publishes it; then
a rep starts it from the record page, the approver finds it in the inbox and the bell,
approves with a comment, and the record page's history shows the decision."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

from .conftest import go

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"}]}
FLOW = {"api_name": "deal_approval", "label": "Deal approval", "object": "deal", "trigger": {"on": "button"},
        "steps": [{"id": "boss", "type": "approval", "label": "Boss signs off", "approvers": [{"role": "manager"}],
                   "lock_record": True}]}


def _people(runtime: Platform) -> None:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for role, edit in (("sales", "own"), ("manager", "all")):
        runtime.users.roles.create(system, {"api_name": role, "label": role.title(), "permissions": {
            "deal": {"create": True, "read": "all", "edit": edit, "delete": "none"}}}, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rep", "password": "rep-password",
                                        "roles": ["sales"]})
    runtime.users.accounts.add(system, {"email": "boss@example.com", "name": "Boss", "password": "boss-password",
                                        "roles": ["manager"]})


def _sign_in(page: Any, base: str, email: str, password: str) -> None:
    page.context.clear_cookies()
    go(page, f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")


def test_a_builder_draws_validates_and_publishes_a_flow(page: Any, server: Any, shot: Any,
                                                        admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _people(runtime)
    _sign_in(page, base, *admin_login)
    go(page, f"{base}/builder/flows/new?object=deal")
    page.fill("#fp-flow-label", "Big deal approval")
    assert page.input_value("#fp-flow-name") == "big_deal_approval"

    page.click('.flow-add[data-list="/steps"][data-index="0"]')
    page.click('.flow-menu-item[data-type="approval"]')
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/0"]')
    page.click(".flow-add-person")
    page.select_option(".flow-people .person-value", "manager")
    page.wait_for_selector('.flow-block[data-pointer="/steps/0"] >> text=role manager')
    # A quorum of a share of the approvers (half of them, rounded up), typed as a percentage.
    page.select_option("#fp-mode", "quorum")
    page.select_option("#fp-quorum-kind", "share")
    assert page.get_by_label("Share that must approve").input_value() == "50"
    page.get_by_label("Share that must approve").fill("60")

    page.click('.flow-add[data-list="/steps"][data-index="1"]')
    page.click('.flow-menu-item[data-type="branch"]')
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/1"]')
    page.click('.flow-branch-head[data-pointer="/steps/1/branches/0"]')
    page.fill("#fp-condition", "amount >")
    page.wait_for_selector(".formula-check.field-error")
    page.fill("#fp-condition", "amount > 1000")
    page.wait_for_selector(".formula-check.ok")
    assert page.locator(".formula-check.field-error").count() == 0
    shot(page, "flow-designer")

    # A step changes places with its neighbour: Move up, then back down.
    page.click('.flow-block[data-pointer="/steps/1"]')
    page.click("#fp-move-up")
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/0"] >> text=Branch')
    page.wait_for_selector('.flow-block[data-pointer="/steps/1"] >> text=role manager')
    assert page.locator("#fp-move-up").is_disabled()
    page.click("#fp-move-down")
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/1"] >> text=Branch')
    assert page.locator("#fp-move-down").is_disabled()

    page.click("#flow-save")
    page.wait_for_selector("#flow-status.ok >> text=Saved")
    page.wait_for_url(f"{base}/builder/flows/big_deal_approval")
    page.click("#flow-validate")
    page.wait_for_selector("#flow-status >> text=No problems")
    page.click("#flow-publish")
    page.wait_for_selector("#flow-status >> text=Published: version 1")
    saved = runtime.documents.get("flows", "big_deal_approval")
    assert saved["steps"][0]["approvers"] == [{"role": "manager"}]
    assert saved["steps"][0]["mode"] == "quorum" and saved["steps"][0]["quorum"] == {"share": 0.6}
    assert saved["steps"][1]["branches"][0]["condition"] == "amount > 1000"
    assert runtime.flows.versions(Actor.system(), "big_deal_approval")[0]["version"] == 1

    # A problem the server finds is shown beside the block it is about.
    page.click('.flow-block[data-pointer="/steps/0"]')
    page.click(".flow-people button[aria-label='Remove this person']")
    page.click("#flow-validate")
    problem = page.locator('.flow-block.has-problem[data-pointer="/steps/0"] .flow-problem')
    problem.wait_for()
    # In words, by what the panel calls it: no JSON pointer, no schema text.
    assert problem.inner_text() == "Approvers: add at least one", problem.inner_text()
    assert page.locator("#flow-panel .panel-problems").inner_text() == "Approvers: add at least one"
    shot(page, "flow-designer-problem")

    # The list of flows shows it published, and opens it in the designer again.
    go(page, f"{base}/builder/flows")
    page.wait_for_selector("tr[data-flow=big_deal_approval] >> text=version 1")
    page.click("text=Big deal approval")
    page.wait_for_selector('.flow-block[data-pointer="/steps/1"] >> text=Branch')
    assert page.locator("#flow-title").inner_text() == "Flow: Big deal approval"


def test_a_request_goes_from_the_record_page_to_the_approvers_inbox_and_back(page: Any, server: Any,
                                                                               shot: Any) -> None:
    base, runtime = server
    _people(runtime)
    system = Actor.system()
    runtime.documents.create(system, "flows", FLOW)
    runtime.flows.publish(system, "deal_approval")
    rep = runtime.users.actor_for_user(2)
    assert rep is not None and rep.email == "rep@example.com"
    record = runtime.records.create(rep, "deal", {"name": "Acme renewal", "amount": 5000})

    _sign_in(page, base, "rep@example.com", "rep-password")
    go(page, f"{base}/app/deal/{record['id']}")
    page.fill("#automation input[aria-label='Comment for Deal approval']", "Please approve")
    page.click("button[data-start=deal_approval]")
    page.wait_for_selector("#automation-outcome >> text=The flow has started.")
    page.wait_for_selector("#automation .lock-notice")

    _sign_in(page, base, "boss@example.com", "boss-password")
    page.wait_for_selector("#bell-count:visible >> text=1")
    page.wait_for_selector("#inbox-count:visible >> text=1")
    page.click(".bell-button")
    page.wait_for_selector("#bell-menu:visible >> text=Deal approval: Boss signs off")
    shot(page, "flow-bell")
    go(page, f"{base}/inbox")
    row = page.locator(".task-row", has_text="Acme renewal")
    row.locator("textarea[name=comment]").fill("Good margin, approved")
    shot(page, "flow-inbox")
    row.locator("button[value=approve]").click()
    page.wait_for_selector(".task-outcome >> text=Approved.")

    go(page, f"{base}/app/deal/{record['id']}")
    page.wait_for_selector("#automation .instance.status-approved")
    history = page.locator("#automation .instance-history")
    assert "Good margin, approved" in history.inner_text()
    assert "Boss" in history.inner_text() and "Please approve" in history.inner_text()
    shot(page, "flow-record-panel")


def test_a_wait_step_waits_until_a_date_or_a_condition(page: Any, server: Any, shot: Any,
                                                       admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _people(runtime)
    _sign_in(page, base, *admin_login)
    go(page, f"{base}/builder/flows/new?object=deal")
    page.fill("#fp-flow-label", "Wait for it")
    page.click('.flow-add[data-list="/steps"][data-index="0"]')
    page.click('.flow-menu-item[data-type="wait"]')
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/0"]')
    # The choice stays while its formula is still blank.
    page.select_option("#fp-wait", "until_condition")
    assert page.input_value("#fp-wait") == "until_condition"
    page.wait_for_selector("#fp-until_condition")
    # Saved blank, the problem is a sentence beside the block, not schema text.
    page.click("#flow-save")
    problem = page.locator('.flow-block.has-problem[data-pointer="/steps/0"] .flow-problem')
    problem.wait_for()
    assert problem.inner_text() == "Until (a condition): must not be blank", problem.inner_text()
    page.select_option("#fp-wait", "until")
    assert page.input_value("#fp-wait") == "until"
    page.fill("#fp-until", "TODAY() + 3")
    page.wait_for_selector(".formula-check.ok")
    page.click("#flow-save")
    page.wait_for_selector("#flow-status.ok >> text=Saved")
    shot(page, "flow-wait-until")
    assert runtime.documents.get("flows", "wait_for_it")["steps"][0]["until"] == "TODAY() + 3"


def test_a_builder_sets_due_times_and_waits_in_words_and_reads_the_approval_modes_in_english(
        page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _people(runtime)
    _sign_in(page, base, *admin_login)
    go(page, f"{base}/builder/flows/new?object=deal")
    page.fill("#fp-flow-label", "Timed approval")
    page.click('.flow-add[data-list="/steps"][data-index="0"]')
    page.click('.flow-menu-item[data-type="approval"]')
    page.wait_for_selector('.flow-block.selected[data-pointer="/steps/0"]')
    page.click(".flow-add-person")
    page.select_option(".flow-people .person-value", "manager")
    modes = page.locator("#fp-mode option").all_inner_texts()
    assert modes[:2] == ["everyone must approve", "the first answer decides"]
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in page.locator("main").inner_text())
    page.get_by_label("Due after").fill("soon")
    assert "not a length of time" in page.locator(".duration-input .field-error").first.inner_text()
    page.get_by_label("Due after").fill("2 days")
    page.get_by_label("Remind every").fill("4 hours")
    page.locator("#flow-panel select").filter(has_text="approve automatically").select_option("auto_approve")
    page.get_by_label("Escalate after").fill("3 days 12 hours")
    page.click('.flow-add[data-list="/steps"][data-index="1"]')
    page.click('.flow-menu-item[data-type="wait"]')
    page.get_by_label("Duration").fill("90 min")
    page.click("#flow-save")
    page.wait_for_selector("#flow-status.ok >> text=Saved")
    steps = runtime.documents.get("flows", "timed_approval")["steps"]
    assert (steps[0]["due"], steps[0]["remind_every"], steps[0]["escalate"]["after"], steps[1]["duration"]) == (
        "P2D", "PT4H", "P3DT12H", "PT1H30M")
    page.reload()
    page.click('.flow-block[data-pointer="/steps/0"]')
    assert page.get_by_label("Due after").input_value() == "2 days"
    assert page.get_by_label("Escalate after").input_value() == "3 days 12 hours"
    shot(page, "flow-durations-in-words")


def test_go_back_offers_steps_by_label_and_a_quorum_says_its_share(page: Any, server: Any, shot: Any,
                                                                   admin_login: tuple[str, str]) -> None:
    """#17: "Go back to" offers the steps by their labels (two equal labels told apart by a
    number, never by ids), the go back block says where it goes by label, and a quorum
    approval's block says its share ("60 % must approve")."""
    base, runtime = server
    _people(runtime)
    system = Actor.system()
    runtime.documents.create(system, "flows", {
        "api_name": "contract_review", "label": "Contract review", "object": "deal", "trigger": {"on": "button"},
        "steps": [
            {"id": "approval_1", "type": "approval", "label": "Manager review", "approvers": [{"role": "manager"}],
             "mode": "quorum", "quorum": {"share": 0.6}},
            {"id": "approval_2", "type": "approval", "label": "Legal review", "approvers": [{"role": "manager"}]},
            {"id": "task_1", "type": "task", "label": "Legal review", "assignees": [{"role": "sales"}]},
            {"id": "goto_1", "type": "goto", "label": "Go back", "target": "approval_1"}]})
    _sign_in(page, base, *admin_login)
    go(page, f"{base}/builder/flows/contract_review")
    quorum = page.locator('.flow-block[data-pointer="/steps/0"] .flow-summary')
    expect(quorum).to_have_text("role Manager · 60\u202f% must approve")
    goto = page.locator('.flow-block[data-pointer="/steps/3"]')
    expect(goto.locator(".flow-summary")).to_have_text("back to Manager review")
    goto.click()
    target = page.get_by_label("Go back to")
    expect(target.locator("option")).to_have_text(["choose a step", "Manager review", "Legal review (1)",
                                                   "Legal review (2)"])
    target.select_option(label="Legal review (2)")
    expect(goto.locator(".flow-summary")).to_have_text("back to Legal review (2)")
    shot(page, "flow-designer-go-back-by-label")
    page.click("#flow-save")
    page.wait_for_selector("#flow-status.ok >> text=Saved")
    assert runtime.documents.get("flows", "contract_review")["steps"][3]["target"] == "task_1"
    # The share typed in the panel is the share the block states.
    page.click('.flow-block[data-pointer="/steps/0"]')
    page.get_by_label("Share that must approve").fill("75")
    expect(quorum).to_have_text("role Manager · 75\u202f% must approve")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "flow-designer-go-back-phone")


def test_an_approver_delegates_a_task_to_a_colleague_picked_by_name(page: Any, server: Any, shot: Any) -> None:
    """#17: Delegate in the inbox picks a person by name (the people picker lookups use),
    not an e-mail address typed from memory; the row says who has it now, by name."""
    base, runtime = server
    _people(runtime)
    system = Actor.system()
    runtime.users.accounts.add(system, {"email": "clara@example.com", "name": "Clara Clerk",
                                        "password": "clara-password", "roles": ["sales"]})
    runtime.documents.create(system, "flows", FLOW)
    runtime.flows.publish(system, "deal_approval")
    rep = runtime.users.actor_for_user(2)
    assert rep is not None
    record = runtime.records.create(rep, "deal", {"name": "Acme renewal", "amount": 5000})
    runtime.flows.start(rep, "deal_approval", record["id"], "Please approve")

    _sign_in(page, base, "boss@example.com", "boss-password")
    go(page, f"{base}/inbox")
    row = page.locator(".task-row", has_text="Acme renewal")
    expect(row.locator("input[type=email]")).to_have_count(0)
    row.get_by_role("searchbox", name="Search people to delegate to").press_sequentially("clar", delay=30)
    chosen = row.get_by_label("Delegate to", exact=True)
    expect(chosen.locator("optgroup option")).to_have_text(["Clara Clerk <clara@example.com>"])
    chosen.select_option(label="Clara Clerk <clara@example.com>")
    row.locator("textarea[name=comment]").fill("Clara knows this customer")
    shot(page, "inbox-delegate-picker")
    row.get_by_role("button", name="Delegate").click()
    expect(page.locator(".task-outcome")).to_have_text("Delegated to Clara Clerk.")
    clara = runtime.users.actor_for_user(int(runtime.users.id_for_email("clara@example.com") or 0))
    assert [t["record_title"] for t in runtime.flows.tasks(clara)] == ["Acme renewal"]

    _sign_in(page, base, "clara@example.com", "clara-password")
    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"{base}/inbox")
    expect(page.locator(".task-row", has_text="Acme renewal")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the inbox is {width}px wide on a 390px phone"
    shot(page, "inbox-delegate-phone")
