"""Benchmark: the CRM template (`templates/crm`) — installed with its sample data, and its
account page with every related list.

- Install: product — `packages.submit(Actor.system(), crm, upgrade=False, demo=True)` and
  `jobs.wait(job)`, as `tessera demo` installs it: the check (the plan made and tried in a
  transaction rolled back), then the job (the metadata of the 18 objects, rules, flows,
  conversions, reports, dashboards, forms, roles and teams applied, the demo's people made,
  the sample records loaded in batches with their keys kept). The budget is absolute: at
  most 20 s on SQLite on this machine (issue #23). The package is read from its folder
  before the clock starts. Beside it, on a database of its own, the same install without
  the sample data (the metadata's share), so the records' share is the difference.
  Floor: the same sample records loaded with `records.create_many` into the CRM installed
  without them (the demo's people made first, untimed): object by object in the order the
  package loads them, the values worked out beforehand (dates from the install day, people
  by e-mail), each object's keys turned into the ids `create_many` gave back, lookups that
  go round in a circle set afterwards with `records.update` — the very save pipeline the
  package loads through (validation, formulas, rules), without the package's bookkeeping.
  Printed: the install against the budget, then the whole install and the records' share
  each against the floor (information: the metadata dominates the first).
- Account page: product — `forms.render(actor, "account", record_id=…)` for the sample
  account with the most related records, on the account's form (the package's, else one
  placing every related list of the account) — load the record, choose the form, work out
  every placement's state, read every related list, render. Floor: the record-page floor of
  `bench_page` — the same renderer called with the very arguments the product passed it
  (captured once), so the ratio is everything the page does besides templating. Target:
  at most 2x (issue #23). Timed once the install's background work (its records' events,
  moved along by the in-process worker) has settled.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.bench_packages import fresh as empty
from benchmarks.common import ADMIN_EMAIL, ADMIN_PASSWORD, Result, Setup, at_most, interleaved_medians
from tessera.auth.actor import Actor
from tessera.data.tables import package_records, packages, users
from tessera.forms.html import FormUrls
from tessera.packages import people, sample_history, samples
from tessera.packages.apply import _data_order
from tessera.packages.files import Package, read_folder
from tessera.runtime.platform import Platform

log = logging.getLogger(__name__)
CRM = Path(__file__).resolve().parents[1] / "templates" / "crm"
INSTALL_BUDGET = 20.0
PAGE_TARGET = 2.0
SHOWCASE = "Harbor Bank"


@contextmanager
def fresh(backend: str) -> Iterator[Platform]:
    """A platform on a new database of its own, migrated, with an admin and nothing else."""
    with empty(backend) as runtime:
        runtime.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield runtime


def read(rt: Platform) -> Package:
    return read_folder(CRM, frozenset(rt.packages.kinds()))


def install(rt: Platform, package: Package, *, sample_data: bool) -> float:
    """Seconds from submit to the finished job."""
    start = time.perf_counter()
    job, _ = rt.packages.submit(Actor.system(), package, upgrade=False, sample_data=sample_data, demo=sample_data)
    row = rt.jobs.wait(job)
    spent = time.perf_counter() - start
    if row["status"] != "succeeded":
        raise RuntimeError(f"the CRM install {row['status']}: {row.get('error') or row.get('message')}")
    return spent


def floor_load(rt: Platform, package: Package) -> tuple[float, int, float]:
    """Seconds to load the package's sample records with `create_many` (values worked out
    before the clock starts, lookups by key turned into ids as the objects are made), how
    many, and the seconds the demo's people took to make before (not in the floor)."""
    actor = Actor.system()
    start = time.perf_counter()
    people.make_people(rt.users, actor, package, rt.settings.demo_password)
    made_people = time.perf_counter() - start
    files = list(package.data)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        moment = conn.execute(sa.select(packages.c.installed_at).where(packages.c.name == package.name)).scalar()
        emails = sorted(samples.emails(files))
        who = {str(r.email): int(r.id) for r in conn.execute(
            sa.select(users.c.email, users.c.id).where(users.c.email.in_(emails)))}
    install_at = samples.Install.at(moment, rt.settings.time_zone, who)
    order = _data_order(files, snap)

    def worked_out(obj: Any, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in record.items():
            # A record's past (its stage history) is the install's extra: the floor loads the records.
            if name == "key" or (name == sample_history.KEY and sample_history.takes_history(obj)):
                continue
            ftype, fdef = samples.field_type(obj, name)
            found = samples.special(value)
            if found is not None and ftype is not None:
                made = samples.value(ftype, found, install_at)
                if made is not samples.OMITTED:
                    out[name] = made
            elif fdef is not None and fdef.type == "child_table":
                child = snap.objects[str(fdef.props["target"])]
                out[name] = [worked_out(child, line) for line in value]
            else:
                out[name] = value
        return out

    prepared = []
    for item in order:
        obj = snap.object(str(item.body["object"]))
        prepared.append((obj, [(r["key"], worked_out(obj, r)) for r in item.body["records"]]))

    def ids(obj: Any, value: dict[str, Any], known: dict[tuple[str, str], int],
            later: dict[str, tuple[str, str]]) -> dict[str, Any]:
        out = {}
        for name, v in value.items():
            fdef = obj.field(name) or obj.line_field(name)
            if fdef is not None and fdef.type == "lookup" and isinstance(v, dict):
                target = str(fdef.props["target"])
                if (target, v["key"]) in known:
                    out[name] = known[(target, v["key"])]
                else:
                    later[name] = (target, v["key"])
            elif fdef is not None and fdef.type == "child_table":
                child = snap.objects[str(fdef.props["target"])]
                out[name] = [ids(child, line, known, {}) for line in v]
            else:
                out[name] = v
        return out

    start = time.perf_counter()
    known: dict[tuple[str, str], int] = {}
    deferred: list[tuple[str, int, dict[str, tuple[str, str]]]] = []
    count = 0
    for obj, records in prepared:
        items, waits = [], []
        for _key, value in records:
            later: dict[str, tuple[str, str]] = {}
            items.append(ids(obj, value, known, later))
            waits.append(later)
        made = rt.records.create_many_ids(actor, obj.api_name, items)
        count += len(made)
        for (key, _), record_id, later in zip(records, made, waits, strict=True):
            known[(obj.api_name, key)] = record_id
            if later:
                deferred.append((obj.api_name, record_id, later))
    for name, record_id, later in deferred:
        rt.records.update(actor, name, record_id, {f: known[t] for f, t in later.items()}, None)
    return time.perf_counter() - start, count, made_people


def loaded(rt: Platform) -> int:
    with rt.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(package_records)).scalar_one())


def run(setup: Setup, repeat: int, page_repeat: int) -> list[Result]:
    backend = setup.backend
    totals: list[float] = []
    metadata: list[float] = []
    floors: list[float] = []
    people_s: list[float] = []
    records = 0
    with fresh(backend) as rt:  # untimed: imports and caches warm
        install(rt, read(rt), sample_data=False)
    for n in range(repeat):
        for side in (("floor", "product") if n % 2 == 0 else ("product", "floor")):
            with fresh(backend) as rt:
                package = read(rt)
                if side == "product":
                    totals.append(install(rt, package, sample_data=True))
                    records = loaded(rt)
                    if n == repeat - 1:
                        page = account_page(rt, backend, page_repeat)
                else:
                    metadata.append(install(rt, package, sample_data=False))
                    spent, count, made_people = floor_load(rt, package)
                    floors.append(spent)
                    people_s.append(made_people)
                    if records and count != records:
                        raise RuntimeError(f"the floor loaded {count} records, the package {records}")
    total, floor, bare = statistics.median(totals), statistics.median(floors), statistics.median(metadata)
    data = max(total - bare, 1e-9)
    setup.notes.append(
        f"crm ({backend}): installs with sample data {', '.join(f'{t:.2f}' for t in totals)} s; without "
        f"{', '.join(f'{t:.2f}' for t in metadata)} s; create_many floor {', '.join(f'{t:.2f}' for t in floors)} s; "
        f"{records} sample records; the demo's people (in the install, not in the floor) "
        f"{statistics.median(people_s):.2f} s.")
    what = f"crm: install template + {records} sample records"
    return [
        at_most(what, backend, total, INSTALL_BUDGET, 1.0, floor_label=f"{INSTALL_BUDGET:g} s budget"),
        Result(f"{what} vs create_many of the records", backend, f"{total * 1000:.0f} ms", f"{floor * 1000:.0f} ms",
               total / floor, "info", None),
        Result("crm: the sample records' share (install - install without)", backend, f"{data * 1000:.0f} ms",
               f"{floor * 1000:.0f} ms", data / floor, "info", None),
        page,
    ]


def _account_form(rt: Platform) -> str | None:
    """The account's form the package brings, or one placing every related list of the account."""
    if rt.documents.list("forms", object_name="account"):
        return None  # the page picks the object's form as it would for anyone
    obj = rt.metadata.get_object("account")
    related = []
    for other in rt.metadata.list_objects():
        for f in rt.metadata.get_object(other["api_name"])["fields"]:
            if f.get("type") == "lookup" and f.get("target") == "account" and f.get("related_name"):
                related.append({"label": f.get("related_label") or f["related_name"],
                                "related": {"relation": f["related_name"]}})
    sections = [{"label": "Details", "columns": [{"fields": [{"field": f["api_name"]} for f in obj["fields"]
                                                             if not f.get("system")][:20]}]}, *related]
    rt.documents.create(Actor.system(), "forms", {"api_name": "bench_account_page", "label": "Account",
                                                  "object": "account", "sections": sections})
    return "bench_account_page"


def account_page(rt: Platform, backend: str, repeat: int) -> Result:
    actor = Actor.system()
    # The install leaves its records' events for the background (after-save rules, …):
    # they are moved along first, so the page is timed alone.
    start = time.perf_counter()
    rt.scheduler.drain()
    settled = time.perf_counter() - start
    form = _account_form(rt)
    shown_form = form or rt.documents.list("forms", object_name="account")[0]["api_name"]
    # Harbor Bank: the sample account with something in every list (contacts, deals, quotes,
    # two contracts, orders, payments).
    accounts = rt.records.list(actor, "account", limit=1000, fields=["name"])["data"]
    record_id = next(int(a["id"]) for a in accounts if a["name"] == SHOWCASE)
    urls = FormUrls(submit="/app/account/save", state="/app/account/form-state")
    forms = rt.forms
    renderer = forms.renderer
    captured: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    original = renderer.form

    def capture(*args: Any, **kwargs: Any) -> str:
        captured.append((args, kwargs))
        return original(*args, **kwargs)

    renderer.form = capture  # type: ignore[method-assign]
    try:
        first = forms.render(actor, "account", form=form, record_id=record_id, urls=urls)
    finally:
        renderer.form = original  # type: ignore[method-assign]
    args, kwargs = captured[0]
    related = kwargs.get("related") or {}
    shown = sum(len(r.rows) for r in related.values())
    if len(related) < 6 or min(len(r.rows) for r in related.values()) == 0:
        raise RuntimeError(f"the account page shows {len(related)} related lists, {shown} rows")

    def product() -> str:
        return forms.render(actor, "account", form=form, record_id=record_id, urls=urls)

    def floor() -> str:
        return original(*args, **kwargs)

    if product() != first or floor() != first:
        raise RuntimeError("the rendered page and the precomputed one differ")
    product_s, floor_s = interleaved_medians([product, floor], repeat)
    if settled > 1:
        log.info("the install's background work took %.1f s to settle", settled)
    return at_most(f"crm: account page ({shown_form}), {len(related)} related lists, {shown} rows", backend,
                   product_s, floor_s, PAGE_TARGET)
