"""The report engine: report documents (kind `reports`) checked against the metadata and
compiled to one SQL statement each — groupings, date buckets, measures, formulas over
aggregates, subtotals, totals, sort and top-N, all computed in the database.

    p = plan(doc, obj, schema, visible)                        # or ReportError(problems)
    query = compile_report(p, "postgresql", table_for, ctx, column_for, where=[row_scope])
    rows = conn.execute(query.statement)                       # one row per group and level
    drill_filter(p, {"owner": 7, "close_quarter": "2024-Q2"})  # → a record-list filter
    sp = plan_stages(funnel_doc, obj, schema, visible)         # "type": "funnel" | "time_in_stage"
    statement = compile_stages(sp, "sqlite", table_for, record_history, ctx, column_for, where=[row_scope])

Pure (layer 4 over 1): it uses tessera.meta and tessera.formula only; tables, compilers
and the caller's row scope come in as arguments.
"""

from __future__ import annotations

from tessera.reports.compiler import LEVEL, ReportQuery, compile_report, grouping_sets, level_of
from tessera.reports.definition import (
    BUCKETS,
    FUNCTIONS,
    Aggregate,
    Grouping,
    Measure,
    Plan,
    Problem,
    ReportError,
    plan,
)
from tessera.reports.drill import drill_filter
from tessera.reports.funnel import KINDS, StagePlan, compile_stages, plan_stages

__all__ = [
    "BUCKETS", "FUNCTIONS", "KINDS", "LEVEL", "Aggregate", "Grouping", "Measure", "Plan", "Problem", "ReportError",
    "ReportQuery", "StagePlan", "compile_report", "compile_stages", "drill_filter", "grouping_sets", "level_of",
    "plan", "plan_stages",
]
