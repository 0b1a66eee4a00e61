"""Stored formula fields: a real column kept equal to the formula computed in the query,
through saves, lookups, rollups, deletes with their cascades, restores and formula changes
(recomputed by a background job with progress)."""

from __future__ import annotations

import random
from typing import Any

import pytest

ACCOUNT = {"api_name": "account", "label": "Account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "region", "label": "Region", "type": "lookup", "target": "region", "related_name": "accounts"},
]}
REGION = {"api_name": "region", "label": "Region", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "code", "label": "Code", "type": "text"},
]}
DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": "new"}, {"value": "won"}, {"value": "lost"}]},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals",
     "on_delete": "set_null"},
]}
LINE = {"api_name": "line", "label": "Line", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "qty", "label": "Qty", "type": "integer"},
    {"api_name": "deal", "label": "Deal", "type": "lookup", "target": "deal", "related_name": "lines",
     "on_delete": "cascade"},
]}
#: (object, name, formula) pairs, each defined twice: stored, and computed in the query.
FORMULAS = [
    ("deal", "net", "amount * (1 - account.discount / 100)"),
    ("deal", "region_code", "account.region.code & \"-\" & stage"),
    ("deal", "units", "SUM(lines.qty)"),
    ("deal", "big", "amount > 1000"),
    ("account", "won", 'SUM(deals.amount, deals.stage = "won")'),
    ("account", "lines", "SUM(deals.units)"),
    ("account", "open_deals", 'COUNT(deals, deals.stage <> "won")'),
    ("region", "total", "SUM(accounts.won)"),
]


def _define(api: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL, LINE):
        api.ok(api.post("/meta/objects", doc), 201)
    # The computed twins first: a stored formula may read a computed one (deal.units).
    for obj, name, expression in FORMULAS:
        api.ok(api.post(f"/meta/objects/{obj}/fields",
                        {"api_name": name, "label": name, "type": "formula", "expression": expression}), 201)
    for obj, name, expression in FORMULAS:
        api.ok(api.post(f"/meta/objects/{obj}/fields",
                        {"api_name": f"{name}_s", "label": f"{name} stored", "type": "formula",
                         "expression": expression.replace("deals.units", "deals.units_s")
                         .replace("accounts.won", "accounts.won_s"), "store": True}), 201)


def _assert_in_step(api: Any, where: str) -> None:
    for obj in ("region", "account", "deal"):
        for record in api.ok(api.get(f"/records/{obj}", params={"limit": 1000}))["data"]:
            for o, name, _ in FORMULAS:
                if o == obj:
                    assert record[f"{name}_s"] == record[name], (where, obj, record["id"], name, record)


def test_stored_formulas_stay_equal_to_the_computed_ones_through_every_kind_of_write(api: Any) -> None:
    _define(api)
    rng = random.Random(7)
    regions = [api.ok(api.post("/records/region", {"name": f"R{i}", "code": f"C{i}"}), 201)["id"] for i in range(2)]
    accounts = [api.ok(api.post("/records/account", {"name": f"A{i}", "discount": str(5 * i),
                                                     "region": regions[i % 2]}), 201)["id"] for i in range(3)]
    deals: list[int] = []
    lines: list[int] = []
    trashed: list[tuple[str, int]] = []
    for step in range(60):
        action = rng.choice(["deal", "deal", "line", "line", "edit_deal", "move_deal", "edit_account",
                             "edit_region", "edit_line", "delete", "restore", "bulk_lines"])
        where = f"step {step}: {action}"
        # Writes may be refused (a record picked is in the trash); what matters is that the
        # stored values follow whatever was saved.
        if action == "deal" or not deals:
            made = api.post("/records/deal", {
                "name": f"D{step}", "amount": str(rng.randint(0, 3000)), "stage": rng.choice(["new", "won", "lost"]),
                "account": rng.choice([*accounts, None])})
            deals += [made.json()["id"]] if made.status_code == 201 else []
        elif action == "line":
            made = api.post("/records/line", {"name": f"L{step}", "qty": rng.randint(1, 9), "deal": rng.choice(deals)})
            lines += [made.json()["id"]] if made.status_code == 201 else []
        elif action == "bulk_lines":
            made = api.post("/records/line", [
                {"name": f"B{step}.{i}", "qty": rng.randint(1, 9), "deal": rng.choice(deals)} for i in range(5)])
            lines += [r["id"] for r in made.json()["data"]] if made.status_code == 201 else []
        elif action == "edit_deal":
            api.patch(f"/records/deal/{rng.choice(deals)}", {"amount": str(rng.randint(0, 3000)),
                                                               "stage": rng.choice(["new", "won", "lost"])})
        elif action == "move_deal":
            api.patch(f"/records/deal/{rng.choice(deals)}", {"account": rng.choice([*accounts, None])})
        elif action == "edit_account":
            api.patch(f"/records/account/{rng.choice(accounts)}", {"discount": str(rng.randint(0, 50)),
                                                                     "region": rng.choice(regions)})
        elif action == "edit_region":
            api.patch(f"/records/region/{rng.choice(regions)}", {"code": f"X{step}"})
        elif action == "edit_line" and lines:
            api.patch(f"/records/line/{rng.choice(lines)}", {"qty": rng.randint(1, 9), "deal": rng.choice(deals)})
        elif action == "delete":
            obj, pool = rng.choice([("deal", deals), ("line", lines), ("account", accounts)])
            if pool:
                victim = rng.choice(pool)
                if api.delete(f"/records/{obj}/{victim}").status_code == 200:
                    trashed.append((obj, victim))
        elif action == "restore" and trashed:
            obj, victim = trashed.pop(rng.randrange(len(trashed)))
            api.post(f"/records/{obj}/{victim}/restore")
        _assert_in_step(api, where)


def test_a_stored_formula_added_to_a_table_with_records_is_filled_by_a_job_with_progress(api: Any,
                                                                                         runtime: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    acme = api.ok(api.post("/records/account", {"name": "Acme", "discount": "10"}), 201)
    api.ok(api.post("/records/deal", [{"name": f"D{i}", "amount": str(i), "account": acme["id"]}
                                           for i in range(1, 301)]), 201)
    field = api.ok(api.post("/meta/objects/deal/fields", {
        "api_name": "net", "label": "Net", "type": "formula", "expression": "amount * (1 - account.discount / 100)",
        "store": True, "indexed": True}), 201)
    job = field["jobs"][0]
    assert job["url"] == f"/api/v1/jobs/{job['id']}"
    done = runtime.jobs.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert (done["done"], done["total"], done["percent"]) == (300, 300, 100)
    shown = api.ok(api.get(f"/jobs/{job['id']}"))
    assert shown["status"] == "succeeded" and shown["result"]["records"] == 300
    page = api.ok(api.get("/records/deal", params={"sort": "-net", "limit": 2}))["data"]
    assert [d["net"] for d in page] == ["270", "269.1"]
    # A filter on the stored column, and the formula changed: recomputed again by a job.
    assert len(api.ok(api.get("/records/deal", params={"filter": "net > 250", "limit": 1000}))["data"]) == 23
    changed = api.ok(api.patch("/meta/objects/deal/fields/net", {"expression": "amount * 2"}))
    assert runtime.jobs.wait(changed["jobs"][0]["id"])["status"] == "succeeded"
    assert api.ok(api.get("/records/deal", params={"sort": "-net", "limit": 1}))["data"][0]["net"] == "600"


def test_a_stored_formula_added_to_an_object_without_records_queues_no_job(api: Any, runtime: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    net = {"label": "Net", "type": "formula", "expression": "amount * 2", "store": True}
    field = api.ok(api.post("/meta/objects/deal/fields", {"api_name": "net", **net}), 201)
    assert "jobs" not in field
    assert api.ok(api.post("/records/deal", {"name": "D", "amount": "4"}), 201)["net"] == "8"
    # A record in the trash is a record: restored, it must show the new formula's value.
    gone = api.ok(api.post("/records/account", {"name": "Acme", "discount": "10"}), 201)
    api.delete(f"/records/account/{gone['id']}")
    field = api.ok(api.post("/meta/objects/account/fields", {
        "api_name": "kept", "label": "Kept", "type": "formula", "expression": "100 - discount", "store": True}), 201)
    assert runtime.jobs.wait(field["jobs"][0]["id"])["status"] == "succeeded"
    api.post(f"/records/account/{gone['id']}/restore")
    assert api.ok(api.get(f"/records/account/{gone['id']}"))["kept"] == "90"


def test_changing_a_field_a_stored_formula_reads_recomputes_it_in_other_objects(api: Any, runtime: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/meta/objects/account/fields", {
        "api_name": "pipeline", "label": "Pipeline", "type": "rollup", "relation": "deals", "function": "sum",
        "field": "amount", "store": True}), 201)
    acme = api.ok(api.post("/records/account", {"name": "Acme"}), 201)
    api.ok(api.post("/records/deal", {"name": "D", "amount": "12.34", "account": acme["id"]}), 201)
    assert api.ok(api.get(f"/records/account/{acme['id']}"))["pipeline"] == "12.34"
    # Amount becomes an integer field: the stored sum must follow the converted values.
    changed = api.ok(api.patch("/meta/objects/deal/fields/amount", {"type": "decimal", "scale": 0}))
    assert runtime.jobs.wait(changed["jobs"][0]["id"])["status"] == "succeeded"
    assert api.ok(api.get(f"/records/account/{acme['id']}"))["pipeline"] == "12"


def test_stored_formulas_refuse_what_would_go_stale_and_circles(api: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    stale = api.post("/meta/objects/deal/fields", {"api_name": "age", "label": "Age", "type": "formula",
                                                   "expression": "TODAY() - DATE(2020, 1, 1)", "store": True})
    assert stale.status_code == 422
    assert stale.json()["errors"][0]["field"].endswith("/store")
    assert "TODAY()" in stale.json()["errors"][0]["message"]
    mine = api.post("/meta/objects/deal/fields", {"api_name": "mine", "label": "Mine", "type": "formula",
                                                  "expression": "$user.email", "store": True})
    assert mine.status_code == 422
    api.ok(api.post("/meta/objects/account/fields", {"api_name": "total", "label": "Total", "type": "formula",
                                                     "expression": "SUM(deals.amount)"}), 201)
    api.ok(api.post("/meta/objects/deal/fields", {"api_name": "share", "label": "Share", "type": "formula",
                                                  "expression": "amount / account.total"}), 201)
    circle = api.patch("/meta/objects/account/fields/total", {"expression": "SUM(deals.share)", "store": True})
    assert circle.status_code == 422, circle.text
    assert "circle" in circle.json()["errors"][0]["message"]
    required = api.post("/meta/objects/deal/fields", {"api_name": "r", "label": "R", "type": "formula",
                                                      "expression": "amount", "required": True})
    assert required.status_code == 422


def test_stored_formulas_can_be_switched_off_and_on_and_renamed(api: Any, runtime: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/meta/objects/deal/fields", {"api_name": "double", "label": "Double", "type": "formula",
                                                  "expression": "amount * 2"}), 201)
    deal = api.ok(api.post("/records/deal", {"name": "D", "amount": "5"}), 201)
    on = api.ok(api.patch("/meta/objects/deal/fields/double", {"store": True}))
    assert runtime.jobs.wait(on["jobs"][0]["id"])["status"] == "succeeded"
    assert api.ok(api.get(f"/records/deal/{deal['id']}"))["double"] == "10"
    api.ok(api.patch("/meta/objects/deal/fields/double", {"api_name": "twice"}))
    assert api.ok(api.patch(f"/records/deal/{deal['id']}", {"amount": "7"}))["twice"] == "14"
    text = api.ok(api.patch("/meta/objects/deal/fields/twice", {"expression": 'TEXT(amount) & "!"'}))
    assert text["formula_type"] == "text"
    assert runtime.jobs.wait(text["jobs"][0]["id"])["status"] == "succeeded"
    assert api.ok(api.get(f"/records/deal/{deal['id']}"))["twice"] == "7!"
    api.ok(api.patch("/meta/objects/deal/fields/twice", {"store": False}))
    assert api.ok(api.get(f"/records/deal/{deal['id']}"))["twice"] == "7!"


@pytest.mark.parametrize("expression,expected", [
    ("amount / 3", "0.333333"),
    ("ROUND(amount / 3, 2)", "0.33"),
    ("amount > 0", True),
    ('DATEADD(DATE(2026, 1, 31), 1, "month")', "2026-02-28"),
    ('DATETIME(2026, 1, 2, 3, 4, 5)', "2026-01-02T03:04:05Z"),
    ("BLANK()", None),
])
def test_stored_values_have_the_type_of_their_result(api: Any, expression: str, expected: Any) -> None:
    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/meta/objects/deal/fields", {"api_name": "f", "label": "F", "type": "formula",
                                                  "expression": expression, "store": True}), 201)
    assert api.ok(api.post("/records/deal", {"name": "D", "amount": "1"}), 201)["f"] == expected


def test_a_recompute_job_does_not_hold_up_the_api_between_its_batches(api: Any, runtime: Any,
                                                                       monkeypatch: Any) -> None:
    import threading

    from tessera.runtime.background.jobs import JobContext
    from tessera.runtime.records import stored

    for doc in (REGION, ACCOUNT, DEAL):
        api.ok(api.post("/meta/objects", doc), 201)
    api.ok(api.post("/records/deal", [{"name": f"D{i}", "amount": str(i)} for i in range(1, 1001)]), 201)
    monkeypatch.setattr(stored, "BATCH", 100)
    monkeypatch.setattr(stored, "MAX_BATCH", 100)
    halfway, resume = threading.Event(), threading.Event()
    report = JobContext.progress

    def paused(self: JobContext, done: int, total: int | None = None, message: str | None = None,
               *, force: bool = False) -> None:
        report(self, done, total, message, force=True)
        if done >= 500 and not halfway.is_set():
            halfway.set()
            resume.wait(30)

    monkeypatch.setattr(JobContext, "progress", paused)
    field = api.ok(api.post("/meta/objects/deal/fields", {"api_name": "triple", "label": "Triple",
                                                          "type": "formula", "expression": "amount * 3",
                                                          "store": True}), 201)
    assert halfway.wait(30)
    try:
        # Mid-job: the API reads and writes, and the job is still running.
        made = api.ok(api.post("/records/deal", {"name": "during", "amount": "7"}), 201)
        assert made["triple"] == "21"
        assert api.ok(api.get("/records/deal", params={"limit": 1, "sort": "-id"}))["data"][0]["name"] == "during"
        job = api.ok(api.get(f"/jobs/{field['jobs'][0]['id']}"))
        assert job["status"] == "running" and 0 < job["done"] < job["total"]
    finally:
        resume.set()
    assert runtime.jobs.wait(field["jobs"][0]["id"])["status"] == "succeeded"
    values = {d["name"]: d["triple"] for d in api.ok(api.get("/records/deal", params={"limit": 1000}))["data"]}
    assert values["D1000"] == "3000" and values["D1"] == "3"
    assert api.ok(api.get(f"/records/deal/{made['id']}"))["triple"] == "21"
