"""Browser tests: Tessera served by uvicorn on a free local port, driven by Playwright in
Debian's Chromium (/usr/bin/chromium, headless, never a downloaded browser). Screenshots of
the pages visited are kept in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tessera.data.engine import make_engine
from tessera.data.migrate import upgrade
from tessera.runtime.platform import Platform
from tessera.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ADMIN = ("admin@example.com", "admin-password")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(tmp_path: Path, **settings: Any) -> Iterator[tuple[str, Platform]]:
    """A running Tessera on SQLite with an admin (`settings`: more Settings fields); yields
    (base URL, runtime)."""
    import uvicorn

    from tessera.app import create_app

    url = f"sqlite:///{tmp_path / 'tessera.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    runtime = Platform(Settings(database_url=url, attachments_dir=tmp_path / "files", **settings))
    runtime.users.ensure_admin(*ADMIN)
    port = _free_port()
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", runtime
    finally:
        web.should_exit = True
        thread.join(10)
        runtime.dispose()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Platform]]:
    """A running Tessera on SQLite with an admin; yields (base URL, runtime)."""
    with serving(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI and is missing at {CHROMIUM}")
        pytest.skip(f"Chromium not installed at {CHROMIUM} (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    zone = request.node.get_closest_marker("browser_time_zone")
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  timezone_id=zone.args[0] if zone else None)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    # Every page of every browser test works under the Content-Security-Policy: a script,
    # style or handler it refuses is a failure of the test that met it.
    refused: list[str] = []
    tab.on("console", lambda message: refused.append(message.text)
           if "Content Security Policy" in message.text else None)
    yield tab
    context.close()
    assert not refused, f"the page broke its Content-Security-Policy: {refused}"


@pytest.fixture
def shot() -> Any:
    """`shot(page, name)` keeps a screenshot of the page as a test artifact, once the parts
    it loads after it is shown (data-loading placeholders) have come."""

    def take(page: Any, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # A part the page fetches once it is shown (a record's "Loading approvals and
        # automation…", marked data-loading) is pictured loaded, never half-way.
        page.wait_for_function("() => !document.querySelector('[data-loading]')")
        # The top bar sticks to the top of the window: a page captured scrolled would show it
        # in the middle of the picture.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return take


def go(page: Any, url: str) -> None:
    """Open a page once whatever the last click started has settled (an htmx request or a
    redirect still under way would otherwise abort the navigation)."""
    page.wait_for_load_state("networkidle")
    try:
        page.goto(url)
    except Exception as error:
        if "ERR_ABORTED" not in str(error):
            raise
        page.wait_for_load_state("networkidle")
        page.goto(url)


@pytest.fixture
def admin_login() -> tuple[str, str]:
    return ADMIN
