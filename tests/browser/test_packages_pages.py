"""An admin installs, customizes and upgrades an app template in the browser, as a person
does: from the builder's home to *App templates*, *Install* on the Acme card, the plan read,
*Install*, the progress to its end and what it made; two labels changed on the builder's
field pages; the new version uploaded as a zip, its plan in three columns (template before,
template now, yours), *Upgrade*, then on the review list *Take template's* for one of them,
and on the customizations page *Reset to template* for the other. The pages are looked at
at phone width too (390 px), where nothing may stick out sideways.

The server's bundled templates are the fixtures Acme 1.0.0 and Support 1.0.0
(`tests/packages/fixtures`)."""

from __future__ import annotations

import io
import re
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tessera.packages.service import JOB_KIND
from tessera.runtime.platform import Platform

from .conftest import ADMIN, go, serving
from .test_list_views import _sign_in

FIXTURES = Path(__file__).resolve().parents[1] / "packages" / "fixtures"
PHONE = {"width": 390, "height": 844}


def zipped(folder: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted((FIXTURES / folder).rglob("*.json")):
            archive.write(path, str(path.relative_to(FIXTURES / folder)))
    return out.getvalue()


@pytest.fixture
def templates_server(tmp_path: Path) -> Iterator[tuple[str, Platform]]:
    """Tessera on SQLite with an admin, whose bundled templates are Acme 1.0.0 and Support 1.0.0."""
    bundled = tmp_path / "templates"
    for name in ("acme-1.0.0", "support-1.0.0"):
        shutil.copytree(FIXTURES / name, bundled / name)
    with serving(tmp_path, templates_dir=bundled) as running:
        yield running


def _relabel(page: Any, base: str, field: str, label: str) -> None:
    """Change a field's label on its builder page, as a builder would."""
    go(page, f"{base}/builder/objects/account")
    page.locator("table").get_by_role("link", name=field, exact=True).click()
    page.wait_for_url(re.compile(r".*/builder/objects/account/fields/\w+$"))
    page.get_by_label("Label", exact=True).fill(label)
    page.get_by_role("button", name="Save field").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(label)


def _fits(page: Any) -> None:
    """Nothing sticks out sideways: the page is no wider than the phone."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def test_an_admin_installs_customizes_upgrades_and_reviews_a_template(page: Any, templates_server: Any,
                                                                     shot: Any) -> None:
    base, runtime = templates_server
    _sign_in(page, base, ADMIN)

    # From the builder's home to the templates page.
    go(page, f"{base}/builder")
    page.get_by_role("navigation", name="Build").get_by_role("link", name="App templates").click()
    page.wait_for_url(f"{base}/builder/apps")
    expect(page.get_by_role("heading", name="App templates", level=1)).to_be_visible()
    acme = page.get_by_role("article", name="Acme sales")
    expect(acme).to_contain_text("Accounts and contacts.")
    expect(acme).to_contain_text("2 objects · 4 sample records")
    expect(page.get_by_role("article", name="Upload a template (.zip)")).to_be_visible()
    shot(page, "templates-available")

    # The plan first.
    acme.get_by_role("link", name="Install").click()
    page.wait_for_url(f"{base}/builder/apps/install?source=acme-1.0.0")
    expect(page.get_by_role("heading", level=1)).to_have_text("Install Acme sales 1.0.0")
    documents = page.get_by_role("table", name="Documents of the template")
    expect(documents.get_by_role("row", name=re.compile(r"Object\s+Account\s+New"))).to_be_visible()
    expect(documents.get_by_role("row", name=re.compile(r"Object\s+Contact\s+New"))).to_be_visible()
    expect(page.get_by_text("New table for Account (account) with columns name, region, fax, revenue")).to_be_visible()
    expect(page.get_by_text("2 Account records")).to_be_visible()
    sample = page.get_by_label("Add sample records")
    expect(sample).to_be_checked()
    shot(page, "templates-install-plan")

    # Install: the progress bar while the job runs (held at its start here, so that the
    # page is seen asking again), then what was made, with links.
    gate = threading.Event()
    work = runtime.jobs._work[JOB_KIND]

    def held(ctx: Any) -> Any:
        ctx.progress(1, 4, "checking the package", force=True)
        gate.wait(30)
        return work(ctx)

    runtime.jobs._work.register(JOB_KIND, held, replace=True)
    page.get_by_role("button", name="Install", exact=True).click()
    page.wait_for_url(re.compile(r".*/builder/apps/jobs/\d+$"))
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Checking the template…")
    expect(progress.get_by_role("progressbar")).to_have_attribute("value", "25")
    expect(progress).to_contain_text("25\u202f%")  # percentages' house style
    shot(page, "templates-install-progress")
    gate.set()
    expect(progress).to_contain_text("Done: Acme sales 1.0.0 is installed.", timeout=30_000)
    runtime.jobs._work.register(JOB_KIND, work, replace=True)
    expect(progress.get_by_role("progressbar")).to_have_attribute("value", "100")
    expect(progress).to_contain_text("4 sample records added")
    shot(page, "templates-installed")
    progress.get_by_role("link", name="Accounts", exact=True).click()
    page.wait_for_url(f"{base}/app/account")
    expect(page.locator("table.records")).to_contain_text("Northwind")

    go(page, f"{base}/builder/apps")
    installed = page.get_by_role("article", name="Acme sales").first
    expect(installed).to_contain_text("version 1.0.0")
    expect(installed).to_contain_text("0 customizations")
    expect(page.get_by_role("article", name="Acme sales").last).to_contain_text("Installed version 1.0.0")

    # Two customizations on the builder's pages.
    _relabel(page, base, "Region", "Territory")
    _relabel(page, base, "Name", "Company")
    go(page, f"{base}/builder/apps")
    installed = page.locator("#installed-acme")
    expect(installed).to_contain_text("2 customizations")
    shot(page, "templates-installed-list")

    # The new version uploaded as a zip: its plan in three columns.
    installed.get_by_label("Upload the new version (.zip)").set_input_files(
        {"name": "acme-1.1.0.zip", "mimeType": "application/zip", "buffer": zipped("acme-1.1.0")})
    installed.get_by_role("button", name="Check the upgrade").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upgrade Acme sales 1.0.0 → 1.1.0")
    changes = page.get_by_role("table", name="Object Account")
    for column in ("Template before", "Template now", "Yours"):
        expect(changes.get_by_role("columnheader", name=column)).to_be_visible()
    territory = changes.get_by_role("row", name=re.compile("Field Territory \u203a label"))
    expect(territory.get_by_role("cell")).to_have_text(["Region", "Sales region", "Territory",
                                                        "Yours stays; on the review list"])
    expect(changes.get_by_role("row", name=re.compile("Field Industry"))).to_contain_text("Added")
    expect(page.get_by_text("2 properties you changed were changed by the template too")).to_be_visible()
    shot(page, "templates-upgrade-plan")

    page.get_by_role("button", name="Upgrade", exact=True).click()
    page.wait_for_url(re.compile(r".*/builder/apps/jobs/\d+$"))
    expect(page.locator("#job-progress")).to_contain_text("Done: Acme sales 1.1.0 is upgraded.", timeout=30_000)
    page.get_by_role("link", name="2 conflicts to review").click()
    page.wait_for_url(f"{base}/builder/apps/acme/review")

    # The review list: take the template's value for one.
    review = page.get_by_role("table", name="Conflicts to review")
    row = review.get_by_role("row", name=re.compile("field Territory \u203a label"))
    expect(row.get_by_role("cell").nth(0)).to_have_text("Region")
    expect(row.get_by_role("cell").nth(1)).to_have_text("Sales region")
    expect(row.get_by_role("cell").nth(2)).to_have_text("Territory")
    shot(page, "templates-review")
    row.get_by_role("button", name="Take template's").click()
    expect(page.get_by_role("status")).to_have_text(
        "Account \u203a field Territory \u203a label: the template's value is taken.")
    expect(review.get_by_role("row", name=re.compile("Territory"))).to_have_count(0)
    resolved = page.get_by_role("table", name="Resolved conflicts")
    expect(resolved.get_by_role("row", name=re.compile("Territory"))).to_contain_text("Template's value taken")
    expect(page.get_by_text("1 to review")).to_be_visible()

    # Customizations: reset the other property to the template's value.
    page.get_by_role("link", name="Customizations").click()
    page.wait_for_url(f"{base}/builder/apps/acme/customizations")
    layer = page.get_by_role("table", name="Changes to Object Account")
    company = layer.get_by_role("row", name=re.compile("field Company \u203a label"))
    expect(company.get_by_role("cell").nth(0)).to_have_text("Account name")
    expect(company.get_by_role("cell").nth(1)).to_have_text("Company")
    expect(company.get_by_role("cell").nth(2)).to_contain_text("by Admin")
    shot(page, "templates-customizations")
    company.get_by_role("button", name="Reset to template").click()
    expect(page.get_by_role("status")).to_have_text(
        "Account \u203a field Company \u203a label is back to the template's value.")
    # Its conflict went with it: the review list is empty.
    expect(page.get_by_role("link", name="Review list", exact=True)).to_be_visible()
    go(page, f"{base}/builder/objects/account")
    expect(page.locator("table").get_by_role("link", name="Account name", exact=True)).to_be_visible()

    # At phone width.
    page.set_viewport_size(PHONE)
    for path, name in (("/builder/apps", "templates-phone"), ("/builder/apps/acme/review", "templates-review-phone"),
                       ("/builder/apps/acme/customizations", "templates-customizations-phone")):
        go(page, base + path)
        _fits(page)
        shot(page, name)
    go(page, f"{base}/builder/apps")
    page.locator("#installed-acme").get_by_label("Upload the new version (.zip)").set_input_files(
        {"name": "acme-1.2.0.zip", "mimeType": "application/zip", "buffer": zipped("acme-1.2.0")})
    page.locator("#installed-acme").get_by_role("button", name="Check the upgrade").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upgrade Acme sales 1.1.0 → 1.2.0")
    _fits(page)
    shot(page, "templates-upgrade-plan-phone")


def test_a_broken_upload_and_an_uninstall_another_template_needs_are_refused_in_words(
        page: Any, templates_server: Any, shot: Any) -> None:
    base, _ = templates_server
    _sign_in(page, base, ADMIN)
    go(page, f"{base}/builder/apps")
    upload = page.get_by_role("article", name="Upload a template (.zip)")
    upload.get_by_label("Template file (.zip)").set_input_files(
        {"name": "notes.zip", "mimeType": "application/zip", "buffer": b"these are notes, not a zip"})
    upload.get_by_role("button", name="Check the template").click()
    expect(page.get_by_role("alert")).to_contain_text("The file is not a zip archive of a package.")
    expect(page.get_by_label("Template file (.zip)")).to_have_attribute("aria-invalid", "true")

    for card in ("Acme sales", "Support"):
        go(page, f"{base}/builder/apps")
        page.get_by_role("article", name=card).get_by_role("link", name="Install").click()
        page.get_by_role("button", name="Install", exact=True).click()
        expect(page.locator("#job-progress")).to_contain_text("Done:", timeout=30_000)
    go(page, f"{base}/builder/apps")
    page.locator("#installed-acme").get_by_role("link", name="Uninstall…").click()
    page.wait_for_url(f"{base}/builder/apps/acme/uninstall")
    expect(page.get_by_role("alert")).to_have_text(re.compile(
        r"Acme sales cannot be uninstalled while Support needs it: it depends on it or adds fields to its objects\. "
        r"Uninstall Support first\."))
    expect(page.get_by_role("button", name=re.compile("Uninstall"))).to_have_count(0)
    shot(page, "templates-uninstall-refused")

    go(page, f"{base}/builder/apps/support/uninstall")
    expect(page.get_by_text("Object: Ticket")).to_be_visible()
    page.get_by_role("button", name="Uninstall Support").click()
    expect(page.locator("#job-progress")).to_contain_text("Uninstalled:", timeout=30_000)
    page.get_by_role("link", name="Back to the templates").click()
    page.wait_for_url(f"{base}/builder/apps")
    expect(page.locator("#installed-support")).to_have_count(0)
    expect(page.get_by_role("article", name="Support")).to_contain_text("Install")
