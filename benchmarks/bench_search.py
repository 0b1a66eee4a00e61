"""Benchmark: full-text search (#21) — a two-word query over many records, and what the
index costs a create.

Data: `search_contact`, N records (1,000,000) of three searchable fields — a person's name
(the name field: weighted high), a city and a note of two clauses of 3 to 10 words — made
from word lists (first and last names and 125 cities, some with accents; clauses drawn from
a pool of 4,000 made of a 340-word vocabulary drawn Zipf-like), 10 % without a note. The
query is `refund lisbon`: "lisbon" is the city of 1 % of the records, "refund" is in the
note of 1 %, and both hold for 0.05 % (a twentieth of the Lisbon records mention a refund)
— the exact counts are printed. The records go straight into the
object's table and the index tables with bulk SQL (an executemany and INSERT … SELECT on
SQLite, COPY on PostgreSQL with the GIN indexes built afterwards from their own
definitions), then analysed; a few records saved through the pipeline afterwards, and a
sample of the loaded ones, must have exactly the index rows the pipeline's own `entry`
makes, and the index must hold one row per record. The load's time is printed.

Query. Product: `runtime.search.search(admin, "refund lisbon", limit=20)` — targets, row
scope, the statement of matching.py, then the titles and snippets of the 20 records kept.
Floor: the statement a developer would write by hand over the same tables — SQLite
`SELECT t.id, t.name, t.city, t.notes, bm25(fts, 4, 1, 1) … FROM fts JOIN t ON t.id =
fts.rowid WHERE fts MATCH '"refund" AND "lisbon"' AND t.deleted_at IS NULL ORDER BY 5, 1
DESC LIMIT 20`; PostgreSQL the same with `s.document @@ plainto_tsquery('simple', 'refund
lisbon')` and `ts_rank_cd` — reading the same columns the product shows. Both must return
the same ids in the same order; medians of interleaved runs; target <= 1.3x. The API call
(`GET /api/v1/search?q=refund+lisbon&limit=20`, signed in as the admin, in-process over
httpx's ASGI transport) is timed too and its p50 and p99 printed, for information. On SQLite,
which works inside this process, the medians of CPU time are printed too (a busy machine
shifts wall-clock times more than the work).

Create. Two objects of the same shape (name, city, note), one with the three fields
searchable and one without; the same records created into each through the same service
calls — `records.create_many` (batches of 1,000, as an import does) and `records.create`
one record at a time — in an even number of rounds that alternate which goes first, the
background work of the calls before settled before each; medians of the rounds;
target <= 1.15x each.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.bench_list import capture_statements, plan
from benchmarks.common import Result, Setup, at_most, system_values, timed
from tessera.app import create_app
from tessera.data import search as fulltext
from tessera.runtime.search.index import entry, layout_of
from tessera.search.query import fold

OBJECT = "search_contact"
WITH_SEARCH = "search_typed"
WITHOUT_SEARCH = "search_plain"
QUERY = "refund lisbon"
CITY_WORD, NOTE_WORD = "Lisbon", "refund"
#: Shares of the records: the city is Lisbon; the note says refund; both (out of the Lisbon ones).
CITY_SHARE, NOTE_SHARE, BOTH_SHARE = 0.01, 0.01, 0.0005
LIMIT = 20
LOAD_CHUNK = 50_000
CREATE_BATCH = 1000
TARGET_QUERY = 1.3
TARGET_CREATE = 1.15


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


FIRST = _words(
    "Ana Bruno Carla Daniel Elena Felix Greta Hugo Ines Jonas Karin Luca Marta Nils Olga Pablo Rosa Sven Tomas "
    "Ursula Vera Walter Yara Zoe Adam Beatriz Cesar Dora Emil Fatima Goran Helga Ivan Julia Kenji Leila Mateo "
    "Nadia Oskar Petra Quentin Rafael Sofia Theo Uma Viktor Wanda Xavier Yusuf Zofia Aiko Bjorn Chloe Dmitri "
    "Esther Farid Gustav Hanna Igor Jana Karl Linnea Milan Noor Otto Priya Ravi Selma Tariq Ulrich Valentina "
    "William Ximena Yann Zainab José Zoë Łukasz André Søren Chloé Małgorzata Jürgen François Agnès"
)
LAST = _words(
    "Silva Santos Costa Pereira Oliveira Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann "
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Martin Bernard Dubois Thomas Robert Richard Petit "
    "Durand Leroy Moreau Garcia Fernández González Rodríguez López Martínez Sánchez Pérez Nowak Kowalski "
    "Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Jensen Nielsen Hansen Pedersen Andersen Larsen Johansson "
    "Andersson Karlsson Nilsson Eriksson Larsson Olsen Berg Haugen Novák Svoboda Dvořák Horváth Nagy Tóth "
    "Papadopoulos Yilmaz Kaya Demir Ivanov Smirnov Popescu Murphy Kelly Walsh Smith Jones Taylor Brown Wilson "
    "Evans Davies Tanaka Suzuki Sato Kim Lee Park Nguyen Tran Chen Wang Singh Patel Khan Okafor Mensah"
)
CITIES = _words(
    "Porto|Madrid|Barcelona|Valencia|Seville|Paris|Lyon|Marseille|Toulouse|Nantes|Berlin|Hamburg|München|Köln|"
    "Frankfurt|Stuttgart|Düsseldorf|Leipzig|Wien|Graz|Zürich|Genève|Basel|Bern|Milano|Roma|Torino|Napoli|"
    "Bologna|Firenze|Amsterdam|Rotterdam|Utrecht|Brussels|Antwerp|Gent|Luxembourg|London|Manchester|Bristol|"
    "Leeds|Glasgow|Edinburgh|Dublin|Cork|København|Aarhus|Malmö|Göteborg|Stockholm|Uppsala|Oslo|Bergen|"
    "Helsinki|Tampere|Reykjavík|Tallinn|Riga|Vilnius|Warszawa|Kraków|Gdańsk|Wrocław|Poznań|Praha|Brno|"
    "Bratislava|Budapest|Debrecen|Ljubljana|Zagreb|Beograd|Sofia|București|Cluj|Athína|Thessaloníki|Istanbul|"
    "Ankara|İzmir|Kyiv|Lviv|New York|Boston|Chicago|Toronto|Montréal|Vancouver|San Francisco|Los Angeles|"
    "Seattle|Austin|Denver|Miami|Atlanta|México|Guadalajara|Bogotá|Lima|Santiago|Buenos Aires|São Paulo|"
    "Rio de Janeiro|Curitiba|Johannesburg|Cape Town|Nairobi|Lagos|Accra|Cairo|Casablanca|Tunis|Dubai|Mumbai|"
    "Bengaluru|Singapore|Tokyo|Osaka|Seoul|Sydney|Melbourne|Auckland|Wellington|Coimbra|Braga",
    "|",
)
VOCABULARY = _words(
    "the customer called about order invoice delivery account payment support ticket issue problem request "
    "update change cancel return shipping package product service contract renewal price quote discount "
    "billing address email phone number login password reset access user team manager meeting schedule "
    "follow call back tomorrow next week monday friday urgent priority high low normal pending resolved open "
    "closed waiting reply sent received missing damaged broken late early wrong item size color model version "
    "software hardware laptop printer network server outage slow error message screen app mobile website "
    "portal report export import data file upload download sync backup restore install upgrade license trial "
    "subscription plan annual monthly credit card bank transfer receipt tax vat currency euro dollar amount "
    "balance overdue reminder notice letter document signature approval review feedback survey rating "
    "complaint compliment question answer information details notes history previous first second third "
    "last new old existing current future past warehouse stock supplier vendor partner distributor retail "
    "store shop branch office headquarters region country city street building floor room desk kitchen "
    "coffee machine filter spare part repair maintenance visit technician engineer installation training "
    "session workshop webinar demo presentation proposal offer deal opportunity lead prospect campaign "
    "newsletter event conference booth sample catalogue brochure website landing page form registration "
    "confirmation booking reservation ticket flight hotel car rental insurance claim policy coverage "
    "premium deductible accident incident safety security alarm camera door lock key card badge visitor "
    "guest parking lot garage truck van driver route tracking carrier courier pallet container customs "
    "duty import export clearance delay weather strike holiday season peak volume capacity forecast budget "
    "cost saving increase decrease growth target goal quarter year month day hour minute asked wants needs "
    "prefers likes dislikes mentioned confirmed declined accepted rejected escalated assigned transferred "
    "merged split duplicate record contact lead colleague boss assistant director owner founder board legal "
    "counsel lawyer audit audit finance accounting payroll hr recruiting hiring candidate interview offer "
    "onboarding laptop setup account creation deletion gdpr consent privacy data retention archive please "
    "thanks again soon asap kindly regarding concerning about with without before after during since until "
    "very quite rather still already also only just again"
)


# -- the data -------------------------------------------------------------------------------
def _zipf(count: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(count)))


@dataclass(frozen=True)
class Words:
    """The word lists with their folded forms (what the PostgreSQL index keeps)."""

    first: list[tuple[str, str]]
    last: list[tuple[str, str]]
    cities: list[tuple[str, str]]
    vocabulary: list[tuple[str, str]]


def _folded(items: list[str]) -> list[tuple[str, str]]:
    return [(item, " ".join(fold(item).split())) for item in items]


WORDS = Words(_folded(FIRST), _folded(LAST), _folded(CITIES),
              _folded([w for w in dict.fromkeys(VOCABULARY) if w not in (NOTE_WORD, CITY_WORD.lower())]))
_CITY_WEIGHTS = _zipf(len(CITIES), 0.8)
_VOCABULARY_WEIGHTS = _zipf(len(WORDS.vocabulary), 1.0)
#: The note says refund: P(refund | Lisbon) and P(refund | another city), so that both shares hold.
_NOTE_IN_CITY = BOTH_SHARE / CITY_SHARE
_NOTE_ELSEWHERE = (NOTE_SHARE - BOTH_SHARE) / (1 - CITY_SHARE)
_LISBON = (CITY_WORD, fold(CITY_WORD))
_REFUND = (NOTE_WORD, fold(NOTE_WORD))


@dataclass
class Hits:
    city: int = 0
    note: int = 0
    both: int = 0


#: Notes are two clauses (3 to 10 words each) drawn from a pool, so a million notes take
#: seconds to make; the pool is large enough that nearly every note is one of its own.
CLAUSES = 4000


def _clauses() -> list[tuple[list[tuple[str, str]], str, str]]:
    """(words, as written, as folded words) of the pool's clauses."""
    rng = random.Random(5)
    out = []
    for _ in range(CLAUSES):
        chosen = rng.choices(WORDS.vocabulary, cum_weights=_VOCABULARY_WEIGHTS, k=rng.randrange(3, 11))
        out.append((chosen, " ".join(w for w, _ in chosen), " ".join(f for _, f in chosen)))
    return out


_CLAUSES = _clauses()


def contacts(start: int, count: int, hits: Hits | None = None) -> Iterator[tuple[int, tuple[str, str, str | None],
                                                                              tuple[str, str, str | None]]]:
    """(id, (name, city, note) as stored, the same as folded words) of records start+1 … start+count."""
    rng = random.Random(start * 7919 + 17)
    draw = rng.random
    first, last, cities, clauses = WORDS.first, WORDS.last, WORDS.cities, _CLAUSES
    nf, nl, nc, total = len(first), len(last), len(clauses), _CITY_WEIGHTS[-1]
    for rid in range(start + 1, start + count + 1):
        f, la = first[int(draw() * nf)], last[int(draw() * nl)]
        lisbon = draw() < CITY_SHARE
        city = _LISBON if lisbon else cities[bisect.bisect(_CITY_WEIGHTS, draw() * total)]
        refund = draw() < (_NOTE_IN_CITY if lisbon else _NOTE_ELSEWHERE)
        one, two = clauses[int(draw() * nc)], clauses[int(draw() * nc)]
        if refund:  # the word goes somewhere into the first clause
            words = list(one[0])
            words.insert(int(draw() * (len(words) + 1)), _REFUND)
            one = (words, " ".join(w for w, _ in words), " ".join(f for _, f in words))
        if draw() < 0.1 and not refund:
            note = note_words = None
        else:
            note = f"{one[1].capitalize()}, {two[1]}."
            note_words = f"{one[2]} {two[2]}"
        if hits is not None:
            hits.city += lisbon
            hits.note += refund
            hits.both += lisbon and refund
        yield rid, (f"{f[0]} {la[0]}", city[0], note), (f"{f[1]} {la[1]}", city[1], note_words)


SEARCH_DOC: dict[str, Any] = {"api_name": OBJECT, "label": "Search contact", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True, "searchable": True},
    {"api_name": "city", "label": "City", "type": "text", "searchable": True},
    {"api_name": "notes", "label": "Notes", "type": "long_text", "searchable": True}]}
FIELDS = ("name", "city", "notes")


def shaped(name: str, searchable: bool) -> dict[str, Any]:
    """An object of the search object's shape, its fields searchable or not."""
    fields = [{k: v for k, v in f.items() if k != "searchable"} | ({"searchable": True} if searchable else {})
              for f in SEARCH_DOC["fields"]]
    return {**SEARCH_DOC, "api_name": name, "label": name.replace("_", " ").capitalize(), "fields": fields}


# -- loading ----------------------------------------------------------------------------------
@dataclass
class Loaded:
    table: sa.Table
    layout: fulltext.Layout
    hits: Hits
    seconds: float


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load(setup: Setup, count: int) -> Loaded:
    rt = setup.runtime
    rt.metadata.create_object(setup.actor, SEARCH_DOC)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        obj = snap.object(OBJECT)
        table = snap.table(obj)
    layout = layout_of(obj)
    assert layout is not None and [f.name for f in layout.fields] == list(FIELDS)
    hits = Hits()
    started = time.perf_counter()
    system = system_values(datetime.now(UTC), setup.actor.user_id)
    keys = [f.key for f in layout.fields]
    if setup.backend == "sqlite":
        # Rows as the driver takes them: the system columns already as their types store them.
        dialect = setup.engine.dialect
        stored = [(p(v) if (p := table.c[k].type.bind_processor(dialect)) else v) for k, v in system.items()]
        columns = ["id", *FIELDS, *system]
        insert = (f"INSERT INTO {_quoted(table.name)} ({', '.join(columns)}) "
                  f"VALUES ({', '.join('?' * len(columns))})")
        with setup.engine.begin() as conn:
            for start in range(0, count, LOAD_CHUNK):
                made = contacts(start, min(LOAD_CHUNK, count - start), hits)
                conn.exec_driver_sql(insert, [(rid, *values, *stored) for rid, values, _ in made])
            # The SQLite index keeps each field's text as stored (`entry`: the type's search text);
            # the trigram table holds records with Chinese, Japanese or Korean text only (none here).
            conn.exec_driver_sql(f"INSERT INTO {_quoted(layout.table)} (rowid, {', '.join(keys)}) "
                                 f"SELECT id, name, city, notes FROM {_quoted(table.name)}")
        with setup.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        _load_postgresql(setup, table, layout, count, hits, system)
    seconds = time.perf_counter() - started
    _check(setup, obj, table, layout, count)
    return Loaded(table, layout, hits, seconds)


def _load_postgresql(setup: Setup, table: sa.Table, layout: fulltext.Layout, count: int, hits: Hits,
                     system: dict[str, Any]) -> None:
    keys = [f.key for f in layout.fields]
    names = ["id", *FIELDS, *system]
    definitions = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1"
    with setup.engine.begin() as conn:
        # The GIN indexes are built once the rows are in (from their own definitions), not row by row.
        indexes = conn.exec_driver_sql(definitions, (layout.table,)).all()
        built = [d for _, d in indexes if "USING gin" in d]
        for name in [n for n, d in indexes if "USING gin" in d]:
            conn.exec_driver_sql(f"DROP INDEX {_quoted(name)}")
        raw: Any = conn.connection.driver_connection
        system_row = list(system.values())
        with raw.cursor() as cursor:
            for start in range(0, count, LOAD_CHUNK):
                chunk = list(contacts(start, min(LOAD_CHUNK, count - start), hits))
                with cursor.copy(f"COPY {_quoted(table.name)} ({', '.join(names)}) FROM STDIN") as copy:
                    for rid, values, _ in chunk:
                        copy.write_row([rid, *values, *system_row])
                weights = [fulltext.WEIGHTS[f.weight][0] for f in layout.fields]
                with cursor.copy(f"COPY {_quoted(layout.table)} (record_id, {', '.join(keys)}, document) "
                                 "FROM STDIN") as copy:
                    for rid, _, words in chunk:
                        copy.write_row([rid, *words, fulltext.tsvector_text(words, weights)])
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (table.name, count))
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for definition in built:
            conn.exec_driver_sql(definition)
        if conn.exec_driver_sql(definitions, (layout.table,)).all() != indexes:
            raise RuntimeError("the index table's indexes are not what the product made")
    with setup.engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        auto.exec_driver_sql(f"VACUUM ANALYZE {_quoted(table.name)}")
        auto.exec_driver_sql(f"VACUUM ANALYZE {_quoted(layout.table)}")


def _index_rows(setup: Setup, layout: fulltext.Layout, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    keys = ", ".join(f.key for f in layout.fields)
    marks = ", ".join(["?" if setup.backend == "sqlite" else "%s"] * len(ids))
    out: dict[int, tuple[Any, ...]] = {}
    with setup.engine.connect() as conn:
        tables = [(layout.table, "rowid"), (layout.grams, "rowid")] if setup.backend == "sqlite" \
            else [(layout.table, "record_id")]  # the trigram table must stay empty: no CJK text here
        for name, column in tables:
            for row in conn.exec_driver_sql(f"SELECT {column}, {keys} FROM {_quoted(name)} WHERE {column} IN "
                                            f"({marks})", tuple(ids)):
                out[int(row[0])] = (*out.get(int(row[0]), ()), tuple(row[1:]))
    return out


def _check(setup: Setup, obj: Any, table: sa.Table, layout: fulltext.Layout, count: int) -> None:
    """The loaded index is what the pipeline writes: a sample of loaded records and a few saved
    through the pipeline have exactly the rows of `entry`, and every record has its row."""
    rt, dialect = setup.runtime, setup.backend
    tables = 1  # the word index only: the loaded text has no Chinese, Japanese or Korean
    saved = [dict(zip(FIELDS, values, strict=True)) for _, values, _ in contacts(count, 3)]
    made = rt.records.create_many_ids(setup.actor, OBJECT, saved)
    sample = [*random.Random(3).sample(range(1, count + 1), min(200, count)), *made]
    rows = _index_rows(setup, layout, sample)
    columns = [table.c.id, *(table.c[n] for n in FIELDS)]
    with setup.engine.connect() as conn:
        records = {r.id: r for r in conn.execute(sa.select(*columns).where(table.c.id.in_(sample)))}
    for rid in sample:
        record = records[rid]
        expected = entry(obj, layout, {n: getattr(record, n) for n in FIELDS}, dialect)
        wanted = (tuple(expected[f.key] for f in layout.fields),) * tables
        if rows.get(rid) != wanted:
            raise RuntimeError(f"record {rid}: the index holds {rows.get(rid)!r}, the pipeline writes {wanted!r}")
    with setup.engine.connect() as conn:
        entries = fulltext.count(conn, layout)
    if entries != count + len(made):
        raise RuntimeError(f"the index holds {entries:,} entries for {count + len(made):,} records")
    for rid in made:  # the query is about the loaded records (a trashed record is never found)
        rt.records.delete(setup.actor, OBJECT, rid)


# -- the query -------------------------------------------------------------------------------
class Floor:
    """The hand-written full-text query over the same tables."""

    def __init__(self, setup: Setup, loaded: Loaded) -> None:
        self.engine = setup.engine
        t, layout = _quoted(loaded.table.name), loaded.layout
        fts = _quoted(layout.table)
        weights = ", ".join(str(fulltext.WEIGHTS[f.weight][1]) for f in layout.fields)
        if setup.backend == "sqlite":
            self.sql = (f"SELECT t.id, t.name, t.city, t.notes, bm25({fts}, {weights}) AS score "
                        f"FROM {fts} JOIN {t} t ON t.id = {fts}.rowid "
                        f"WHERE {fts} MATCH ? AND t.deleted_at IS NULL ORDER BY score, t.id DESC LIMIT {LIMIT}")
            self.params: tuple[Any, ...] = (" AND ".join(f'"{w}"' for w in QUERY.split()),)
        else:
            self.sql = (f"SELECT t.id, t.name, t.city, t.notes, ts_rank_cd(s.document, q) AS score "
                        f"FROM {fts} s JOIN {t} t ON t.id = s.record_id, plainto_tsquery('simple', %s) q "
                        f"WHERE s.document @@ q AND t.deleted_at IS NULL ORDER BY score DESC, t.id DESC "
                        f"LIMIT {LIMIT}")
            self.params = (QUERY,)

    def search(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.exec_driver_sql(self.sql, self.params).mappings()]


def _interleaved(calls: list[Callable[[], Any]], repeat: int, warmup: int = 5) -> tuple[list[float], list[float]]:
    """`common.interleaved_medians`, with the medians of the process's CPU time beside the wall-clock ones."""
    for _ in range(warmup):
        for call in calls:
            call()
    wall: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for i, call in enumerate(calls):
            started, used = time.perf_counter(), time.process_time()
            call()
            cpu[i].append(time.process_time() - used)
            wall[i].append(time.perf_counter() - started)
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu]


def _api_latencies(setup: Setup, calls: int) -> list[float]:
    app = create_app(setup.runtime)

    async def drive() -> list[float]:
        times = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for i in range(calls + 10):
                started = time.perf_counter()
                response = await client.get("/api/v1/search", params={"q": QUERY, "limit": LIMIT},
                                            headers=setup.headers)
                spent = time.perf_counter() - started
                if response.status_code != 200 or len(response.json()["results"]) != LIMIT:
                    raise RuntimeError(f"GET /api/v1/search answered {response.status_code}: {response.text[:300]}")
                if i >= 10:  # the first calls warm up
                    times.append(spent)
        return times

    return asyncio.run(drive())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_query(setup: Setup, count: int, repeat: int, calls: int) -> list[Result]:
    loaded = load(setup, count)
    rt, actor, floor = setup.runtime, setup.actor, Floor(setup, loaded)

    def product() -> dict[str, Any]:
        return rt.search.search(actor, QUERY, limit=LIMIT)

    product_ids = [(r["object"], r["id"]) for r in product()["results"]]
    floor_ids = [(OBJECT, r["id"]) for r in floor.search()]
    if product_ids != floor_ids or len(product_ids) != LIMIT:
        raise RuntimeError(f"the product found {product_ids}, the floor {floor_ids}")
    with setup.engine.connect() as conn:
        matches = conn.exec_driver_sql(floor.sql.replace(f"LIMIT {LIMIT}", ""), floor.params).all()
    for label, engine, call in (("product", rt.engine, product), ("floor", setup.engine, floor.search)):
        with capture_statements(engine, loaded.layout.table) as seen:
            call()
        setup.notes.append(f"{setup.backend} search {label} plan: {plan(setup, *seen[-1])}")
    (product_time, floor_time), (product_cpu, floor_cpu) = _interleaved([product, floor.search], repeat)
    if setup.backend == "sqlite":  # SQLite works in this process: its CPU time is the whole of the work
        setup.notes.append(f"sqlite search CPU time (less noisy on a busy machine): product {product_cpu * 1000:.2f}"
                           f" ms, floor {floor_cpu * 1000:.2f} ms, {product_cpu / floor_cpu:.2f}x")
    latencies = _api_latencies(setup, calls)
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    h = loaded.hits
    size = f"{count // 1000:,}k"
    setup.notes.append(
        f"{setup.backend} search: {count:,} records loaded (table + index, bulk SQL) in {loaded.seconds:.0f} s; "
        f"{QUERY!r}: 'lisbon' is the city of {h.city:,} ({h.city / count:.2%}), 'refund' in the note of "
        f"{h.note:,} ({h.note / count:.2%}), both {h.both:,} ({h.both / count:.3%}; {len(matches):,} matched)")
    return [
        at_most(f"search 2 words of {size} (service)", setup.backend, product_time, floor_time, TARGET_QUERY),
        Result(f"search 2 words of {size}, API p50 / p99", setup.backend, f"{p50 * 1000:.2f} ms",
               f"{p99 * 1000:.2f} ms", p50 / floor_time, "info: p50 / floor", None),
    ]


# -- creates ---------------------------------------------------------------------------------
def run_create(setup: Setup, records: int, singles: int, rounds: int) -> list[Result]:
    rt, actor = setup.runtime, setup.actor
    rt.metadata.create_object(actor, shaped(WITH_SEARCH, True))
    rt.metadata.create_object(actor, shaped(WITHOUT_SEARCH, False))
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        assert layout_of(snap.object(WITH_SEARCH)) is not None and layout_of(snap.object(WITHOUT_SEARCH)) is None
    source = contacts(10_000_000, (rounds + 1) * (records + singles))

    def items(n: int) -> list[dict[str, Any]]:
        return [dict(zip(FIELDS, values, strict=True)) for _, values, _ in itertools.islice(source, n)]

    def many(name: str, batch: list[dict[str, Any]]) -> Callable[[], Any]:
        return lambda: rt.records.create_many(actor, name, batch)

    def one_by_one(name: str, batch: list[dict[str, Any]]) -> Callable[[], Any]:
        return lambda: [rt.records.create(actor, name, item) for item in batch]

    def settle() -> None:
        # The creates before leave their events to the in-process worker; moved along
        # before each timed call, they don't run during (and count against) the next one.
        rt.scheduler.drain()
        gc.collect()

    # Warm up both paths of both objects.
    warm = items(CREATE_BATCH)
    for name in (WITH_SEARCH, WITHOUT_SEARCH):
        many(name, warm)()
        one_by_one(name, warm[:50])()
    times: dict[str, list[float]] = {"many+": [], "many-": [], "one+": [], "one-": []}
    for i in range(rounds):
        batch, single = items(records), items(singles)
        order = [(WITH_SEARCH, "+"), (WITHOUT_SEARCH, "-")]
        for name, mark in order if i % 2 == 0 else order[::-1]:
            settle()
            times["many" + mark].append(timed(many(name, batch)))
        for name, mark in order[::-1] if i % 2 == 0 else order:
            settle()
            times["one" + mark].append(timed(one_by_one(name, single)))
    median = {k: statistics.median(v) for k, v in times.items()}
    setup.notes.append(f"{setup.backend} search create rounds (s): " + "; ".join(
        f"{k} " + " ".join(f"{t:.2f}" for t in v) for k, v in times.items()))
    return [
        at_most(f"create_many {records:,} with 3 searchable fields", setup.backend, median["many+"],
                median["many-"], TARGET_CREATE, f"{median['many-'] * 1000:.0f} ms unsearched"),
        at_most(f"create {singles:,} one at a time, 3 searchable", setup.backend, median["one+"],
                median["one-"], TARGET_CREATE, f"{median['one-'] * 1000:.0f} ms unsearched"),
    ]
