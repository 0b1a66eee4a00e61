"""A newcomer admin sets up a sales team East with a manager and two reps, without the API
or the docs: creates the team, adds the three people, makes the lead the manager of the
others, sees a manager loop refused beside its input, takes a rep out, and finds the team
with its manager in the list."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .test_admin_home import admin_area, open_admin

PEOPLE = (("lea@example.com", "Lea Lead"), ("rita@example.com", "Rita Rep"), ("rob@example.com", "Rob Rep"))


def test_a_newcomer_admin_sets_up_a_sales_team_with_a_manager_and_two_reps(page: Any, server: Any, shot: Any,
                                                                           admin_login: tuple[str, str]) -> None:
    base, runtime = server
    for email, name in PEOPLE:
        runtime.users.accounts.add(Actor.system(), {"email": email, "name": name, "password": "a-long-password"})
    open_admin(page, base, admin_login)
    admin_area(page, "Teams")
    expect(page.locator("table.records")).to_contain_text("No teams yet")
    page.get_by_label("Name", exact=True).fill("East")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator(".flash")).to_contain_text("The team is made")
    expect(page.get_by_role("heading", level=1)).to_contain_text("East")
    for _email, name in PEOPLE:
        page.get_by_label("Add", exact=True).select_option(label=f"{name} ({_email})")
        page.get_by_role("button", name="Add to team").click()
        expect(page.locator(".flash")).to_have_text(f"{name} is in the team now.")
    members = page.locator("#members table")
    for _email, name in PEOPLE:
        expect(members).to_contain_text(name)
    # The lead manages everyone else in the team.
    page.get_by_label("Make").select_option(label="Lea Lead")
    page.get_by_role("button", name="Set manager").click()
    expect(page.locator(".flash")).to_have_text("Lea Lead is now the manager of Rita Rep, Rob Rep.")
    expect(members.locator("tr", has_text="Rita Rep")).to_contain_text("Lea Lead")
    expect(members.locator("tr", has_text="Rob Rep")).to_contain_text("Lea Lead")
    expect(page.locator("#manager")).to_contain_text("Managed by Lea Lead (2 of 3)")
    shot(page, "admin-team")
    # Rob, whom Lea manages, cannot become Lea's manager: the loop is named beside the input.
    page.get_by_label("Make").select_option(label="Rob Rep")
    page.get_by_role("button", name="Set manager").click()
    expect(page.locator("#manager .field-error")).to_contain_text("would make a loop")
    expect(members.locator("tr", has_text="Lea Lead").locator("td").nth(2)).to_have_text("")
    # A rep leaves the team.
    members.locator("tr", has_text="Rob Rep").get_by_role("button", name="Remove").click()
    expect(page.locator(".flash")).to_have_text("Rob Rep is no longer in the team.")
    expect(members).not_to_contain_text("Rob Rep")
    # A blank name is refused beside the input, and the team keeps its name.
    page.locator("#team-label").fill(" ")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#team-label + .field-error")).to_have_text("must not be blank")
    page.get_by_role("link", name="All teams").click()
    row = page.locator("table.records tr", has_text="East")
    expect(row).to_contain_text("Lea Lead, Rita Rep")
    expect(row.locator("td").nth(2)).to_have_text("Lea Lead")
    # The same name twice is refused beside the input.
    page.get_by_label("Name", exact=True).fill("East")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator("#team-label + .field-error")).to_have_text("is taken")
    people = {p["email"]: p["manager"] for p in runtime.users.accounts.list(team="east")["data"]}
    assert people == {"lea@example.com": None, "rita@example.com": "lea@example.com"}
    admin_area(page, "Teams")
    page.get_by_role("link", name="East", exact=True).click()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("heading", level=1)).to_contain_text("East")
    shot(page, "admin-team-phone")
