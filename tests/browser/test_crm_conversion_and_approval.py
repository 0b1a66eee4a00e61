"""The CRM in a browser: a sales rep opens a qualified lead from the Leads list, presses
Convert and sees the account, contact and opportunity it made as links; a contract the rep
submits for approval from its page reaches the sales manager's inbox, who approves it there,
and the contract's page then reads Approved."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from templates.crm.conftest import PASSWORD, install, person  # tests/ is on the path (the suite's conftest)
from tessera.auth.actor import Actor

from .conftest import go
from .test_flows import _sign_in


def _crm(runtime: Any) -> dict[str, Actor]:
    install(runtime, sample_data=False)
    system = Actor.system()
    runtime.records.create(system, "sales_stage", {"name": "Qualification", "position": 1, "probability": "10"})
    people = {"director": person(runtime, "director@demo.tessera", roles=["sales_director"])}
    people["manager"] = person(runtime, "sales.manager@demo.tessera", roles=["sales_manager"],
                               teams=["east", "central", "west"], manager="director@demo.tessera",
                               name="Grace Lin")
    people["rep"] = person(runtime, "east.rep1@demo.tessera", roles=["sales_rep"], teams=["east"],
                           manager="sales.manager@demo.tessera", name="Daniel Okafor")
    return people


def test_a_rep_converts_a_lead_and_the_manager_approves_the_contract(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    people = _crm(runtime)
    rep = people["rep"]
    runtime.records.create(rep, "lead", {"first_name": "Jane", "last_name": "Doe", "company": "Acme Robotics",
                                         "email": "jane@acme.test", "source": "referral", "region": "east",
                                         "status": "qualified"})

    _sign_in(page, base, "east.rep1@demo.tessera", PASSWORD)
    page.get_by_role("link", name="Leads").first.click()
    page.wait_for_url(f"{base}/app/lead")
    page.locator("table.records").get_by_role("link", name="Jane Doe").click()
    page.wait_for_url(re.compile(r".*/app/lead/\d+$"))
    page.get_by_role("button", name="Convert").click()
    made = page.locator(".conversion-last")
    expect(made).to_contain_text("Convert lead")
    expect(made.get_by_role("link", name="Acme Robotics", exact=True)).to_have_attribute(
        "href", re.compile(r"/app/account/\d+$"))
    expect(made.get_by_role("link", name="Jane Doe")).to_have_attribute("href", re.compile(r"/app/contact/\d+$"))
    deal_link = made.get_by_role("link", name="Acme Robotics - new business")
    expect(deal_link).to_have_attribute("href", re.compile(r"/app/opportunity/\d+$"))
    expect(page.get_by_role("button", name="Convert")).to_have_count(0)
    expect(page.locator(".record-layout")).to_contain_text("Converted")
    shot(page, "crm-lead-converted")
    deal_link.click()
    page.wait_for_url(re.compile(r".*/app/opportunity/\d+$"))
    expect(page.locator(".record-layout")).to_contain_text("Qualification")

    account = runtime.records.list(rep, "account")["data"][0]
    contract = runtime.records.create(Actor.system(), "contract", {
        "name": "Acme Robotics subscription", "account": account["id"], "start_date": "2030-01-01",
        "term_months": 12, "contract_value": "120000", "discount_pct": "5", "payment_terms": "net_30",
        "owner": rep.user_id})
    go(page, f"{base}/app/contract/{contract['id']}")
    page.get_by_role("button", name="Start Contract approval").click()
    expect(page.locator("#automation-outcome")).to_contain_text("The flow has started.")
    expect(page.locator("#automation .lock-notice")).to_be_visible()
    expect(page.get_by_role("button", name="Start Contract approval")).to_have_count(0)

    _sign_in(page, base, "sales.manager@demo.tessera", PASSWORD)
    go(page, f"{base}/inbox")
    row = page.locator(".task-row", has_text="Acme Robotics subscription")
    expect(row).to_contain_text("Manager")
    row.locator("textarea[name=comment]").fill("Standard terms, approved")
    shot(page, "crm-contract-inbox")
    row.locator("button[value=approve]").click()
    expect(page.locator(".task-outcome")).to_contain_text("Approved.")

    go(page, f"{base}/app/contract/{contract['id']}")
    expect(page.locator("#automation .instance.status-approved")).to_be_visible()
    expect(page.locator(".record-layout")).to_contain_text("Approved")
    expect(page.locator("#automation .instance-history")).to_contain_text("Standard terms, approved")
    shot(page, "crm-contract-approved")
    orders = [o for o in runtime.records.list(Actor.system(), "order")["data"] if o["contract"] == contract["id"]]
    assert len(orders) == 1


def test_a_builder_opens_the_contract_approval_and_it_saves_whole(page: Any, server: Any, shot: Any,
                                                                 admin_login: tuple[str, str]) -> None:
    base, runtime = server
    _crm(runtime)
    _sign_in(page, base, *admin_login)
    go(page, f"{base}/builder/flows/contract_approval")
    page.click('.flow-block[data-pointer="/steps/1"]')
    expect(page.locator(".flow-people[data-people=to] select[aria-label='manager of']")).to_have_value("approver")
    page.click("#flow-validate")
    expect(page.locator("#flow-status")).to_contain_text("No problems")
    shot(page, "crm-contract-approval-designer")
    page.click("#flow-save")
    expect(page.locator("#flow-status.ok")).to_contain_text("Saved")
    saved = runtime.documents.get("flows", "contract_approval")
    assert saved["on_end"]["rejected"][0]["set"] == {"status": '"rejected"'}
    assert saved["steps"][1]["escalate"]["to"] == [{"manager": "approver"}]
