"""An admin finds every admin area from one overview and moves between them with the
administration's own navigation, on a wide screen and on a phone, never typing an address."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .test_list_views import _sign_in

#: The admin areas as the sub-navigation names them, and each page's heading.
AREAS = {"People": "People", "Teams": "Teams", "Roles": "Roles", "Audit log": "Audit log",
         "Sessions & tokens": "Sessions and API tokens", "Failed events": "Events", "Plugins": "Plugins"}


def open_admin(page: Any, base: str, login: tuple[str, str]) -> None:
    """Sign in and click through to the administration's overview from the app's navigation."""
    _sign_in(page, base, login)
    page.get_by_role("link", name="Admin", exact=True).first.click()
    page.wait_for_url(f"{base}/admin")
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()


def admin_area(page: Any, name: str) -> None:
    """Click an area in the administration's own navigation."""
    page.get_by_role("navigation", name="Administration").get_by_role("link", name=name, exact=True).click()


def test_an_admin_moves_between_every_admin_area_without_the_address_bar(page: Any, server: Any, shot: Any,
                                                                          admin_login: tuple[str, str]) -> None:
    base, _runtime = server
    open_admin(page, base, admin_login)
    areas = page.locator(".admin-areas li")
    expect(areas).to_have_count(len(AREAS))
    for name in AREAS:
        expect(areas.filter(has=page.get_by_role("link", name=name, exact=True))).to_have_count(1)
    expect(page.locator(".admin-areas")).to_contain_text("Nothing failed")
    expect(page.locator(".first-steps")).to_contain_text("a sales team with a manager and reps")
    shot(page, "admin-overview")
    for name, heading in AREAS.items():
        admin_area(page, name)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        current = page.get_by_role("navigation", name="Administration").locator("[aria-current=page]")
        expect(current).to_have_text(name)
    admin_area(page, "Overview")
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    # The overview's cards lead to the areas too.
    page.locator(".admin-areas").get_by_role("link", name="Teams", exact=True).click()
    page.wait_for_url(re.compile(r".*/admin/teams$"))
    page.set_viewport_size({"width": 390, "height": 844})
    admin_area(page, "Overview")
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the overview is {width}px wide on a 390px phone"
    shot(page, "admin-overview-phone")
