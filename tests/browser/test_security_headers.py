"""The security headers in Chromium: the pages work under their Content-Security-Policy
(Alpine.js menus open, htmx swaps, ECharts draws — and every browser test fails on any
refusal, see conftest), while markup slipped into a page cannot run a script, another site
cannot frame a page, and links out carry no address of ours."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import go
from .test_dashboards import _setup, _sign_in


@pytest.fixture
def other_site() -> Iterator[tuple[str, dict[str, str]]]:
    """Another origin: a page that frames whatever `frame` says, and a log of the Referer
    headers it was sent."""
    seen: dict[str, str] = {}
    frame: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen[self.path] = self.headers.get("Referer") or ""
            body = (f'<!doctype html><title>Other</title><iframe id="framed" src="{frame.get("url", "")}">'
                    "</iframe>" if self.path == "/frame" else "<!doctype html><title>Out</title>ok").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    # localhost, not 127.0.0.1: another origin than Tessera's.
    yield f"http://localhost:{httpd.server_address[1]}", {"seen": seen, "frame": frame}  # type: ignore[dict-item]
    httpd.shutdown()


def test_pages_work_under_their_policy_and_injected_markup_cannot_run(page: Any, server: Any,
                                                                       admin_login: Any, shot: Any) -> None:
    base, runtime = server
    _setup(runtime)
    _sign_in(page, base, admin_login)
    response = page.request.get(f"{base}/app")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    # Alpine.js: the bell's menu opens on a click.
    page.click("#bell .bell-button")
    expect(page.locator("#bell .bell-button")).to_have_attribute("aria-expanded", "true")
    # ECharts draws the dashboard's charts.
    page.click("text=Dashboards")
    page.click("text=Pipeline")
    expect(page.locator("[data-widget] canvas").first).to_be_visible()
    shot(page, "csp-dashboard")
    # The API's JSON is never a page.
    assert page.request.get(f"{base}/api/v1/openapi.json").headers["content-security-policy"].startswith(
        "default-src 'none'")


def test_markup_slipped_into_a_page_cannot_run(browser: Any, server: Any, admin_login: Any) -> None:
    base, _runtime = server
    context = browser.new_context()  # its own: the refusals here are what is expected
    tab = context.new_page()
    refused: list[str] = []
    tab.on("console", lambda message: refused.append(message.text))
    try:
        _sign_in(tab, base, admin_login)
        tab.evaluate("""() => {
            document.body.insertAdjacentHTML('beforeend', '<img src="/nowhere.png" onerror="window.ran = 1">');
            const tag = document.createElement('script'); tag.textContent = 'window.ran = 2';
            document.body.appendChild(tag);
        }""")
        tab.wait_for_timeout(300)
        assert tab.evaluate("() => window.ran === undefined")
        assert sum("Content Security Policy" in text for text in refused) == 2, refused
    finally:
        context.close()


def test_another_site_cannot_frame_a_page_and_links_out_carry_no_address(
        browser: Any, server: Any, other_site: Any) -> None:
    base, _runtime = server
    other, state = other_site
    context = browser.new_context()
    tab = context.new_page()
    refused: list[str] = []
    tab.on("console", lambda message: refused.append(message.text))
    try:
        state["frame"]["url"] = f"{base}/login"
        tab.goto(f"{other}/frame")
        tab.wait_for_timeout(500)
        framed = tab.frame_locator("#framed")
        assert framed.locator("#email").count() == 0
        assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refused), refused
        # A link from one of our pages to another site: the other site learns nothing of ours.
        tab.goto(f"{base}/login")
        tab.evaluate(f"() => {{ const a = document.createElement('a'); a.href = '{other}/out'; a.id = 'out';"
                     " a.textContent = 'out'; document.body.appendChild(a); }")
        tab.click("#out")
        tab.wait_for_url(f"{other}/out")
        assert state["seen"]["/out"] == ""
    finally:
        context.close()


def test_the_login_page_works_under_its_policy_and_the_tab_has_an_icon(page: Any, server: Any,
                                                                       admin_login: Any) -> None:
    base, _runtime = server
    go(page, f"{base}/login")
    page.fill("#email", admin_login[0])
    page.fill("#password", admin_login[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")
    expect(page.locator("body")).to_contain_text("Dashboards")
    # The tab shows Tessera's icon, served from Tessera itself.
    icon = page.locator("link[rel=icon]").get_attribute("href")
    served = page.request.get(f"{base}{icon}")
    assert served.status == 200 and served.headers["content-type"].startswith("image/svg")
