"""Benchmark: rules — a segment refreshed over many accounts, and round robin under load.

- Segment: `rule_account` holds N accounts, each with 0-6 orders (`rule_order`: an amount,
  an order date over the last year, a lookup to the account with the related name
  `orders`), loaded straight into the tables and analysed. The segment rule "High value"
  is `COUNT(orders, orders.order_date > TODAY() - 90) >= 3 AND AVG(orders.amount,
  orders.order_date > TODAY() - 90) > 1000`. Product: a full `RuleService.refresh_segment`
  from empty membership (tessera_segment_members emptied before each run, outside the
  timing) in one write transaction: the members inserted, the leavers deleted, the
  `segment.entered` event written. Floor: the hand-written statement a developer would
  write for the same members, `INSERT INTO <floor members> SELECT ... FROM rule_account
  JOIN (SELECT account FROM rule_order WHERE ... GROUP BY account HAVING count(*) >= 3 AND
  avg(amount) > 1000)`, into a copy of the membership table, in one transaction. Both must
  find the same accounts.
- Round robin: a team of five and an assignment rule (before save, on create, strategy
  round_robin); eight threads create records through `records.create` at once. Every
  member must end with the same count, give or take one: a fairness check, not a ratio
  (the "ratio" column is the max-min difference). Records per second are printed too.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from benchmarks.common import Result, Setup, at_most, bulk_load, system_values, timed
from tessera.auth.actor import Actor
from tessera.data.tables import segment_members

ACCOUNT = "rule_account"
ORDER = "rule_order"
FLOOR_MEMBERS = "bench_segment_floor"
LOAD_CHUNK = 50_000
WINDOW = 90
CONDITION = (f"COUNT(orders, orders.order_date > TODAY() - {WINDOW}) >= 3 AND "
             f"AVG(orders.amount, orders.order_date > TODAY() - {WINDOW}) > 1000")
ACCOUNT_DOC: dict[str, Any] = {"api_name": ACCOUNT, "label": "Rule account", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
ORDER_DOC: dict[str, Any] = {"api_name": ORDER, "label": "Rule order", "fields": [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "order_date", "label": "Order date", "type": "date"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": ACCOUNT, "related_name": "orders"}]}
SEGMENT: dict[str, Any] = {
    "api_name": "high_value", "label": "High value", "object": ACCOUNT, "kind": "segment",
    # Refreshed on a schedule: the benchmark refreshes it itself and cancels the timers.
    "trigger": {"on": "schedule", "cron": "0 6 * * *"},
    "segment": {"condition": CONDITION}}

TICKET = "rule_ticket"
TICKET_DOC: dict[str, Any] = {"api_name": TICKET, "label": "Rule ticket", "fields": [
    {"api_name": "subject", "label": "Subject", "type": "text", "required": True},
    {"api_name": "assignee", "label": "Assignee", "type": "user"}]}
TEAM = "bench_desk"
TEAM_SIZE = 5
ROUND_ROBIN: dict[str, Any] = {
    "api_name": "bench_spread", "label": "Spread tickets", "object": TICKET, "kind": "assignment",
    "trigger": {"on": "before_save", "when": "created"},
    "assignment": {"field": "assignee", "team": TEAM, "strategy": "round_robin"}}


# -- segment ----------------------------------------------------------------------------
def _load(setup: Setup, accounts: int, today: date) -> tuple[sa.Table, sa.Table]:
    rt = setup.runtime
    rt.metadata.create_object(setup.actor, ACCOUNT_DOC)
    rt.metadata.create_object(setup.actor, ORDER_DOC)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        account_table, order_table = (snap.table(snap.object(name)) for name in (ACCOUNT, ORDER))
    system = system_values(datetime.now(UTC), setup.actor.user_id)
    sqlite = setup.backend == "sqlite"
    account_column = order_table.c[snap.object(ORDER).field("account").column].name

    def account_batch(start: int, size: int) -> list[dict[str, Any]]:
        return [{**system, "id": i, "name": f"Account {i}"} for i in range(start + 1, start + size + 1)]

    def order_batch(start: int, size: int) -> list[dict[str, Any]]:
        rng = random.Random(start)
        rows = []
        for account in range(start + 1, start + size + 1):
            # A third of the accounts buy often and recently; the rest now and then over the year.
            busy = account % 3 == 0
            for _ in range(rng.randrange(7)):
                day = today - timedelta(days=rng.randrange(1, 120 if busy else 365))
                amount = Decimal(rng.randrange(1_000, 250_000)).scaleb(-2)
                rows.append({**system, "amount": int(amount * 100) if sqlite else amount,
                             "order_date": day.isoformat() if sqlite else day, account_column: account})
        return rows

    chunks = range(0, accounts, LOAD_CHUNK)
    # Straight into the tables; on SQLite money is held as scaled integers and dates as ISO text.
    for table, names, make in (
            (account_table, [*system, "id", "name"], account_batch),
            (order_table, [*system, "amount", "order_date", account_column], order_batch)):
        raw = sa.Table(table.name, sa.MetaData(), *(sa.Column(n) for n in names))
        bulk_load(setup.engine, setup.backend, raw, names,
                  (make(start, min(LOAD_CHUNK, accounts - start)) for start in chunks))
    if not sqlite:
        with setup.engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{account_table.name}', 'id'), {accounts})")
    return account_table, order_table


def _floor_sql(setup: Setup, account_table: sa.Table, order_table: sa.Table, account_column: str) -> str:
    """The statement a developer writes by hand: one pass over the recent orders, grouped."""
    # SQLite keeps currency in cents: the average above 1000 is a sum above 100000 per amount.
    high = "sum(o.amount) > 100000 * count(o.amount)" if setup.backend == "sqlite" else "avg(o.amount) > 1000"
    return (f'INSERT INTO "{FLOOR_MEMBERS}" (rule_uid, record_id, since)'
            f' SELECT :uid, a.id, :now FROM "{account_table.name}" a JOIN ('
            f'SELECT o."{account_column}" AS account FROM "{order_table.name}" o'
            f' WHERE o.deleted_at IS NULL AND o.order_date > :since'
            f' GROUP BY o."{account_column}" HAVING count(*) >= 3 AND {high}) r ON r.account = a.id'
            " WHERE a.deleted_at IS NULL")


def run_segments(setup: Setup, accounts: int, repeat: int) -> list[Result]:
    rt = setup.runtime
    today = datetime.now(UTC).date()
    account_table, order_table = _load(setup, accounts, today)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        account_column = order_table.c[snap.object(ORDER).field("account").column].name
    stored = rt.documents.create(setup.actor, "rules", SEGMENT)
    uid = stored["uid"]
    with rt.write() as conn:
        # Creating the rule set a refresh timer; a running worker would refresh behind our back.
        rt.timers.cancel(conn, f"rule:{uid}:", prefix=True)
        rule = next(r for r in rt.rules.rules(conn, rt.snapshot(conn), ACCOUNT) if r.uid == uid)

    # A copy of the membership table: same columns and types, same primary key.
    floor_table = sa.Table(FLOOR_MEMBERS, sa.MetaData(), *(c._copy() for c in segment_members.c))
    floor_table.metadata.create_all(setup.engine)
    sql = sa.text(_floor_sql(setup, account_table, order_table, account_column)).bindparams(
        sa.bindparam("now", type_=segment_members.c.since.type))
    params = {"uid": uid, "since": (today - timedelta(days=WINDOW)).isoformat() if setup.backend == "sqlite"
              else today - timedelta(days=WINDOW)}
    entered: list[int] = []

    def product() -> None:
        with rt.write() as conn:
            counts = rt.rules.refresh_segment(conn, rule)
        entered.append(counts["entered"])

    def floor() -> None:
        with setup.engine.begin() as conn:
            conn.execute(sql, {**params, "now": datetime.now(UTC)})

    def members(table: sa.Table) -> list[int]:
        with setup.engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.record_id).where(table.c.rule_uid == uid)
                                     .order_by(table.c.record_id)).scalars())

    # Once each untimed: warms the caches, and both must find the same accounts.
    setup.truncate(segment_members.name, FLOOR_MEMBERS)
    product()
    floor()
    found, expected = members(segment_members), members(floor_table)
    if found != expected or not expected or len(expected) == accounts:
        raise RuntimeError(f"the segment has {len(found)} members, the hand-written SQL {len(expected)}")

    product_times, floor_times = [], []
    for _ in range(repeat):
        setup.truncate(segment_members.name)
        product_times.append(timed(product))
        setup.truncate(FLOOR_MEMBERS)
        floor_times.append(timed(floor))
    if set(entered) != {len(expected)}:
        raise RuntimeError(f"refresh_segment entered {sorted(set(entered))}, not {len(expected)}")
    setup.notes.append(f"rules ({setup.backend}): segment 'High value' holds {len(expected):,} of {accounts:,} "
                       "accounts.")
    with rt.write() as conn:
        conn.execute(sa.delete(segment_members).where(segment_members.c.rule_uid == uid))
    floor_table.drop(setup.engine)
    rt.documents.delete(setup.actor, "rules", SEGMENT["api_name"])
    rt.documents.purge(setup.actor, "rules", SEGMENT["api_name"])
    return [at_most(f"rules: refresh a segment over {accounts:,} accounts", setup.backend,
                    statistics.median(product_times), statistics.median(floor_times), 1.3)]


# -- round robin ------------------------------------------------------------------------
def run_round_robin(setup: Setup, creators: int = 8, records: int = 1000) -> list[Result]:
    rt = setup.runtime
    system = Actor.system()
    rt.metadata.create_object(setup.actor, TICKET_DOC)
    emails = [f"desk{i}@example.com" for i in range(TEAM_SIZE)]
    member_ids = [int(rt.users.accounts.add(system, {"email": e, "name": e, "password": "a-long-password"})["id"])
                  for e in emails]
    rt.users.teams.create(system, {"api_name": TEAM, "label": "Bench desk", "members": emails})
    rt.documents.create(setup.actor, "rules", ROUND_ROBIN)

    errors: list[BaseException] = []
    start_line = threading.Barrier(creators)

    def create(worker: int, count: int) -> None:
        try:
            start_line.wait()
            for i in range(count):
                rt.records.create(setup.actor, TICKET, {"subject": f"Ticket {worker}-{i}"})
        except BaseException as error:  # reported below, after the other threads finish
            errors.append(error)

    shares = [records // creators + (1 if i < records % creators else 0) for i in range(creators)]
    threads = [threading.Thread(target=create, args=(i, n)) for i, n in enumerate(shares)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} creating thread(s) failed: {errors[0]!r}") from errors[0]

    with rt.read() as conn:
        snap = rt.snapshot(conn)
        table = snap.table(snap.object(TICKET))
        column = table.c[snap.object(TICKET).field("assignee").column]
        counts = Counter({int(k) if k is not None else None: int(v) for k, v in conn.execute(
            sa.select(column, sa.func.count()).where(table.c.deleted_at.is_(None)).group_by(column))})
    made = sum(counts.values())
    per_member = [counts.get(m, 0) for m in member_ids]
    difference = max(per_member) - min(per_member)
    fair = difference <= 1 and made == records and sum(per_member) == records
    rate = records / spent
    setup.notes.append(f"rules ({setup.backend}): round robin, {creators} threads created {records:,} records "
                       f"in {spent:.2f} s = {rate:,.0f} records/s.")
    rt.documents.delete(setup.actor, "rules", ROUND_ROBIN["api_name"])
    rt.documents.purge(setup.actor, "rules", ROUND_ROBIN["api_name"])
    return [Result(f"rules: round robin, {creators} threads x {records // creators} creates, team of {TEAM_SIZE}",
                   setup.backend, f"{'/'.join(map(str, per_member))} ({rate:,.0f} rec/s)",
                   f"{records / TEAM_SIZE:g} each (+-1)", float(difference), "max-min <= 1", fair)]
