"""A report's result shaped for a dashboard widget's chart: a KPI or gauge (one number
against a target), categories by series (bar, line, area), slices (pie, donut, funnel), a
table or a pivot — with readable labels for the grouping values and a drill link on every
data point.

    labels = grouping_labels(schema, obj, report, result, names)   # names: users', records'
    data = chart_data(widget, result, labels, link)                # link(cell) → a record-list address
    relative_change("120", "100")                                  # "0.2", a KPI against its previous period

What needs the database comes in as arguments: `names(field, values)` names users and
records (only those the viewer may see), `link(cell)` makes the drill link of one cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from tessera.formula import Schema
from tessera.meta.model import FieldDef, ObjectDef
from tessera.meta.percents import percent_text
from tessera.reports.dashboard import SLICE_CHARTS, resolve_path

#: The label of a grouping's blank value.
BLANK = "(blank)"
#: Reports with a row per stage of a select field (funnel, time in stage).
STAGE_KINDS = ("funnel", "time_in_stage")
#: Names of user or record ids, by the grouping field and the ids the result holds.
Names = Callable[[FieldDef, set[Any]], dict[Any, str]]
#: The drill link of one cell: grouping names to values ({} for the whole report).
Link = Callable[[Mapping[str, Any]], str]


def grouping_labels(schema: Schema, obj: ObjectDef, report: Mapping[str, Any], result: Mapping[str, Any],
                    names: Names) -> dict[str, dict[Any, str]]:
    """Readable names of grouping values by grouping column: select options' labels, Yes/No,
    and the names `names` gives users and records (date buckets keep their own text)."""
    groupings = [c for c in result["columns"] if c["kind"] == "grouping"]
    specs = [*(report.get("group_by") or []), *([report["columns_by"]] if report.get("columns_by") else [])]
    out: dict[str, dict[Any, str]] = {}
    rows = result["rows"]
    if result.get("type") in STAGE_KINDS:  # a row per stage, which carries its label
        return {"stage": {r["stage"]: r["label"] for r in rows}}
    for spec, column in zip(specs, groupings, strict=False):
        if spec.get("bucket"):
            continue
        fdef = resolve_path(schema, obj, str(spec["field"]))
        if fdef is None:
            continue
        values = {r.get(column["name"]) for r in rows} - {None}
        if fdef.props.get("options"):
            out[column["name"]] = {o["value"]: o.get("label") or o["value"] for o in fdef.props["options"]}
        elif fdef.type == "boolean":
            out[column["name"]] = {True: "Yes", False: "No"}
        elif fdef.type in ("user", "lookup") and values:
            out[column["name"]] = names(fdef, values)
    return out


def chart_data(widget: Mapping[str, Any], result: Mapping[str, Any], labels: Mapping[str, Mapping[Any, str]],
               link: Link) -> dict[str, Any]:
    """One widget's report result shaped for its chart type."""
    return _Chart(widget, result, labels, link).shape()


def relative_change(value: Any, previous: Any) -> str | None:
    """(value - previous) / |previous| as a decimal text to 4 places (None without a base)."""
    try:
        now, before = Decimal(str(value)), Decimal(str(previous))
    except (InvalidOperation, TypeError):
        return None
    if previous is None or value is None or before == 0:
        return None
    change = ((now - before) / abs(before)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return format(change.normalize(), "f") if change else "0"


def drill_link(object_name: str, formula: str, narrowed: str | None) -> str:
    """The record list of `object_name` filtered by a report cell's drill `formula` and the
    dashboard's filters (`narrowed`), as a link to the list page."""
    if narrowed:
        formula = narrowed if formula == "TRUE" else f"({formula}) AND ({narrowed})"
    if formula == "TRUE":
        return f"/app/{object_name}"
    return f"/app/{object_name}?formula={quote(formula, safe='')}"


class _Chart:
    """One widget's report result shaped for its chart, with labels for the grouping
    values and a drill link on every data point."""

    def __init__(self, widget: Mapping[str, Any], result: Mapping[str, Any],
                 labels: Mapping[str, Mapping[Any, str]], link: Link) -> None:
        self.widget, self.result, self.labels, self.link = widget, result, labels, link
        self.options = widget.get("options") or {}
        self.groupings = [c for c in result["columns"] if c["kind"] == "grouping"]
        self.measures = [c for c in result["columns"] if c["kind"] == "measure"]
        self.stages = result.get("type") in STAGE_KINDS
        if self.stages:  # the stage is shown by its label: the label column is not a grouping of its own
            self.groupings = [c for c in self.groupings if c["name"] != "label"]

    def shape(self) -> dict[str, Any]:
        kind = self.widget["type"]
        if kind in ("kpi", "gauge"):
            return self._single()
        if kind in SLICE_CHARTS:
            return self._slices()
        if kind == "table":
            return self._table()
        if kind == "pivot":
            return self._pivot()
        return self._series()

    # -- pieces --------------------------------------------------------------------------
    def measure(self) -> dict[str, Any]:
        # A funnel that totals a field draws that total unless the widget picks another.
        wanted = self.options.get("measure") or ("value" if self.stages else None)
        return next((m for m in self.measures if m["name"] == wanted), self.measures[0])

    def ordered(self, grouping: str, keys: list[Any]) -> list[Any]:
        """A second grouping's values in the report's order: a select's by its options
        (their labels come in that order), a lookup's as the report ordered its column
        totals (a small object's records in its order), others as the rows brought them;
        blank last."""
        known = self.labels.get(grouping) or {}
        column = next((g for g in self.groupings if g["name"] == grouping), None)
        if column is not None and column["type"] == "record":
            totals = [s.get(grouping) for s in self.result.get("subtotals") or [] if s.get("group_by") == [grouping]]
            if totals and all(k in totals for k in keys if k is not None):
                return sorted(keys, key=lambda k: (k is None, totals.index(k) if k is not None else 0))
            return keys
        if column is None or column["type"] != "text" or not known \
                or not all(k in known for k in keys if k is not None):
            return keys
        position = {value: i for i, value in enumerate(known)}
        return sorted(keys, key=lambda k: (k is None, position.get(k, 0)))

    def label(self, grouping: str, value: Any) -> str:
        if value is None:
            return BLANK
        return self.labels.get(grouping, {}).get(value, str(value))

    # -- shapes --------------------------------------------------------------------------
    def _single(self) -> dict[str, Any]:
        m = self.measure()
        totals = self.result.get("totals") or {}
        value = totals.get(m["name"])
        target = self.options.get("target")
        out: dict[str, Any] = {"value": value, "measure": m["name"], "label": m["label"], "type": m["type"],
                               "target": None if target is None else str(target), "progress": None,
                               "drill": self.link({})}
        if target is not None and value is not None and Decimal(str(target)) != 0:
            out["progress"] = format((Decimal(str(value)) / Decimal(str(target))).quantize(Decimal("0.0001")), "f")
        if self.widget["type"] == "gauge":
            top = self.options.get("max", target)
            out["min"] = "0"
            out["max"] = str(top) if top is not None else (value if value not in (None, "0") else "1")
        return out

    def _categories(self) -> tuple[dict[str, Any] | None, list[Any]]:
        if not self.groupings:
            return None, []
        first = self.groupings[0]
        seen: dict[Any, None] = {}
        for row in self.result["rows"]:
            seen.setdefault(row.get(first["name"]), None)
        return first, list(seen)

    def _series(self) -> dict[str, Any]:
        first, categories = self._categories()
        if first is None:
            totals = self.result.get("totals") or {}
            chosen = self._chosen_measures()
            return {"categories": [{"value": None, "label": "Total"}],
                    "series": [{"name": m["name"], "label": m["label"],
                                "data": [{"value": totals.get(m["name"]), "drill": self.link({})}]}
                               for m in chosen], "x_label": "", "stacked": self.widget["type"] == "stacked_bar"}
        second = self.groupings[1] if len(self.groupings) > 1 else None
        cats = [{"value": c, "label": self.label(first["name"], c)} for c in categories]
        series: list[dict[str, Any]] = []
        if second is not None:
            m = self.measure()
            keys: dict[Any, None] = {}
            for row in self.result["rows"]:
                keys.setdefault(row.get(second["name"]), None)
            cells = {(r.get(first["name"]), r.get(second["name"])): r for r in self.result["rows"]}
            for key in self.ordered(second["name"], list(keys)):
                data = []
                for c in categories:
                    row = cells.get((c, key))
                    data.append({"value": row.get(m["name"]) if row else None,
                                 "drill": self.link({first["name"]: c, second["name"]: key}) if row else None})
                series.append({"name": str(key), "label": self.label(second["name"], key), "data": data})
        else:
            by_cat = {r.get(first["name"]): r for r in self.result["rows"]}
            links = {c: self.link({first["name"]: c}) for c in categories}
            for m in self._chosen_measures():
                series.append({"name": m["name"], "label": m["label"], "type": m["type"],
                               "data": [{"value": by_cat[c].get(m["name"]), "drill": links[c]} for c in categories]})
        return {"categories": cats, "series": series, "x_label": first["label"],
                "stacked": self.widget["type"] == "stacked_bar"}

    def _chosen_measures(self) -> list[dict[str, Any]]:
        wanted = self.options.get("measures")
        if wanted:
            return [m for m in self.measures if m["name"] in wanted]
        if self.options.get("measure"):
            return [self.measure()]
        return self.measures

    def _slices(self) -> dict[str, Any]:
        first, categories = self._categories()
        m = self.measure()
        if first is None:
            total = (self.result.get("totals") or {}).get(m["name"])
            return {"measure": m["name"], "label": m["label"],
                    "items": [{"key": None, "name": m["label"], "value": total, "drill": self.link({})}]}
        # A second grouping is summed away: slices come from the first grouping's subtotals.
        if len(self.groupings) > 1:
            rows = [s for s in self.result["subtotals"] if s.get("group_by") == [first["name"]]]
        else:
            rows = self.result["rows"]
        by_cat = {r.get(first["name"]): r for r in rows}
        items = [{"key": c, "name": self.label(first["name"], c), "value": by_cat.get(c, {}).get(m["name"]),
                  "drill": self.link({first["name"]: c})} for c in categories]
        if self.stages and self.widget["type"] == "funnel":
            for item in items:  # the conversion from the step before, for the step's tooltip
                item["from_previous"] = by_cat.get(item["key"], {}).get("from_previous")
                # …and as the tooltip writes it, in the house style of percentages (85.7 %).
                item["from_previous_text"] = percent_text(item["from_previous"], 1, share=True)
        return {"measure": m["name"], "label": m["label"], "items": items}

    def _table(self) -> dict[str, Any]:
        names = [g["name"] for g in self.groupings]
        rows = []
        for row in self.result["rows"]:
            cell = {n: row.get(n) for n in names}
            rows.append({"values": row, "labels": {n: self.label(n, row.get(n)) for n in names},
                         "drill": self.link(cell)})
        return {"columns": [*self.groupings, *self.measures], "rows": rows, "totals": self.result.get("totals")}

    def _pivot(self) -> dict[str, Any]:
        """Rows by the first grouping, columns by the last (the report's columns_by or its
        second grouping), the chosen measure in the cells, with row, column and grand totals."""
        if len(self.groupings) < 2:
            return self._table() | {"pivot": False}
        row_g, col_g = self.groupings[0], self.groupings[-1]
        m = self.measure()
        rows_seen: dict[Any, None] = {}
        cols_seen: dict[Any, None] = {}
        cells: dict[tuple[Any, Any], Any] = {}
        for r in self.result["rows"]:
            key, col = r.get(row_g["name"]), r.get(col_g["name"])
            rows_seen.setdefault(key, None)
            cols_seen.setdefault(col, None)
            cells[(key, col)] = r.get(m["name"])
        cols_seen = dict.fromkeys(self.ordered(col_g["name"], list(cols_seen)))
        subtotals = self.result["subtotals"]
        row_totals = {s.get(row_g["name"]): s.get(m["name"]) for s in subtotals if s.get("group_by") == [row_g["name"]]}
        col_totals = {s.get(col_g["name"]): s.get(m["name"]) for s in subtotals if s.get("group_by") == [col_g["name"]]}
        return {
            "pivot": True, "measure": m["name"], "label": m["label"], "row_label": row_g["label"],
            "column_label": col_g["label"],
            "columns": [{"key": c, "label": self.label(col_g["name"], c)} for c in cols_seen],
            "rows": [{"key": k, "label": self.label(row_g["name"], k), "total": row_totals.get(k),
                      "cells": [{"value": cells.get((k, c)),
                                 "drill": self.link({row_g["name"]: k, col_g["name"]: c}) if (k, c) in cells else None}
                                for c in cols_seen]}
                     for k in rows_seen],
            "column_totals": [col_totals.get(c) for c in cols_seen],
            "total": (self.result.get("totals") or {}).get(m["name"]),
        }
