"""The save pipeline: its hook points run in order, a validate hook can refuse a save, an
after_write failure rolls the whole write back, and every write leaves an outbox event in
the same transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tessera.data.tables import outbox, record_history
from tessera.runtime.kernel.hooks import HOOK_POINTS

THING = {"api_name": "thing", "label": "Thing", "fields": [
    {"api_name": "name", "label": "Name", "type": "text"},
    {"api_name": "size", "label": "Size", "type": "integer"}]}


@pytest.fixture
def things(api: Any) -> Any:
    api.ok(api.post("/meta/objects", THING), 201)
    return api


def _events(runtime: Any) -> list[Any]:
    with runtime.read() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)))


def test_hook_points_run_in_order_for_create_and_update(things: Any, runtime: Any) -> None:
    calls: list[str] = []
    for point in HOOK_POINTS:
        runtime.hooks.add(point, lambda batch, point=point: calls.append(f"{point}:{batch.creating}"))
    record = things.ok(things.post("/records/thing", {"name": "a"}), 201)
    assert calls == [f"{p}:True" for p in HOOK_POINTS]
    calls.clear()
    things.ok(things.patch(f"/records/thing/{record['id']}", {"name": "b"}))
    assert calls == [f"{p}:False" for p in HOOK_POINTS]


def test_a_validate_hook_can_refuse_a_save_with_a_field_problem(things: Any, runtime: Any) -> None:
    def no_big_things(batch: Any) -> None:
        for change in batch.changes:
            if (change.value("size") or 0) > 10:
                change.problem("size", "is too big for a thing", "too_big")

    runtime.hooks.add("validate", no_big_things)
    response = things.post("/records/thing", [{"name": "ok", "size": 1}, {"name": "big", "size": 11}])
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "size", "message": "is too big for a thing",
                                          "code": "too_big", "row": 1}]
    assert things.ok(things.get("/records/thing"))["data"] == []
    assert _events(runtime) == []
    record = things.ok(things.post("/records/thing", {"size": 3}), 201)
    refused = things.patch(f"/records/thing/{record['id']}", {"size": 30})
    assert refused.status_code == 422
    assert things.ok(things.get(f"/records/thing/{record['id']}"))["size"] == 3


def test_a_before_validate_hook_can_fill_values(things: Any, runtime: Any) -> None:
    def default_name(batch: Any) -> None:
        for change in batch.changes:
            if change.is_new and not change.value("name"):
                change.values["name"] = "unnamed"

    runtime.hooks.add("before_validate", default_name)
    assert things.ok(things.post("/records/thing", {"size": 1}), 201)["name"] == "unnamed"


def test_after_write_runs_in_the_transaction_and_its_failure_rolls_back(things: Any, runtime: Any) -> None:
    from fastapi.testclient import TestClient

    seen: list[int] = []

    def inspect_then_fail(batch: Any) -> None:
        # The row is visible here, through the pipeline's own connection.
        table = batch.table
        seen.append(batch.conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        raise RuntimeError("downstream write failed")

    runtime.hooks.add("after_write", inspect_then_fail)
    quiet = TestClient(things.client.app, raise_server_exceptions=False)
    response = quiet.post("/api/v1/records/thing", json={"name": "doomed"}, headers=things.headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert seen == [1]
    runtime.hooks.remove("after_write", inspect_then_fail)
    assert things.ok(things.get("/records/thing"))["data"] == []
    assert _events(runtime) == []
    with runtime.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(record_history)).scalar_one() == 0


def test_after_commit_runs_once_the_write_is_visible_to_others(things: Any, runtime: Any) -> None:
    visible: list[int] = []

    def count_from_outside(batch: Any) -> None:
        with runtime.read() as conn:
            visible.append(conn.execute(sa.select(sa.func.count()).select_from(batch.table)).scalar_one())

    runtime.hooks.add("after_commit", count_from_outside)
    things.ok(things.post("/records/thing", [{"name": "a"}, {"name": "b"}]), 201)
    assert visible == [2]


def test_every_write_emits_one_outbox_event_in_its_transaction(things: Any, runtime: Any) -> None:
    made = things.ok(things.post("/records/thing", [{"name": "a"}, {"name": "b"}]), 201)["data"]
    ids = [r["id"] for r in made]
    things.ok(things.patch(f"/records/thing/{ids[0]}", {"size": 5}))
    things.ok(things.delete(f"/records/thing/{ids[1]}"))
    things.ok(things.post(f"/records/thing/{ids[1]}/restore"))
    events = [(e.event, e.record_ids, e.actor_id) for e in _events(runtime)]
    assert events == [("record.created", ids, 1), ("record.updated", [ids[0]], 1),
                      ("record.deleted", [ids[1]], 1), ("record.restored", [ids[1]], 1)]
    updated = _events(runtime)[1]
    # Written with the change; the background worker may have handed it on already.
    assert updated.payload == {"object": "thing", "changed": ["size"]}


def test_a_refused_write_leaves_no_event(things: Any, runtime: Any) -> None:
    assert things.post("/records/thing", {"size": "big"}).status_code == 422
    record = things.ok(things.post("/records/thing", {"size": 1}), 201)
    assert things.patch(f"/records/thing/{record['id']}", {"size": 2},
                        headers={"If-Match": '"9"'}).status_code == 412
    assert [e.event for e in _events(runtime)] == ["record.created"]


def test_unknown_hook_points_are_refused(runtime: Any) -> None:
    with pytest.raises(KeyError):
        runtime.hooks.add("before_everything", lambda batch: None)


@pytest.mark.parametrize("count", [1, 9, 17, 1000])
def test_a_batch_of_any_size_is_refused_for_a_unique_value_taken_at_any_place_in_it(
        api: Any, count: int) -> None:
    # The uniqueness check binds its values into statements of a few fixed sizes, padded
    # with repeats: the padding must neither hide the taken value nor invent another.
    api.ok(api.post("/meta/objects", {"api_name": "coded", "label": "Coded", "fields": [
        {"api_name": "code", "label": "Code", "type": "text", "unique": True}]}), 201)
    api.ok(api.post("/records/coded", {"code": "TAKEN"}), 201)
    batch = [{"code": f"C{i}"} for i in range(count - 1)] + [{"code": "TAKEN"}]
    refused = api.post("/records/coded", batch)
    assert refused.status_code == 409
    assert [(e["row"], e["code"]) for e in refused.json()["errors"]] == [(count - 1, "not_unique")]
    if count > 1:  # the others are free: nothing refuses them
        assert len(api.ok(api.post("/records/coded", batch[:-1]), 201)["data"]) == count - 1
