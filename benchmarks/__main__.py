"""`python -m benchmarks [--quick] [--backend sqlite|postgresql|all] [--only NAME,...]`.

Runs every benchmark on each backend — a temporary SQLite file and a throwaway PostgreSQL
database that is dropped afterwards — and prints one table of product vs. floor with the
ratio, the target and PASS/FAIL. `--strict` makes any FAIL the exit status. The formula
benchmark's Python half needs no database and runs once, shown with the backend "python".
Names: create, bulk, list, formula, stored, permissions, page, reports, workflow, flows, timers, sla, rules,
lines, conversions, packages, imports, search, crm.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from benchmarks import (
    bench_bulk,
    bench_conversions,
    bench_create,
    bench_crm,
    bench_flows,
    bench_formula,
    bench_imports,
    bench_lines,
    bench_list,
    bench_packages,
    bench_page,
    bench_permissions,
    bench_reports,
    bench_rules,
    bench_search,
    bench_sla,
    bench_stored,
    bench_workflow,
)
from benchmarks.common import Result, database, prepare, render

BENCHMARKS = ("create", "bulk", "list", "formula", "stored", "permissions", "page", "reports", "workflow", "flows",
              "timers", "sla", "rules", "lines", "conversions", "packages", "imports",
              "search", "crm")


@dataclass(frozen=True)
class Sizes:
    create_requests: int
    create_block: int
    bulk_records: int
    bulk_repeat: int
    bulk_budget: float
    list_records: int
    list_deep: int
    list_repeat: int
    formula_eval_records: int
    formula_eval_repeat: int
    formula_records: int
    formula_repeat: int
    stored_records: int
    stored_writes: int
    stored_repeat: int
    permissions_records: int
    permissions_repeat: int
    page_repeat: int
    reports_records: int
    reports_repeat: int
    workflow_instances: int
    workflow_repeat: int
    flows_instances: int
    flows_repeat: int
    timers_due: int
    timers_pending: int
    timers_repeat: int
    sla_clocks: int
    sla_repeat: int
    rules_accounts: int
    rules_repeat: int
    rules_creators: int
    rules_records: int
    lines_repeat: int
    conversions_accounts: int
    conversions_repeat: int
    packages_records: int
    packages_repeat: int
    packages_plan_repeat: int
    imports_rows: int
    imports_repeat: int
    search_records: int
    search_repeat: int
    search_api_calls: int
    search_create_records: int
    search_create_singles: int
    search_create_rounds: int
    crm_repeat: int
    crm_page_repeat: int


FULL = Sizes(
    create_requests=2_000,
    create_block=200,
    bulk_records=50_000,
    bulk_repeat=3,
    bulk_budget=60,
    list_records=200_000,
    list_deep=150_000,
    list_repeat=200,
    formula_eval_records=2_000,
    formula_eval_repeat=15,
    formula_records=200_000,
    formula_repeat=30,
    stored_records=200_000,
    stored_writes=10_000,
    stored_repeat=3,
    permissions_records=200_000,
    permissions_repeat=200,
    page_repeat=60,
    reports_records=1_000_000,
    reports_repeat=5,
    workflow_instances=1_000,
    workflow_repeat=5,
    flows_instances=200,
    flows_repeat=5,
    timers_due=1_000,
    timers_pending=100_000,
    timers_repeat=5,
    sla_clocks=100_000,
    sla_repeat=3,
    rules_accounts=200_000,
    rules_repeat=3,
    rules_creators=8,
    rules_records=1_000,
    lines_repeat=60,
    conversions_accounts=100_000,
    conversions_repeat=200,
    packages_records=2_000,
    packages_repeat=4,
    packages_plan_repeat=5,
    imports_rows=100_000,
    imports_repeat=2,
    search_records=1_000_000,
    search_repeat=200,
    search_api_calls=300,
    search_create_records=4_000,
    search_create_singles=300,
    search_create_rounds=8,
    crm_repeat=3,
    crm_page_repeat=300,
)
QUICK = Sizes(
    create_requests=200,
    create_block=50,
    bulk_records=5_000,
    bulk_repeat=1,
    bulk_budget=0,
    list_records=20_000,
    list_deep=15_000,
    list_repeat=60,
    formula_eval_records=500,
    formula_eval_repeat=5,
    formula_records=20_000,
    formula_repeat=10,
    stored_records=20_000,
    stored_writes=2_000,
    stored_repeat=1,
    permissions_records=20_000,
    permissions_repeat=50,
    page_repeat=15,
    reports_records=50_000,
    reports_repeat=3,
    workflow_instances=200,
    workflow_repeat=3,
    flows_instances=30,
    flows_repeat=1,
    timers_due=200,
    timers_pending=20_000,
    timers_repeat=3,
    sla_clocks=10_000,
    sla_repeat=1,
    rules_accounts=20_000,
    rules_repeat=1,
    rules_creators=8,
    rules_records=200,
    lines_repeat=15,
    conversions_accounts=20_000,
    conversions_repeat=40,
    packages_records=500,
    packages_repeat=1,
    packages_plan_repeat=3,
    imports_rows=20_000,
    imports_repeat=1,
    search_records=50_000,
    search_repeat=40,
    search_api_calls=60,
    search_create_records=1_000,
    search_create_singles=50,
    search_create_rounds=4,
    crm_repeat=1,
    crm_page_repeat=15,
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Tessera vs. hand-written SQLAlchemy/FastAPI floors, printed as ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a sanity run of a minute or so")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any benchmark fails")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


def run_backend(backend: str, sizes: Sizes, only: list[str], notes: list[str]) -> list[Result]:
    results: list[Result] = []
    with database(backend) as url:
        setup = prepare(backend, url)
        try:
            if "create" in only:
                log(f"{backend}: create one record via the API")
                results += bench_create.run(setup, sizes.create_requests, sizes.create_block)
            if "bulk" in only:
                log(f"{backend}: bulk create")
                results += bench_bulk.run(setup, sizes.bulk_records, sizes.bulk_repeat, sizes.bulk_budget)
            if "list" in only:
                log(f"{backend}: list a sorted page")
                results += bench_list.run(setup, sizes.list_records, sizes.list_deep, sizes.list_repeat)
            if "formula" in only:
                log(f"{backend}: formula filter in SQL")
                results += bench_formula.run_sql(setup, sizes.formula_records, sizes.formula_repeat)
            if "stored" in only:
                log(f"{backend}: stored formula fields")
                results += bench_stored.run(setup, sizes.stored_records, sizes.stored_writes, sizes.stored_repeat)
            if "permissions" in only:
                log(f"{backend}: lists under row permissions")
                results += bench_permissions.run(setup, sizes.permissions_records, sizes.permissions_repeat)
            if "page" in only:
                log(f"{backend}: render a record page")
                results += bench_page.run(setup, sizes.page_repeat)
            if "reports" in only:
                log(f"{backend}: report stage x month")
                results += bench_reports.run(setup, sizes.reports_records, sizes.reports_repeat)
                log(f"{backend}: dashboard of 8 widgets, cold and warm")
                results += bench_reports.run_dashboard(setup, sizes.reports_records, sizes.reports_repeat)
            if "flows" in only:
                log(f"{backend}: flows persisted end to end")
                results += bench_flows.run_persisted(setup, sizes.flows_instances, sizes.flows_repeat)
            if "timers" in only:
                log(f"{backend}: due timers among many pending")
                results += bench_flows.run_timers(setup, sizes.timers_due, sizes.timers_pending, sizes.timers_repeat)
            if "sla" in only:
                log(f"{backend}: SLA clocks recomputed after a calendar change")
                results += bench_sla.run(setup, sizes.sla_clocks, sizes.sla_repeat)
            if "rules" in only:
                log(f"{backend}: segment refresh over accounts and orders")
                results += bench_rules.run_segments(setup, sizes.rules_accounts, sizes.rules_repeat)
                log(f"{backend}: round-robin assignment under concurrent creators")
                results += bench_rules.run_round_robin(setup, sizes.rules_creators, sizes.rules_records)
            if "lines" in only:
                log(f"{backend}: a quote with its lines, saved and read")
                results += bench_lines.run(setup, sizes.lines_repeat)
            if "conversions" in only:
                log(f"{backend}: convert a lead (match among accounts, create 3)")
                results += bench_conversions.run(setup, sizes.conversions_accounts, sizes.conversions_repeat)
            if "packages" in only:
                log(f"{backend}: install a package of 15 objects + sample data; plan its upgrade")
                results += bench_packages.run(setup, sizes.packages_records, sizes.packages_repeat,
                                              sizes.packages_plan_repeat)
            if "imports" in only:
                rows = bench_imports.rows_for(sizes.imports_rows)
                log(f"{backend}: import {rows:,} deals from .xlsx (floors, preview, upsert, bad rows, memory)")
                results += bench_imports.run(setup, rows, sizes.imports_repeat)
            if "search" in only:
                # The query first: it searches every object, and the creates make two more.
                log(f"{backend}: load {sizes.search_records:,} records; search 2 words, service and API")
                results += bench_search.run_query(setup, sizes.search_records, sizes.search_repeat,
                                                  sizes.search_api_calls)
                log(f"{backend}: create with 3 searchable fields vs without")
                results += bench_search.run_create(setup, sizes.search_create_records, sizes.search_create_singles,
                                                   sizes.search_create_rounds)
            if "crm" in only:
                log(f"{backend}: install the CRM template with its sample data; its account page")
                results += bench_crm.run(setup, sizes.crm_repeat, sizes.crm_page_repeat)
        finally:
            notes += setup.notes
            setup.close()
    return results


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    backends = ("sqlite", "postgresql") if args.backend == "all" else (args.backend,)
    started = time.perf_counter()
    results: list[Result] = []
    notes: list[str] = []
    if "formula" in args.only:
        log("python: formula evaluation")
        results += bench_formula.run_python(sizes.formula_eval_records, sizes.formula_eval_repeat, notes)
    if "workflow" in args.only:
        log("python: workflow executor in memory")
        results += bench_workflow.run(sizes.workflow_instances, sizes.workflow_repeat, notes)
    for backend in backends:
        results += run_backend(backend, sizes, args.only, notes)
    print()
    print(render(results))
    print()
    for note in notes:
        print(note)
    failed = [r for r in results if r.passed is False]
    judged = [r for r in results if r.passed is not None]
    print(
        f"\n{len(judged) - len(failed)} of {len(judged)} targets met in {time.perf_counter() - started:.0f} s"
        f"{' (quick sizes)' if args.quick else ''}."
    )
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
