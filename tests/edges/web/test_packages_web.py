"""The app templates pages over HTTP (no browser), on SQLite and PostgreSQL: the templates
page for admins only (linked from the builder's home), a bundled template's plan in words
and its install as a job with links to what it made; a plan gone stale refused with the new
plan; a damaged upload refused beside its input; an uploaded upgrade in three columns,
the review list, the customizations and their reset; export; the uninstall refusal in
words when another template needs it; never a Python repr in a page."""

from __future__ import annotations

import html
import io
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "packages" / "fixtures"
ADMIN = ("admin@example.com", "admin-password")
SYSTEM = Actor.system()


def zipped(folder: str) -> bytes:
    """A fixture template as the zip an admin would upload."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted((FIXTURES / folder).rglob("*.json")):
            archive.write(path, str(path.relative_to(FIXTURES / folder)))
    return out.getvalue()


@pytest.fixture
def rt(db_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A platform whose bundled templates are Acme 1.0.0 and Support 1.0.0."""
    bundled = tmp_path / "templates"
    for name in ("acme-1.0.0", "support-1.0.0"):
        shutil.copytree(FIXTURES / name, bundled / name)
    platform = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", templates_dir=bundled))
    platform.users.ensure_admin(*ADMIN)
    platform.users.accounts.add(SYSTEM, {"email": "builder@example.com", "name": "Bea Builder",
                                         "password": "builder-password", "roles": ["builder"]})
    yield platform
    platform.dispose()


@pytest.fixture
def site(rt: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(rt), base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
def admin(site: TestClient) -> SignedIn:
    return SignedIn(site, *ADMIN)


def text_of(page: Any) -> str:
    """The words of a page, without its markup."""
    inline = re.sub(r"</?(?:strong|em|a)\b[^>]*>", "", page.text)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))).replace(" ,", ",").replace(" :", ":")


def no_python(page: Any) -> None:
    words = text_of(page)
    for leak in ("ABSENT", "{'", "None", "True", "False", "[{'"):
        assert leak not in words, f"{leak!r} shown in the page"


def install_acme(admin: SignedIn, rt: Platform) -> None:
    plan = admin.get("/builder/apps/install?source=acme-1.0.0")
    digest = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    assert digest
    done = admin.post("/builder/apps/apply", data={"action": "install", "source": "acme-1.0.0",
                                                     "plan": digest.group(1), "sample_data": "1"})
    assert done.status_code == 204, done.text
    job = int(done.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert rt.jobs.wait(job)["status"] == "succeeded"


def test_admins_find_the_templates_install_one_from_its_plan_and_open_what_it_made(
        admin: SignedIn, site: TestClient, rt: Platform) -> None:
    assert 'href="/builder/apps">App templates</a>' in admin.get("/builder").text
    page = admin.get("/builder/apps")
    assert page.status_code == 200
    words = text_of(page)
    assert "No template is installed yet" in words
    assert "Acme sales version 1.0.0 Accounts and contacts. 2 objects · 4 sample records · by Acme" in words
    assert 'href="/builder/apps/install?source=acme-1.0.0">Install</a>' in page.text
    assert "Upload a template (.zip)" in words

    plan = admin.get("/builder/apps/install?source=acme-1.0.0")
    assert plan.status_code == 200
    words = text_of(plan)
    assert "Install Acme sales 1.0.0" in words
    assert "4 new" in words and "Object Account New" in words and "Form Account New" in words
    assert "New table for Account (account) with columns name, region, fax, revenue" in words
    assert "2 Account records (data/accounts.json)" in words and "2 Contact records" in words
    assert 'name="sample_data" value="1" checked' in plan.text
    no_python(plan)

    digest = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    assert digest
    done = admin.post("/builder/apps/apply", data={"action": "install", "source": "acme-1.0.0",
                                                     "plan": digest.group(1)})  # no sample records
    assert done.status_code == 204
    job = int(done.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert rt.jobs.wait(job)["status"] == "succeeded"
    finished = admin.get(f"/builder/apps/jobs/{job}")
    words = text_of(finished)
    assert "Done: Acme sales 1.0.0 is installed." in words and "4 documents created" in words
    assert 'href="/app/account"' in finished.text and 'href="/app?app=acme"' in finished.text
    assert "sample record" not in words and not rt.records.list(SYSTEM, "account")["data"]
    fragment = admin.get(f"/builder/apps/jobs/{job}/progress")
    assert "hx-trigger" not in fragment.text  # finished: the page stops asking

    listed = text_of(admin.get("/builder/apps"))
    assert "Acme sales version 1.0.0" in listed and "0 customizations" in listed
    assert "No conflicts to review" in listed and "Installed version 1.0.0" in listed


def test_only_admins_see_the_templates(site: TestClient, admin: SignedIn) -> None:
    builder = SignedIn(site, "builder@example.com", "builder-password")
    assert "App templates" not in builder.get("/builder").text
    refused = builder.get("/builder/apps")
    assert refused.status_code == 403 and "Only admins install, upgrade, export and uninstall app templates" in \
        text_of(refused)
    assert builder.get("/builder/apps/install?source=acme-1.0.0").status_code == 403


def test_a_plan_gone_stale_is_refused_with_the_new_plan(admin: SignedIn, rt: Platform) -> None:
    install_acme(admin, rt)
    upload = {"file": ("acme-1.1.0.zip", zipped("acme-1.1.0"), "application/zip")}
    plan = admin.post("/builder/apps/acme/upgrade", files=upload)
    assert plan.status_code == 200 and plan.headers["HX-Push-Url"] == "false"
    old = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    content = re.search(r'name="content" value="([^"]+)"', plan.text)
    assert old and content
    rt.metadata.update_field(SYSTEM, "account", "region", {"label": "Territory"})  # someone changes it meanwhile
    stale = admin.post("/builder/apps/apply", data={"action": "upgrade", "content": content.group(1),
                                                      "filename": "acme-1.1.0.zip", "plan": old.group(1)})
    assert stale.status_code == 409
    assert "The metadata changed since you looked at the plan" in text_of(stale)
    new = re.search(r'name="plan" value="([0-9a-f]+)"', stale.text)
    assert new and new.group(1) != old.group(1)
    applied = admin.post("/builder/apps/apply", data={"action": "upgrade", "content": content.group(1),
                                                        "filename": "acme-1.1.0.zip", "plan": new.group(1)})
    assert applied.status_code == 204
    assert rt.jobs.wait(int(applied.headers["HX-Redirect"].rsplit("/", 1)[1]))["status"] == "succeeded"
    kept = admin.post("/builder/apps/acme/review", data={"choice": "keep"})
    assert "1 conflict resolved: kept as yours." in text_of(kept) and "Nothing to review" in text_of(kept)
    assert rt.metadata.get_field("account", "region")["label"] == "Territory"


def test_a_damaged_or_wrong_upload_is_refused_beside_its_input(admin: SignedIn, rt: Platform) -> None:
    broken = admin.post("/builder/apps/install", files={"file": ("x.zip", b"not a zip", "application/zip")})
    assert broken.status_code == 422
    assert 'id="upload-problems" role="alert"' in broken.text
    assert "The file is not a zip archive of a package." in text_of(broken)
    install_acme(admin, rt)
    other = admin.post("/builder/apps/acme/upgrade",
                       files={"file": ("support.zip", zipped("support-1.0.0"), "application/zip")})
    assert other.status_code == 422 and 'id="upgrade-problems-acme"' in other.text
    assert "This zip holds the template Support (support), not Acme sales." in text_of(other)
    # A problem inside a package is shown at its file and place, in words.
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("manifest.json", '{"name": "bad", "version": "1.0.0", "title": "Bad"}')
        archive.writestr("objects/thing.json", '{"uid": "thing", "api_name": "thing", "label": "Thing", '
                                               '"fields": [{"api_name": "name", "label": "Name", "type": "text"}]}')
    refused = admin.post("/builder/apps/install", files={"file": ("bad.zip", bad.getvalue(), "application/zip")})
    assert refused.status_code == 422
    assert "objects/thing.json, field Name" in text_of(refused)


def test_an_uploaded_upgrade_shows_three_columns_then_the_review_list_and_customizations(
        admin: SignedIn, rt: Platform) -> None:
    install_acme(admin, rt)
    me = rt.users.actor_for_user(rt.users.id_for_email(ADMIN[0]) or 0)
    rt.metadata.update_field(me, "account", "region", {"label": "Territory"})
    rt.metadata.update_field(me, "account", "name", {"label": "Company"})
    listed = text_of(admin.get("/builder/apps"))
    assert "2 customizations" in listed

    # An upload of the newer version on the templates page becomes the upgrade's plan.
    plan = admin.post("/builder/apps/install", files={"file": ("acme-1.1.0.zip", zipped("acme-1.1.0"),
                                                               "application/zip")})
    words = text_of(plan)
    assert "Upgrade Acme sales 1.0.0 → 1.1.0" in words
    assert "Acme sales 1.0.0 is installed: this is the plan to upgrade it to 1.1.0." in words
    assert "Template before Template now Yours What happens" in words
    assert "Field Territory \u203a label Region Sales region Territory Yours stays; on the review list" in words
    assert "Field Industry — not there Industry api_name: industry, type: text — not there Added" in words
    assert "Field Territory \u203a option North — not there North value: north — not there Added" in words
    assert "Sections [Account (columns: [fields: [name, region, fax]])] " \
           "[Account (columns: [fields: [name, region, fax, industry]])]" in words
    assert "2 properties you changed were changed by the template too" in words
    assert "New column industry on Account (account)" in words
    assert "Sample records" not in words
    no_python(plan)
    digest = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    content = re.search(r'name="content" value="([^"]+)"', plan.text)
    assert digest and content
    done = admin.post("/builder/apps/apply", data={"action": "upgrade", "content": content.group(1),
                                                     "filename": "acme-1.1.0.zip", "plan": digest.group(1)})
    job = int(done.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert rt.jobs.wait(job)["status"] == "succeeded"
    finished = text_of(admin.get(f"/builder/apps/jobs/{job}"))
    assert "Done: Acme sales 1.1.0 is upgraded." in finished and "2 conflicts to review" in finished

    review = admin.get("/builder/apps/acme/review")
    words = text_of(review)
    assert "Account \u203a field Territory \u203a label" in words and "Region Sales region Territory" in words
    assert "You and the template both changed it: yours stays." in words
    no_python(review)
    conflicts = rt.packages.conflicts(me, "acme")
    region = next(c for c in conflicts if c["yours"] == "Territory")
    taken = admin.post(f"/builder/apps/acme/review/{region['id']}", data={"choice": "take"})
    assert taken.status_code == 200 and taken.headers["HX-Push-Url"] == "/builder/apps/acme/review"
    words = text_of(taken)
    assert "Account \u203a field Territory \u203a label: the template's value is taken." in words
    assert "Resolved" in words and "Template's value taken" in words
    assert rt.metadata.get_field("account", "region")["label"] == "Sales region"
    again = admin.post(f"/builder/apps/acme/review/{region['id']}", data={"choice": "keep"})  # an older tab
    assert again.status_code == 409 and "That conflict was resolved already" in text_of(again)
    assert rt.packages.conflicts(me, "acme", status="taken")[0]["id"] == region["id"]

    layer = admin.get("/builder/apps/acme/customizations")
    words = text_of(layer)
    assert "Object Account" in words and "Account \u203a field Company \u203a label Account name Company" in words
    assert "by " in words
    no_python(layer)
    path = re.search(r'name="label" value="Account \u203a field Company \u203a label"><input type="hidden" name="path" '
                     r'value="([^"]+)"', layer.text)
    assert path
    reset = admin.post("/builder/apps/acme/customizations/reset",
                       data={"kind": "objects", "api_name": "account",
                             "label": "Account \u203a field Company \u203a label",
                             "path": html.unescape(path.group(1))})
    assert reset.status_code == 200
    assert "Account \u203a field Company \u203a label is back to the template's value." in text_of(reset)
    assert rt.metadata.get_field("account", "name")["label"] == "Account name"
    # Reset to the template's value, its conflict is no longer the admin's to review.
    words = text_of(admin.get("/builder/apps/acme/review"))
    assert "Nothing to review" in words and words.count("Template's value taken") == 2

    refused = admin.post("/builder/apps/acme/customizations/reset",
                         data={"kind": "objects", "api_name": "account", "path": "not a path"})
    assert refused.status_code == 422  # never taken for the whole document
    assert "The property to reset was not understood" in text_of(refused)


def test_export_and_the_uninstall_refusal_in_words(admin: SignedIn, rt: Platform) -> None:
    install_acme(admin, rt)
    whole = admin.get("/builder/apps/acme/export")
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/zip"
    assert 'filename="acme-1.0.0.zip"' in whole.headers["content-disposition"]
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
    layer = admin.get("/builder/apps/acme/export?layer_only=1")
    assert 'filename="acme-1.0.0-layer.zip"' in layer.headers["content-disposition"]

    plan = admin.get("/builder/apps/install?source=support-1.0.0")
    digest = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    assert digest and "Fields on another object" in text_of(plan)
    done = admin.post("/builder/apps/apply", data={"action": "install", "source": "support-1.0.0",
                                                     "plan": digest.group(1)})
    assert rt.jobs.wait(int(done.headers["HX-Redirect"].rsplit("/", 1)[1]))["status"] == "succeeded"

    asked = text_of(admin.get("/builder/apps/acme/uninstall"))
    assert ("Acme sales cannot be uninstalled while Support needs it: it depends on it or adds fields to its "
            "objects. Uninstall Support first.") in asked
    assert admin.post("/builder/apps/acme/uninstall").status_code == 409

    confirm = text_of(admin.get("/builder/apps/support/uninstall"))
    assert "Uninstall Support?" in confirm and "Object: Ticket" in confirm
    gone = admin.post("/builder/apps/support/uninstall")
    job = int(gone.headers["HX-Redirect"].rsplit("/", 1)[1])
    assert rt.jobs.wait(job)["status"] == "succeeded"
    assert "Uninstalled:" in text_of(admin.get(f"/builder/apps/jobs/{job}"))
    assert "Support version" not in text_of(admin.get("/builder/apps")).split("Available")[0]


def test_several_bundled_versions_make_one_card_and_the_newer_ones_upgrades(db_url: str, tmp_path: Path) -> None:
    bundled = tmp_path / "templates"
    for name in ("acme-1.0.0", "acme-1.1.0", "acme-1.2.0", "support-1.0.0"):
        shutil.copytree(FIXTURES / name, bundled / name)
    (bundled / "broken").mkdir()
    (bundled / "broken" / "manifest.json").write_text('{"name": "broken", "version": "one"')
    rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", templates_dir=bundled))
    rt.users.ensure_admin(*ADMIN)
    try:
        with TestClient(create_app(rt), base_url="http://127.0.0.1") as site:
            admin = SignedIn(site, *ADMIN)
            page = admin.get("/builder/apps")
            words = text_of(page)
            assert words.count("Acme sales version") == 1 and "Acme sales version 1.2.0" in words
            assert "Other versions 1.1.0 · Install 1.1.0 1.0.0 · Install 1.0.0" in words
            assert "This template cannot be read: manifest.json: is not valid JSON" in words
            no_python(page)

            # Support alone: its fields for Acme's account wait for Acme.
            plan = text_of(admin.get("/builder/apps/install?source=support-1.0.0"))
            assert "Fields on another object fields for acme account Waits for another template" in plan
            assert "waits for acme: applied when it is installed" in plan

            install_acme_from(admin, rt, "acme-1.0.0")
            redirected = admin.client.get("/builder/apps/install?source=acme-1.2.0", follow_redirects=False)
            assert redirected.status_code == 303
            assert redirected.headers["location"] == "/builder/apps/acme/upgrade?source=acme-1.2.0"
            listed = admin.get("/builder/apps")
            assert 'href="/builder/apps/acme/upgrade?source=acme-1.2.0">Upgrade to 1.2.0</a>' in listed.text
            assert 'href="/builder/apps/acme/upgrade?source=acme-1.1.0">Upgrade to 1.1.0</a>' in listed.text
            assert "Or upload the new version (.zip)" in listed.text
            upgrade = text_of(admin.get("/builder/apps/acme/upgrade?source=acme-1.2.0"))
            assert "Upgrade Acme sales 1.0.0 \u2192 1.2.0" in upgrade
            assert "Field Fax Fax api_name: fax, type: text — not there Fax api_name: fax, type: text " \
                   "No longer in the template: kept, hidden and read-only, with its data" in upgrade
            assert admin.get("/builder/apps/acme/upgrade?source=support-1.0.0").status_code == 404

            # The version installed again: nothing to do, and the button says so.
            same = admin.get("/builder/apps/acme/upgrade?source=acme-1.0.0")
            assert "Nothing to do: everything is already as this version has it." in text_of(same)
            assert re.search(r'<button type="submit" class="primary" disabled>Upgrade</button>', same.text)
    finally:
        rt.dispose()


def install_acme_from(admin: SignedIn, rt: Platform, source: str) -> None:
    plan = admin.get(f"/builder/apps/install?source={source}")
    digest = re.search(r'name="plan" value="([0-9a-f]+)"', plan.text)
    assert digest
    done = admin.post("/builder/apps/apply", data={"action": "install", "source": source, "plan": digest.group(1)})
    assert rt.jobs.wait(int(done.headers["HX-Redirect"].rsplit("/", 1)[1]))["status"] == "succeeded"
