"""Benchmark 6: a list under row permissions.

`perm_deal` holds N records owned by 40 users in four regions. A rep whose role reads the
records of their team (5 people) and a sharing rule opening the region "north" to that
role asks for the first page of 50 — by id and sorted by the indexed `amount`. The floor is
the same call by an admin, whose query has no scope at all: the ratio is what the scope and
the sharing rule (both compiled into the query's WHERE clause) cost.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from benchmarks.common import Result, Setup, at_most, bulk_load, interleaved_medians, system_values
from tessera.auth.actor import Actor

OBJECT = "perm_deal"
REGIONS = ("north", "south", "east", "west")
USERS = 40
TEAM = 5
LOAD_CHUNK = 50_000
DOC = {"api_name": OBJECT, "label": "Perm deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency", "indexed": True},
    {"api_name": "region", "label": "Region", "type": "text"},
], "sharing_rules": [
    {"name": "north_to_reps", "condition": 'region = "north"', "access": "read", "roles": ["rep"]},
]}


def _people(setup: Setup) -> tuple[Actor, list[int]]:
    rt, admin = setup.runtime, Actor.system()
    rt.users.teams.create(admin, {"api_name": "bench_team", "label": "Bench team"})
    rt.users.roles.create(admin, {"api_name": "rep", "label": "Rep", "permissions": {
        OBJECT: {"create": True, "read": "team", "edit": "own", "delete": "none"}}}, rt.snapshot)
    ids = []
    for i in range(USERS):
        made = rt.users.accounts.add(admin, {
            "email": f"rep{i}@example.com", "name": f"Rep {i}", "password": "rep-password-1",
            "roles": ["rep"], "teams": ["bench_team"] if i < TEAM else []})
        ids.append(int(made["id"]))
    token = rt.users.sign_in("rep0@example.com", "rep-password-1")
    return rt.users.actor_for_token(token), ids


def _load(setup: Setup, count: int, owners: list[int]) -> None:
    rt = setup.runtime
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        table = snap.table(snap.object(OBJECT))
    rng = random.Random(11)
    names = [*system_values(datetime.now(UTC), None), "name", "amount", "region"]

    def batch(start: int, size: int) -> list[dict[str, object]]:
        rows = []
        for i in range(start, start + size):
            row = system_values(datetime.now(UTC), owners[0])
            row.update(owner=owners[rng.randrange(len(owners))], name=f"Deal {i}",
                       amount=Decimal(rng.randrange(0, 10_000_000)).scaleb(-2), region=REGIONS[rng.randrange(4)])
            rows.append(row)
        return rows

    batches = (batch(start, min(LOAD_CHUNK, count - start)) for start in range(0, count, LOAD_CHUNK))
    bulk_load(setup.engine, setup.backend, table, names, batches)


def run(setup: Setup, count: int, repeat: int) -> list[Result]:
    rt = setup.runtime
    rt.metadata.create_object(Actor.system(), DOC)
    rep, owners = _people(setup)
    _load(setup, count, owners)
    admin = setup.actor
    results = []
    for label, sort in (("first page by id", None), ("first page sorted by amount", "-amount")):
        def scoped(sort: str | None = sort) -> None:
            rt.records.list(rep, OBJECT, limit=50, sort=sort)

        def unscoped(sort: str | None = sort) -> None:
            rt.records.list(admin, OBJECT, limit=50, sort=sort)

        seen = rt.records.list(rep, OBJECT, limit=200, sort=sort)["data"]
        team = set(owners[:TEAM])
        if not seen or any(r["owner"] not in team and r["region"] != "north" for r in seen):
            raise RuntimeError("the scoped list shows records outside the rep's scope")
        product, floor = interleaved_medians([scoped, unscoped], repeat)
        results.append(at_most(f"list under own/team scope + sharing rule, {label} ({count:,})", setup.backend,
                               product, floor, 1.3))
    return results
