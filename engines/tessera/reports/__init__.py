"""The report engine: report documents (kind `reports`) checked against the metadata and
compiled to one SQL statement each — groupings, date buckets, measures, formulas over
aggregates, subtotals, totals, sort and top-N, all computed in the database.

    p = plan(doc, obj, schema, visible, choices=choices)       # or ReportError(problems)
    query = compile_report(p, "postgresql", table_for, ctx, column_for, where=[row_scope])
    rows = conn.execute(query.statement)                       # one row per group and level
    drill_filter(p, {"owner": 7, "close_quarter": "2024-Q2"})  # → a record-list filter
    sp = plan_stages(funnel_doc, obj, schema, visible, choices=choices)  # "type": "funnel" | "time_in_stage"
    statement = compile_stages(sp, "sqlite", table_for, record_history, ctx, column_for, where=[row_scope])

Dashboards — grids of widgets, each drawing a report — are checked and drawn here too:

    check_dashboard(doc, schema, reports=saved, check_report=report_problems)
    active = activate_filters(doc, {"period": "last_quarter"}, today, user_id, team_members)
    narrowed = widget_filter(schema, obj, widget, active)     # ANDed into the widget's report filter
    data = chart_data(widget, result, grouping_labels(schema, obj, report, result, names), link)
    period("this_month", today).previous()                    # the period a KPI compares with

Pure (layer 4 over 1): it uses tessera.meta, tessera.formula and tessera.errors only;
tables, compilers, the caller's row scope, saved reports and the names of users and
records come in as arguments.
"""

from __future__ import annotations

from tessera.reports.charts import chart_data, drill_link, grouping_labels, relative_change
from tessera.reports.compiler import LEVEL, ReportQuery, compile_report, grouping_sets, level_of
from tessera.reports.dashboard import (
    CHART_LABELS,
    CHARTS,
    GRID_COLUMNS,
    NameRef,
    check_dashboard,
    dashboard_schema_problems,
    formula_type,
    inline_report,
    names_in_dashboard,
    resolve_path,
)
from tessera.reports.dashboard_filters import (
    ActiveFilter,
    activate_filters,
    compared_period,
    field_choices,
    widget_filter,
)
from tessera.reports.definition import (
    BUCKETS,
    FUNCTIONS,
    Aggregate,
    Choice,
    Choices,
    Grouping,
    Measure,
    Plan,
    Problem,
    ReportError,
    plan,
)
from tessera.reports.drill import drill_filter
from tessera.reports.funnel import KINDS, StagePlan, compile_stages, plan_stages, stage_drill_filter
from tessera.reports.periods import PRESETS, Period, period

__all__ = [
    "BUCKETS", "CHARTS", "CHART_LABELS", "FUNCTIONS", "GRID_COLUMNS", "KINDS", "LEVEL", "PRESETS", "ActiveFilter",
    "Aggregate", "Choice", "Choices", "Grouping", "Measure", "NameRef", "Period", "Plan", "Problem", "ReportError",
    "ReportQuery",
    "StagePlan", "activate_filters", "chart_data", "check_dashboard", "compared_period", "compile_report",
    "compile_stages", "dashboard_schema_problems", "drill_filter", "drill_link", "field_choices", "formula_type",
    "grouping_labels", "grouping_sets", "inline_report", "level_of", "names_in_dashboard", "period", "plan",
    "plan_stages", "relative_change", "resolve_path", "stage_drill_filter", "widget_filter"
]
