"""The demo's people (`demo/people.json`): made only when the demo installs a package, after
its roles and teams and before its sample records, which then name them; a person who exists
keeps what they have and only gains roles and teams; problems are found at the file and
place before anything is written. And the CRM template's people are the README's. On SQLite
and PostgreSQL (the fixture deals-1.0.0)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.data.tables import package_uploads
from tessera.errors import InvalidInput, Unauthorized
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, copy, read

REPO = Path(__file__).resolve().parents[2]
CRM = REPO / "templates" / "crm"


def install(runtime: Platform, folder: Path, *, demo: bool) -> dict[str, Any]:
    job, _ = runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False, demo=demo)
    finished = runtime.jobs.wait(job)
    assert finished["status"] == "succeeded", finished
    return finished


def people(runtime: Platform) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in runtime.users.accounts.list()["data"]}


def test_a_normal_install_makes_nobody(runtime: Platform, tmp_path: Path) -> None:
    install(runtime, copy(tmp_path), demo=False)
    assert set(people(runtime)) == {"admin@example.com"}


def test_the_demo_makes_its_people_with_their_roles_teams_and_managers_before_the_sample_records(
        runtime: Platform, tmp_path: Path) -> None:
    finished = install(runtime, copy(tmp_path), demo=True)
    assert finished["result"]["people"] == {"created": 3, "changed": 0}
    found = people(runtime)
    eve = found["eve.east@demo.test"]
    assert (eve["name"], eve["roles"], eve["teams"], eve["manager"]) == (
        "Eve Easton", ["deal_rep"], ["deal_team", "east"], "mo.boss@demo.test")
    assert (found["mo.boss@demo.test"]["roles"], found["mo.boss@demo.test"]["manager"]) == (["deal_manager"], None)
    assert found["wes.west@demo.test"]["teams"] == ["deal_team"]
    assert runtime.users.sign_in("eve.east@demo.test", "demo-password-1")  # Settings.demo_password
    deals = {d["name"]: d for d in runtime.records.list(SYSTEM, "deal")["data"]}
    assert (deals["Big turbine"]["owner"], deals["Old deal"]["rep"]) == (eve["id"], found["wes.west@demo.test"]["id"])
    line = runtime.records.get(SYSTEM, "deal", deals["Big turbine"]["id"])["lines"][0]
    assert line["installer"] == found["wes.west@demo.test"]["id"]
    # The package's assignment rule hands a new East deal to an East member in turn.
    made = runtime.records.create(SYSTEM, "deal", {"name": "New", "region": "east"})
    assert made["rep"] in (eve["id"], found["mo.boss@demo.test"]["id"])


def test_a_person_who_exists_keeps_what_they_have_and_only_gains_the_demos_roles_and_teams(
        runtime: Platform, tmp_path: Path) -> None:
    runtime.users.teams.create(SYSTEM, {"api_name": "night_shift", "label": "Night shift"})
    runtime.users.create("eve.east@demo.test", "Eve E.", "her-own-password", teams=["night_shift"],
                         manager="admin@example.com")
    finished = install(runtime, copy(tmp_path), demo=True)
    assert finished["result"]["people"] == {"created": 2, "changed": 1}
    eve = people(runtime)["eve.east@demo.test"]
    assert (eve["name"], eve["roles"], eve["teams"], eve["manager"]) == (
        "Eve E.", ["deal_rep"], ["deal_team", "east", "night_shift"], "admin@example.com")
    assert runtime.users.sign_in("eve.east@demo.test", "her-own-password")
    with pytest.raises(Unauthorized):
        runtime.users.sign_in("eve.east@demo.test", "demo-password-1")


def test_people_naming_roles_teams_or_managers_that_are_not_there_are_problems_before_anything_is_written(
        runtime: Platform, tmp_path: Path) -> None:
    def broken(body: dict[str, Any]) -> dict[str, Any]:
        body["people"][0]["roles"] = ["deal_rep", "astronaut"]
        body["people"][0]["teams"] = ["mars"]
        body["people"][2]["manager"] = "ghost@demo.test"
        body["people"][1]["manager"] = "eve.east@demo.test"  # Eve's manager is Mo: a loop
        return body

    folder = copy(tmp_path, {"demo/people.json": broken})
    plan = runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False, demo=True).as_json()
    found = {p["field"]: p["message"] for p in plan["problems"] if p["file"] == "demo/people.json"}
    assert found == {
        "/people/0/roles/1": "there is no role 'astronaut' here or in the package's roles/",
        "/people/0/teams/0": "there is no team 'mars' here or in the package's teams/",
        "/people/0/manager": "the managers make a loop: eve.east@demo.test → mo.boss@demo.test → eve.east@demo.test",
        "/people/1/manager": "the managers make a loop: mo.boss@demo.test → eve.east@demo.test → mo.boss@demo.test",
        "/people/2/manager": "'ghost@demo.test' is neither one of the demo's people nor a user here"}
    with pytest.raises(InvalidInput):
        runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False, demo=True)
    assert runtime.packages.installed() == [] and set(people(runtime)) == {"admin@example.com"}
    # A normal install does not read the demo's people at all.
    assert runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False).problems == []


def test_a_people_file_of_the_wrong_shape_is_refused_when_the_package_is_read(
        runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {
        "demo/people.json": lambda _: {"people": [{"email": "not-an-address", "name": "X", "roles": "deal_rep"},
                                                  {"email": "a@b.test", "age": 3},
                                                  {"email": "A@b.test", "name": "Twice"}]},
        "demo/other.json": lambda _: {}})
    with pytest.raises(InvalidInput) as refused:
        read(runtime, folder)
    assert sorted((p.as_json()["file"], p.field) for p in refused.value.errors) == [
        ("demo/other.json", "/"), ("demo/people.json", "/people/0/email"), ("demo/people.json", "/people/0/roles"),
        ("demo/people.json", "/people/1/age"), ("demo/people.json", "/people/1/name"),
        ("demo/people.json", "/people/2/email")]


def test_a_staged_package_keeps_its_demo_people_for_the_job(runtime: Platform, tmp_path: Path) -> None:
    """The job reads the package back from what was staged: demo/ and teams/ go with it."""
    package = read(runtime, copy(tmp_path))
    staged = runtime.packages.stage(package)
    with runtime.read() as conn:
        files = conn.execute(sa.select(package_uploads.c.files).where(package_uploads.c.id == staged)).scalar()
    assert {"demo/people.json", "teams/east.json", "teams/deal_team.json"} <= set(files)


# -- the CRM template's demo people --------------------------------------------------------
def test_the_crm_templates_people_are_the_readmes_and_name_its_teams() -> None:
    body = json.loads((CRM / "demo" / "people.json").read_text())
    team_names = {json.loads(p.read_text())["api_name"] for p in (CRM / "teams").glob("*.json")}
    assert team_names == {"east", "central", "west", "sales"}
    readme = (REPO / "README.md").read_text()
    rows = {cells[0].strip("` "): [c.strip() for c in cells[1:]] for cells in
            (line.strip("|").split("|") for line in readme.splitlines() if re.match(r"^\| `[^`]+@demo\.", line))}
    names = {p["email"]: p["name"] for p in body["people"]}
    assert set(rows) == set(names)
    for person in body["people"]:
        name, role, in_teams, boss = rows[person["email"]][:4]
        assert set(person["teams"]) <= team_names, person
        assert (name, role, in_teams) == (person["name"], ", ".join(f"`{r}`" for r in person["roles"]),
                                          ", ".join(person["teams"])), person
        assert boss == names.get(person.get("manager", ""), ""), person
    roles_folder = CRM / "roles"
    if roles_folder.is_dir() and any(roles_folder.glob("*.json")):
        shipped = {json.loads(p.read_text())["api_name"] for p in roles_folder.glob("*.json")}
        assert {r for p in body["people"] for r in p["roles"]} <= shipped
