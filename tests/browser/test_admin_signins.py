"""An admin signs a person out: sees who is signed in where (their browser in words), ends
a rep's session (whose next click asks them to sign in), revokes a rep's API token (which
stops working at once), and makes a token for themselves, shown once — a blank name refused
beside its input."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import go
from .test_admin_home import admin_area, open_admin


def test_an_admin_signs_a_person_out_and_revokes_a_token(page: Any, server: Any, shot: Any,
                                                         admin_login: tuple[str, str], browser: Any) -> None:
    base, runtime = server
    rita = runtime.users.accounts.add(Actor.system(), {"email": "rita@example.com", "name": "Rita Rep",
                                                       "password": "a-long-password"})
    script = runtime.users.tokens.create(runtime.users.actor_for_user(rita["id"]), {"name": "Nightly export"})
    theirs = browser.new_context()
    tab = theirs.new_page()
    go(tab, f"{base}/login")
    tab.fill("#email", "rita@example.com")
    tab.fill("#password", "a-long-password")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{base}/app")
    open_admin(page, base, admin_login)
    admin_area(page, "Sessions & tokens")
    sessions = page.locator("#sessions tbody tr")
    expect(sessions).to_have_count(2)
    mine = sessions.filter(has_text="you, here")
    expect(mine).to_contain_text("Admin")
    rep = sessions.filter(has_text="Rita Rep")
    expect(rep).to_contain_text("Chrome on Linux")
    expect(rep).to_contain_text("127.0.0.1")
    tokens = page.locator("#tokens tbody tr")
    expect(tokens.filter(has_text="Nightly export")).to_contain_text("Rita Rep")
    shot(page, "admin-signins")
    # Rita's session ends: her next click asks her to sign in.
    rep.get_by_role("button", name="Sign Rita Rep out of this session").click()
    expect(page.locator(".flash")).to_contain_text("Rita Rep is signed out of that session")
    expect(sessions).to_have_count(1)
    tab.reload()
    tab.wait_for_url(re.compile(r".*/login\?next=.*"))
    expect(tab.locator("#password")).to_be_visible()
    theirs.close()
    # Her script's token stops working once revoked.
    me_url, bearer = f"{base}/api/v1/me", {"Authorization": f"Bearer {script['token']}"}
    assert page.request.get(me_url, headers=bearer).status == 200
    tokens.filter(has_text="Nightly export").get_by_role("button", name="Revoke Nightly export of Rita Rep").click()
    expect(page.locator(".flash")).to_contain_text("The token “Nightly export” of Rita Rep is revoked")
    expect(page.locator("#tokens")).not_to_contain_text("Nightly export")
    assert page.request.get(me_url, headers=bearer).status == 401
    # A token for the admin: a blank name is refused beside it, then one is made and shown once.
    page.get_by_label("What it is for").evaluate("e => e.removeAttribute('required')")
    page.get_by_role("button", name="Make token").click()
    expect(page.locator("#token-name + .field-error")).to_contain_text("must be text of 1 to 200 characters")
    page.get_by_label("What it is for").fill("Reports sync")
    page.get_by_label("Works for").select_option(label="30 days")
    page.get_by_role("button", name="Make token").click()
    shown = page.get_by_label("The new token")
    expect(shown).to_be_visible()
    token = shown.input_value()
    assert len(token) > 30
    answer = page.request.get(me_url, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200 and answer.json()["email"] == "admin@example.com"
    shot(page, "admin-signins-token")
    admin_area(page, "Sessions & tokens")
    expect(page.locator("#tokens tbody tr").filter(has_text="Reports sync")).to_contain_text("Admin")
    expect(page.get_by_label("The new token")).to_have_count(0)
    assert token not in page.content()
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "admin-signins-phone")
