"""Teams in a package (`teams/*.json`): made with the metadata, in its transaction and before
its documents are checked, so the package's assignment rules may name them; a team of that
name that exists is kept as it is; uninstalling leaves them; exports carry them. On SQLite
and PostgreSQL (the fixture deals-1.0.0)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, copy, read


def install(runtime: Platform, folder: Path, *, upgrade: bool = False) -> dict[str, Any]:
    job, plan = runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=upgrade, sample_data=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded", runtime.jobs.get(SYSTEM, job)
    return plan.as_json()


def teams(runtime: Platform) -> dict[str, dict[str, Any]]:
    return {t["api_name"]: t for t in runtime.users.teams.list()}


def test_the_packages_teams_are_made_with_it_and_its_assignment_rule_may_name_them(
        runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path)
    plan = runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False).as_json()
    assert plan["problems"] == []
    assert {(d["api_name"], d["action"]) for d in plan["documents"] if d["kind"] == "teams"} == {
        ("east", "create"), ("deal_team", "create")}
    assert teams(runtime) == {}  # the plan (its trial run included) wrote nothing
    install(runtime, folder)
    made = teams(runtime)
    assert (made["east"]["label"], made["east"]["description"], made["east"]["members"]) == (
        "East", "Reps of the eastern region.", [])
    assert made["deal_team"]["label"] == "Deal team"
    assert runtime.documents.get("rules", "assign_east")["assignment"]["team"] == "east"


def test_a_team_of_that_name_that_exists_is_kept_as_it_is(runtime: Platform, tmp_path: Path) -> None:
    runtime.users.teams.create(SYSTEM, {"api_name": "east", "label": "Eastern region",
                                        "members": ["admin@example.com"]})
    plan = install(runtime, copy(tmp_path))
    (step,) = [d for d in plan["documents"] if d["api_name"] == "east"]
    assert (step["kind"], step["action"], step["notes"]) == ("teams", "unchanged",
                                                            ["a team of that name exists: kept as it is"])
    east = teams(runtime)["east"]
    assert (east["label"], [m["email"] for m in east["members"]]) == ("Eastern region", ["admin@example.com"])


def test_an_assignment_rule_naming_a_team_nobody_brings_refuses_the_install_at_its_file(
        runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {"teams/east.json": None})
    with pytest.raises(InvalidInput) as refused:
        runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False)
    (found,) = [p.as_json() for p in refused.value.errors]
    assert (found["file"], found["field"]) == ("rules/assign_east.json", "/assignment/team")
    assert "there is no team named 'east'" in found["message"]
    assert runtime.packages.installed() == [] and teams(runtime) == {}


def test_a_team_file_that_is_not_a_team_is_a_problem_of_its_file_and_nothing_is_written(
        runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {
        "teams/deal_team.json": lambda t: {**t, "members": ["admin@example.com"]},
        "teams/west.json": lambda _: {"uid": "west", "api_name": "West Coast", "label": "West"},
    })
    plan = runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False).as_json()
    assert sorted((p["file"], p["field"]) for p in plan["problems"]) == [
        ("teams/deal_team.json", "/members"), ("teams/west.json", "/api_name")]
    assert "a template's teams start empty" in plan["problems"][0]["message"]
    with pytest.raises(InvalidInput):
        runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False)
    assert teams(runtime) == {} and runtime.packages.installed() == []


def test_a_team_without_its_uid_is_refused_when_the_package_is_read(runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {"teams/nameless.json": lambda _: {"api_name": "nameless", "label": "No uid"}})
    with pytest.raises(InvalidInput) as refused:
        read(runtime, folder)
    assert [(p.as_json()["file"], p.field) for p in refused.value.errors] == [("teams/nameless.json", "/uid")]


def test_a_team_the_next_version_adds_is_made_by_the_upgrade(runtime: Platform, tmp_path: Path) -> None:
    install(runtime, copy(tmp_path))
    runtime.users.teams.update(SYSTEM, "east", {"label": "East coast"})
    plan = install(runtime, copy(tmp_path, {"teams/west.json": lambda _: {"uid": "west", "api_name": "west",
                                                                            "label": "West"}}, "1.1.0"),
                   upgrade=True)
    assert {(d["api_name"], d["action"]) for d in plan["documents"] if d["kind"] == "teams"} == {
        ("east", "unchanged"), ("deal_team", "unchanged"), ("west", "create")}
    assert {k: t["label"] for k, t in teams(runtime).items()} == {"east": "East coast", "deal_team": "Deal team",
                                                                  "west": "West"}


def test_uninstalling_leaves_the_teams_and_exports_carry_them_as_they_are(runtime: Platform, tmp_path: Path) -> None:
    install(runtime, copy(tmp_path))
    runtime.users.teams.update(SYSTEM, "east", {"label": "East coast"})
    filename, content = runtime.packages.export(SYSTEM, "deals")
    assert filename == "deals-1.0.0.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        exported = {n: json.loads(archive.read(n)) for n in archive.namelist() if n.startswith("teams/")}
    assert exported == {
        "teams/east.json": {"uid": "east", "api_name": "east", "label": "East coast",
                            "description": "Reps of the eastern region."},
        "teams/deal_team.json": {"uid": "deal_team", "api_name": "deal_team", "label": "Deal team"}}
    _, layer = runtime.packages.export(SYSTEM, "deals", layer_only=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        assert not [n for n in archive.namelist() if n.startswith("teams/")]
    job = runtime.packages.uninstall(SYSTEM, "deals")["job"]
    assert runtime.jobs.wait(job)["status"] == "succeeded"
    assert runtime.packages.installed() == []
    assert set(teams(runtime)) == {"east", "deal_team"}
