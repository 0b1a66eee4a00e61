"""Benchmark: line items — a quote saved with its lines, and a quote read with its lines.

`bench_quote` has a name, its lines (`child_table` of `bench_quote_line`: a product lookup,
a description, quantity, unit price, discount and the formula `net = quantity * unit_price
* (1 - BLANKVALUE(discount, 0))`) and the stored formula `total = SUM(lines.net)`.

- Save: product — `runtime.records.create(admin, "bench_quote", {..., "lines": [50 lines]},
  exact=True)`, the call the API's POST makes (JSON values checked against their documented
  shapes, every line through the child's save pipeline, the product lookups checked, the
  stored total kept, the parent's rules run again over its lines, the outbox, the record
  echoed back with its lines). Floor: in one transaction, one hand-written INSERT of the
  quote, one executemany of the 50 lines (the JSON strings turned into Decimals by hand)
  and one UPDATE setting the total to the SUM of the lines' net in SQL, into copies of the
  two tables (same columns, types, indexes and foreign keys). Both must store the same totals.
- Read: product — `runtime.records.get(admin, "bench_quote", id)` of a quote with 200
  lines (the GET the API makes). Floor: two hand-written SELECTs in one transaction — the
  quote, and its lines in order with `net` worked out in SQL — turned into the same
  JSON-ready dicts. Both must return the same lines, values and total.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from benchmarks.common import Result, Setup, at_most, floor_engine, interleaved_medians, json_value, system_values

PRODUCT, LINE, QUOTE = "bench_product", "bench_quote_line", "bench_quote"
FLOOR_QUOTE, FLOOR_LINE = "bench_quote_floor", "bench_quote_line_floor"
SAVE_LINES, READ_LINES, PRODUCTS = 50, 200, 20
PRODUCT_DOC: dict[str, Any] = {"api_name": PRODUCT, "label": "Bench product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "list_price", "label": "List price", "type": "currency"}]}
LINE_DOC: dict[str, Any] = {"api_name": LINE, "label": "Bench quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": PRODUCT},
    {"api_name": "description", "label": "Description", "type": "text"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "net", "label": "Net", "type": "formula",
     "expression": "quantity * unit_price * (1 - BLANKVALUE(discount, 0))"}]}
QUOTE_DOC: dict[str, Any] = {"api_name": QUOTE, "label": "Bench quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": LINE},
    {"api_name": "total", "label": "Total", "type": "formula", "expression": "SUM(lines.net)", "store": True}]}
#: The fields a line is written with, as a client sends them.
LINE_INPUT = ("product", "description", "quantity", "unit_price", "discount")
DECIMALS = ("quantity", "unit_price", "discount")


def lines_json(count: int, products: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """`count` lines as a client sends them; every third has a discount."""
    out = []
    for i in range(seed, seed + count):
        line: dict[str, Any] = {"product": products[i % len(products)], "description": f"Item {i}",
                                "quantity": str(1 + i % 7), "unit_price": f"{(i * 37) % 500 + 1}.25"}
        if i % 3 == 0:
            line["discount"] = "0.05"
        out.append(line)
    return out


def _scale(table: sa.Table, name: str) -> int:
    return int(getattr(table.c[name].type, "scale", 0) or 0)


class Schema:
    """The product's two tables, the floor's copies of them, and the hand-written SQL."""

    def __init__(self, setup: Setup) -> None:
        rt = setup.runtime
        with rt.read() as conn:
            snap = rt.snapshot(conn)
            self.quote, self.line = snap.table(snap.object(QUOTE)), snap.table(snap.object(LINE))
        self.link = self.line.c[QUOTE]
        self.sqlite = setup.backend == "sqlite"
        # The product's engine enforces foreign keys on SQLite; the floor's does too.
        self.engine = floor_engine(setup.url)
        if self.sqlite:
            event.listen(self.engine, "connect", _foreign_keys_on)
        meta = sa.MetaData()
        sa.Table(PRODUCT, meta, autoload_with=self.engine)
        self.floor_quote = self.quote.to_metadata(meta, name=FLOOR_QUOTE)
        self.floor_line = self.line.to_metadata(meta, name=FLOOR_LINE)
        inspector = sa.inspect(self.engine)
        for foreign in inspector.get_foreign_keys(LINE):
            referred = FLOOR_QUOTE if foreign["referred_table"] == QUOTE else foreign["referred_table"]
            self.floor_line.append_constraint(sa.ForeignKeyConstraint(
                foreign["constrained_columns"], [f"{referred}.{c}" for c in foreign["referred_columns"]],
                ondelete=foreign["options"].get("ondelete")))
        for source, copy in ((QUOTE, self.floor_quote), (LINE, self.floor_line)):
            for index in inspector.get_indexes(source):
                columns = [copy.c[name] for name in index["column_names"] if name is not None]
                sa.Index(f"{index['name']}_floor", *columns, unique=bool(index["unique"]))
        meta.create_all(self.engine, tables=[self.floor_quote, self.floor_line])
        self.net_scale = sum(_scale(self.line, n) for n in DECIMALS)
        self.total_scale = _scale(self.quote, "total")

    def net_sql(self, table: str) -> str:
        """`quantity * unit_price * (1 - discount)` by hand; on SQLite over the scaled
        integers the columns hold (a count of 10^-scale), still scaled."""
        if not self.sqlite:
            return f"{table}.quantity * {table}.unit_price * (1 - coalesce({table}.discount, 0))"
        return (f"{table}.quantity * {table}.unit_price * "
                f"({10 ** _scale(self.line, 'discount')} - coalesce({table}.discount, 0))")

    def net_value(self, raw: Any) -> Decimal | None:
        if raw is None:
            return None
        return Decimal(int(raw)).scaleb(-self.net_scale) if self.sqlite else Decimal(raw)

    def totals_sql(self) -> str:
        """The UPDATE a developer writes to keep a quote's total: the sum of its lines' net."""
        total = f"sum({self.net_sql('l')})"
        if self.sqlite:
            shift = self.net_scale - self.total_scale
            total = f"{total} / {10 ** shift}" if shift >= 0 else f"{total} * {10 ** -shift}"
        return (f'UPDATE "{FLOOR_QUOTE}" SET total = (SELECT {total} FROM "{FLOOR_LINE}" l '
                f'WHERE l."{self.link.name}" = :id AND l.deleted_at IS NULL) WHERE id = :id')


def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class FloorSave:
    """The hand-written save: one INSERT, one executemany, one UPDATE, one transaction."""

    def __init__(self, schema: Schema, user_id: int | None) -> None:
        self.schema, self.user_id = schema, user_id
        self.insert_quote = sa.insert(schema.floor_quote).returning(schema.floor_quote.c.id)
        self.insert_lines = sa.insert(schema.floor_line)
        self.totals = sa.text(schema.totals_sql())

    def save(self, name: str, lines: list[dict[str, Any]]) -> int:
        system = system_values(datetime.now(UTC), self.user_id)
        with self.schema.engine.begin() as conn:
            quote_id = conn.execute(self.insert_quote, {**system, "name": name}).scalar_one()
            rows = []
            for place, line in enumerate(lines, start=1):
                row = {**system, QUOTE: quote_id, "line_number": place, "product": line.get("product"),
                       "description": line.get("description")}
                for key in DECIMALS:
                    value = line.get(key)
                    row[key] = Decimal(value) if value is not None else None
                rows.append(row)
            conn.execute(self.insert_lines, rows)
            conn.execute(self.totals, {"id": quote_id})
        return int(quote_id)


class FloorRead:
    """The hand-written read: the quote, then its lines in order with `net` in SQL."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        quote, line = schema.quote, schema.line
        self.quote_query = sa.select(*(c for c in quote.c if not c.name.startswith("deleted_"))).where(
            quote.c.id == sa.bindparam("id"), quote.c.deleted_at.is_(None))
        net = sa.literal_column(schema.net_sql(line.name)).label("net")
        self.lines_query = (sa.select(*(c for c in line.c if not c.name.startswith("deleted_")), net)
                            .where(schema.link == sa.bindparam("id"), line.c.deleted_at.is_(None))
                            .order_by(line.c.line_number, line.c.id).limit(1000))

    def read(self, quote_id: int) -> dict[str, Any]:
        with self.schema.engine.connect() as conn:
            quote = conn.execute(self.quote_query, {"id": quote_id}).mappings().one()
            lines = conn.execute(self.lines_query, {"id": quote_id}).mappings().all()
        record = {key: _json(value) for key, value in quote.items()}
        net_value = self.schema.net_value
        record["lines"] = [{**{key: _json(value) for key, value in row.items() if key != "net"},
                            "net": _decimal_text(net_value(row["net"]))} for row in lines]
        return record


def _json(value: Any) -> Any:
    """A column value as the API writes it (moments in UTC with a Z)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return json_value(value)


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _define(setup: Setup) -> list[int]:
    rt, actor = setup.runtime, setup.actor
    for doc in (PRODUCT_DOC, LINE_DOC, QUOTE_DOC):
        rt.metadata.create_object(actor, doc)
    made = rt.records.bulk_create(actor, PRODUCT, [{"name": f"Product {i}", "list_price": f"{i}.50"}
                                                   for i in range(PRODUCTS)])
    return [int(p["id"]) for p in made]


def _same_record(product: dict[str, Any], floor: dict[str, Any]) -> bool:
    """The same quote and lines: ids, order, values (numbers compared as numbers)."""
    def values(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(Decimal(v) if k in (*DECIMALS, "net", "total") and v is not None else v
                     for k, v in sorted(record.items()) if k != "lines")

    return values(product) == values(floor) and len(product["lines"]) == len(floor["lines"]) and all(
        values(p) == values(f) for p, f in zip(product["lines"], floor["lines"], strict=True))


def run(setup: Setup, repeat: int) -> list[Result]:
    rt, actor = setup.runtime, setup.actor
    products = _define(setup)
    schema = Schema(setup)
    floor_save, floor_read = FloorSave(schema, actor.user_id), FloorRead(schema)
    try:
        save_lines = lines_json(SAVE_LINES, products)
        counter = iter(range(10**9))

        def product_save() -> dict[str, Any]:
            return rt.records.create(actor, QUOTE, {"name": f"Quote {next(counter)}", "lines": save_lines},
                                     exact=True)

        def floor_save_one() -> int:
            return floor_save.save(f"Quote {next(counter)}", save_lines)

        made, floor_id = product_save(), floor_save_one()
        with schema.engine.connect() as conn:
            floor_total = conn.execute(sa.select(schema.floor_quote.c.total).where(
                schema.floor_quote.c.id == floor_id)).scalar_one()
        if len(made["lines"]) != SAVE_LINES or Decimal(made["total"]) != floor_total:
            raise RuntimeError(f"the saved totals differ: product {made['total']}, floor {floor_total}")
        save_product, save_floor = interleaved_medians([product_save, floor_save_one], repeat)

        big = rt.records.create(actor, QUOTE, {"name": "Big quote", "lines": lines_json(READ_LINES, products, 7)},
                                exact=True)
        big_id = int(big["id"])

        def product_read() -> dict[str, Any]:
            return rt.records.get(actor, QUOTE, big_id)

        def floor_read_one() -> dict[str, Any]:
            return floor_read.read(big_id)

        if not _same_record(product_read(), floor_read_one()):
            raise RuntimeError("the product and the floor read different quotes")
        read_product, read_floor = interleaved_medians([product_read, floor_read_one], repeat * 2)
    finally:
        schema.engine.dispose()
    return [
        at_most(f"save a quote with {SAVE_LINES} lines + total", setup.backend, save_product, save_floor, 1.5),
        at_most(f"read a quote with {READ_LINES} lines", setup.backend, read_product, read_floor, 1.3),
    ]
