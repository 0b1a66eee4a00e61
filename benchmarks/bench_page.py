"""Benchmark 7: the server time of a record page.

`page_big` has 40 fields of mixed types and three child objects listed on its form
(related lists of 10 records each). Product: `runtime.forms.render(...)` for one record —
load the record, choose the form, work out every placement's state, read the related
lists, render every widget and the layout. Floor: the same Jinja templates rendered by the
same renderer from a context computed beforehand (the record, the state, the related rows
and the lookup names), so the ratio is everything the page does besides templating.
"""

from __future__ import annotations

from benchmarks.common import Result, Setup, at_most, interleaved_medians
from tessera.auth.actor import Actor
from tessera.forms.html import FormUrls

OBJECT = "page_big"
KINDS = ["text", "integer", "decimal", "currency", "date", "datetime", "boolean", "email", "url", "long_text"]


def _define(setup: Setup) -> int:
    rt, system = setup.runtime, Actor.system()
    fields = [{"api_name": "name", "label": "Name", "type": "text", "required": True}]
    for i in range(1, 36):
        kind = KINDS[i % len(KINDS)]
        fields.append({"api_name": f"f{i}", "label": f"Field {i}", "type": kind})
    fields += [
        {"api_name": "stage", "label": "Stage", "type": "select",
         "options": [{"value": v} for v in ("new", "open", "won", "lost")]},
        {"api_name": "tags", "label": "Tags", "type": "multi_select", "options": [{"value": v} for v in "abcd"]},
        {"api_name": "owner_user", "label": "Owner", "type": "user"},
        {"api_name": "score", "label": "Score", "type": "formula", "expression": "f1 * 2"},
    ]
    rt.metadata.create_object(system, {"api_name": OBJECT, "label": "Big", "fields": fields})
    sections = [{"label": "Details", "columns": [{"fields": [{"field": f["api_name"]} for f in fields[0::2]]},
                                                 {"fields": [{"field": f["api_name"]} for f in fields[1::2]]}]}]
    for n in range(3):
        child = f"page_child{n}"
        rt.metadata.create_object(system, {"api_name": child, "label": f"Child {n}", "fields": [
            {"api_name": "name", "label": "Name", "type": "text", "required": True},
            {"api_name": "amount", "label": "Amount", "type": "currency"},
            {"api_name": "parent", "label": "Parent", "type": "lookup", "target": OBJECT,
             "related_name": f"children{n}"}]})
        sections.append({"label": f"Children {n}", "related": {"relation": f"children{n}",
                                                               "columns": ["name", "amount"]}})
    rt.documents.create(system, "forms", {"api_name": "big_form", "label": "Big", "object": OBJECT,
                                          "sections": sections})
    record = {"name": "The record", "stage": "open", "tags": ["a", "c"], "owner_user": setup.actor.user_id}
    for f in fields[1:36]:
        record[f["api_name"]] = {"text": "text", "integer": 7, "decimal": "1.5", "currency": "12.50",
                                 "date": "2026-01-02", "datetime": "2026-01-02T03:04:05Z", "boolean": True,
                                 "email": "a@example.com", "url": "https://example.com",
                                 "long_text": "lines\nof text"}[f["type"]]
    made = rt.records.create(system, OBJECT, record)
    for n in range(3):
        rt.records.bulk_create(system, f"page_child{n}", [{"name": f"Child {n}.{i}", "amount": f"{i}.00",
                                                           "parent": made["id"]} for i in range(10)])
    return int(made["id"])


def run(setup: Setup, repeat: int) -> list[Result]:
    rt, actor = setup.runtime, setup.actor
    record_id = _define(setup)
    urls = FormUrls(submit=f"/app/{OBJECT}/save", state=f"/app/{OBJECT}/form-state")
    forms = rt.forms
    stored = rt.records.get(actor, OBJECT, record_id)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        obj = snap.object(OBJECT)
        filling = forms._fill(conn, snap, actor, obj, None, stored, {})
    related = forms._related(actor, snap, obj, filling.form, record_id)
    displays = forms._displays(actor, snap, obj, filling)
    if len(related) != 3 or any(len(r.rows) != 10 for r in related.values()):
        raise RuntimeError("the page does not show its three related lists")

    def product() -> str:
        return forms.render(actor, OBJECT, record_id=record_id, urls=urls)

    def floor() -> str:
        return forms.renderer.form(filling.form, obj, filling.record, filling.state, urls, displays=displays,
                                   related=related, record_id=record_id, version=stored["version"])

    if product() != floor():
        raise RuntimeError("the rendered page and the precomputed one differ")
    product_s, floor_s = interleaved_medians([product, floor], repeat)
    return [at_most("record page: 40 fields, 3 related lists", setup.backend, product_s, floor_s, 3.0)]
