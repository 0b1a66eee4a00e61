"""The example plugin (examples/plugins/tessera-example, installed by `make setup`) found by
its entry point and used as a builder and an integrator would: its IBAN field type through
the API and in a form, its IBAN_COUNTRY function in a formula field and a list filter, its
mask_iban action in a rule, its API route, its app template — and the same metadata after
the plugin is removed: the object loads, the records read as stored, problems are shown;
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.formula import compile_python
from tessera.packages.service import Source
from tessera.plugins.loader import discover
from tessera.registry import forget
from tessera.runtime.platform import Platform
from tessera.settings import Settings

SYSTEM = Actor.system()
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password"
GOOD = "DE89 3704 0044 0532 0130 00"
ACCOUNT = {"api_name": "payee", "label": "Payee", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "iban", "label": "IBAN", "type": "iban", "searchable": True},
    {"api_name": "country", "label": "Country", "type": "formula", "expression": "IBAN_COUNTRY(iban)"},
    {"api_name": "masked", "label": "Masked IBAN", "type": "text"}]}
MASKING = {"api_name": "mask", "label": "Mask the IBAN", "object": "payee", "kind": "automation",
           "trigger": {"on": "after_save", "when": "created_or_updated"}, "condition": "NOT ISBLANK(iban)",
           "actions": [{"action": "mask_iban", "field": "iban", "into": "masked"}]}


class Client:
    def __init__(self, rt: Platform) -> None:
        self.http = TestClient(create_app(rt))
        token = self.http.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(f"/api/v1{path}", headers=self.headers, **kw)

    def post(self, path: str, body: Any) -> Any:
        return self.http.post(f"/api/v1{path}", headers=self.headers, json=body)


@pytest.fixture
def platforms(db_url: str, tmp_path: Path) -> Iterator[Any]:
    built: list[Platform] = []

    def platform(*, plugins: bool = True) -> Platform:
        rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", plugins=plugins))
        rt.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        built.append(rt)
        return rt

    yield platform
    for rt in built:
        rt.dispose()
    forget("example")


def test_the_example_plugin_is_found_by_its_entry_point_and_listed(platforms: Any) -> None:
    assert "example" in [e.name for e in discover()]
    api = Client(platforms())
    answer = api.get("/plugins").json()
    [example] = [p for p in answer["plugins"] if p["name"] == "example"]
    assert example["status"] == "loaded" and example["distribution"] == "tessera-example-plugin"
    assert example["version"] == "1.0.0" and example["error"] is None
    assert set(example["provides"]) >= {"field type iban", "function IBAN_COUNTRY", "action mask_iban",
                                        "API routes /api/v1/plugins/example", "app template bank_accounts"}
    assert answer["problems"] == []


def test_its_field_type_takes_ibans_as_people_write_them_and_refuses_wrong_ones(platforms: Any) -> None:
    api = Client(platforms())
    assert api.post("/meta/objects", ACCOUNT).status_code == 201
    made = api.post("/records/payee", {"name": "Müller GmbH", "iban": GOOD.lower()})
    assert made.status_code == 201, made.text
    assert made.json()["iban"] == "DE89370400440532013000" and made.json()["country"] == "DE"
    wrong = api.post("/records/payee", {"name": "Typo", "iban": "DE89 3704 0044 0532 0130 01"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == [{"field": "iban", "message": "has a wrong check digit", "code": "invalid_value"}]
    listed = api.get("/records/payee", params={"filter": 'IBAN_COUNTRY(iban) = "DE"'}).json()["data"]
    assert [r["name"] for r in listed] == ["Müller GmbH"]
    assert [r["title"] for r in api.get("/search", params={"q": "DE89 3704"}).json()["results"]] == ["Müller GmbH"]


def test_its_field_shows_in_a_form_and_a_record_page(platforms: Any) -> None:
    rt = platforms()
    rt.metadata.create_object(SYSTEM, ACCOUNT)
    made = rt.records.create(SYSTEM, "payee", {"name": "Müller GmbH", "iban": GOOD})
    web = SignedIn(TestClient(create_app(rt), base_url="http://127.0.0.1"), ADMIN_EMAIL, ADMIN_PASSWORD)
    form = web.get("/app/payee/new")
    assert form.status_code == 200 and ">IBAN<" in form.text and 'name="iban"' in form.text
    page = web.get(f"/app/payee/{made['id']}")
    assert page.status_code == 200 and f'name="iban" id="f-iban" value="{GOOD}"' in page.text  # as people write it
    assert GOOD in web.get("/app/payee").text  # the list shows it as the type displays it, in groups of four
    saved = web.post("/app/payee/save", data={"name": "Ann", "iban": "gb82 west 1234 5698 7654 32"},
                     follow_redirects=False)
    assert saved.status_code in (200, 204, 303), saved.text
    assert [r["iban"] for r in rt.records.list(SYSTEM, "payee", filter='name = "Ann"')["data"]] == [
        "GB82WEST12345698765432"]


def test_its_function_gives_the_same_answer_in_python_and_in_sql(platforms: Any) -> None:
    rt = platforms()
    rt.metadata.create_object(SYSTEM, ACCOUNT)
    for name, iban in (("A", GOOD), ("B", "GB82 WEST 1234 5698 7654 32"), ("C", None)):
        rt.records.create(SYSTEM, "payee", {"name": name, "iban": iban})
    in_sql = {r["name"]: r["country"] for r in rt.records.list(SYSTEM, "payee")["data"]}
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        run = compile_python(rt.formulas.checked(snap, snap.object("payee"), "IBAN_COUNTRY(iban)"))
        table = snap.table(snap.object("payee"))
        in_python = {row["name"]: run(row) for row in conn.execute(sa.select(table)).mappings()}
    assert in_sql == {"A": "DE", "B": "GB", "C": None}
    assert in_python == in_sql
    for text in ("", " de", "x", "  g b 1", "ÄÖ12"):  # odd input: both sides agree too
        from tessera_example.functions import IBAN_COUNTRY

        assert IBAN_COUNTRY.python(text) == _in_database(rt, text)


def _in_database(rt: Platform, text: str) -> Any:
    from tessera_example.functions import IBAN_COUNTRY

    with rt.read() as conn:
        if conn.dialect.name == "sqlite":  # SQLite runs the Python form inside the query
            return IBAN_COUNTRY.python(text)
        arg = type("Arg", (), {"expr": sa.literal(text)})()
        return conn.execute(sa.select(IBAN_COUNTRY.postgres([arg]))).scalar()


def test_its_action_runs_in_a_rule(platforms: Any) -> None:
    rt = platforms()
    rt.metadata.create_object(SYSTEM, ACCOUNT)
    rt.documents.create(SYSTEM, "rules", MASKING)
    made = rt.records.create(SYSTEM, "payee", {"name": "Müller GmbH", "iban": GOOD})
    rt.scheduler.drain()
    assert rt.records.get(SYSTEM, "payee", made["id"])["masked"] == "DE89 **** 3000"


def test_its_api_route_answers_signed_in_callers_under_its_prefix(platforms: Any) -> None:
    api = Client(platforms())
    assert api.get("/plugins/example/iban/" + GOOD.replace(" ", "")).json() == {
        "valid": True, "problem": None, "country": "DE", "formatted": GOOD}
    assert api.get("/plugins/example/iban/DE00").json()["valid"] is False
    assert api.http.get("/api/v1/plugins/example/iban/DE00").status_code == 401


def test_its_app_template_is_offered_and_installs(platforms: Any) -> None:
    rt = platforms()
    offered = {t["name"]: t for t in rt.packages.available()}
    assert offered["bank_accounts"]["title"] == "Bank accounts"
    job, _ = rt.packages.submit(SYSTEM, rt.packages.read(Source(name="bank_accounts")), upgrade=False)
    assert rt.jobs.wait(job)["status"] == "succeeded"
    made = rt.records.create(SYSTEM, "bank_account", {"holder": "Ann", "iban": GOOD})
    assert made["country"] == "DE"


def test_metadata_of_a_removed_plugin_still_loads_reads_as_stored_and_says_what_is_missing(platforms: Any) -> None:
    rt = platforms()
    rt.metadata.create_object(SYSTEM, ACCOUNT)
    rt.documents.create(SYSTEM, "rules", MASKING)
    made = rt.records.create(SYSTEM, "payee", {"name": "Müller GmbH", "iban": GOOD})
    rt.dispose()
    forget("example")  # the plugin is uninstalled: its names are gone from this process
    after = platforms(plugins=False)
    api = Client(after)
    record = api.get(f"/records/payee/{made['id']}").json()
    assert record["iban"] == "DE89370400440532013000" and record["country"] is None and record["name"] == "Müller GmbH"
    assert [f["type"] for f in api.get("/meta/objects/payee").json()["fields"]][:2] == ["text", "iban"]
    changed = api.http.patch(f"/api/v1/records/payee/{made['id']}", headers={**api.headers, "If-Match": '"1"'},
                             json={"name": "Müller AG"})
    assert changed.status_code == 200, changed.text
    refused = api.post("/records/payee", {"name": "New", "iban": GOOD})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "iban"
    problems = {p["where"]: p["message"] for p in api.get("/plugins").json()["problems"]}
    assert "not installed" in problems["objects/payee/fields/iban"]
    assert any("IBAN_COUNTRY" in m for w, m in problems.items() if w.startswith("objects/payee"))
    assert any("mask_iban" in m for w, m in problems.items() if w.startswith("rules/mask"))
    web = SignedIn(TestClient(create_app(after), base_url="http://127.0.0.1"), ADMIN_EMAIL, ADMIN_PASSWORD)
    page = web.get(f"/app/payee/{made['id']}")
    assert page.status_code == 200 and "This field's type is not installed" in page.text
    assert "DE89370400440532013000" in page.text
    # The plugin comes back: everything works again.
    back = platforms()
    assert back.records.get(SYSTEM, "payee", made["id"])["country"] == "DE"
