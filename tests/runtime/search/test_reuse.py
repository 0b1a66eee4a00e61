"""What a search keeps between searches — its ranking statements (by metadata revision,
object, visible fields and query shape) and that no index is being rebuilt at a revision —
never serves another query's words, another reader's rows or fields, or an old revision:
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tessera.runtime.platform import Platform

from .conftest import SYSTEM, person, titles


def test_a_query_of_the_same_shape_finds_its_own_words(rt: Platform) -> None:
    rt.records.create(SYSTEM, "account", {"name": "Acme", "city": "Boston"})
    rt.records.create(SYSTEM, "account", {"name": "Globex", "city": "Porto"})
    rt.records.create(SYSTEM, "article", {"title": "客户管理", "body": "服务流程"})
    assert titles(rt.search.search(SYSTEM, "acme boston")) == ["Acme"]
    assert titles(rt.search.search(SYSTEM, "globex porto")) == ["Globex"]
    assert titles(rt.search.search(SYSTEM, "acme porto")) == []
    assert titles(rt.search.search(SYSTEM, "客户")) == ["客户管理"]
    assert titles(rt.search.search(SYSTEM, "流程")) == ["客户管理"]
    assert titles(rt.search.search(SYSTEM, "销售")) == []
    assert titles(rt.search.search(SYSTEM, "acme -boston")) == []
    assert titles(rt.search.search(SYSTEM, "globex -boston")) == ["Globex"]


def test_a_statement_made_for_one_reader_keeps_to_the_rows_and_fields_of_the_next(rt: Platform) -> None:
    rt.records.create(SYSTEM, "article", {"title": "Harbour crane", "internal_note": "secret discount"})
    rep = person(rt, "rep@example.com", {"article": {"read": "own", "create": True, "edit": "own",
                                                     "fields": {"internal_note": "hidden"}}})
    rt.records.create(SYSTEM, "article", {"title": "My crane", "internal_note": "secret too", "owner": rep.user_id})
    assert sorted(titles(rt.search.search(SYSTEM, "crane"))) == ["Harbour crane", "My crane"]
    assert titles(rt.search.search(rep, "crane")) == ["My crane"]
    assert sorted(titles(rt.search.search(SYSTEM, "secret"))) == ["Harbour crane", "My crane"]
    assert titles(rt.search.search(rep, "secret")) == []
    assert sorted(titles(rt.search.search(SYSTEM, "crane"))) == ["Harbour crane", "My crane"]


def test_a_field_hidden_after_a_search_no_longer_finds_records(rt: Platform) -> None:
    rt.records.create(SYSTEM, "article", {"title": "Harbour crane", "internal_note": "secret discount"})
    rep = person(rt, "rep@example.com", {"article": {"read": "all"}})
    assert titles(rt.search.search(rep, "secret")) == ["Harbour crane"]
    rt.users.roles.update(SYSTEM, "rep", {"permissions": {"article": {"read": "all", "fields": {
        "internal_note": "hidden"}}}}, rt.snapshot)
    rep = rt.users.actor_for_user(rep.user_id)
    assert titles(rt.search.search(rep, "secret")) == []
    assert titles(rt.search.search(rep, "crane")) == ["Harbour crane"]


def test_a_rebuild_started_after_a_search_is_still_reported_incomplete(rt: Platform,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt.jobs, "dispatch", lambda job_id: None)  # no worker runs it: the rebuild stays queued
    rt.records.create(SYSTEM, "account", {"name": "Acme", "city": "Boston"})
    assert rt.search.search(SYSTEM, "boston")["incomplete"] == []
    rt.metadata.update_field(SYSTEM, "account", "city", {"search_weight": "low"})
    assert rt.search.search(SYSTEM, "boston")["incomplete"] == ["account"]
    assert rt.search.search(SYSTEM, "boston")["incomplete"] == ["account"]
