"""A report document understood against the metadata: its groupings, measures and sort,
each formula type-checked, or the problems found at JSON pointers into the document.

A measure is one or more aggregates over per-row expressions (`sum` of `amount`) and a
formula over those aggregates; a formula measure such as
`SUM(IF(stage = "won", amount, 0)) / SUM(amount)` is taken apart here: every report
aggregate call becomes a per-row expression checked against the object, and the rest of
the formula is checked over a synthetic "report row" whose fields are the aggregates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tessera.formula import Checked, FormulaError, Schema, check, parse
from tessera.formula.ast import Call, Node, Path
from tessera.meta.model import FieldDef, ObjectDef

FUNCTIONS = ("count", "sum", "avg", "min", "max", "count_distinct", "median")
BUCKETS = ("day", "week", "month", "quarter", "year")
#: Aggregate calls a report formula may use, with how many arguments they take.
FORMULA_AGGREGATES = {"SUM": (1,), "AVG": (1,), "MIN": (1,), "MAX": (1,), "COUNT": (0, 1)}
_NUMERIC = ("number", "duration")
#: The measure of a report that names none: how many records.
DEFAULT_MEASURES = ({"name": "records", "label": "Records", "function": "count"},)
_ORDERED = ("number", "duration", "text", "date", "datetime")
#: Whether the caller may see a field reached by a formula (hidden fields are "unknown").
Visible = Callable[[ObjectDef, FieldDef], bool]
#: One record of a small object offered as a choice: its id and its name.
Choice = tuple[int, str]
#: The live records of a small object (a sales stage) as choices, in the object's order
#: (its `order_field`, else by name); None when it has more than MAX_CHOICES records. The
#: runtime reads them; the engine turns them into stages and the order of groups.
Choices = Callable[[ObjectDef], Sequence[Choice] | None]


@dataclass(frozen=True)
class Problem:
    """Something wrong at a JSON pointer of the report document."""

    path: str
    message: str
    code: str = "invalid"


class ReportError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Grouping:
    name: str
    label: str
    path: str
    checked: Checked
    bucket: str | None = None
    #: A select field's options (value, label) in their order: the groups come in this
    #: order (not alphabetically), values that are no option after them, the blank group
    #: last; people read the labels. For a lookup to an object with an `order_field`, its
    #: records (id, name) in that order.
    options: tuple[tuple[Any, str], ...] = ()

    @property
    def type(self) -> str:
        return "text" if self.bucket else self.checked.type


@dataclass(frozen=True)
class Aggregate:
    """One SQL aggregate: `function` over a per-row formula (None: count the rows)."""

    key: str
    function: str
    checked: Checked | None


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    aggregates: tuple[Aggregate, ...]
    #: The measure as a formula over the report row (fields named by Aggregate.key).
    outer: Checked

    @property
    def type(self) -> str:
        return self.outer.type


@dataclass(frozen=True)
class Plan:
    object: ObjectDef
    filter: Checked | None
    rows: tuple[Grouping, ...]
    column: Grouping | None
    measures: tuple[Measure, ...]
    sort: tuple[tuple[str, bool], ...]
    limit: int | None
    fiscal_start: int
    row_object: ObjectDef = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def groupings(self) -> tuple[Grouping, ...]:
        return (*self.rows, *([self.column] if self.column else []))


def plan(doc: Mapping[str, Any], obj: ObjectDef, schema: Schema, visible: Visible | None = None,
         extra_filter: str | None = None, limit: int | None = None, choices: Choices | None = None) -> Plan:
    """The report `doc` (already valid against its JSON Schema) over `obj`; raises
    ReportError listing every problem. `extra_filter` and `limit` are run parameters;
    `choices` gives the records of small objects, so that groups by a lookup to an object
    with an `order_field` come in that order."""
    problems: list[Problem] = [
        Problem(f"/{key}", 'only funnel and time_in_stage reports have this (set "type")', "unsupported")
        for key in ("field", "stages", "created", "include_current", "measure") if key in doc]

    def checked(source: str, pointer: str, expect: str | None = None) -> Checked | None:
        try:
            result = check(source, obj, schema, expect)
        except FormulaError as error:
            problems.append(Problem(pointer, _render(error), "formula"))
            return None
        if visible is not None:
            for ref in result.references:
                if not visible(ref.object, ref.field):
                    where = "" if ref.object is obj else f" on {ref.object.label}"
                    problems.append(Problem(pointer, f'unknown field "{ref.field.api_name}"{where}', "unknown_field"))
                    return None
        return result

    filters = [f for f in (doc.get("filter"), extra_filter) if f]
    filter_checked = None
    if filters:
        source = " AND ".join(f"({f})" for f in filters) if len(filters) > 1 else filters[0]
        filter_checked = checked(source, "/filter" if doc.get("filter") else "filter", "boolean")
    names: set[str] = set()

    def grouping(gdoc: Mapping[str, Any], pointer: str) -> Grouping | None:
        path = str(gdoc["field"])
        name = str(gdoc.get("name") or path.replace(".", "_"))
        if name in names:
            problems.append(Problem(pointer + "/name", f"another grouping or measure is named {name!r}", "duplicate"))
        names.add(name)
        found = checked(path, pointer + "/field")
        if found is None:
            return None
        bucket = gdoc.get("bucket")
        if bucket and found.type not in ("date", "datetime"):
            problems.append(Problem(pointer + "/bucket", f"{path} is a {found.type}; only dates have buckets"))
        if found.type in ("list", "json"):
            problems.append(Problem(pointer + "/field", f"cannot group by {path}, a {found.type}"))
        return Grouping(name, str(gdoc.get("label") or path), path, found, bucket,
                        _option_order(found, schema, choices))

    rows = [grouping(g, f"/group_by/{i}") for i, g in enumerate(doc.get("group_by", []))]
    column = grouping(doc["columns_by"], "/columns_by") if doc.get("columns_by") else None
    pending: list[tuple[str, str, tuple[Aggregate, ...], str | None]] = []
    row_fields: list[dict[str, Any]] = []
    for i, mdoc in enumerate(doc.get("measures") or DEFAULT_MEASURES):
        pointer = f"/measures/{i}"
        name = str(mdoc["name"])
        if name in names:
            problems.append(Problem(pointer + "/name", f"another grouping or measure is named {name!r}", "duplicate"))
        names.add(name)
        aggregates: list[Aggregate] = []
        if "formula" in mdoc:
            outer_source = _split_formula(str(mdoc["formula"]), pointer + "/formula", len(row_fields), checked,
                                          aggregates, problems)
        else:
            function = str(mdoc["function"])
            value = None
            if "field" in mdoc:
                value = checked(str(mdoc["field"]), pointer + "/field")
                if value is not None and not _fits(function, value.type):
                    problems.append(Problem(pointer + "/function", f"{function} does not apply to a {value.type}"))
            elif function != "count":
                problems.append(Problem(pointer + "/field", f"{function} needs a field"))
            aggregates.append(Aggregate(f"a{len(row_fields)}", function, value))
            outer_source = f"a{len(row_fields)}"
        for agg in aggregates:
            row_fields.append({"uid": f"report-{agg.key}", "api_name": agg.key, "label": agg.key, "type": "formula",
                               "expression": "0", "formula_type": _result_type(agg)})
        pending.append((name, str(mdoc.get("label") or name), tuple(aggregates), outer_source))
    row_object = ObjectDef({"uid": "report-row", "api_name": "report_row", "label": "Report row",
                            "fields": row_fields})
    finished: list[Measure] = []
    for i, (name, label, aggregates_of, outer_source) in enumerate(pending):
        if outer_source is None:
            continue
        try:
            outer = check(outer_source, row_object, _RowSchema(row_object))
        except FormulaError as error:
            problems.append(Problem(f"/measures/{i}/formula", _render(error), "formula"))
            continue
        if outer.type not in (*_ORDERED, "boolean", "blank"):
            problems.append(Problem(f"/measures/{i}", f"a measure cannot be a {outer.type}"))
        finished.append(Measure(name, label, aggregates_of, outer))
    sort = []
    for i, s in enumerate(doc.get("sort", [])):
        if s["by"] not in names:
            problems.append(Problem(f"/sort/{i}/by", f"no grouping or measure is named {s['by']!r}", "unknown_name"))
        sort.append((str(s["by"]), bool(s.get("desc", False))))
    if problems:
        raise ReportError(problems)
    return Plan(obj, filter_checked, tuple(g for g in rows if g), column, tuple(finished), tuple(sort),
                limit or doc.get("limit"), int(doc.get("fiscal_year_start", 1)), row_object)


def _option_order(found: Checked, schema: Schema, choices: Choices | None = None) -> tuple[tuple[Any, str], ...]:
    """The options (value, label), in order, of the select field a grouping path ends at
    (a path through lookups included), or the records (id, name) of a small object with an
    `order_field` that a lookup there points at; () for anything else."""
    if not isinstance(found.tree, Path) or not found.references:
        return ()
    last = found.references[-1].field
    if last.type == "lookup" and choices is not None:
        target = schema.object(str(last.props.get("target")))
        if target is None or target.order_field is None:
            return ()
        return tuple(choices(target) or ())
    if last.type != "select":
        return ()
    return tuple((str(o["value"]), str(o.get("label") or o["value"]))
                 for o in last.props.get("options") or [] if isinstance(o, Mapping))


def _fits(function: str, t: str) -> bool:
    if function in ("sum", "avg", "median"):
        return t in _NUMERIC
    if function in ("min", "max"):
        return t in _ORDERED
    return t not in ("list", "json")


def _result_type(agg: Aggregate) -> str:
    if agg.function in ("count", "count_distinct", "avg"):
        return "number"
    if agg.function in ("min", "max") and agg.checked is not None:
        return agg.checked.type
    return agg.checked.type if agg.checked is not None and agg.checked.type == "duration" else "number"


def _split_formula(source: str, pointer: str, first: int, checked: Callable[..., Checked | None],
                   aggregates: list[Aggregate], problems: list[Problem]) -> str | None:
    """The formula with each report aggregate call replaced by its row field (a0, a1…);
    the calls' arguments are checked as per-row formulas and added to `aggregates`."""
    try:
        tree = parse(source)
    except FormulaError as error:
        problems.append(Problem(pointer, _render(error), "formula"))
        return None
    calls: list[Call] = []
    loose: list[Path] = []

    def visit(node: Node) -> None:
        if isinstance(node, Call) and node.name.upper() in FORMULA_AGGREGATES \
                and len(node.args) in FORMULA_AGGREGATES[node.name.upper()]:
            calls.append(node)
            return
        if isinstance(node, Path) and not node.context:
            loose.append(node)
        for child in node.children():
            visit(child)

    visit(tree)
    if loose:
        name = ".".join(loose[0].parts)
        problems.append(Problem(pointer, f"{name} (at column {loose[0].start + 1}) must be inside an aggregate: "
                                         "SUM, COUNT, AVG, MIN or MAX", "formula"))
        return None
    if not calls:
        problems.append(Problem(pointer, "a measure formula needs an aggregate: SUM, COUNT, AVG, MIN or MAX",
                                "formula"))
        return None
    out, cursor, failed = [], 0, False
    for n, call in enumerate(calls):
        key = f"a{first + len(aggregates)}"
        function = call.name.lower()
        value = None
        if call.args:
            arg = call.args[0]
            value = checked(source[arg.start:arg.end], pointer)
            if value is None:
                failed = True
                continue
            if function == "count" and value.type == "boolean":
                function = "count_if"
            elif not _fits(function, value.type):
                problems.append(Problem(pointer, f"{call.name.upper()} does not apply to a {value.type} "
                                                 f"(aggregate {n + 1})", "formula"))
                failed = True
                continue
        aggregates.append(Aggregate(key, function, value))
        out.append(source[cursor:call.start] + key)
        cursor = call.end
    return None if failed else "".join(out) + source[cursor:]


class _RowSchema:
    def __init__(self, row: ObjectDef) -> None:
        self.row = row

    def object(self, api_name: str) -> ObjectDef | None:
        return self.row if api_name == self.row.api_name else None

    def children(self, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
        return []


def _render(error: FormulaError) -> str:
    first = error.errors[0] if getattr(error, "errors", None) else error
    return first.render() if hasattr(first, "render") else str(first)
