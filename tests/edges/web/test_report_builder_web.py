"""The report builder's server side over HTTP (no browser), on SQLite and PostgreSQL: the
preview of an unsaved report is HTML with labels in the select's order and a link to the
records behind each group, a funnel's steps with their conversions; problems are said in
words by where they are (422), never a 500; only builders may ask; Add to a dashboard
opens the dashboard builder with the report on it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [
        {"value": "open", "label": "Open"}, {"value": "won", "label": "Won"}, {"value": "lost", "label": "Lost"}]}]}


@pytest.fixture
def site(runtime: Any) -> Any:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for n, stage in enumerate(("won", "lost", "open", "won")):
        record = runtime.records.create(system, "deal", {"name": f"D{n}", "stage": "open", "amount": 100 * (n + 1)})
        if stage != "open":
            runtime.records.update(system, "deal", record["id"], {"stage": stage}, record["version"])
    runtime.users.accounts.add(system, {"email": "rep@example.com", "name": "Rep", "password": "rep-password"})
    runtime.documents.create(system, "reports", {"api_name": "by_stage", "label": "By stage", "object": "deal",
                                                 "group_by": [{"field": "stage"}]})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client


def cells(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_a_summary_preview_names_groups_by_label_in_the_options_order(site: TestClient) -> None:
    builder = SignedIn(site, "admin@example.com", "admin-password")
    answer = builder.send("POST", "/builder/reports/preview", {"object": "deal", "group_by": [{"field": "stage"}]})
    assert answer.status_code == 200, answer.text
    assert cells(answer.text) == [["Open", "1"], ["Won", "2"], ["Lost", "1"]]
    assert 'href="/app/deal?formula=stage%20%3D%20%22won%22"' in answer.text


def test_a_funnel_preview_shows_steps_with_their_conversions(site: TestClient) -> None:
    builder = SignedIn(site, "admin@example.com", "admin-password")
    answer = builder.send("POST", "/builder/reports/preview", {"object": "deal", "type": "funnel", "field": "stage",
                                                               "stages": ["open", "won"]})
    assert answer.status_code == 200, answer.text
    assert re.findall(r'class="funnel-label">([^<]+)<', answer.text) == ["Open", "Won"]
    # Two of the four open deals were won: written in the percentages' house style.
    assert '<span class="percent" data-share="0.5">50\u202f%</span> of Open' in answer.text
    assert "Records now in Won" in answer.text


@pytest.mark.parametrize(("doc", "words"), [
    ({"object": "deal", "filter": "amout > 1"}, "Filter: unknown field"),
    ({"object": "deal", "type": "funnel", "field": "name"}, "Stage field: name is a text"),
    ({"object": "deal", "type": "funnel", "field": "stage", "measure": {"function": "sum", "field": "stage"}},
     "Measure: Stage is a select"),
    ({"object": "nope", "group_by": [{"field": "x"}]}, "Object: there is no object"),
    (["not", "a", "report"], "Send the report being built"),
])
def test_problems_are_said_in_words_by_where_they_are(site: TestClient, doc: Any, words: str) -> None:
    builder = SignedIn(site, "admin@example.com", "admin-password")
    answer = builder.send("POST", "/builder/reports/preview", doc)
    assert answer.status_code == 422, answer.text
    assert words in answer.text and 'role="alert"' in answer.text
    broken = site.post("/builder/reports/preview", content=b"{", headers={**builder.csrf,
                                                                          "Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.text


def test_only_builders_preview_and_add_to_a_dashboard_opens_its_builder(site: TestClient) -> None:
    rep = SignedIn(site, "rep@example.com", "rep-password")
    assert rep.send("POST", "/builder/reports/preview", {"object": "deal"}).status_code == 403
    builder = SignedIn(site, "admin@example.com", "admin-password")
    moved = builder.get("/builder/reports/by_stage/add-to-dashboard", params={"dashboard": ""},
                        follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (303, "/builder/dashboards/new?add=by_stage")
    page = builder.get(moved.headers["location"]).text
    design = json.loads(re.search(r'id="dashboard-design">(.*?)</script>', page, re.S).group(1))
    assert design["add"] == {"report": "by_stage", "title": "By stage", "type": "bar"}
    assert builder.get("/builder/dashboards/new", params={"add": "nope"}).status_code == 404
