"""Funnel and time-in-stage reports over the history of a select field, or of a lookup to a
small object (a sales stage), each compiled to one SQL statement (CTEs and window
functions, the same on SQLite and PostgreSQL).

A **funnel** (`"type": "funnel"`) counts, per stage of an ordered list (the select's
options by default; for a lookup, its target's records in their order), the records that
*reached* it: the records whose furthest stage —
over the current value and every value the field's history shows it held (`old` and `new`
of each change, so the value a record was created with counts too) — is this stage or a
later one. A record that skipped a stage still reached it (it got at least this far); one
that moved back keeps the furthest stage it saw. Conversion is reached / reached of the
previous stage and reached / reached of the first, as exact decimals (10 places). With
`"measure": {"function": "sum", "field": "amount"}` each stage also totals a number field
over the records that reached it (`value`), and the conversions are of those totals.

**Time in stage** (`"type": "time_in_stage"`) measures, per stage, the time records spent
in it: consecutive history entries of the field bound each stay (a record's first stay
starts when it was created), a record's stays in one stage are added up, and the average
and median over the records are whole seconds. The stay in the current value is still
open and left out unless `"include_current": true`, which counts it until `now` (a run
parameter, so such a report changes by the second and is not cached).

    p = plan_stages(doc, obj, schema, visible, choices=choices)
    q = compile_stages(p, "sqlite", table_for, history, ctx, column_for, where=[row_scope])
    stage_drill_filter(p, {"stage": "won"})   # → the record-list filter of one stage

Over a lookup, the stages are records named by their name field (`"stages":
["Qualification", "Proposal", "Won"]`: ids differ per database); `choices(target)` — the
target's live records (id, name) in order, read by the caller — turns the names into the
ids the field and its history hold, and the furthest stage is ranked by a CASE over those
ids. Rows carry the name as `stage` and as `label`.

Pure (layer 4 over 1): the history table, the caller's row scope and the stage records
come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tessera.formula import Checked, FormulaError, Schema, check, compile_filter, compile_sql
from tessera.formula.sqlcompile import ColumnFor, TableFor
from tessera.meta.model import MAX_CHOICES, FieldDef, ObjectDef
from tessera.reports.compiler import _aggregate, _int_div
from tessera.reports.definition import Aggregate, Choices, Problem, ReportError, Visible, _render, _RowSchema
from tessera.reports.drill import _text

KINDS = ("funnel", "time_in_stage")
#: Properties of summary reports only.
SUMMARY_ONLY = ("group_by", "columns_by", "measures", "sort", "limit", "fiscal_year_start")
#: What a funnel may total per stage besides counting the records.
FUNNEL_FUNCTIONS = ("count", "sum")
#: Result columns of each kind: (name, label, type).
FUNNEL_COLUMNS = (("reached", "Reached", "number"), ("from_previous", "Conversion from previous", "number"),
                  ("from_first", "Conversion from first", "number"))
TIME_COLUMNS = (("records", "Records", "number"), ("average", "Average time", "duration"),
                ("median", "Median time", "duration"))
#: A history sequence number after every real one: the still-open stay in the current value.
_LAST = 2**62
#: The per-record column of a funnel's summed field.
_VALUE = Aggregate("a0", "sum", None)


@dataclass(frozen=True)
class StagePlan:
    """A funnel or time-in-stage report understood against the metadata."""

    kind: str
    object: ObjectDef
    field: FieldDef
    stages: tuple[str, ...]
    labels: tuple[str, ...]
    filter: Checked | None
    created_from: date | None
    created_to: date | None
    include_current: bool
    label: str
    #: A funnel's total per stage (the number field summed over the records that reached
    #: it); None: the funnel counts records only.
    value: Checked | None = None
    value_label: str = ""
    #: What the field holds for each stage: the option values of a select (= `stages`),
    #: the record ids of a lookup; () for a lookup planned without its choices (a document
    #: checked before the stage records exist), which cannot be compiled.
    keys: tuple[Any, ...] = ()

    @property
    def lookup(self) -> bool:
        """Whether the stages are records a lookup points at (not a select's options)."""
        return self.field.type == "lookup"

    @property
    def columns(self) -> tuple[tuple[str, str, str], ...]:
        if self.kind != "funnel":
            return TIME_COLUMNS
        if self.value is None:
            return FUNNEL_COLUMNS
        return (FUNNEL_COLUMNS[0], ("value", self.value_label, "number"), *FUNNEL_COLUMNS[1:])

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.columns)


def plan_stages(doc: Mapping[str, Any], obj: ObjectDef, schema: Schema, visible: Visible | None = None,
                extra_filter: str | None = None, choices: Choices | None = None) -> StagePlan:
    """The funnel or time-in-stage report `doc` (valid against its JSON Schema) over `obj`;
    raises ReportError listing every problem. Over a lookup, `choices` gives the target's
    records: without it (a document checked against the metadata alone) the stage names
    are not checked, and the plan cannot be compiled."""
    problems: list[Problem] = []
    kind = str(doc["type"])
    name = str(doc.get("field") or "")
    fdef = obj.field(name)
    if fdef is None or (visible is not None and not visible(obj, fdef)):
        problems.append(Problem("/field", f'unknown field "{name}"', "unknown_field"))
    elif fdef.type not in ("select", "lookup"):
        problems.append(Problem("/field", f"{name} is a {fdef.type}; a {kind.replace('_', ' ')} report needs a "
                                          "select field or a lookup"))
    options: dict[str, Any] = {}  # a stage's name → what the field holds for it
    labels: dict[str, str] = {}
    known = False  # whether the possible stages are known (and so are checked)
    if fdef is not None and fdef.type == "select":
        options = {str(o["value"]): str(o["value"]) for o in fdef.props.get("options", [])}
        labels = {str(o["value"]): str(o.get("label") or o["value"]) for o in fdef.props.get("options", [])}
        known = True
    elif fdef is not None and fdef.type == "lookup":
        target = schema.object(str(fdef.props.get("target")))
        records = choices(target) if target is not None and choices is not None else None
        if target is None:
            problems.append(Problem("/field", f"{name} looks up {fdef.props.get('target')!r}, which is no object"))
        elif choices is not None and records is None:
            problems.append(Problem("/field", f"{name} looks up {target.plural_label}, which has more than "
                                              f"{MAX_CHOICES} records; stages are the records of a small object "
                                              "(a sales stage)", "too_many"))
        elif records is not None:
            for record_id, record_name in records:
                options.setdefault(record_name, record_id)  # two records of one name: the first
            labels = {n: n for n in options}
            known = True
    stages = [str(s) for s in doc.get("stages") or options]
    for i, stage in enumerate(stages):
        if known and stage not in options:
            if fdef is not None and fdef.type == "lookup":
                problems.append(Problem(f"/stages/{i}", f"no {_target_label(schema, fdef)} is named {stage!r}",
                                        "unknown_record"))
            else:
                problems.append(Problem(f"/stages/{i}", f"{stage!r} is not an option of {name}", "unknown_option"))
        if stage in stages[:i]:
            problems.append(Problem(f"/stages/{i}", f"{stage!r} is listed twice", "duplicate"))
    if known and not stages:
        what = "options" if fdef is not None and fdef.type == "select" else "records"
        problems.append(Problem("/stages", f"{name} has no {what} to use as stages"))
    filter_checked = None
    filters = [f for f in (doc.get("filter"), extra_filter) if f]
    if filters:
        source = " AND ".join(f"({f})" for f in filters) if len(filters) > 1 else filters[0]
        pointer = "/filter" if doc.get("filter") else "filter"
        try:
            filter_checked = check(source, obj, schema, "boolean")
        except FormulaError as error:
            problems.append(Problem(pointer, _render(error), "formula"))
        else:
            for ref in filter_checked.references:
                if visible is not None and not visible(ref.object, ref.field):
                    where = "" if ref.object is obj else f" on {ref.object.label}"
                    problems.append(Problem(pointer, f'unknown field "{ref.field.api_name}"{where}',
                                            "unknown_field"))
                    break
    created = doc.get("created") or {}
    bounds: list[date | None] = []
    for end in ("from", "to"):
        raw = created.get(end)
        try:
            bounds.append(date.fromisoformat(str(raw)) if raw else None)
        except ValueError:
            problems.append(Problem(f"/created/{end}", f"{raw!r} is not a date (YYYY-MM-DD)"))
            bounds.append(None)
    if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
        problems.append(Problem("/created/to", "the range ends before it starts"))
    for key in SUMMARY_ONLY:
        if key in doc:
            problems.append(Problem(f"/{key}", f"a {kind.replace('_', ' ')} report has no {key}", "unsupported"))
    if doc.get("include_current") and kind != "time_in_stage":
        problems.append(Problem("/include_current", "only time-in-stage reports have an open current stay"))
    value, value_label = _funnel_measure(doc, kind, obj, schema, visible, problems)
    if problems:
        raise ReportError(problems)
    assert fdef is not None
    return StagePlan(kind, obj, fdef, tuple(stages), tuple(labels.get(s, s) for s in stages), filter_checked,
                     bounds[0], bounds[1], bool(doc.get("include_current")), fdef.label, value, value_label,
                     tuple(options[s] for s in stages) if known else ())


def _target_label(schema: Schema, fdef: FieldDef) -> str:
    target = schema.object(str(fdef.props.get("target")))
    return target.label if target is not None else str(fdef.props.get("target"))


def _funnel_measure(doc: Mapping[str, Any], kind: str, obj: ObjectDef, schema: Schema, visible: Visible | None,
                    problems: list[Problem]) -> tuple[Checked | None, str]:
    """A funnel's `measure`: counting records (None) or the sum of a number field, with the
    label of its column."""
    measure = doc.get("measure")
    if not measure:
        return None, ""
    if kind != "funnel":
        problems.append(Problem("/measure", "only funnel reports have a measure", "unsupported"))
        return None, ""
    function = str(measure.get("function") or "count")
    name = measure.get("field")
    if function == "count":
        if name:
            problems.append(Problem("/measure/field", "counting records needs no field; sum a field instead"))
        return None, ""
    if not name:
        problems.append(Problem("/measure/field", f"{function} needs a number field", "required"))
        return None, ""
    fdef = obj.field(str(name))
    if fdef is None or (visible is not None and not visible(obj, fdef)):
        problems.append(Problem("/measure/field", f'unknown field "{name}"', "unknown_field"))
        return None, ""
    try:
        checked = check(str(name), obj, schema)
    except FormulaError as error:
        problems.append(Problem("/measure/field", _render(error), "formula"))
        return None, ""
    if checked.type != "number":
        problems.append(Problem("/measure/field", f"{fdef.label} is a {fdef.type}; a funnel sums a number field"))
        return None, ""
    return checked, str(measure.get("label") or f"Sum of {fdef.label}")


def compile_stages(p: StagePlan, dialect: str, table_for: TableFor, history: sa.Table,
                   ctx: Any = None, column_for: ColumnFor | None = None, where: Sequence[Any] = (),
                   now: datetime | None = None) -> sa.Select[Any]:
    """The report as one SELECT: a row per stage, in order, with `stage`, `label`, `pos`
    and the kind's measures."""
    if len(p.keys) != len(p.stages):
        raise ValueError("a stage report over a lookup is planned with its choices before it is compiled")
    sqlite = dialect == "sqlite"
    base = table_for(p.object)
    conditions: list[Any] = [base.c.deleted_at.is_(None), *where]
    if p.filter is not None:
        conditions.append(compile_filter(p.filter, dialect, table_for, ctx, column_for))
    created = base.c.created_at
    if p.created_from is not None:
        conditions.append(created >= datetime(p.created_from.year, p.created_from.month, p.created_from.day))
    if p.created_to is not None:
        end = p.created_to + timedelta(days=1)
        conditions.append(created < datetime(end.year, end.month, end.day))
    value = base.c[p.field.column]
    measured = [compile_sql(p.value, dialect, table_for, ctx, column_for).label(f"v_{_VALUE.key}")] \
        if p.value is not None else []
    records = sa.select(base.c.id.label("rid"), value.label("v"), created.label("created"), *measured) \
        .where(*conditions).cte("stage_records")
    h = history
    of_field = sa.and_(h.c.record_id == records.c.rid, h.c.object_uid == p.object.uid, h.c.field_uid == p.field.uid)
    # `key`: what the field holds for the stage (an option's value, a record's id).
    key_type: Any = sa.BigInteger() if p.lookup else sa.Text()
    stage_list = sa.union_all(*(sa.select(sa.literal(i + 1, sa.Integer()).label("pos"),
                                          sa.literal(s, sa.Text()).label("stage"),
                                          sa.literal(label, sa.Text()).label("label"),
                                          sa.literal(key, key_type).label("key"))
                                for i, (s, label, key) in enumerate(zip(p.stages, p.labels, p.keys, strict=True)))) \
        .cte("stage_list")
    if p.kind == "funnel":
        return _funnel(p, dialect, records, h, of_field, stage_list)
    return _time_in_stage(p, sqlite, records, h, of_field, stage_list, now)


def _json_text(column: Any, sqlite: bool) -> Any:
    """A JSON scalar of the history's old/new as text ('"won"' → won)."""
    if sqlite:
        return sa.type_coerce(sa.func.json_extract(column, "$"), sa.Text())
    return sa.type_coerce(column.op("#>>")(sa.literal_column("'{}'")), sa.Text())


def _held(p: StagePlan, column: Any, sqlite: bool) -> Any:
    """The value the history's old/new holds, as the field's column holds it: an option's
    value as text, a lookup's record id as an integer (the history keeps it as a JSON number)."""
    text = _json_text(column, sqlite)
    return sa.cast(text, sa.BigInteger()) if p.lookup else text


def _funnel(p: StagePlan, dialect: str, records: Any, h: sa.Table, of_field: Any, stage_list: Any) -> sa.Select[Any]:
    sqlite = dialect == "sqlite"
    held = sa.union_all(
        sa.select(records.c.rid, records.c.v),
        sa.select(records.c.rid, _held(p, h.c.new, sqlite)).select_from(records.join(h, of_field)),
        sa.select(records.c.rid, _held(p, h.c.old, sqlite)).select_from(records.join(h, of_field)),
    ).subquery("held")
    # The furthest stage by its place in the list: a CASE over the option values or the ids.
    rank = sa.case({k: i + 1 for i, k in enumerate(p.keys)}, value=held.c.v)
    furthest = sa.select(held.c.rid, sa.func.max(rank).label("furthest")).group_by(held.c.rid).subquery("furthest")
    # Each record counts (and adds its value) at every stage up to its furthest one.
    measured = [records.c[f"v_{_VALUE.key}"]] if p.value is not None else []
    got = sa.select(furthest.c.rid, furthest.c.furthest, *measured) \
        .select_from(furthest.join(records, records.c.rid == furthest.c.rid)) \
        .where(furthest.c.furthest.is_not(None)).subquery("got")
    totals = [_aggregate(Aggregate(_VALUE.key, "sum", p.value), got, sqlite).label("value")] \
        if p.value is not None else []
    counted = sa.select(stage_list.c.pos, stage_list.c.stage, stage_list.c.label,
                        sa.type_coerce(sa.func.count(got.c.rid), sa.Integer()).label("reached"), *totals) \
        .select_from(stage_list.outerjoin(got, got.c.furthest >= stage_list.c.pos)) \
        .group_by(stage_list.c.pos, stage_list.c.stage, stage_list.c.label).subquery("counted")
    basis = counted.c.value if p.value is not None else counted.c.reached
    steps = sa.select(*counted.c,
                      sa.type_coerce(sa.func.lag(basis).over(order_by=counted.c.pos), basis.type).label("previous"),
                      sa.type_coerce(sa.func.first_value(basis).over(order_by=counted.c.pos), basis.type)
                      .label("first")).subquery("steps")
    names = ("reached", "value", "previous", "first") if p.value is not None else ("reached", "previous", "first")
    row = ObjectDef({"uid": "funnel-row", "api_name": "funnel_row", "label": "Funnel row", "fields": [
        {"uid": f"funnel-{n}", "api_name": n, "label": n, "type": "formula", "expression": "0",
         "formula_type": "number"} for n in names]})

    def ratio(source: str) -> Any:
        checked = check(source, row, _RowSchema(row))
        return compile_sql(checked, dialect, lambda _o: steps, None, lambda _o, f, t: t.c[f.api_name])

    measure = "value" if p.value is not None else "reached"
    values = [ratio("value").label("value")] if p.value is not None else []
    return sa.select(steps.c.stage, steps.c.label, steps.c.pos, ratio("reached").label("reached"), *values,
                     ratio(f"IF(previous > 0, {measure} / previous, BLANK())").label("from_previous"),
                     ratio(f"IF(first > 0, {measure} / first, BLANK())").label("from_first")) \
        .order_by(steps.c.pos)


def _time_in_stage(p: StagePlan, sqlite: bool, records: Any, h: sa.Table, of_field: Any, stage_list: Any,
                   now: datetime | None) -> sa.Select[Any]:
    # Each change closes a stay in its `old` value, begun at the change before (or creation).
    changes = [sa.select(records.c.rid, records.c.created, _held(p, h.c.old, sqlite).label("stage"),
                         h.c.at.label("ended"), h.c.id.label("seq")).select_from(records.join(h, of_field))]
    if p.include_current:
        at = sa.literal(now, h.c.at.type) if now is not None else sa.func.current_timestamp()
        changes.append(sa.select(records.c.rid, records.c.created, records.c.v, sa.type_coerce(at, h.c.at.type),
                                 sa.literal(_LAST, sa.BigInteger())))
    events = sa.union_all(*changes).subquery("events") if len(changes) > 1 else changes[0].subquery("events")
    began = sa.func.coalesce(sa.func.lag(events.c.ended).over(partition_by=events.c.rid, order_by=events.c.seq),
                             events.c.created)
    stays = sa.select(events.c.rid, events.c.stage, _seconds(began, events.c.ended, sqlite).label("seconds")) \
        .subquery("stays")
    per_record = sa.select(stays.c.rid, stays.c.stage, sa.func.sum(stays.c.seconds).label("spent")) \
        .where(stays.c.stage.in_(p.keys)).group_by(stays.c.rid, stays.c.stage).subquery("per_record")
    spent = per_record.c.spent
    if sqlite:
        ordered = sa.select(per_record.c.stage, spent,
                            sa.func.row_number().over(partition_by=per_record.c.stage, order_by=spent).label("rn"),
                            sa.func.count().over(partition_by=per_record.c.stage).label("cn")).subquery("ordered")
        rn, cn, v = ordered.c.rn, ordered.c.cn, ordered.c.spent
        middle = sa.or_(rn == _int_div(cn + 1, 2), rn == _int_div(cn + 2, 2))
        picked = sa.case((middle, v))
        measures = sa.select(ordered.c.stage, sa.func.count().label("records"),
                             sa.cast(sa.func.round(sa.func.sum(v) * 1.0 / sa.func.count(v)), sa.BigInteger())
                             .label("average"),
                             _int_div(sa.func.sum(picked), sa.func.count(picked)).label("median")) \
            .group_by(ordered.c.stage).subquery("measures")
    else:
        low = sa.func.percentile_disc(0.5).within_group(spent)
        high = sa.func.percentile_disc(0.5).within_group(spent.desc())
        measures = sa.select(per_record.c.stage, sa.func.count().label("records"),
                             sa.cast(sa.func.round(sa.cast(sa.func.sum(spent), sa.Numeric()) / sa.func.count(spent)),
                                     sa.BigInteger()).label("average"),
                             sa.cast(sa.func.trunc((low + high) / 2.0), sa.BigInteger()).label("median")) \
            .group_by(per_record.c.stage).subquery("measures")
    return sa.select(stage_list.c.stage, stage_list.c.label, stage_list.c.pos,
                     sa.type_coerce(sa.func.coalesce(measures.c.records, 0), sa.Integer()).label("records"),
                     sa.type_coerce(measures.c.average, sa.BigInteger()).label("average"),
                     sa.type_coerce(measures.c.median, sa.BigInteger()).label("median")) \
        .select_from(stage_list.outerjoin(measures, measures.c.stage == stage_list.c.key)) \
        .order_by(stage_list.c.pos)


def _seconds(start: Any, end: Any, sqlite: bool) -> Any:
    """Whole seconds from `start` to `end` (rounded to the millisecond first, then cut)."""
    if sqlite:
        ms = sa.cast(sa.func.round((sa.func.julianday(end) - sa.func.julianday(start)) * 86_400_000), sa.BigInteger())
    else:
        ms = sa.cast(sa.func.round(sa.extract("epoch", end - start) * 1000), sa.BigInteger())
    return _int_div(ms, 1000)


def stage_drill_filter(p: StagePlan, cell: Mapping[str, Any]) -> str:
    """The record-list filter of one stage (`{"stage": "won"}`; over a lookup, the stage's
    name: `{"stage": "Won"}`): the report's filter and created range, and the records now
    in that stage (`stage = "won"`; over a lookup `stage.id = 7`). (A funnel step counts
    every record that got at least this far; those that moved on are in the later steps'
    lists.)"""
    problems = [Problem(f"/cell/{name}", f"the report has no grouping named {name!r}", "unknown_name")
                for name in cell if name not in ("stage", "label")]
    stage = cell.get("stage")
    if "stage" not in cell:
        problems.append(Problem("/cell/stage", "name the stage", "required"))
    elif stage is not None and stage not in p.stages:
        problems.append(Problem("/cell/stage", f"{stage!r} is not a stage of this report"))
    if problems:
        raise ReportError(problems)
    parts = [f"({p.filter.source})"] if p.filter is not None else []
    if p.created_from is not None:
        d = p.created_from
        parts.append(f"created_at >= DATETIME({d.year}, {d.month}, {d.day}, 0, 0, 0)")
    if p.created_to is not None:
        d = p.created_to + timedelta(days=1)
        parts.append(f"created_at < DATETIME({d.year}, {d.month}, {d.day}, 0, 0, 0)")
    name = p.field.api_name
    if stage is None:
        parts.append(f"ISBLANK({name})")
    elif p.lookup:
        parts.append(f"{name}.id = {int(p.keys[p.stages.index(stage)])}")
    else:
        parts.append(f"{name} = {_text(str(stage))}")
    return " AND ".join(parts)


def stage_problems(doc: Mapping[str, Any], obj: ObjectDef, schema: Schema) -> list[Problem]:
    try:
        plan_stages(doc, obj, schema)
    except ReportError as error:
        return error.problems
    return []
