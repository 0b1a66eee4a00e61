"""Conversions: convert a lead — match its company among 100,000 accounts by name (ignoring
case), create the account, a contact and an opportunity, set the lead's status and its
link to the account, log the run — in one transaction.

Product: `ConversionService.convert` of the real platform (the conversion document's plan,
the lock on the lead, the log check, the match on the `lower(name)` index, three creates
and an update through the save pipeline with their validation, history and events).
Floor: the same work as hand-written SQLAlchemy Core in one transaction on copies of the
same tables with the same indexes — lock and read the lead, check the log, look the
account up by `lower(name)`, three INSERTs, one UPDATE, one log INSERT. Both convert fresh
leads of the same data, alternating; the medians count.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from benchmarks.common import Result, Setup, at_most, bulk_load, interleaved_medians, system_values
from tessera.data.tables import conversions as conversion_log

LOAD_CHUNK = 50_000
ACCOUNT, CONTACT, DEAL, LEAD = "conv_account", "conv_contact", "conv_deal", "conv_lead"
OBJECTS: list[dict[str, Any]] = [
    {"api_name": ACCOUNT, "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "industry", "label": "Industry", "type": "text"}]},
    {"api_name": CONTACT, "label": "Contact", "fields": [
        {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
        {"api_name": "email", "label": "E-mail", "type": "email"},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": ACCOUNT}]},
    {"api_name": DEAL, "label": "Deal", "fields": [
        {"api_name": "name", "label": "Name", "type": "text", "required": True},
        {"api_name": "account", "label": "Account", "type": "lookup", "target": ACCOUNT},
        {"api_name": "contact", "label": "Contact", "type": "lookup", "target": CONTACT}]},
    {"api_name": LEAD, "label": "Lead", "name_field": "last_name", "fields": [
        {"api_name": "last_name", "label": "Last name", "type": "text", "required": True},
        {"api_name": "company", "label": "Company", "type": "text"},
        {"api_name": "email", "label": "E-mail", "type": "email"},
        {"api_name": "status", "label": "Status", "type": "text"},
        {"api_name": "converted_account", "label": "Converted account", "type": "lookup", "target": ACCOUNT}]},
]
CONVERSION: dict[str, Any] = {
    "api_name": "bench_convert_lead", "label": "Convert lead", "object": LEAD, "when": 'status = "qualified"',
    "targets": [{"key": "account", "object": ACCOUNT, "match": {"name": "company"}},
                {"key": "contact", "object": CONTACT, "fields": {"last_name": "last_name", "email": "email"}},
                {"key": "deal", "object": DEAL, "fields": {"name": 'company & " deal"', "contact": "contact.id"}}],
    "after": {"status": '"converted"', "converted_account": "account.id"}}


def _floor_tables(setup: Setup, tables: dict[str, sa.Table]) -> dict[str, sa.Table]:
    """Copies of the product's tables (same columns, types, foreign keys among the copies and
    indexes, the account's lower(name) one included) and of the conversion log."""
    metadata = sa.MetaData()
    floor: dict[str, sa.Table] = {}
    for name, table in tables.items():
        columns = []
        for column in table.c:
            refs = [fk.column.table.name for fk in column.foreign_keys]
            keys = [sa.ForeignKey(f"floor_{refs[0]}.id")] if refs and refs[0] in tables else []
            columns.append(sa.Column(column.name, column.type, *keys, primary_key=column.primary_key,
                                     nullable=column.nullable, server_default=column.server_default))
        floor[name] = sa.Table(f"floor_{name}", metadata, *columns)
        for index in sa.inspect(setup.engine).get_indexes(name):
            names = [n for n in index["column_names"] if n is not None]
            if names:
                sa.Index(f"{index['name']}_floor", *(floor[name].c[n] for n in names), unique=bool(index["unique"]))
    sa.Index("ix_floor_account_lower_name", sa.func.lower(floor[ACCOUNT].c.name))
    floor["log"] = sa.Table("floor_conversions", metadata, *(c._copy() for c in conversion_log.c))
    sa.Index("ix_floor_conversions_record", *(floor["log"].c[n] for n in ("object_uid", "record_id", "id")))
    metadata.create_all(setup.engine)
    return floor


def _load(setup: Setup, tables: dict[str, sa.Table], floor: dict[str, sa.Table], accounts: int, leads: int) -> None:
    system = system_values(datetime.now(UTC), setup.actor.user_id)

    def account_rows(start: int, size: int) -> list[dict[str, Any]]:
        return [{**system, "id": i, "name": f"Company {i}", "industry": "Retail"}
                for i in range(start + 1, start + size + 1)]

    def lead_rows(start: int, size: int) -> list[dict[str, Any]]:
        # Companies no account has: each conversion looks among all accounts, finds none
        # and creates the account, the contact and the deal.
        return [{**system, "id": i, "last_name": f"Person {i}", "company": f"New Company {i}",
                 "email": f"person{i}@example.com", "status": "qualified"} for i in range(start + 1, start + size + 1)]

    for name, count, make in ((ACCOUNT, accounts, account_rows), (LEAD, leads, lead_rows)):
        names = list(make(0, 1)[0])
        for target in (tables[name], floor[name]):
            raw = sa.Table(target.name, sa.MetaData(), *(sa.Column(n) for n in names))
            bulk_load(setup.engine, setup.backend, raw, names,
                      (make(start, min(LOAD_CHUNK, count - start)) for start in range(0, count, LOAD_CHUNK)))
            if setup.backend == "postgresql":
                with setup.engine.begin() as conn:
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{target.name}', 'id'), {count})")


def _floor_convert(setup: Setup, floor: dict[str, sa.Table], uid: str) -> Any:
    account, contact, deal, lead, log = (floor[n] for n in (ACCOUNT, CONTACT, DEAL, LEAD, "log"))
    user = setup.actor.user_id

    def convert(lead_id: int) -> dict[str, Any]:
        now = datetime.now(UTC)
        system = system_values(now, user)
        with setup.engine.begin() as conn:
            row = conn.execute(sa.select(lead).where(lead.c.id == lead_id, lead.c.deleted_at.is_(None))
                               .with_for_update()).mappings().one()
            if row["status"] != "qualified":
                raise RuntimeError("not qualified")
            done = conn.execute(sa.select(log.c.id).where(log.c.object_uid == LEAD, log.c.record_id == lead_id,
                                                          log.c.conversion_uid == uid).limit(1)).first()
            if done is not None:
                raise RuntimeError("converted already")
            found = conn.execute(sa.select(account.c.id, account.c.name).where(
                sa.func.lower(account.c.name) == sa.func.lower(row["company"]), account.c.deleted_at.is_(None))
                .order_by(account.c.id).limit(1)).first()
            account_id = found.id if found is not None else conn.execute(sa.insert(account).values(
                name=row["company"], **system).returning(account.c.id)).scalar_one()
            contact_id = conn.execute(sa.insert(contact).values(
                last_name=row["last_name"], email=row["email"], account=account_id, **system)
                .returning(contact.c.id)).scalar_one()
            deal_id = conn.execute(sa.insert(deal).values(
                name=f"{row['company']} deal", account=account_id, contact=contact_id, **system)
                .returning(deal.c.id)).scalar_one()
            conn.execute(sa.update(lead).where(lead.c.id == lead_id).values(
                status="converted", converted_account=account_id, version=lead.c.version + 1, updated_at=now,
                updated_by=user))
            result = {"conversion": CONVERSION["api_name"], "records": [
                {"key": "account", "id": account_id}, {"key": "contact", "id": contact_id},
                {"key": "deal", "id": deal_id}]}
            conn.execute(sa.insert(log).values(conversion_uid=uid, conversion=CONVERSION["api_name"],
                                               object_uid=LEAD, record_id=lead_id, result=result, actor_id=user,
                                               at=now))
        return result

    return convert


def run(setup: Setup, accounts: int, repeat: int) -> list[Result]:
    rt = setup.runtime
    for doc in OBJECTS:
        rt.metadata.create_object(setup.actor, doc)
    uid = rt.documents.create(setup.actor, "conversions", CONVERSION)["uid"]
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        tables = {doc["api_name"]: snap.table(snap.object(doc["api_name"])) for doc in OBJECTS}
    floor = _floor_tables(setup, tables)
    warmup = 5
    leads = 2 * (repeat + warmup) + 10
    _load(setup, tables, floor, accounts, leads)
    product_leads, floor_leads = itertools.count(1), itertools.count(1)
    floor_convert = _floor_convert(setup, floor, uid)
    results: list[dict[str, Any]] = []

    def product() -> None:
        results.append(rt.conversions.convert(setup.actor, LEAD, next(product_leads), CONVERSION["api_name"]))

    def hand_written() -> None:
        floor_convert(next(floor_leads))

    product_time, floor_time = interleaved_medians([product, hand_written], repeat, warmup=warmup)
    outcomes = {tuple(r["outcome"] for r in result["records"]) for result in results}
    if outcomes != {("created", "created", "created")}:
        raise RuntimeError(f"the conversions made {outcomes}, not three new records each")
    with rt.read() as conn:
        made = conn.execute(sa.select(sa.func.count()).select_from(tables[DEAL])).scalar_one()
    if made != len(results):
        raise RuntimeError(f"{made} deals for {len(results)} conversions")
    setup.notes.append(f"conversions ({setup.backend}): {len(results)} leads converted among {accounts:,} accounts, "
                       "each matching none and creating an account, a contact and a deal.")
    return [at_most(f"conversions: convert a lead (match among {accounts:,} accounts, create 3)", setup.backend,
                    product_time, floor_time, 2.0)]
