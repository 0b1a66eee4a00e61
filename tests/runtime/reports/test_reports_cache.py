"""Report result caching on SQLite and PostgreSQL, in process and in Redis: the second run
of a report is a hit; a write to the report's object, or to a lookup target the report
reads, is a miss with fresh numbers; a write elsewhere keeps the hit; callers with
different row scopes never share a result; reports that read the clock are not cached."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.runtime.reports.service import MemoryCache, RedisCache, cache_for
from tessera.settings import Settings

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "industry", "label": "Industry", "type": "select",
     "options": [{"value": "retail"}, {"value": "tech"}]},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
]}
NOTE = {"api_name": "note", "label": "Note", "fields": [
    {"api_name": "title", "label": "Title", "type": "text", "required": True}]}
SALES = {"api_name": "sales", "label": "Sales", "permissions": {
    "deal": {"create": True, "read": "own", "edit": "own", "delete": "none"},
    "account": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}
BY_INDUSTRY = {"api_name": "r", "label": "R", "object": "deal", "group_by": [{"field": "account.industry"}],
               "measures": [{"name": "deals", "function": "count"},
                            {"name": "total", "function": "sum", "field": "amount"}]}
FUNNEL = {"api_name": "f", "label": "F", "object": "deal", "type": "funnel", "field": "stage"}


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, runtime: Platform) -> Iterator[str]:
    """The runtime's report cache: in process, or Redis under a prefix of this test's own."""
    if request.param == "redis":
        cache = RedisCache(request.getfixturevalue("redis_url"), prefix=f"tessera:test:{secrets.token_hex(6)}:")
        runtime.reports.cache = cache
        yield "redis"
        cache.clear()
        return
    assert isinstance(runtime.reports.cache, MemoryCache)
    yield "memory"


@pytest.fixture
def crm(runtime: Platform, store: str) -> dict[str, Any]:
    system = Actor.system()
    for doc in (ACCOUNT, DEAL, NOTE):
        runtime.metadata.create_object(system, doc)
    runtime.users.roles.create(system, SALES, runtime.snapshot)
    reps = []
    for i in range(2):
        rep = runtime.users.accounts.add(system, {"email": f"rep{i}@example.com", "name": f"Rep {i}",
                                                  "password": "a-long-password", "roles": ["sales"]})
        reps.append(rep["id"] if isinstance(rep, dict) else rep)
    accounts = [runtime.records.create(system, "account", {"name": n, "industry": i})
                for n, i in (("Acme", "retail"), ("Globex", "tech"))]
    deals = [runtime.records.create(system, "deal", {"name": f"D{n}", "amount": str(100 * (n + 1)),
                                                     "stage": ("open", "won", "lost")[n % 3],
                                                     "account": accounts[n % 2]["id"], "owner": reps[n % 2]})
             for n in range(6)]
    return {"reps": reps, "accounts": accounts, "deals": deals}


def run(runtime: Platform, doc: dict[str, Any], actor: Actor | None = None, **params: Any) -> dict[str, Any]:
    return runtime.reports.run(actor or Actor.system(), doc, **params)


def counts(result: dict[str, Any]) -> dict[Any, str]:
    return {r.get("account_industry", r.get("stage")): r.get("deals", r.get("reached")) for r in result["rows"]}


def test_the_second_run_comes_from_the_cache(runtime: Platform, crm: dict[str, Any]) -> None:
    first, second = run(runtime, BY_INDUSTRY), run(runtime, BY_INDUSTRY)
    assert first["meta"] == {"cached": False} and second["meta"] == {"cached": True}
    assert {k: v for k, v in first.items() if k != "meta"} == {k: v for k, v in second.items() if k != "meta"}
    assert counts(second) == {"retail": "3", "tech": "3"}
    # Parameters are part of the key.
    narrowed = run(runtime, BY_INDUSTRY, filter="amount > 300")
    assert narrowed["meta"]["cached"] is False and counts(narrowed) == {"retail": "1", "tech": "2"}
    assert run(runtime, BY_INDUSTRY, filter="amount > 300")["meta"]["cached"] is True


def test_a_write_to_the_reports_object_is_a_miss_with_fresh_numbers(runtime: Platform, crm: dict[str, Any]) -> None:
    run(runtime, BY_INDUSTRY)
    deal = crm["deals"][0]
    runtime.records.update(Actor.system(), "deal", deal["id"], {"amount": "5000"}, deal["version"])
    fresh = run(runtime, BY_INDUSTRY)
    assert fresh["meta"]["cached"] is False
    assert {r["account_industry"]: r["total"] for r in fresh["rows"]} == {"retail": "5800", "tech": "1200"}
    assert run(runtime, BY_INDUSTRY)["meta"]["cached"] is True
    runtime.records.delete(Actor.system(), "deal", crm["deals"][1]["id"])
    assert counts(run(runtime, BY_INDUSTRY)) == {"retail": "3", "tech": "2"}


def test_a_write_to_a_lookup_target_the_report_reads_is_a_miss(runtime: Platform, crm: dict[str, Any]) -> None:
    assert counts(run(runtime, BY_INDUSTRY)) == {"retail": "3", "tech": "3"}
    acme = crm["accounts"][0]
    runtime.records.update(Actor.system(), "account", acme["id"], {"industry": "tech"}, acme["version"])
    fresh = run(runtime, BY_INDUSTRY)
    assert fresh["meta"]["cached"] is False and counts(fresh) == {"tech": "6"}


def test_a_write_to_an_object_the_report_does_not_read_keeps_the_hit(runtime: Platform,
                                                                     crm: dict[str, Any]) -> None:
    run(runtime, BY_INDUSTRY)
    runtime.records.create(Actor.system(), "note", {"title": "unrelated"})
    assert run(runtime, BY_INDUSTRY)["meta"]["cached"] is True
    # A report on deals alone does not read accounts: an account write keeps its hit too.
    by_stage = {**BY_INDUSTRY, "group_by": [{"field": "stage"}]}
    run(runtime, by_stage)
    acme = crm["accounts"][0]
    runtime.records.update(Actor.system(), "account", acme["id"], {"name": "Acme Inc"}, acme["version"])
    assert run(runtime, by_stage)["meta"]["cached"] is True
    assert run(runtime, BY_INDUSTRY)["meta"]["cached"] is False


def test_users_with_different_scopes_never_share_a_cached_result(runtime: Platform, crm: dict[str, Any]) -> None:
    reps = [runtime.users.actor_for_user(r) for r in crm["reps"]]
    admin = run(runtime, BY_INDUSTRY)
    assert counts(run(runtime, BY_INDUSTRY)) == counts(admin)  # the admin's hit
    first = run(runtime, BY_INDUSTRY, reps[0])
    assert first["meta"]["cached"] is False and counts(first) == {"retail": "3"}
    second = run(runtime, BY_INDUSTRY, reps[1])
    assert second["meta"]["cached"] is False and counts(second) == {"tech": "3"}
    again = [run(runtime, BY_INDUSTRY, rep) for rep in reps]
    assert [a["meta"]["cached"] for a in again] == [True, True]
    assert [counts(a) for a in again] == [{"retail": "3"}, {"tech": "3"}]
    assert counts(run(runtime, BY_INDUSTRY)) == {"retail": "3", "tech": "3"}


def test_funnels_are_cached_and_a_stage_change_is_a_miss(runtime: Platform, crm: dict[str, Any]) -> None:
    assert counts(run(runtime, FUNNEL)) == {"open": "6", "won": "4", "lost": "2"}
    assert run(runtime, FUNNEL)["meta"]["cached"] is True
    deal = crm["deals"][0]  # open → lost: it reached every stage now
    runtime.records.update(Actor.system(), "deal", deal["id"], {"stage": "lost"}, deal["version"])
    fresh = run(runtime, FUNNEL)
    assert fresh["meta"]["cached"] is False and counts(fresh) == {"open": "6", "won": "5", "lost": "3"}
    rep = runtime.users.actor_for_user(crm["reps"][0])
    assert run(runtime, FUNNEL, rep)["meta"]["cached"] is False


def test_reports_that_read_the_clock_are_not_cached(runtime: Platform, crm: dict[str, Any]) -> None:
    doc = {**BY_INDUSTRY, "filter": "ISBLANK(close_date) OR close_date < TODAY()"}
    assert run(runtime, doc)["meta"]["cached"] is False
    assert run(runtime, doc)["meta"]["cached"] is False


def test_drill_and_export_work_beside_the_cache(runtime: Platform, crm: dict[str, Any]) -> None:
    run(runtime, BY_INDUSTRY)
    csv_text = runtime.reports.export(Actor.system(), BY_INDUSTRY, "csv").decode()
    assert csv_text.splitlines()[-1] == "Total,6,2100"
    found = runtime.reports.drill(Actor.system(), BY_INDUSTRY, {"account_industry": "tech"})
    assert len(runtime.records.list(Actor.system(), "deal", filter=found["filter"])["data"]) == 3


def test_the_cache_is_redis_when_the_platform_has_one(tmp_path: Any, request: pytest.FixtureRequest) -> None:
    assert isinstance(cache_for(Settings(database_url=f"sqlite:///{tmp_path}/x.db")), MemoryCache)
    redis_url = request.getfixturevalue("redis_url")  # skipped without Redis on a laptop, failed in CI
    cache = cache_for(Settings(database_url=f"sqlite:///{tmp_path}/x.db", redis_url=redis_url))
    assert isinstance(cache, RedisCache)
    cache.prefix = f"tessera:test:{secrets.token_hex(6)}:"
    cache.put("k", {"rows": [{"a": "1"}]})
    assert cache.get("k") == {"rows": [{"a": "1"}]} and cache.get("other") is None
    cache.clear()
    assert cache.get("k") is None


def test_a_redis_that_is_down_is_a_miss_not_an_error(runtime: Platform, crm: dict[str, Any]) -> None:
    runtime.reports.cache = RedisCache("redis://127.0.0.1:1/0")
    assert [run(runtime, BY_INDUSTRY)["meta"]["cached"] for _ in range(2)] == [False, False]


def test_the_memory_cache_forgets_the_least_recently_used_first() -> None:
    cache = MemoryCache(entries=2)
    cache.put("a", {"n": 1})
    cache.put("b", {"n": 2})
    assert cache.get("a") == {"n": 1}
    cache.put("c", {"n": 3})
    assert cache.get("b") is None and cache.get("a") == {"n": 1} and cache.get("c") == {"n": 3}


def test_a_stored_rollup_is_fresh_after_a_write_to_the_records_it_sums(runtime: Platform,
                                                                       crm: dict[str, Any]) -> None:
    system = Actor.system()
    added = runtime.metadata.add_field(system, "account", {
        "api_name": "pipeline", "label": "Pipeline", "type": "rollup", "relation": "deals", "function": "sum",
        "field": "amount", "store": True})
    for job in added.get("jobs", []):
        assert runtime.jobs.wait(job["id"])["status"] == "succeeded"
    doc = {"api_name": "p", "label": "P", "object": "account",
           "measures": [{"name": "pipeline", "function": "sum", "field": "pipeline"}]}
    before = run(runtime, doc)
    assert before["rows"] == [{"pipeline": "2100"}] and run(runtime, doc)["meta"]["cached"] is True
    deal = crm["deals"][0]  # a deal write changes the account's stored column, not its outbox
    runtime.records.update(system, "deal", deal["id"], {"amount": "1100"}, deal["version"])
    after = run(runtime, doc)
    assert after["meta"]["cached"] is False and after["rows"] == [{"pipeline": "3100"}]


def test_a_write_still_open_is_never_served_stale(runtime: Platform, crm: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from tessera.data import outbox

    run(runtime, BY_INDUSTRY)
    assert run(runtime, BY_INDUSTRY)["meta"]["cached"] is True
    with runtime.kernel.read() as conn:
        deal_uid = runtime.kernel.snapshot(conn).object("deal").uid
    postgres = runtime.engine.dialect.name == "postgresql"
    with runtime.engine.connect() as conn:
        open_write = conn.begin()
        # A record write under way: its outbox id is drawn (PostgreSQL hands ids out before
        # commit) and it may commit after newer ids did.
        outbox.emit(conn, "record.updated", deal_uid, [crm["deals"][0]["id"]], {"object": "deal"}, None,
                    datetime.now(UTC))
        during = run(runtime, BY_INDUSTRY)
        # PostgreSQL: the open transaction is part of the version, so the cached result is
        # not served; SQLite: the writer holds the database, nothing new can be read yet.
        assert during["meta"]["cached"] is not postgres
        open_write.commit()
    after = run(runtime, BY_INDUSTRY)
    assert after["meta"]["cached"] is False
    assert run(runtime, BY_INDUSTRY)["meta"]["cached"] is True
