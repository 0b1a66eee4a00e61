"""Installing plugins: a stable order, the plugin API each declares, two plugins with one
name, and failures — an import error, an exception in install — that leave Tessera running
without the plugin and with nothing it registered; on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.formula.functions import registry as functions
from tessera.meta.fieldtypes import field_types
from tessera.runtime.platform import Platform

from .conftest import PluginMaker

SYSTEM = Actor.system()
TYPE = '''
PLUGIN_API = 1
import sqlalchemy as sa
from tessera.meta.fieldtypes import FieldType, register


class Shared(FieldType):
    name = "{name}"
    label = "Shared"

    def column_type(self, field):
        return sa.Text()

    def value_schema(self, field):
        return {{"type": "string"}}

    def coerce(self, field, value):
        return value


def install(platform):
    register(Shared)
    {more}
'''


def _plugin(name: str = "shared_type", more: str = "pass") -> str:
    return TYPE.format(name=name, more=more)


def _report(rt: Platform, name: str) -> dict[str, Any]:
    return next(p for p in rt.plugins.list(SYSTEM)["plugins"] if p["name"] == name)


def test_plugins_install_in_a_stable_order_and_say_what_they_provide(
        make_plugin: PluginMaker, plugged: Callable[..., Platform]) -> None:
    second = make_plugin("zeta", _plugin("zeta_type"))
    first = make_plugin("alpha", _plugin("alpha_type"))
    rt = plugged(second, first)
    listed = rt.plugins.list(SYSTEM)["plugins"]
    assert [p["name"] for p in listed] == ["alpha", "zeta"]
    assert [p["status"] for p in listed] == ["loaded", "loaded"]
    assert listed[0]["provides"] == ["field type alpha_type"] and listed[0]["plugin_api"] == 1
    assert {"alpha_type", "zeta_type"} <= set(field_types())


def test_two_plugins_registering_one_name_is_an_error_naming_both(
        make_plugin: PluginMaker, plugged: Callable[..., Platform]) -> None:
    rt = plugged(make_plugin("bank_a", _plugin("money_type")),
                 make_plugin("bank_b", _plugin("money_type", "platform.jobs.register('bank_b.job', print)")))
    assert _report(rt, "bank_a")["status"] == "loaded"
    second = _report(rt, "bank_b")
    assert second["status"] == "failed"
    assert "'money_type' is already registered by plugin 'bank_a'; plugin 'bank_b' registers it too" in second["error"]
    assert "money_type" in field_types()  # bank_a's stays


def test_a_name_tessera_has_is_refused_naming_tessera(make_plugin: PluginMaker,
                                                      plugged: Callable[..., Platform]) -> None:
    rt = plugged(make_plugin("shadow", _plugin("text")))
    report = _report(rt, "shadow")
    assert report["status"] == "failed" and "registered by Tessera; plugin 'shadow' registers it too" in report["error"]
    assert field_types()["text"].label == "Text"


@pytest.mark.parametrize(("declared", "expected"), [
    ("PLUGIN_API = 2", "it needs plugin API 2; this Tessera offers plugin API 1"),
    ("", "it declares no PLUGIN_API (this Tessera offers plugin API 1)"),
])
def test_a_plugin_for_another_plugin_api_is_refused(make_plugin: PluginMaker, plugged: Callable[..., Platform],
                                                    declared: str, expected: str) -> None:
    source = _plugin("future_type").replace("PLUGIN_API = 1", declared)
    rt = plugged(make_plugin("future", source))
    report = _report(rt, "future")
    assert report["status"] == "refused" and report["error"] == expected
    assert "future_type" not in field_types()


def test_a_plugin_that_fails_while_installing_is_taken_out_and_tessera_runs(
        make_plugin: PluginMaker, plugged: Callable[..., Platform]) -> None:
    source = '''
    PLUGIN_API = 1
    from decimal import Decimal
    from tessera.formula import Function, register, sig


    def shout(batch):
        raise AssertionError("a hook of a failed plugin ran")


    def install(platform):
        register(Function(name="HALF", category="plugins", signature="HALF(x)", doc="x / 2",
                          typer=sig("number", returns="number"), python=lambda x: x / 2))
        platform.hooks.add("validate", shout)
        platform.events.subscribe("record.*", lambda conn, event: None, name="broken.events")
        platform.jobs.register("broken.job", print)
        raise RuntimeError("the ERP is not reachable")
    '''
    good = make_plugin("good", _plugin("good_type"))
    rt = plugged(make_plugin("broken", source), good)
    report = _report(rt, "broken")
    assert report["status"] == "failed" and report["error"] == "RuntimeError: the ERP is not reachable"
    assert functions.get("HALF") is None
    assert all(s.name != "broken.events" for s in rt.events.subscriptions)
    assert "broken.job" not in rt.jobs._work
    assert _report(rt, "good")["status"] == "loaded"
    rt.metadata.create_object(SYSTEM, {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "body", "label": "Body", "type": "text"}]})
    assert rt.records.create(SYSTEM, "note", {"body": "saved: the failed plugin's hook is gone"})["id"]


def test_a_plugin_that_cannot_be_imported_is_reported(make_plugin: PluginMaker,
                                                      plugged: Callable[..., Platform]) -> None:
    rt = plugged(make_plugin("typo", "PLUGIN_API = 1\nimport tessera_no_such_module\n"))
    report = _report(rt, "typo")
    assert report["status"] == "failed" and "No module named 'tessera_no_such_module'" in report["error"]


def test_an_entry_point_that_is_not_callable_is_refused(make_plugin: PluginMaker,
                                                        plugged: Callable[..., Platform]) -> None:
    rt = plugged(make_plugin("odd", "PLUGIN_API = 1\ninstall = 42\n"))
    report = _report(rt, "odd")
    assert report["status"] == "refused" and "is not a callable install(platform)" in report["error"]


def test_only_admins_see_the_plugins(make_plugin: PluginMaker, plugged: Callable[..., Platform]) -> None:
    from tessera.errors import Forbidden

    rt = plugged()
    with pytest.raises(Forbidden):
        rt.plugins.list(Actor(user_id=7))


def test_a_plugins_pages_jobs_and_hooks_come_in_through_the_same_door(
        make_plugin: PluginMaker, plugged: Callable[..., Platform]) -> None:
    from fastapi.testclient import TestClient

    from tessera.app import create_app

    source = '''
    PLUGIN_API = 1
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse

    pages = APIRouter()
    SEEN = []


    @pages.get("/hello", response_class=HTMLResponse)
    def hello():
        return "<h1>Hello from a plugin</h1>"


    def count(ctx):
        return {"counted": ctx.params["n"]}


    def install(platform):
        platform.plugin_host.add_pages(pages)
        platform.jobs.register("pages.count", count)
        platform.hooks.add("after_write", lambda batch: SEEN.append(batch.obj.api_name))
    '''
    entry = make_plugin("pages", source)
    rt = plugged(entry)
    report = _report(rt, "pages")
    assert report["status"] == "loaded"
    assert set(report["provides"]) == {"job kind pages.count", "pages /plugins/pages"}
    with TestClient(create_app(rt)) as client:
        answer = client.get("/plugins/pages/hello")
    assert answer.status_code == 200 and "Hello from a plugin" in answer.text
    with rt.write() as conn:
        job = rt.jobs.submit(conn, "pages.count", {"n": 3}, title="Count")
    assert rt.jobs.wait(job)["result"] == {"counted": 3}
    rt.metadata.create_object(SYSTEM, {"api_name": "memo", "label": "Memo", "fields": [
        {"api_name": "body", "label": "Body", "type": "text"}]})
    rt.records.create(SYSTEM, "memo", {"body": "seen by the plugin's hook"})
    assert sys.modules[entry.module].SEEN == ["memo"]
