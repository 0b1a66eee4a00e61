"""An admin manages people without the API: invites a sales rep into the East team with a
manager and a role, sees a mistake beside its input, changes the rep's team, disables the
rep (who then cannot sign in) and enables them again."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_list_views import _sign_in


def _setup(runtime: Any) -> None:
    system = Actor.system()
    runtime.users.roles.create(system, {"api_name": "sales", "label": "Sales rep", "permissions": {}},
                               runtime.snapshot)
    runtime.users.teams.create(system, {"api_name": "east", "label": "East"})
    runtime.users.teams.create(system, {"api_name": "west", "label": "West"})
    runtime.users.accounts.add(system, {"email": "lead@example.com", "name": "Lea Lead",
                                        "password": "a-long-password"})


def test_an_admin_invites_changes_disables_and_enables_a_person(page: Any, server: Any, shot: Any,
                                                                 admin_login: tuple[str, str], browser: Any) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    page.get_by_role("link", name="People", exact=True).click()
    page.wait_for_url(f"{base}/admin/users")
    expect(page.locator("table.records")).to_contain_text("Lea Lead")
    page.get_by_label("Name", exact=True).fill("Rita Rep")
    page.get_by_label("E-mail", exact=True).fill("rita@example.com")
    page.get_by_label(re.compile("^Password")).fill("short")
    page.get_by_label("Sales rep", exact=True).check()
    page.get_by_label("East", exact=True).check()
    page.get_by_label("Manager").select_option(label="Lea Lead (lead@example.com)")
    # The browser's own check is skipped, as a person pasting into an old browser would.
    page.locator("#user-password").evaluate("e => e.removeAttribute('minlength')")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#user-password + .field-error")).to_contain_text("8 characters")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Rita Rep")
    page.get_by_label(re.compile("^Password")).fill("a-long-password")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_url(re.compile(r".*/admin/users/\d+\?added=1"))
    expect(page.locator(".flash")).to_contain_text("Rita Rep can now sign in")
    expect(page.get_by_label("Sales rep", exact=True)).to_be_checked()
    expect(page.get_by_label("Manager")).to_have_value("lead@example.com")
    shot(page, "admin-person")
    page.get_by_label("East", exact=True).uncheck()
    page.get_by_label("West", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(page.get_by_label("West", exact=True)).to_be_checked()
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".flash")).to_contain_text("is disabled")
    # The rep cannot sign in now.
    other = browser.new_context()
    tab = other.new_page()
    go(tab, f"{base}/login")
    tab.fill("#email", "rita@example.com")
    tab.fill("#password", "a-long-password")
    tab.click("button[type=submit]")
    expect(tab.locator("body")).not_to_contain_text("Sign out")
    other.close()
    page.get_by_role("button", name="Enable").click()
    expect(page.locator(".flash")).to_contain_text("may sign in again")
    page.get_by_role("link", name="All people").click()
    row = page.locator("table.records tr", has_text="Rita Rep")
    expect(row).to_contain_text("Sales rep")
    expect(row).to_contain_text("West")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Lea Lead")  # the manager by name, not by e-mail
    expect(row).not_to_contain_text("lead@example.com")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "admin-people-phone")
