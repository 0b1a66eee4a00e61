"""A report plan compiled to one SQL statement: the records' per-row values in a CTE, the
aggregates grouped in the database for every grouping level (GROUPING SETS on PostgreSQL,
UNION ALL of the levels on SQLite), the measures worked out over the aggregates with the
formula compiler (exact decimals on both), then sort and top-N.

Result rows carry `_lvl`, a bit mask of the groupings a row is *not* grouped by (as
PostgreSQL's GROUPING() gives it): 0 for detail rows, all ones for the grand total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import Grouping

from tessera.formula import EvalContext, compile_filter, compile_sql
from tessera.formula.functions import pg
from tessera.formula.sqlcompile import ColumnFor, TableFor
from tessera.meta.columns import ScaledDecimal
from tessera.reports.definition import Aggregate, Plan
from tessera.reports.definition import Grouping as ReportGrouping

LEVEL = "_lvl"


@dataclass(frozen=True)
class ReportQuery:
    statement: sa.Select[Any]
    plan: Plan

    @property
    def all_levels(self) -> int:
        return (1 << len(self.plan.groupings)) - 1


def grouping_sets(plan: Plan) -> list[tuple[int, ...]]:
    """Every grouping level: each prefix of the row groupings, with and without the column
    grouping (the detail rows, subtotals, column totals and the grand total)."""
    rows = len(plan.rows)
    sets: list[tuple[int, ...]] = []
    for k in range(rows, -1, -1):
        prefix = tuple(range(k))
        if plan.column is not None:
            sets.append((*prefix, rows))
        sets.append(prefix)
    return sets


def level_of(plan: Plan, keys: Sequence[int]) -> int:
    total = len(plan.groupings)
    return sum(1 << (total - 1 - i) for i in range(total) if i not in keys)


def compile_report(plan: Plan, dialect: str, table_for: TableFor, ctx: EvalContext | None = None,
                   column_for: ColumnFor | None = None, where: Sequence[Any] = ()) -> ReportQuery:
    """The report as one SELECT over `table_for(plan.object)`, restricted to live records,
    the report's filter and `where` (the caller's row scope)."""
    sqlite = dialect == "sqlite"
    base = table_for(plan.object)
    groupings = plan.groupings
    key_exprs = [_key(g, compile_sql(g.checked, dialect, table_for, ctx, column_for), sqlite, plan.fiscal_start)
                 .label(f"k{i}") for i, g in enumerate(groupings)]
    aggregates = [a for m in plan.measures for a in m.aggregates]
    values = [compile_sql(a.checked, dialect, table_for, ctx, column_for).label(f"v_{a.key}")
              for a in aggregates if a.checked is not None]
    conditions: list[Any] = [base.c.deleted_at.is_(None), *where]
    if plan.filter is not None:
        conditions.append(compile_filter(plan.filter, dialect, table_for, ctx, column_for))
    row_select = sa.select(*key_exprs, *values, sa.literal(1).label("_one")).select_from(base).where(*conditions)
    rows = row_select.cte("report_rows")
    if sqlite and groupings and _reads_only_from(row_select, base):
        # SQLite would write the rows to a temporary table once for all the levels; reading
        # the table again per level is cheaper when no row needs a lookup's subquery.
        rows = rows.prefix_with("NOT MATERIALIZED")
    keys = [rows.c[f"k{i}"] for i in range(len(groupings))]
    medians = [a for a in aggregates if a.function == "median"]

    def level_select(member: tuple[int, ...]) -> sa.Select[Any]:
        source: Any = rows
        if sqlite and medians:
            part = [rows.c[f"k{i}"] for i in member] or None
            extra = []
            for a in medians:
                v = rows.c[f"v_{a.key}"]
                order = [v.is_(None), v if isinstance(v.type, ScaledDecimal) else sa.cast(v, sa.Float()), v]
                extra += [sa.func.row_number().over(partition_by=part, order_by=order).label(f"rn_{a.key}"),
                          sa.func.count(v).over(partition_by=part).label(f"cn_{a.key}")]
            source = sa.select(*rows.c, *extra).subquery()
        cols = [(source.c[f"k{i}"] if i in member else sa.null()).label(f"k{i}") for i in range(len(groupings))]
        cols.append(sa.literal(level_of(plan, member)).label(LEVEL))
        cols += [_aggregate(a, source, sqlite).label(a.key) for a in aggregates]
        select = sa.select(*cols).select_from(source)
        return select.group_by(*(source.c[f"k{i}"] for i in member)) if member else select

    if not groupings:
        grouped = level_select(()).subquery("report_agg")
    elif sqlite:
        grouped = sa.union_all(*(level_select(s) for s in grouping_sets(plan))).subquery("report_agg")
    else:
        cols = [*keys, sa.func.grouping(*keys).label(LEVEL), *(_aggregate(a, rows, False).label(a.key)
                                                               for a in aggregates)]
        sets = [sa.tuple_(*(keys[i] for i in s)) for s in grouping_sets(plan)]
        grouped = sa.select(*cols).group_by(sa.func.grouping_sets(*sets)).subquery("report_agg")

    def agg_column(obj: Any, fdef: Any, table: Any) -> Any:
        return table.c[fdef.api_name]

    measures = [compile_sql(m.outer, dialect, lambda _o: grouped, ctx, agg_column).label(m.name)
                for m in plan.measures]
    report = sa.select(*(grouped.c[f"k{i}"].label(g.name) for i, g in enumerate(groupings)),
                       grouped.c[LEVEL], *measures).subquery("report")
    names = [g.name for g in groupings] + [m.name for m in plan.measures]
    types = {g.name: g.type for g in groupings} | {m.name: m.type for m in plan.measures}
    options = {g.name: [value for value, _label in g.options] for g in groupings if g.options and not g.bucket}

    def order(source: Any) -> list[Any]:
        out = []
        wanted = [*plan.sort, *((g.name, False) for g in groupings if g.name not in dict(plan.sort))]
        for name, desc in wanted:
            col = source.c[name]
            if name in options:
                # A select's groups follow its options (a pipeline's stages in their order),
                # then values that are no longer options, alphabetically; blank last. A lookup
                # to an ordered small object follows its records' order (ids in a CASE).
                position = sa.case((col.is_(None), sa.null()),
                                   *((col == v, i) for i, v in enumerate(options[name])),
                                   else_=len(options[name]))
                out.append((position.desc() if desc else position.asc()).nulls_last())
            elif sqlite and types[name] == "number" and not isinstance(col.type, ScaledDecimal):
                col = sa.cast(col, sa.Float())
            out.append((col.desc() if desc else col.asc()).nulls_last())
        return out

    if plan.limit:
        ranked = sa.select(*report.c, sa.func.row_number().over(partition_by=report.c[LEVEL], order_by=order(report))
                           .label("_rn")).subquery("ranked")
        statement = sa.select(*(ranked.c[n] for n in names), ranked.c[LEVEL]) \
            .where(sa.or_(ranked.c[LEVEL] != 0, ranked.c["_rn"] <= plan.limit)) \
            .order_by(ranked.c[LEVEL], *order(ranked))
    else:
        statement = sa.select(*(report.c[n] for n in names), report.c[LEVEL]).order_by(report.c[LEVEL],
                                                                                        *order(report))
    return ReportQuery(statement, plan)


def _reads_only_from(select: Any, base: Any) -> bool:
    return all(e is base for e in visitors.iterate(select) if isinstance(e, sa.Table))


def _aggregate(a: Aggregate, source: Any, sqlite: bool) -> Any:
    """The SQL aggregate of one report aggregate over `source`'s per-row columns."""
    if a.checked is None:
        return sa.type_coerce(sa.func.count(), sa.Integer())
    v = source.c[f"v_{a.key}"]
    t = a.checked.type
    scale = v.type.scale if sqlite and isinstance(v.type, ScaledDecimal) else None
    if a.function == "count_if":
        return sa.type_coerce(sa.func.coalesce(sa.func.sum(sa.case((v, 1), else_=0)), 0), sa.Integer())
    if a.function == "count":
        return sa.type_coerce(sa.func.count(v), sa.Integer())
    if a.function == "count_distinct":
        return sa.type_coerce(sa.func.count(sa.distinct(v)), sa.Integer())
    if t == "duration":
        if a.function == "sum":
            return sa.type_coerce(sa.func.coalesce(sa.func.sum(v), 0), sa.BigInteger())
        if a.function == "avg":
            return sa.type_coerce(sa.func.sum(v) * 1.0 / sa.func.nullif(sa.func.count(v), 0)
                                  if sqlite else pg.exact_div(sa.func.sum(v), sa.func.count(v)), sa.Numeric())
        if a.function == "median":
            return sa.type_coerce(_median(a, v, source, sqlite, None, integer=True), sa.BigInteger())
    if t == "number" and sqlite:
        if a.function in ("min", "max") and scale is not None:
            return sa.type_coerce(getattr(sa.func, a.function)(v), ScaledDecimal(38, scale))
        if a.function == "sum" and scale is not None:
            return sa.type_coerce(sa.func.coalesce(sa.func.sum(v), 0), ScaledDecimal(38, scale))
        if a.function == "median":
            return sa.type_coerce(_median(a, v, source, True, scale), sa.Text())
        if a.function == "avg" and (scale is not None or isinstance(v.type, sa.Integer)):
            # Exact integers (scaled decimals, integer fields) add up natively; only the one
            # division per group goes through the formula functions (as tx_avg would divide).
            return sa.type_coerce(sa.func.tx("/", f"n:n{scale or 0},n", sa.func.sum(v), sa.func.count(v)), sa.Text())
        fn = {"sum": sa.func.tx_sum, "avg": sa.func.tx_avg, "min": sa.func.tx_min, "max": sa.func.tx_max}[a.function]
        out = fn(v, scale if scale is not None else -1)
        return sa.type_coerce(sa.func.coalesce(out, "0") if a.function == "sum" else out, sa.Text())
    if t == "number":
        if a.function == "sum":
            return sa.type_coerce(sa.func.coalesce(sa.func.sum(v), 0), sa.Numeric())
        if a.function == "avg":
            return sa.type_coerce(pg.exact_div(sa.func.sum(v), sa.func.count(v)), sa.Numeric())
        if a.function == "median":
            return sa.type_coerce(_median(a, v, source, False, None), sa.Numeric())
    return getattr(sa.func, a.function)(v)


def _median(a: Aggregate, v: Any, source: Any, sqlite: bool, scale: int | None, integer: bool = False) -> Any:
    """The exact median: the middle value, or the average of the two middle ones. SQLite
    picks them by the row numbers of a window over the level's groups; PostgreSQL takes the
    lower and the upper middle with percentile_disc (percentile_cont would go through
    floating point)."""
    if not sqlite:
        low = sa.func.percentile_disc(0.5).within_group(v)
        high = sa.func.percentile_disc(0.5).within_group(v.desc())
        if integer:
            return sa.cast(sa.func.trunc((low + high) / 2.0), sa.BigInteger())
        return pg.exact_div(low + high, 2)
    rn, cn = source.c[f"rn_{a.key}"], source.c[f"cn_{a.key}"]
    middle = sa.or_(rn == _int_div(cn + 1, 2), rn == _int_div(cn + 2, 2))
    picked = sa.case((middle, v))
    if integer:
        return sa.type_coerce(Grouping(sa.func.sum(picked)).op("/")(sa.func.count(picked)), sa.Integer())
    return sa.func.tx_avg(picked, scale if scale is not None else -1)


def _key(g: ReportGrouping, expr: Any, sqlite: bool, fiscal_start: int) -> Any:
    """A grouping's value per row; a date bucket as text: "2024-03-05" (day; week: its
    Monday), "2024-03" (month), "2024-Q1" (quarter), "2024" (year). Quarters and years
    count from the fiscal-year start and are named by the calendar year they start in."""
    if not g.bucket:
        return expr
    x = expr
    if sqlite:
        if g.bucket == "day":
            out = sa.func.strftime("%Y-%m-%d", x)
        elif g.bucket == "week":
            out = sa.func.date(x, "weekday 0", "-6 days")
        elif g.bucket == "month":
            out = sa.func.strftime("%Y-%m", x)
        else:
            year = sa.cast(sa.func.strftime("%Y", x), sa.Integer())
            month = sa.cast(sa.func.strftime("%m", x), sa.Integer())
            out = _fiscal(year, month, g.bucket, fiscal_start, sa.func.printf, "%d")
    else:
        if g.checked.type == "datetime":
            x = sa.func.timezone("UTC", x)
        if g.bucket == "day":
            out = sa.func.to_char(x, "YYYY-MM-DD")
        elif g.bucket == "week":
            out = sa.func.to_char(sa.func.date_trunc("week", x), "YYYY-MM-DD")
        elif g.bucket == "month":
            out = sa.func.to_char(x, "YYYY-MM")
        else:
            year = sa.cast(sa.extract("year", x), sa.Integer())
            month = sa.cast(sa.extract("month", x), sa.Integer())
            out = _fiscal(year, month, g.bucket, fiscal_start, sa.func.format, "%s")
    return sa.type_coerce(sa.case((expr.is_(None), sa.null()), else_=out), sa.Text())


def _fiscal(year: Any, month: Any, bucket: str, start: int, fmt: Any, spec: str) -> Any:
    months = year * 12 + month - start  # months since year 0's fiscal start, 0-based
    fiscal_year = _int_div(months, 12)
    if bucket == "year":
        return fmt(spec, fiscal_year)
    quarter = _int_div(months - fiscal_year * 12, 3) + 1
    return fmt(f"{spec}-Q{spec}", fiscal_year, quarter)


def _int_div(a: Any, b: Any) -> Any:
    """Integer division of a non-negative integer by a positive one (an int or an integer
    expression; both databases divide integers exactly so)."""
    divisor = b if isinstance(b, sa.ColumnElement) else sa.literal(b, sa.Integer())
    return sa.type_coerce(Grouping(a).op("/")(Grouping(divisor)), sa.Integer())
