"""Each person reads times in their own time zone: they choose it (PATCH /api/v1/me, or
the browser's at sign-in until they do), an admin may set it, a bad name is refused beside
the field, and the zone a signed-in actor carries follows a change at once. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tessera.auth.actor import Actor
from tessera.meta.times import from_local_input, is_time_zone, readable, time_zone, time_zone_names
from tessera.runtime.platform import Platform
from tessera.settings import Settings, SettingsError

PASSWORD = "a-long-password"


def _signed_in(api: Any, email: str) -> Any:
    response = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return type(api)(api.client, response.json()["access_token"])


def test_a_person_chooses_their_time_zone_and_acts_in_it(api: Any, runtime: Platform) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": PASSWORD}), 201)
    rep = _signed_in(api, "rep@example.com")
    assert rep.ok(rep.get("/me"))["time_zone"] is None
    changed = rep.ok(rep.patch("/me", {"time_zone": "Asia/Shanghai", "name": "Rita Rep"}))
    assert (changed["time_zone"], changed["name"]) == ("Asia/Shanghai", "Rita Rep")
    assert runtime.users.actor_for_user(changed["id"]).time_zone == "Asia/Shanghai"
    assert rep.ok(rep.get("/me"))["time_zone"] == "Asia/Shanghai"


def test_a_time_zone_that_does_not_exist_is_refused_beside_the_field(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": PASSWORD}), 201)
    rep = _signed_in(api, "rep@example.com")
    for bad in ("Mars/Olympus", "../../etc/passwd", "", 7):
        response = rep.patch("/me", {"time_zone": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"] == "time_zone"
    assert rep.ok(rep.get("/me"))["time_zone"] is None


def test_people_change_only_their_name_and_zone_themselves(api: Any) -> None:
    api.ok(api.post("/users", {"email": "rep@example.com", "name": "Rep", "password": PASSWORD}), 201)
    rep = _signed_in(api, "rep@example.com")
    response = rep.patch("/me", {"roles": ["admin"], "time_zone": "Europe/Paris"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["roles"]
    assert rep.ok(rep.get("/me"))["time_zone"] is None and rep.ok(rep.get("/me"))["is_admin"] is False


def test_an_admin_sets_a_persons_zone_and_the_default_zone_is_the_platforms(runtime: Platform) -> None:
    system = Actor.system()
    person = runtime.users.accounts.add(system, {"email": "ana@example.com", "password": PASSWORD,
                                                 "time_zone": "America/New_York"})
    assert person["time_zone"] == "America/New_York"
    runtime.users.time_zone = "Europe/Berlin"
    other = runtime.users.accounts.add(system, {"email": "bo@example.com", "password": PASSWORD})
    assert runtime.users.actor_for_user(other["id"]).time_zone == "Europe/Berlin"
    assert runtime.users.actor_for_user(person["id"]).time_zone == "America/New_York"


def test_the_browsers_zone_is_taken_at_sign_in_only_until_the_person_chooses(runtime: Platform) -> None:
    system = Actor.system()
    person = runtime.users.accounts.add(system, {"email": "ana@example.com", "password": PASSWORD})
    runtime.users.accounts.adopt_time_zone(person["id"], "Not/AZone")
    assert runtime.users.accounts.get(person["id"])["time_zone"] is None
    runtime.users.accounts.adopt_time_zone(person["id"], "Europe/Paris")
    runtime.users.accounts.adopt_time_zone(person["id"], "Asia/Tokyo")
    assert runtime.users.accounts.get(person["id"])["time_zone"] == "Europe/Paris"


def test_instants_read_in_a_zone_with_its_abbreviation_and_typed_local_times_come_back_utc() -> None:
    paris = time_zone("Europe/Paris")
    winter, summer = datetime(2026, 12, 6, 13, 30, tzinfo=UTC), datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    assert readable(winter, paris) == "2026-12-06 14:30 CET"
    assert readable(summer, paris) == "2026-07-01 15:30 CEST"
    assert readable(winter, time_zone(None)) == "2026-12-06 13:30 UTC"
    assert from_local_input("2026-12-06T14:30", paris) == "2026-12-06T13:30:00Z"
    assert from_local_input("2026-07-01T15:30:00", paris) == "2026-07-01T13:30:00Z"
    assert from_local_input("2026-12-06T14:30Z", paris) == "2026-12-06T14:30Z"  # already says its zone
    assert from_local_input("tomorrow", paris) == "tomorrow"  # the field's own check words it
    assert time_zone("Mars/Olympus") is time_zone(None)
    assert "Europe/Paris" in time_zone_names() and time_zone_names()[0] == "UTC"
    assert not is_time_zone("../etc/passwd") and not is_time_zone("") and is_time_zone("UTC")


def test_a_platform_time_zone_that_does_not_exist_stops_the_start() -> None:
    assert Settings.from_env({"TESSERA_TIME_ZONE": "Asia/Tokyo"}).time_zone == "Asia/Tokyo"
    try:
        Settings.from_env({"TESSERA_TIME_ZONE": "Moon/Base"})
    except SettingsError as error:
        assert "TESSERA_TIME_ZONE" in str(error)
    else:
        raise AssertionError("a zone that does not exist was taken")
