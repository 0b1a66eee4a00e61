"""Benchmark: importing a spreadsheet of deals through `platform.imports`.

The file: an .xlsx written with openpyxl (write-only) of N deals, one row each: a unique
external id, a deal name, three lookups by name (account, product, campaign: 300, 200 and
300 records), a select written as its label ("Closed won"), two dates (one an ISO string,
one a typed date cell), and an amount as text with thousands separators ("1,234.50").

Product: `imports.start` + `imports.change` (mapping, mode) + `imports.run` + `jobs.wait` —
the whole of what a person waits for, timed from the upload to the job's end. Its rows go
through the service's chunked decide/write, the save pipeline, the checkpoints.

Floors, into the same physical table with the same values (version, created/updated
at/by and owner filled as records/save.py `_insert` fills them; ids from the table's own
default, without the pipeline's reservation query):
- A: openpyxl read-only reading of the file, plain Python coercion (dicts of the target
  records' names for the lookups, of the select's labels; `Decimal`, `date.fromisoformat`)
  and one SQLAlchemy Core executemany of all the rows in one transaction.
- B: python-calamine reading (what the product reads with), the same coercion and one
  executemany per 1,000 rows, each in a transaction of its own (as the import commits).

Further targets on the same data: the preview of the file (a dry run, on the draft, before
the run), an upsert of the unchanged file keyed by external id against the first import
(every row must come out unchanged), a file with 1 % of its account names misspelt
against the clean one (throughput, rows of the file per second; exactly 1 % must be
refused), and the peak RSS (VmHWM) of a child process that does one clean import (start to
the job's end) on a Platform of its own.

A small untimed pass of every path first warms the caches and checks that both floors
store exactly the rows the import stores. Then rounds of: floor A, floor B, the clean
import and the bad one, the order reversed every other round. After each import the
worker is left to deliver the import's events (one per chunk; printed, not timed), then
the table is emptied. The best of the rounds counts (this machine is shared; noise only
ever adds time); every round's time is printed too. The preview and the upsert (against
the import it follows) are measured in the first round only, to keep the run near ten
minutes. N is 100,000 in 2 rounds (20,000 in 1 with --quick); `TESSERA_BENCH_IMPORT_ROWS`
overrides N.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from benchmarks.common import Result, Setup
from tessera.auth.actor import Actor
from tessera.data.tables import import_errors, outbox, record_history
from tessera.runtime.platform import Platform

ROWS_ENV = "TESSERA_BENCH_IMPORT_ROWS"
ACCOUNTS, PRODUCTS, CAMPAIGNS = 300, 200, 300
#: Rows per executemany (and transaction) of floor B: the import's own chunk.
FLOOR_CHUNK = 1000
#: One row in this many has its account misspelt in the "bad" file.
BAD_EVERY = 100
WARM_ROWS = 1000
WAIT = 3600.0
#: Seconds to wait at most for an import's events to be delivered before going on.
SETTLE = 300.0

# Targets of the issue.
TARGET_FLOOR_A = 1.0  # import time / floor A time, at most
TARGET_FLOOR_B = 3.0  # import time / floor B time, at most
TARGET_PREVIEW = 2.0  # seconds, at most
TARGET_UPSERT = 0.5  # unchanged upsert time / first import time, at most
TARGET_BAD = 0.8  # throughput with 1 % bad rows / clean throughput, at least
TARGET_MEMORY_MB = 300.0  # peak RSS of the importing process, at most

DEAL = "imp_deal"
TARGETS = {"imp_account": ("Account", ACCOUNTS), "imp_product": ("Product", PRODUCTS),
           "imp_campaign": ("Campaign", CAMPAIGNS)}
STAGES = (("new", "New"), ("qualified", "Qualified"), ("proposal", "Proposal sent"), ("won", "Closed won"),
          ("lost", "Closed lost"))
DEAL_DOC: dict[str, Any] = {"api_name": DEAL, "label": "Imported deal", "fields": [
    {"api_name": "external_id", "label": "External ID", "type": "text", "unique": True},
    {"api_name": "name", "label": "Deal name", "type": "text", "required": True},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "imp_account"},
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "imp_product"},
    {"api_name": "campaign", "label": "Campaign", "type": "lookup", "target": "imp_campaign"},
    {"api_name": "stage", "label": "Stage", "type": "select",
     "options": [{"value": v, "label": label} for v, label in STAGES]},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "signed_on", "label": "Signed on", "type": "date"}]}
#: The file's columns and the field each goes into.
MAPPING = {"External ID": "external_id", "Deal name": "name", "Account": "account", "Product": "product",
           "Campaign": "campaign", "Stage": "stage", "Amount": "amount", "Close date": "close_date",
           "Signed on": "signed_on"}
HEADERS = list(MAPPING)
#: The tables emptied between runs: the deals and what writing them leaves beside them.
WRITTEN = (record_history.name, outbox.name, import_errors.name)


def rows_for(default: int) -> int:
    raw = os.environ.get(ROWS_ENV, "").replace("_", "").replace(",", "")
    return int(raw) if raw else default


# -- the files ------------------------------------------------------------------------------
def target_name(label: str, i: int) -> str:
    return f"{label} {i:04d}"


def deal_rows(count: int, *, bad: bool = False, prefix: str = "EXT") -> Iterator[list[Any]]:
    """The file's rows (after its header); `bad`: one row in BAD_EVERY names an account no
    record has (a letter dropped)."""
    base = date(2024, 1, 1)
    for i in range(count):
        account = target_name("Account", (i * 7) % ACCOUNTS)
        if bad and i % BAD_EVERY == BAD_EVERY // 2:
            account = account.replace("Account", "Acount")
        cents = (i * 7919) % 99_990_000 + 10_000
        yield [f"{prefix}-{i:07d}", f"Deal {i}", account, target_name("Product", (i * 11) % PRODUCTS),
               target_name("Campaign", (i * 13) % CAMPAIGNS), STAGES[i % len(STAGES)][1], f"{cents / 100:,.2f}",
               (base + timedelta(days=i % 730)).isoformat(), base + timedelta(days=(i * 3) % 700)]


def bad_count(count: int) -> int:
    return sum(1 for i in range(count) if i % BAD_EVERY == BAD_EVERY // 2)


def xlsx(rows: Iterable[list[Any]]) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Deals")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Files:
    clean: bytes
    bad: bytes
    warm: bytes
    seconds: float


_FILES: dict[int, Files] = {}


def files(count: int) -> Files:
    """The files for `count` rows, written once per process (both backends share them)."""
    if count not in _FILES:
        start = time.perf_counter()
        clean, bad = xlsx(deal_rows(count)), xlsx(deal_rows(count, bad=True))
        warm = xlsx(deal_rows(WARM_ROWS, prefix="WARM"))
        _FILES[count] = Files(clean, bad, warm, time.perf_counter() - start)
    return _FILES[count]


# -- the model ------------------------------------------------------------------------------
@dataclass
class Model:
    """The deal object's table and columns, and the target records' ids by folded name."""

    table: sa.Table
    columns: dict[str, str]
    ids: dict[str, dict[str, int]]
    stages: dict[str, str]


def build_model(setup: Setup) -> Model:
    rt, actor = setup.runtime, setup.actor
    for api_name, (label, count) in TARGETS.items():
        rt.metadata.create_object(actor, {"api_name": api_name, "label": label, "fields": [
            {"api_name": "name", "label": f"{label} name", "type": "text", "required": True}]})
        rt.records.create_many(actor, api_name, [{"name": target_name(label, i)} for i in range(count)])
    rt.metadata.create_object(actor, DEAL_DOC)
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        obj = snap.object(DEAL)
        table = snap.table(obj)
        columns = {f["api_name"]: obj.field(f["api_name"]).column for f in DEAL_DOC["fields"]}
        ids: dict[str, dict[str, int]] = {}
        for api_name in TARGETS:
            target = snap.object(api_name)
            ttable = snap.table(target)
            name_col = ttable.c[target.field("name").column]
            ids[api_name] = {str(n).strip().casefold(): int(i)
                             for i, n in conn.execute(sa.select(ttable.c.id, name_col))}
    stages = {label.casefold(): value for value, label in STAGES} | {v: v for v, _ in STAGES}
    return Model(table, columns, ids, stages)


# -- the floors -----------------------------------------------------------------------------
def coercer(model: Model, user_id: int | None) -> Callable[[Any], dict[str, Any]]:
    """A file row → the table row, in plain Python (as a hand-written loader does it)."""
    c = model.columns
    accounts, products, campaigns = (model.ids[n] for n in ("imp_account", "imp_product", "imp_campaign"))
    stages = model.stages
    at = datetime.now(UTC)
    system = {"version": 1, "created_at": at, "created_by": user_id, "updated_at": at, "updated_by": user_id,
              "owner": user_id}

    def day(cell: Any) -> date | None:
        if cell is None or cell == "":
            return None
        if isinstance(cell, datetime):
            return cell.date()
        if isinstance(cell, date):
            return cell
        return date.fromisoformat(str(cell).strip())

    def money(cell: Any) -> Decimal | None:
        if cell is None or cell == "":
            return None
        if isinstance(cell, str):
            return Decimal(cell.strip().replace(",", ""))
        return Decimal(str(cell))

    def coerce(cells: Any) -> dict[str, Any]:
        ext, name, account, product, campaign, stage, amount, closing, signed = cells[:9]
        return {
            c["external_id"]: str(ext).strip(), c["name"]: str(name).strip(),
            c["account"]: accounts[str(account).strip().casefold()],
            c["product"]: products[str(product).strip().casefold()],
            c["campaign"]: campaigns[str(campaign).strip().casefold()],
            c["stage"]: stages[str(stage).strip().casefold()],
            c["amount"]: money(amount), c["close_date"]: day(closing), c["signed_on"]: day(signed),
            **system,
        }

    return coerce


def floor_openpyxl(setup: Setup, model: Model, content: bytes) -> int:
    """Floor A: openpyxl read-only, plain coercion, one executemany. Answers rows written."""
    coerce = coercer(model, setup.actor.user_id)
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    rows = book.worksheets[0].iter_rows(values_only=True)
    next(rows)
    values = [coerce(row) for row in rows if any(cell is not None for cell in row)]
    book.close()
    with setup.engine.begin() as conn:
        conn.execute(sa.insert(model.table), values)
    return len(values)


def floor_calamine(setup: Setup, model: Model, content: bytes) -> int:
    """Floor B: python-calamine, plain coercion, an executemany (and commit) per chunk."""
    coerce = coercer(model, setup.actor.user_id)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
    rows = sheet.iter_rows()
    next(rows)
    insert = sa.insert(model.table)
    written = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(coerce(row))
        if len(chunk) >= FLOOR_CHUNK:
            with setup.engine.begin() as conn:
                conn.execute(insert, chunk)
            written += len(chunk)
            chunk = []
    if chunk:
        with setup.engine.begin() as conn:
            conn.execute(insert, chunk)
        written += len(chunk)
    return written


# -- the product ----------------------------------------------------------------------------
@dataclass
class Run:
    """One import through the service: its times and how it ended."""

    draft: float
    job: float
    counts: dict[str, int]
    status: str
    preview: float | None = None
    preview_counts: dict[str, int] | None = None
    #: The job's own run, as its row tells it (started to finished).
    ran: float | None = None

    @property
    def total(self) -> float:
        return self.draft + self.job


def import_file(rt: Platform, actor: Actor, content: bytes, settings: dict[str, Any], *,
                preview: bool = False) -> Run:
    """start + change (+ an untimed-in-the-total preview) + run + wait."""
    start = time.perf_counter()
    draft = rt.imports.start(actor, DEAL, "deals.xlsx", content)
    rt.imports.change(actor, draft["id"], settings)
    drafted = time.perf_counter() - start
    seen, seen_counts = None, None
    if preview:
        began = time.perf_counter()
        shown = rt.imports.preview(actor, draft["id"])
        seen, seen_counts = time.perf_counter() - began, shown["counts"]
    start = time.perf_counter()
    started = rt.imports.run(actor, draft["id"])
    job = rt.jobs.wait(int(started["job"]), timeout=WAIT)
    waited = time.perf_counter() - start
    done = rt.imports.get(actor, draft["id"])
    ran = None
    if job.get("started_at") and job.get("finished_at"):
        ran = (_moment(job["finished_at"]) - _moment(job["started_at"])).total_seconds()
    if job["status"] != "succeeded":
        raise RuntimeError(f"the import job {job['status']}: {job.get('error') or job.get('message')}")
    return Run(drafted, waited, dict(done["counts"]), done["status"], seen, seen_counts, ran)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


INSERT = {"mapping": MAPPING, "mode": "insert", "key": []}
UPSERT = {"mapping": MAPPING, "mode": "upsert", "key": ["external_id"]}


# -- peak memory: one import in a child process -----------------------------------------------
def child_main(argv: list[str]) -> None:
    """In a fresh interpreter: a Platform on the benchmark's database, one clean import;
    prints the process's peak RSS (MB) after it and before it, and its time, as JSON."""
    url, path, user_id = argv
    from tessera.settings import Settings

    rt = Platform(Settings(database_url=url))
    try:
        # The admin as an actor without signing in: a password hash would be the peak.
        actor = rt.users.actor_for_user(int(user_id))
        content = Path(path).read_bytes()
        with rt.read() as conn:
            rt.snapshot(conn)
        before = _max_rss_mb()
        done = import_file(rt, actor, content, INSERT)
        print(json.dumps({"peak_mb": _max_rss_mb(), "before_mb": before, "seconds": done.total,
                          "counts": done.counts}))
    finally:
        rt.dispose()


def _max_rss_mb() -> float:
    """The process's peak RSS so far. VmHWM, not ru_maxrss: on Linux ru_maxrss survives
    exec, so a child started by a big parent would report the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def import_in_child(url: str, content: bytes, user_id: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-import-") as folder:
        path = Path(folder) / "deals.xlsx"
        path.write_bytes(content)
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from benchmarks.bench_imports import child_main; "
                                   "child_main(sys.argv[1:])", url, str(path), str(user_id)],
            cwd=root, env=env, capture_output=True, text=True, timeout=WAIT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the child import failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the run ---------------------------------------------------------------------------------
def count_deals(setup: Setup, model: Model) -> int:
    with setup.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model.table)).scalar_one())


def stored_rows(setup: Setup, model: Model) -> list[dict[str, Any]]:
    """The deals as stored, without what differs between two loads of the same file."""
    varying = ("id", "created_at", "updated_at")
    with setup.engine.connect() as conn:
        rows = conn.execute(sa.select(model.table).order_by(model.table.c[model.columns["external_id"]]))
        return [{k: v for k, v in r.items() if k not in varying} for r in rows.mappings()]


def empty(setup: Setup) -> None:
    setup.truncate(DEAL, *WRITTEN)


def settle(setup: Setup, spent: list[float]) -> None:
    """Wait for the worker to deliver the events an import left in the outbox (one per chunk),
    so that its background work neither overlaps the next measurement nor meets the table
    being emptied. How long it took is printed for information; it is not the import's time."""
    start = time.perf_counter()
    pending = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.processed_at.is_(None))
    while time.perf_counter() - start < SETTLE:
        with setup.engine.connect() as conn:
            if not conn.execute(pending.where(outbox.c.available_at <= datetime.now(UTC))).scalar_one():
                break
        time.sleep(0.1)
    spent.append(time.perf_counter() - start)


def timed_rows(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    written = fn()
    return time.perf_counter() - start, written


def warm_up(setup: Setup, model: Model, content: bytes) -> None:
    """Every path once on a small file; the floors must store exactly what the import stores."""
    floor_openpyxl(setup, model, content)
    by_a = stored_rows(setup, model)
    empty(setup)
    floor_calamine(setup, model, content)
    by_b = stored_rows(setup, model)
    empty(setup)
    import_file(setup.runtime, setup.actor, content, INSERT, preview=True)
    settle(setup, [])
    by_import = stored_rows(setup, model)
    empty(setup)
    if not (len(by_import) == WARM_ROWS and by_a == by_import and by_b == by_import):
        raise RuntimeError("the floors do not store the same rows as the import")


@dataclass
class Samples:
    floor_a: list[float] = field(default_factory=list)
    floor_b: list[float] = field(default_factory=list)
    clean: list[Run] = field(default_factory=list)
    upsert: list[Run] = field(default_factory=list)
    bad: list[Run] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)
    #: Seconds the worker took to deliver each import's events after it (not timed in it).
    events: list[float] = field(default_factory=list)


def one_round(setup: Setup, model: Model, made: Files, count: int, samples: Samples, *, first: bool,
              reverse: bool) -> None:
    """Floor A, floor B, the clean import and the bad one (the order reversed when asked);
    the first round also previews the clean file and upserts it again once it is in."""
    rt, actor = setup.runtime, setup.actor

    def floor(fn: Callable[[Setup, Model, bytes], int], into: list[float], name: str) -> None:
        spent, written = timed_rows(lambda: fn(setup, model, made.clean))
        if written != count or count_deals(setup, model) != count:
            raise RuntimeError(f"floor {name} wrote {written} rows, not {count}")
        into.append(spent)
        empty(setup)

    def clean_then_upsert() -> None:
        samples.clean.append(import_file(rt, actor, made.clean, INSERT, preview=first))
        settle(setup, samples.events)
        samples.stored.append(count_deals(setup, model))
        if first:
            samples.upsert.append(import_file(rt, actor, made.clean, UPSERT))
            settle(setup, samples.events)
        empty(setup)

    def bad() -> None:
        samples.bad.append(import_file(rt, actor, made.bad, INSERT))
        settle(setup, samples.events)
        empty(setup)

    steps: list[Callable[[], None]] = [
        lambda: floor(floor_openpyxl, samples.floor_a, "A"), lambda: floor(floor_calamine, samples.floor_b, "B"),
        clean_then_upsert, bad]
    for step in reversed(steps) if reverse else steps:
        step()


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "MISS", None: "info"}[passed]


def seconds(values: Iterable[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def run(setup: Setup, count: int, repeat: int = 2) -> list[Result]:
    """`repeat` rounds (the order reversed every other one); the best of each measure counts:
    on a shared machine noise only ever adds time."""
    backend = setup.backend
    made = files(count)
    model = build_model(setup)
    bad = bad_count(count)
    load_before = os.getloadavg()[0]
    warm_up(setup, model, made.warm)
    samples = Samples()
    for n in range(max(1, repeat)):
        one_round(setup, model, made, count, samples, first=n == 0, reverse=n % 2 == 1)
    assert setup.actor.user_id is not None
    child = import_in_child(setup.url, made.clean, setup.actor.user_id)
    settle(setup, [])  # the child's events, delivered by this process's worker
    empty(setup)
    load_after = os.getloadavg()[0]

    floor_a, floor_b = min(samples.floor_a), min(samples.floor_b)
    first = min(samples.clean, key=lambda r: r.total)
    # The upsert and the preview run in the first round only: against that round's import.
    paired, upsert = samples.clean[0], samples.upsert[0]
    flawed = min(samples.bad, key=lambda r: r.total)
    preview = paired.preview or 0.0
    created_ok = all(r.counts.get("created") == count for r in samples.clean) \
        and all(n == count for n in samples.stored) and child["counts"].get("created") == count
    preview_ok = (paired.preview_counts or {}).get("create") == count
    unchanged_ok = all(r.counts.get("unchanged") == count and r.counts.get("created", 0) == 0
                       and r.counts.get("updated", 0) == 0 for r in samples.upsert)
    refused_ok = all(r.counts.get("refused") == bad and r.counts.get("created") == count - bad for r in samples.bad)
    rate, bad_rate = count / first.total, count / flawed.total
    vs_a, vs_b, vs_first = first.total / floor_a, first.total / floor_b, upsert.total / paired.total

    lines = [
        f"imports ({backend}): {count:,} deals, .xlsx of {len(made.clean) / 1e6:.1f} MB (both files written in "
        f"{made.seconds:.1f} s, once per run); the best of {len(samples.clean)} round(s), each round's times in "
        f"brackets; load average {load_before:.1f} before, {load_after:.1f} after",
        f"  floor A  openpyxl + dicts + 1 executemany     {floor_a:7.2f} s  {count / floor_a:9,.0f} rows/s  "
        f"({seconds(samples.floor_a)})",
        f"  floor B  calamine + dicts + executemany/1000  {floor_b:7.2f} s  {count / floor_b:9,.0f} rows/s  "
        f"({seconds(samples.floor_b)})",
        f"  import   start+change {first.draft:.2f} s + run+wait {first.job:.2f} s = {first.total:.2f} s  "
        f"{rate:9,.0f} rows/s  ({seconds(r.total for r in samples.clean)}; the job's own run {first.ran or 0:.2f} s)"
        f"  counts {first.counts}",
        f"  preview (first round)  {preview:.2f} s  counts {paired.preview_counts}",
        f"  upsert of the unchanged file (first round)  {upsert.total:.2f} s = {upsert.draft:.2f} + "
        f"{upsert.job:.2f}, against that round's import of {paired.total:.2f} s  counts {upsert.counts}",
        f"  1 % bad rows  {flawed.total:.2f} s  {bad_rate:9,.0f} rows/s  ({seconds(r.total for r in samples.bad)})"
        f"  counts {flawed.counts}",
        f"  child process, one clean import: {child['seconds']:.2f} s, peak RSS {child['peak_mb']:.0f} MB "
        f"({child['before_mb']:.0f} MB before the import)  counts {child['counts']}",
        f"  after each import, the worker delivered its events in (s, untimed): {seconds(samples.events)}",
    ]
    checks: list[tuple[str, str, str, bool]] = [
        ("import / floor A (time)", f"{vs_a:.2f}x", f"<= {TARGET_FLOOR_A:g}x", vs_a <= TARGET_FLOOR_A),
        ("import / floor B (time)", f"{vs_b:.2f}x", f"<= {TARGET_FLOOR_B:g}x", vs_b <= TARGET_FLOOR_B),
        ("preview", f"{preview:.2f} s", f"<= {TARGET_PREVIEW:g} s", preview <= TARGET_PREVIEW),
        ("upsert unchanged / first import (time)", f"{vs_first:.2f}x", f"<= {TARGET_UPSERT:g}x",
         vs_first <= TARGET_UPSERT),
        ("1 % bad / clean (rows/s)", f"{bad_rate / rate:.2f}x", f">= {TARGET_BAD:g}x", bad_rate / rate >= TARGET_BAD),
        ("peak RSS of the importing process", f"{child['peak_mb']:.0f} MB", f"<= {TARGET_MEMORY_MB:g} MB",
         child["peak_mb"] <= TARGET_MEMORY_MB),
        ("counts: all created (imports, child), preview", f"{first.counts.get('created')}", f"{count}",
         created_ok and preview_ok),
        ("counts: upsert all unchanged", f"{upsert.counts.get('unchanged')}", f"{count}", unchanged_ok),
        ("counts: refused == 1 %", f"{flawed.counts.get('refused')}", f"{bad}", refused_ok),
    ]
    width = max(len(c[0]) for c in checks)
    lines.append(f"  {'target (' + backend + ')':<{width}}  {'measured':>9}  {'target':>10}  result")
    lines += [f"  {name:<{width}}  {measured:>9}  {target:>10}  {verdict(ok)}" for name, measured, target, ok in checks]
    print("\n".join(lines), file=sys.stderr, flush=True)
    setup.notes.append("\n".join(lines))

    what = f"imports: {count:,} deals from .xlsx"
    return [
        Result(f"{what} vs floor A (openpyxl)", backend, f"{first.total:.1f} s", f"{floor_a:.1f} s", vs_a,
               f"<= {TARGET_FLOOR_A:g}x", vs_a <= TARGET_FLOOR_A and created_ok),
        Result(f"{what} vs floor B (calamine)", backend, f"{first.total:.1f} s", f"{floor_b:.1f} s", vs_b,
               f"<= {TARGET_FLOOR_B:g}x", vs_b <= TARGET_FLOOR_B and created_ok),
        Result(f"{what}, preview", backend, f"{preview:.2f} s", f"{TARGET_PREVIEW:g} s budget",
               preview / TARGET_PREVIEW, "<= 1x", preview <= TARGET_PREVIEW and preview_ok),
        Result(f"{what}, upsert unchanged vs first", backend, f"{upsert.total:.1f} s", f"{paired.total:.1f} s",
               vs_first, f"<= {TARGET_UPSERT:g}x", vs_first <= TARGET_UPSERT and unchanged_ok),
        Result(f"{what}, 1 % bad rows vs clean", backend, f"{bad_rate:,.0f} rows/s", f"{rate:,.0f} rows/s",
               bad_rate / rate, f">= {TARGET_BAD:g}x", bad_rate / rate >= TARGET_BAD and refused_ok),
        Result(f"{what}, peak RSS (child process)", backend, f"{child['peak_mb']:.0f} MB",
               f"{TARGET_MEMORY_MB:g} MB budget", child["peak_mb"] / TARGET_MEMORY_MB, "<= 1x",
               child["peak_mb"] <= TARGET_MEMORY_MB and created_ok),
    ]
