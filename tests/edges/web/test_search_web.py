"""Searching through the pages (#21), on SQLite and PostgreSQL: the /search page groups
and counts what it finds by object with the words marked and record text escaped; the top
bar's dropdown fragment; a hidden field's words never reach a role that hides it; a list's
full-text box narrows it and stays in its links; the builder's field page makes a field
searchable (an index job, said on the page) and shows problems beside the inputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.data.tables import search_indexes

ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Account name", "type": "text", "required": True, "searchable": True},
    {"api_name": "city", "label": "City", "type": "text"}]}
TICKET = {"api_name": "ticket", "label": "Ticket", "name_field": "subject", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True, "searchable": True},
    {"api_name": "description", "label": "Description", "type": "long_text", "searchable": True},
    {"api_name": "internal_note", "label": "Internal note", "type": "long_text", "searchable": True}]}
#: An object without searchable fields: no full-text box on its list.
VISIT = {"api_name": "visit", "label": "Visit", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}


@pytest.fixture
def site(runtime: Any) -> Any:
    system = Actor.system()
    for doc in (ACCOUNT, TICKET, VISIT):
        runtime.metadata.create_object(system, doc)
    runtime.users.roles.create(system, {"api_name": "agent", "label": "Agent", "permissions": {
        "account": {"read": "all"},
        "ticket": {"read": "all", "fields": {"internal_note": "hidden"}}}}, runtime.snapshot)
    runtime.users.accounts.add(system, {"email": "agent@example.com", "name": "Agent",
                                        "password": "agent-password", "roles": ["agent"]})
    runtime.records.create(system, "account", {"name": "Acme Corporation", "city": "Rotterdam"})
    runtime.records.create(system, "account", {"name": "Globex", "city": "Acmeville"})
    runtime.records.create(system, "account", {"name": "Initech <script>alert(1)</script>", "city": "Austin"})
    runtime.records.create(system, "ticket", {"subject": "Acme printer jammed",
                                              "description": "The printer on the third floor of Acme jams",
                                              "internal_note": "customer owes a refund"})
    runtime.records.create(system, "ticket", {"subject": "Password reset",
                                              "description": "Cannot sign in after the holidays",
                                              "internal_note": "acme escalation"})
    runtime.records.create(system, "visit", {"name": "Acme visit"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def _main(html: str) -> str:
    found = re.search(r"<main>(.*)</main>", html, re.S)
    assert found, html[:500]
    return found.group(1)


def _links(html: str) -> list[str]:
    """The record links of a results page or dropdown, with their text (tags removed)."""
    return [re.sub(r"<[^>]+>", "", text).strip()
            for text in re.findall(r'<a[^>]*href="/app/[a-z_]+/\d+"[^>]*>(.*?)</a>', html, re.S)]


def test_the_search_page_groups_results_by_object_with_counts_and_marks(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    page = admin.get("/search", params={"q": "acme"})
    assert page.status_code == 200
    main = _main(page.text)
    # One group per object, in the order of their best record, each counted.
    assert re.search(r'<h2 id="results-account">Accounts <span class="search-count">1</span></h2>', main)
    assert re.search(r'<h2 id="results-ticket">Tickets <span class="search-count">2</span></h2>', main)
    assert "Acme Corporation" in _links(main) and "Acme printer jammed" in _links(main)
    # The words found are marked; the title links to the record.
    assert "<mark>Acme</mark>" in main
    assert re.search(r'href="/app/account/\d+"><mark>Acme</mark> Corporation</a>', main)
    # The filter offers every object that can be searched, with what was found in each.
    filters = re.search(r'<nav class="search-objects".*?</nav>', main, re.S)
    assert filters and "All objects" in filters.group(0) and "Visits" not in filters.group(0)
    assert re.search(r'object=ticket">Tickets <span class="search-count">2</span>', filters.group(0))


def test_record_text_is_shown_as_text_never_run(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    main = _main(admin.get("/search", params={"q": "initech"}).text)
    assert "<script>alert(1)</script>" not in main
    assert "<mark>Initech</mark> &lt;script&gt;alert(1)&lt;/script&gt;" in main
    dropdown = admin.get("/search/suggest", params={"q": "script"}, headers={"HX-Request": "true"}).text
    assert "<script>" not in dropdown and "&lt;<mark>script</mark>&gt;" in dropdown


def test_the_object_filter_narrows_and_unknown_objects_are_a_message(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    main = _main(admin.get("/search", params={"q": "acme", "object": "ticket"}).text)
    assert _links(main) == ["Acme printer jammed", "Password reset"]
    assert "results-account" not in main and 'aria-current="page">Tickets' in main
    refused = admin.get("/search", params={"q": "acme", "object": "nonsense"})
    assert refused.status_code == 200
    assert 'role="alert">Unknown objects: nonsense.' in refused.text


def test_nothing_found_says_so_with_a_hint_and_a_misspelling_is_corrected(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    main = _main(admin.get("/search", params={"q": "zanzibar"}).text)
    assert "No results for zanzibar." in main and "Check the spelling" in main
    corrected = _main(admin.get("/search", params={"q": "corporatoin"}).text)
    assert "Showing results for <strong>corporation</strong>" in corrected
    assert _links(corrected) == ["Acme Corporation"]
    # A word not finished is taken as the start of one.
    started = _main(admin.get("/search", params={"q": "glo"}).text)
    assert _links(started) == ["Globex"] and "words starting with <strong>glo</strong>" in started
    dropdown = admin.get("/search/suggest", params={"q": "corporatoin"}).text
    assert "Showing results for <strong>corporation</strong>" in dropdown and "Acme Corporation" in _links(dropdown)
    # Hostile text is searched as words, never a server error.
    for text in ('"', "-", "*", "AND OR NOT (", "a" * 3000, "'; DROP TABLE account; --"):
        assert admin.get("/search", params={"q": text}).status_code == 200


def test_the_dropdown_shows_up_to_five_per_object_and_links_to_all_results(site: TestClient, runtime: Any) -> None:
    for i in range(7):
        runtime.records.create(Actor.system(), "account", {"name": f"Acme branch {i}"})
    admin = SignedIn(site, "admin@example.com", "admin-password")
    answer = admin.get("/search/suggest", params={"q": "acm"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "<html" not in answer.text
    groups = re.findall(r'<p class="search-group-label" id="search-group-(\w+)">([^<]+)</p>', answer.text)
    assert dict(groups) == {"account": "Accounts", "ticket": "Tickets"}
    account_group = re.search(r'aria-labelledby="search-group-account".*?</div>', answer.text, re.S)
    assert account_group and len(re.findall(r'role="option"', account_group.group(0))) == 5
    assert 'href="/search?q=acm">See all results for <strong>acm</strong>' in answer.text
    assert admin.get("/search/suggest", params={"q": "  "}).text.strip() == ""
    nothing = admin.get("/search/suggest", params={"q": "zanzibar"}).text
    assert "No results for <strong>zanzibar</strong>" in nothing


def test_every_signed_in_page_has_the_search_box(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    for path in ("/app", "/app/account", "/builder", "/builder/objects/account"):
        html = admin.get(path).text
        assert 'id="top-search"' in html and 'placeholder="Search"' in html, path
        assert 'hx-get="/search/suggest"' in html and 'action="/search"' in html
    site.cookies.clear()
    signed_out = site.get("/search", params={"q": "x"}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login?next=/search"


def test_a_hidden_field_is_never_shown_to_a_role_that_hides_it(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    assert "Acme printer jammed" in _links(_main(admin.get("/search", params={"q": "refund"}).text))
    site.cookies.clear()
    agent = SignedIn(site, "agent@example.com", "agent-password")
    # Words only in the hidden note find nothing, in the page and the dropdown alike …
    assert "No results for refund." in _main(agent.get("/search", params={"q": "refund"}).text)
    assert "No results for" in agent.get("/search/suggest", params={"q": "refund"}).text
    # … and a record found by other words never shows the note's text.
    main = _main(agent.get("/search", params={"q": "acme"}).text)
    assert "Password reset" not in _links(main)  # "acme" is only in its hidden note
    assert "refund" not in main and "escalation" not in main
    assert "refund" not in agent.get("/search/suggest", params={"q": "acme"}).text
    # The list's box searches only the fields the agent sees, too.
    rows = agent.get("/app/ticket", params={"search": "escalation"}).text
    assert "Password reset" not in rows


def test_the_list_box_narrows_the_list_and_stays_in_its_links(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    page = admin.get("/app/account", params={"search": "acme", "sort": "name"})
    assert page.status_code == 200
    assert re.search(r'<input type="search" name="search" value="acme"', page.text)
    rows = re.search(r'<tbody id="rows">(.*?)</tbody>', page.text, re.S)
    assert rows and _links(rows.group(1)) == ["Acme Corporation"]
    assert "Showing accounts holding <strong>acme</strong>" in page.text
    # Sorting, the board and the export keep the words.
    assert re.search(r'href="\?search=acme&amp;[^"]*sort=-name"', page.text)
    assert 'href="/app/account/board?search=acme&amp;sort=name"' in page.text
    export = admin.get("/app/account/export.csv", params={"search": "acme"}).text.splitlines()
    assert len(export) == 2 and "Acme Corporation" in export[1]
    # Paging: the next page of a narrowed list is narrowed too.
    first = admin.get("/app/ticket", params={"search": "acme", "limit": "1"}).text
    more = re.search(r'hx-get="(/app/ticket\?[^"]*cursor=[^"]+)"', first)
    assert more and "search=acme" in more.group(1)
    # Blank words do not narrow; an object without searchable fields has no box, and words
    # in the address are a message over the whole list, never an error page.
    assert len(_links(admin.get("/app/account", params={"search": "  "}).text)) == 3
    visits = admin.get("/app/visit", params={"search": "acme"})
    assert visits.status_code == 200 and 'name="search"' not in visits.text
    assert "no field of Visit is searchable" in visits.text and "Acme visit" in visits.text


def test_the_field_page_makes_a_field_searchable_and_says_the_index_is_rebuilt(site: TestClient,
                                                                               runtime: Any) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    page = admin.get("/builder/objects/account/fields/city").text
    assert "Searchable (found by the search box)" in page and 'name="search_weight"' in page
    assert re.search(r'<option value="normal" selected>Normal</option>', page)
    # The name field counts high unless the builder says otherwise.
    named = admin.get("/builder/objects/account/fields/name").text
    assert re.search(r'<input type="checkbox" name="searchable" value="1" x-model="on" checked>', named)
    assert re.search(r'<option value="high" selected>High</option>', named)
    # Nothing is offered for a type the search box cannot read.
    runtime.metadata.add_field(Actor.system(), "account", {"api_name": "size", "label": "Size", "type": "integer"})
    assert "Searchable" not in admin.get("/builder/objects/account/fields/size").text
    assert admin.get("/search", params={"q": "rotterdam"}).text.count("No results for rotterdam") == 1

    saved = admin.post("/builder/objects/account/fields/city", data={
        "label": "City", "api_name": "city", "search_shown": "1", "searchable": "1", "search_weight": "low"})
    assert saved.status_code == 204
    target = saved.headers["HX-Redirect"]
    assert re.fullmatch(r"/builder/objects/account/fields/city\?index_job=\d+", target)
    field = runtime.metadata.get_field("account", "city")
    assert field["searchable"] is True and field["search_weight"] == "low"
    shown = admin.get(target).text
    assert ("The search index is being rebuilt" in shown) or ("The search index is rebuilt" in shown)
    runtime.jobs.wait(int(target.rsplit("=", 1)[1]), timeout=60)
    assert "Saved. The search index is rebuilt and up to date." in admin.get(target).text
    assert _links(_main(admin.get("/search", params={"q": "rotterdam"}).text)) == ["Acme Corporation"]
    assert 'title="Found by the search box">searchable' in admin.get("/builder/objects/account").text

    # Unticked: both properties go, and the page still opens without a rebuild note.
    off = admin.post("/builder/objects/account/fields/city", data={
        "label": "City", "api_name": "city", "search_shown": "1"})
    assert off.status_code == 204
    field = runtime.metadata.get_field("account", "city")
    assert "searchable" not in field and "search_weight" not in field
    # A weight the select does not offer is refused beside it, what was typed kept.
    refused = admin.post("/builder/objects/account/fields/city", data={
        "label": "City", "api_name": "city", "search_shown": "1", "searchable": "1", "search_weight": "huge"})
    assert refused.status_code == 422
    beside = re.search(r'<select id="search_weight".*?</select>\s*<p class="field-error">([^<]+)</p>',
                       refused.text, re.S)
    assert beside and "huge" in beside.group(1)
    assert re.search(r'name="searchable" value="1" x-model="on" checked', refused.text)
    assert "searchable" not in runtime.metadata.get_field("account", "city")
    # A field saved without the search box on its page (another property) keeps its search settings.
    runtime.metadata.update_field(Actor.system(), "account", "name", {"search_weight": "low"})
    admin.post("/builder/objects/account/fields/name", data={"label": "Account name", "api_name": "name",
                                                              "required": "1"})
    assert runtime.metadata.get_field("account", "name")["search_weight"] == "low"


def test_an_object_whose_index_is_being_built_is_named(site: TestClient, runtime: Any) -> None:
    with runtime.write() as conn:
        uid = runtime.snapshot(conn).object("ticket").uid
        conn.execute(sa.update(search_indexes).where(search_indexes.c.object_uid == uid).values(ready=False))
    admin = SignedIn(site, "admin@example.com", "admin-password")
    main = _main(admin.get("/search", params={"q": "acme"}).text)
    assert "Still being indexed: Tickets. Some of their records may not be found yet" in main
    assert "Still being indexed: Tickets." in admin.get("/search/suggest", params={"q": "acme"}).text


def test_a_saved_view_keeps_the_words_of_the_search_box(site: TestClient) -> None:
    admin = SignedIn(site, "admin@example.com", "admin-password")
    page = admin.get("/app/account", params={"search": "acme", "sort": "name"}).text
    assert re.search(r'<input type="hidden" name="search" value="acme">', page)  # the Save view form carries them
    saved = admin.post("/app/account/views", data={"name": "Acme accounts", "sort": "name", "search": "acme",
                                                   "columns": "", "formula": ""})
    assert saved.status_code == 204
    view = saved.headers["HX-Redirect"]
    listed = admin.get(view).text
    rows = re.search(r'<tbody id="rows">(.*?)</tbody>', listed, re.S)
    assert rows and _links(rows.group(1)) == ["Acme Corporation"]
    assert re.search(r'<input type="search" name="search" value="acme"', listed)
    # Words typed over the view win, as a sort clicked does.
    other = admin.get(view + "&search=globex").text
    rows = re.search(r'<tbody id="rows">(.*?)</tbody>', other, re.S)
    assert rows and _links(rows.group(1)) == ["Globex"]
