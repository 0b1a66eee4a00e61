"""Sample values worked out at install: `{"days_from_install": N}` in a date field is the
install day plus N days, in a date-time field the install moment plus N days (fractions
too), in child-table lines as well; `{"email": …}` in a user field (the owner too) is the
active user with that e-mail, or left out. Values that cannot be worked out are problems of
their file and place before anything is written. On SQLite and PostgreSQL (the fixture
deals-1.0.0)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tessera.auth.actor import Actor
from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform
from tessera.settings import Settings

from .conftest import SYSTEM, copy, read


def install(runtime: Platform, folder: Path, actor: Actor = SYSTEM) -> None:
    job, _ = runtime.packages.submit(actor, read(runtime, folder), upgrade=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded", runtime.jobs.get(SYSTEM, job)


def deals(runtime: Platform) -> dict[str, dict[str, Any]]:
    found = runtime.records.list(SYSTEM, "deal")["data"]
    return {d["name"]: runtime.records.get(SYSTEM, "deal", d["id"]) for d in found}


def installed_at(runtime: Platform) -> datetime:
    return datetime.fromisoformat(runtime.packages.get("deals")["installed_at"].replace("Z", "+00:00"))


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_days_from_install_count_from_the_install_day_and_moment_in_records_and_lines(
        runtime: Platform, tmp_path: Path) -> None:
    install(runtime, copy(tmp_path))
    at = installed_at(runtime)
    day = at.date()  # the company's zone is UTC here
    big, old = deals(runtime)["Big turbine"], deals(runtime)["Old deal"]
    assert big["close_date"] == (day + timedelta(days=30)).isoformat()
    assert abs(moment(big["next_call"]) - (at - timedelta(hours=12))) <= timedelta(seconds=1)
    assert abs(moment(old["next_call"]) - (at + timedelta(days=2, hours=6))) <= timedelta(seconds=1)
    assert [line["ship_date"] for line in big["lines"]] == [(day - timedelta(days=3)).isoformat(), "2024-01-15"]
    assert old["close_date"] == "2024-06-30"  # a date as it is written stays as it is


def test_the_install_day_is_the_day_in_the_companys_time_zone(db_url: str, tmp_path: Path) -> None:
    zone = "Pacific/Kiritimati"  # UTC+14: most of the day, its date is not UTC's
    runtime = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files", time_zone=zone))
    try:
        install(runtime, copy(tmp_path))
        local = installed_at(runtime).astimezone(ZoneInfo(zone)).date()
        assert deals(runtime)["Big turbine"]["close_date"] == (local + timedelta(days=30)).isoformat()
    finally:
        runtime.dispose()


def test_a_person_by_email_is_the_active_user_with_that_email_and_left_out_when_there_is_none(
        runtime: Platform, tmp_path: Path) -> None:
    eve = runtime.users.create("Eve.East@demo.test", "Eve Easton", "eve-password")
    wes = runtime.users.create("wes.west@demo.test", "Wes Weston", "wes-password")
    runtime.users.set_active(wes, False)
    admin = runtime.users.actor_for_user(runtime.users.id_for_email("admin@example.com") or 0)
    install(runtime, copy(tmp_path), admin)
    big, old = deals(runtime)["Big turbine"], deals(runtime)["Old deal"]
    assert (big["owner"], big["rep"]) == (eve, eve)
    assert old["owner"] == admin.user_id  # nobody@demo.test is nobody here: the installer owns it
    assert old["rep"] is None  # Wes is disabled: no active user has that e-mail
    assert [line["installer"] for line in big["lines"]] == [None, None]


def test_a_person_by_email_in_a_line_is_that_user(runtime: Platform, tmp_path: Path) -> None:
    wes = runtime.users.create("wes.west@demo.test", "Wes Weston", "wes-password")
    install(runtime, copy(tmp_path))
    assert [line["installer"] for line in deals(runtime)["Big turbine"]["lines"]] == [wes, None]


def _with(record: int, **values: Any) -> Any:
    def edit(body: dict[str, Any]) -> dict[str, Any]:
        body["records"][record].update(values)
        return body
    return edit


def test_values_that_cannot_be_worked_out_are_problems_of_their_file_and_place_and_nothing_is_written(
        runtime: Platform, tmp_path: Path) -> None:
    def broken(body: dict[str, Any]) -> dict[str, Any]:
        body["records"][0]["lines"][0]["ship_date"] = {"days_from_install": "soon"}
        body["records"][0]["close_date"] = {"days_from_install": 1.5}
        body["records"][0]["name"] = {"days_from_install": 3}
        body["records"][1]["next_call"] = {"days_from_install": True}
        body["records"][1]["region"] = {"email": "eve.east@demo.test"}
        body["records"][1]["rep"] = {"email": 42}
        body["records"][1]["close_date"] = {"days_from_install": 99999}
        return body

    folder = copy(tmp_path, {"data/deals.json": broken})
    plan = runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False).as_json()
    found = {p["field"]: p["message"] for p in plan["problems"] if p["file"] == "data/deals.json"}
    assert sorted(found) == ["/records/0/close_date", "/records/0/lines/0/ship_date", "/records/0/name",
                             "/records/1/close_date", "/records/1/next_call", "/records/1/region",
                             "/records/1/rep"]
    assert found["/records/0/lines/0/ship_date"] == ("days_from_install must be a number of days (like 3, -30 or "
                                                     "-0.5), not 'soon'")
    assert "whole number of days for a date field" in found["/records/0/close_date"]
    assert "only a date or date-time field takes it, and this is a text field" in found["/records/0/name"]
    assert "not True" in found["/records/1/next_call"]
    assert "only the owner or a user field takes it" in found["/records/1/region"]
    assert "must be an e-mail address" in found["/records/1/rep"]
    assert "at most 36600 days" in found["/records/1/close_date"]
    with pytest.raises(InvalidInput):
        runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False)
    assert runtime.packages.installed() == []
    assert "deal" not in {o["api_name"] for o in runtime.metadata.list_objects()}


def test_without_sample_data_the_values_are_not_checked(runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {"data/deals.json": _with(0, close_date={"days_from_install": "soon"})})
    job, plan = runtime.packages.submit(SYSTEM, read(runtime, folder), upgrade=False, sample_data=False)
    assert plan.problems == [] and runtime.jobs.wait(job)["status"] == "succeeded"


def test_a_value_the_plan_did_not_see_is_refused_at_load_with_its_file_and_place(
        runtime: Platform, tmp_path: Path) -> None:
    job, _ = runtime.packages.submit(SYSTEM, read(runtime, copy(tmp_path)), upgrade=False, sample_data=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded"

    def broken(body: dict[str, Any]) -> dict[str, Any]:
        body["records"][0]["lines"][0]["ship_date"] = {"days_from_install": "soon"}
        return body

    later = read(runtime, copy(tmp_path / "later", {"data/deals.json": broken}))
    with pytest.raises(InvalidInput) as refused:
        runtime.packages.applier.load_data(SYSTEM, later)
    (found,) = [p.as_json() for p in refused.value.errors]
    assert (found["file"], found["field"]) == ("data/deals.json", "/records/0/lines/0/ship_date")
    assert "A sample record of data/deals.json cannot be loaded" in refused.value.detail
    assert runtime.records.list(SYSTEM, "deal")["data"] == []


def test_a_data_file_naming_an_object_that_is_not_there_is_a_problem_before_anything_is_written(
        runtime: Platform, tmp_path: Path) -> None:
    folder = copy(tmp_path, {"data/ghosts.json": lambda _: {"object": "ghost", "records": [{"key": "boo"}]}})
    plan = runtime.packages.plan(SYSTEM, read(runtime, folder), upgrade=False).as_json()
    assert [(p["file"], p["field"], p["message"]) for p in plan["problems"]] == [
        ("data/ghosts.json", "/object", "there is no object named 'ghost'")]


def test_a_json_field_keeps_such_values_as_they_are(runtime: Platform, tmp_path: Path) -> None:
    def with_json(body: dict[str, Any]) -> dict[str, Any]:
        body["fields"].append({"uid": "deal.extra", "api_name": "extra", "label": "Extra", "type": "json"})
        return body

    folder = copy(tmp_path, {"objects/deal.json": with_json,
                             "data/deals.json": _with(1, extra={"days_from_install": "not a number"})})
    install(runtime, folder)
    assert deals(runtime)["Old deal"]["extra"] == {"days_from_install": "not a number"}


def test_a_sample_records_history_is_its_creation_and_changes_before_the_install(
        runtime: Platform, tmp_path: Path) -> None:
    history = [{"at": {"days_from_install": -40}, "region": "west"},
               {"at": {"days_from_install": -10.5}, "region": "east"}]
    install(runtime, copy(tmp_path, {"data/deals.json": _with(0, history=history)}))
    at = installed_at(runtime)
    big = deals(runtime)["Big turbine"]
    assert big["region"] == "east"
    assert abs(moment(big["created_at"]) - (at - timedelta(days=40))) <= timedelta(seconds=1)
    changes = [h for h in runtime.records.history(SYSTEM, "deal", big["id"]) if h["action"] == "update"]
    assert [(h["field"], h["old"], h["new"]) for h in changes] == [("region", "west", "east")]
    assert abs(moment(changes[0]["at"]) - (at - timedelta(days=10.5))) <= timedelta(seconds=1)
    # Reports over the history have the story to tell: 29.5 days in the West.
    stays = runtime.reports.run(SYSTEM, {"api_name": "stays", "label": "Stays", "object": "deal",
                                         "type": "time_in_stage", "field": "region", "stages": ["west", "east"]})
    west = next(r for r in stays["rows"] if r["stage"] == "west")
    assert (west["records"], abs(west["average"] - 29.5 * 86400) <= 1) == ("1", True)


@pytest.mark.parametrize(("history", "pointer", "message"), [
    ([{"at": {"days_from_install": -5}, "region": "west"}], "/records/0/history",
     "the last value it gives region must be the record's own"),
    ([{"region": "east"}], "/records/0/history/0", 'must be an object with "at"'),
    ([{"at": "yesterday", "region": "east"}], "/records/0/history/0/at", "must be a moment like"),
    ([{"at": {"days_from_install": -1}, "nothing": 1}], "/records/0/history/0/nothing",
     "is not a field whose history"),
    ("west", "/records/0/history", "must be a list of moments"),
])
def test_a_history_that_cannot_be_told_is_refused_at_its_place_and_nothing_is_written(
        runtime: Platform, tmp_path: Path, history: Any, pointer: str, message: str) -> None:
    job, _ = runtime.packages.submit(SYSTEM, read(runtime, copy(tmp_path)), upgrade=False, sample_data=False)
    assert runtime.jobs.wait(job)["status"] == "succeeded"
    later = read(runtime, copy(tmp_path / "later", {"data/deals.json": _with(0, history=history)}))
    with pytest.raises(InvalidInput) as refused:
        runtime.packages.applier.load_data(SYSTEM, later)
    (found,) = [p.as_json() for p in refused.value.errors]
    assert (found["file"], found["field"]) == ("data/deals.json", pointer)
    assert message in found["message"]
    assert runtime.records.list(SYSTEM, "deal")["data"] == []
