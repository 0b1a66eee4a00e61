"""The metadata cache: every process sees a metadata change made by another at once."""

from __future__ import annotations

from typing import Any

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

DEAL = {"api_name": "deal", "label": "Deal",
        "fields": [{"api_name": "name", "label": "Name", "type": "text"}]}


def test_second_process_sees_new_field_immediately(runtime: Platform, db_url: str) -> None:
    other = Platform(Settings(database_url=db_url))
    try:
        runtime.metadata.create_object(Actor.system(), DEAL)
        # The other runtime caches the object as it is now ...
        assert [f["api_name"] for f in other.metadata.get_object("deal")["fields"]] == ["name"]
        runtime.metadata.add_field(Actor.system(), "deal",
                                   {"api_name": "amount", "label": "Amount", "type": "currency"})
        # ... and sees the new field on its very next read, with no message in between.
        assert [f["api_name"] for f in other.metadata.get_object("deal")["fields"]] == ["name", "amount"]
        created = other.records.create(Actor.system(), "deal", {"name": "Big", "amount": "10.5"})
        assert created["amount"] == "10.50"
    finally:
        other.dispose()


def test_snapshot_is_reused_while_metadata_is_unchanged(runtime: Platform) -> None:
    runtime.metadata.create_object(Actor.system(), DEAL)
    with runtime.read() as conn:
        first = runtime.snapshot(conn)
    with runtime.read() as conn:
        assert runtime.snapshot(conn) is first


def test_failed_change_leaves_other_processes_on_the_old_metadata(runtime: Platform, db_url: str) -> None:
    runtime.metadata.create_object(Actor.system(), DEAL)
    runtime.records.create(Actor.system(), "deal", {"name": "A"})
    other = Platform(Settings(database_url=db_url))
    try:
        before = other.metadata.get_object("deal")
        bad: Any = {"api_name": "code", "label": "Code", "type": "text", "required": True}
        try:
            runtime.metadata.add_field(Actor.system(), "deal", bad)
        except Exception as error:
            assert "default" in str(error)
        assert other.metadata.get_object("deal") == before
        assert runtime.metadata.get_object("deal") == before
    finally:
        other.dispose()


def test_disabled_user_loses_access_at_once_though_sign_ins_are_cached(api: Any, runtime: Platform) -> None:
    user_id = runtime.users.create("rep@example.com", "Rep", "rep-password")
    token = runtime.users.sign_in("rep@example.com", "rep-password")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/meta/objects", headers=headers).status_code == 200
    assert api.client.get("/api/v1/meta/objects", headers=headers).status_code == 200  # cached now
    runtime.users.set_active(user_id, False)
    refused = api.client.get("/api/v1/meta/objects", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def test_revoked_token_is_refused_by_another_process_at_once(api: Any, runtime: Platform, db_url: str) -> None:
    user_id = runtime.users.create("rep@example.com", "Rep", "rep-password")
    token = runtime.users.sign_in("rep@example.com", "rep-password")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/meta/objects", headers=headers).status_code == 200
    other = Platform(Settings(database_url=db_url))  # e.g. an admin's process elsewhere
    try:
        assert other.users.revoke_tokens(user_id) == 1
    finally:
        other.dispose()
    assert api.client.get("/api/v1/meta/objects", headers=headers).status_code == 401
